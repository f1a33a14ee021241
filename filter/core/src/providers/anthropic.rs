//! Anthropic Messages API (`POST /v1/messages`; also Anthropic models on Vertex AI and the
//! chunks of Bedrock's `invoke-with-response-stream`): usage from the JSON body and from the
//! stream's `message_start` and `message_delta` events, with LiteLLM's semantics; the
//! `anthropic-ratelimit-*` headers; errors to LiteLLM's exception classes.
//!
//! LiteLLM 1.106.2 (`llms/anthropic/chat/transformation.py` `calculate_usage`, `handler.py`
//! `ModelResponseIterator`):
//! - prompt tokens = `input_tokens` + `cache_read_input_tokens` + `cache_creation_input_tokens`
//!   (Anthropic's `input_tokens` counts only the uncached part); cached tokens =
//!   `cache_read_input_tokens`; cache creation in its own family; total = prompt + completion;
//! - when `usage.iterations` is a non-empty list, the four counts are its sums instead;
//! - reasoning tokens = `usage.output_tokens_details.thinking_tokens` (summed over iterations
//!   when every iteration reports it), capped to the completion tokens; Anthropic does not
//!   report them otherwise, and LiteLLM's tokenizer estimate from the thinking text is not made
//!   here (tokens are never invented): 0;
//! - in a stream, each `message_start` / `message_delta` usage is merged over the earlier ones
//!   (`{**earlier, **later}`: `message_delta` carries cumulative counts and may omit some), and
//!   the stream's usage is accumulated as [`StreamUsage`] does. `message_start`'s
//!   `output_tokens` is a placeholder: a stream that ends without `message_delta` has no
//!   output count (LiteLLM estimates one; here it is 0 and [`Reading::usage_incomplete`]).
//!
//! Every Anthropic event starts `{"type":"…"`: the reader reads that much of each event and
//! scans only `message_start`, `message_delta`, `message_stop` and `error` events; text deltas,
//! the bulk of a stream, cost a few dozen bytes of sniffing each.

use super::{
    class_by_status, context_window_exceeded, error_kind, ProviderError, Reading, StreamUsage,
    TypeSniffer, Unreadable, Verdict, REPLAY_MAX,
};
use crate::exchange::RateLimits;
use crate::json_object::{self, count, members, plain_str};
use crate::json_scan::{JsonScanner, ScanState};
use crate::sse::{SseFramer, SseSink};
use crate::usage::Usage;

/// A count as a usage object reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Reported {
    /// The key is absent.
    #[default]
    Absent,
    /// The key is present but is not a count (`null`, a string): 0, and it still replaces an
    /// earlier value when merged, as a Python dict merge does.
    NotACount,
    Count(u64),
}

impl Reported {
    fn read(value: &[u8]) -> Reported {
        count(value).map_or(Reported::NotACount, Reported::Count)
    }

    fn or_zero(self) -> u64 {
        match self {
            Reported::Count(n) => n,
            _ => 0,
        }
    }

    fn count(self) -> Option<u64> {
        match self {
            Reported::Count(n) => Some(n),
            _ => None,
        }
    }

    /// `later` over `self`, as `{**self, **later}`.
    fn merged(self, later: Reported) -> Reported {
        if later == Reported::Absent {
            self
        } else {
            later
        }
    }
}

/// `usage.iterations` as reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Iterations {
    /// The list is non-empty (Python's truthiness decides whether it is used).
    used: bool,
    input: u64,
    output: u64,
    cache_creation: u64,
    cache_read: u64,
    /// The sum of `output_tokens_details.thinking_tokens`, when every iteration reports it.
    thinking: Option<u64>,
}

/// An Anthropic `usage` object's counts, as reported (see [`usage`] for LiteLLM's sums).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnthropicUsage {
    input: Reported,
    output: Reported,
    cache_creation: Reported,
    cache_read: Reported,
    /// `output_tokens_details.thinking_tokens` (`NotACount` when the details carry none).
    thinking: Reported,
    /// `None` when the key is absent.
    iterations: Option<Iterations>,
}

impl AnthropicUsage {
    /// `later` merged over `self` key by key, as LiteLLM merges a stream's usage events.
    fn merged(self, later: AnthropicUsage) -> AnthropicUsage {
        AnthropicUsage {
            input: self.input.merged(later.input),
            output: self.output.merged(later.output),
            cache_creation: self.cache_creation.merged(later.cache_creation),
            cache_read: self.cache_read.merged(later.cache_read),
            thinking: self.thinking.merged(later.thinking),
            iterations: later.iterations.or(self.iterations),
        }
    }

