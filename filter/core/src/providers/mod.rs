//! Provider-native traffic beside the OpenAI-style APIs: Anthropic Messages, Gemini / Vertex
//! AI, and AWS Bedrock. Each provider module reads its own response bodies (JSON, SSE, JSON
//! arrays, AWS event streams) incrementally into one [`Reading`] with LiteLLM's token
//! semantics, and maps its errors to LiteLLM's exception classes; this module holds what they
//! share and picks the reader for a request.
//!
//! The exchange ([`crate::exchange`]) routes a request here when [`crate::route::classify_native`]
//! knows its path: it identifies the caller with [`caller_key`], picks [`ResponseReader::new`]
//! from the API and the response headers, feeds it the (decoded) body, and puts the
//! [`Reading`] into its record; the metrics name the provider with [`detect_provider`] and the
//! failure with [`exception_class`].

use crate::route::NativeApi;
use crate::usage::Usage;

pub mod anthropic;
pub mod bedrock;
pub mod gemini;

/// What a provider's response said, read as it passed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// Token usage with LiteLLM's semantics (see each provider), when the response reported it.
    pub usage: Option<Usage>,
    /// A stream ended before the event carrying its final counts (Anthropic's `message_delta`):
    /// `usage` holds the input side only and its output is 0 (LiteLLM estimates the output with
    /// a tokenizer; the filter never invents tokens).
    pub usage_incomplete: bool,
    /// The model the provider says answered (`model`, Gemini's `modelVersion`).
    pub response_model: Option<String>,
    /// The provider's error, from an error body or an error event inside a stream.
    pub error: Option<ProviderError>,
    /// Why part of the body could not be read, if it could not (counted, never fatal).
    pub unreadable: Option<Unreadable>,
    /// Anthropic's `usage.service_tier` (`standard`, `priority`, `batch`).
    pub service_tier: Option<String>,
}

/// Why a provider body could not be fully read: `llm_telemetry_unreadable_bodies_total` reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// A JSON body or element that is not JSON (`response_malformed_json`).
    MalformedJson,
    /// An SSE stream with undecodable events, or cut before its usage (`response_malformed_sse`).
    MalformedSse,
    /// An AWS event stream with a bad prelude, corrupt messages or cut mid-message
    /// (`response_malformed_event_stream`, a new reason).
    MalformedEventStream,
}

impl Unreadable {
    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Unreadable::MalformedJson => "response_malformed_json",
            Unreadable::MalformedSse => "response_malformed_sse",
            Unreadable::MalformedEventStream => "response_malformed_event_stream",
        }
    }
}

/// What identifies the caller of a provider-native request, to be hashed into
/// `hashed_api_key` like any API key (the raw value never leaves the filter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerKey<'a> {
    /// A key from `Authorization: Bearer`, `api-key`, `x-api-key` (Anthropic) or
    /// `x-goog-api-key` (Gemini).
    ApiKey(&'a str),
    /// A Gemini key from the query's `key=` (percent-decoded).
    QueryKey(String),
    /// A SigV4-signed request (Bedrock): the access key id and the region of its scope. The
    /// signature, which changes with every request, is never read.
    AwsAccessKey {
        access_key_id: &'a str,
        region: Option<&'a str>,
    },
}

impl CallerKey<'_> {
    /// The text to hash.
    pub fn as_str(&self) -> &str {
        match self {
            CallerKey::ApiKey(k) => k,
            CallerKey::QueryKey(k) => k,
            CallerKey::AwsAccessKey { access_key_id, .. } => access_key_id,
        }
    }
}

/// The caller's key: a SigV4 `Authorization` first (hashing the whole header would hash its
/// signature: a new value per request), else the usual API-key headers
/// ([`crate::identity::api_key`]), else Gemini's `x-goog-api-key`, else a `key=` or presigned
/// `X-Amz-Credential=` in the query.
pub fn caller_key<'a>(
    authorization: Option<&'a str>,
    api_key: Option<&'a str>,
    x_api_key: Option<&'a str>,
    x_goog_api_key: Option<&'a str>,
    query: &str,
) -> Option<CallerKey<'a>> {
    if let Some(c) = authorization.and_then(bedrock::sigv4_credential) {
        return Some(CallerKey::AwsAccessKey {
            access_key_id: c.access_key_id,
            region: c.region,
        });
    }
    let signed = authorization.is_some_and(|a| a.trim_start().starts_with("AWS4-"));
    let authorization = if signed { None } else { authorization };
    if let Some(k) = crate::identity::api_key(authorization, api_key, x_api_key) {
        return Some(CallerKey::ApiKey(k));
    }
    if let Some(k) = x_goog_api_key.map(str::trim).filter(|k| !k.is_empty()) {
        return Some(CallerKey::ApiKey(k));
    }
    if let Some((id, _)) = bedrock::sigv4_query_credential(query) {
        return Some(CallerKey::QueryKey(id));
    }
    gemini::api_key(None, query).map(CallerKey::QueryKey)
}

