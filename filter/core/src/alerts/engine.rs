//! The leader's alert engine: rules, texts, batching, routing, delivery bookkeeping.
//!
//! Pure: the host feeds events and the time, and performs the HTTP callouts it is handed. Times
//! are Unix milliseconds passed in; nothing here reads a clock, so tests drive it with a fake one.

use std::collections::VecDeque;

use hashbrown::HashMap;
use serde::Serialize;

use super::budget::{self, BudgetAlertKind, BudgetEvent, CallInfo};
use super::callout::CalloutResult;
use super::config::AlertingConfig;
use super::escape::mrkdwn as md;
use super::event::{
    is_failure, is_outage_error, is_upstream_failure, AlertEvent, HangingFacts, RequestFacts,
};
use super::route::{parse_url, Destination};
use super::text::{hhmmss_utc, litellm_exception, py_float, py_round};
use super::types::{AlertType, Level};
use crate::health::Cooldown;

/// Most deployments with outage state kept (entries go when quiet; beyond this, new ones are
/// not tracked).
const MAX_DEPLOYMENTS: usize = 10_000;
/// Most provider regions tracked.
const MAX_REGIONS: usize = 1_000;
/// Most deployments in one daily report's aggregation.
const MAX_REPORT_ROWS: usize = 1_000;
/// Most live de-duplication keys (budget and failed-tracking alerts).
const MAX_DEDUP_KEYS: usize = 10_000;
/// Extra wait beyond the callout timeout before a callout with no callback counts as failed.
const CALLBACK_GRACE_MS: u64 = 5_000;

/// One HTTP POST for the host to dispatch from the root context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Where to (its `Debug` hides the secret path).
    pub destination: Destination,
    /// JSON body: `{"text":"..."}` for Slack-compatible webhooks, LiteLLM's event JSON for the
    /// generic webhook.
    pub body: String,
    /// The alert type (for the host's counters and logs).
    pub alert_type: AlertType,
    /// 1 for the first attempt, then 2, 3, ... on retries.
    pub attempt: u32,
    /// Identifies this body across retries; pass it back to [`AlertEngine::on_delivery_result`].
    pub id: u64,
}

impl Outgoing {
    /// Headers for `dispatch_http_call`.
    pub fn headers(&self) -> [(&str, &str); 7] {
        self.destination.headers()
    }
}

/// What [`AlertEngine::on_delivery_result`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// 2xx: delivered.
    Sent,
    /// Failed and will be handed out again by `on_tick` at or after `at_ms`.
    Retrying {
        /// Earliest retry time (Unix ms).
        at_ms: u64,
    },
    /// Failed and given up (non-retryable status or retries exhausted).
    Dropped,
    /// May have been delivered (timed out, connection closed under it): not resent.
    Unconfirmed,
    /// Not an id in flight (already settled, or never handed out).
    Unknown,
}

/// Counters for one alert type. `queued` and `deduplicated` count alerts; `sent`, `failed`,
/// `retried`, `unconfirmed` count HTTP attempts of bodies; `dropped` counts alerts or bodies
/// given up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeCounters {
    /// Alerts accepted for a destination (one per destination).
    pub queued: u64,
    /// Bodies delivered (2xx).
    pub sent: u64,
    /// Failed attempts (non-2xx or no response).
    pub failed: u64,
    /// Retries scheduled.
    pub retried: u64,
    /// Given up: retries exhausted, non-retryable status, or pushed out of a full queue.
    pub dropped: u64,
    /// Alerts folded into an identical one (batch collapse, budget/failed-tracking TTL).
    pub deduplicated: u64,
    /// Attempts whose fate is unknown (timed out, connection closed after the request was
    /// written): maybe delivered, never resent.
    pub unconfirmed: u64,
}

impl TypeCounters {
    /// `(outcome label, value)` pairs, for the host's `outcome` label.
    pub fn outcomes(&self) -> [(&'static str, u64); 7] {
        [
            ("queued", self.queued),
            ("sent", self.sent),
            ("failed", self.failed),
            ("retried", self.retried),
            ("dropped", self.dropped),
            ("deduplicated", self.deduplicated),
            ("unconfirmed", self.unconfirmed),
        ]
    }

    fn is_zero(&self) -> bool {
        *self == TypeCounters::default()
    }

    fn minus(&self, o: &TypeCounters) -> TypeCounters {
        TypeCounters {
            queued: self.queued.saturating_sub(o.queued),
            sent: self.sent.saturating_sub(o.sent),
            failed: self.failed.saturating_sub(o.failed),
            retried: self.retried.saturating_sub(o.retried),
            dropped: self.dropped.saturating_sub(o.dropped),
            deduplicated: self.deduplicated.saturating_sub(o.deduplicated),
            unconfirmed: self.unconfirmed.saturating_sub(o.unconfirmed),
        }
    }
}

/// Per-type delivery counters since the engine started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertStats {
    per_type: [TypeCounters; AlertType::COUNT],
    // Never used: `AlertType::index` is always in range; this only spares an indexing panic path.
    spare: TypeCounters,
}

impl AlertStats {
    /// Counters of `t`.
    pub fn get(&self, t: AlertType) -> TypeCounters {
        self.per_type.get(t.index()).copied().unwrap_or_default()
    }

