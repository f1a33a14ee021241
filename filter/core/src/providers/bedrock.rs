//! AWS Bedrock runtime: `…/model/{modelId}/converse`, `/converse-stream`, `/invoke` and
//! `/invoke-with-response-stream`. Usage with LiteLLM's semantics from the Converse `usage`
//! (JSON, or the `metadata` event of the stream), from the underlying model's own events inside
//! `invoke-with-response-stream`'s base64 `chunk`s (Anthropic's `message_start` /
//! `message_delta`, else Bedrock's `amazon-bedrock-invocationMetrics`), and from the
//! `x-amzn-bedrock-*-token-count` headers of `invoke`; errors and stream exceptions to LiteLLM's
//! exception classes; the caller's SigV4 access key id.
//!
//! LiteLLM 1.106.2 (`llms/bedrock/chat/converse_transformation.py` `transform_usage`,
//! `invoke_handler.py`):
//! - Converse: prompt tokens = `inputTokens` + `cacheReadInputTokens` + `cacheWriteInputTokens`;
//!   cached = cache read; cache creation = cache write; completion = `outputTokens`; total =
//!   `totalTokens` for a JSON body, prompt + completion for a stream; reasoning tokens only when
//!   the model reports them (`additionalModelResponseFields.usage.output_tokens_details`),
//!   capped to the completion (LiteLLM's tokenizer estimate is not made);
//! - invoke: an Anthropic body is read as Anthropic's (see [`super::anthropic`]); other models'
//!   tokens come from the `x-amzn-bedrock-input-token-count` / `-output-token-count` headers;
//! - stream exceptions (`:message-type exception`) take the status Bedrock's service model gives
//!   their type (`throttlingException` 429, ...), as LiteLLM's `build_bedrock_stream_error`.

use super::{anthropic, class_by_status, error_kind, ProviderError, Reading, Unreadable};
use crate::bytes::{find, find2};
use crate::event_stream::{EventStreamFramer, EventStreamSink, FrameState, MessageHeaders};
use crate::json_object::{self, count, members};
use crate::json_scan::{JsonScanner, ScanState};
use crate::route::NativeApi;
use crate::usage::Usage;

/// The caller as a SigV4 `Authorization` header names it. The signature is never read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigV4Credential<'a> {
    /// The access key id (`AKIA…` long-term, `ASIA…` temporary): hashed like an API key.
    pub access_key_id: &'a str,
    /// The scope's date (`YYYYMMDD`).
    pub date: &'a str,
    /// The scope's region (`us-east-1`); `None` for SigV4a, whose scope has no region.
    pub region: Option<&'a str>,
    /// The scope's service (`bedrock`).
    pub service: &'a str,
}

/// Reads `Authorization: AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock/aws4_request,
/// SignedHeaders=…, Signature=…` (and SigV4a's `AWS4-ECDSA-P256-SHA256`, scope without a
/// region). `None` for any other scheme or a scope that is not well formed (an access key id is
/// 1-128 letters and digits).
pub fn sigv4_credential(authorization: &str) -> Option<SigV4Credential<'_>> {
    let v = authorization.trim();
    let (params, has_region) = if let Some(p) = v.strip_prefix("AWS4-HMAC-SHA256") {
        (p, true)
    } else if let Some(p) = v.strip_prefix("AWS4-ECDSA-P256-SHA256") {
        (p, false)
    } else {
        return None;
    };
    if !params.starts_with([' ', '\t']) {
        return None;
    }
    let scope = params
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("Credential="))?;
    credential_scope(scope, has_region)
}

/// `AKID/date/region/service/aws4_request` (without the region for SigV4a).
fn credential_scope(scope: &str, has_region: bool) -> Option<SigV4Credential<'_>> {
    let mut parts = scope.split('/');
    let access_key_id = parts.next()?;
    let date = parts.next()?;
    let region = if has_region {
        Some(parts.next()?)
    } else {
        None
    };
    let service = parts.next()?;
    if parts.next()? != "aws4_request" || parts.next().is_some() {
        return None;
    }
    let label = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let ok = !access_key_id.is_empty()
        && access_key_id.len() <= 128
        && access_key_id.bytes().all(|b| b.is_ascii_alphanumeric())
        && date.len() == 8
        && date.bytes().all(|b| b.is_ascii_digit())
        && region.is_none_or(|r| label(r, 32))
        && label(service, 64);
    ok.then_some(SigV4Credential {
        access_key_id,
        date,
        region,
        service,
    })
}