/// The reader of one provider-native response body, chosen from the API and the response
/// headers. The exchange feeds it the body as it passes (after content decoding) and takes its
/// [`Reading`] at the end.
pub enum ResponseReader {
    Anthropic(Box<anthropic::Reader>),
    Gemini(Box<gemini::Reader>),
    Bedrock(Box<bedrock::Reader>),
}

impl ResponseReader {
    /// A reader for the response to `api`; `get` returns a response header by lowercase name
    /// (`:status`, `content-type` and the provider's own headers are read once, here).
    pub fn new(
        api: NativeApi,
        get: &dyn Fn(&str) -> Option<String>,
        max_capture: usize,
    ) -> ResponseReader {
        let content_type = get("content-type").unwrap_or_default();
        match api {
            NativeApi::AnthropicMessages => ResponseReader::Anthropic(Box::new(
                anthropic::Reader::new(&content_type, max_capture),
            )),
            NativeApi::GeminiGenerateContent | NativeApi::GeminiStreamGenerateContent { .. } => {
                ResponseReader::Gemini(Box::new(gemini::Reader::new(&content_type, max_capture)))
            }
            NativeApi::BedrockConverse
            | NativeApi::BedrockConverseStream
            | NativeApi::BedrockInvoke
            | NativeApi::BedrockInvokeStream => {
                ResponseReader::Bedrock(Box::new(bedrock::Reader::new(api, get, max_capture)))
            }
        }
    }

    /// Feeds the next (decoded) body chunk.
    pub fn feed(&mut self, bytes: &[u8]) {
        match self {
            ResponseReader::Anthropic(r) => r.feed(bytes),
            ResponseReader::Gemini(r) => r.feed(bytes),
            ResponseReader::Bedrock(r) => r.feed(bytes),
        }
    }

    /// End of body: what it said.
    pub fn finish(&mut self) -> Reading {
        match self {
            ResponseReader::Anthropic(r) => r.finish(),
            ResponseReader::Gemini(r) => r.finish(),
            ResponseReader::Bedrock(r) => r.finish(),
        }
    }
}

/// The rate-limit headroom of a provider-native response, where the provider's headers are not
/// OpenAI's `x-ratelimit-*`: Anthropic's `anthropic-ratelimit-*`. `None` for the others (Gemini
/// and Bedrock send no such headers; the OpenAI-style reading applies).
pub fn rate_limits(
    api: NativeApi,
    get: &dyn Fn(&str) -> Option<String>,
) -> Option<crate::exchange::RateLimits> {
    (api == NativeApi::AnthropicMessages).then(|| anthropic::rate_limits(get))
}

/// A provider's own error report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderError {
    /// The provider's error type or code: Anthropic `rate_limit_error`, Gemini
    /// `RESOURCE_EXHAUSTED`, Bedrock `ThrottlingException` / `throttlingException`. At most
    /// [`MAX_ERROR_KIND`] bytes.
    pub kind: Option<String>,
    /// The human message.
    pub message: Option<String>,
    /// A numeric code the body carries (Gemini's `error.code`).
    pub code: Option<u64>,
    /// For an error inside a stream that had started with a 2xx: the status LiteLLM gives it
    /// (Anthropic 500, Bedrock the exception's modeled status, Gemini its `code`).
    pub stream_status: Option<u16>,
}

/// Longest error type kept (longer ones are cut: they only feed the exception class).
pub const MAX_ERROR_KIND: usize = 64;

impl ProviderError {
    /// `kind` or "".
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("")
    }
    /// `message` or "".
    pub fn message(&self) -> &str {
        self.message.as_deref().unwrap_or("")
    }
}

