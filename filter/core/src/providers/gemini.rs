//! Gemini API and Vertex AI `…/models/{model}:generateContent` and `:streamGenerateContent`
//! (`?alt=sse`: one response object per SSE event; without it: one JSON array streamed element
//! by element): `usageMetadata` with LiteLLM's semantics, the model version, errors to
//! LiteLLM's exception classes, and the caller's API key.
//!
//! LiteLLM 1.106.2 (`llms/vertex_ai/gemini/vertex_and_google_ai_studio_gemini.py`
//! `_calculate_usage`, the same for `gemini` and `vertex_ai`):
//! - prompt tokens = `promptTokenCount` + `toolUsePromptTokenCount`, except when the response
//!   used Google Search grounding (`groundingMetadata.webSearchQueries` non-empty): Google bills
//!   those retrieved tokens separately, so they are left out;
//! - completion tokens = `responseTokenCount` (Live API) or `candidatesTokenCount`, plus
//!   `thoughtsTokenCount` unless the candidates count already includes the thoughts (it does
//!   when prompt + candidates + tool-use = `totalTokenCount`); reasoning = `thoughtsTokenCount`;
//! - cached = `cachedContentTokenCount`; input audio = the `AUDIO` entries of
//!   `promptTokensDetails` minus those of `cacheTokensDetails`; output audio = the `AUDIO`
//!   entries of `candidatesTokensDetails` and `responseTokensDetails`;
//! - total = `totalTokenCount` for a JSON body; for a stream every chunk carrying
//!   `usageMetadata` is one report, accumulated as [`StreamUsage`] does (total = prompt +
//!   completion), so the last chunk that carries it decides.
//!
//! Google Maps grounding (which LiteLLM also excludes from the prompt) is not detected: with it,
//! `toolUsePromptTokenCount` is counted in the prompt here.

use super::{
    class_by_status, context_window_exceeded, error_kind, ProviderError, Reading, StreamUsage,
    Unreadable,
};
use crate::json_array::{ArrayState, ElementSink, JsonArrayFramer};
use crate::json_object::{self, count, elements, members};
use crate::json_scan::{JsonScanner, ScanState};
use crate::spot::KeySpotter;
use crate::sse::{SseFramer, SseSink};
use crate::usage::Usage;

/// Reads a `usageMetadata` object; `grounded`: the response used Google Search grounding.
/// `None` when it is not an object. The total is `totalTokenCount`, as for a JSON body.
pub fn parse_usage(raw: &[u8], grounded: bool) -> Option<Usage> {
    let mut prompt = 0u64;
    let mut candidates = 0u64;
    let mut total = 0u64;
    let mut cached = 0u64;
    let mut thoughts = 0u64;
    let mut tool_use = 0u64;
    let mut response = 0u64;
    let mut prompt_audio = None;
    let mut cache_audio = None;
    let mut output_audio = 0u64;
    let mut m = members(raw)?;
    for (k, v) in m.by_ref() {
        let n = || count(v).unwrap_or(0);
        match k {
            b"promptTokenCount" => prompt = n(),
            b"candidatesTokenCount" => candidates = n(),
            b"totalTokenCount" => total = n(),
            b"cachedContentTokenCount" => cached = n(),
            b"thoughtsTokenCount" => thoughts = n(),
            b"toolUsePromptTokenCount" => tool_use = n(),
            b"responseTokenCount" => response = n(),
            b"promptTokensDetails" => prompt_audio = audio_tokens(v),
            b"cacheTokensDetails" => cache_audio = audio_tokens(v),
            b"candidatesTokensDetails" | b"responseTokensDetails" => {
                output_audio = output_audio.saturating_add(audio_tokens(v).unwrap_or(0));
            }
            _ => {}
        }
    }
    if m.is_malformed() {
        return None;
    }
    let inclusive = prompt.saturating_add(candidates).saturating_add(tool_use) == total;
    let mut completion = if response > 0 { response } else { candidates };
    if !inclusive && thoughts > 0 {
        completion = completion.saturating_add(thoughts);
    }
    let billable_tool_use = if grounded { 0 } else { tool_use };
    let input_audio = match (prompt_audio, cache_audio) {
        (Some(p), Some(c)) => p.saturating_sub(c),
        (Some(p), None) => p,
        _ => 0,
    };
    Some(Usage {
        input: prompt.saturating_add(billable_tool_use),
        output: completion,
        total,
        input_cached: cached,
        input_cache_creation: 0,
        output_reasoning: thoughts,
        input_audio,
        output_audio,
    })
}

/// The `AUDIO` (any case) token counts of a `*TokensDetails` list (`[{"modality","tokenCount"}]`);
/// `None` when the list has no `AUDIO` entry.
fn audio_tokens(list: &[u8]) -> Option<u64> {
    let mut sum = None;
    for entry in elements(list)? {
        let mut audio = false;
        let mut n = 0;
        for (k, v) in members(entry).into_iter().flatten() {
            match k {
                b"modality" => {
                    audio =
                        json_object::plain_str(v).is_some_and(|m| m.eq_ignore_ascii_case(b"AUDIO"))
                }
                b"tokenCount" | b"token_count" => n = count(v).unwrap_or(0),
                _ => {}
            }
        }
        if audio {
            sum = Some(sum.unwrap_or(0u64).saturating_add(n));
        }
    }
    sum
}