/// The access key id and region of a presigned request (`X-Amz-Credential=` in the query,
/// percent-encoded).
pub fn sigv4_query_credential(query: &str) -> Option<(String, Option<String>)> {
    let raw = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("X-Amz-Credential="))?;
    let scope = crate::route::percent_decode(raw);
    let c = credential_scope(&scope, true)?;
    Some((c.access_key_id.to_owned(), c.region.map(str::to_owned)))
}

/// Reads a Converse `usage` object (`inputTokens`, `outputTokens`, `totalTokens`,
/// `cacheReadInputTokens`, `cacheWriteInputTokens`; InvokeModel's `…TokenCount` spellings
/// accepted as LiteLLM does); `reasoning` is what the model reported, if anything. The total is
/// `totalTokens` (else prompt + completion), as for a JSON body. `None` when not an object.
pub fn parse_usage(raw: &[u8], reasoning: Option<u64>) -> Option<Usage> {
    let (mut input, mut output, mut total) = (0u64, 0u64, None);
    let (mut read, mut read_alt, mut write, mut write_alt) = (None, None, None, None);
    let mut m = members(raw)?;
    for (k, v) in m.by_ref() {
        match k {
            b"inputTokens" => input = count(v).unwrap_or(0),
            b"outputTokens" => output = count(v).unwrap_or(0),
            b"totalTokens" => total = count(v),
            b"cacheReadInputTokens" => read = count(v),
            b"cacheReadInputTokenCount" => read_alt = count(v),
            b"cacheWriteInputTokens" => write = count(v),
            b"cacheWriteInputTokenCount" => write_alt = count(v),
            _ => {}
        }
    }
    if m.is_malformed() {
        return None;
    }
    let read = read.or(read_alt).unwrap_or(0);
    let write = write.or(write_alt).unwrap_or(0);
    let prompt = input.saturating_add(read).saturating_add(write);
    Some(Usage {
        input: prompt,
        output,
        total: total.unwrap_or(prompt.saturating_add(output)),
        input_cached: read,
        input_cache_creation: write,
        output_reasoning: reasoning.unwrap_or(0).min(output),
        input_audio: 0,
        output_audio: 0,
    })
}

/// `output_tokens_details.thinking_tokens` of an `additionalModelResponseFields.usage` value.
fn reported_reasoning(usage: &[u8]) -> Option<u64> {
    let details = json_object::member(usage, b"output_tokens_details")?;
    count(json_object::member(details, b"thinking_tokens")?)
}

/// Usage from `invoke`'s `x-amzn-bedrock-input-token-count` and `-output-token-count` headers
/// (every model reports them); `None` when neither is there.
pub fn header_usage(get: &dyn Fn(&str) -> Option<String>) -> Option<Usage> {
    let num = |name: &str| get(name).and_then(|v| v.trim().parse::<u64>().ok());
    let input = num("x-amzn-bedrock-input-token-count");
    let output = num("x-amzn-bedrock-output-token-count");
    if input.is_none() && output.is_none() {
        return None;
    }
    let (input, output) = (input.unwrap_or(0), output.unwrap_or(0));
    Some(Usage {
        input,
        output,
        total: input.saturating_add(output),
        ..Usage::default()
    })
}

