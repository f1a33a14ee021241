//! Alerting in the host: the queue, the leader election and the HTTP callouts around the pure
//! engine of `llm_telemetry_core::alerts` (whose module docs give the design).
//!
//! - **Workers** (every VM with HTTP traffic): a request is tracked for hanging once its body is
//!   read, and its facts are pushed as one JSON [`AlertEvent`] onto an Envoy shared queue when it
//!   ends. Nothing on the request path waits on alerting: a push is one host call, and a full or
//!   missing queue only costs the event (counted).
//! - **Leader** (exactly one VM whose root context ticks): elected through a shared-data entry
//!   holding `<vm uid>:<heartbeat ms>`, written with compare-and-swap; a VM seeing a heartbeat
//!   older than [`leader::LEADER_STALE_MS`] takes over. The leader drains the queue into its
//!   [`AlertEngine`] and sends the engine's bodies with `dispatch_http_call` from `on_tick` (the
//!   only place whose callouts get their callback), and feeds every callback back to the engine.
//!
//! Webhook URLs are secrets: logs name a destination by its id and cluster only.

use crate::abi;
use crate::host::{claim_once, fingerprint, now_ns, HeaderPairs};
use crate::Shared;
use hashbrown::{HashMap, HashSet};
use llm_telemetry_core::alerts::callout::FROM_RECEIVER_HEADER;
use llm_telemetry_core::alerts::{
    callout_result, hanging_facts, leader, request_facts, AlertEngine, AlertEvent, AlertType,
    AlertingConfig, CalloutResult, DeliveryOutcome, HangingTracker, Outgoing,
};
use llm_telemetry_core::catalogue::own;
use llm_telemetry_core::config::Config;
use llm_telemetry_core::exchange::{Exchange, Record};
use llm_telemetry_core::health::HealthUpdate;
use llm_telemetry_core::metrics::Resolution;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// Most events the leader feeds its engine per tick; older ones beyond are dropped (counted).
const MAX_EVENTS_PER_TICK: usize = 4_096;
/// Most dequeues per tick (bounds the leader's tick even when the queue was left to grow).
const MAX_DEQUEUES_PER_TICK: usize = 65_536;
/// The longest tick: the engine batches and retries on a one-second clock.
const MAX_TICK_MS: u64 = 1_000;
/// Alerting's work runs at most this often, however short the metrics' tick.
const MIN_TICK_MS: u64 = 100;
/// Most bytes of Envoy's own reply read to learn why a callout failed (its texts are short).
const MAX_REPLY_BYTES: usize = 512;

/// Alerts queued, sent, failed, retried, dropped and deduplicated, per `alert_type` and
/// `outcome` (the filter's own family, not LiteLLM's).
const ALERTS_TOTAL: &str = own::ALERTS;
/// Worker events lost before reaching the engine, per `reason`.
const EVENTS_DROPPED: &str = own::ALERT_EVENTS_DROPPED;

fn now_ms() -> u64 {
    now_ns() / 1_000_000
}

/// The tick period: the metrics flush interval, but at most one second when alerting is on.
pub fn tick_period_ms(flush_interval_ms: u64, alerting: Option<&Alerting>) -> u64 {
    let flush = flush_interval_ms.max(1);
    if alerting.is_some() {
        flush.min(MAX_TICK_MS)
    } else {
        flush
    }
}

/// One VM's alerting state (absent when alerting is off: then nothing here runs).
pub struct Alerting {
    cfg: AlertingConfig,
    track_hanging: bool,
    queue: Option<u32>,
    leader_key: String,
    uid: String,
    tracker: HangingTracker,
    reported_evictions: u64,
    engine: Option<AlertEngine>,
    last_tick_ms: u64,
    /// Callout token → (engine id, dispatch time, destination id for logs).
    tokens: HashMap<u32, (u64, Rc<str>)>,
    metric_ids: HashMap<String, u32>,
    warned: HashSet<String>,
}