    /// Sum over all types.
    pub fn total(&self) -> TypeCounters {
        self.per_type
            .iter()
            .fold(TypeCounters::default(), |a, c| TypeCounters {
                queued: a.queued + c.queued,
                sent: a.sent + c.sent,
                failed: a.failed + c.failed,
                retried: a.retried + c.retried,
                dropped: a.dropped + c.dropped,
                deduplicated: a.deduplicated + c.deduplicated,
                unconfirmed: a.unconfirmed + c.unconfirmed,
            })
    }

    fn at(&mut self, t: AlertType) -> &mut TypeCounters {
        match self.per_type.get_mut(t.index()) {
            Some(c) => c,
            None => &mut self.spare,
        }
    }
}

#[derive(Default)]
struct ErrorCounts {
    timeouts: u32,
    api: u32,
}

impl ErrorCounts {
    fn add(&mut self, status: u16) {
        if status == 408 {
            self.timeouts = self.timeouts.saturating_add(1);
        } else {
            self.api = self.api.saturating_add(1);
        }
    }

    fn total(&self) -> u32 {
        self.timeouts.saturating_add(self.api)
    }

    /// LiteLLM's `_count_outage_alerts` breakdown (a connection failure is its status-500
    /// `APIConnectionError`, so it counts as an API error).
    fn breakdown(&self) -> String {
        let mut s = String::new();
        if self.timeouts > 0 {
            s.push_str(&format!("\nTimeout Errors: {}\n", self.timeouts));
        }
        if self.api > 0 {
            s.push_str(&format!("\nAPI Errors: {}\n", self.api));
        }
        s
    }
}

/// An outage window: opened by the first error, closed `ttl` later.
#[derive(Default)]
struct Window {
    start_ms: Option<u64>,
    counts: ErrorCounts,
    minor_sent: bool,
    major_sent: bool,
}

impl Window {
    /// Counts an error at `t`, first closing an expired window; returns the errors in the window.
    fn add(&mut self, t: u64, ttl_ms: u64, status: u16) -> u32 {
        if self.start_ms.is_some_and(|s| t >= s.saturating_add(ttl_ms)) {
            *self = Window::default();
        }
        if self.start_ms.is_none() {
            self.start_ms = Some(t);
        }
        self.counts.add(status);
        self.counts.total()
    }

    fn expired(&self, now: u64, ttl_ms: u64) -> bool {
        self.start_ms
            .is_some_and(|s| now >= s.saturating_add(ttl_ms))
    }
}

/// Which outage alert a new error triggers. Major wins when both thresholds are reached at once
/// (LiteLLM's `elif` would send minor now and major on the next error).
fn outage_step(w: &mut Window, total: u32, minor: u32, major: u32) -> Option<&'static str> {
    if total >= major && !w.major_sent {
        w.major_sent = true;
        w.minor_sent = true;
        Some("Major")
    } else if total >= minor && !w.minor_sent {
        w.minor_sent = true;
        Some("Minor")
    } else {
        None
    }
}

/// A deployment's outage window (its state and cooldowns are [`crate::health`]'s).
struct Deployment {
    api_base: String,
    model: String,
    provider: String,
    window: Window,
}

struct Region {
    window: Window,
    first_deployment: String,
    several: bool,
}

#[derive(Default)]
struct ReportRow {
    litellm_model: String,
    api_base: String,
    failures: u64,
    successes: u64,
    latency_sum_ms: u64,
}

struct Pending {
    seq: u64,
    at_ms: u64,
    alert_type: AlertType,
    text: String,
}

struct Waiting {
    seq: u64,
    due_ms: u64,
    out: Outgoing,
}

struct InFlight {
    seq: u64,
    sent_ms: u64,
    out: Outgoing,
}

#[derive(Serialize)]
struct SlackBody<'a> {
    text: &'a str,
}

/// The region of a deployment: configured, else read from well-known regional API hosts:
/// `*.{region}.amazonaws.com` (Bedrock, SageMaker), `{region}-aiplatform.googleapis.com`
/// (Vertex AI), `{region}.api.cognitive.microsoft.com` (Azure regional endpoints). Azure OpenAI
/// resource hosts (`*.openai.azure.com`) carry no region: configure it.
pub fn region_of(facts: &RequestFacts) -> Option<String> {
    if let Some(r) = facts
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        return Some(r.to_string());
    }
    let host = parse_url(&facts.api_base).ok()?.host;
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    let looks_like_region = |s: &str| s.contains('-') && s.chars().any(|c| c.is_ascii_digit());
    if host.ends_with(".amazonaws.com") && n >= 4 {
        let r = labels.get(n - 3).copied().unwrap_or("");
        return looks_like_region(r).then(|| r.to_string());
    }
    if let Some(prefix) = host.strip_suffix("-aiplatform.googleapis.com") {
        return (!prefix.is_empty() && !prefix.contains('.')).then(|| prefix.to_string());
    }
    if host.ends_with(".api.cognitive.microsoft.com") && n == 5 {
        return labels.first().map(|s| s.to_string());
    }
    None
}

