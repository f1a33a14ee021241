//! `general_settings` alerting keys, validated once and compiled into [`AlertingConfig`].
//!
//! Every rejection names the offending key path (`general_settings.alert_types[2]`) and never a
//! webhook URL: URLs are secrets, so errors, `Debug` output and logs only ever show the
//! destination id and the Envoy cluster.

use core::fmt;
use hashbrown::HashMap;
use serde_json::{Map, Value};

use super::route::{self, Destination};
use super::text::py_float;
use super::types::AlertType;

/// A configuration rejection: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertConfigError {
    /// Key path, e.g. `general_settings.alert_types[2]`.
    pub path: String,
    /// What is wrong (never contains a webhook URL).
    pub message: String,
}

impl fmt::Display for AlertConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for AlertConfigError {}

fn err(path: impl Into<String>, message: impl Into<String>) -> AlertConfigError {
    AlertConfigError {
        path: path.into(),
        message: message.into(),
    }
}

const GS: &str = "general_settings";

/// `alerting_args`: LiteLLM's `SlackAlertingArgs` plus the filter's own delivery knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertingArgs {
    /// Seconds; window opened by a deployment's first error (LiteLLM default 60).
    pub outage_alert_ttl: u64,
    /// Errors in the window that make a minor outage alert (default 5).
    pub minor_outage_alert_threshold: u32,
    /// Errors in the window that make a major outage alert (default 10).
    pub major_outage_alert_threshold: u32,
    /// Seconds; window for provider-region outages (default 60).
    pub region_outage_alert_ttl: u64,
    /// Region errors for a minor alert. LiteLLM's region check reuses
    /// `minor_outage_alert_threshold` (the seed docs configure regions with it), so that value is
    /// the default.
    pub minor_region_outage_alert_threshold: u32,
    /// Region errors for a major alert; defaults to `major_outage_alert_threshold`, as above.
    pub major_region_outage_alert_threshold: u32,
    /// Seconds a budget alert is not repeated for the same (event, id) (default 86400).
    pub budget_alert_ttl: u64,
    /// Seconds between daily reports (default 43200).
    pub daily_report_frequency: u64,
    /// Seconds between checks whether a report is due (default 300, as LiteLLM).
    pub report_check_interval: u64,
    /// Accepted for compatibility. LiteLLM caps its per-window list of error codes (default 10)
    /// to bound memory; here errors are counters of fixed size, so no cap is needed (and a cap
    /// below the major threshold, as LiteLLM's default allows, would hide major outages).
    pub max_outage_alert_list_size: u32,
    /// Accepted for compatibility; payloads are never logged (they may hold prompts).
    pub log_to_console: bool,
    /// Ours: a destination's batch is flushed once its oldest alert is this old (default 5 s).
    pub batch_interval_ms: u64,
    /// Ours: a destination's batch is flushed at this many alerts (default 512).
    pub batch_max_alerts: usize,
    /// Ours: most alerts/bodies waiting to be sent; beyond, the oldest is dropped (default 1000).
    pub queue_max_events: usize,
    /// Ours: retries after the first attempt on 5xx, 429 or no response (default 3).
    pub max_retries: u32,
    /// Ours: wait before retry n (the last value repeats), milliseconds (default 1 s, 2 s, 4 s).
    pub retry_backoff_ms: Vec<u64>,
    /// Ours: timeout the host gives `dispatch_http_call` (default 5000 ms).
    pub callout_timeout_ms: u64,
    /// Ours: most in-flight requests a worker tracks for hanging alerts (default 10000).
    pub max_hanging_tracked: usize,
}

impl Default for AlertingArgs {
    fn default() -> Self {
        AlertingArgs {
            outage_alert_ttl: 60,
            minor_outage_alert_threshold: 5,
            major_outage_alert_threshold: 10,
            region_outage_alert_ttl: 60,
            minor_region_outage_alert_threshold: 5,
            major_region_outage_alert_threshold: 10,
            budget_alert_ttl: 86_400,
            daily_report_frequency: 43_200,
            report_check_interval: 300,
            max_outage_alert_list_size: 10,
            log_to_console: false,
            batch_interval_ms: 5_000,
            batch_max_alerts: 512,
            queue_max_events: 1_000,
            max_retries: 3,
            retry_backoff_ms: vec![1_000, 2_000, 4_000],
            callout_timeout_ms: 5_000,
            max_hanging_tracked: 10_000,
        }
    }
}

