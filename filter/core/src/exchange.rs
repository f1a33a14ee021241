//! One request/response exchange, from request headers to the finished [`Record`].
//!
//! The host adapter feeds what Envoy hands it (headers, body chunks, timestamps) and acts on the
//! decisions returned here. Nothing in this module talks to Envoy, so the whole life of a request
//! is unit-tested natively.
//!
//! Bodies are never buffered here: the request and response JSON are scanned incrementally for
//! the few values the metrics need, SSE streams are framed and each event scanned as it passes,
//! and compressed responses are inflated through a fixed window. Memory per exchange is bounded by
//! the capture limit whatever the body size.

use crate::config::{Config, IdentityFields};
use crate::decode::{DecodeError, Decoder, Encoding};
use crate::json_scan::{JsonScanner, ScanState};
/// A JSON string value's text (see [`crate::openai::json_string`]).
pub use crate::openai::json_string;
use crate::openai::{
    EventReader, RequestCaptures, ResponseCaptures, JSON_RESPONSE_PATHS, REQUEST_PATHS,
    REQUEST_PATHS_WITHOUT_PROMPT,
};
use crate::providers::{self, ProviderError};
use crate::route::{Api, Classified, NativeApi, NativeRoute};
use crate::sse::SseFramer;
use crate::usage::Usage;

/// Header access, implemented by the host adapter over Envoy's header maps.
pub trait Headers {
    /// The value of header `name` (lowercase), if present.
    fn get(&self, name: &str) -> Option<String>;
}

/// Why a body could not be fully read. Each is counted under `reason` in
/// `llm_telemetry_unreadable_bodies_total`; the traffic itself is never touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyProblem {
    RequestMalformedJson,
    ResponseMalformedJson,
    ResponseMalformedSse,
    UnsupportedEncoding,
    DecodeError,
    /// An AWS event stream (Bedrock) with a bad prelude, corrupt messages, or an event that is
    /// not what its API sends.
    ResponseMalformedEventStream,
    /// The response ended before its body was complete (reset, disconnect, truncated). A body
    /// cut short is counted under this reason alone, never also as malformed.
    ResponseIncomplete,
    /// Envoy refused to hand the filter a body chunk it passed on: the rest of that body is not
    /// read (its bytes reached their destination; the filter just did not see them). Counted
    /// under this reason alone, never as the client's or the upstream's malformed body.
    HostReadFailed,
}

impl BodyProblem {
    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyProblem::RequestMalformedJson => "request_malformed_json",
            BodyProblem::ResponseMalformedJson => "response_malformed_json",
            BodyProblem::ResponseMalformedSse => "response_malformed_sse",
            BodyProblem::ResponseMalformedEventStream => "response_malformed_event_stream",
            BodyProblem::UnsupportedEncoding => "unsupported_encoding",
            BodyProblem::DecodeError => "decode_error",
            BodyProblem::ResponseIncomplete => "response_incomplete",
            BodyProblem::HostReadFailed => "host_read_failed",
        }
    }
}

/// The provider's rate-limit headroom from `x-ratelimit-*` response headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub remaining_requests: Option<u64>,
    pub remaining_tokens: Option<u64>,
    pub limit_requests: Option<u64>,
    pub limit_tokens: Option<u64>,
}

impl RateLimits {
    fn read(h: &dyn Headers) -> RateLimits {
        let num = |name: &str| h.get(name).and_then(|v| v.trim().parse::<u64>().ok());
        RateLimits {
            remaining_requests: num("x-ratelimit-remaining-requests"),
            remaining_tokens: num("x-ratelimit-remaining-tokens"),
            limit_requests: num("x-ratelimit-limit-requests"),
            limit_tokens: num("x-ratelimit-limit-tokens"),
        }
    }
}

/// Who sent the request, as far as headers tell.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// The raw API key. Kept only until [`crate::metrics`] hashes it; never logged or emitted.
    pub api_key: Option<String>,
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
    /// Values of the trusted identity headers.
    pub identity: IdentityFields,
}

/// What to do with the request body, answered on every request body callback.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestBodyAction {
    /// Let it through.
    Continue,
    /// Replace the current chunk with these bytes, then continue (`content-length` was removed
    /// when the headers left).
    Replace(Vec<u8>),
}