/// Runs LiteLLM's alert rules over events from every worker and hands out HTTP callouts.
pub struct AlertEngine {
    cfg: AlertingConfig,
    deployments: HashMap<String, Deployment>,
    regions: HashMap<String, Region>,
    report_rows: Vec<ReportRow>,
    report_index: HashMap<String, usize>,
    last_report_ms: u64,
    last_report_check_ms: u64,
    dedup: HashMap<String, u64>,
    batches: Vec<VecDeque<Pending>>,
    waiting: Vec<Waiting>,
    in_flight: HashMap<u64, InFlight>,
    next_seq: u64,
    next_id: u64,
    stats: AlertStats,
    reported: AlertStats,
}

fn deployment_key(litellm_model: &str, api_base: &str) -> String {
    // U+001F cannot appear in either part's configuration text in practice.
    format!("{litellm_model}\u{1f}{api_base}")
}

/// The API base as LiteLLM's success logging has it: the OpenAI SDK's client (OpenAI-compatible
/// deployments) keeps its `base_url` with a trailing `/`; `None` when unknown.
fn logged_api_base(provider: &str, api_base: &str) -> String {
    if api_base.is_empty() {
        return "None".to_string();
    }
    if provider == "openai" && !api_base.ends_with('/') {
        return format!("{api_base}/");
    }
    api_base.to_string()
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "None"
    } else {
        s
    }
}