/// Compiled alerting configuration. `Debug` is safe to log: destinations hide their paths.
#[derive(Debug, Clone)]
pub struct AlertingConfig {
    /// `"slack"` in `alerting`: Slack-compatible `{"text": ...}` alerts.
    pub slack: bool,
    /// `"webhook"` in `alerting`: LiteLLM's generic JSON (budget events) to `WEBHOOK_URL`.
    pub webhook: bool,
    /// `alerting_threshold` in seconds.
    pub alerting_threshold_secs: f64,
    /// The threshold as LiteLLM prints it (`300`, `0.5`): Python prints the configured number.
    pub alerting_threshold_text: String,
    /// `redact_messages_in_exceptions` or `turn_off_message_logging`: no Messages lines.
    pub redact_messages: bool,
    /// `alerting_args`.
    pub args: AlertingArgs,
    /// Types in `alert_types` that the filter cannot observe (accepted, never sent).
    pub ignored: Vec<AlertType>,
    /// What LiteLLM starts with but cannot deliver, for the host to log once: unset
    /// `os.environ/` URLs, enabled types with no destination (each is counted `dropped` when
    /// it fires, as LiteLLM fails to send it), `webhook` without `WEBHOOK_URL`. Names only.
    pub warnings: Vec<String>,
    /// `PROXY_BASE_URL` from the environment: LiteLLM appends it to every alert.
    pub proxy_base_url: Option<String>,
    enabled: [bool; AlertType::COUNT],
    destinations: Vec<Destination>,
    routes: Vec<Vec<usize>>,
    generic: Option<usize>,
}

impl AlertingConfig {
    /// Alerting off: what an absent or empty `alerting` gives.
    pub fn disabled() -> Self {
        AlertingConfig {
            slack: false,
            webhook: false,
            alerting_threshold_secs: 600.0,
            alerting_threshold_text: "600".to_string(),
            redact_messages: false,
            args: AlertingArgs::default(),
            ignored: Vec::new(),
            warnings: Vec::new(),
            proxy_base_url: None,
            enabled: [false; AlertType::COUNT],
            destinations: Vec::new(),
            routes: vec![Vec::new(); AlertType::COUNT],
            generic: None,
        }
    }

    /// Whether any channel is on.
    pub fn is_on(&self) -> bool {
        self.slack || self.webhook
    }

    /// Whether `t` is produced: a channel is on, `t` is in `alert_types` (or on by default) and
    /// the filter can observe it.
    pub fn is_enabled(&self, t: AlertType) -> bool {
        self.is_on() && self.enabled.get(t.index()).copied().unwrap_or(false)
    }

    /// `alerting_threshold` in milliseconds.
    pub fn alerting_threshold_ms(&self) -> f64 {
        self.alerting_threshold_secs * 1000.0
    }

    /// Every distinct destination; the host checks their clusters exist at configure time.
    pub fn destinations(&self) -> &[Destination] {
        &self.destinations
    }

    /// Indices into [`AlertingConfig::destinations`] that receive Slack-format alerts of `t`.
    pub fn route_indices(&self, t: AlertType) -> &[usize] {
        if !self.slack {
            return &[];
        }
        self.routes.get(t.index()).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Index of the generic webhook (`WEBHOOK_URL`) destination, when `webhook` is on.
    pub fn generic_webhook_index(&self) -> Option<usize> {
        self.generic
    }

    /// Whether a worker should put a finished request on the shared queue at all. Daily reports
    /// and the deployment state (reset by a success) need every request; otherwise only what an
    /// enabled rule can alert on travels: upstream failures (`llm_exceptions`), outage errors
    /// (`region_outage_alerts`) and slow successes (`llm_too_slow`).
    pub fn wants_request(&self, status: u16, latency_ms: u64) -> bool {
        use super::event::{is_failure, is_outage_error, is_upstream_failure};
        if !self.is_on() {
            return false;
        }
        let every = [
            AlertType::DailyReports,
            AlertType::OutageAlerts,
            AlertType::CooldownDeployment,
        ];
        every.into_iter().any(|t| self.is_enabled(t))
            || (is_upstream_failure(status) && self.is_enabled(AlertType::LlmExceptions))
            || (is_outage_error(status) && self.is_enabled(AlertType::RegionOutageAlerts))
            || (!is_failure(status)
                && latency_ms as f64 > self.alerting_threshold_ms()
                && self.is_enabled(AlertType::LlmTooSlow))
    }

    /// Distinct Envoy cluster names the callouts need (sorted).
    pub fn clusters(&self) -> Vec<String> {
        let mut c: Vec<String> = self
            .destinations
            .iter()
            .map(|d| d.cluster.clone())
            .collect();
        c.sort();
        c.dedup();
        c
    }
}

fn as_bool(v: &Value, path: &str) -> Result<bool, AlertConfigError> {
    v.as_bool()
        .ok_or_else(|| err(path, "expected true or false"))
}

fn whole(v: &Value, path: &str, min: u64, unit: &str) -> Result<u64, AlertConfigError> {
    let n = match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Some(u)
            } else {
                // 60.0 is a whole number too; 60.5 is not.
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
                    .map(|f| f as u64)
            }
        }
        _ => None,
    };
    match n {
        Some(n) if n >= min => Ok(n),
        _ => Err(err(path, format!("expected a whole number{unit} >= {min}"))),
    }
}

fn positive_secs_ms(v: &Value, path: &str) -> Result<u64, AlertConfigError> {
    match v.as_f64() {
        Some(f) if f > 0.0 && f.is_finite() && f < 1e12 => Ok(((f * 1000.0).round() as u64).max(1)),
        _ => Err(err(path, "expected a number of seconds > 0")),
    }
}

