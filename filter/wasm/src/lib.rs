//! The host adapter: the only code that talks to Envoy. It reads headers and body chunks, feeds
//! them to `llm_telemetry_core`, turns its decisions into `Action`s, and hands metric updates
//! and alert callouts to the host.
//!
//! It calls `proxy_wasm::hostcalls` directly rather than the `traits` helpers: those unwrap host
//! results, and a panic kills the VM inside Envoy (the worker then answers 503, or the filter is
//! bypassed); even `hostcalls` panics on statuses it does not expect, so the calls that can fail
//! go through `abi`. Every host error here is logged or ignored, never fatal to traffic.

mod abi;
mod alerting;
mod bounds;
mod health;
mod host;
mod logging;
mod spend;
// Natively the adapter runs against a fake host (its tests, `cargo test --workspace`).
#[cfg(not(target_family = "wasm"))]
pub mod fake_host;
#[cfg(test)]
mod tests;

use host::{now_ns, property_string, HeaderPairs, HostStats};
use llm_telemetry_core::config::{self, Config};
use llm_telemetry_core::exchange::{Exchange, RequestBodyAction};
use llm_telemetry_core::logging::request::RequestLog;
use llm_telemetry_core::metrics::Metrics;
use llm_telemetry_core::route;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::cell::RefCell;
use std::rc::Rc;

proxy_wasm::main! {{
    // Installs the SDK's logger; from the first configuration on, the level follows Envoy's.
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(Root { context_id, shared: None })
    });
}}

/// State shared by the root context and the HTTP contexts of one VM (one per worker thread).
struct Shared {
    config: Rc<Config>,
    metrics: Metrics,
    /// `None` when alerting is off.
    alerting: Option<alerting::Alerting>,
    /// `None` when logging has nothing to do.
    logging: Option<logging::VmLogging>,
    /// The proxy's deployment health (state, cooldowns), coordinated across the VMs.
    health: health::Health,
    /// Milliseconds between metric flushes, and when the next is due.
    flush_ms: u64,
    next_flush_ms: u64,
    /// The tick period when no definition waits (shorter when alerting is on).
    tick_ms: u64,
    /// Ticking every [`DEFINITION_TICK_MS`] while definitions wait.
    fast_ticks: bool,
    /// New stat definitions allowed, shared by every worker.
    stat_budget: bounds::StatBudget,
    /// Prices, spend and budgets.
    spend: spend::Spend,
}

/// While new stats wait for the budget, the tick (and a budgeted flush) comes this often: each
/// flush then defines a tenth of a second's budget, so a worker is held for slices of ~30 ms
/// (20 stats) rather than for a whole second's worth at once.
const DEFINITION_TICK_MS: u64 = 100;

impl Shared {
    /// Root tick: flushes when due, or sooner while definitions wait, and ticks fast meanwhile.
    fn on_tick(&mut self) {
        let now = now_ns() / 1_000_000;
        // Before the flush: the budget gauges it sends are the shared spend as of now.
        let config = self.config.clone();
        self.spend
            .on_tick(&config, &mut self.metrics, i64::try_from(now).unwrap_or(0));
        for cooled in self.health.on_tick(now, &mut self.metrics) {
            if let Some(a) = self.alerting.as_mut() {
                a.cooled_down(&cooled, now);
            }
        }
        if now >= self.next_flush_ms || self.metrics.has_backlog() {
            self.flush_metrics();
            if now >= self.next_flush_ms {
                self.next_flush_ms = now + self.flush_ms;
            }
        }
        let fast = self.metrics.has_backlog();
        if fast != self.fast_ticks {
            self.fast_ticks = fast;
            let ms = if fast {
                self.tick_ms.min(DEFINITION_TICK_MS)
            } else {
                self.tick_ms
            };
            if let Err(e) = abi::set_tick_period_ms(ms) {
                log::warn!("llm-telemetry: cannot set the tick period ({e:?})");
            }
        }
    }