impl AlertEngine {
    /// An engine for `cfg`, starting at `now_ms` (the first daily report is due one
    /// `daily_report_frequency` later).
    pub fn new(cfg: AlertingConfig, now_ms: u64) -> Self {
        let n = cfg.destinations().len();
        AlertEngine {
            cfg,
            deployments: HashMap::new(),
            regions: HashMap::new(),
            report_rows: Vec::new(),
            report_index: HashMap::new(),
            last_report_ms: now_ms,
            last_report_check_ms: now_ms,
            dedup: HashMap::new(),
            batches: (0..n).map(|_| VecDeque::new()).collect(),
            waiting: Vec::new(),
            in_flight: HashMap::new(),
            next_seq: 0,
            next_id: 1,
            stats: AlertStats::default(),
            reported: AlertStats::default(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &AlertingConfig {
        &self.cfg
    }

    /// Applies one event from a worker.
    pub fn on_event(&mut self, event: &AlertEvent, now_ms: u64) {
        if !self.cfg.is_on() {
            return;
        }
        match event {
            AlertEvent::RequestFinished(f) => self.on_finished(f, now_ms),
            AlertEvent::RequestHanging(h) => self.on_hanging(h, now_ms),
            AlertEvent::FailedTrackingSpend {
                model,
                error_message,
                ..
            } => self.on_failed_tracking(model, error_message, now_ms),
            AlertEvent::Budget { budget, info, .. } => {
                self.budget_event(*budget, info, now_ms);
            }
            AlertEvent::DeploymentCooledDown {
                deployment,
                cooldown,
                ..
            } => self.on_cooled_down(deployment, cooldown, now_ms),
        }
    }

    /// Runs timers (window expiry, daily report, batch flush, retries, lost callbacks) and
    /// returns the callouts to dispatch now, oldest first. Call every second from the leader.
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Outgoing> {
        self.expire_windows(now_ms);
        self.maybe_daily_report(now_ms);
        self.dedup.retain(|_, until| *until > now_ms);
        self.expire_lost_callouts(now_ms);
        let interval = self.cfg.args.batch_interval_ms;
        for i in 0..self.batches.len() {
            let due = self
                .batches
                .get(i)
                .and_then(|b| b.front())
                .is_some_and(|p| now_ms.saturating_sub(p.at_ms) >= interval);
            if due {
                self.flush_batch(i, now_ms);
            }
        }
        let mut due: Vec<Waiting> = Vec::new();
        let mut rest: Vec<Waiting> = Vec::with_capacity(self.waiting.len());
        for w in self.waiting.drain(..) {
            if w.due_ms <= now_ms {
                due.push(w)
            } else {
                rest.push(w)
            }
        }
        self.waiting = rest;
        due.sort_by_key(|w| w.seq);
        let mut out = Vec::with_capacity(due.len());
        for w in due {
            out.push(w.out.clone());
            self.in_flight.insert(
                w.out.id,
                InFlight {
                    seq: w.seq,
                    sent_ms: now_ms,
                    out: w.out,
                },
            );
        }
        out
    }

    /// Settles callout `id` the receiver answered with `status`; 0 stands for a callout that
    /// never reached it (see [`AlertEngine::on_callout_result`]).
    pub fn on_delivery_result(&mut self, id: u64, status: u16, now_ms: u64) -> DeliveryOutcome {
        let result = match status {
            0 => CalloutResult::NotSent,
            s => CalloutResult::Answered(s),
        };
        self.on_callout_result(id, result, now_ms)
    }

    /// Settles callout `id`. 2xx is success. A 5xx or 429 answer and a callout that never left
    /// are retried after `retry_backoff_seconds[attempt - 1]` (the last value repeats) up to
    /// `max_retries` times; other answers are dropped. One that may have arrived is not resent (a
    /// webhook has no idempotency key: a second copy is a second page) and counts `unconfirmed`.
    pub fn on_callout_result(
        &mut self,
        id: u64,
        result: CalloutResult,
        now_ms: u64,
    ) -> DeliveryOutcome {
        let Some(f) = self.in_flight.remove(&id) else {
            return DeliveryOutcome::Unknown;
        };
        let t = f.out.alert_type;
        let retryable = match result {
            CalloutResult::Answered(s) if (200..300).contains(&s) => {
                self.stats.at(t).sent += 1;
                return DeliveryOutcome::Sent;
            }
            CalloutResult::Unconfirmed => {
                self.stats.at(t).unconfirmed += 1;
                return DeliveryOutcome::Unconfirmed;
            }
            CalloutResult::Answered(s) => s == 429 || s >= 500,
            CalloutResult::NotSent => true,
        };
        self.stats.at(t).failed += 1;
        if !retryable || f.out.attempt > self.cfg.args.max_retries {
            self.stats.at(t).dropped += 1;
            return DeliveryOutcome::Dropped;
        }
        let backoff = &self.cfg.args.retry_backoff_ms;
        let step = (f.out.attempt as usize)
            .saturating_sub(1)
            .min(backoff.len().saturating_sub(1));
        let at_ms = now_ms.saturating_add(backoff.get(step).copied().unwrap_or(1_000));
        if !self.admit(f.seq) {
            self.stats.at(t).dropped += 1;
            return DeliveryOutcome::Dropped;
        }
        self.stats.at(t).retried += 1;
        let mut out = f.out;
        out.attempt += 1;
        self.waiting.push(Waiting {
            seq: f.seq,
            due_ms: at_ms,
            out,
        });
        DeliveryOutcome::Retrying { at_ms }
    }

    /// Counters since start.
    pub fn stats(&self) -> &AlertStats {
        &self.stats
    }

    /// Non-zero counter increments since the previous call, for adding to Envoy counters.
    pub fn take_stats_delta(&mut self) -> Vec<(AlertType, TypeCounters)> {
        let mut out = Vec::new();
        for t in AlertType::ALL {
            let d = self.stats.get(t).minus(&self.reported.get(t));
            if !d.is_zero() {
                out.push((t, d));
            }
        }
        self.reported = self.stats.clone();
        out
    }

    /// Alerts and bodies waiting (batched, due or awaiting retry), not counting in-flight ones.
    pub fn pending_len(&self) -> usize {
        self.batches.iter().map(VecDeque::len).sum::<usize>() + self.waiting.len()
    }

    /// Callouts handed out and not yet settled.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    /// Checks a budget (for the spend module) and, unless the same (event, id) was alerted within
    /// `budget_alert_ttl`, sends the generic webhook JSON at once (when `webhook` is on) and the
    /// Slack text through the batches (when `slack` is on). Returns the event alerted.
    pub fn budget_event(
        &mut self,
        kind: BudgetAlertKind,
        info: &CallInfo,
        now_ms: u64,
    ) -> Option<BudgetEvent> {
        if !self.cfg.is_enabled(AlertType::BudgetAlerts) {
            return None;
        }
        let (event, message) = budget::evaluate(kind, info)?;
        if !self.first_within_ttl(budget::dedup_key(event, kind, info), now_ms) {
            self.stats.at(AlertType::BudgetAlerts).deduplicated += 1;
            return None;
        }
        match self.cfg.generic_webhook_index() {
            Some(g) => {
                let body = budget::webhook_json(info, event, &message);
                self.enqueue_direct(g, AlertType::BudgetAlerts, body, now_ms);
            }
            // `webhook` is on without WEBHOOK_URL (the config's warnings say so).
            None if self.cfg.webhook => self.stats.at(AlertType::BudgetAlerts).dropped += 1,
            None => {}
        }
        let text = budget::slack_message(&message, info);
        self.emit(AlertType::BudgetAlerts, Level::High, &text, &[], now_ms);
        Some(event)
    }

    // ----- rules -----

    fn on_finished(&mut self, f: &RequestFacts, now_ms: u64) {
        if self.cfg.is_enabled(AlertType::DailyReports) {
            self.record_for_report(f);
        }
        if is_upstream_failure(f.status) {
            let text = self.exception_message(f);
            self.emit(
                AlertType::LlmExceptions,
                Level::High,
                &text,
                &f.alerting_metadata,
                now_ms,
            );
        } else if !is_failure(f.status) && (f.latency_ms as f64) > self.cfg.alerting_threshold_ms()
        {
            let text = self.too_slow_message(f);
            self.emit(
                AlertType::LlmTooSlow,
                Level::Low,
                &text,
                &f.alerting_metadata,
                now_ms,
            );
        }
        self.track_deployment(f, now_ms);
        if is_outage_error(f.status) && self.cfg.is_enabled(AlertType::RegionOutageAlerts) {
            self.track_region(f, now_ms);
        }
    }

    /// ``LLM API call failed: `{exception}` `` with LiteLLM's exception text inside the
    /// backticks: the class-and-provider wrapper, the router's "No fallback was attempted." line
    /// when a deployment served the request, then the debug lines (key and team, Model, API Base,
    /// Messages unless redacted, model_group, deployment) unless the rate-limit branch left them
    /// out. Envoy does not retry for the filter: LiteLLM's "LiteLLM Retried: N times" never
    /// appears (README, differences from LiteLLM).
    fn exception_message(&self, f: &RequestFacts) -> String {
        let (exception, debug) =
            litellm_exception(f.status, &f.provider, f.error_message.as_deref());
        let mut text = format!("LLM API call failed: `{}", md(&exception));
        if f.routed && !f.model_group.is_empty() {
            text.push_str(&format!(
                "\n\nLiteLLM: model group '{}' failed with the error above. No fallback was attempted.",
                md(&f.model_group)
            ));
        }
        if debug {
            text.push_str(&key_and_team(
                f.key_alias.as_deref(),
                f.team_alias.as_deref(),
            ));
            text.push_str(&format!("\nModel: {}", md(&f.litellm_model)));
            if !f.api_base.is_empty() {
                text.push_str(&format!("\nAPI Base: `{}`", md(&f.api_base)));
            }
            if let Some(m) = self.shown_messages(f) {
                text.push_str(&format!("\nMessages: `{}`", md(m)));
            }
            if !f.model_group.is_empty() {
                text.push_str(&format!("\nmodel_group: `{}`\n", md(&f.model_group)));
            }
            if f.routed {
                text.push_str(&format!("\ndeployment: `{}`\n", md(&f.litellm_model)));
            }
        }
        text.push('`');
        text
    }

    fn too_slow_message(&self, f: &RequestFacts) -> String {
        let secs = py_round(f.latency_ms as f64 / 1000.0, 2);
        let mut info = format!(
            "{}\nRequest Model: `{}`\nAPI Base: `{}`",
            key_and_team(f.key_alias.as_deref(), f.team_alias.as_deref()),
            md(&f.model),
            md(&logged_api_base(&f.provider, &f.api_base))
        );
        // LiteLLM always has the line: `str(messages)[:100]` ("None" without any), or why not.
        let messages = if self.cfg.redact_messages {
            "Message not logged. litellm.redact_messages_in_exceptions=True"
        } else {
            f.messages_preview.as_deref().unwrap_or("None")
        };
        info.push_str(&format!("\nMessages: `{}`", md(messages)));
        format!(
            "`Responses are slow - {secs}s response time > Alerting threshold: {}s`{info}",
            self.cfg.alerting_threshold_text
        )
    }

    fn shown_messages<'a>(&self, f: &'a RequestFacts) -> Option<&'a str> {
        if self.cfg.redact_messages {
            return None;
        }
        f.messages_preview.as_deref()
    }

    fn on_hanging(&mut self, h: &HangingFacts, now_ms: u64) {
        let text = format!(
            "`Requests are hanging - {}s+ request time`\nRequest Model: `{}`\nAPI Base: `None`\nKey Alias: `{}`\nTeam Alias: `{}`",
            self.cfg.alerting_threshold_text,
            md(&h.requested_model),
            md(h.key_alias.as_deref().unwrap_or("")),
            md(h.team_alias.as_deref().unwrap_or("")),
        );
        self.emit(
            AlertType::LlmRequestsHanging,
            Level::Medium,
            &text,
            &h.alerting_metadata,
            now_ms,
        );
    }

    fn on_failed_tracking(&mut self, model: &str, error_message: &str, now_ms: u64) {
        if !self.cfg.is_enabled(AlertType::FailedTrackingSpend) {
            return;
        }
        if !self.first_within_ttl(format!("budget_alerts:failed_tracking:{model}"), now_ms) {
            self.stats.at(AlertType::FailedTrackingSpend).deduplicated += 1;
            return;
        }
        let text = format!("Failed Tracking Cost for {}", md(error_message));
        self.emit(
            AlertType::FailedTrackingSpend,
            Level::High,
            &text,
            &[],
            now_ms,
        );
    }

    /// True (and remembered for `budget_alert_ttl`) when `key` was not alerted within the TTL.
    fn first_within_ttl(&mut self, key: String, now_ms: u64) -> bool {
        if self.dedup.get(&key).is_some_and(|until| *until > now_ms) {
            return false;
        }
        if self.dedup.len() >= MAX_DEDUP_KEYS {
            self.dedup.retain(|_, until| *until > now_ms);
        }
        if self.dedup.len() < MAX_DEDUP_KEYS {
            let ttl = self.cfg.args.budget_alert_ttl.saturating_mul(1000);
            self.dedup.insert(key, now_ms.saturating_add(ttl));
        }
        true
    }

    /// LiteLLM's `outage_alerts`: 408 and 5xx errors of one deployment within an
    /// `outage_alert_ttl` window opened by the first, alerted once at each threshold.
    fn track_deployment(&mut self, f: &RequestFacts, now_ms: u64) {
        if !is_outage_error(f.status) {
            return;
        }
        let key = deployment_key(&f.litellm_model, &f.api_base);
        if !self.deployments.contains_key(&key) && self.deployments.len() >= MAX_DEPLOYMENTS {
            return;
        }
        let d = self.deployments.entry(key).or_insert_with(|| Deployment {
            api_base: f.api_base.clone(),
            model: String::new(),
            provider: String::new(),
            window: Window::default(),
        });
        d.model.clone_from(&f.model);
        d.provider.clone_from(&f.provider);
        let a = &self.cfg.args;
        let total = d
            .window
            .add(f.time_ms, a.outage_alert_ttl.saturating_mul(1000), f.status);
        let Some(kind) = outage_step(
            &mut d.window,
            total,
            a.minor_outage_alert_threshold,
            a.major_outage_alert_threshold,
        ) else {
            return;
        };
        let last_check = py_round(now_ms.saturating_sub(f.time_ms) as f64 / 1000.0, 4);
        let msg = outage_message(
            kind,
            "Model",
            &d.model,
            &d.provider,
            Some(&d.api_base),
            &d.window.counts,
            &last_check,
        );
        let level = if kind == "Major" {
            Level::High
        } else {
            Level::Medium
        };
        self.emit(AlertType::OutageAlerts, level, &msg, &[], now_ms);
    }

    /// `cooldown_deployment`: LiteLLM 1.106.2 defines the type but sends nothing for it; the
    /// filter tells which of LiteLLM's router rules cooled the deployment down, and for how long.
    fn on_cooled_down(&mut self, deployment: &[String; 4], c: &Cooldown, now_ms: u64) {
        let [model, _, api_base, _] = deployment;
        let text = format!(
            "`Deployment cooled down - {}`\nModel: `{}`\nAPI Base: `{}`\nmodel_group: `{}`\nException Status Code: `{}`\nCooldown Time: `{}s`",
            md(&c.reason),
            md(model),
            md(or_none(api_base)),
            md(&c.model_group),
            c.status,
            py_float(c.cooldown_ms as f64 / 1000.0),
        );
        self.emit(
            AlertType::CooldownDeployment,
            Level::Low,
            &text,
            &[],
            now_ms,
        );
    }

    fn track_region(&mut self, f: &RequestFacts, now_ms: u64) {
        let Some(region) = region_of(f) else {
            return;
        };
        let key = format!("{}{}", f.provider, region);
        if !self.regions.contains_key(&key) && self.regions.len() >= MAX_REGIONS {
            return;
        }
        let dep = deployment_key(&f.litellm_model, &f.api_base);
        let r = self.regions.entry(key).or_insert_with(|| Region {
            window: Window::default(),
            first_deployment: dep.clone(),
            several: false,
        });
        let a = &self.cfg.args;
        let ttl = a.region_outage_alert_ttl.saturating_mul(1000);
        if r.window.start_ms.is_none() || r.window.expired(f.time_ms, ttl) {
            // A new window: `add` below resets the counts, this resets the deployment set.
            r.first_deployment.clone_from(&dep);
            r.several = false;
        }
        let total = r.window.add(f.time_ms, ttl, f.status);
        r.several |= r.first_deployment != dep;
        // LiteLLM: "make sure it's not just 1 bad deployment".
        if !r.several {
            return;
        }
        let Some(kind) = outage_step(
            &mut r.window,
            total,
            a.minor_region_outage_alert_threshold,
            a.major_region_outage_alert_threshold,
        ) else {
            return;
        };
        let last_check = py_round(now_ms.saturating_sub(f.time_ms) as f64 / 1000.0, 4);
        let msg = outage_message(
            kind,
            "Region",
            &region,
            &f.provider,
            None,
            &r.window.counts,
            &last_check,
        );
        let level = if kind == "Major" {
            Level::High
        } else {
            Level::Medium
        };
        self.emit(AlertType::RegionOutageAlerts, level, &msg, &[], now_ms);
    }

    fn expire_windows(&mut self, now_ms: u64) {
        let ttl = self.cfg.args.outage_alert_ttl.saturating_mul(1000);
        self.deployments
            .retain(|_, d| !d.window.expired(now_ms, ttl));
        let rttl = self.cfg.args.region_outage_alert_ttl.saturating_mul(1000);
        self.regions.retain(|_, r| !r.window.expired(now_ms, rttl));
    }

    // ----- daily report -----

    fn record_for_report(&mut self, f: &RequestFacts) {
        let key = deployment_key(&f.litellm_model, &f.api_base);
        let i = match self.report_index.get(&key) {
            Some(&i) => i,
            None => {
                if self.report_rows.len() >= MAX_REPORT_ROWS {
                    return;
                }
                self.report_rows.push(ReportRow {
                    litellm_model: f.litellm_model.clone(),
                    api_base: f.api_base.clone(),
                    ..ReportRow::default()
                });
                self.report_index.insert(key, self.report_rows.len() - 1);
                self.report_rows.len() - 1
            }
        };
        if let Some(row) = self.report_rows.get_mut(i) {
            if is_failure(f.status) {
                row.failures += 1;
            } else {
                row.successes += 1;
                row.latency_sum_ms = row.latency_sum_ms.saturating_add(f.latency_ms);
            }
        }
    }

    fn maybe_daily_report(&mut self, now_ms: u64) {
        if !self.cfg.is_enabled(AlertType::DailyReports) {
            return;
        }
        let a = &self.cfg.args;
        if now_ms.saturating_sub(self.last_report_check_ms)
            < a.report_check_interval.saturating_mul(1000)
        {
            return;
        }
        self.last_report_check_ms = now_ms;
        if now_ms.saturating_sub(self.last_report_ms)
            < a.daily_report_frequency.saturating_mul(1000)
        {
            return;
        }
        let next_ms = now_ms.saturating_add(a.daily_report_frequency.saturating_mul(1000));
        self.last_report_ms = now_ms;
        let text = daily_report(&self.report_rows, now_ms, next_ms);
        self.report_rows.clear();
        self.report_index.clear();
        if let Some(text) = text {
            self.emit(AlertType::DailyReports, Level::Low, &text, &[], now_ms);
        }
    }

    // ----- batching and delivery -----

    fn format_alert(
        &self,
        t: AlertType,
        level: Level,
        message: &str,
        metadata: &[(String, String)],
        now_ms: u64,
    ) -> String {
        let mut s = if t == AlertType::DailyReports {
            // LiteLLM sends reports without Level/Timestamp.
            format!("Alert type: `{}`{message}", t.as_str())
        } else {
            format!(
                "Alert type: `{}`\nLevel: `{}`\nTimestamp: `{}`\n\nMessage: {message}",
                t.as_str(),
                level.as_str(),
                hhmmss_utc(now_ms)
            )
        };
        for (k, v) in metadata {
            let (k, v) = (md(k), md(v));
            s.push_str(&format!("\n\n*Alerting Metadata*: \n{k}: `{v}`\n\n"));
        }
        if let Some(u) = &self.cfg.proxy_base_url {
            let u = md(u);
            s.push_str(&format!("\n\nProxy URL: `{u}`"));
        }
        s
    }

    /// Formats and queues a Slack-format alert for every destination of its type.
    fn emit(
        &mut self,
        t: AlertType,
        level: Level,
        message: &str,
        metadata: &[(String, String)],
        now_ms: u64,
    ) {
        if !self.cfg.is_enabled(t) {
            return;
        }
        let routes = self.cfg.route_indices(t).to_vec();
        if routes.is_empty() {
            // Slack is on but this type has no destination (the config's warnings say so).
            if self.cfg.slack {
                self.stats.at(t).dropped += 1;
            }
            return;
        }
        let text = self.format_alert(t, level, message, metadata, now_ms);
        for idx in routes {
            let seq = self.bump_seq();
            if !self.admit(seq) {
                self.stats.at(t).dropped += 1;
                continue;
            }
            self.stats.at(t).queued += 1;
            let full = match self.batches.get_mut(idx) {
                Some(b) => {
                    b.push_back(Pending {
                        seq,
                        at_ms: now_ms,
                        alert_type: t,
                        text: text.clone(),
                    });
                    b.len() >= self.cfg.args.batch_max_alerts
                }
                None => false,
            };
            if full {
                self.flush_batch(idx, now_ms);
            }
        }
    }

    /// Queues a body that is not batched (the generic webhook sends budget events at once).
    fn enqueue_direct(&mut self, idx: usize, t: AlertType, body: String, now_ms: u64) {
        let Some(destination) = self.cfg.destinations().get(idx).cloned() else {
            return;
        };
        let seq = self.bump_seq();
        if !self.admit(seq) {
            self.stats.at(t).dropped += 1;
            return;
        }
        self.stats.at(t).queued += 1;
        let id = self.bump_id();
        self.waiting.push(Waiting {
            seq,
            due_ms: now_ms,
            out: Outgoing {
                destination,
                body,
                alert_type: t,
                attempt: 1,
                id,
            },
        });
    }

    /// Turns destination `idx`'s batch into bodies: identical texts become one body prefixed
    /// `[Num Alerts: N]\n\n` (LiteLLM's squash), in order of first occurrence.
    fn flush_batch(&mut self, idx: usize, now_ms: u64) {
        let Some(destination) = self.cfg.destinations().get(idx).cloned() else {
            return;
        };
        let items: Vec<Pending> = match self.batches.get_mut(idx) {
            Some(b) => b.drain(..).collect(),
            None => return,
        };
        let mut groups: Vec<(Pending, u64)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for p in items {
            match index.get(&p.text) {
                Some(&g) => {
                    if let Some(group) = groups.get_mut(g) {
                        group.1 += 1;
                    }
                }
                None => {
                    index.insert(p.text.clone(), groups.len());
                    groups.push((p, 1));
                }
            }
        }
        for (p, count) in groups {
            let text = if count > 1 {
                self.stats.at(p.alert_type).deduplicated += count - 1;
                format!("[Num Alerts: {count}]\n\n{}", p.text)
            } else {
                p.text
            };
            let body = serde_json::to_string(&SlackBody { text: &text }).unwrap_or_default();
            let id = self.bump_id();
            self.waiting.push(Waiting {
                seq: p.seq,
                due_ms: now_ms,
                out: Outgoing {
                    destination: destination.clone(),
                    body,
                    alert_type: p.alert_type,
                    attempt: 1,
                    id,
                },
            });
        }
    }

    /// Makes room for an item of sequence `seq` under `queue_max_events` by dropping the oldest
    /// waiting item; false when the newcomer is itself the oldest (then it is the one dropped).
    fn admit(&mut self, seq: u64) -> bool {
        while self.pending_len() >= self.cfg.args.queue_max_events {
            let oldest_batch = self
                .batches
                .iter()
                .enumerate()
                .filter_map(|(i, b)| b.front().map(|p| (p.seq, i)))
                .min();
            let oldest_waiting = self
                .waiting
                .iter()
                .enumerate()
                .map(|(i, w)| (w.seq, i))
                .min();
            let from_batch = match (oldest_batch, oldest_waiting) {
                (Some(b), Some(w)) => b.0 < w.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return true,
            };
            let oldest_seq = if from_batch {
                oldest_batch.map(|b| b.0)
            } else {
                oldest_waiting.map(|w| w.0)
            };
            if oldest_seq.is_some_and(|s| s > seq) {
                return false;
            }
            let dropped_type = if from_batch {
                oldest_batch.and_then(|(_, bi)| self.pop_batch_front(bi))
            } else {
                oldest_waiting.map(|(_, wi)| self.waiting.swap_remove(wi).out.alert_type)
            };
            match dropped_type {
                Some(t) => self.stats.at(t).dropped += 1,
                None => return true,
            }
        }
        true
    }

    fn pop_batch_front(&mut self, i: usize) -> Option<AlertType> {
        self.batches
            .get_mut(i)
            .and_then(VecDeque::pop_front)
            .map(|p| p.alert_type)
    }

    /// A callout whose callback never came (the host lost it) may have been delivered.
    fn expire_lost_callouts(&mut self, now_ms: u64) {
        let limit = self
            .cfg
            .args
            .callout_timeout_ms
            .saturating_add(CALLBACK_GRACE_MS);
        let lost: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| now_ms.saturating_sub(f.sent_ms) >= limit)
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            self.on_callout_result(id, CalloutResult::Unconfirmed, now_ms);
        }
    }

    fn bump_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn bump_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