    /// Counts from Bedrock's `amazon-bedrock-invocationMetrics` (`inputTokenCount` excludes
    /// cache reads and writes, as Anthropic's `input_tokens` does).
    fn from_invocation_metrics(raw: &[u8]) -> Option<AnthropicUsage> {
        let mut u = AnthropicUsage::default();
        let mut m = members(raw)?;
        for (k, v) in m.by_ref() {
            match k {
                b"inputTokenCount" => u.input = Reported::read(v),
                b"outputTokenCount" => u.output = Reported::read(v),
                b"cacheReadInputTokenCount" => u.cache_read = Reported::read(v),
                b"cacheWriteInputTokenCount" => u.cache_creation = Reported::read(v),
                _ => {}
            }
        }
        (!m.is_malformed()).then_some(u)
    }
}

/// Reads an Anthropic `usage` object; `None` when it is not an object (or not JSON). The second
/// value is `usage.service_tier`.
pub fn parse_usage(raw: &[u8]) -> Option<(AnthropicUsage, Option<String>)> {
    let mut u = AnthropicUsage::default();
    let mut tier = None;
    let mut m = members(raw)?;
    for (k, v) in m.by_ref() {
        match k {
            b"input_tokens" => u.input = Reported::read(v),
            b"output_tokens" => u.output = Reported::read(v),
            b"cache_creation_input_tokens" => u.cache_creation = Reported::read(v),
            b"cache_read_input_tokens" => u.cache_read = Reported::read(v),
            b"output_tokens_details" => u.thinking = thinking_tokens(v),
            b"iterations" => u.iterations = Some(iterations(v)),
            b"service_tier" => tier = json_object::string(v),
            _ => {}
        }
    }
    (!m.is_malformed()).then_some((u, tier))
}

/// `output_tokens_details.thinking_tokens` of a usage (or iteration) object's details value.
fn thinking_tokens(details: &[u8]) -> Reported {
    match members(details) {
        Some(mut m) => m
            .find(|(k, _)| *k == b"thinking_tokens")
            .map_or(Reported::NotACount, |(_, v)| Reported::read(v)),
        None => Reported::NotACount,
    }
}

/// Sums over a `usage.iterations` list (anything else is an empty, unused list).
fn iterations(value: &[u8]) -> Iterations {
    let mut it = Iterations {
        thinking: Some(0),
        ..Iterations::default()
    };
    let Some(list) = json_object::elements(value) else {
        return Iterations::default();
    };
    for entry in list {
        it.used = true;
        let mut thinking = None;
        if let Some(m) = members(entry) {
            for (k, v) in m {
                let n = count(v).unwrap_or(0);
                match k {
                    b"input_tokens" => it.input = it.input.saturating_add(n),
                    b"output_tokens" => it.output = it.output.saturating_add(n),
                    b"cache_creation_input_tokens" => {
                        it.cache_creation = it.cache_creation.saturating_add(n)
                    }
                    b"cache_read_input_tokens" => it.cache_read = it.cache_read.saturating_add(n),
                    b"output_tokens_details" => thinking = thinking_tokens(v).count(),
                    _ => {}
                }
            }
        }
        it.thinking = it.thinking.zip(thinking).map(|(a, b)| a.saturating_add(b));
    }
    if !it.used {
        it.thinking = None;
    }
    it
}

/// LiteLLM's [`Usage`] of Anthropic counts (see the module documentation).
pub fn usage(u: &AnthropicUsage) -> Usage {
    let (input, output, creation, read, iteration_thinking) = match u.iterations {
        Some(it) if it.used => (
            it.input,
            it.output,
            it.cache_creation,
            it.cache_read,
            it.thinking,
        ),
        _ => (
            u.input.or_zero(),
            u.output.or_zero(),
            u.cache_creation.or_zero(),
            u.cache_read.or_zero(),
            None,
        ),
    };
    let prompt = input.saturating_add(creation).saturating_add(read);
    let thinking = iteration_thinking.or(u.thinking.count()).unwrap_or(0);
    Usage {
        input: prompt,
        output,
        total: prompt.saturating_add(output),
        input_cached: read,
        input_cache_creation: creation,
        output_reasoning: thinking.min(output),
        input_audio: 0,
        output_audio: 0,
    }
}