enum ResponseReader {
    /// Not read: unsupported content type or encoding, or not LLM JSON/SSE.
    Skip,
    /// A provider-native API's body (Anthropic, Gemini, Bedrock), read by its provider's reader.
    Native(Box<providers::ResponseReader>),
    Json(Box<JsonScanner>),
    // Boxed: one reader per exchange, and the SSE state is the large one.
    Sse {
        framer: SseFramer,
        events: Box<EventReader>,
    },
}

/// Everything known about one exchange once it is over: the input of metrics and alerts.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub api: Option<Api>,
    /// The provider-native API of the request (`api` is then `None`).
    pub native: Option<NativeApi>,
    pub route: String,
    pub base_path: String,
    pub azure_deployment: Option<String>,
    pub caller: Caller,
    /// `model` from the request body (or the Azure deployment name).
    pub requested_model: Option<String>,
    /// `model` as the provider reported it in the response.
    pub response_model: Option<String>,
    pub stream: bool,
    /// The HTTP status the client got; 0 when no response came (reset, disconnect).
    pub status: u16,
    pub usage: Option<Usage>,
    pub rate_limits: RateLimits,
    /// `x-ratelimit-reset-requests` / `-tokens` as the provider sent them (`1s`, `6m0s`), and
    /// its own request id (the response's `x-request-id`): read for the logs.
    pub rate_limit_reset_requests: Option<String>,
    pub rate_limit_reset_tokens: Option<String>,
    pub provider_request_id: Option<String>,
    /// The response's `id` (`chatcmpl-...`): LiteLLM's payload `id`.
    pub response_id: Option<String>,
    pub started_ns: u64,
    /// When the request left for the upstream: its headers are never held, so the time they
    /// reached the filter.
    pub upstream_start_ns: u64,
    pub first_byte_ns: Option<u64>,
    pub end_ns: u64,
    pub end_user: Option<String>,
    /// Raw JSON of the request's `metadata` (tags, custom labels, alerting metadata).
    pub metadata: Option<Vec<u8>>,
    pub service_tier: Option<String>,
    pub error_message: Option<String>,
    /// A provider-native API's own error report (its type decides LiteLLM's exception class).
    pub provider_error: Option<ProviderError>,
    /// The first 100 characters of the request's messages, for alerts that quote them.
    pub messages_preview: Option<String>,
    pub problems: Vec<BodyProblem>,
    /// A stream that finished without any usage: tokens unknown (never invented).
    pub stream_without_usage: bool,
    /// The filter added `stream_options.include_usage` to this request.
    pub usage_injected: bool,
    /// `host:port` of the upstream that answered, when Envoy reports it.
    pub upstream_address: Option<String>,
    /// When Envoy answered itself because the upstream could not (its `response.code_details`),
    /// or the upstream broke the body: the LiteLLM error class that failure maps to.
    pub local_failure_class: Option<&'static str>,
    /// The upstream broke the response after its headers: reset or closed mid-body (Envoy's
    /// `upstream_reset_after_response_started`), stalled past a timeout, or a body that ended
    /// before it was complete (`content-length` shorter than the JSON, a cut SSE event). The
    /// client got the status of the headers and an unusable body: a failed request. Also a
    /// provider-native stream that reported an error mid-way (LiteLLM raises it).
    pub upstream_broke: bool,
    /// The client went away before any response (Envoy: `downstream_remote_disconnect`): status
    /// [`CLIENT_CLOSED_REQUEST`], not the upstream's failure (no health change, no alert).
    pub client_left: bool,
}

/// The status of a request the client abandoned before any response: nginx's "client closed
/// request", which operators know from access logs (Envoy itself logs 0 with the `DC` flag).
pub const CLIENT_CLOSED_REQUEST: u16 = 499;