/// Whether a `webSearchQueries` value holds a query (LiteLLM bills grounding per distinct
/// non-empty query).
fn has_query(raw: &[u8]) -> bool {
    // A string element longer than its two quotes is a non-empty query.
    elements(raw).is_some_and(|mut e| e.any(|q| q.len() > 2 && q.first() == Some(&b'"')))
}

/// Gemini's `error` value (`{"code": 429, "message": "…", "status": "RESOURCE_EXHAUSTED"}`).
pub fn parse_error(raw: &[u8]) -> Option<ProviderError> {
    let mut e = ProviderError::default();
    for (k, v) in members(raw)? {
        match k {
            b"status" => e.kind = json_object::plain_str(v).and_then(error_kind),
            b"message" => e.message = json_object::string(v),
            b"code" => e.code = count(v),
            _ => {}
        }
    }
    (e.kind.is_some() || e.message.is_some() || e.code.is_some()).then_some(e)
}

/// The caller's Gemini API key: the `x-goog-api-key` header, else the `key` query parameter
/// (percent-decoded). Vertex AI callers send `Authorization: Bearer` (OAuth access tokens), which
/// the usual API-key rule reads.
pub fn api_key(x_goog_api_key: Option<&str>, query: &str) -> Option<String> {
    if let Some(k) = x_goog_api_key.map(str::trim).filter(|k| !k.is_empty()) {
        return Some(k.to_owned());
    }
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("key="))
        .map(crate::route::percent_decode)
        .filter(|k| !k.is_empty())
}

/// LiteLLM's `_map_vertex_exception` (1.106.2, `gemini` and `vertex_ai`), then its status
/// fallback. LiteLLM searches the error body's text: the message, the status name and the code
/// stand for it. An error inside a stream takes the status of its `code`. `None`: LiteLLM's
/// `APIConnectionError`.
pub fn exception_class(status: u16, error: Option<&ProviderError>) -> Option<&'static str> {
    let (kind, message, code) = error.map_or(("", "", None), |e| (e.kind(), e.message(), e.code));
    let says = |s: &str| message.contains(s) || kind.contains(s);
    if says("Vertex AI API has not been used in project") || says("Unable to find your project") {
        return Some("BadRequestError");
    }
    if says("400 Request payload size exceeds") || context_window_exceeded(message) {
        return Some("ContextWindowExceededError");
    }
    if says("None Unknown Error.") || says("Content has no parts.") {
        return Some("InternalServerError");
    }
    if says("API key not valid.") {
        return Some("AuthenticationError");
    }
    // LiteLLM tests the body text for "403": a 403 body's `"code": 403` is enough.
    if code == Some(403) || says("403") {
        return Some("BadRequestError");
    }
    if says("The response was blocked.") || says("Output blocked by content filtering policy") {
        return Some("ContentPolicyViolationError");
    }
    if says("429 Quota exceeded")
        || says("Quota exceeded for")
        || says("Resource exhausted")
        || says("IndexError: list index out of range")
        || says("429 Unable to submit request because the service is temporarily out of capacity.")
        || ((500..600).contains(&status) && code == Some(429))
    {
        return Some("RateLimitError");
    }
    if says("500 Internal Server Error") || says("The model is overloaded.") {
        return Some("InternalServerError");
    }
    Some(match status {
        400 => "BadRequestError",
        401 => "AuthenticationError",
        403 => "PermissionDeniedError",
        404 => "NotFoundError",
        408 => "Timeout",
        429 => "RateLimitError",
        500 => "InternalServerError",
        502 => "APIConnectionError",
        503 => "ServiceUnavailableError",
        _ => return class_by_status(status),
    })
}

/// Values read from each response object.
const PATHS: &[&str] = &["usageMetadata", "modelVersion", "error"];
const USAGE: usize = 0;
const MODEL: usize = 1;
const ERROR: usize = 2;
/// Grounding queries sit inside `candidates[]`, out of the scanner's reach (it matches through
/// objects only): a key spotter hunts for them alone, which costs one byte search per chunk.
const GROUNDING_KEYS: &[&[u8]] = &[b"webSearchQueries"];

/// Reads one response object (the whole body, one array element or one SSE event).
struct Doc {
    scanner: JsonScanner,
    grounding: KeySpotter,
    /// This reading is a stream's: reports accumulate.
    stream: StreamUsage,
    /// The last report of a JSON body (its total is `totalTokenCount`).
    last: Option<Usage>,
    model: Option<String>,
    error: Option<ProviderError>,
    malformed: u32,
    docs: u32,
}

impl Doc {
    fn new(max_capture: usize) -> Doc {
        Doc {
            scanner: JsonScanner::new(PATHS, max_capture),
            grounding: KeySpotter::new(GROUNDING_KEYS, max_capture),
            stream: StreamUsage::default(),
            last: None,
            model: None,
            error: None,
            malformed: 0,
            docs: 0,
        }
    }