/// Anthropic's `error` value (`{"type": "rate_limit_error", "message": "…"}`).
pub fn parse_error(raw: &[u8]) -> Option<ProviderError> {
    let mut e = ProviderError::default();
    for (k, v) in members(raw)? {
        match k {
            b"type" => e.kind = plain_str(v).and_then(error_kind),
            b"message" => e.message = json_object::string(v),
            _ => {}
        }
    }
    (e.kind.is_some() || e.message.is_some()).then_some(e)
}

/// The rate-limit headroom LiteLLM reads from Anthropic's headers (`process_anthropic_headers`:
/// `anthropic-ratelimit-{requests,tokens}-{remaining,limit}` become the `x-ratelimit-*` values
/// behind `litellm_remaining_*_metric` and `litellm_deployment_*_limit`). `get` returns a
/// response header by lowercase name.
pub fn rate_limits(get: impl Fn(&str) -> Option<String>) -> RateLimits {
    let num = |name: &str| get(name).and_then(|v| v.trim().parse::<u64>().ok());
    RateLimits {
        remaining_requests: num("anthropic-ratelimit-requests-remaining"),
        remaining_tokens: num("anthropic-ratelimit-tokens-remaining"),
        limit_requests: num("anthropic-ratelimit-requests-limit"),
        limit_tokens: num("anthropic-ratelimit-tokens-limit"),
    }
}

/// LiteLLM's `_map_anthropic_exception` (1.106.2), then its status fallback: the exception class
/// of a failed Anthropic request. LiteLLM searches the error body's text; the error's type and
/// message are that text's parts. An error event inside a stream is status 500 (LiteLLM's
/// `AnthropicError(status_code=500)`). `None`: LiteLLM's `APIConnectionError`.
pub fn exception_class(status: u16, error: Option<&ProviderError>) -> Option<&'static str> {
    let (kind, message) = error.map_or(("", ""), |e| (e.kind(), e.message()));
    let says = |s: &str| kind.contains(s) || message.contains(s);
    if says("prompt is too long") || says("prompt: length") || context_window_exceeded(message) {
        return Some("ContextWindowExceededError");
    }
    if says("overloaded_error") || says("Overloaded") {
        return Some("InternalServerError");
    }
    if says("Invalid API Key") {
        return Some("AuthenticationError");
    }
    if says("content filtering policy") {
        return Some("ContentPolicyViolationError");
    }
    Some(match status {
        401 => "AuthenticationError",
        403 => "PermissionDeniedError",
        400 | 413 => "BadRequestError",
        404 => "NotFoundError",
        408 | 504 => "Timeout",
        429 => "RateLimitError",
        500 | 529 => "InternalServerError",
        502 => "BadGatewayError",
        503 => "ServiceUnavailableError",
        _ => return class_by_status(status),
    })
}

/// The status LiteLLM gives an error event inside a stream.
pub const STREAM_ERROR_STATUS: u16 = 500;

/// Values read from a JSON body: indexes below follow this order.
const BODY_PATHS: &[&str] = &["usage", "model", "error"];
const BODY_USAGE: usize = 0;
const BODY_MODEL: usize = 1;
const BODY_ERROR: usize = 2;

/// Values read from an event (`message.*` in `message_start`; Bedrock adds its invocation
/// metrics to the last chunk of a stream).
const EVENT_PATHS: &[&str] = &[
    "type",
    "message.usage",
    "message.model",
    "usage",
    "error",
    "amazon-bedrock-invocationMetrics",
];
const EV_TYPE: usize = 0;
const EV_MESSAGE_USAGE: usize = 1;
const EV_MESSAGE_MODEL: usize = 2;
const EV_USAGE: usize = 3;
const EV_ERROR: usize = 4;
const EV_METRICS: usize = 5;

/// The events worth scanning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Start,
    Delta,
    Stop,
    Error,
    /// The event does not start with `type` (or names another type once scanned).
    Other,
}

impl Kind {
    /// The kind of an event type; `None` for the ones not worth scanning (`ping`,
    /// `content_block_*`).
    fn of(event_type: &[u8]) -> Option<Kind> {
        Some(match event_type {
            b"message_start" => Kind::Start,
            b"message_delta" => Kind::Delta,
            b"message_stop" => Kind::Stop,
            b"error" => Kind::Error,
            _ => return None,
        })
    }
}