    /// Hands pending metric updates to Envoy, defining no more new stats than the shared budget
    /// allows now (the rest waits for a later flush, its counts kept).
    fn flush_metrics(&mut self) {
        let want = self.metrics.pending_definitions();
        let budget = match want {
            0 => 0,
            n => self.stat_budget.claim(n, now_ns() / 1_000_000),
        };
        let mut sink = HostStats::default();
        let report = self.metrics.flush_budgeted(&mut sink, budget);
        self.metrics
            .note_definitions(report.defined, sink.define_ns / 1_000);
    }
}

struct Root {
    context_id: u32,
    shared: Option<Rc<RefCell<Shared>>>,
}

impl Context for Root {
    fn on_http_call_response(&mut self, token_id: u32, _: usize, body_size: usize, _: usize) {
        if let Some(shared) = &self.shared {
            if let Ok(mut s) = shared.try_borrow_mut() {
                if let Some(l) = s.logging.as_mut() {
                    if l.on_http_call_response(token_id) {
                        return;
                    }
                }
                if let Some(a) = s.alerting.as_mut() {
                    a.on_http_call_response(token_id, body_size);
                }
            }
        }
    }
}

/// Gauge: 1 while the last plugin configuration this filter received could not be used (the
/// filter then passes traffic through untouched, or Envoy refused it), 0 once one could.
const CONFIG_INVALID: &str = llm_telemetry_core::catalogue::own::CONFIG_INVALID;

/// Follows the level Envoy logs the `wasm` component at (it can change at run time through the
/// admin `/logging` endpoint): `debug` lines appear when an operator asks for them, and lines
/// below the level never cross into the host.
fn sync_log_level() {
    if let Ok(level) = abi::log_level() {
        log::set_max_level(level);
    }
}