/// The status Bedrock's service model gives an exception type (the `:exception-type` of a
/// stream exception, `throttlingException`; or `x-amzn-errortype`), 400 when unknown (what
/// botocore reports for an unmodeled stream error).
pub fn exception_status(kind: &str) -> u16 {
    let lower = |s: &str| s.eq_ignore_ascii_case(kind);
    const STATUSES: [(&str, u16); 11] = [
        ("internalServerException", 500),
        ("modelStreamErrorException", 424),
        ("validationException", 400),
        ("throttlingException", 429),
        ("modelTimeoutException", 408),
        ("serviceUnavailableException", 503),
        ("modelNotReadyException", 429),
        ("modelErrorException", 424),
        ("accessDeniedException", 403),
        ("resourceNotFoundException", 404),
        ("serviceQuotaExceededException", 400),
    ];
    STATUSES
        .iter()
        .find(|(name, _)| lower(name))
        .map_or(400, |(_, s)| *s)
}

/// LiteLLM's `_map_bedrock_exception` (1.106.2), then its status fallback. LiteLLM searches the
/// error's text: a JSON body's `message`, and for a stream exception its type followed by its
/// payload (so the type counts only then; a JSON error's type travels in a header LiteLLM does
/// not read). `None`: LiteLLM's `APIConnectionError`.
pub fn exception_class(status: u16, error: Option<&ProviderError>) -> Option<&'static str> {
    let message = error.map_or("", ProviderError::message);
    let kind = error
        .filter(|e| e.stream_status.is_some())
        .map_or("", ProviderError::kind);
    let says = |s: &str| message.contains(s) || kind.contains(s);
    if [
        "too many tokens",
        "expected maxLength:",
        "Input is too long",
        "prompt is too long",
        "prompt: length: 1..",
        "Too many input tokens",
    ]
    .iter()
    .any(|s| says(s))
    {
        return Some("ContextWindowExceededError");
    }
    if says("Conversation blocks and tool result blocks cannot be provided in the same turn.")
        || says("Malformed input request")
        || says("A conversation must start with a user message.")
    {
        return Some("BadRequestError");
    }
    if says("Unable to locate credentials")
        || says("The security token included in the request is invalid")
    {
        return Some("AuthenticationError");
    }
    if says("AccessDeniedException") {
        return Some("PermissionDeniedError");
    }
    if says("throttlingException") || says("ThrottlingException") {
        return Some("RateLimitError");
    }
    if says("Connect timeout on endpoint URL") || says("timed out") {
        return Some("Timeout");
    }
    if says("Could not process image") && status == 500 {
        return Some("InternalServerError");
    }
    Some(match status {
        // LiteLLM maps Bedrock's 500 to ServiceUnavailableError, not InternalServerError.
        500 | 503 => "ServiceUnavailableError",
        401 => "AuthenticationError",
        400 | 422 => "BadRequestError",
        404 => "NotFoundError",
        408 | 504 => "Timeout",
        429 => "RateLimitError",
        _ => return class_by_status(status),
    })
}

/// A Bedrock JSON error body (`{"message": "…"}`; some AWS front ends write `Message`), its type
/// from `x-amzn-errortype` (`ThrottlingException:http://internal.amazon.com/…`).
fn json_error(message: Option<&[u8]>, errortype: Option<&str>) -> Option<ProviderError> {
    let message = message.and_then(json_object::string);
    let kind = errortype
        .map(|t| t.split(':').next().unwrap_or(t).trim())
        .and_then(|t| error_kind(t.as_bytes()));
    (message.is_some() || kind.is_some()).then_some(ProviderError {
        kind,
        message,
        code: None,
        stream_status: None,
    })
}

/// Incremental decoder of the `bytes` member of an `invoke-with-response-stream` chunk
/// (`{"bytes":"<base64>","p":"<padding>"}`): finds the member in the payload as it streams
/// past, decodes its base64 through a fixed buffer and hands the decoded bytes (the model's
/// own JSON event) to the Anthropic event reader. Other members are skipped.
#[derive(Clone, Debug)]
struct ChunkPayload {
    st: Chunk,
    /// Bytes of `bytes` matched in the current key (`usize::MAX`: not that key).
    key: usize,
    /// Base64 state: bits not yet output, how many sextets they hold.
    acc: u32,
    sextets: u8,
    /// `=` seen: only more `=` may follow.
    padded: bool,
    /// The `bytes` member was decoded completely (or skipped to its end).
    decoded: bool,
    /// The rest of `bytes` was skipped unread (the model's event is not worth reading).
    skipped: bool,
    /// Decoded bytes not yet handed on. Kept across chunks, so the reader sees the same pieces
    /// (and decides to skip at the same offsets) whatever the chunking.
    buf: [u8; DECODE_BUF],
    buf_len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    Open,
    Key,
    InKey,
    Colon,
    Value,
    Bytes,
    BytesEscape,
    SkipString { escaped: bool },
    SkipScalar,
    After,
    Done,
    Bad,
}