/// This VM's alerting for the settings `config::parse` compiled (and refused when wrong);
/// `None` when alerting is off.
pub fn configure(config: &Config) -> Option<Alerting> {
    let cfg = config.alerting.clone();
    if !cfg.is_on() {
        return None;
    }
    // Everything keyed by the alerting settings: two plugin configurations with different
    // alerting never share a queue or a leader.
    let settings = serde_json::to_string(&config.alerting_general_settings).unwrap_or_default();
    let scope = fingerprint(settings.as_bytes());
    let scope = scope.as_str();
    if !cfg.ignored.is_empty()
        && claim_once(&format!("llm_telemetry.alerts.{scope}.ignored_logged"))
    {
        let names: Vec<&str> = cfg.ignored.iter().map(|t| t.as_str()).collect();
        log::info!(
            "llm-telemetry: alert types a proxy filter cannot observe are ignored: {}",
            names.join(", ")
        );
    }
    if !cfg.warnings.is_empty()
        && claim_once(&format!("llm_telemetry.alerts.{scope}.warnings_logged"))
    {
        for w in &cfg.warnings {
            log::warn!("llm-telemetry: {w}");
        }
    }
    let queue_name = format!("llm_telemetry.alerts.{scope}");
    let queue = match abi::register_shared_queue(&queue_name) {
        Ok(q) => Some(q),
        Err(e) => {
            log::warn!(
                "llm-telemetry: cannot register the alert queue ({e:?}): no alerts from this VM"
            );
            None
        }
    };
    let leader_key = format!("llm_telemetry.alerts.{scope}.leader");
    // Create the leader entry empty ("no leader") so every claim is a compare-and-swap.
    if let Ok(None) = abi::get_shared_data(&leader_key) {
        let _ = abi::set_shared_data(&leader_key, b"", 0);
    }
    let track_hanging = cfg.is_enabled(AlertType::LlmRequestsHanging);
    let tracker = HangingTracker::from_config(&cfg);
    Some(Alerting {
        track_hanging,
        queue,
        uid: vm_uid(&format!("llm_telemetry.alerts.{scope}")),
        leader_key,
        tracker,
        reported_evictions: 0,
        engine: None,
        last_tick_ms: 0,
        tokens: HashMap::new(),
        metric_ids: HashMap::new(),
        warned: HashSet::new(),
        cfg,
    })
}

/// An id no other VM of this Envoy holds: a shared counter (`{prefix}.vm_seq`) plus the host's
/// clock.
pub fn vm_uid(prefix: &str) -> String {
    let key = format!("{prefix}.vm_seq");
    let mut seq = 0u64;
    for _ in 0..16 {
        let (current, cas) = match abi::get_shared_data(&key) {
            Ok(Some((v, cas))) => (
                core::str::from_utf8(&v)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0),
                cas,
            ),
            _ => (0, 0),
        };
        let next = current.wrapping_add(1);
        if abi::set_shared_data(&key, next.to_string().as_bytes(), cas).is_ok() {
            seq = next;
            break;
        }
    }
    format!("{seq}-{:x}", now_ns())
}

impl Alerting {
    /// Root `on_tick`: hanging requests, leader election, and for the leader the queue, the
    /// engine's timers and the callouts.
    pub fn on_tick(&mut self) {
        let now = now_ms();
        if now.saturating_sub(self.last_tick_ms) < MIN_TICK_MS {
            return;
        }
        self.last_tick_ms = now;
        if self.track_hanging {
            for h in self.tracker.tick(now) {
                self.enqueue(&AlertEvent::RequestHanging(h));
            }
            let evicted = self.tracker.evicted();
            if evicted > self.reported_evictions {
                let n = evicted - self.reported_evictions;
                self.reported_evictions = evicted;
                self.count(&format!("{EVENTS_DROPPED};reason=hanging_tracker_full;"), n);
            }
        }
        self.elect(now);
        let Some(mut engine) = self.engine.take() else {
            return;
        };
        self.drain_queue(&mut engine, now);
        for out in engine.on_tick(now) {
            self.dispatch(&mut engine, out, now);
        }
        self.forget_lost_tokens(&engine);
        self.flush_stats(&mut engine);
        self.engine = Some(engine);
    }