/// LiteLLM's `_add_key_name_and_team_to_alert`: only when the key has an alias.
fn key_and_team(key_alias: Option<&str>, team_alias: Option<&str>) -> String {
    match key_alias {
        Some(k) => format!(
            "\n\nKey Name: `{}`\nTeam: `{}`",
            md(k),
            md(team_alias.unwrap_or("None"))
        ),
        None => String::new(),
    }
}

/// LiteLLM's `_outage_alert_msg_factory`, byte for byte.
fn outage_message(
    kind: &str,
    key: &str,
    key_val: &str,
    provider: &str,
    api_base: Option<&str>,
    counts: &ErrorCounts,
    last_check: &str,
) -> String {
    let (key_val, provider) = (md(key_val), md(provider));
    let mut headers = format!("\n*{key} Name:* `{key_val}`\n*Provider:* `{provider}`\n");
    if let Some(b) = api_base {
        headers.push_str(&format!("*API Base:* `{}`\n", md(b)));
    }
    format!(
        "\n\n\n*⚠️ {kind} Service Outage*\n\n{headers}\n\n*Errors:*\n{}\n\n*Last Check:* `{last_check}s ago`\n\n\n",
        counts.breakdown()
    )
}

/// LiteLLM's daily report layout; "slowest" ranks by average response time of successful
/// requests (LiteLLM ranks a sum of per-output-token latencies, which the event does not carry).
/// `None` when nothing happened since the last report (LiteLLM sends nothing then).
fn daily_report(rows: &[ReportRow], now_ms: u64, next_ms: u64) -> Option<String> {
    if rows.iter().all(|r| r.failures == 0 && r.successes == 0) {
        return None;
    }
    let mut failed: Vec<&ReportRow> = rows.iter().filter(|r| r.failures > 0).collect();
    // Stable sorts: ties keep first-seen order, as Python's sorted() keeps the router's order.
    failed.sort_by_key(|r| core::cmp::Reverse(r.failures));
    let avg = |r: &ReportRow| r.latency_sum_ms as f64 / 1000.0 / r.successes.max(1) as f64;
    let mut slow: Vec<&ReportRow> = rows
        .iter()
        .filter(|r| r.successes > 0 && r.latency_sum_ms > 0)
        .collect();
    slow.sort_by(|a, b| {
        avg(b)
            .partial_cmp(&avg(a))
            .unwrap_or(core::cmp::Ordering::Equal)
    });
    let mut m = format!(
        "\n\nTime: `{}`s\nHere are today's key metrics 📈: \n\n",
        py_float(now_ms as f64 / 1000.0)
    );
    m.push_str("\n\n*❗️ Top Deployments with Most Failed Requests:*\n\n");
    if failed.is_empty() {
        m.push_str("\tNone\n");
    }
    for (i, r) in failed.iter().take(5).enumerate() {
        m.push_str(&format!(
            "\t{}. Deployment: `{}`, Failed Requests: `{}`,  API Base: `{}`\n",
            i + 1,
            md(&r.litellm_model),
            r.failures,
            md(&r.api_base)
        ));
    }
    m.push_str("\n\n*😅 Top Slowest Deployments:*\n\n");
    if slow.is_empty() {
        m.push_str("\tNone\n");
    }
    for (i, r) in slow.iter().take(5).enumerate() {
        m.push_str(&format!(
            "\t{}. Deployment: `{}`, Average Latency: `{}s`,  API Base: `{}`\n\n",
            i + 1,
            md(&r.litellm_model),
            py_round(avg(r), 3),
            md(&r.api_base)
        ));
    }
    m.push_str(&format!(
        "\n\nNext Run is at: `{}`s",
        py_float(next_ms as f64 / 1000.0)
    ));
    Some(m)
}