/// LiteLLM's provider name (`api_provider`) for traffic to `host` (`host[:port]`, any case: the
/// request's `:authority`, or the upstream's name) at `path`. The host decides when it is a
/// known API's; otherwise the path's shape does (a Bedrock, Gemini, Vertex AI, Anthropic or
/// Azure path behind a gateway); a local server is `ollama` (port 11434 or an `ollama` host) or
/// `hosted_vllm` (a `vllm` host); anything else `openai`, as LiteLLM names an OpenAI-compatible
/// `api_base`. Pure: the caller caches it per upstream.
pub fn detect_provider(host: &str, path: &str) -> &'static str {
    let host = host.trim().to_ascii_lowercase();
    let (name, port) = split_port(&host);
    let name = name.trim_end_matches('.');
    /// Domains and the provider LiteLLM names for them.
    const DOMAINS: [(&str, &str); 21] = [
        ("openai.azure.com", "azure"),
        ("cognitiveservices.azure.com", "azure"),
        ("services.ai.azure.com", "azure_ai"),
        ("models.ai.azure.com", "azure_ai"),
        ("inference.ai.azure.com", "azure_ai"),
        ("api.openai.com", "openai"),
        ("anthropic.com", "anthropic"),
        ("generativelanguage.googleapis.com", "gemini"),
        ("mistral.ai", "mistral"),
        ("groq.com", "groq"),
        ("together.xyz", "together_ai"),
        ("together.ai", "together_ai"),
        ("openrouter.ai", "openrouter"),
        ("deepseek.com", "deepseek"),
        ("x.ai", "xai"),
        ("perplexity.ai", "perplexity"),
        ("fireworks.ai", "fireworks_ai"),
        ("deepinfra.com", "deepinfra"),
        ("cerebras.ai", "cerebras"),
        ("cohere.com", "cohere"),
        ("cohere.ai", "cohere"),
    ];
    if let Some((_, p)) = DOMAINS.iter().find(|(d, _)| on_domain(name, d)) {
        return p;
    }
    // Vertex AI: `aiplatform.googleapis.com` and the regional `{region}-aiplatform.googleapis.com`.
    if name
        .strip_suffix("aiplatform.googleapis.com")
        .is_some_and(|head| head.is_empty() || head.ends_with('.') || head.ends_with('-'))
    {
        return "vertex_ai";
    }
    let first_label = name.split('.').next().unwrap_or("");
    if first_label.starts_with("bedrock")
        && (name.ends_with(".amazonaws.com") || name.ends_with(".api.aws"))
    {
        return "bedrock";
    }
    if port == Some("11434") || name.split('.').any(|l| l.contains("ollama")) {
        return "ollama";
    }
    if name.split('.').any(|l| l.contains("vllm")) {
        return "hosted_vllm";
    }
    if let Some(native) = crate::route::classify_native("POST", path) {
        let vertex = native.vertex_location.is_some() || native.base_path.contains("/publishers/");
        return match native.api {
            NativeApi::AnthropicMessages if vertex => "vertex_ai",
            NativeApi::AnthropicMessages => "anthropic",
            NativeApi::GeminiGenerateContent | NativeApi::GeminiStreamGenerateContent { .. } => {
                if vertex {
                    "vertex_ai"
                } else {
                    "gemini"
                }
            }
            NativeApi::BedrockConverse
            | NativeApi::BedrockConverseStream
            | NativeApi::BedrockInvoke
            | NativeApi::BedrockInvokeStream => "bedrock",
        };
    }
    if path.contains("/openai/deployments/") {
        return "azure";
    }
    "openai"
}

/// `host` and `port` of `host[:port]` (`[v6]:port` too).
fn split_port(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (host, None),
    }
}

/// Whether `host` is `domain` or one of its subdomains.
fn on_domain(host: &str, domain: &str) -> bool {
    host.strip_suffix(domain)
        .is_some_and(|head| head.is_empty() || head.ends_with('.'))
}

/// Whether a `content-type` is `text/event-stream` (parameters allowed, any case).
pub(crate) fn is_event_stream(content_type: &str) -> bool {
    content_type
        .trim_start()
        .get(..17)
        .is_some_and(|t| t.eq_ignore_ascii_case("text/event-stream"))
}

/// A bounded error type from raw bytes (a provider type name; longer values are cut on a
/// character boundary).
fn error_kind(raw: &[u8]) -> Option<String> {
    let text = core::str::from_utf8(raw).ok()?;
    let mut end = text.len().min(MAX_ERROR_KIND);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (end > 0).then(|| text[..end].to_owned())
}

