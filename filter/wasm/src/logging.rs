//! Per-request logging in the host, around the pure engine of `llm_telemetry_core::logging`
//! (whose module docs give the calls and their order).
//!
//! - **Requests**: a [`RequestLog`] per LLM request (its call id, the redaction decision, the
//!   bounded body copies); the `x-litellm-*` headers are added in the response headers callback
//!   (the only time Envoy lets a filter change them, for plain and streamed responses alike);
//!   in `on_log` the finished request is encoded and appended to its VM's per-destination
//!   queues, and its filter-state entries are set for Envoy's access loggers.
//! - **Root tick**: the queues' due bodies go out through `dispatch_http_call` (only callouts
//!   made from the root context get their callback), each answer settles its body (sent,
//!   retried later, dropped). Nothing on the request path waits for an endpoint: a down or slow
//!   one fills its bounded queue, whose oldest records are dropped and counted.
//!
//! Endpoint URLs and headers are secrets: logs name a destination and its cluster only.

use crate::abi;
use crate::host::{claim_once, fingerprint, now_ns};
use hashbrown::{HashMap, HashSet};
use llm_telemetry_core::config::Config;
use llm_telemetry_core::exchange::{Headers, Record};
use llm_telemetry_core::logging::request::RequestLog;
use llm_telemetry_core::logging::{LogCallout, Logging, LOGS_METRIC};
use llm_telemetry_core::metrics::Resolution;

fn now_ms() -> u64 {
    now_ns() / 1_000_000
}

/// One VM's logging (absent when the configuration asks for nothing: then nothing here runs).
pub struct VmLogging {
    engine: Logging,
    /// Callout token → the body it carries; kept while the outbox awaits that body (the outbox
    /// alone times out a callout whose answer never came).
    tokens: HashMap<u32, LogCallout>,
    metric_ids: HashMap<String, u32>,
    /// Destinations whose callouts Envoy refused, warned about once per VM.
    warned: HashSet<usize>,
}

/// This VM's logging for `config`, `None` when it has nothing to do. Warnings of the logging
/// settings are logged once across VMs.
pub fn configure(config: &Config, root_context_id: u32) -> Option<VmLogging> {
    let settings = &config.logging;
    if !settings.response_headers && !settings.filter_state && settings.destinations.is_empty() {
        return None;
    }
    if !settings.destinations.is_empty() {
        let names: Vec<String> = settings
            .destinations
            .iter()
            .map(|d| format!("{} (cluster {})", d.name, d.endpoint.destination.cluster))
            .collect();
        let key = format!(
            "llm_telemetry.logging.{}.started",
            fingerprint(names.join(",").as_bytes())
        );
        if claim_once(&key) {
            log::info!("llm-telemetry: logging to {}", names.join(", "));
        }
    }
    let mut seed = vec![now_ns(), u64::from(root_context_id)];
    seed.extend(abi::random_words::<4>());
    Some(VmLogging {
        engine: Logging::new(settings.clone(), &seed),
        tokens: HashMap::new(),
        metric_ids: HashMap::new(),
        warned: HashSet::new(),
    })
}

impl VmLogging {
    /// At request headers (`h`: the map the adapter fetched once).
    pub fn request_started(&mut self, h: &dyn Headers) -> RequestLog {
        RequestLog::new(&mut self.engine, h)
    }

    /// In the response headers callback: adds the `x-litellm-*` headers.
    pub fn add_response_headers(&self, log: &RequestLog, rec: &Record, config: &Config) {
        for (name, value) in log.response_headers(&self.engine, rec, config) {
            if let Err(e) = abi::add_header(abi::HTTP_RESPONSE_HEADERS, name, &value) {
                log::debug!("llm-telemetry: could not add response header {name} ({e:?})");
            }
        }
    }

    /// `on_log`: encodes and queues the finished request, sets its filter-state entries.
    pub fn finished(&mut self, log: RequestLog, rec: &Record, resolution: &Resolution) {
        // The clock only for a log that is encoded (not for response headers alone).
        let now = if self.engine.is_active() { now_ms() } else { 0 };
        let entries = log.finish(&mut self.engine, rec, resolution, now);
        for (name, value) in entries {
            if let Err(e) = abi::set_filter_state(name, value.as_bytes()) {
                log::debug!("llm-telemetry: could not set filter state {name} ({e:?})");
                break;
            }
        }
    }

    /// Root `on_tick`: sends what is due, forgets lost callouts, flushes the counters.
    pub fn on_tick(&mut self) {
        let now = now_ms();
        for c in self.engine.on_tick(now) {
            self.dispatch(c, now);
        }
        let engine = &self.engine;
        self.tokens.retain(|_, c| engine.is_in_flight(*c));
        self.flush_counters();
    }

    fn dispatch(&mut self, c: LogCallout, now: u64) {
        let Some(callout) = self.engine.callout(c) else {
            return;
        };
        match abi::dispatch_http_call(
            callout.cluster,
            callout.headers,
            callout.body.as_bytes(),
            callout.timeout_ms,
        ) {
            Ok(token) => {
                // A retry: an earlier attempt's token, if its answer still came, must not
                // settle this one.
                self.tokens.retain(|_, earlier| *earlier != c);
                self.tokens.insert(token, c);
            }
            Err(e) => {
                if self.warned.insert(c.destination) {
                    if let Some(d) = self.engine.destinations().get(c.destination) {
                        log::warn!(
                            "llm-telemetry: cannot send logs to destination `{}`: Envoy refused a callout to cluster `{}` ({e:?}); is the cluster defined? Every loss is counted in {LOGS_METRIC}",
                            d.name,
                            d.endpoint.destination.cluster
                        );
                    }
                }
                self.engine.on_callout_result(c, 0, now);
            }
        }
    }

    /// Root `on_http_call_response`: true when the token was one of logging's callouts.
    pub fn on_http_call_response(&mut self, token: u32) -> bool {
        let Some(c) = self.tokens.remove(&token) else {
            return false;
        };
        // Envoy's own 503 (connection failed) and 504 (timeout) count as no delivery, as any
        // other non-2xx: the outbox decides on a retry.
        let status = abi::get_header(abi::HTTP_CALL_RESPONSE_HEADERS, ":status")
            .and_then(|s| s.trim().parse::<u16>().ok())
            .unwrap_or(0);
        self.engine.on_callout_result(c, status, now_ms());
        self.flush_counters();
        true
    }

    fn flush_counters(&mut self) {
        let mut adds: Vec<(String, u64)> = Vec::new();
        for (destination, counters) in self.engine.take_counters() {
            for (outcome, n) in counters.outcomes() {
                if n > 0 {
                    adds.push((
                        format!(
                            "{LOGS_METRIC};destination={};outcome={outcome};",
                            label_safe(destination)
                        ),
                        n,
                    ));
                }
            }
        }
        for (name, n) in adds {
            self.count(&name, n);
        }
    }

    /// Adds to one of logging's counters (ids defined once per VM; destinations are few).
    fn count(&mut self, name: &str, n: u64) {
        let id = match self.metric_ids.get(name) {
            Some(id) => Some(*id),
            None => {
                let id = abi::define_metric(abi::METRIC_COUNTER, name);
                if let Some(id) = id {
                    self.metric_ids.insert(name.to_owned(), id);
                }
                id
            }
        };
        if let Some(id) = id {
            abi::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

/// A destination name as a label value: a `callback_settings` name is the operator's, but a
/// `;` or `.` in it would break Envoy's tag extraction.
fn label_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