/// Decoded bytes are handed on in pieces of at most this size: small enough that the event
/// reader sees an event's leading `type` (and may skip the rest) after the first piece.
const DECODE_BUF: usize = 48;

/// Marks a byte that is not in the base64 alphabet in [`SEXTET`].
const NOT_BASE64: u8 = 0xFF;

/// The value of each base64 character.
const SEXTET: [u8; 256] = {
    let mut t = [NOT_BASE64; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'+' as usize] = 62;
    t[b'/' as usize] = 63;
    t
};

impl ChunkPayload {
    fn new() -> ChunkPayload {
        ChunkPayload {
            st: Chunk::Open,
            key: 0,
            acc: 0,
            sextets: 0,
            padded: false,
            decoded: false,
            skipped: false,
            buf: [0; DECODE_BUF],
            buf_len: 0,
        }
    }

    fn reset(&mut self) {
        *self = ChunkPayload::new();
    }

    /// Whether the payload was a well-formed object whose `bytes` decoded completely.
    fn complete(&self) -> bool {
        self.st == Chunk::Done && self.decoded
    }

    fn feed(&mut self, bytes: &[u8], out: &mut anthropic::Events) {
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if self.st == Chunk::Bytes && !self.padded {
                if out.skipping() {
                    // The model's event turned out not worth reading (a text delta): the rest
                    // of its base64 is not decoded, only its closing quote looked for.
                    self.skipped = true;
                    self.buf_len = 0;
                    match find(bytes.get(i..).unwrap_or_default(), b'"') {
                        Some(k) => i += k,
                        None => return,
                    }
                } else if SEXTET[usize::from(b)] != NOT_BASE64 {
                    // A run of base64 characters, one table lookup each.
                    let rest = bytes.get(i..).unwrap_or_default();
                    let run = rest
                        .iter()
                        .position(|&c| SEXTET[usize::from(c)] == NOT_BASE64)
                        .unwrap_or(rest.len());
                    let mut chars = rest.get(..run).unwrap_or_default();
                    // Finish a group begun in an earlier chunk, then four characters at a time.
                    while self.sextets != 0 {
                        let Some((&c, tail)) = chars.split_first() else {
                            break;
                        };
                        self.push_sextet(SEXTET[usize::from(c)], out);
                        chars = tail;
                    }
                    let mut groups = chars.chunks_exact(4);
                    for g in &mut groups {
                        let v = |k: usize| u32::from(SEXTET[usize::from(g[k])]);
                        let n = v(0) << 18 | v(1) << 12 | v(2) << 6 | v(3);
                        let [_, a, b, c] = n.to_be_bytes();
                        self.emit3(a, b, c, out);
                    }
                    for &c in groups.remainder() {
                        self.push_sextet(SEXTET[usize::from(c)], out);
                    }
                    i += run;
                    continue;
                }
            }
            if self.st == (Chunk::SkipString { escaped: false }) {
                // Another member's string (the padding `p`): jump to its quote or backslash.
                match find2(bytes.get(i..).unwrap_or_default(), b'"', b'\\') {
                    Some(k) => i += k,
                    None => return,
                }
            }
            let Some(&b) = bytes.get(i) else { break };
            i += 1;
            let ws = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
            self.st = match self.st {
                Chunk::Bad | Chunk::Done if ws => self.st,
                Chunk::Bad => Chunk::Bad,
                Chunk::Open | Chunk::Key | Chunk::Colon | Chunk::Value | Chunk::After if ws => {
                    self.st
                }
                Chunk::Open if b == b'{' => Chunk::Key,
                Chunk::Key if b == b'"' => {
                    self.key = 0;
                    Chunk::InKey
                }
                Chunk::Key if b == b'}' && !self.decoded => Chunk::Done,
                Chunk::InKey if b == b'"' => Chunk::Colon,
                Chunk::InKey if b == b'\\' => {
                    self.key = usize::MAX;
                    Chunk::InKey
                }
                Chunk::InKey => {
                    self.key = match b"bytes".get(self.key) {
                        Some(&c) if c == b => self.key + 1,
                        _ => usize::MAX,
                    };
                    Chunk::InKey
                }
                Chunk::Colon if b == b':' => Chunk::Value,
                Chunk::Value if b == b'"' && self.key == 5 && !self.decoded => Chunk::Bytes,
                Chunk::Value if b == b'"' => Chunk::SkipString { escaped: false },
                Chunk::Value if b.is_ascii_alphanumeric() || b == b'-' => Chunk::SkipScalar,
                Chunk::Bytes if b == b'"' => {
                    if self.end_base64(out) {
                        self.decoded = true;
                        Chunk::After
                    } else {
                        Chunk::Bad
                    }
                }
                // JSON may escape `/` as `\/`; base64 never needs another escape.
                Chunk::Bytes if b == b'\\' => Chunk::BytesEscape,
                Chunk::BytesEscape if b == b'/' => self.sextet(b'/', out),
                Chunk::Bytes => self.sextet(b, out),
                Chunk::SkipString { escaped: true } => Chunk::SkipString { escaped: false },
                Chunk::SkipString { .. } if b == b'\\' => Chunk::SkipString { escaped: true },
                Chunk::SkipString { .. } if b == b'"' => Chunk::After,
                Chunk::SkipString { .. } => self.st,
                Chunk::SkipScalar if b == b',' => Chunk::Key,
                Chunk::SkipScalar if b == b'}' => Chunk::Done,
                Chunk::SkipScalar if ws => Chunk::After,
                Chunk::SkipScalar if b.is_ascii_alphanumeric() || b"+-.".contains(&b) => self.st,
                Chunk::After if b == b',' => Chunk::Key,
                Chunk::After if b == b'}' => Chunk::Done,
                _ => Chunk::Bad,
            };
        }
    }

    /// One base64 character of the `bytes` value (the slow path: padding, `\/`, errors).
    fn sextet(&mut self, c: u8, out: &mut anthropic::Events) -> Chunk {
        if c == b'=' && self.sextets >= 2 {
            self.padded = true;
            return Chunk::Bytes;
        }
        let v = SEXTET[usize::from(c)];
        if v == NOT_BASE64 || self.padded {
            return Chunk::Bad;
        }
        self.push_sextet(v, out);
        Chunk::Bytes
    }

    /// Adds one decoded sextet; every fourth completes three bytes.
    #[inline(always)]
    fn push_sextet(&mut self, v: u8, out: &mut anthropic::Events) {
        self.acc = self.acc << 6 | u32::from(v);
        self.sextets += 1;
        if self.sextets == 4 {
            let [_, a, b, c] = self.acc.to_be_bytes();
            self.emit3(a, b, c, out);
            self.acc = 0;
            self.sextets = 0;
        }
    }

    /// Appends three decoded bytes (one base64 group).
    #[inline(always)]
    fn emit3(&mut self, a: u8, b: u8, c: u8, out: &mut anthropic::Events) {
        let at = self.buf_len;
        match self.buf.get_mut(at..at + 3) {
            Some([x, y, z]) => {
                *x = a;
                *y = b;
                *z = c;
                self.buf_len = at + 3;
                if self.buf_len == DECODE_BUF {
                    out.data(&self.buf);
                    self.buf_len = 0;
                }
            }
            _ => self.emit(&[a, b, c], out),
        }
    }

    /// Appends decoded bytes to `buf`, handing it on whenever it fills.
    fn emit(&mut self, bytes: &[u8], out: &mut anthropic::Events) {
        let end = self.buf_len + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.buf_len..end) {
            // The usual case: the bytes fit.
            dst.copy_from_slice(bytes);
            self.buf_len = end;
        } else {
            for &b in bytes {
                if let Some(slot) = self.buf.get_mut(self.buf_len) {
                    *slot = b;
                    self.buf_len += 1;
                }
                if self.buf_len == DECODE_BUF {
                    out.data(&self.buf);
                    self.buf_len = 0;
                }
            }
        }
        if self.buf_len == DECODE_BUF {
            out.data(&self.buf);
            self.buf_len = 0;
        }
    }

    /// The closing quote of `bytes`: the last group must be whole (2 or 3 sextets decode to 1
    /// or 2 bytes; 1 cannot be base64).
    fn end_base64(&mut self, out: &mut anthropic::Events) -> bool {
        if self.skipped {
            // Not decoded to the end: nothing to check or hand on.
            return true;
        }
        let tail = match self.sextets {
            0 => 0,
            2 => 1,
            3 => 2,
            _ => return false,
        };
        let bits = self.acc << (6 * (4 - u32::from(self.sextets)));
        let [_, a, b, _] = bits.to_be_bytes();
        self.emit([a, b].get(..tail).unwrap_or_default(), out);
        if self.buf_len > 0 {
            out.data(self.buf.get(..self.buf_len).unwrap_or_default());
            self.buf_len = 0;
        }
        self.sextets = 0;
        self.acc = 0;
        true
    }
}