/// LiteLLM's `ExceptionCheckers.is_error_str_context_window_exceeded` (1.106.2): whether an
/// error text says the prompt did not fit.
pub fn context_window_exceeded(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    if t.contains("string_above_max_length")
        || (t.contains("invalid 'user'") && t.contains("string too long"))
    {
        return false;
    }
    const KNOWN: [&str; 9] = [
        "exceed context limit",
        "this model's maximum context length is",
        "string too long. expected a string with maximum length",
        "model's maximum context limit",
        "is longer than the model's context length",
        "input tokens exceed the configured limit",
        "`inputs` tokens + `max_new_tokens` must be",
        "exceeds the available context size",
        "exceeds the maximum number of tokens allowed",
    ];
    KNOWN.iter().any(|k| t.contains(k))
        || (t.contains("current length is") && t.contains("while limit is"))
        || (t.contains("maximum input length is") && t.contains("tokens"))
}

/// LiteLLM's `_map_exception_by_status` (1.106.2): the class of an error no provider rule
/// matched. `None` below 400 (LiteLLM then reports `APIConnectionError`).
pub fn class_by_status(status: u16) -> Option<&'static str> {
    Some(match status {
        401 => "AuthenticationError",
        402 => "PaymentRequiredError",
        403 => "PermissionDeniedError",
        404 => "NotFoundError",
        408 | 504 => "Timeout",
        429 => "RateLimitError",
        500 => "InternalServerError",
        502 => "BadGatewayError",
        503 => "ServiceUnavailableError",
        400..=499 => "BadRequestError",
        _ if status >= 500 => "APIError",
        _ => return None,
    })
}

/// LiteLLM's exception class (without the `Provider.` prefix) for a failed request to a
/// provider-native API, as `exception_mapping_utils.exception_type` maps it for `provider`
/// (LiteLLM's name: `anthropic`, `bedrock`, `gemini`, `vertex_ai`). `status` is the HTTP status
/// (or the error's `stream_status`), `error` the provider's report if one was read. `None` for
/// other providers (the OpenAI-style status table applies).
pub fn exception_class(
    provider: &str,
    status: u16,
    error: Option<&ProviderError>,
) -> Option<&'static str> {
    // `exception_type`'s first test, for every provider: a timeout said in words.
    let message = error.map_or("", ProviderError::message);
    if [
        "Request Timeout Error",
        "Request timed out",
        "Timed out generating response",
        "The read operation timed out",
    ]
    .iter()
    .any(|t| message.contains(t))
    {
        return Some("Timeout");
    }
    let class = match provider {
        "anthropic" => anthropic::exception_class(status, error),
        "bedrock" => bedrock::exception_class(status, error),
        "gemini" | "vertex_ai" => gemini::exception_class(status, error),
        _ => return None,
    };
    Some(class.unwrap_or("APIConnectionError"))
}

/// LiteLLM's running total of a stream's usage (`ChunkProcessor._calculate_usage_per_chunk`,
/// 1.106.2): each event that reports usage gives a full [`Usage`]; a later input or output
/// count replaces an earlier one only when it is not 0 (a reported count is never replaced by a
/// later chunk's 0), the cache counts follow the input side, the detail counts the last report,
/// and the total is input + output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamUsage {
    sum: Option<Usage>,
}

impl StreamUsage {
    /// Adds one event's usage.
    pub fn add(&mut self, u: Usage) {
        let Some(s) = &mut self.sum else {
            self.sum = Some(u);
            return;
        };
        if u.input > 0 || u.input_cached > 0 || u.input_cache_creation > 0 {
            s.input_cached = u.input_cached;
            s.input_cache_creation = u.input_cache_creation;
        }
        if u.input > 0 {
            s.input = u.input;
        }
        if u.output > 0 {
            s.output = u.output;
        }
        s.output_reasoning = u.output_reasoning;
        s.input_audio = u.input_audio;
        s.output_audio = u.output_audio;
    }

    /// The stream's usage so far, `None` if no event reported any.
    pub fn total(&self) -> Option<Usage> {
        self.sum.map(|mut u| {
            u.total = u.input.saturating_add(u.output);
            u
        })
    }
}

/// Reads whether a JSON object streaming past starts with a `"type"` member and, if so, its
/// value (at most 32 bytes, no escapes): Anthropic's events all start `{"type":"…"`, which tells
/// a reader whether the event is worth scanning before reading the rest of it. The bytes it
/// consumed can be replayed in canonical form ([`TypeSniffer::replay`]) to a scanner that
/// starts late, so nothing is copied but the type value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TypeSniffer {
    st: Sniff,
    /// The object does not start with a plain `type` member; `st` is where that showed.
    failed: bool,
    /// Bytes of `type` matched so far, in `Sniff::Name`.
    matched: usize,
    value: [u8; 32],
    len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sniff {
    /// Before `{`.
    Open,
    /// After `{`, before the first key's quote.
    Quote,
    /// Inside the first key.
    Name,
    /// After `"type"`, before `:`.
    Colon,
    /// After `:`, before the value's quote.
    ValueQuote,
    /// Inside the value.
    Value,
    /// The value's closing quote was read.
    Known,
}