    /// Root `on_http_call_response`: the callback of one of the leader's callouts. What the
    /// answer means (the receiver's, or Envoy's own for a timeout or a connection that failed)
    /// is read from its headers, and from the body of Envoy's own replies.
    pub fn on_http_call_response(&mut self, token: u32, body_size: usize) {
        let Some((id, destination)) = self.tokens.remove(&token) else {
            return;
        };
        let headers = HeaderPairs::fetch(abi::HTTP_CALL_RESPONSE_HEADERS);
        let status = headers
            .value(":status")
            .and_then(|s| s.trim().parse::<u16>().ok());
        let from_receiver = headers.value(FROM_RECEIVER_HEADER).is_some();
        let reply = if status.is_some() && !from_receiver && body_size > 0 {
            abi::get_buffer(
                abi::HTTP_CALL_RESPONSE_BODY,
                0,
                body_size.min(MAX_REPLY_BYTES),
            )
            .ok()
            .flatten()
            .unwrap_or_default()
        } else {
            Vec::new()
        };
        let result = callout_result(status, from_receiver, &reply);
        let Some(mut engine) = self.engine.take() else {
            return;
        };
        let outcome = engine.on_callout_result(id, result, now_ms());
        // Nobody listens there (a demo's receiver not started, a wrong port): said once, not
        // only counted.
        if result == CalloutResult::NotSent && self.warned.insert(format!("n:{destination}")) {
            log::warn!(
                "llm-telemetry: nobody answers at alert destination `{destination}` (Envoy: {}); retried as alerting_args say, every loss counted in {ALERTS_TOTAL}",
                String::from_utf8_lossy(&reply).trim()
            );
        }
        if outcome == DeliveryOutcome::Unconfirmed && self.warned.insert(format!("u:{destination}"))
        {
            log::warn!(
                "llm-telemetry: an alert to destination `{destination}` may not have arrived (Envoy: {}); it is not resent, a webhook cannot tell a copy from a new alert. Counted in {ALERTS_TOTAL}{{outcome=\"unconfirmed\"}}",
                String::from_utf8_lossy(&reply).trim()
            );
        }
        self.flush_stats(&mut engine);
        self.engine = Some(engine);
    }

    /// The deployment health coordinator (which may be another VM than the alert leader) put a
    /// deployment in cooldown: the leader alerts it.
    pub fn cooled_down(&mut self, update: &HealthUpdate, now_ms: u64) {
        let Some(cooldown) = &update.cooldown else {
            return;
        };
        if !self.cfg.is_enabled(AlertType::CooldownDeployment) {
            return;
        }
        self.enqueue(&AlertEvent::DeploymentCooledDown {
            time_ms: now_ms,
            deployment: update.deployment.clone(),
            cooldown: cooldown.clone(),
        });
    }

    /// Hands an event to the alert leader (also the spend wiring's budget and
    /// `failed_tracking_spend` events).
    pub fn enqueue(&mut self, event: &AlertEvent) {
        let pushed = match self.queue {
            Some(q) => abi::enqueue_shared_queue(q, event.to_json().as_bytes()).is_ok(),
            None => false,
        };
        if !pushed {
            self.count(&format!("{EVENTS_DROPPED};reason=enqueue_failed;"), 1);
        }
    }

    /// Claims, keeps or gives up the leadership for this tick.
    fn elect(&mut self, now: u64) {
        let claim = leader::claim(&self.uid, now);
        let leader = match abi::get_shared_data(&self.leader_key) {
            Ok(Some((value, cas))) => {
                leader::may_claim(&value, &self.uid, now)
                    && abi::set_shared_data(&self.leader_key, claim.as_bytes(), cas).is_ok()
            }
            Ok(None) => abi::set_shared_data(&self.leader_key, claim.as_bytes(), 0).is_ok(),
            // The host could not say: keep the current role for this tick.
            Err(_) => self.engine.is_some(),
        };
        match (leader, self.engine.is_some()) {
            (true, false) => {
                log::info!("llm-telemetry: this VM now sends the alerts");
                self.engine = Some(AlertEngine::new(self.cfg.clone(), now));
            }
            (false, true) => {
                if let Some(e) = self.engine.take() {
                    log::warn!(
                        "llm-telemetry: another VM took over sending the alerts; {} unsent here are lost",
                        e.pending_len() + e.in_flight_len()
                    );
                }
                self.tokens.clear();
            }
            _ => {}
        }
    }

    /// Feeds queued events to the engine: at most [`MAX_EVENTS_PER_TICK`], the newest kept when
    /// more are waiting (the oldest are dropped and counted).
    fn drain_queue(&mut self, engine: &mut AlertEngine, now: u64) {
        let Some(q) = self.queue else { return };
        let mut events: VecDeque<Vec<u8>> = VecDeque::new();
        let mut dropped = 0u64;
        for _ in 0..MAX_DEQUEUES_PER_TICK {
            match abi::dequeue_shared_queue(q) {
                Ok(Some(item)) => {
                    if events.len() >= MAX_EVENTS_PER_TICK {
                        events.pop_front();
                        dropped += 1;
                    }
                    events.push_back(item);
                }
                _ => break,
            }
        }
        let mut unreadable = 0u64;
        for raw in events {
            match AlertEvent::from_json(&raw) {
                Ok(event) => engine.on_event(&event, now),
                Err(_) => unreadable += 1,
            }
        }
        if dropped > 0 {
            self.count(&format!("{EVENTS_DROPPED};reason=queue_full;"), dropped);
        }
        if unreadable > 0 {
            self.count(&format!("{EVENTS_DROPPED};reason=unreadable;"), unreadable);
        }
    }