/// What the current event-stream message is, as far as the reader cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Message {
    /// Not read (content deltas, message start, ...).
    Skip,
    /// Converse's `metadata` event: the usage.
    Metadata,
    /// Converse's `messageStop`: the reasoning tokens a model may report.
    Stop,
    /// `invoke-with-response-stream`'s `chunk`: a base64 event of the model.
    Chunk,
    /// `:message-type exception`: its payload's `message`.
    Exception,
    /// `:message-type error`: all in its headers.
    Error,
}

/// Values read from Converse events and exception payloads.
const STREAM_PATHS: &[&str] = &["usage", "additionalModelResponseFields.usage", "message"];
const ST_USAGE: usize = 0;
const ST_MODEL_USAGE: usize = 1;
const ST_MESSAGE: usize = 2;

/// Reads the messages of a Bedrock event stream.
struct StreamEvents {
    current: Message,
    /// The current exception or error's type, from its headers.
    pending_kind: Option<String>,
    pending_message: Option<String>,
    scanner: JsonScanner,
    chunk: ChunkPayload,
    model_events: Box<anthropic::Events>,
    usage: Option<Usage>,
    reasoning: Option<u64>,
    error: Option<ProviderError>,
    malformed: u32,
}

impl StreamEvents {
    fn new(max_capture: usize) -> StreamEvents {
        StreamEvents {
            current: Message::Skip,
            pending_kind: None,
            pending_message: None,
            scanner: JsonScanner::new(STREAM_PATHS, max_capture),
            chunk: ChunkPayload::new(),
            model_events: Box::new(anthropic::Events::new(max_capture)),
            usage: None,
            reasoning: None,
            error: None,
            malformed: 0,
        }
    }