/// What a [`TypeSniffer`] has found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict<'a> {
    /// Needs more bytes.
    Pending,
    /// The first member is `"type": "<value>"`.
    Known(&'a [u8]),
    /// The object does not start with a plain `type` member (or is not an object).
    Unknown,
}

/// Longest canonical replay: `{"type":"` + 32 bytes + `"`.
pub(crate) const REPLAY_MAX: usize = 9 + 32 + 1;

impl Default for TypeSniffer {
    fn default() -> Self {
        TypeSniffer {
            st: Sniff::Open,
            failed: false,
            matched: 0,
            value: [0; 32],
            len: 0,
        }
    }
}

impl TypeSniffer {
    /// Forgets the current object.
    pub(crate) fn reset(&mut self) {
        self.st = Sniff::Open;
        self.failed = false;
        self.matched = 0;
        self.len = 0;
    }

    /// Reads from `fragment` until a verdict; returns how many bytes it consumed (all of them
    /// while pending; on `Unknown` the first byte that did not fit is not consumed).
    pub(crate) fn push(&mut self, fragment: &[u8]) -> usize {
        let ws = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        for (i, &b) in fragment.iter().enumerate() {
            if self.failed || self.st == Sniff::Known {
                return i;
            }
            let next = match self.st {
                Sniff::Open | Sniff::Quote | Sniff::Colon | Sniff::ValueQuote if ws(b) => continue,
                Sniff::Open if b == b'{' => Some(Sniff::Quote),
                Sniff::Quote if b == b'"' => Some(Sniff::Name),
                Sniff::Name => match b"type".get(self.matched) {
                    Some(&c) if c == b => {
                        self.matched += 1;
                        Some(Sniff::Name)
                    }
                    None if b == b'"' => Some(Sniff::Colon),
                    _ => None,
                },
                Sniff::Colon if b == b':' => Some(Sniff::ValueQuote),
                Sniff::ValueQuote if b == b'"' => Some(Sniff::Value),
                Sniff::Value if b == b'"' => Some(Sniff::Known),
                Sniff::Value if b != b'\\' && self.len < self.value.len() => {
                    if let Some(slot) = self.value.get_mut(self.len) {
                        *slot = b;
                    }
                    self.len += 1;
                    Some(Sniff::Value)
                }
                _ => None,
            };
            match next {
                None => {
                    self.failed = true;
                    return i;
                }
                Some(Sniff::Known) => {
                    self.st = Sniff::Known;
                    return i + 1;
                }
                Some(st) => self.st = st,
            }
        }
        fragment.len()
    }

    /// What has been found so far.
    pub(crate) fn verdict(&self) -> Verdict<'_> {
        match (self.failed, self.st) {
            (true, _) => Verdict::Unknown,
            (false, Sniff::Known) => Verdict::Known(self.value.get(..self.len).unwrap_or_default()),
            _ => Verdict::Pending,
        }
    }

    /// Writes to `out` JSON text equivalent to what was consumed (whitespace between tokens
    /// dropped) and returns its length, so a scanner fed this and then the unconsumed rest sees
    /// the same document.
    pub(crate) fn replay(&self, out: &mut [u8; REPLAY_MAX]) -> usize {
        let value = self.value.get(..self.len).unwrap_or_default();
        let mut n = 0;
        let mut put = |bytes: &[u8]| {
            if let Some(dst) = out.get_mut(n..n + bytes.len()) {
                dst.copy_from_slice(bytes);
                n += bytes.len();
            }
        };
        match self.st {
            Sniff::Open => {}
            Sniff::Quote => put(b"{"),
            Sniff::Name => {
                put(b"{\"");
                put(b"type".get(..self.matched).unwrap_or_default());
            }
            Sniff::Colon => put(b"{\"type\""),
            Sniff::ValueQuote => put(b"{\"type\":"),
            Sniff::Value => {
                put(b"{\"type\":\"");
                put(value);
            }
            Sniff::Known => {
                put(b"{\"type\":\"");
                put(value);
                put(b"\"");
            }
        }
        n
    }
}

#[cfg(test)]
#[path = "tests/mod.rs"]
mod tests;