    fn dispatch(&mut self, engine: &mut AlertEngine, out: Outgoing, now: u64) {
        let d = &out.destination;
        let result = abi::dispatch_http_call(
            &d.cluster,
            out.headers().to_vec(),
            out.body.as_bytes(),
            self.cfg.args.callout_timeout_ms,
        );
        match result {
            Ok(token) => {
                self.tokens.insert(token, (out.id, d.id.as_str().into()));
            }
            Err(status) => {
                if self.warned.insert(d.id.clone()) {
                    log::warn!(
                        "llm-telemetry: cannot send alerts to destination `{}`: Envoy refused a callout to cluster `{}` ({status:?}); is the cluster defined? Every loss is counted in {ALERTS_TOTAL}",
                        d.id,
                        d.cluster
                    );
                }
                engine.on_callout_result(out.id, CalloutResult::NotSent, now);
            }
        }
    }

    /// Forgets the tokens of callouts the engine no longer awaits (it gave them up as lost, on
    /// its one clock for that): a callback that still comes is then ignored.
    fn forget_lost_tokens(&mut self, engine: &AlertEngine) {
        self.tokens.retain(|_, (id, _)| engine.is_in_flight(*id));
    }

    fn flush_stats(&mut self, engine: &mut AlertEngine) {
        for (t, counters) in engine.take_stats_delta() {
            for (outcome, n) in counters.outcomes() {
                if n > 0 {
                    let name = format!(
                        "{ALERTS_TOTAL};alert_type={};outcome={outcome};",
                        t.as_str()
                    );
                    self.count(&name, n);
                }
            }
        }
    }

    /// Adds to one of alerting's counters (ids defined once per VM; the names are few).
    fn count(&mut self, name: &str, n: u64) {
        let id = match self.metric_ids.get(name) {
            Some(id) => Some(*id),
            None => {
                let id = abi::define_metric(abi::METRIC_COUNTER, name);
                if let Some(id) = id {
                    self.metric_ids.insert(name.to_string(), id);
                }
                id
            }
        };
        if let Some(id) = id {
            abi::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

/// One HTTP stream's part in alerting. Inert when alerting is off.
pub struct Request {
    id: u64,
    on: bool,
    tracked: bool,
}

impl Request {
    /// For HTTP context `context_id` of a VM whose shared state is `shared`.
    pub fn new(context_id: u32, shared: Option<&Rc<RefCell<Shared>>>) -> Request {
        let on = shared
            .and_then(|s| s.try_borrow().ok().map(|s| s.alerting.is_some()))
            .unwrap_or(false);
        Request {
            id: u64::from(context_id),
            on,
            tracked: false,
        }
    }

    /// The request has been read (its model, key and metadata are known): from now on it can
    /// hang. Called after every request-end callback; only the first counts.
    pub fn request_ended(&mut self, shared: Option<&Rc<RefCell<Shared>>>, exchange: &Exchange) {
        if !self.on || self.tracked {
            return;
        }
        let Some(shared) = shared else { return };
        let Ok(mut s) = shared.try_borrow_mut() else {
            return;
        };
        let s = &mut *s;
        let Some(a) = s.alerting.as_mut() else { return };
        if !a.track_hanging {
            return;
        }
        let rec = exchange.record();
        let facts = hanging_facts(rec, &s.config, s.metrics.key_hasher());
        a.tracker.start(self.id, facts.start_ms, facts);
        self.tracked = true;
    }

    /// The stream is over (`on_log`): stop tracking it and hand its facts to the leader when an
    /// alert rule may want them.
    pub fn finished(&mut self, s: &mut Shared, record: &Record, resolution: &Resolution) {
        if !self.on {
            return;
        }
        let Some(a) = s.alerting.as_mut() else { return };
        if self.tracked {
            a.tracker.finish(self.id);
            self.tracked = false;
        }
        let latency_ms = record.total_latency_us() / 1000;
        // A client that left before any answer is nothing an alert rule is about.
        if record.client_left || !a.cfg.wants_request(record.outcome_status(), latency_ms) {
            return;
        }
        let facts = request_facts(
            record,
            &s.config,
            &a.cfg,
            resolution,
            s.metrics.key_hasher(),
        );
        a.enqueue(&AlertEvent::RequestFinished(facts));
    }
}