    fn set_error(&mut self, e: ProviderError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }
}

impl EventStreamSink for StreamEvents {
    fn begin(&mut self, h: &MessageHeaders) {
        self.current = match h.message_type.bytes() {
            b"event" => match h.event_type.bytes() {
                b"metadata" => Message::Metadata,
                b"messageStop" => Message::Stop,
                b"chunk" => Message::Chunk,
                _ => Message::Skip,
            },
            b"exception" => {
                self.pending_kind = error_kind(h.exception_type.bytes());
                Message::Exception
            }
            b"error" => {
                self.pending_kind = error_kind(h.error_code.bytes());
                self.pending_message = core::str::from_utf8(h.error_message.bytes())
                    .ok()
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned);
                Message::Error
            }
            _ => Message::Skip,
        };
    }

    fn payload(&mut self, fragment: &[u8]) {
        match self.current {
            Message::Metadata | Message::Stop | Message::Exception => {
                self.scanner.feed(fragment);
            }
            Message::Chunk => self.chunk.feed(fragment, &mut self.model_events),
            Message::Skip | Message::Error => {}
        }
    }

    fn end(&mut self, intact: bool) {
        let current = std::mem::replace(&mut self.current, Message::Skip);
        if !intact {
            // The framer counts the corrupt message; what was read of it is void.
            if current == Message::Chunk {
                self.model_events.discard_event();
            }
        } else {
            let scanned = matches!(
                current,
                Message::Metadata | Message::Stop | Message::Exception
            ) && self.scanner.finish() == ScanState::Complete;
            match current {
                Message::Metadata | Message::Stop if !scanned => {
                    self.malformed = self.malformed.saturating_add(1)
                }
                Message::Metadata => {
                    if let Some(raw) = self.scanner.captured(ST_USAGE) {
                        // A stream's total is prompt + completion (LiteLLM's chunk builder).
                        self.usage = parse_usage(raw, self.reasoning).map(|mut u| {
                            u.total = u.input.saturating_add(u.output);
                            u
                        });
                        if self.usage.is_none() {
                            self.malformed = self.malformed.saturating_add(1);
                        }
                    }
                }
                Message::Stop => {
                    self.reasoning = self
                        .scanner
                        .captured(ST_MODEL_USAGE)
                        .and_then(reported_reasoning);
                }
                Message::Exception => {
                    let kind = self.pending_kind.take();
                    let status = exception_status(kind.as_deref().unwrap_or(""));
                    let message = if scanned {
                        self.scanner
                            .captured(ST_MESSAGE)
                            .and_then(json_object::string)
                    } else {
                        None
                    };
                    self.set_error(ProviderError {
                        kind,
                        message,
                        code: None,
                        stream_status: Some(status),
                    });
                }
                Message::Error => {
                    let e = ProviderError {
                        kind: self.pending_kind.take(),
                        message: self.pending_message.take(),
                        code: None,
                        // botocore reports an error message's status as 400.
                        stream_status: Some(400),
                    };
                    self.set_error(e);
                }
                Message::Chunk => {
                    if self.chunk.complete() {
                        self.model_events.end_event();
                    } else {
                        self.model_events.discard_event();
                        self.malformed = self.malformed.saturating_add(1);
                    }
                }
                Message::Skip => {}
            }
        }
        if matches!(
            current,
            Message::Metadata | Message::Stop | Message::Exception
        ) {
            self.scanner.reset();
        }
        self.chunk.reset();
        self.pending_kind = None;
        self.pending_message = None;
    }
}

