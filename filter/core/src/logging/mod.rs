//! Per-request logging as LiteLLM does it: a call id per request and the `x-litellm-*` response
//! headers, LiteLLM's `StandardLoggingPayload`, and its destinations — the generic HTTP
//! endpoint, OpenTelemetry (and Langfuse's OTel endpoint), Datadog's logs intake — plus Envoy
//! filter state for Envoy's own access loggers.
//!
//! Pure and host-free like the rest of the core. The host adapter makes these calls:
//!
//! | when | call |
//! | --- | --- |
//! | VM start | [`Logging::new`] with the parsed [`settings::LoggingSettings`] and seed words |
//! | request headers | [`request::RequestLog::new`] (the call id, [`Logging::messages_logged`], [`Logging::body_capture`]) |
//! | request / response body | [`request::RequestLog::on_request_body`], [`request::RequestLog::on_response_body`] |
//! | response headers | [`request::RequestLog::response_headers`] → add each |
//! | response end / trailers | [`headers::response_trailers`] where the protocol carries trailers (not wired yet) |
//! | `on_log` | [`request::RequestLog::finish`]: the [`LogInput`] from the record and its resolution, [`Logging::on_finished`] → set each returned filter-state entry |
//! | root tick | [`Logging::on_tick`] → for each [`LogCallout`], [`Logging::callout`] and `dispatch_http_call`; callback (or a refused dispatch) → [`Logging::on_callout_result`]; [`Logging::take_counters`] → counters |
//!
//! Nothing here waits for the network: a request only appends an encoded record to a bounded
//! per-destination queue in its VM ([`crate::outbox`]), and the root context's tick sends them.

/// Envoy filter state for access logs.
pub mod access_log;
/// Call ids, trace ids and span ids.
pub mod call_id;
/// Whether bodies are logged, and their bounded copies.
pub mod capture;
/// Endpoints: clusters, headers, LiteLLM's URL rules per destination.
pub mod destinations;
/// The `x-litellm-*` response headers and trailers.
pub mod headers;
/// [`LogInput`]: one finished request as the encoders read it.
pub mod input;
/// Compact JSON writing into a reused buffer.
pub mod json;
/// OTLP/HTTP JSON spans and W3C trace context.
pub mod otel;
/// The StandardLoggingPayload encoder.
pub mod payload;
/// One request's logging state, from request headers to `on_log`.
pub mod request;
/// The configuration keys (LiteLLM's), parsed once into typed settings.
pub mod settings;

#[cfg(test)]
mod otel_tests;
#[cfg(test)]
mod payload_tests;
#[cfg(test)]
mod settings_tests;
#[cfg(test)]
mod tests;

pub use crate::spend::budget::Identity;
pub use input::{LogInput, LogSpend};

use crate::outbox::{Outbox, OutboxCounters, Settled};
use call_id::{reused_call_id, IdGenerator};
use capture::{messages_logged, BodyCapture, RedactionHeaders};
use headers::{response_headers, HeaderValues};
use json::{key, push_string, Obj};
use otel::{encode_span, SpanIds, SpanOptions};
use payload::encode_payload;
use settings::{DatadogFields, DestinationKind, LoggingSettings};

/// The counter family of logging's delivery outcomes, labelled `destination` and `outcome`
/// (the outcomes of [`OutboxCounters::outcomes`]).
pub const LOGS_METRIC: &str = crate::catalogue::own::LOGS;

/// One POST to make: which destination, which body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogCallout {
    /// Index of the destination.
    pub destination: usize,
    /// The body's id in that destination's outbox.
    pub body: u64,
}

/// What `dispatch_http_call` needs for a [`LogCallout`].
#[derive(Debug)]
pub struct Callout<'a> {
    /// The Envoy cluster.
    pub cluster: &'a str,
    /// Pseudo-headers, `content-type`, the destination's own headers.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The body.
    pub body: &'a str,
    /// The callout timeout.
    pub timeout_ms: u64,
}

/// Logging for one VM: settings, an outbox per destination, the id generator, and the buffers
/// reused from request to request.
pub struct Logging {
    settings: LoggingSettings,
    outboxes: Vec<Outbox>,
    ids: IdGenerator,
    payload_buf: String,
    span_buf: String,
}

