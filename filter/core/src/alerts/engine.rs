//! The leader's alert engine: LiteLLM's alert rules (when an exception, a slow or hanging
//! request, an outage, a budget or a daily report is alerted). What an alert says is
//! [`super::messages`]'; how it is batched, sent and retried is [`super::delivery`]'s.
//!
//! Pure: the host feeds events and the time, and performs the HTTP callouts it is handed. Times
//! are Unix milliseconds passed in; nothing here reads a clock, so tests drive it with a fake one.

use hashbrown::HashMap;

use super::budget::{self, BudgetAlertKind, BudgetEvent, CallInfo};
use super::callout::CalloutResult;
use super::config::AlertingConfig;
use super::delivery::Delivery;
pub use super::delivery::{AlertStats, DeliveryOutcome, Outgoing, TypeCounters};
use super::event::{
    is_failure, is_outage_error, is_upstream_failure, AlertEvent, HangingFacts, RequestFacts,
};
use super::messages::{self, ReportRow};
use super::route::parse_url;
use super::text::py_round;
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
    delivery: Delivery,
}

fn deployment_key(litellm_model: &str, api_base: &str) -> String {
    // U+001F cannot appear in either part's configuration text in practice.
    format!("{litellm_model}\u{1f}{api_base}")
}

impl AlertEngine {
    /// An engine for `cfg`, starting at `now_ms` (the first daily report is due one
    /// `daily_report_frequency` later).
    pub fn new(cfg: AlertingConfig, now_ms: u64) -> Self {
        AlertEngine {
            delivery: Delivery::new(&cfg),
            cfg,
            deployments: HashMap::new(),
            regions: HashMap::new(),
            report_rows: Vec::new(),
            report_index: HashMap::new(),
            last_report_ms: now_ms,
            last_report_check_ms: now_ms,
            dedup: HashMap::new(),
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
        self.delivery.on_tick(&self.cfg, now_ms)
    }

    /// Settles callout `id` the receiver answered with `status`; 0 stands for a callout that
    /// never reached it (see [`AlertEngine::on_callout_result`]).
    pub fn on_delivery_result(&mut self, id: u64, status: u16, now_ms: u64) -> DeliveryOutcome {
        self.delivery
            .on_delivery_result(&self.cfg, id, status, now_ms)
    }

    /// Settles callout `id` (see [`Delivery::on_callout_result`]: what is retried, what is
    /// dropped, what counts as unconfirmed).
    pub fn on_callout_result(
        &mut self,
        id: u64,
        result: CalloutResult,
        now_ms: u64,
    ) -> DeliveryOutcome {
        self.delivery
            .on_callout_result(&self.cfg, id, result, now_ms)
    }

    /// Counters since start.
    pub fn stats(&self) -> &AlertStats {
        self.delivery.stats()
    }

    /// Non-zero counter increments since the previous call, for adding to Envoy counters.
    pub fn take_stats_delta(&mut self) -> Vec<(AlertType, TypeCounters)> {
        self.delivery.take_stats_delta()
    }

    /// Alerts and bodies waiting (batched, due or awaiting retry), not counting in-flight ones.
    pub fn pending_len(&self) -> usize {
        self.delivery.pending_len()
    }

    /// Callouts handed out and not yet settled.
    pub fn in_flight_len(&self) -> usize {
        self.delivery.in_flight_len()
    }

    /// Whether callout `id` is still awaited: the one clock for lost callbacks is the engine's
    /// (the host forgets a token when its id is no longer in flight).
    pub fn is_in_flight(&self, id: u64) -> bool {
        self.delivery.is_in_flight(id)
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
            self.delivery.count(AlertType::BudgetAlerts).deduplicated += 1;
            return None;
        }
        match self.cfg.generic_webhook_index() {
            Some(g) => {
                let body = budget::webhook_json(info, event, &message);
                self.delivery
                    .enqueue_direct(&self.cfg, g, AlertType::BudgetAlerts, body, now_ms);
            }
            // `webhook` is on without WEBHOOK_URL (the config's warnings say so).
            None if self.cfg.webhook => self.delivery.count(AlertType::BudgetAlerts).dropped += 1,
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
            let text = messages::exception(f, self.cfg.redact_messages);
            self.emit(
                AlertType::LlmExceptions,
                Level::High,
                &text,
                &f.alerting_metadata,
                now_ms,
            );
        } else if !is_failure(f.status) && (f.latency_ms as f64) > self.cfg.alerting_threshold_ms()
        {
            let text = messages::too_slow(
                f,
                self.cfg.redact_messages,
                &self.cfg.alerting_threshold_text,
            );
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

    fn on_hanging(&mut self, h: &HangingFacts, now_ms: u64) {
        let text = messages::hanging(h, &self.cfg.alerting_threshold_text);
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
            self.delivery
                .count(AlertType::FailedTrackingSpend)
                .deduplicated += 1;
            return;
        }
        let text = messages::failed_tracking(error_message);
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
        let msg = messages::outage(
            kind,
            "Model",
            &d.model,
            &d.provider,
            Some(&d.api_base),
            &d.window.counts.breakdown(),
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
        let text = messages::cooled_down(deployment, c);
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
        let msg = messages::outage(
            kind,
            "Region",
            &region,
            &f.provider,
            None,
            &r.window.counts.breakdown(),
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
        let text = messages::daily_report(&self.report_rows, now_ms, next_ms);
        self.report_rows.clear();
        self.report_index.clear();
        if let Some(text) = text {
            self.emit(AlertType::DailyReports, Level::Low, &text, &[], now_ms);
        }
    }

    /// Formats a Slack-format alert and hands it to delivery, when its type is on.
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
        let proxy_url = self.cfg.proxy_base_url.as_deref();
        let text = messages::slack_alert(t, level, message, metadata, proxy_url, now_ms);
        self.delivery.enqueue(&self.cfg, t, &text, now_ms);
    }
}