impl Record {
    /// Total time the client waited, request headers to the last response byte.
    pub fn total_latency_us(&self) -> u64 {
        self.end_ns.saturating_sub(self.started_ns) / 1000
    }
    /// Time the upstream took, from sending the request to the last response byte.
    pub fn api_latency_us(&self) -> u64 {
        self.end_ns.saturating_sub(self.upstream_start_ns) / 1000
    }
    /// Time between the request reaching the filter and leaving for the upstream (LiteLLM's
    /// proxy overhead): 0, as nothing is held.
    pub fn overhead_us(&self) -> u64 {
        self.upstream_start_ns.saturating_sub(self.started_ns) / 1000
    }
    /// Time from sending the request to the first response body byte (streams only).
    pub fn time_to_first_token_us(&self) -> Option<u64> {
        let first = self.first_byte_ns?;
        self.stream
            .then(|| first.saturating_sub(self.upstream_start_ns) / 1000)
    }
    /// LiteLLM's exception class (without the provider prefix) of a failed provider-native
    /// request, as LiteLLM maps `provider`'s errors (an error inside a 2xx stream takes the
    /// status LiteLLM gives it); `None` for OpenAI-style requests (the status table applies).
    pub fn provider_exception_class(&self, provider: &str) -> Option<&'static str> {
        self.native?;
        let error = self.provider_error.as_ref();
        let status = error.and_then(|e| e.stream_status).unwrap_or(self.status);
        providers::exception_class(provider, status, error)
    }

    /// Whether the client got a success (LiteLLM counts everything else as failed): a 2xx/3xx
    /// status whose body the upstream did not break.
    pub fn succeeded(&self) -> bool {
        (200..400).contains(&self.status) && !self.upstream_broke
    }

    /// The status the alert rules see: 0 (no usable response) when the upstream broke the body,
    /// else the status the client got.
    pub fn outcome_status(&self) -> u16 {
        if self.upstream_broke {
            0
        } else {
            self.status
        }
    }
}

/// One exchange in flight.
pub struct Exchange {
    record: Record,
    request: JsonScanner,
    request_bytes: u64,
    request_done: bool,
    /// A request chunk could not be read from the host: the scanner saw a hole, so its verdict
    /// (and anything after the hole) is not the body's.
    request_unread: bool,
    /// May get `stream_options` added: the host removed `content-length`.
    rewrite_candidate: bool,
    /// The chunk holding the root object's closing brace has been seen.
    rewrite_decided: bool,
    inject_usage: bool,
    response: Option<ResponseReader>,
    decoder: Option<Decoder>,
    response_done: bool,
    /// Envoy's `response.code_details` say the upstream broke the response mid-body (read in
    /// `on_log` only when the response did not end): the error class and the details.
    broke_mid_body: Option<(&'static str, String)>,
    max_capture: usize,
    finished: bool,
}

impl Exchange {
    /// Starts an exchange for a classified LLM request (OpenAI-style or provider-native) at
    /// `now_ns`.
    pub fn new(route: impl Into<Classified>, config: &Config, now_ns: u64) -> Exchange {
        let limits = &config.limits;
        let record = match route.into() {
            Classified::OpenAi(route) => Record {
                api: Some(route.api),
                route: route.route,
                base_path: route.base_path,
                requested_model: route.azure_deployment.clone(),
                azure_deployment: route.azure_deployment,
                started_ns: now_ns,
                upstream_start_ns: now_ns,
                ..Record::default()
            },
            Classified::Native(route) => Exchange::native_record(route, now_ns),
        };
        let inject = record.api.is_some_and(Api::usage_needs_stream_options);
        Exchange {
            record,
            request: JsonScanner::new(
                if config.alerting_enabled() {
                    REQUEST_PATHS
                } else {
                    REQUEST_PATHS_WITHOUT_PROMPT
                },
                limits.max_capture_bytes,
            ),
            request_bytes: 0,
            request_done: false,
            request_unread: false,
            rewrite_candidate: false,
            rewrite_decided: false,
            inject_usage: config.inject_stream_usage && inject,
            response: None,
            decoder: None,
            response_done: false,
            broke_mid_body: None,
            max_capture: limits.max_capture_bytes,
            finished: false,
        }
    }

    /// The record of a provider-native request: the model its path names (Gemini, Vertex AI,
    /// Bedrock; Anthropic's body names it, and the body's wins) is the requested model, and a
    /// path that streams (Gemini's `streamGenerateContent`, Bedrock's streams) is a stream.
    fn native_record(route: NativeRoute, now_ns: u64) -> Record {
        Record {
            native: Some(route.api),
            route: route.route,
            base_path: route.base_path,
            requested_model: route.model,
            stream: route.api.streams(),
            started_ns: now_ns,
            upstream_start_ns: now_ns,
            ..Record::default()
        }
    }