impl Logging {
    /// Logging for `settings`; `seed` seeds the id generator (host time, root context id,
    /// `random_get` words when the host grants them).
    pub fn new(settings: LoggingSettings, seed: &[u64]) -> Logging {
        let outboxes = settings
            .destinations
            .iter()
            .map(|d| Outbox::new(d.limits.clone(), d.framing.clone()))
            .collect();
        Logging {
            settings,
            outboxes,
            ids: IdGenerator::from_seed(seed),
            payload_buf: String::new(),
            span_buf: String::new(),
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &LoggingSettings {
        &self.settings
    }

    /// Whether a finished request needs [`Logging::on_finished`] at all.
    pub fn is_active(&self) -> bool {
        self.settings.filter_state || !self.settings.destinations.is_empty()
    }

    /// The request's call id: the client's `x-litellm-call-id` or `x-request-id` when sane,
    /// else a new UUIDv4.
    pub fn call_id(&mut self, litellm_call_id: Option<&str>, request_id: Option<&str>) -> String {
        match reused_call_id(litellm_call_id, request_id) {
            Some(id) => id.to_owned(),
            None => self.ids.uuid_v4(),
        }
    }

    /// Whether the request's messages and response are logged. `caller_opt_out`: the caller's
    /// key or team metadata sets `allow_client_message_redaction_opt_out`.
    pub fn messages_logged(&self, headers: RedactionHeaders, caller_opt_out: bool) -> bool {
        messages_logged(
            self.settings.turn_off_message_logging,
            headers,
            caller_opt_out || self.settings.allow_client_message_redaction_opt_out,
        )
    }

    /// A bounded copy for one body, when bodies of this request are logged at all.
    pub fn body_capture(&self, messages_logged: bool) -> Option<BodyCapture> {
        (messages_logged && self.settings.may_log_bodies())
            .then(|| BodyCapture::new(self.settings.max_logged_body_bytes))
    }

    /// The `x-litellm-*` headers to add when the response headers leave (none when
    /// `telemetry_settings.logging.response_headers` is off).
    pub fn response_headers(&self, v: &HeaderValues) -> Vec<(&'static str, String)> {
        if self.settings.response_headers {
            response_headers(v)
        } else {
            Vec::new()
        }
    }

    /// Encodes a finished request for every destination that wants it and queues it; returns
    /// the filter-state entries to set (empty unless `filter_state` is on). Never waits.
    pub fn on_finished(&mut self, input: &LogInput, now_ms: u64) -> Vec<(&'static str, String)> {
        let ok = input.succeeded();
        let wanted = |k: fn(&DestinationKind) -> bool| {
            self.settings
                .destinations
                .iter()
                .any(|d| d.events.wants(ok) && k(&d.kind))
        };
        let need_payload = self.settings.filter_state
            || wanted(|k| matches!(k, DestinationKind::Generic | DestinationKind::Datadog(_)));
        let need_span = wanted(|k| matches!(k, DestinationKind::Otel(_)));
        let opts = self.settings.payload;
        if need_payload {
            self.payload_buf.clear();
            encode_payload(input, &opts, &mut self.payload_buf);
        }
        let mut span_ok = false;
        if need_span {
            let ids = SpanIds::for_request(input, &mut self.ids);
            if ids.sampled {
                self.span_buf.clear();
                let span_opts = SpanOptions {
                    redact_user_api_key_info: opts.redact_user_api_key_info,
                };
                encode_span(input, &ids, &span_opts, &mut self.span_buf);
                span_ok = true;
            }
        }
        for (d, outbox) in self.settings.destinations.iter().zip(&mut self.outboxes) {
            if !d.events.wants(ok) {
                continue;
            }
            let record = match &d.kind {
                DestinationKind::Generic => self.payload_buf.clone(),
                DestinationKind::Otel(_) if span_ok => self.span_buf.clone(),
                DestinationKind::Otel(_) => continue,
                DestinationKind::Datadog(f) => {
                    datadog_entry(f, input, &self.payload_buf, opts.redact_user_api_key_info)
                }
            };
            outbox.push(record, now_ms);
        }
        if self.settings.filter_state {
            access_log::filter_state_entries(
                input,
                &self.payload_buf,
                opts.redact_user_api_key_info,
            )
        } else {
            Vec::new()
        }
    }

    /// Runs every destination's timers; returns the POSTs to make now.
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<LogCallout> {
        let mut out = Vec::new();
        for (i, o) in self.outboxes.iter_mut().enumerate() {
            out.extend(o.on_tick(now_ms).into_iter().map(|body| LogCallout {
                destination: i,
                body,
            }));
        }
        out
    }

    /// What to dispatch for `c` (`None` once it is settled).
    pub fn callout(&self, c: LogCallout) -> Option<Callout<'_>> {
        let d = self.settings.destinations.get(c.destination)?;
        let o = self.outboxes.get(c.destination)?;
        Some(Callout {
            cluster: &d.endpoint.destination.cluster,
            headers: d.endpoint.headers(),
            body: o.body(c.body)?,
            timeout_ms: d.limits.callout_timeout_ms,
        })
    }

    /// Settles `c` with its HTTP status (0: no response, or the dispatch was refused).
    pub fn on_callout_result(&mut self, c: LogCallout, status: u16, now_ms: u64) -> Settled {
        match self.outboxes.get_mut(c.destination) {
            Some(o) => o.on_result(c.body, status, now_ms),
            None => Settled::Unknown,
        }
    }

    /// Whether `c` awaits its callout's answer (the host's token for it may be forgotten once
    /// not: the outbox settled it, or timed it out as lost).
    pub fn is_in_flight(&self, c: LogCallout) -> bool {
        self.outboxes
            .get(c.destination)
            .is_some_and(|o| o.is_in_flight(c.body))
    }

    /// Per destination, the counter increments since the previous call.
    pub fn take_counters(&mut self) -> Vec<(&str, OutboxCounters)> {
        self.settings
            .destinations
            .iter()
            .zip(&mut self.outboxes)
            .map(|(d, o)| (d.name.as_str(), o.take_counters_delta()))
            .collect()
    }

    /// The destinations, in order: [`LogCallout::destination`] indexes them.
    pub fn destinations(&self) -> &[settings::LogDestination] {
        &self.settings.destinations
    }
}

/// LiteLLM's `normalize_datadog_tag_value`: lowercase, anything but letters, digits and `_-:./`
/// replaced by `_`, runs of `_` collapsed, `_` trimmed.
fn datadog_tag_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars().flat_map(char::to_lowercase) {
        let c = if c.is_alphanumeric() || "_-:./".contains(c) {
            c
        } else {
            '_'
        };
        if c == '_' && s.ends_with('_') {
            continue;
        }
        s.push(c);
    }
    s.trim_matches('_').to_owned()
}