/// How the current event is being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Its first bytes are read for its type.
    Sniffing,
    /// Not worth scanning: the rest of it is ignored.
    Skip,
    /// Scanned.
    Read(Kind),
}

/// Reads a stream of Anthropic events, one JSON document per event: an [`SseSink`] for
/// `text/event-stream`, and fed the decoded chunks of Bedrock's `invoke-with-response-stream`.
pub(crate) struct Events {
    scanner: JsonScanner,
    sniff: TypeSniffer,
    mode: Mode,
    merged: AnthropicUsage,
    stream: StreamUsage,
    usage_events: u32,
    saw_delta: bool,
    model: Option<String>,
    service_tier: Option<String>,
    error: Option<ProviderError>,
    invocation: Option<Usage>,
    malformed: u32,
}

impl Events {
    pub(crate) fn new(max_capture: usize) -> Events {
        Events {
            scanner: JsonScanner::new(EVENT_PATHS, max_capture),
            sniff: TypeSniffer::default(),
            mode: Mode::Sniffing,
            merged: AnthropicUsage::default(),
            stream: StreamUsage::default(),
            usage_events: 0,
            saw_delta: false,
            model: None,
            service_tier: None,
            error: None,
            invocation: None,
            malformed: 0,
        }
    }

    /// A piece of the current event's JSON.
    pub(crate) fn data(&mut self, fragment: &[u8]) {
        match self.mode {
            Mode::Skip => {}
            Mode::Read(_) => {
                self.scanner.feed(fragment);
            }
            Mode::Sniffing => {
                let used = self.sniff.push(fragment);
                let kind = match self.sniff.verdict() {
                    Verdict::Pending => return,
                    Verdict::Known(t) => match Kind::of(t) {
                        Some(k) => k,
                        None => {
                            self.mode = Mode::Skip;
                            return;
                        }
                    },
                    Verdict::Unknown => Kind::Other,
                };
                self.mode = Mode::Read(kind);
                self.start_scanner();
                self.scanner.feed(fragment.get(used..).unwrap_or_default());
            }
        }
    }

    /// Whether the rest of the current event is ignored (its type is not worth scanning).
    pub(crate) fn skipping(&self) -> bool {
        self.mode == Mode::Skip
    }

    /// Feeds the scanner what the sniffer consumed, in canonical form.
    fn start_scanner(&mut self) {
        let mut head = [0u8; REPLAY_MAX];
        let n = self.sniff.replay(&mut head);
        self.scanner.feed(head.get(..n).unwrap_or_default());
    }

    /// The current event ended.
    pub(crate) fn end_event(&mut self) {
        match self.mode {
            Mode::Skip => {}
            Mode::Read(kind) => self.read_event(kind),
            Mode::Sniffing => {
                // Ended before its type was known (`{}`, `[]`, empty data): read it all.
                self.start_scanner();
                self.read_event(Kind::Other);
            }
        }
        self.discard_event();
    }

    /// Forgets the current event without reading it (its bytes turned out corrupt).
    pub(crate) fn discard_event(&mut self) {
        // A skipped event never reached the scanner (most events: a reset is not free).
        if self.mode != Mode::Skip {
            self.scanner.reset();
        }
        self.sniff.reset();
        self.mode = Mode::Sniffing;
    }

    fn read_event(&mut self, kind: Kind) {
        if self.scanner.finish() != ScanState::Complete {
            self.malformed = self.malformed.saturating_add(1);
            return;
        }
        let kind = match kind {
            Kind::Other => self
                .scanner
                .captured(EV_TYPE)
                .and_then(plain_str)
                .and_then(Kind::of)
                .unwrap_or(Kind::Other),
            k => k,
        };
        let usage_at = match kind {
            Kind::Start => Some(EV_MESSAGE_USAGE),
            Kind::Delta => Some(EV_USAGE),
            Kind::Other if self.scanner.captured(EV_USAGE).is_some() => Some(EV_USAGE),
            Kind::Other => Some(EV_MESSAGE_USAGE),
            Kind::Stop | Kind::Error => None,
        };
        if let Some(raw) = usage_at.and_then(|i| self.scanner.captured(i)) {
            if !json_object::is_null(raw) {
                match parse_usage(raw) {
                    Some((u, tier)) => {
                        self.merged = self.merged.merged(u);
                        self.stream.add(usage(&self.merged));
                        self.usage_events = self.usage_events.saturating_add(1);
                        if tier.is_some() {
                            self.service_tier = tier;
                        }
                    }
                    None => self.malformed = self.malformed.saturating_add(1),
                }
            }
        }
        if kind == Kind::Delta {
            self.saw_delta = true;
        }
        if self.model.is_none() {
            self.model = self
                .scanner
                .captured(EV_MESSAGE_MODEL)
                .and_then(json_object::string);
        }
        if kind == Kind::Error && self.error.is_none() {
            self.error = self
                .scanner
                .captured(EV_ERROR)
                .and_then(parse_error)
                .map(|mut e| {
                    e.stream_status = Some(STREAM_ERROR_STATUS);
                    e
                });
        }
        if let Some(raw) = self.scanner.captured(EV_METRICS) {
            self.invocation = AnthropicUsage::from_invocation_metrics(raw).map(|u| usage(&u));
        }
    }