    /// Reads the request headers. Returns true when the body will be held until it is complete:
    /// a chat/completions request small enough to hold may need `stream_options.include_usage`
    /// added, so the host must drop `content-length` before the headers leave.
    pub fn on_request_headers(
        &mut self,
        h: &dyn Headers,
        client_ip: Option<String>,
        config: &Config,
        end_of_stream: bool,
    ) -> bool {
        let authorization = h.get("authorization");
        let api_key = h.get("api-key");
        let x_api_key = h.get("x-api-key");
        // Gemini's key header and query keys (`key=`, a presigned `X-Amz-Credential=`) only
        // identify provider-native callers.
        let native = self.record.native.is_some();
        let goog_key = if native {
            h.get("x-goog-api-key")
        } else {
            None
        };
        let path = if native { h.get(":path") } else { None };
        let query = path
            .as_deref()
            .and_then(|p| p.split_once('?'))
            .map_or("", |(_, q)| q);
        // A SigV4 signature changes with every request: the caller is its access key id.
        let key = providers::caller_key(
            authorization.as_deref(),
            api_key.as_deref(),
            x_api_key.as_deref(),
            goog_key.as_deref(),
            query,
        );
        let forwarded_ip = h
            .get("x-forwarded-for")
            .and_then(|v| v.split(',').next().map(|s| s.trim().to_owned()))
            .filter(|s| !s.is_empty());
        self.record.caller = Caller {
            api_key: key.map(|k| k.as_str().to_owned()),
            user_agent: h.get("user-agent"),
            client_ip: forwarded_ip.or(client_ip),
            identity: config.identity_headers.read(|name| h.get(name)),
        };
        let encoded = h
            .get("content-encoding")
            .is_some_and(|v| !v.eq_ignore_ascii_case("identity"));
        self.rewrite_candidate = self.inject_usage && !end_of_stream && !encoded;
        self.rewrite_candidate
    }

    /// The record as read so far: its request fields (caller, model, metadata) are final once
    /// the request ended (for alerting's hanging-request tracking).
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Feeds the next request body chunk as Envoy passes it on (never held). The chunk holding
    /// the root object's closing brace is where `stream_options` is added, if it must be: by
    /// then every member of the request has been read, and nothing before it was delayed.
    pub fn on_request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> RequestBodyAction {
        let chunk_start = self.request_bytes;
        if !self.request_done && !self.request_unread {
            self.request.feed(chunk);
            self.request_bytes += chunk.len() as u64;
        }
        let mut action = RequestBodyAction::Continue;
        if self.rewrite_candidate && !self.rewrite_decided {
            if let Some(close) = self.request.root_close_offset() {
                self.rewrite_decided = true;
                let at = close
                    .checked_sub(chunk_start)
                    .and_then(|a| usize::try_from(a).ok());
                if let Some(rewritten) = at.and_then(|at| self.add_include_usage(chunk, at)) {
                    self.record.usage_injected = true;
                    action = RequestBodyAction::Replace(rewritten);
                }
            }
        }
        if end_of_stream {
            self.end_request();
        }
        action
    }

    /// A request body chunk passed that the host would not hand over: the body is no longer
    /// read (what came before it still counts), and the request is not called malformed.
    pub fn on_request_body_unreadable(&mut self, end_of_stream: bool) {
        if !self.request_done && !self.request_unread {
            self.request_unread = true;
            self.rewrite_decided = true;
            self.record.problems.push(BodyProblem::HostReadFailed);
        }
        if end_of_stream {
            self.end_request();
        }
    }

    /// The request ended without a body callback carrying end of stream (trailers, or headers
    /// only).
    pub fn on_request_end(&mut self) {
        self.end_request();
    }

    fn end_request(&mut self) {
        if self.request_done {
            return;
        }
        self.request_done = true;
        let state = self.request.finish();
        if self.request_bytes > 0 && state != ScanState::Complete && !self.request_unread {
            self.record.problems.push(BodyProblem::RequestMalformedJson);
        }
        let c = RequestCaptures::of(&self.request);
        if let Some(m) = c.model {
            self.record.requested_model = Some(m);
        }
        // `|=`: a provider-native path may already say it streams.
        self.record.stream |= c.stream;
        self.record.end_user = c.end_user;
        self.record.metadata = c.metadata;
        self.record.service_tier = c.service_tier;
        self.record.messages_preview = c.messages_preview;
    }