fn small(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn size(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn parse_args(v: &Value, args: &mut AlertingArgs) -> Result<(), AlertConfigError> {
    let base = format!("{GS}.alerting_args");
    let map = v
        .as_object()
        .ok_or_else(|| err(&base, "expected a map of argument to value"))?;
    let (mut minor_region, mut major_region) = (None, None);
    for (k, v) in map {
        if v.is_null() {
            continue;
        }
        let p = format!("{base}.{k}");
        let p = p.as_str();
        match k.as_str() {
            "outage_alert_ttl" => args.outage_alert_ttl = whole(v, p, 1, " of seconds")?,
            "minor_outage_alert_threshold" => {
                args.minor_outage_alert_threshold = small(whole(v, p, 1, "")?)
            }
            "major_outage_alert_threshold" => {
                args.major_outage_alert_threshold = small(whole(v, p, 1, "")?)
            }
            "region_outage_alert_ttl" => {
                args.region_outage_alert_ttl = whole(v, p, 1, " of seconds")?
            }
            "minor_region_outage_alert_threshold" => {
                minor_region = Some(small(whole(v, p, 1, "")?))
            }
            "major_region_outage_alert_threshold" => {
                major_region = Some(small(whole(v, p, 1, "")?))
            }
            "budget_alert_ttl" => args.budget_alert_ttl = whole(v, p, 1, " of seconds")?,
            "daily_report_frequency" => {
                args.daily_report_frequency = whole(v, p, 1, " of seconds")?
            }
            "report_check_interval" => args.report_check_interval = whole(v, p, 1, " of seconds")?,
            "max_outage_alert_list_size" => {
                args.max_outage_alert_list_size = small(whole(v, p, 1, "")?)
            }
            "log_to_console" => args.log_to_console = as_bool(v, p)?,
            "batch_interval_seconds" => args.batch_interval_ms = positive_secs_ms(v, p)?,
            "batch_max_alerts" => args.batch_max_alerts = size(whole(v, p, 1, "")?),
            "queue_max_events" => args.queue_max_events = size(whole(v, p, 1, "")?),
            "max_retries" => args.max_retries = small(whole(v, p, 0, "")?),
            "retry_backoff_seconds" => {
                let list = v
                    .as_array()
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| err(p, "expected a non-empty list of seconds"))?;
                let mut out = Vec::with_capacity(list.len());
                for (i, item) in list.iter().enumerate() {
                    match item.as_f64() {
                        Some(f) if f >= 0.0 && f.is_finite() && f < 1e9 => {
                            out.push((f * 1000.0).round() as u64)
                        }
                        _ => {
                            return Err(err(
                                format!("{p}[{i}]"),
                                "expected a number of seconds >= 0",
                            ))
                        }
                    }
                }
                args.retry_backoff_ms = out;
            }
            "callout_timeout_ms" => args.callout_timeout_ms = whole(v, p, 1, " of milliseconds")?,
            "max_hanging_tracked" => args.max_hanging_tracked = size(whole(v, p, 1, "")?),
            _ => return Err(err(p, "unknown alerting argument")),
        }
    }
    // LiteLLM's region check uses the deployment thresholds; keep that unless overridden.
    args.minor_region_outage_alert_threshold =
        minor_region.unwrap_or(args.minor_outage_alert_threshold);
    args.major_region_outage_alert_threshold =
        major_region.unwrap_or(args.major_outage_alert_threshold);
    Ok(())
}

/// Interns destinations by URL so one webhook used for several types is one batch stream.
struct DestinationTable<'a> {
    by_url: HashMap<String, usize>,
    list: Vec<Destination>,
    overrides: &'a HashMap<String, String>,
}

impl DestinationTable<'_> {
    fn add(&mut self, url: &str, id: &str, path: &str) -> Result<usize, AlertConfigError> {
        if let Some(&i) = self.by_url.get(url) {
            return Ok(i);
        }
        let d =
            route::destination(url, id, self.overrides).map_err(|e| err(path, e.to_string()))?;
        self.list.push(d);
        let i = self.list.len() - 1;
        self.by_url.insert(url.to_string(), i);
        Ok(i)
    }
}

