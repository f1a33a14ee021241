//! OpenAI-style bodies: which member of a request, of a JSON response and of an SSE event carries
//! what the filter reads, and what those members mean (typed captures). The scanners that find
//! them are in [`crate::parsers`]; the exchange that feeds them is [`crate::exchange`].

use crate::json_scan::JsonScanner;
use crate::spot::KeySpotter;
use crate::sse::SseSink;
use crate::usage::{parse_usage, Usage};

/// Request body values read: indexes below follow this order. The last two (the prompt, quoted
/// by alerts) are read only when alerting is on: copying a prompt costs every request.
pub const REQUEST_PATHS: &[&str] = &[
    "model",
    "stream",
    "stream_options",
    "user",
    "metadata",
    "service_tier",
    "messages",
    "input",
];
pub(crate) const REQ_MODEL: usize = 0;
pub(crate) const REQ_STREAM: usize = 1;
pub(crate) const REQ_STREAM_OPTIONS: usize = 2;
pub(crate) const REQ_USER: usize = 3;
pub(crate) const REQ_METADATA: usize = 4;
pub(crate) const REQ_SERVICE_TIER: usize = 5;
pub(crate) const REQ_MESSAGES: usize = 6;
pub(crate) const REQ_INPUT: usize = 7;
pub(crate) const REQUEST_PATHS_WITHOUT_PROMPT: &[&str] =
    match REQUEST_PATHS.split_at_checked(REQ_MESSAGES) {
        Some((head, _)) => head,
        None => REQUEST_PATHS,
    };

/// Values read from a JSON (non-streamed) response.
pub const JSON_RESPONSE_PATHS: &[&str] = &["model", "usage", "error", "service_tier", "id"];
pub(crate) const RESP_MODEL: usize = 0;
pub(crate) const RESP_USAGE: usize = 1;
pub(crate) const RESP_ERROR: usize = 2;
pub(crate) const RESP_SERVICE_TIER: usize = 3;
pub(crate) const RESP_ID: usize = 4;

/// Keys read from each SSE event, at any depth: chat/completions chunks carry them at the top,
/// Responses API events inside `response`.
pub const SSE_EVENT_KEYS: &[&[u8]] = &[b"usage", b"model", b"error", b"service_tier", b"id"];
pub(crate) const EV_USAGE: usize = 0;
pub(crate) const EV_MODEL: usize = 1;
pub(crate) const EV_ERROR: usize = 2;
pub(crate) const EV_SERVICE_TIER: usize = 3;
pub(crate) const EV_ID: usize = 4;

/// Reads each SSE event's data through a key spotter as the fragments pass.
pub(crate) struct EventReader {
    spotter: KeySpotter,
    /// First bytes of the event's data, to recognise `[DONE]` without copying the event.
    /// How many bytes of the event's data so far are a prefix of `[DONE]` (`DONE_MISMATCH` once
    /// they are not): recognises the end marker by comparing, without copying anything.
    head_len: usize,
    usage: Option<Usage>,
    model: Option<String>,
    service_tier: Option<String>,
    error_message: Option<String>,
    /// The first event's `id` (`chatcmpl-...`, or the Responses API's `response.id`).
    id: Option<String>,
    events: u32,
    malformed_events: u32,
    /// Events whose data is neither a JSON object nor `[DONE]`, and lines of fields the SSE
    /// spec does not define: garbage inside the stream.
    garbage: u32,
    /// First and last non-whitespace bytes of the current event's data (`None`: none yet; a NUL
    /// byte is data like any other), to tell a JSON object (`{`…`}`) from garbage without
    /// parsing it.
    first_byte: Option<u8>,
    last_byte: Option<u8>,
    done: bool,
    /// Whether the current event may still announce an error (see [`EventReader::spot`]).
    announce_open: bool,
    /// The event's first bytes while they may still become an announcement (a chunk boundary
    /// fell inside it), not yet fed to the spotter.
    held: [u8; ANNOUNCE_MAX],
    held_len: usize,
}

impl SseSink for EventReader {
    fn data(&mut self, fragment: &[u8]) {
        if self.first_byte.is_none() {
            self.first_byte = fragment.iter().copied().find(|b| !b.is_ascii_whitespace());
        }
        if let Some(&b) = fragment.iter().rfind(|b| !b.is_ascii_whitespace()) {
            self.last_byte = Some(b);
        }
        if self.head_len < DONE.len() {
            // The fragment must be what `[DONE]` still lacks, or a prefix of it: a byte beyond
            // (`[DONE]xyz`, in this fragment or the next) makes it an ordinary event, whatever
            // the split.
            let expected = &DONE[self.head_len..];
            self.head_len = if expected.starts_with(fragment) {
                self.head_len + fragment.len()
            } else {
                DONE_MISMATCH
            };
        } else if self.head_len == DONE.len() && !fragment.is_empty() {
            self.head_len = DONE_MISMATCH;
        }
        self.spot(fragment);
    }