/// Values read from a JSON body: Converse's, an Anthropic model's through `invoke`, or an error.
const BODY_PATHS: &[&str] = &[
    "usage",
    "additionalModelResponseFields.usage",
    "model",
    "error",
    "message",
    "Message",
];
const B_USAGE: usize = 0;
const B_MODEL_USAGE: usize = 1;
const B_MODEL: usize = 2;
const B_ERROR: usize = 3;
const B_MESSAGE: usize = 4;
const B_MESSAGE_UPPER: usize = 5;

enum Body {
    /// A JSON body of `converse` (or an error answering any operation).
    Converse(Box<JsonScanner>),
    /// A JSON body of `invoke`: the model's own JSON (or an error).
    Invoke(Box<JsonScanner>),
    /// An event stream (`converse-stream`, `invoke-with-response-stream`).
    Stream(Box<Stream>),
}

/// An event stream being read.
struct Stream {
    framer: EventStreamFramer,
    events: StreamEvents,
    /// `invoke-with-response-stream`: the model's own events are inside the chunks.
    invoke: bool,
}

/// Reads one Bedrock response body incrementally.
pub struct Reader {
    body: Body,
    /// The response status: a top-level `message` is an error only on a failure.
    status: u16,
    /// `invoke`'s token-count headers.
    header_usage: Option<Usage>,
    /// `x-amzn-errortype`.
    errortype: Option<String>,
}