/// Reads `os.environ/NAME` references the way LiteLLM does: an unset or empty variable is no
/// URL (LiteLLM's `get_secret` gives None), with a warning naming the variable (its name is not
/// a secret, its value is).
fn resolve_url(
    raw: &str,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Option<String> {
    match raw.strip_prefix("os.environ/") {
        Some(name) => match env(name) {
            Some(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
            _ => {
                warnings.push(format!(
                    "{path}: environment variable {name} is not set: no destination there"
                ));
                None
            }
        },
        None => Some(raw.trim().to_string()),
    }
}

/// Parses the alerting keys of `general_settings` (plus `redact_messages_in_exceptions` and
/// `turn_off_message_logging`, which LiteLLM reads from `litellm_settings`).
///
/// `env` looks up environment variables (`SLACK_WEBHOOK_URL`, `WEBHOOK_URL`, `PROXY_BASE_URL`,
/// `os.environ/NAME` references); the host passes `std::env::var` (on wasm32-wasip1 Envoy's
/// `vm_config.environment_variables` arrive there).
pub fn parse_alerting(
    settings: &Map<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AlertingConfig, AlertConfigError> {
    let mut cfg = AlertingConfig::disabled();
    let get = |k: &str| settings.get(k).filter(|v| !v.is_null());

    // alerting: ["slack", "webhook"]
    let (mut slack_at, mut webhook_at) = (None, None);
    if let Some(v) = get("alerting") {
        let path = format!("{GS}.alerting");
        let list = v
            .as_array()
            .ok_or_else(|| err(&path, "expected a list of strings"))?;
        for (i, item) in list.iter().enumerate() {
            match item.as_str() {
                Some("slack") => slack_at = Some(i),
                Some("webhook") => webhook_at = Some(i),
                Some(other) => {
                    return Err(err(
                        format!("{path}[{i}]"),
                        format!("unsupported alerting channel {other:?} (supported: \"slack\", \"webhook\")"),
                    ))
                }
                None => return Err(err(format!("{path}[{i}]"), "expected a string")),
            }
        }
    }
    cfg.slack = slack_at.is_some();
    cfg.webhook = webhook_at.is_some();

    if let Some(v) = get("alerting_threshold") {
        let path = format!("{GS}.alerting_threshold");
        let secs = v.as_f64().filter(|f| *f > 0.0 && f.is_finite());
        let n = v.as_number();
        match (secs, n) {
            (Some(secs), Some(n)) => {
                cfg.alerting_threshold_secs = secs;
                // Python prints an int as an int and a float in repr form (300 vs 300.0).
                cfg.alerting_threshold_text = if n.is_f64() {
                    py_float(secs)
                } else {
                    n.to_string()
                };
            }
            _ => return Err(err(path, "expected a number of seconds > 0")),
        }
    }

    // alert_types: unset = LiteLLM's defaults.
    let mut wanted = [false; AlertType::COUNT];
    match get("alert_types") {
        None => {
            for t in AlertType::ALL {
                if let Some(w) = wanted.get_mut(t.index()) {
                    *w = t.default_on();
                }
            }
        }
        Some(v) => {
            let path = format!("{GS}.alert_types");
            let list = v
                .as_array()
                .ok_or_else(|| err(&path, "expected a list of alert type names"))?;
            for (i, item) in list.iter().enumerate() {
                let p = format!("{path}[{i}]");
                let name = item
                    .as_str()
                    .ok_or_else(|| err(&p, "expected an alert type name"))?;
                let t = AlertType::from_name(name)
                    .ok_or_else(|| err(&p, format!("unknown alert type {name:?}")))?;
                if let Some(w) = wanted.get_mut(t.index()) {
                    *w = true;
                }
                if !t.observable() && !cfg.ignored.contains(&t) {
                    cfg.ignored.push(t);
                }
            }
        }
    }
    for t in AlertType::ALL {
        if let (Some(e), Some(w)) = (cfg.enabled.get_mut(t.index()), wanted.get(t.index())) {
            *e = *w && t.observable();
        }
    }

    if let Some(v) = get("alerting_args") {
        parse_args(v, &mut cfg.args)?;
    }

    for key in ["redact_messages_in_exceptions", "turn_off_message_logging"] {
        if let Some(v) = get(key) {
            cfg.redact_messages |= as_bool(v, &format!("litellm_settings.{key}"))?;
        }
    }

    let mut overrides: HashMap<String, String> = HashMap::new();
    if let Some(v) = get("webhook_clusters") {
        let path = format!("{GS}.webhook_clusters");
        let map = v
            .as_object()
            .ok_or_else(|| err(&path, "expected a map of host to Envoy cluster name"))?;
        for (host, cluster) in map {
            match cluster.as_str().map(str::trim) {
                Some(c) if !c.is_empty() => {
                    overrides.insert(host.trim().to_ascii_lowercase(), c.to_string());
                }
                _ => {
                    return Err(err(
                        format!("{path}.{host}"),
                        "expected a non-empty cluster name",
                    ))
                }
            }
        }
    }

    let mut table = DestinationTable {
        by_url: HashMap::new(),
        list: Vec::new(),
        overrides: &overrides,
    };

    // alert_to_webhook_url: type -> URL | [URL, ...]; validated whatever the channels, so a bad
    // entry is found when written, not when alerting is later switched on.
    let mut per_type: Vec<Option<Vec<usize>>> = vec![None; AlertType::COUNT];
    if let Some(v) = get("alert_to_webhook_url") {
        let path = format!("{GS}.alert_to_webhook_url");
        let map = v
            .as_object()
            .ok_or_else(|| err(&path, "expected a map of alert type to URL or list of URLs"))?;
        for (name, urls) in map {
            let p = format!("{path}.{name}");
            let t = AlertType::from_name(name)
                .ok_or_else(|| err(&p, format!("unknown alert type {name:?}")))?;
            let items: Vec<(String, &str)> = match urls {
                Value::String(s) => vec![(p.clone(), s.as_str())],
                Value::Array(list) if !list.is_empty() => {
                    let mut v = Vec::with_capacity(list.len());
                    for (i, u) in list.iter().enumerate() {
                        let ip = format!("{p}[{i}]");
                        let s = u
                            .as_str()
                            .ok_or_else(|| err(&ip, "expected a URL string"))?;
                        v.push((ip, s));
                    }
                    v
                }
                _ => return Err(err(&p, "expected a URL string or a list of URL strings")),
            };
            let mut indices = Vec::with_capacity(items.len());
            for (n, (ip, raw)) in items.iter().enumerate() {
                let Some(url) = resolve_url(raw, ip, env, &mut cfg.warnings) else {
                    continue;
                };
                // Validate always; keep a destination only for what can actually be sent.
                if t.observable() {
                    let id = format!("{}#{}", t.as_str(), n + 1);
                    indices.push(table.add(&url, &id, ip)?);
                } else {
                    route::parse_url(&url).map_err(|e| err(ip.as_str(), e.to_string()))?;
                }
            }
            if let Some(slot) = per_type.get_mut(t.index()) {
                *slot = Some(indices);
            }
        }
    }

    if let Some(i) = slack_at {
        let default = match env("SLACK_WEBHOOK_URL").map(|s| s.trim().to_string()) {
            Some(url) if !url.is_empty() => {
                Some(table.add(&url, "slack", "env.SLACK_WEBHOOK_URL")?)
            }
            _ => None,
        };
        let mut missing = Vec::new();
        for t in AlertType::ALL {
            if !cfg.enabled.get(t.index()).copied().unwrap_or(false) {
                continue;
            }
            let route = match per_type.get(t.index()).and_then(|r| r.clone()) {
                Some(r) => r,
                None => default.into_iter().collect(),
            };
            if route.is_empty() {
                missing.push(t.as_str());
            }
            if let Some(slot) = cfg.routes.get_mut(t.index()) {
                *slot = route;
            }
        }
        // LiteLLM starts like this and fails each such alert when it fires ("Missing
        // SLACK_WEBHOOK_URL from environment"): accepted, and the engine counts them dropped.
        if !missing.is_empty() {
            cfg.warnings.push(format!(
                "{GS}.alerting[{i}]: \"slack\" has no destination for {} (SLACK_WEBHOOK_URL is not set and alert_to_webhook_url names none): they are counted as dropped when they fire",
                missing.join(", ")
            ));
        }
    }

    if let Some(i) = webhook_at {
        match env("WEBHOOK_URL").map(|s| s.trim().to_string()) {
            Some(url) if !url.is_empty() => {
                cfg.generic = Some(table.add(&url, "webhook", "env.WEBHOOK_URL")?);
            }
            _ => cfg.warnings.push(format!(
                "{GS}.alerting[{i}]: \"webhook\" has no destination (WEBHOOK_URL is not set): its budget alerts are counted as dropped when they fire"
            )),
        }
    }

    cfg.proxy_base_url = env("PROXY_BASE_URL").filter(|s| !s.trim().is_empty());
    cfg.destinations = table.list;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SLACK: &str = "https://hooks.slack.com/services/T0/B0/SECRETSLACK";

    fn env_with(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn parse(
        v: Value,
        vars: &'static [(&'static str, &'static str)],
    ) -> Result<AlertingConfig, AlertConfigError> {
        let map = v.as_object().cloned().unwrap();
        parse_alerting(&map, &env_with(vars))
    }

    fn reject(v: Value, vars: &'static [(&'static str, &'static str)]) -> String {
        parse(v, vars).unwrap_err().to_string()
    }

    #[test]
    fn absent_alerting_is_off() {
        let cfg = parse(json!({}), &[]).unwrap();
        assert!(!cfg.is_on());
        assert!(!cfg.is_enabled(AlertType::LlmExceptions));
        assert!(cfg.destinations().is_empty());
        let cfg = parse(json!({"alerting": []}), &[("SLACK_WEBHOOK_URL", SLACK)]).unwrap();
        assert!(!cfg.is_on());
    }

    #[test]
    fn slack_defaults() {
        let cfg = parse(
            json!({"alerting": ["slack"]}),
            &[("SLACK_WEBHOOK_URL", SLACK)],
        )
        .unwrap();
        assert!(cfg.slack && !cfg.webhook);
        assert_eq!(cfg.alerting_threshold_secs, 600.0);
        assert_eq!(cfg.alerting_threshold_text, "600");
        assert_eq!(cfg.args, AlertingArgs::default());
        for t in AlertType::ALL {
            assert_eq!(
                cfg.is_enabled(t),
                t.default_on() && t.observable(),
                "{}",
                t.as_str()
            );
        }
        assert!(cfg.ignored.is_empty());
        assert_eq!(cfg.destinations().len(), 1);
        assert_eq!(cfg.destinations()[0].id, "slack");
        assert_eq!(
            cfg.clusters(),
            vec!["webhook_hooks_slack_com_443".to_string()]
        );
        assert_eq!(cfg.route_indices(AlertType::LlmExceptions), &[0]);
        assert_eq!(cfg.route_indices(AlertType::SpendReports), &[] as &[usize]);
    }

    #[test]
    fn threshold_keeps_python_spelling() {
        let e: &'static [(&str, &str)] = &[("SLACK_WEBHOOK_URL", SLACK)];
        let cfg = parse(json!({"alerting": ["slack"], "alerting_threshold": 2}), e).unwrap();
        assert_eq!(
            (
                cfg.alerting_threshold_secs,
                cfg.alerting_threshold_text.as_str()
            ),
            (2.0, "2")
        );
        let cfg = parse(
            json!({"alerting": ["slack"], "alerting_threshold": 0.0001}),
            e,
        )
        .unwrap();
        assert_eq!(cfg.alerting_threshold_text, "0.0001");
        assert_eq!(cfg.alerting_threshold_ms(), 0.1);
        let cfg = parse(
            json!({"alerting": ["slack"], "alerting_threshold": 300.0}),
            e,
        )
        .unwrap();
        assert_eq!(cfg.alerting_threshold_text, "300.0");
    }

    #[test]
    fn alert_types_subset_and_ignored() {
        let cfg = parse(
            json!({"alerting": ["slack"], "alert_types": ["llm_exceptions", "spend_reports", "db_exceptions", "outage_alerts"]}),
            &[("SLACK_WEBHOOK_URL", SLACK)],
        )
        .unwrap();
        assert!(cfg.is_enabled(AlertType::LlmExceptions));
        assert!(cfg.is_enabled(AlertType::OutageAlerts));
        assert!(!cfg.is_enabled(AlertType::LlmTooSlow));
        assert!(!cfg.is_enabled(AlertType::SpendReports));
        assert_eq!(
            cfg.ignored,
            vec![AlertType::SpendReports, AlertType::DbExceptions]
        );
    }

    #[test]
    fn alerting_args_and_region_defaults() {
        let cfg = parse(
            json!({"alerting": ["slack"], "alerting_args": {
                "outage_alert_ttl": 30, "minor_outage_alert_threshold": 3, "major_outage_alert_threshold": 6.0,
                "daily_report_frequency": 3600, "report_check_interval": 60, "budget_alert_ttl": 10,
                "batch_interval_seconds": 0.5, "batch_max_alerts": 10, "queue_max_events": 20,
                "max_retries": 0, "retry_backoff_seconds": [0.25, 3], "callout_timeout_ms": 800,
                "max_hanging_tracked": 7, "log_to_console": true, "max_outage_alert_list_size": 1000
            }}),
            &[("SLACK_WEBHOOK_URL", SLACK)],
        )
        .unwrap();
        let a = &cfg.args;
        assert_eq!(a.outage_alert_ttl, 30);
        assert_eq!(
            (
                a.minor_outage_alert_threshold,
                a.major_outage_alert_threshold
            ),
            (3, 6)
        );
        // Region thresholds follow the deployment ones, as in LiteLLM.
        assert_eq!(
            (
                a.minor_region_outage_alert_threshold,
                a.major_region_outage_alert_threshold
            ),
            (3, 6)
        );
        assert_eq!(a.batch_interval_ms, 500);
        assert_eq!(a.retry_backoff_ms, vec![250, 3000]);
        assert_eq!(
            (a.batch_max_alerts, a.queue_max_events, a.max_retries),
            (10, 20, 0)
        );
        assert_eq!((a.callout_timeout_ms, a.max_hanging_tracked), (800, 7));
        let cfg = parse(
            json!({"alerting": ["slack"], "alerting_args": {"minor_region_outage_alert_threshold": 2, "major_region_outage_alert_threshold": 4}}),
            &[("SLACK_WEBHOOK_URL", SLACK)],
        )
        .unwrap();
        assert_eq!(
            (
                cfg.args.minor_region_outage_alert_threshold,
                cfg.args.major_region_outage_alert_threshold
            ),
            (2, 4)
        );
        assert_eq!(cfg.args.minor_outage_alert_threshold, 5);
    }

    #[test]
    fn routing_to_one_or_several_urls_with_env_references() {
        let cfg = parse(
            json!({"alerting": ["slack"], "alert_to_webhook_url": {
                "llm_exceptions": ["os.environ/HOOK_A", "http://127.0.0.1:18081/b"],
                "outage_alerts": "os.environ/HOOK_A",
                "spend_reports": "https://example.com/unused"
            }}),
            &[
                ("SLACK_WEBHOOK_URL", SLACK),
                ("HOOK_A", "http://127.0.0.1:18081/a"),
            ],
        )
        .unwrap();
        let ids = |t| -> Vec<String> {
            cfg.route_indices(t)
                .iter()
                .map(|&i| cfg.destinations()[i].id.clone())
                .collect()
        };
        assert_eq!(
            ids(AlertType::LlmExceptions),
            vec!["llm_exceptions#1", "llm_exceptions#2"]
        );
        // The same URL is one destination (one batch stream), named where first seen.
        assert_eq!(ids(AlertType::OutageAlerts), vec!["llm_exceptions#1"]);
        assert_eq!(ids(AlertType::LlmTooSlow), vec!["slack"]);
        assert_eq!(cfg.destinations().len(), 3);
        assert_eq!(
            cfg.clusters(),
            vec![
                "webhook_127_0_0_1_18081".to_string(),
                "webhook_hooks_slack_com_443".to_string()
            ]
        );
    }

    #[test]
    fn webhook_clusters_override() {
        let cfg = parse(
            json!({"alerting": ["slack"], "webhook_clusters": {"hooks.slack.com": "outbound|443||hooks.slack.com"}}),
            &[("SLACK_WEBHOOK_URL", SLACK)],
        )
        .unwrap();
        assert_eq!(
            cfg.destinations()[0].cluster,
            "outbound|443||hooks.slack.com"
        );
    }

    #[test]
    fn generic_webhook_and_redaction_and_proxy_url() {
        let cfg = parse(
            json!({"alerting": ["webhook"], "redact_messages_in_exceptions": false, "turn_off_message_logging": true}),
            &[("WEBHOOK_URL", "http://127.0.0.1:18081/generic"), ("PROXY_BASE_URL", "http://proxy:4000")],
        )
        .unwrap();
        assert!(cfg.webhook && !cfg.slack && cfg.redact_messages);
        let g = cfg.generic_webhook_index().unwrap();
        assert_eq!(cfg.destinations()[g].id, "webhook");
        assert_eq!(cfg.route_indices(AlertType::LlmExceptions), &[] as &[usize]);
        assert_eq!(cfg.proxy_base_url.as_deref(), Some("http://proxy:4000"));
    }

    type Case = (Value, &'static [(&'static str, &'static str)], &'static str);

    #[test]
    fn rejections_name_the_key_exactly() {
        let s: &'static [(&str, &str)] = &[("SLACK_WEBHOOK_URL", SLACK)];
        let cases: Vec<Case> = vec![
            (json!({"alerting": "slack"}), s, "general_settings.alerting: expected a list of strings"),
            (json!({"alerting": ["slack", "email"]}), s,
             "general_settings.alerting[1]: unsupported alerting channel \"email\" (supported: \"slack\", \"webhook\")"),
            (json!({"alerting": [1]}), s, "general_settings.alerting[0]: expected a string"),
            (json!({"alerting": ["slack"], "alerting_threshold": 0}), s,
             "general_settings.alerting_threshold: expected a number of seconds > 0"),
            (json!({"alerting": ["slack"], "alerting_threshold": "300"}), s,
             "general_settings.alerting_threshold: expected a number of seconds > 0"),
            (json!({"alerting": ["slack"], "alert_types": ["llm_exceptions", "llm_too_slow", "llm_exception"]}), s,
             "general_settings.alert_types[2]: unknown alert type \"llm_exception\""),
            (json!({"alerting": ["slack"], "alert_types": "llm_exceptions"}), s,
             "general_settings.alert_types: expected a list of alert type names"),
            (json!({"alerting": ["slack"], "alerting_args": {"outage_alert_ttl": 1.5}}), s,
             "general_settings.alerting_args.outage_alert_ttl: expected a whole number of seconds >= 1"),
            (json!({"alerting": ["slack"], "alerting_args": {"minor_outage_alert_threshold": 0}}), s,
             "general_settings.alerting_args.minor_outage_alert_threshold: expected a whole number >= 1"),
            (json!({"alerting": ["slack"], "alerting_args": {"outage_ttl": 5}}), s,
             "general_settings.alerting_args.outage_ttl: unknown alerting argument"),
            (json!({"alerting": ["slack"], "alerting_args": {"retry_backoff_seconds": [1, -1]}}), s,
             "general_settings.alerting_args.retry_backoff_seconds[1]: expected a number of seconds >= 0"),
            (json!({"alerting": ["slack"], "alerting_args": {"retry_backoff_seconds": []}}), s,
             "general_settings.alerting_args.retry_backoff_seconds: expected a non-empty list of seconds"),
            (json!({"alerting": ["slack"], "alerting_args": []}), s,
             "general_settings.alerting_args: expected a map of argument to value"),
            (json!({"alerting": ["slack"], "redact_messages_in_exceptions": "yes"}), s,
             "litellm_settings.redact_messages_in_exceptions: expected true or false"),
            (json!({"alerting": ["slack"], "alert_to_webhook_url": {"llm_exception": SLACK}}), s,
             "general_settings.alert_to_webhook_url.llm_exception: unknown alert type \"llm_exception\""),
            (json!({"alerting": ["slack"], "alert_to_webhook_url": {"llm_exceptions": 5}}), s,
             "general_settings.alert_to_webhook_url.llm_exceptions: expected a URL string or a list of URL strings"),
            (json!({"alerting": ["slack"], "alert_to_webhook_url": {"llm_exceptions": [SLACK, "hooks.slack.com/services/SECRET2"]}}), s,
             "general_settings.alert_to_webhook_url.llm_exceptions[1]: not a valid webhook URL (missing http:// or https://)"),
            (json!({"alerting": ["slack"], "alert_to_webhook_url": {"db_exceptions": "ftp://x/SECRET3"}}), s,
             "general_settings.alert_to_webhook_url.db_exceptions: not a valid webhook URL (scheme must be http or https)"),
            (json!({"alerting": ["slack"], "alert_to_webhook_url": []}), s,
             "general_settings.alert_to_webhook_url: expected a map of alert type to URL or list of URLs"),
            (json!({"alerting": ["slack"], "webhook_clusters": {"hooks.slack.com": ""}}), s,
             "general_settings.webhook_clusters.hooks.slack.com: expected a non-empty cluster name"),
            (json!({"alerting": ["slack"]}), &[("SLACK_WEBHOOK_URL", "https://user:SECRET4@hooks.slack.com/x")],
             "env.SLACK_WEBHOOK_URL: not a valid webhook URL (credentials in the URL are not supported)"),
        ];
        for (v, e, want) in cases {
            let got = reject(v, e);
            assert_eq!(got, want);
            assert!(!got.contains("SECRET"), "{got}");
        }
    }

    /// LiteLLM starts without a destination for some types (it fails each such alert when it
    /// fires): accepted, with one warning naming the variables and the types.
    #[test]
    fn types_without_a_destination_are_warnings() {
        let cfg = parse(
            json!({"alerting": ["webhook", "slack"], "alert_types": ["llm_exceptions", "outage_alerts", "llm_too_slow"],
                   "alert_to_webhook_url": {"llm_too_slow": "http://127.0.0.1:18081/slow",
                                            "outage_alerts": ["os.environ/ONCALL_URL"]}}),
            &[],
        )
        .unwrap();
        assert_eq!(
            cfg.warnings,
            [
                "general_settings.alert_to_webhook_url.outage_alerts[0]: environment variable ONCALL_URL is not set: no destination there",
                "general_settings.alerting[1]: \"slack\" has no destination for llm_exceptions, outage_alerts (SLACK_WEBHOOK_URL is not set and alert_to_webhook_url names none): they are counted as dropped when they fire",
                "general_settings.alerting[0]: \"webhook\" has no destination (WEBHOOK_URL is not set): its budget alerts are counted as dropped when they fire",
            ]
        );
        assert!(cfg.is_on() && cfg.is_enabled(AlertType::LlmExceptions));
        assert_eq!(cfg.route_indices(AlertType::LlmExceptions), &[] as &[usize]);
        assert_eq!(cfg.route_indices(AlertType::LlmTooSlow), &[0]);
        assert_eq!(cfg.generic_webhook_index(), None);
        // With SLACK_WEBHOOK_URL every type has a destination: nothing to say.
        let cfg = parse(
            json!({"alerting": ["slack"]}),
            &[("SLACK_WEBHOOK_URL", SLACK)],
        )
        .unwrap();
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    }

    #[test]
    fn slack_url_not_needed_when_every_type_is_routed() {
        let cfg = parse(
            json!({"alerting": ["slack"], "alert_types": ["llm_exceptions"], "alert_to_webhook_url": {"llm_exceptions": SLACK}}),
            &[],
        )
        .unwrap();
        assert_eq!(cfg.route_indices(AlertType::LlmExceptions), &[0]);
    }

    #[test]
    fn which_requests_workers_send() {
        let s: &'static [(&str, &str)] = &[("SLACK_WEBHOOK_URL", SLACK)];
        let all = parse(json!({"alerting": ["slack"], "alerting_threshold": 2}), s).unwrap();
        assert!(
            all.wants_request(200, 10),
            "daily reports need every request"
        );
        let few = parse(
            json!({"alerting": ["slack"], "alerting_threshold": 2, "alert_types": ["llm_exceptions", "llm_too_slow"]}),
            s,
        )
        .unwrap();
        assert!(!few.wants_request(200, 2_000));
        assert!(few.wants_request(200, 2_001));
        assert!(
            few.wants_request(500, 10) && few.wants_request(429, 10) && few.wants_request(0, 10)
        );
        assert!(
            few.wants_request(400, 10),
            "an upstream 400 is LiteLLM's BadRequestError"
        );
        let slow_only = parse(
            json!({"alerting": ["slack"], "alerting_threshold": 2, "alert_types": ["llm_too_slow"]}),
            s,
        )
        .unwrap();
        assert!(
            !slow_only.wants_request(400, 5_000),
            "a slow failure is not a slow response"
        );
        let slow = parse(
            json!({"alerting": ["slack"], "alerting_threshold": 2, "alert_types": ["llm_too_slow", "llm_requests_hanging"]}),
            s,
        )
        .unwrap();
        assert!(!slow.wants_request(500, 10) && slow.wants_request(200, 2_001));
        let region = parse(
            json!({"alerting": ["slack"], "alert_types": ["region_outage_alerts"]}),
            s,
        )
        .unwrap();
        assert!(region.wants_request(503, 1) && region.wants_request(408, 1));
        assert!(!region.wants_request(429, 1) && !region.wants_request(200, 999_999));
        assert!(!parse(json!({}), s).unwrap().wants_request(500, 10));
    }

    #[test]
    fn secrets_never_in_debug() {
        let cfg = parse(
            json!({"alerting": ["slack", "webhook"], "alert_to_webhook_url": {"llm_exceptions": ["os.environ/HOOK"]}}),
            &[
                ("SLACK_WEBHOOK_URL", SLACK),
                ("WEBHOOK_URL", "http://127.0.0.1:9/SECRETGENERIC"),
                ("HOOK", "https://hooks.slack.com/services/SECRETHOOK"),
            ],
        )
        .unwrap();
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        assert!(dbg.contains("webhook_hooks_slack_com_443"));
    }
}