    /// Events whose JSON could not be read.
    pub(crate) fn malformed_events(&self) -> u32 {
        self.malformed
    }

    /// What the events said. The output counts are final once `message_delta` came (or, for an
    /// event stream without types, a second usage report; LiteLLM's own test); otherwise
    /// Bedrock's invocation metrics are used if present, else the usage is marked incomplete.
    pub(crate) fn reading(&self) -> Reading {
        let complete = self.saw_delta || self.usage_events >= 2;
        let (usage, incomplete) = match (self.stream.total(), self.invocation) {
            (Some(u), _) if complete => (Some(u), false),
            (_, Some(m)) => (Some(m), false),
            (Some(mut u), None) => {
                u.output = 0;
                u.output_reasoning = 0;
                u.total = u.input;
                (Some(u), true)
            }
            (None, None) => (None, false),
        };
        Reading {
            usage,
            usage_incomplete: incomplete,
            response_model: self.model.clone(),
            error: self.error.clone(),
            unreadable: None,
            service_tier: self.service_tier.clone(),
        }
    }
}

impl SseSink for Events {
    fn data(&mut self, fragment: &[u8]) {
        Events::data(self, fragment);
    }
    fn dispatch(&mut self, _event_type: &[u8]) {
        // The `event:` field repeats the JSON's `type`; the JSON is what LiteLLM reads.
        self.end_event();
    }
}

/// How a response body is read.
enum Body {
    Json(Box<JsonScanner>),
    Sse {
        framer: SseFramer,
        events: Box<Events>,
    },
}

/// Reads one Anthropic Messages response body (JSON or `text/event-stream`), incrementally.
pub struct Reader {
    body: Body,
}

impl Reader {
    /// A reader for a response of `content_type` (SSE when `text/event-stream`, else JSON).
    pub fn new(content_type: &str, max_capture: usize) -> Reader {
        let sse = super::is_event_stream(content_type);
        let body = if sse {
            Body::Sse {
                framer: SseFramer::new(),
                events: Box::new(Events::new(max_capture)),
            }
        } else {
            Body::Json(Box::new(JsonScanner::new(BODY_PATHS, max_capture)))
        };
        Reader { body }
    }

    /// Feeds the next (decoded) body chunk.
    pub fn feed(&mut self, bytes: &[u8]) {
        match &mut self.body {
            Body::Json(s) => {
                s.feed(bytes);
            }
            Body::Sse { framer, events } => framer.feed(bytes, &mut **events),
        }
    }

    /// End of body: what it said.
    pub fn finish(&mut self) -> Reading {
        match &mut self.body {
            Body::Json(s) => {
                if s.bytes_seen() == 0 {
                    return Reading::default();
                }
                let state = s.finish();
                let parsed = s.captured(BODY_USAGE).and_then(parse_usage);
                Reading {
                    usage: parsed.as_ref().map(|(u, _)| usage(u)),
                    usage_incomplete: false,
                    response_model: s.captured(BODY_MODEL).and_then(json_object::string),
                    error: s.captured(BODY_ERROR).and_then(parse_error),
                    unreadable: (state != ScanState::Complete).then_some(Unreadable::MalformedJson),
                    service_tier: parsed.and_then(|(_, t)| t),
                }
            }
            Body::Sse { framer, events } => {
                let discarded = framer.finish(&mut **events);
                let mut r = events.reading();
                if events.malformed_events() > 0 || (discarded && r.usage.is_none()) {
                    r.unreadable = Some(Unreadable::MalformedSse);
                }
                r
            }
        }
    }
}

#[cfg(test)]
#[path = "tests/anthropic.rs"]
mod tests;