impl Reader {
    /// A reader for the response to `api`, from its headers (`:status`, `content-type`,
    /// `x-amzn-errortype`, `x-amzn-bedrock-*-token-count`; `get` takes lowercase names).
    pub fn new(api: NativeApi, get: &dyn Fn(&str) -> Option<String>, max_capture: usize) -> Reader {
        let content_type = get("content-type").unwrap_or_default().to_ascii_lowercase();
        let invoke = matches!(
            api,
            NativeApi::BedrockInvoke | NativeApi::BedrockInvokeStream
        );
        let body = if content_type.starts_with("application/vnd.amazon.eventstream") {
            Body::Stream(Box::new(Stream {
                framer: EventStreamFramer::new(),
                events: StreamEvents::new(max_capture),
                invoke,
            }))
        } else if invoke {
            Body::Invoke(Box::new(JsonScanner::new(BODY_PATHS, max_capture)))
        } else {
            Body::Converse(Box::new(JsonScanner::new(BODY_PATHS, max_capture)))
        };
        Reader {
            body,
            status: get(":status")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
            header_usage: if invoke { header_usage(get) } else { None },
            errortype: get("x-amzn-errortype"),
        }
    }

    /// Feeds the next (decoded) body chunk.
    pub fn feed(&mut self, bytes: &[u8]) {
        match &mut self.body {
            Body::Converse(s) | Body::Invoke(s) => {
                s.feed(bytes);
            }
            Body::Stream(st) => {
                let Stream { framer, events, .. } = &mut **st;
                framer.feed(bytes, events);
            }
        }
    }

    /// End of body: what it said.
    pub fn finish(&mut self) -> Reading {
        let failed = self.status >= 400;
        let invoke = matches!(self.body, Body::Invoke(_));
        match &mut self.body {
            Body::Converse(s) | Body::Invoke(s) => {
                if s.bytes_seen() == 0 {
                    return Reading {
                        usage: self.header_usage,
                        ..Reading::default()
                    };
                }
                let state = s.finish();
                let usage = s.captured(B_USAGE).filter(|r| !json_object::is_null(r));
                let usage = if invoke {
                    // An Anthropic model answers in Anthropic's shape; others only tell the
                    // headers.
                    usage
                        .and_then(anthropic::parse_usage)
                        .map(|(u, _)| anthropic::usage(&u))
                        .or(self.header_usage)
                } else {
                    let reasoning = s.captured(B_MODEL_USAGE).and_then(reported_reasoning);
                    usage.and_then(|raw| parse_usage(raw, reasoning))
                };
                let error = if failed {
                    let message = s.captured(B_MESSAGE).or(s.captured(B_MESSAGE_UPPER));
                    json_error(message, self.errortype.as_deref())
                        .or_else(|| s.captured(B_ERROR).and_then(anthropic::parse_error))
                } else {
                    None
                };
                Reading {
                    usage,
                    usage_incomplete: false,
                    response_model: s.captured(B_MODEL).and_then(json_object::string),
                    error,
                    unreadable: (state != ScanState::Complete).then_some(Unreadable::MalformedJson),
                    service_tier: None,
                }
            }
            Body::Stream(st) => {
                let Stream {
                    framer,
                    events,
                    invoke,
                } = &mut **st;
                let broken = framer.state() == FrameState::Malformed
                    || framer.corrupt_messages() > 0
                    || !framer.finish();
                let mut r = if *invoke {
                    let mut r = events.model_events.reading();
                    if events.model_events.malformed_events() > 0 {
                        events.malformed = events.malformed.saturating_add(1);
                    }
                    if let Some(e) = events.error.clone() {
                        r.error = Some(e);
                    }
                    r
                } else {
                    Reading {
                        usage: events.usage,
                        error: events.error.clone(),
                        ..Reading::default()
                    }
                };
                if broken || events.malformed > 0 {
                    r.unreadable = Some(Unreadable::MalformedEventStream);
                }
                r
            }
        }
    }
}

#[cfg(test)]
#[path = "tests/bedrock.rs"]
mod tests;