fn set_config_invalid(invalid: bool) {
    if let Some(id) = abi::define_metric(abi::METRIC_GAUGE, CONFIG_INVALID) {
        abi::record_metric(id, u64::from(invalid));
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let raw = abi::get_buffer(abi::PLUGIN_CONFIGURATION, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        sync_log_level();
        let Err(e) = self.configure(&raw) else {
            set_config_invalid(false);
            // Once per configuration, whatever the number of VMs: which build serves it.
            let fingerprint = host::fingerprint(&raw);
            if host::claim_once(&format!("llm_telemetry.started.{fingerprint}")) {
                let version = env!("CARGO_PKG_VERSION");
                log::info!("llm-telemetry {version}: configuration {fingerprint} in use");
            }
            return true;
        };
        self.shared = None;
        set_config_invalid(true);
        // Every VM (two on the main thread, one per worker) configures itself: one line.
        let claim = format!("llm_telemetry.invalid_logged.{}", host::fingerprint(&raw));
        let refuse = config::InvalidConfigPolicy::of(&raw) == config::InvalidConfigPolicy::Refuse;
        if host::claim_once(&claim) {
            let outcome = if refuse {
                "refused (telemetry_settings.on_invalid_config: refuse)"
            } else {
                "traffic passes through untouched, without telemetry, until a valid one arrives"
            };
            log::error!("llm-telemetry: invalid plugin configuration: {e}; {outcome}");
        }
        // false makes Envoy refuse the plugin: a bootstrap does not start, an xDS update is
        // rejected (the previous configuration keeps serving).
        !refuse
    }

    fn on_tick(&mut self) {
        sync_log_level();
        if let Some(shared) = &self.shared {
            if let Ok(mut s) = shared.try_borrow_mut() {
                s.on_tick();
                if let Some(a) = s.alerting.as_mut() {
                    a.on_tick();
                }
                if let Some(l) = s.logging.as_mut() {
                    l.on_tick();
                }
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http {
            alert: alerting::Request::new(context_id, self.shared.as_ref()),
            shared: self.shared.clone(),
            exchange: None,
            log: None,
            refused: false,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

impl Root {
    /// Parses the plugin configuration and builds this VM's state; `Err` names what is wrong.
    fn configure(&mut self, raw: &[u8]) -> Result<(), String> {
        let env = |name: &str| std::env::var(name).ok();
        let loaded = config::parse(raw, &env).map_err(|e| e.to_string())?;
        // Only the first VM to claim this configuration's key logs what it ignores and warns of.
        let claim = format!("llm_telemetry.ignored_logged.{}", host::fingerprint(raw));
        if !(loaded.ignored.is_empty() && loaded.warnings.is_empty()) && host::claim_once(&claim) {
            if !loaded.ignored.is_empty() {
                log::info!(
                    "llm-telemetry: ignoring LiteLLM settings a filter cannot use: {}",
                    loaded.ignored.join(", ")
                );
            }
            for w in &loaded.warnings {
                log::warn!("llm-telemetry: {w}");
            }
        }
        let config = Rc::new(loaded.config);
        let logging = logging::configure(&config, self.context_id);
        let alerting = alerting::configure(&config);
        let flush = config.limits.metrics_flush_interval_ms.max(1);
        let interval = alerting::tick_period_ms(flush, alerting.as_ref());
        let mut metrics = Metrics::new(&config);
        // Cardinality bounds across every worker, scoped by this configuration.
        let scope = host::fingerprint(raw);
        metrics.set_admission(Box::new(bounds::SharedBounds::new(
            &scope,
            metrics.label_keys(),
        )));
        let stat_budget =
            bounds::StatBudget::new(config.limits.max_new_stats_per_second, DEFINITION_TICK_MS);
        let spend = spend::Spend::configure(&config, &scope);
        let health = health::Health::new(&scope, config.cooldowns.clone());
        // Counts and switches only: a configuration holds keys and webhook URLs.
        log::debug!(
            "llm-telemetry: VM configured: {} deployments, alerting {}, logging {}, metrics flushed every {flush} ms",
            config.deployments.len(),
            if alerting.is_some() { "on" } else { "off" },
            if logging.is_some() { "on" } else { "off" },
        );
        self.shared = Some(Rc::new(RefCell::new(Shared {
            config,
            health,
            metrics,
            alerting,
            logging,
            spend,
            flush_ms: flush,
            next_flush_ms: 0,
            tick_ms: interval,
            fast_ticks: false,
            stat_budget,
        })));
        if let Err(e) = abi::set_tick_period_ms(interval) {
            log::warn!("llm-telemetry: cannot set the tick period ({e:?}); metrics flush late");
        }
        Ok(())
    }
}

/// The body chunk Envoy is passing on (`size` bytes): no host call for an empty one (an end of
/// stream alone). `Err` when the host will not hand it over (the chunk still passes; the
/// exchange counts the body under `host_read_failed`).
fn read_body(buffer: u32, size: usize) -> Result<Vec<u8>, abi::HostError> {
    if size == 0 {
        return Ok(Vec::new());
    }
    match abi::get_buffer(buffer, 0, size)? {
        Some(chunk) => Ok(chunk),
        // Envoy announced `size` bytes, then said there are none.
        None => Err(abi::HostError(1)),
    }
}

/// One HTTP stream. Requests that are not LLM API calls get no exchange and cost one path check.
struct Http {
    shared: Option<Rc<RefCell<Shared>>>,
    exchange: Option<Exchange>,
    /// Answered with a budget refusal (counted as LiteLLM's `BudgetExceededError`).
    refused: bool,
    alert: alerting::Request,
    /// `None` unless logging is on and this is an LLM request.
    log: Option<RequestLog>,
}

impl Context for Http {}

impl Http {
    fn config(&self) -> Option<Rc<Config>> {
        self.shared
            .as_ref()
            .and_then(|s| s.try_borrow().ok().map(|s| s.config.clone()))
    }

    /// The budget refusal for a request whose headers `exchange` has read, if any.
    fn refusal(&self, config: &Config, exchange: &Exchange) -> Option<spend::Refusal> {
        // Most configurations enforce nothing: then not even the clock is read.
        if !config.spend.may_refuse() {
            return None;
        }
        let shared = self.shared.as_ref()?;
        let mut s = shared.try_borrow_mut().ok()?;
        let s = &mut *s;
        let now_ms = i64::try_from(now_ns() / 1_000_000).unwrap_or(0);
        s.spend
            .refusal(config, exchange.record(), &mut s.metrics, now_ms)
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        // One host call for the whole map: the route check and every header the exchange (and
        // later readers) look at come from it.
        let headers = HeaderPairs::fetch(abi::HTTP_REQUEST_HEADERS);
        let (Some(method), Some(path)) = (headers.value(":method"), headers.value(":path")) else {
            return Action::Continue;
        };
        let Some(route) = route::classify_request(method, path) else {
            return Action::Continue;
        };
        let Some(config) = self.config() else {
            return Action::Continue;
        };
        let mut exchange = Exchange::new(route, &config, now_ns());
        // The downstream address is asked for only when no proxy in front named the client.
        let client_ip = match headers.value("x-forwarded-for") {
            Some(_) => None,
            None => property_string(&["source", "address"]).map(|a| host::strip_port(&a)),
        };
        let rewrite = exchange.on_request_headers(&headers, client_ip, &config, end_of_stream);
        self.log = self.shared.as_ref().and_then(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            Some(s.logging.as_mut()?.request_started(&headers))
        });
        if let Some((status, body)) = self.refusal(&config, &exchange) {
            // Answered here: the request never reaches the upstream.
            let headers = [("content-type", "application/json")];
            match abi::send_local_response(
                u32::from(status),
                "budget_exceeded",
                &headers,
                body.as_bytes(),
            ) {
                Ok(()) => {
                    self.exchange = Some(exchange);
                    self.refused = true;
                    return Action::Pause;
                }
                Err(e) => log::warn!(
                    "llm-telemetry: could not refuse a request over budget ({e:?}); it goes on"
                ),
            }
        }
        if end_of_stream {
            exchange.on_request_end();
            self.alert.request_ended(self.shared.as_ref(), &exchange);
        }
        self.exchange = Some(exchange);
        if rewrite {
            // The body may grow by `stream_options`, and the headers leave now (Envoy 1.40 never
            // calls the body callbacks of a stream whose headers are paused, so they cannot wait
            // for the body): without a length the upstream gets the body chunked.
            let _ = abi::remove_header(abi::HTTP_REQUEST_HEADERS, "content-length");
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        // Always Continue: the body is read as it passes, never held.
        let Some(exchange) = &mut self.exchange else {
            return Action::Continue;
        };
        let Ok(chunk) = read_body(abi::HTTP_REQUEST_BODY, body_size) else {
            exchange.on_request_body_unreadable(end_of_stream);
            if end_of_stream {
                self.alert.request_ended(self.shared.as_ref(), exchange);
            }
            return Action::Continue;
        };
        let action = exchange.on_request_body(&chunk, end_of_stream);
        if let Some(log) = &mut self.log {
            log.on_request_body(&chunk);
        }
        if end_of_stream {
            self.alert.request_ended(self.shared.as_ref(), exchange);
        }
        if let RequestBodyAction::Replace(body) = action {
            // content-length was removed when the headers left.
            if abi::set_buffer(abi::HTTP_REQUEST_BODY, 0, body_size, &body).is_err() {
                log::warn!("llm-telemetry: could not add stream_options to a request");
            }
        }
        Action::Continue
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if let Some(exchange) = &mut self.exchange {
            exchange.on_request_end();
            self.alert.request_ended(self.shared.as_ref(), exchange);
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        if let Some(exchange) = &mut self.exchange {
            let headers = HeaderPairs::fetch(abi::HTTP_RESPONSE_HEADERS);
            exchange.on_response_headers(&headers, end_of_stream);
            if let Some(log) = &mut self.log {
                log.on_response_headers(&headers);
                if let Some(s) = self.shared.as_ref().and_then(|s| s.try_borrow().ok()) {
                    if let Some(l) = &s.logging {
                        l.add_response_headers(log, exchange.record(), &s.config);
                    }
                }
            }
            if end_of_stream {
                exchange.on_response_end(now_ns());
            }
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        // Always Continue: pausing would make Envoy buffer the stream and delay every token.
        if let Some(exchange) = &mut self.exchange {
            // A stream has a chunk per token: the clock (a host call) is read only for the first
            // byte and the end.
            let timed = end_of_stream || exchange.record().first_byte_ns.is_none();
            let now = if timed { now_ns() } else { 0 };
            let Ok(chunk) = read_body(abi::HTTP_RESPONSE_BODY, body_size) else {
                exchange.on_response_body_unreadable(end_of_stream, now);
                return Action::Continue;
            };
            if let Some(log) = &mut self.log {
                log.on_response_body(&chunk);
            }
            exchange.on_response_body(&chunk, end_of_stream, now);
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        // HTTP/2 responses with trailers (and the decompressor filter) end here, not with an
        // end_of_stream body callback.
        if let Some(exchange) = &mut self.exchange {
            exchange.on_response_end(now_ns());
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        // Called once per stream whatever happened (reset, local reply, disconnect): the one
        // place where every request is counted exactly once.
        let Some(mut exchange) = self.exchange.take() else {
            return;
        };
        // The upstream Envoy connected to only when it can change the labels (it is the
        // api_base and the provider, or picks among deployments): a host call that returns data.
        let needs_upstream = self
            .config()
            .is_none_or(|c| c.needs_upstream_address(exchange.record().requested_model.as_deref()));
        let upstream = if needs_upstream {
            property_string(&["upstream", "address"])
        } else {
            None
        };
        // Asked for only when they can change the verdict: a failure may be Envoy's own reply
        // (upstream unreachable, timed out), and a response that did not end was either broken
        // by the upstream or abandoned by the client.
        if exchange.wants_end_details() {
            if let Some(details) = property_string(&["response", "code_details"]) {
                exchange.on_response_details(&details);
            }
        }
        // The clock only for a response that did not end (its end is now) or that was refused
        // here (spend prices it at its end); else it is unused.
        let now = if self.refused || exchange.wants_end_details() {
            now_ns()
        } else {
            0
        };
        let Some(mut record) = exchange.finish(now, upstream) else {
            return;
        };
        if self.refused {
            record.local_failure_class = Some(llm_telemetry_core::spend::budget::EXCEPTION_CLASS);
        }
        let Some(shared) = &self.shared else { return };
        let Ok(mut s) = shared.try_borrow_mut() else {
            return;
        };
        let s = &mut *s;
        let config = s.config.clone();
        let now_ms = i64::try_from(record.end_ns / 1_000_000).unwrap_or(0);
        // Worked out once (deployment, requester, labels) for spend, metrics, alerts and logs.
        let mut resolution = s.metrics.resolve(&record, &config);
        let alerting = &mut s.alerting;
        s.spend.finished(
            &config,
            &record,
            &mut resolution,
            &mut s.metrics,
            now_ms,
            |event| {
                if let Some(a) = alerting.as_mut() {
                    a.enqueue(event);
                }
            },
        );
        let end_ns = record.end_ns;
        if let Some(outcome) = s
            .metrics
            .record_resolved(&record, &resolution, &config, end_ns)
        {
            s.health.note(outcome);
        }
        if config.limits.metrics_flush_interval_ms == 0 {
            s.flush_metrics();
        }
        self.alert.finished(s, &record, &resolution);
        if let (Some(log), Some(l)) = (self.log.take(), s.logging.as_mut()) {
            l.finished(log, &record, &resolution);
        }
    }
}
