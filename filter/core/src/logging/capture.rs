//! Message logging: whether a request's messages and response may appear in its logs, and the
//! bounded copies of them that do.
//!
//! LiteLLM logs messages and responses unless `litellm_settings.turn_off_message_logging` is
//! set; then they are replaced by `redacted-by-litellm` in every payload. A client may ask for
//! its request to be logged in full with the `LiteLLM-Disable-Message-Redaction` header, which
//! LiteLLM 1.106 honours only when the caller's key or team metadata sets
//! `allow_client_message_redaction_opt_out: true` (it strips the header otherwise); the
//! `x-litellm-enable-message-redaction` header (or the older `litellm-enable-message-redaction`)
//! turns redaction on for one request.
//!
//! The decision is made once, at request headers (everything it needs is known then), so a
//! body that will not be logged is never copied. A body that is logged is copied only up to
//! `max_logged_body_bytes`; the rest is counted, not kept, and the payload says so with
//! [`truncation_marker`].

use super::json::{is_json_value, push_string};

/// What LiteLLM writes in place of redacted text (`REDACTED_BY_LITELLM`).
pub const REDACTED: &str = "redacted-by-litellm";

/// The `messages` of a redacted payload, as LiteLLM writes them.
pub const REDACTED_MESSAGES_JSON: &str = r#"[{"role":"user","content":"redacted-by-litellm"}]"#;

/// The `response` of a redacted payload whose response the filter did not parse (LiteLLM's
/// form for a response that is not a `ModelResponse`).
pub const REDACTED_RESPONSE_JSON: &str = r#"{"text":"redacted-by-litellm"}"#;

/// Default bound of each logged body (messages, response), in bytes.
pub const DEFAULT_MAX_LOGGED_BODY_BYTES: usize = 8 * 1024;

/// The text appended to a body cut at the bound: says it was cut, by whom, and how much of it
/// is kept, so a reader never mistakes a prefix for the whole.
pub fn truncation_marker(kept: usize, total: u64) -> String {
    format!("...[truncated by llm-telemetry: {kept} of {total} bytes kept]")
}

/// Truthy request-header values: `true`, `1`, `yes`, `on` (any case). LiteLLM takes any
/// non-empty value, so `false` would switch redaction off there; here it does not.
pub fn header_is_true(v: Option<&str>) -> bool {
    v.map(str::trim).is_some_and(|v| {
        ["true", "1", "yes", "on"]
            .iter()
            .any(|t| v.eq_ignore_ascii_case(t))
    })
}

/// The request headers that steer redaction, read once at request headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedactionHeaders {
    /// `LiteLLM-Disable-Message-Redaction` is true.
    pub disable: bool,
    /// `x-litellm-enable-message-redaction` or `litellm-enable-message-redaction` is true.
    pub enable: bool,
}

impl RedactionHeaders {
    /// The header names to read (lowercase), in the order of [`RedactionHeaders::read`]'s
    /// lookups.
    pub const NAMES: [&'static str; 3] = [
        "litellm-disable-message-redaction",
        "x-litellm-enable-message-redaction",
        "litellm-enable-message-redaction",
    ];

    /// Reads the headers through `get` (lowercase names).
    pub fn read<'a>(get: impl Fn(&str) -> Option<&'a str>) -> RedactionHeaders {
        RedactionHeaders {
            disable: header_is_true(get(Self::NAMES[0])),
            enable: header_is_true(get(Self::NAMES[1])) || header_is_true(get(Self::NAMES[2])),
        }
    }
}

/// Whether this request's messages and response are logged (else they are redacted).
/// `opt_out_allowed`: the caller may use `LiteLLM-Disable-Message-Redaction` (its key or team
/// sets `allow_client_message_redaction_opt_out`, or the filter-wide setting does).
/// LiteLLM's order: an allowed disable header wins, then the enable header, then the setting.
pub fn messages_logged(
    turn_off_message_logging: bool,
    headers: RedactionHeaders,
    opt_out_allowed: bool,
) -> bool {
    if headers.disable && opt_out_allowed {
        return true;
    }
    if headers.enable {
        return false;
    }
    !turn_off_message_logging
}

/// A logged body as the payload encoders read it: the bytes kept and how many there were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Captured<'a> {
    /// The first bytes of the body (all of it when `total_bytes` equals their length).
    pub bytes: &'a [u8],
    /// The body's full length.
    pub total_bytes: u64,
}

impl<'a> Captured<'a> {
    /// A body kept whole.
    pub fn whole(bytes: &'a [u8]) -> Captured<'a> {
        Captured {
            bytes,
            total_bytes: bytes.len() as u64,
        }
    }

    /// Whether part of the body was not kept.
    pub fn truncated(&self) -> bool {
        self.total_bytes > self.bytes.len() as u64
    }

    /// Appends the body as a JSON value: itself when it is whole valid JSON (a parsed request
    /// `messages` array, a JSON response), else a string of its text (SSE, invalid JSON, cut
    /// bodies), cut at a UTF-8 boundary and followed by [`truncation_marker`] when truncated.
    pub fn push_json(&self, out: &mut String) {
        if !self.truncated() {
            if let Ok(text) = std::str::from_utf8(self.bytes) {
                if is_json_value(self.bytes) {
                    out.push_str(text.trim());
                    return;
                }
            }
        }
        self.push_text(out);
    }

    /// Appends the body as a JSON string (see [`Captured::push_json`]).
    pub fn push_text(&self, out: &mut String) {
        let text = utf8_prefix(self.bytes);
        if self.truncated() {
            let mut s = String::with_capacity(text.len() + 64);
            s.push_str(text);
            s.push_str(&truncation_marker(text.len(), self.total_bytes));
            push_string(out, &s);
        } else if text.len() == self.bytes.len() {
            push_string(out, text);
        } else {
            push_string(out, &String::from_utf8_lossy(self.bytes));
        }
    }
}

/// The longest prefix of `bytes` that is valid UTF-8 (a cut may split a character).
fn utf8_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    }
}