    /// `chunk` with `,"stream_options":{"include_usage":true}` inserted at `at` (the root's
    /// closing brace), for a streamed request that has no `stream_options`. A request that sent
    /// `stream_options` without asking for usage made that choice itself: it is left as it is.
    fn add_include_usage(&self, chunk: &[u8], at: usize) -> Option<Vec<u8>> {
        const MEMBER: &[u8] = br#","stream_options":{"include_usage":true}"#;
        let wanted = RequestCaptures::wants_usage_injected(&self.request);
        if !wanted || chunk.get(at) != Some(&b'}') {
            return None;
        }
        let mut out = Vec::with_capacity(chunk.len() + MEMBER.len());
        out.extend_from_slice(&chunk[..at]);
        out.extend_from_slice(MEMBER);
        out.extend_from_slice(&chunk[at..]);
        Some(out)
    }

    /// Reads the response headers and chooses how to read the body.
    pub fn on_response_headers(&mut self, h: &dyn Headers, end_of_stream: bool) {
        self.record.status = h
            .get(":status")
            .and_then(|s| s.trim().parse::<u16>().ok())
            .unwrap_or(0);
        let native = self.record.native;
        let get = |name: &str| h.get(name);
        self.record.rate_limits = native
            .and_then(|api| providers::rate_limits(api, &get))
            .unwrap_or_else(|| RateLimits::read(h));
        self.record.rate_limit_reset_requests = h.get("x-ratelimit-reset-requests");
        self.record.rate_limit_reset_tokens = h.get("x-ratelimit-reset-tokens");
        self.record.provider_request_id = h.get("x-request-id");
        let content_type = h
            .get("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let encoding = h.get("content-encoding").map(|e| Encoding::from_header(&e));
        if end_of_stream {
            self.response = Some(ResponseReader::Skip);
            return;
        }
        match encoding {
            None | Some(Encoding::Identity) => {}
            Some(Encoding::Unsupported) => {
                self.record.problems.push(BodyProblem::UnsupportedEncoding);
                self.response = Some(ResponseReader::Skip);
                return;
            }
            Some(enc) => self.decoder = Decoder::new(enc),
        }
        if let Some(api) = native {
            // A stream whatever the request said: Anthropic's SSE, Gemini's SSE, Bedrock's
            // event streams (a streamed Gemini JSON array is known from the path).
            if content_type.starts_with("text/event-stream")
                || content_type.starts_with("application/vnd.amazon.eventstream")
            {
                self.record.stream = true;
            }
            let reader = providers::ResponseReader::new(api, &get, self.max_capture);
            self.response = Some(ResponseReader::Native(Box::new(reader)));
            return;
        }
        self.response = Some(if content_type.starts_with("text/event-stream") {
            ResponseReader::Sse {
                framer: SseFramer::new(),
                events: Box::new(EventReader::new(self.max_capture)),
            }
        } else if content_type.is_empty() || content_type.contains("json") {
            ResponseReader::Json(Box::new(JsonScanner::new(
                JSON_RESPONSE_PATHS,
                self.max_capture,
            )))
        } else {
            ResponseReader::Skip
        });
    }

    /// A response body chunk passed that the host would not hand over (`now_ns` as for
    /// [`Exchange::on_response_body`]): the rest of the body is not read, and it is counted as
    /// `host_read_failed`, not as the upstream's malformed body.
    pub fn on_response_body_unreadable(&mut self, end_of_stream: bool, now_ns: u64) {
        if self.record.first_byte_ns.is_none() {
            self.record.first_byte_ns = Some(now_ns);
        }
        if !self.response_done && !matches!(self.response, Some(ResponseReader::Skip)) {
            self.record.problems.push(BodyProblem::HostReadFailed);
            self.response = Some(ResponseReader::Skip);
            self.decoder = None;
        }
        if end_of_stream {
            self.on_response_end(now_ns);
        }
    }

    /// Feeds a response body chunk as Envoy passes it on (never held). `now_ns` is read only for
    /// the first non-empty chunk and at end of stream (the host may skip the clock otherwise).
    pub fn on_response_body(&mut self, chunk: &[u8], end_of_stream: bool, now_ns: u64) {
        if !chunk.is_empty() && self.record.first_byte_ns.is_none() {
            self.record.first_byte_ns = Some(now_ns);
        }
        if !self.response_done {
            let reader = &mut self.response;
            match &mut self.decoder {
                Some(decoder) => {
                    let result = decoder.feed(chunk, &mut |plain| read_response(reader, plain));
                    if result.is_err() {
                        self.record.problems.push(BodyProblem::DecodeError);
                        self.response = Some(ResponseReader::Skip);
                        self.decoder = None;
                    }
                }
                None => read_response(reader, chunk),
            }
        }
        if end_of_stream {
            self.on_response_end(now_ns);
        }
    }

    /// The response is complete (last body chunk, trailers, or headers only).
    pub fn on_response_end(&mut self, now_ns: u64) {
        self.end_response(now_ns, true, false);
    }

    /// Ends the response: `clean` when Envoy delivered its end (the body may still prove cut
    /// short), not when the stream ended first (reset, disconnect; `broke`: Envoy blames the
    /// upstream). Reads what the body readers gathered, and counts a body cut short under one
    /// reason, `response_incomplete`.
    fn end_response(&mut self, now_ns: u64, clean: bool, broke: bool) {
        if self.response_done {
            return;
        }
        self.response_done = true;
        self.record.end_ns = now_ns;
        let body_seen = self.record.first_byte_ns.is_some();
        let mut cut_short = !clean && (body_seen || (broke && self.response.is_some()));
        let mut problem = None;
        if let Some(d) = &mut self.decoder {
            match d.finish() {
                Ok(()) => {}
                Err(DecodeError::Truncated) => cut_short = true,
                Err(_) => problem = Some(BodyProblem::DecodeError),
            }
        }
        if problem.is_none() {
            match self.response.take() {
                Some(ResponseReader::Json(mut scanner)) if scanner.bytes_seen() > 0 => {
                    // Before `finish` (which calls an unfinished document malformed): still
                    // in progress means the body stopped mid-document.
                    let before = scanner.feed(&[]);
                    let state = scanner.finish();
                    if before == ScanState::InProgress && state != ScanState::Complete {
                        cut_short = true;
                    } else if state != ScanState::Complete {
                        problem = Some(BodyProblem::ResponseMalformedJson);
                    }
                    self.take_response(ResponseCaptures::of_json(&scanner));
                }
                Some(ResponseReader::Sse {
                    mut framer,
                    mut events,
                }) => {
                    // An event left without its blank line is a cut stream, unless it is the
                    // final `[DONE]` missing only that line.
                    if framer.finish(&mut *events) && !events.at_done() {
                        cut_short = true;
                    }
                    let stream = events.captures();
                    if stream.malformed {
                        problem = Some(BodyProblem::ResponseMalformedSse);
                    }
                    self.record.stream_without_usage = stream.response.usage.is_none();
                    self.take_response(stream.response);
                }
                Some(ResponseReader::Native(mut reader)) => {
                    let reading = reader.finish();
                    problem = reading.unreadable.map(|u| match u {
                        providers::Unreadable::MalformedJson => BodyProblem::ResponseMalformedJson,
                        providers::Unreadable::MalformedSse => BodyProblem::ResponseMalformedSse,
                        providers::Unreadable::MalformedEventStream => {
                            BodyProblem::ResponseMalformedEventStream
                        }
                    });
                    self.record.stream_without_usage =
                        self.record.stream && reading.usage.is_none();
                    self.record.usage = reading.usage;
                    self.record.response_model = reading.response_model;
                    if reading.service_tier.is_some() {
                        self.record.service_tier = reading.service_tier;
                    }
                    if let Some(e) = reading.error {
                        self.record.error_message = e.message.clone();
                        // An error event inside a stream that began with a 2xx (Anthropic's
                        // `overloaded_error`, Bedrock's `throttlingException`): LiteLLM raises
                        // it, so the request failed although its headers said 200.
                        if e.stream_status.is_some() && self.record.succeeded() {
                            self.record.upstream_broke = true;
                        }
                        self.record.provider_error = Some(e);
                    }
                }
                Some(_) | None => {}
            }
        }
        if clean && cut_short && self.record.status != 0 {
            // Envoy saw a whole response, but the body the upstream announced never came whole
            // (a content-length shorter than the document, a stream stopped mid-event).
            self.record.upstream_broke = true;
            self.record.local_failure_class = Some(BROKEN_CONNECTION);
            self.record.error_message =
                Some("Connection error: the response body ended before it was complete".into());
        }
        match (cut_short, problem) {
            (true, _) => self.record.problems.push(BodyProblem::ResponseIncomplete),
            (false, Some(p)) => self.record.problems.push(p),
            (false, None) => {}
        }
    }

    /// What the response said, into the record (a response's service tier over the request's).
    fn take_response(&mut self, c: ResponseCaptures) {
        self.record.usage = c.usage;
        self.record.response_model = c.model;
        self.record.error_message = c.error_message;
        self.record.response_id = c.id;
        if c.service_tier.is_some() {
            self.record.service_tier = c.service_tier;
        }
    }

    /// Whether `on_log` should read Envoy's `response.code_details` (a host call, ~8,300
    /// instructions): only when no response came, the status may be Envoy's own reply, or the
    /// response did not end (an upstream reset, a client gone, a timeout — the details tell which).
    pub fn wants_end_details(&self) -> bool {
        let status = self.record.status;
        status == 0 || status >= 500 || !self.response_done
    }

    /// Envoy's `response.code_details`: a reply Envoy generated because the upstream failed is a
    /// connection error or a timeout, not the upstream's own 503/504; a response that stopped
    /// because the upstream broke it mid-body is a failed request, one that stopped because the
    /// client went away (`downstream_remote_disconnect`) is not the upstream's failure.
    pub fn on_response_details(&mut self, code_details: &str) {
        self.record.local_failure_class = local_failure_class(code_details);
        if self.record.status == 0 && code_details.starts_with("downstream_") {
            self.record.client_left = true;
        }
        if !self.response_done && upstream_broke_mid_body(code_details) {
            if let Some(class) = self.record.local_failure_class {
                self.broke_mid_body = Some((class, code_details.to_owned()));
            }
        }
    }

    /// Ends the exchange (Envoy's access-log callback, which always comes once per stream) and
    /// returns its record. A response that never completed is marked so; a missing response is
    /// status 0.
    pub fn finish(&mut self, now_ns: u64, upstream_address: Option<String>) -> Option<Record> {
        if self.finished {
            return None;
        }
        self.finished = true;
        if !self.request_done {
            self.end_request();
        }
        if !self.response_done {
            let broke = self
                .broke_mid_body
                .take()
                .filter(|_| self.record.status != 0);
            self.end_response(now_ns, false, broke.is_some());
            if self.record.client_left {
                self.record.status = CLIENT_CLOSED_REQUEST;
                self.record.local_failure_class = Some("ClientClosedRequest");
            }
            if let Some((class, details)) = broke {
                self.record.upstream_broke = true;
                self.record.local_failure_class = Some(class);
                self.record.error_message = Some(format!(
                    "Connection error: the upstream broke off the response ({details})"
                ));
            }
        }
        self.record.upstream_address = upstream_address;
        Some(std::mem::take(&mut self.record))
    }
}

/// LiteLLM's error class for a connection that failed or broke (`Openai.APIConnectionError`).
const BROKEN_CONNECTION: &str = "APIConnectionError";

/// The LiteLLM error class of a response Envoy made itself, or cut short, from its
/// `response.code_details`.
pub fn local_failure_class(code_details: &str) -> Option<&'static str> {
    if code_details.starts_with("upstream_reset_before_response_started")
        || code_details.starts_with("upstream_reset_after_response_started")
        || code_details == "no_healthy_upstream"
    {
        Some(BROKEN_CONNECTION)
    } else if code_details.starts_with("upstream_response_timeout")
        || code_details.starts_with("upstream_per_try_timeout")
        || code_details.starts_with("upstream_per_try_idle_timeout")
        || code_details == "stream_idle_timeout"
    {
        Some("Timeout")
    } else {
        None
    }
}

/// Whether Envoy's details for a response that did not end blame the upstream: reset or closed
/// after the headers, or silent past a timeout. (`downstream_remote_disconnect`: the client left.)
fn upstream_broke_mid_body(code_details: &str) -> bool {
    code_details != "via_upstream"
        && local_failure_class(code_details).is_some()
        && !code_details.starts_with("upstream_reset_before_response_started")
}

fn read_response(reader: &mut Option<ResponseReader>, bytes: &[u8]) {
    match reader {
        Some(ResponseReader::Json(scanner)) => {
            scanner.feed(bytes);
        }
        Some(ResponseReader::Sse { framer, events }) => framer.feed(bytes, &mut **events),
        Some(ResponseReader::Native(r)) => r.feed(bytes),
        Some(ResponseReader::Skip) | None => {}
    }
}