    fn dispatch(&mut self, _event_type: &[u8]) {
        self.events += 1;
        // An event that ended while it could still have been an announcement was not one.
        self.feed_held();
        self.announce_open = true;
        let object = self.first_byte == Some(b'{') && self.last_byte == Some(b'}');
        if self.head_len != DONE.len() && self.first_byte.is_some() && !object {
            self.garbage += 1;
        }
        self.first_byte = None;
        self.last_byte = None;
        if self.head_len == DONE.len() {
            self.done = true;
        } else {
            self.read_event();
        }
        // The model and service tier come with the first events; after that only usage (and
        // errors, from events that announce one) is looked for.
        let first = self.model.is_none();
        self.spotter.reset_wanting(|k| match k {
            EV_MODEL | EV_SERVICE_TIER | EV_ID => first,
            EV_ERROR => false,
            _ => true,
        });
        self.head_len = 0;
    }

    fn unknown_field(&mut self) {
        self.garbage += 1;
    }
}

impl EventReader {
    /// Feeds the spotter. Errors are read only from events that announce one up front, so
    /// ordinary chunks are searched for `usage` alone; the spotter must be told before the
    /// event's first byte. When a chunk boundary falls inside the announcement, the few bytes
    /// before it (at most 25) are held until it is decided, so every split reads the same.
    fn spot(&mut self, fragment: &[u8]) {
        if !self.announce_open || self.error_message.is_some() {
            self.spotter.feed(fragment);
            return;
        }
        let mut rest = fragment;
        if self.held_len == 0 {
            // Leading whitespace changes nothing for the spotter: passed on at once.
            let text = rest.trim_ascii_start();
            self.spotter.feed(&rest[..rest.len() - text.len()]);
            rest = text;
            if rest.is_empty() {
                return;
            }
        }
        // The event's first bytes: this fragment's, joined to held ones only in the rare case
        // where some are held (no copy per event otherwise).
        let mut joined = [0u8; ANNOUNCE_MAX];
        let head = if self.held_len == 0 {
            rest
        } else {
            let take = rest.len().min(ANNOUNCE_MAX - self.held_len);
            joined[..self.held_len].copy_from_slice(&self.held[..self.held_len]);
            joined[self.held_len..self.held_len + take].copy_from_slice(&rest[..take]);
            &joined[..self.held_len + take]
        };
        let announced = ANNOUNCEMENTS.iter().any(|a| head.starts_with(a));
        if !announced
            && ANNOUNCEMENTS
                .iter()
                .any(|a| a.len() > head.len() && a.starts_with(head))
        {
            // Shorter than the announcement it may become: hold it (fewer than 25 bytes).
            let mut held = [0; ANNOUNCE_MAX];
            held[..head.len()].copy_from_slice(head);
            self.held = held;
            self.held_len = head.len();
            return;
        }
        self.announce_open = false;
        if announced {
            self.spotter.also_want(EV_ERROR);
        }
        self.feed_held();
        self.spotter.feed(rest);
    }

    /// Hands the held first bytes of the event to the spotter.
    fn feed_held(&mut self) {
        if self.held_len > 0 {
            let held = self.held;
            self.spotter.feed(&held[..self.held_len]);
            self.held_len = 0;
        }
    }

    fn read_event(&mut self) {
        let s = &self.spotter;
        // Usage comes from whichever event carries a non-null one (chat: the final chunk with
        // `choices: []`; Responses API: `response.completed`), never from an event's position.
        if let Some(raw) = s.value(EV_USAGE) {
            match parse_usage(raw) {
                Some(u) => self.usage = Some(u),
                None => self.malformed_events += 1,
            }
        }
        if self.model.is_none() {
            self.model = s.value(EV_MODEL).and_then(json_string);
        }
        if self.service_tier.is_none() {
            self.service_tier = s.value(EV_SERVICE_TIER).and_then(json_string);
        }
        if self.id.is_none() {
            self.id = s.value(EV_ID).and_then(json_string);
        }
        if self.error_message.is_none() {
            self.error_message = s.value(EV_ERROR).and_then(error_message);
        }
    }
}

/// The data of the event that ends an OpenAI stream.
pub(crate) const DONE: &[u8] = b"[DONE]";
const DONE_MISMATCH: usize = usize::MAX;

/// How an SSE event's data starts when it is an error (after leading whitespace): OpenAI's
/// `{"error": ...}`, the Responses API's `error` and `response.failed` events.
const ANNOUNCEMENTS: [&[u8]; 3] = [
    b"{\"error\"",
    b"{\"type\":\"error\"",
    b"{\"type\":\"response.failed\"",
];
/// The longest announcement.
const ANNOUNCE_MAX: usize = 25;

/// A JSON string value's text; `None` for anything else. A string with no escape, quote or
/// control character inside (every model name) is its own text: no serde.
pub fn json_string(raw: &[u8]) -> Option<String> {
    let plain = raw
        .strip_prefix(b"\"")
        .and_then(|r| r.strip_suffix(b"\""))
        .filter(|inner| crate::bytes::find_json_escape(inner).is_none())
        .and_then(|inner| core::str::from_utf8(inner).ok());
    match plain {
        Some(text) => Some(text.to_owned()),
        None => serde_json::from_slice::<String>(raw).ok(),
    }
}