    fn data(&mut self, fragment: &[u8]) {
        self.scanner.feed(fragment);
        self.grounding.feed(fragment);
    }

    /// The current object ended; `in_stream`: it is one of a stream's.
    fn end(&mut self, in_stream: bool) {
        self.docs = self.docs.saturating_add(1);
        let complete = self.scanner.finish() == ScanState::Complete;
        if complete {
            let s = &self.scanner;
            let grounded = self.grounding.value(0).is_some_and(has_query);
            if let Some(raw) = s.captured(USAGE).filter(|r| !json_object::is_null(r)) {
                match parse_usage(raw, grounded) {
                    Some(u) => {
                        self.stream.add(u);
                        self.last = Some(u);
                    }
                    None => self.malformed = self.malformed.saturating_add(1),
                }
            }
            if self.model.is_none() {
                self.model = s.captured(MODEL).and_then(json_object::string);
            }
            if self.error.is_none() {
                self.error = s.captured(ERROR).and_then(parse_error).map(|mut e| {
                    if in_stream {
                        e.stream_status = Some(
                            e.code
                                .and_then(|c| u16::try_from(c).ok())
                                .filter(|c| (100..600).contains(c))
                                .unwrap_or(500),
                        );
                    }
                    e
                });
            }
        } else {
            self.malformed = self.malformed.saturating_add(1);
        }
        self.scanner.reset();
        self.grounding.reset();
    }

    fn reading(&self, in_stream: bool, unreadable: Option<Unreadable>) -> Reading {
        let usage = if in_stream {
            self.stream.total()
        } else {
            self.last
        };
        Reading {
            usage,
            usage_incomplete: false,
            response_model: self.model.clone(),
            error: self.error.clone(),
            unreadable,
            service_tier: None,
        }
    }
}

impl ElementSink for Doc {
    fn data(&mut self, fragment: &[u8]) {
        Doc::data(self, fragment);
    }
    fn element_end(&mut self) {
        self.end(true);
    }
}

impl SseSink for Doc {
    fn data(&mut self, fragment: &[u8]) {
        Doc::data(self, fragment);
    }
    fn dispatch(&mut self, _event_type: &[u8]) {
        self.end(true);
    }
}

/// How the body is being read.
enum Body {
    /// A JSON body whose first significant byte has not come yet.
    Undecided,
    /// A single response object (`generateContent`, or an error).
    Object,
    /// A streamed JSON array of response objects.
    Array(JsonArrayFramer),
    /// `text/event-stream`: one response object per event.
    Sse(SseFramer),
    /// Neither an object nor an array.
    NotJson,
}

/// Reads one Gemini / Vertex AI response body incrementally, whatever its shape.
pub struct Reader {
    body: Body,
    doc: Box<Doc>,
}

impl Reader {
    /// A reader for a response of `content_type` (SSE when `text/event-stream`; otherwise the
    /// body's first byte tells an object from an array).
    pub fn new(content_type: &str, max_capture: usize) -> Reader {
        let sse = super::is_event_stream(content_type);
        Reader {
            body: if sse {
                Body::Sse(SseFramer::new())
            } else {
                Body::Undecided
            },
            doc: Box::new(Doc::new(max_capture)),
        }
    }

    /// Feeds the next (decoded) body chunk.
    pub fn feed(&mut self, bytes: &[u8]) {
        if let Body::Undecided = self.body {
            // Only whitespace can come before the first byte that decides, so nothing is lost
            // by deciding late: the framer or scanner gets this whole chunk.
            let first = bytes
                .iter()
                .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
            self.body = match first {
                None => return,
                Some(b'[') => Body::Array(JsonArrayFramer::new()),
                Some(b'{') => Body::Object,
                Some(_) => Body::NotJson,
            };
        }
        match &mut self.body {
            Body::Object => self.doc.data(bytes),
            Body::Array(framer) => {
                framer.feed(bytes, &mut *self.doc);
            }
            Body::Sse(framer) => framer.feed(bytes, &mut *self.doc),
            Body::Undecided | Body::NotJson => {}
        }
    }

    /// End of body: what it said.
    pub fn finish(&mut self) -> Reading {
        match &mut self.body {
            Body::Undecided => Reading::default(),
            Body::NotJson => self.doc.reading(false, Some(Unreadable::MalformedJson)),
            Body::Object => {
                self.doc.end(false);
                let bad = self.doc.malformed > 0;
                self.doc
                    .reading(false, bad.then_some(Unreadable::MalformedJson))
            }
            Body::Array(framer) => {
                let closed = framer.finish() == ArrayState::Complete;
                let bad = !closed || self.doc.malformed > 0;
                self.doc
                    .reading(true, bad.then_some(Unreadable::MalformedJson))
            }
            Body::Sse(framer) => {
                let discarded = framer.finish(&mut *self.doc);
                let bad =
                    self.doc.malformed > 0 || (discarded && self.doc.stream.total().is_none());
                self.doc
                    .reading(true, bad.then_some(Unreadable::MalformedSse))
            }
        }
    }
}

#[cfg(test)]
#[path = "tests/gemini.rs"]
mod tests;