/// A body copied as it passes, up to a bound: memory per request stays at most `max` bytes
/// whatever the body's size; the rest is only counted.
#[derive(Clone, Debug, Default)]
pub struct BodyCapture {
    buf: Vec<u8>,
    max: usize,
    total: u64,
}

impl BodyCapture {
    /// A capture keeping at most `max` bytes (nothing is allocated before the first chunk).
    pub fn new(max: usize) -> BodyCapture {
        BodyCapture {
            buf: Vec::new(),
            max,
            total: 0,
        }
    }

    /// Adds a chunk: copies what still fits, counts the rest.
    pub fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let room = self.max.saturating_sub(self.buf.len());
        if room > 0 {
            let n = room.min(chunk.len());
            if self.buf.is_empty() {
                self.buf.reserve_exact(self.max.min(chunk.len().max(256)));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// What was kept, for the encoders.
    pub fn captured(&self) -> Captured<'_> {
        Captured {
            bytes: &self.buf,
            total_bytes: self.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(c: Captured) -> String {
        let mut out = String::new();
        c.push_json(&mut out);
        out
    }

    #[test]
    fn redaction_follows_litellm_order() {
        let h = |disable, enable| RedactionHeaders { disable, enable };
        // turn_off_message_logging alone.
        assert!(messages_logged(false, h(false, false), false));
        assert!(!messages_logged(true, h(false, false), false));
        // The disable header only counts when the caller may opt out.
        assert!(!messages_logged(true, h(true, false), false));
        assert!(messages_logged(true, h(true, false), true));
        // The enable header redacts one request; an allowed disable header wins over it.
        assert!(!messages_logged(false, h(false, true), false));
        assert!(messages_logged(false, h(true, true), true));
    }

    #[test]
    fn redaction_headers_take_true_like_values_only() {
        let read = |pairs: &[(&str, &str)]| {
            let pairs = pairs.to_vec();
            RedactionHeaders::read(move |n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v))
        };
        assert!(read(&[("litellm-disable-message-redaction", "true")]).disable);
        assert!(read(&[("litellm-disable-message-redaction", " TRUE ")]).disable);
        assert!(!read(&[("litellm-disable-message-redaction", "false")]).disable);
        assert!(!read(&[("litellm-disable-message-redaction", "")]).disable);
        assert!(read(&[("litellm-enable-message-redaction", "1")]).enable);
        assert!(read(&[("x-litellm-enable-message-redaction", "yes")]).enable);
        assert_eq!(read(&[]), RedactionHeaders::default());
    }

    #[test]
    fn whole_json_bodies_are_embedded_as_json() {
        let m = br#"[{"role":"user","content":"hi"}]"#;
        assert_eq!(
            json(Captured::whole(m)),
            r#"[{"role":"user","content":"hi"}]"#
        );
        // Not JSON (an SSE stream): a string.
        let sse = b"data: {\"a\":1}\n\ndata: [DONE]\n\n";
        assert_eq!(
            json(Captured::whole(sse)),
            r#""data: {\"a\":1}\n\ndata: [DONE]\n\n""#
        );
    }

    #[test]
    fn cut_bodies_become_marked_strings() {
        let mut c = BodyCapture::new(10);
        c.push(br#"[{"role":"#);
        c.push(br#""user","content":"hello"}]"#);
        let cap = c.captured();
        assert!(cap.truncated());
        assert_eq!(cap.bytes.len(), 10);
        assert_eq!(
            json(cap),
            r#""[{\"role\":\"...[truncated by llm-telemetry: 10 of 35 bytes kept]""#
        );
    }

    #[test]
    fn a_cut_inside_a_utf8_character_keeps_whole_characters() {
        let mut c = BodyCapture::new(4);
        c.push("aé😀".as_bytes()); // 1 + 2 + 4 bytes
        assert_eq!(
            json(c.captured()),
            r#""aé...[truncated by llm-telemetry: 3 of 7 bytes kept]""#
        );
        // Invalid UTF-8 kept whole goes through lossily.
        assert_eq!(json(Captured::whole(b"a\xffb")), "\"a\u{fffd}b\"");
    }

    #[test]
    fn memory_stays_bounded_whatever_the_body() {
        let mut c = BodyCapture::new(DEFAULT_MAX_LOGGED_BODY_BYTES);
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..100 {
            c.push(&chunk);
        }
        let cap = c.captured();
        assert_eq!(cap.bytes.len(), DEFAULT_MAX_LOGGED_BODY_BYTES);
        assert_eq!(cap.total_bytes, 100 * 64 * 1024);
        let mut empty = BodyCapture::new(0);
        empty.push(b"abc");
        assert_eq!(
            json(empty.captured()),
            r#""...[truncated by llm-telemetry: 0 of 3 bytes kept]""#
        );
    }

    #[test]
    fn redacted_forms_are_valid_json() {
        assert!(is_json_value(REDACTED_MESSAGES_JSON.as_bytes()));
        assert!(is_json_value(REDACTED_RESPONSE_JSON.as_bytes()));
        assert!(REDACTED_MESSAGES_JSON.contains(REDACTED));
    }
}