/// The human message of an OpenAI error value (`{"message": ...}` or a bare string).
fn error_message(raw: &[u8]) -> Option<String> {
    match serde_json::from_slice::<serde_json::Value>(raw).ok()? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Object(o) => {
            o.get("message").and_then(|m| m.as_str()).map(str::to_owned)
        }
        _ => None,
    }
}

/// What a request body says, read from its captures ([`REQUEST_PATHS`]).
pub(crate) struct RequestCaptures {
    pub model: Option<String>,
    pub stream: bool,
    pub end_user: Option<String>,
    pub metadata: Option<Vec<u8>>,
    pub service_tier: Option<String>,
    /// The messages (or `input`) as LiteLLM quotes them in alerts.
    pub messages_preview: Option<String>,
}

impl RequestCaptures {
    pub(crate) fn of(s: &JsonScanner) -> RequestCaptures {
        RequestCaptures {
            model: s.captured(REQ_MODEL).and_then(json_string),
            stream: s.captured(REQ_STREAM) == Some(b"true"),
            end_user: s.captured(REQ_USER).and_then(json_string),
            metadata: s.captured(REQ_METADATA).map(<[u8]>::to_vec),
            service_tier: s.captured(REQ_SERVICE_TIER).and_then(json_string),
            messages_preview: s
                .captured(REQ_MESSAGES)
                .or(s.captured(REQ_INPUT))
                .and_then(messages_preview),
        }
    }

    /// Whether a streamed request asked for nothing about usage: `stream_options` is then added
    /// (a request that sent `stream_options` without usage made that choice itself).
    pub(crate) fn wants_usage_injected(s: &JsonScanner) -> bool {
        s.captured(REQ_STREAM) == Some(b"true")
            && s.captured(REQ_STREAM_OPTIONS).is_none()
            && !s.capture_overflowed(REQ_STREAM_OPTIONS)
    }
}

/// What a response says, from a JSON body's captures ([`JSON_RESPONSE_PATHS`]) or a stream's
/// events.
#[derive(Default)]
pub(crate) struct ResponseCaptures {
    pub usage: Option<Usage>,
    pub model: Option<String>,
    pub error_message: Option<String>,
    pub id: Option<String>,
    pub service_tier: Option<String>,
}

impl ResponseCaptures {
    pub(crate) fn of_json(s: &JsonScanner) -> ResponseCaptures {
        ResponseCaptures {
            usage: s.captured(RESP_USAGE).and_then(parse_usage),
            model: s.captured(RESP_MODEL).and_then(json_string),
            error_message: s.captured(RESP_ERROR).and_then(error_message),
            id: s.captured(RESP_ID).and_then(json_string),
            service_tier: s.captured(RESP_SERVICE_TIER).and_then(json_string),
        }
    }
}

/// What a finished stream's events said.
pub(crate) struct StreamCaptures {
    pub response: ResponseCaptures,
    /// Some event could not be read, or was garbage.
    pub malformed: bool,
}

impl EventReader {
    /// A reader for a stream's events, keeping values of at most `max_capture` bytes.
    pub(crate) fn new(max_capture: usize) -> EventReader {
        EventReader {
            spotter: KeySpotter::new(SSE_EVENT_KEYS, max_capture),
            head_len: 0,
            usage: None,
            model: None,
            service_tier: None,
            error_message: None,
            id: None,
            events: 0,
            malformed_events: 0,
            garbage: 0,
            first_byte: None,
            last_byte: None,
            done: false,
            announce_open: true,
            held: [0; ANNOUNCE_MAX],
            held_len: 0,
        }
    }

    /// Whether the event being read so far is `[DONE]` (a stream that stops there, its blank
    /// line missing, is whole).
    pub(crate) fn at_done(&self) -> bool {
        self.head_len == DONE.len()
    }

    /// What the stream said, once it is over.
    pub(crate) fn captures(self) -> StreamCaptures {
        StreamCaptures {
            malformed: self.malformed_events > 0 || self.garbage > 0,
            response: ResponseCaptures {
                usage: self.usage,
                model: self.model,
                error_message: self.error_message,
                id: self.id,
                service_tier: self.service_tier,
            },
        }
    }
}

/// The first 100 characters of the request's messages as LiteLLM quotes them in alerts: Python's
/// `str(messages)[:100]` (`[{'role': 'user', 'content': 'hi'}]`); a plain string `input` (the
/// Responses API) as it is.
fn messages_preview(raw: &[u8]) -> Option<String> {
    let text = if raw.first() == Some(&b'"') {
        let s: String = serde_json::from_slice(raw).ok()?;
        s.chars().take(100).collect()
    } else {
        crate::alerts::messages_preview(core::str::from_utf8(raw).ok()?)
    };
    (!text.is_empty()).then_some(text)
}