/// One Datadog log entry (LiteLLM's `DatadogPayload`): the payload JSON as `message`, status
/// `info` or `error`, the tags LiteLLM's `get_datadog_tags` builds (its `team:` tag left out
/// under `redact_user_api_key_info`, like the payload's key fields).
fn datadog_entry(f: &DatadogFields, input: &LogInput, payload_json: &str, redact: bool) -> String {
    let mut tags = f.base_tags.clone();
    for t in input.request_tags() {
        tags.push_str(",request_tag:");
        tags.push_str(&datadog_tag_value(t));
    }
    let team = input
        .identity
        .team_alias
        .or(input.identity.team_id)
        .filter(|t| !t.is_empty() && !redact);
    if let Some(team) = team {
        tags.push_str(",team:");
        tags.push_str(&datadog_tag_value(team));
    }
    let mut out = String::with_capacity(payload_json.len() + tags.len() + 160);
    let mut o = Obj::begin(&mut out);
    o.str(key!("ddsource"), &f.source);
    o.str(key!("ddtags"), &tags);
    o.str(key!("hostname"), &f.hostname);
    push_string(o.field(key!("message")), payload_json);
    o.str(key!("service"), &f.service);
    o.str(
        key!("status"),
        if input.succeeded() { "info" } else { "error" },
    );
    o.end();
    out
}
