//! The plugin configuration, written in LiteLLM's vocabulary so that a LiteLLM proxy
//! `config.yaml` (converted to JSON by `envoy/litellm_config.py`) configures the filter as it
//! configured LiteLLM:
//!
//! - `model_list`: deployments (model group → provider model, API base, `model_info.id`).
//! - `litellm_settings`: the Prometheus options (`custom_prometheus_metadata_labels`,
//!   `custom_prometheus_tags`, `prometheus_emit_stream_label`, `prometheus_metrics_config`,
//!   `enable_end_user_cost_tracking_prometheus_only`) and the message-redaction switches.
//! - `general_settings`: `master_key` (kept only as its SHA-256) and the alerting keys.
//! - `environment_variables`: as in LiteLLM, they are set before `os.environ/NAME` references
//!   are resolved, and take precedence over the process environment.
//! - `telemetry_settings`: the filter's own keys (identity table, trusted identity headers,
//!   memory limits). This section is strict: an unknown key is an error.
//!
//! - Logging (`litellm_settings.callbacks` and the other keys of
//!   [`crate::logging::settings`], `callback_settings`, `telemetry_settings.logging`): parsed by
//!   that module into [`Config::logging`]; what it accepts without acting on is in
//!   [`Loaded::warnings`].
//!
//! Everything else LiteLLM understands but a proxy filter cannot use (router settings,
//! guardrails, ...) is accepted and reported in [`Loaded::ignored`]. What LiteLLM starts with
//! starts the filter: an `os.environ/NAME` reference to a variable that is not set reads as
//! LiteLLM's `None` and is reported in [`Loaded::warnings`]. Refused are only values that cannot
//! mean anything (a wrong type, an unknown name, a bad number); every error names the exact JSON
//! path. Secrets (the master key, API keys) never appear in errors, warnings or `Debug` output.

use core::cell::RefCell;
use core::fmt;

use hashbrown::HashMap;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::alerts::AlertingConfig;
use crate::catalogue::{family_by_name, FamilyId, Label, LITELLM_METRIC_NAMES};
use crate::health::{CooldownSettings, POLICY_CLASSES};
use crate::spend::prices::Rates;
use crate::spend::settings::{self as spend_settings, BudgetSpec, DeploymentPrices, SpendSettings};

/// A configuration that cannot be used: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// JSON path of the offending value, e.g. `litellm_settings.custom_prometheus_tags[1]`
    /// (`config` for the document itself).
    pub path: String,
    /// What is wrong with it (never the value of a secret).
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A parsed configuration and what in it was accepted but not used.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Dotted paths of LiteLLM keys the filter cannot use (the host logs them once).
    pub ignored: Vec<String>,
    /// Settings accepted but not acted on, each a sentence (the host logs them once):
    /// `os.environ/NAME` references to unset variables (by path and variable name), logging
    /// settings accepted without acting on them.
    pub warnings: Vec<String>,
}

/// `telemetry_settings.on_invalid_config`: what the filter does with a configuration it cannot
/// use, at bootstrap and on every xDS update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InvalidConfigPolicy {
    /// `pass_through` (default): the filter configures itself to do nothing: traffic flows
    /// untouched, without telemetry, the error is logged and a gauge says so. Envoy stays up.
    #[default]
    PassThrough,
    /// `refuse`: the host is told the configuration failed (`on_configure` returns false), so
    /// Envoy rejects it: a bootstrap does not start, an xDS update is rejected.
    Refuse,
}

impl InvalidConfigPolicy {
    const NAMES: &'static [&'static str] = &["pass_through", "refuse"];

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "pass_through" => Some(InvalidConfigPolicy::PassThrough),
            "refuse" => Some(InvalidConfigPolicy::Refuse),
            _ => None,
        }
    }

    /// The policy a configuration asks for, read leniently so that it is known even when the
    /// configuration is otherwise invalid: anything but a readable `"refuse"` is the default.
    pub fn of(json: &[u8]) -> Self {
        serde_json::from_slice::<Value>(json)
            .ok()
            .as_ref()
            .and_then(|v| v.get("telemetry_settings"))
            .and_then(|t| t.get("on_invalid_config"))
            .and_then(Value::as_str)
            .and_then(Self::from_name)
            .unwrap_or_default()
    }
}

/// The filter's configuration. `Debug` redacts the master-key hash and alerting values (webhook
/// URLs are credentials).
#[derive(Clone)]
pub struct Config {
    /// `model_list`, in order.
    pub deployments: Vec<Deployment>,
    /// Lowercase SHA-256 hex of `general_settings.master_key`; the raw key is never kept.
    pub master_key_sha256: Option<String>,
    /// `litellm_settings.enable_end_user_cost_tracking_prometheus_only`: without it LiteLLM
    /// renders `end_user` as `None`.
    pub end_user_tracking: bool,
    /// `litellm_settings.custom_prometheus_metadata_labels`.
    pub metadata_labels: Vec<MetadataLabel>,
    /// `litellm_settings.custom_prometheus_tags`.
    pub tag_labels: Vec<TagLabel>,
    /// `litellm_settings.prometheus_emit_stream_label`.
    pub emit_stream_label: bool,
    /// `litellm_settings.prometheus_metrics_config`; `None` = every metric with all its labels.
    pub metric_filter: Option<MetricFilter>,
    /// `telemetry_settings.keys`, keyed by the lowercase SHA-256 hex of the key.
    pub keys: HashMap<String, KeyInfo>,
    /// `telemetry_settings.identity_headers`.
    pub identity_headers: IdentityHeaders,
    /// `telemetry_settings` memory and timing limits.
    pub limits: Limits,
    /// `telemetry_settings.inject_stream_usage` (default true): add
    /// `stream_options.include_usage` to streaming chat requests so that usage can be counted.
    pub inject_stream_usage: bool,
    /// `telemetry_settings.metric_names`: `litellm` (default), `gen_ai` (alias `otel`) or `both`.
    pub metric_names: crate::gen_ai::Vocabulary,
    /// The alerting keys of `general_settings` (`alerting`, `alerting_threshold`,
    /// `alert_types`, `alert_to_webhook_url`, `alerting_args`, and our `webhook_clusters`) and
    /// `litellm_settings.redact_messages_in_exceptions` / `turn_off_message_logging`, copied as
    /// written (`os.environ/` references unresolved): what [`Config::alerting`] was compiled
    /// from, and what scopes the alerting VMs' shared queue and leader.
    pub alerting_general_settings: Map<String, Value>,
    /// The alerting settings compiled (by [`crate::alerts::parse_alerting`], once, at parse):
    /// channels, destinations, alert types, thresholds. Off when nothing asks for alerts.
    pub alerting: AlertingConfig,
    /// The document's `environment_variables` (numbers and booleans as text). LiteLLM sets them
    /// before reading its environment, so the host looks `SLACK_WEBHOOK_URL`, `WEBHOOK_URL` and
    /// `os.environ/NAME` references up here before the VM's environment (see
    /// [`Config::env_var`]). Values may be secrets: `Debug` shows only the names.
    pub environment_variables: HashMap<String, String>,
    /// `router_settings`' cooldown keys, for the deployment health model.
    pub cooldowns: CooldownSettings,
    /// Per-request logging (`litellm_settings.callbacks`, `callback_settings`,
    /// `telemetry_settings.logging`, ...), parsed by [`crate::logging::settings::parse`].
    pub logging: crate::logging::settings::LoggingSettings,
    /// Prices' and budgets' settings (`spend::settings`): key, team, user, end-user, proxy and
    /// provider budgets, enforcement, the refusal status.
    pub spend: SpendSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            deployments: Vec::new(),
            master_key_sha256: None,
            end_user_tracking: false,
            metadata_labels: Vec::new(),
            tag_labels: Vec::new(),
            emit_stream_label: false,
            metric_filter: None,
            keys: HashMap::new(),
            identity_headers: IdentityHeaders::default(),
            limits: Limits::default(),
            inject_stream_usage: true,
            metric_names: crate::gen_ai::Vocabulary::Litellm,
            alerting_general_settings: Map::new(),
            alerting: AlertingConfig::disabled(),
            environment_variables: HashMap::new(),
            cooldowns: CooldownSettings::default(),
            logging: Default::default(),
            spend: SpendSettings::default(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alerting: Vec<&String> = self.alerting_general_settings.keys().collect();
        let mut env_names: Vec<&String> = self.environment_variables.keys().collect();
        env_names.sort_unstable();
        f.debug_struct("Config")
            .field("deployments", &self.deployments)
            .field(
                "master_key_sha256",
                &self.master_key_sha256.as_ref().map(|_| "<redacted>"),
            )
            .field("end_user_tracking", &self.end_user_tracking)
            .field("metadata_labels", &self.metadata_labels)
            .field("tag_labels", &self.tag_labels)
            .field("emit_stream_label", &self.emit_stream_label)
            .field("metric_filter", &self.metric_filter)
            .field("keys", &self.keys)
            .field("identity_headers", &self.identity_headers)
            .field("limits", &self.limits)
            .field("inject_stream_usage", &self.inject_stream_usage)
            .field("metric_names", &self.metric_names)
            .field("alerting_general_settings (keys)", &alerting)
            .field("alerting", &self.alerting)
            .field("environment_variables (names)", &env_names)
            .field("cooldowns", &self.cooldowns)
            .field("logging", &self.logging)
            .field("spend", &self.spend)
            .finish()
    }
}

/// One `model_list` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deployment {
    /// `model_name`: the model group clients ask for (may contain `*` wildcards).
    pub model_name: String,
    /// `litellm_params.model` as written, e.g. `openai/gpt-4o`.
    pub litellm_model: String,
    /// The model without its provider prefix, e.g. `gpt-4o`.
    pub model: String,
    /// `litellm_params.custom_llm_provider`, else the prefix before the first `/` of the model,
    /// else `openai`.
    pub provider: String,
    /// `litellm_params.api_base`.
    pub api_base: Option<String>,
    /// `model_info.id`.
    pub model_id: Option<String>,
    /// `litellm_params.rpm` (else `model_info.rpm`).
    pub rpm: Option<u64>,
    /// `litellm_params.tpm` (else `model_info.tpm`).
    pub tpm: Option<u64>,
    /// `litellm_params.region_name`, else `vertex_location`, else `aws_region_name`.
    pub region: Option<String>,
    /// The prices the deployment sets (`litellm_params` / `model_info` `*_cost_per_token`,
    /// `base_model`).
    pub prices: DeploymentPrices,
    /// Its per-token rates (the built-in table's for its model, its own over them), resolved
    /// once; `None` for a wildcard deployment (priced per requested model) or no price known.
    pub rates: Option<Rates>,
}

impl Deployment {
    /// The rates a request to this deployment for `model` bills at.
    pub fn rates_for(&self, model: &str) -> Option<Rates> {
        if self.model.contains('*') {
            self.prices.rates(model, &self.provider)
        } else {
            self.rates.clone()
        }
    }
}

/// A `custom_prometheus_metadata_labels` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataLabel {
    /// The Prometheus label name: the configured key with `.` replaced by `_`.
    pub label: String,
    /// Keys to follow inside the request's `metadata` (a leading `metadata.` removed).
    pub path: Vec<String>,
}

/// A `custom_prometheus_tags` entry: the label is `"true"` when a request tag matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagLabel {
    /// The Prometheus label name, LiteLLM's sanitized `tag_<tag>`.
    pub label: String,
    /// The configured tag; `*` matches any run of characters.
    pub pattern: String,
}

impl TagLabel {
    /// Whether a request tag matches: exactly, or as a `*` glob over the whole tag.
    pub fn matches(&self, tag: &str) -> bool {
        tag == self.pattern || (self.pattern.contains('*') && glob_match(&self.pattern, tag))
    }
}

/// `prometheus_metrics_config`: which metrics are emitted, and with which labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricFilter {
    /// Enabled metric names, sorted (both spellings of the renamed headroom gauges).
    enabled: Vec<String>,
    /// Per-metric `include_labels` (the last group naming a metric wins, as in LiteLLM).
    include: HashMap<String, Vec<String>>,
}

impl MetricFilter {
    /// Whether `metric` (LiteLLM's name, without `_total`) is listed in some group.
    pub fn enabled(&self, metric: &str) -> bool {
        self.enabled
            .binary_search_by(|m| m.as_str().cmp(metric))
            .is_ok()
    }

    /// The labels to keep for `metric`, when its group lists `include_labels`; `None` keeps all.
    pub fn include_labels(&self, metric: &str) -> Option<&[String]> {
        self.include.get(metric).map(Vec::as_slice)
    }
}

/// The caller-identity fields a request can carry beside its key: used both for the trusted
/// header names configured in `telemetry_settings.identity_headers` and for the values read from
/// those headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentityFields {
    pub team: Option<String>,
    pub team_alias: Option<String>,
    pub user: Option<String>,
    pub user_email: Option<String>,
    pub api_key_alias: Option<String>,
    pub end_user: Option<String>,
    pub org_id: Option<String>,
    pub org_alias: Option<String>,
}

/// Request headers (lowercase names) whose values the filter trusts as the caller's identity,
/// e.g. set by an authenticating proxy in front of Envoy. `None`: not read.
pub type IdentityHeaders = IdentityFields;

impl IdentityFields {
    /// Reads each configured header through `get` (a field with no header stays `None`).
    pub fn read(&self, get: impl Fn(&str) -> Option<String>) -> IdentityFields {
        let from = |name: &Option<String>| name.as_deref().and_then(&get);
        IdentityFields {
            team: from(&self.team),
            team_alias: from(&self.team_alias),
            user: from(&self.user),
            user_email: from(&self.user_email),
            api_key_alias: from(&self.api_key_alias),
            end_user: from(&self.end_user),
            org_id: from(&self.org_id),
            org_alias: from(&self.org_alias),
        }
    }
}

/// What the filter knows about one API key (`telemetry_settings.keys`, read from LiteLLM's key
/// fields: `key_alias` → `api_key_alias`, `team_id` → `team`, `user_id` → `user`).
pub type KeyInfo = IdentityFields;

/// Bounds on memory and work (`telemetry_settings.*`, each a positive integer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest JSON value (usage, metadata, error) kept while scanning a body.
    pub max_capture_bytes: usize,
    /// Label sets per metric per VM before new ones fold into the overflow value.
    pub max_series_per_metric: usize,
    /// Distinct values per label key per VM before new ones fold into the overflow value.
    pub max_values_per_label: usize,
    /// Longer label values are cut (on a UTF-8 boundary).
    pub max_label_value_bytes: usize,
    /// How often aggregated metrics are written to Envoy's stats.
    pub metrics_flush_interval_ms: u64,
    /// Entries of the raw-key → hash cache.
    pub max_tracked_keys: usize,
    /// New Envoy stats defined per second, across every worker: each costs the worker that
    /// defines it a run of every `stats_tags` regex (see the metrics module).
    pub max_new_stats_per_second: usize,
}

/// Default of `telemetry_settings.max_new_stats_per_second` (README: the measurement behind it).
pub const DEFAULT_NEW_STATS_PER_SECOND: usize = 200;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_capture_bytes: 65_536,
            max_series_per_metric: 2_000,
            max_values_per_label: 500,
            max_label_value_bytes: 256,
            metrics_flush_interval_ms: 1_000,
            max_tracked_keys: 1_024,
            max_new_stats_per_second: DEFAULT_NEW_STATS_PER_SECOND,
        }
    }
}

impl Config {
    /// Whether `general_settings.alerting` names a channel (`slack`, `webhook`).
    pub fn alerting_enabled(&self) -> bool {
        self.alerting.is_on()
    }

    /// The deployment serving `requested_model`: an exact `model_name` first (among several
    /// with that name, the one whose `api_base` host is `upstream_host`, else the first), then
    /// wildcard `model_name`s (`*`, `openai/*`, `gpt-4*`), the most specific pattern (most
    /// literal characters) first, with the same host preference.
    pub fn find_deployment(
        &self,
        requested_model: &str,
        upstream_host: Option<&str>,
    ) -> Option<&Deployment> {
        let exact = self
            .deployments
            .iter()
            .filter(|d| d.model_name == requested_model);
        if let Some(d) = pick_by_host(exact, upstream_host) {
            return Some(d);
        }
        let best = self
            .deployments
            .iter()
            .filter(|d| d.model_name.contains('*') && glob_match(&d.model_name, requested_model))
            .map(|d| literal_len(&d.model_name))
            .max()?;
        let candidates = self.deployments.iter().filter(|d| {
            d.model_name.contains('*')
                && literal_len(&d.model_name) == best
                && glob_match(&d.model_name, requested_model)
        });
        pick_by_host(candidates, upstream_host)
    }

    /// The variable `name`: the document's `environment_variables` first, then `env` (the VM's
    /// environment), as LiteLLM resolves it.
    pub fn env_var(&self, name: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        self.environment_variables
            .get(name)
            .cloned()
            .or_else(|| env(name))
    }

    /// `value` with an `os.environ/NAME` reference resolved through [`Config::env_var`] (`None`
    /// when the variable is not set); any other value as it is. For settings copied unresolved,
    /// such as the URLs of `alert_to_webhook_url`.
    pub fn resolve_env_ref(
        &self,
        value: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        match value.strip_prefix("os.environ/") {
            Some(name) if !name.is_empty() => self.env_var(name, env),
            Some(_) => None,
            None => Some(value.to_owned()),
        }
    }

    /// Whether LiteLLM would emit `metric` under this configuration.
    pub fn metric_enabled(&self, metric: &str) -> bool {
        self.metric_filter
            .as_ref()
            .is_none_or(|f| f.enabled(metric))
    }
}

fn literal_len(pattern: &str) -> usize {
    pattern.chars().filter(|&c| c != '*').count()
}

fn pick_by_host<'a>(
    mut candidates: impl Iterator<Item = &'a Deployment>,
    upstream_host: Option<&str>,
) -> Option<&'a Deployment> {
    let first = candidates.next()?;
    let second = candidates.next();
    // One deployment for the name (the common case): nothing to choose, no host to parse.
    let (Some(second), Some(host)) = (second, upstream_host) else {
        return Some(first);
    };
    let mut candidates = std::iter::once(second).chain(candidates);
    if first
        .api_base
        .as_deref()
        .is_some_and(|b| host_matches(b, host))
    {
        return Some(first);
    }
    Some(
        candidates
            .find(|d| d.api_base.as_deref().is_some_and(|b| host_matches(b, host)))
            .unwrap_or(first),
    )
}

/// `host[:port]` of a URL (userinfo dropped).
fn url_authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    auth.rsplit_once('@').map_or(auth, |(_, h)| h)
}

/// Splits `host[:port]` (IPv6 in brackets) into host and optional port.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(close) = authority.rfind(']') {
        let (h, p) = authority.split_at(close + 1);
        return (h, p.strip_prefix(':'));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (authority, None),
    }
}

/// Whether `api_base`'s host is `upstream` (`host` or `host:port`); ports are compared only
/// when both sides name one.
fn host_matches(api_base: &str, upstream: &str) -> bool {
    let (bh, bp) = split_port(url_authority(api_base));
    let (uh, up) = split_port(upstream.trim());
    bh.eq_ignore_ascii_case(uh)
        && match (bp, up) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

/// Whole-string match of `pattern` where `*` matches any run of characters (LiteLLM turns `*`
/// into `.*` in an anchored regex).
fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// LiteLLM's label name for a `custom_prometheus_tags` entry: `tag_<tag>` with every character
/// outside `[a-zA-Z0-9_]` replaced by `_`, runs of `_` collapsed and trailing `_` removed
/// (`User-Agent: curl/*` → `tag_User_Agent_curl`).
pub fn tag_label_name(tag: &str) -> String {
    let mut out = String::with_capacity(tag.len() + 4);
    for c in "tag_".chars().chain(tag.chars()) {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Lowercase hex SHA-256 (LiteLLM's `hash_token`).
fn sha256_hex(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(text.as_bytes()) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Parsing

const TELEMETRY_KEYS: &[&str] = &[
    "keys",
    "identity_headers",
    "inject_stream_usage",
    "on_invalid_config",
    "max_capture_bytes",
    "max_series_per_metric",
    "max_values_per_label",
    "max_label_value_bytes",
    "metrics_flush_interval_ms",
    "max_tracked_keys",
    "max_new_stats_per_second",
    "metric_names",
    // Read by `logging::settings`.
    "logging",
    // Budgets (`spend::settings::TELEMETRY_SETTINGS_KEYS`).
    "teams",
    "users",
    "end_users",
    "enforce_budgets",
    "max_budget_holders",
];
const KEY_ENTRY_KEYS: &[&str] = &[
    "api_key",
    "hashed_api_key",
    "key_alias",
    "team_id",
    "team_alias",
    "user_id",
    "user_email",
    "org_id",
    "org_alias",
    // Budgets (`spend::settings::KEY_ENTRY_KEYS`).
    "max_budget",
    "soft_budget",
    "budget_duration",
    "budget_reset_at",
];
const IDENTITY_HEADER_KEYS: &[&str] = &[
    "team",
    "team_alias",
    "user",
    "user_email",
    "api_key_alias",
    "end_user",
    "org_id",
    "org_alias",
];
const ALERTING_GENERAL_KEYS: &[&str] = &[
    "alerting",
    "alerting_threshold",
    "alert_types",
    "alert_to_webhook_url",
    "alerting_args",
    // Ours: webhook host → Envoy cluster name (e.g. Istio's `outbound|443||hooks.slack.com`).
    "webhook_clusters",
];
const ALERTING_LITELLM_KEYS: &[&str] =
    &["redact_messages_in_exceptions", "turn_off_message_logging"];

/// The two headroom gauges LiteLLM's release renamed (`..._metric`); the filter emits the
/// release's name, so a filter naming the older spelling covers it too.
const METRIC_ALIASES: &[(&str, &str)] = &[
    (
        "litellm_remaining_requests",
        "litellm_remaining_requests_metric",
    ),
    (
        "litellm_remaining_tokens",
        "litellm_remaining_tokens_metric",
    ),
];

/// Parses the plugin configuration. `json` may be empty (all defaults); `env` looks up
/// environment variables for `os.environ/NAME` values.
pub fn parse(json: &[u8], env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(Loaded::default());
    }
    let root: Value =
        serde_json::from_slice(json).map_err(|e| err("config", format!("invalid JSON: {e}")))?;
    let root = match root {
        Value::Null => return Ok(Loaded::default()),
        Value::Object(m) => m,
        other => return Err(type_err("config", "an object", &other)),
    };
    let mut p = Parser {
        env,
        env_vars: HashMap::new(),
        ignored: Vec::new(),
        warnings: RefCell::new(Vec::new()),
        key_budgets: Vec::new(),
        spend_warnings: Vec::new(),
    };
    let mut config = Config::default();

    if let Some(v) = root.get("environment_variables") {
        p.environment_variables(v)?;
    }
    if let Some(v) = root.get("model_list") {
        config.deployments = p.model_list(v)?;
        let prices = spend_settings::model_list_prices(v, &mut p.spend_warnings)?;
        for (d, prices) in config.deployments.iter_mut().zip(prices) {
            if !d.model.contains('*') {
                d.rates = prices.rates(&d.model, &d.provider);
            }
            d.prices = prices;
        }
    }
    if let Some(v) = root.get("litellm_settings") {
        p.litellm_settings(v, &mut config)?;
    }
    if let Some(v) = root.get("general_settings") {
        p.general_settings(v, &mut config)?;
    }
    if let Some(v) = root.get("telemetry_settings") {
        p.telemetry_settings(v, &mut config)?;
    }
    let logging = {
        let env_vars = &p.env_vars;
        let lookup = |name: &str| env_vars.get(name).cloned().or_else(|| env(name));
        crate::logging::settings::parse(&root, &lookup, &logging_cluster_overrides(&root))?
    };
    config.logging = logging.settings;
    config.spend = spend_settings::parse(&root, &p.key_budgets)?;
    config.spend.warnings.append(&mut p.spend_warnings);
    for (k, v) in &root {
        match k.as_str() {
            "environment_variables"
            | "model_list"
            | "litellm_settings"
            | "general_settings"
            | "telemetry_settings" => {}
            k if crate::logging::settings::ROOT_KEYS.contains(&k) => {}
            "router_settings" => match v {
                Value::Object(m) => {
                    config.cooldowns = router_cooldowns(m)?;
                    p.ignored.extend(
                        m.keys()
                            .filter(|k| !ROUTER_COOLDOWN_KEYS.contains(&k.as_str()))
                            .filter(|k| !spend_settings::ROUTER_SETTINGS_KEYS.contains(&k.as_str()))
                            .map(|k| format!("router_settings.{k}")),
                    );
                }
                Value::Null => {}
                _ => p.ignored.push("router_settings".to_owned()),
            },
            _ => p.ignored.push(k.clone()),
        }
    }
    config.environment_variables = p.env_vars;
    // Last, as the alerting settings may name `environment_variables`.
    let alerting = {
        let env_of_config = |name: &str| config.env_var(name, env);
        crate::alerts::parse_alerting(&config.alerting_general_settings, &env_of_config).map_err(
            |e| ConfigError {
                path: e.path,
                message: e.message,
            },
        )?
    };
    config.alerting = alerting;
    Ok(Loaded {
        config,
        ignored: p.ignored,
        warnings: {
            let mut w = p.warnings.into_inner();
            w.extend(logging.warnings);
            w
        },
    })
}

/// The `router_settings` keys the deployment health model honours (see [`crate::health`]).
const ROUTER_COOLDOWN_KEYS: [&str; 4] = [
    "disable_cooldowns",
    "allowed_fails",
    "cooldown_time",
    "allowed_fails_policy",
];

/// `router_settings`' cooldown keys, as LiteLLM's `Router` reads them.
fn router_cooldowns(m: &Map<String, Value>) -> Result<CooldownSettings, ConfigError> {
    let path = |k: &str| format!("router_settings.{k}");
    let mut c = CooldownSettings::default();
    if let Some(v) = m.get("disable_cooldowns") {
        c.disable_cooldowns = boolean(v, &path("disable_cooldowns"), false)?;
    }
    if let Some(v) = m.get("allowed_fails") {
        c.allowed_fails =
            non_negative(v, &path("allowed_fails"))?.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    }
    match m.get("cooldown_time") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_f64() {
            // LiteLLM: `cooldown_time or DEFAULT_COOLDOWN_TIME_SECONDS`, so 0 is the default.
            Some(secs) if secs > 0.0 && secs.is_finite() => c.cooldown_ms = (secs * 1000.0) as u64,
            Some(0.0) => {}
            _ => return Err(type_err(&path("cooldown_time"), "a non-negative number", v)),
        },
    }
    match m.get("allowed_fails_policy") {
        None | Some(Value::Null) => {}
        Some(Value::Object(policy)) => {
            let mut out = Vec::new();
            for (field, n) in policy {
                let at = format!("router_settings.allowed_fails_policy.{field}");
                let Some((class, _)) = POLICY_CLASSES.iter().find(|(_, f)| f == field) else {
                    let known: Vec<&str> = POLICY_CLASSES.iter().map(|(_, f)| *f).collect();
                    return Err(err(
                        &at,
                        format!("unknown field, expected one of {}", known.join(", ")),
                    ));
                };
                if let Some(n) = non_negative(n, &at)? {
                    out.push(((*class).to_owned(), u32::try_from(n).unwrap_or(u32::MAX)));
                }
            }
            c.allowed_fails_policy = Some(out);
        }
        Some(v) => return Err(type_err(&path("allowed_fails_policy"), "an object", v)),
    }
    Ok(c)
}

/// `general_settings.webhook_clusters` (host → Envoy cluster) for the logging endpoints, read
/// leniently: the alerts parser refuses a malformed one when alerting is on.
fn logging_cluster_overrides(root: &Map<String, Value>) -> HashMap<String, String> {
    root.get("general_settings")
        .and_then(|g| g.get("webhook_clusters"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(host, c)| {
            let c = c.as_str()?.trim();
            (!c.is_empty()).then(|| (host.trim().to_ascii_lowercase(), c.to_owned()))
        })
        .collect()
}

fn err(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// `number 3`, `boolean true`, `string`, `array`, ... (string contents are never shown: a
/// misplaced value may be a secret).
fn describe(v: &Value, secret: bool) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) if !secret => format!("boolean {b}"),
        Value::Bool(_) => "boolean".to_owned(),
        Value::Number(n) if !secret => format!("number {n}"),
        Value::Number(_) => "number".to_owned(),
        Value::String(_) => "string".to_owned(),
        Value::Array(_) => "array".to_owned(),
        Value::Object(_) => "object".to_owned(),
    }
}

fn type_err(path: &str, expected: &str, v: &Value) -> ConfigError {
    err(
        path,
        format!("expected {expected}, got {}", describe(v, false)),
    )
}

fn key_path(parent: &str, key: &str) -> String {
    format!("{parent}.{key}")
}

fn index_path(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ConfigError> {
    v.as_object().ok_or_else(|| type_err(path, "an object", v))
}

/// An object, or `null` read as empty.
fn obj_or_null<'a>(
    v: &'a Value,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, ConfigError> {
    match v {
        Value::Null => Ok(None),
        _ => obj(v, path).map(Some),
    }
}

fn array<'a>(v: &'a Value, path: &str) -> Result<&'a [Value], ConfigError> {
    match v {
        Value::Null => Ok(&[]),
        Value::Array(a) => Ok(a),
        _ => Err(type_err(path, "a list", v)),
    }
}

fn boolean(v: &Value, path: &str, default: bool) -> Result<bool, ConfigError> {
    match v {
        Value::Null => Ok(default),
        Value::Bool(b) => Ok(*b),
        _ => Err(type_err(path, "a boolean", v)),
    }
}

fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, ConfigError> {
    v.as_str().ok_or_else(|| type_err(path, "a string", v))
}

fn string_list(v: &Value, path: &str) -> Result<Vec<String>, ConfigError> {
    array(v, path)?
        .iter()
        .enumerate()
        .map(|(i, s)| string(s, &index_path(path, i)).map(str::to_owned))
        .collect()
}

fn non_negative(v: &Value, path: &str) -> Result<Option<u64>, ConfigError> {
    match v {
        Value::Null => Ok(None),
        _ => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| type_err(path, "a non-negative integer", v)),
    }
}

fn positive(v: &Value, path: &str) -> Result<u64, ConfigError> {
    match v.as_u64() {
        Some(n) if n > 0 => Ok(n),
        _ => Err(type_err(path, "a positive integer", v)),
    }
}

fn positive_usize(v: &Value, path: &str) -> Result<usize, ConfigError> {
    let n = positive(v, path)?;
    usize::try_from(n).map_err(|_| err(path, format!("must be at most {}", usize::MAX)))
}

struct Parser<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    /// `environment_variables` of the document.
    env_vars: HashMap<String, String>,
    ignored: Vec<String>,
    /// [`Loaded::warnings`] (a cell: resolving happens behind shared borrows of the parser).
    warnings: RefCell<Vec<String>>,
    /// `telemetry_settings.keys[]` budgets by key hash, for `spend::settings::parse`.
    key_budgets: Vec<(String, BudgetSpec)>,
    /// What spend accepted with a reservation (prices not used, rounding).
    spend_warnings: Vec<String>,
}

/// What an unset variable means where it is referenced, for the warning that names it.
const READS_UNSET: &str = "read as unset";

impl Parser<'_> {
    /// Resolves `os.environ/NAME` (the document's `environment_variables` first, then the
    /// process environment); any other string is returned as it is. A variable that is not set
    /// is `None`, as LiteLLM's `get_secret` returns it, with a warning saying what that means
    /// at `path` (`consequence`).
    fn resolve(&self, s: &str, path: &str, consequence: &str) -> Option<String> {
        let Some(name) = s.strip_prefix("os.environ/") else {
            return Some(s.to_owned());
        };
        if let Some(v) = self.env_vars.get(name) {
            return Some(v.clone());
        }
        if let Some(v) = (!name.is_empty()).then(|| (self.env)(name)).flatten() {
            return Some(v);
        }
        let what = if name.is_empty() {
            "os.environ/ names no variable".to_owned()
        } else {
            format!("environment variable {name} is not set")
        };
        self.warnings
            .borrow_mut()
            .push(format!("{path}: {what}: {consequence}"));
        None
    }

    /// An optional string that may be an `os.environ/` reference (an unset variable reads as
    /// absent).
    fn opt_string(
        &self,
        m: &Map<String, Value>,
        key: &str,
        parent: &str,
    ) -> Result<Option<String>, ConfigError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let path = key_path(parent, key);
                Ok(self.resolve(string(v, &path)?, &path, READS_UNSET))
            }
        }
    }

    /// A secret string (`os.environ/` allowed); type errors do not show the value. An unset
    /// variable or an empty value is `None` (LiteLLM treats both as no value), with a warning.
    fn secret(
        &self,
        v: &Value,
        path: &str,
        consequence: &str,
    ) -> Result<Option<String>, ConfigError> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => match self.resolve(s, path, consequence) {
                Some(s) if s.is_empty() => {
                    self.warnings
                        .borrow_mut()
                        .push(format!("{path}: empty: {consequence}"));
                    Ok(None)
                }
                other => Ok(other),
            },
            _ => Err(err(
                path,
                format!("expected a string, got {}", describe(v, true)),
            )),
        }
    }

    fn environment_variables(&mut self, v: &Value) -> Result<(), ConfigError> {
        let Some(m) = obj_or_null(v, "environment_variables")? else {
            return Ok(());
        };
        for (k, v) in m {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
                Value::Null => continue,
                _ => {
                    let path = key_path("environment_variables", k);
                    return Err(err(
                        &path,
                        format!("expected a string, got {}", describe(v, true)),
                    ));
                }
            };
            self.env_vars.insert(k.clone(), value);
        }
        Ok(())
    }

    fn model_list(&mut self, v: &Value) -> Result<Vec<Deployment>, ConfigError> {
        let mut out = Vec::new();
        for (i, entry) in array(v, "model_list")?.iter().enumerate() {
            out.extend(self.deployment(entry, &index_path("model_list", i))?);
        }
        Ok(out)
    }

    /// One `model_list` entry; `None` when its model is an unset variable (a deployment that
    /// serves no known model: requests for its group are labelled from the traffic).
    fn deployment(&self, v: &Value, path: &str) -> Result<Option<Deployment>, ConfigError> {
        let m = obj(v, path)?;
        let model_name = match m.get("model_name") {
            Some(v) => string(v, &key_path(path, "model_name"))?.to_owned(),
            None => {
                return Err(err(
                    &key_path(path, "model_name"),
                    "required key is missing",
                ))
            }
        };
        let lp_path = key_path(path, "litellm_params");
        let lp = match m.get("litellm_params") {
            Some(v) => obj(v, &lp_path)?,
            None => return Err(err(&lp_path, "required key is missing")),
        };
        let model_path = key_path(&lp_path, "model");
        let litellm_model = match lp.get("model") {
            None | Some(Value::Null) => return Err(err(&model_path, "required key is missing")),
            Some(v) => match self.resolve(
                string(v, &model_path)?,
                &model_path,
                "the deployment is left out",
            ) {
                Some(s) if !s.is_empty() => s,
                Some(_) => return Err(err(&model_path, "must not be empty")),
                None => return Ok(None),
            },
        };
        let custom = self
            .opt_string(lp, "custom_llm_provider", &lp_path)?
            .filter(|s| !s.is_empty());
        let (provider, model) = match (custom, litellm_model.split_once('/')) {
            (Some(c), Some((prefix, rest))) if prefix == c => (c, rest.to_owned()),
            (Some(c), _) => (c, litellm_model.clone()),
            (None, Some((prefix, rest))) if !prefix.is_empty() => {
                (prefix.to_owned(), rest.to_owned())
            }
            (None, _) => ("openai".to_owned(), litellm_model.clone()),
        };
        // An unset variable labels `api_base="None"`, as LiteLLM prints the None it reads.
        let api_base = match lp.get("api_base") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let path = key_path(&lp_path, "api_base");
                Some(
                    self.resolve(string(v, &path)?, &path, "api_base reads None")
                        .unwrap_or_else(|| "None".to_owned()),
                )
            }
        }
        .filter(|s| !s.is_empty());
        let mut region = None;
        for key in ["region_name", "vertex_location", "aws_region_name"] {
            if let Some(r) = self
                .opt_string(lp, key, &lp_path)?
                .filter(|s| !s.is_empty())
            {
                region = Some(r);
                break;
            }
        }
        let info_path = key_path(path, "model_info");
        let info = match m.get("model_info") {
            Some(v) => obj_or_null(v, &info_path)?,
            None => None,
        };
        let model_id = match info.and_then(|i| i.get("id")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(other) => return Err(type_err(&key_path(&info_path, "id"), "a string", other)),
        };
        let limit = |key: &str| -> Result<Option<u64>, ConfigError> {
            if let Some(n) = non_negative(
                lp.get(key).unwrap_or(&Value::Null),
                &key_path(&lp_path, key),
            )? {
                return Ok(Some(n));
            }
            match info.and_then(|i| i.get(key)) {
                Some(v) => non_negative(v, &key_path(&info_path, key)),
                None => Ok(None),
            }
        };
        Ok(Some(Deployment {
            model_name,
            rpm: limit("rpm")?,
            tpm: limit("tpm")?,
            litellm_model,
            model,
            provider,
            api_base,
            model_id,
            region,
            ..Deployment::default()
        }))
    }

    fn litellm_settings(&mut self, v: &Value, config: &mut Config) -> Result<(), ConfigError> {
        const P: &str = "litellm_settings";
        let Some(m) = obj_or_null(v, P)? else {
            return Ok(());
        };
        let mut labels: Vec<(String, String)> = Vec::new(); // (label, path) for duplicate checks
        if let Some(v) = m.get("custom_prometheus_metadata_labels") {
            let path = key_path(P, "custom_prometheus_metadata_labels");
            for (i, item) in array(v, &path)?.iter().enumerate() {
                let ipath = index_path(&path, i);
                let key = string(item, &ipath)?;
                let lookup = key.strip_prefix("metadata.").unwrap_or(key);
                let parts: Vec<String> = lookup.split('.').map(str::to_owned).collect();
                if parts.iter().any(String::is_empty) {
                    return Err(err(&ipath, "empty key in the metadata path"));
                }
                let label = key.replace('.', "_");
                check_custom_label(&label, &ipath, &labels)?;
                labels.push((label.clone(), ipath));
                config
                    .metadata_labels
                    .push(MetadataLabel { label, path: parts });
            }
        }
        if let Some(v) = m.get("custom_prometheus_tags") {
            let path = key_path(P, "custom_prometheus_tags");
            for (i, item) in array(v, &path)?.iter().enumerate() {
                let ipath = index_path(&path, i);
                let tag = string(item, &ipath)?;
                if tag.is_empty() {
                    return Err(err(&ipath, "must not be empty"));
                }
                let label = tag_label_name(tag);
                check_custom_label(&label, &ipath, &labels)?;
                labels.push((label.clone(), ipath));
                config.tag_labels.push(TagLabel {
                    label,
                    pattern: tag.to_owned(),
                });
            }
        }
        if let Some(v) = m.get("prometheus_emit_stream_label") {
            config.emit_stream_label =
                boolean(v, &key_path(P, "prometheus_emit_stream_label"), false)?;
        }
        if let Some(v) = m.get("enable_end_user_cost_tracking_prometheus_only") {
            config.end_user_tracking = boolean(
                v,
                &key_path(P, "enable_end_user_cost_tracking_prometheus_only"),
                false,
            )?;
        }
        if let Some(v) = m.get("prometheus_metrics_config") {
            let custom: Vec<&str> = labels.iter().map(|(l, _)| l.as_str()).collect();
            config.metric_filter =
                self.metric_filter(v, &key_path(P, "prometheus_metrics_config"), &custom)?;
        }
        for (k, v) in m {
            match k.as_str() {
                "custom_prometheus_metadata_labels"
                | "custom_prometheus_tags"
                | "prometheus_emit_stream_label"
                | "enable_end_user_cost_tracking_prometheus_only"
                | "prometheus_metrics_config" => {}
                k if ALERTING_LITELLM_KEYS.contains(&k) => {
                    config
                        .alerting_general_settings
                        .insert(k.to_owned(), v.clone());
                }
                // Read by `logging::settings`.
                k if crate::logging::settings::LITELLM_SETTINGS_KEYS.contains(&k) => {}
                // Read by `spend::settings::parse`.
                k if spend_settings::LITELLM_SETTINGS_KEYS.contains(&k) => {}
                _ => self.ignored.push(key_path(P, k)),
            }
        }
        Ok(())
    }

    fn metric_filter(
        &mut self,
        v: &Value,
        path: &str,
        custom: &[&str],
    ) -> Result<Option<MetricFilter>, ConfigError> {
        let groups = array(v, path)?;
        if groups.is_empty() {
            // LiteLLM: an empty config means no filtering.
            return Ok(None);
        }
        let mut filter = MetricFilter::default();
        for (gi, group) in groups.iter().enumerate() {
            let gpath = index_path(path, gi);
            let g = obj(group, &gpath)?;
            match g.get("group") {
                Some(v) => {
                    string(v, &key_path(&gpath, "group"))?;
                }
                None => return Err(err(&key_path(&gpath, "group"), "required key is missing")),
            }
            let mpath = key_path(&gpath, "metrics");
            let metrics = match g.get("metrics") {
                Some(v @ Value::Array(_)) => string_list(v, &mpath)?,
                Some(other) => return Err(type_err(&mpath, "a list", other)),
                None => return Err(err(&mpath, "required key is missing")),
            };
            let lpath = key_path(&gpath, "include_labels");
            let include = match g.get("include_labels") {
                Some(v) => string_list(v, &lpath)?,
                None => Vec::new(),
            };
            for (mi, metric) in metrics.iter().enumerate() {
                let ipath = index_path(&mpath, mi);
                if !LITELLM_METRIC_NAMES.contains(&metric.as_str()) {
                    return Err(err(&ipath, "unknown LiteLLM metric"));
                }
                let emitted = METRIC_ALIASES
                    .iter()
                    .find(|(older, _)| older == metric)
                    .map_or(metric.as_str(), |(_, release)| release);
                let family = family_by_name(emitted);
                match family {
                    Some(f) => {
                        for (li, label) in include.iter().enumerate() {
                            let known = f.labels.iter().any(|l| l.as_str() == label)
                                || custom.contains(&label.as_str())
                                || (f.id == FamilyId::ProxyTotalRequests
                                    && label == Label::Stream.as_str());
                            if !known {
                                return Err(err(
                                    &index_path(&lpath, li),
                                    format!("\"{label}\" is not a label of {metric}"),
                                ));
                            }
                        }
                    }
                    None => self.ignored.push(format!("{ipath} ({metric})")),
                }
                let mut names = vec![metric.clone()];
                if emitted != metric {
                    names.push(emitted.to_owned());
                }
                for name in names {
                    if !include.is_empty() {
                        filter.include.insert(name.clone(), include.clone());
                    }
                    filter.enabled.push(name);
                }
            }
            for k in g.keys() {
                if !matches!(k.as_str(), "group" | "metrics" | "include_labels") {
                    self.ignored.push(key_path(&gpath, k));
                }
            }
        }
        filter.enabled.sort_unstable();
        filter.enabled.dedup();
        Ok(Some(filter))
    }

    fn general_settings(&mut self, v: &Value, config: &mut Config) -> Result<(), ConfigError> {
        const P: &str = "general_settings";
        let Some(m) = obj_or_null(v, P)? else {
            return Ok(());
        };
        for (k, v) in m {
            match k.as_str() {
                "master_key" => {
                    config.master_key_sha256 = self
                        .secret(
                            v,
                            &key_path(P, "master_key"),
                            "no key is treated as the master key",
                        )?
                        .map(|k| sha256_hex(&k));
                }
                k if ALERTING_GENERAL_KEYS.contains(&k) => {
                    config
                        .alerting_general_settings
                        .insert(k.to_owned(), v.clone());
                }
                // Read by `spend::settings::parse`.
                k if spend_settings::GENERAL_SETTINGS_KEYS.contains(&k) => {}
                _ => self.ignored.push(key_path(P, k)),
            }
        }
        Ok(())
    }

    fn telemetry_settings(&mut self, v: &Value, config: &mut Config) -> Result<(), ConfigError> {
        const P: &str = "telemetry_settings";
        let Some(m) = obj_or_null(v, P)? else {
            return Ok(());
        };
        let l = &mut config.limits;
        for (k, v) in m {
            let path = key_path(P, k);
            match k.as_str() {
                "keys" => config.keys = self.keys(v, &path)?,
                "identity_headers" => config.identity_headers = identity_headers(v, &path)?,
                "inject_stream_usage" => config.inject_stream_usage = boolean(v, &path, true)?,
                // Read by the host before parsing (`InvalidConfigPolicy::of`); checked here so
                // that a misspelt value is reported rather than silently the default.
                "on_invalid_config" => {
                    let name = string(v, &path)?;
                    if InvalidConfigPolicy::from_name(name).is_none() {
                        return Err(err(
                            &path,
                            format!(
                                "unknown value {name:?}; expected one of {}",
                                InvalidConfigPolicy::NAMES.join(", ")
                            ),
                        ));
                    }
                }
                "max_capture_bytes" => l.max_capture_bytes = positive_usize(v, &path)?,
                "max_series_per_metric" => l.max_series_per_metric = positive_usize(v, &path)?,
                "max_values_per_label" => l.max_values_per_label = positive_usize(v, &path)?,
                "max_label_value_bytes" => l.max_label_value_bytes = positive_usize(v, &path)?,
                "metrics_flush_interval_ms" => l.metrics_flush_interval_ms = positive(v, &path)?,
                "max_tracked_keys" => l.max_tracked_keys = positive_usize(v, &path)?,
                "max_new_stats_per_second" => {
                    let n = positive_usize(v, &path)?;
                    let least = crate::metrics::LARGEST_FAMILY_PARTS;
                    if n < least {
                        return Err(err(&path, format!(
                            "must be at least {least}: the {least} parts of a histogram are defined together"
                        )));
                    }
                    l.max_new_stats_per_second = n;
                }
                "metric_names" => {
                    let name = string(v, &path)?;
                    config.metric_names = crate::gen_ai::Vocabulary::from_setting(name)
                        .ok_or_else(|| {
                            err(
                                &path,
                                format!("expected litellm, gen_ai (or otel) or both, got {name:?}"),
                            )
                        })?;
                }
                "logging" => {}
                // Read by `spend::settings::parse`.
                k if spend_settings::TELEMETRY_SETTINGS_KEYS.contains(&k) => {}
                _ => return Err(unknown_key(&path, TELEMETRY_KEYS)),
            }
        }
        Ok(())
    }

    fn keys(&mut self, v: &Value, path: &str) -> Result<HashMap<String, KeyInfo>, ConfigError> {
        let mut out: HashMap<String, KeyInfo> = HashMap::new();
        let mut first_index: HashMap<String, usize> = HashMap::new();
        for (i, entry) in array(v, path)?.iter().enumerate() {
            let epath = index_path(path, i);
            let m = obj(entry, &epath)?;
            for k in m.keys() {
                if !KEY_ENTRY_KEYS.contains(&k.as_str()) {
                    return Err(unknown_key(&key_path(&epath, k), KEY_ENTRY_KEYS));
                }
            }
            // A key whose variable is not set cannot match a request: the entry is left out.
            const LEFT_OUT: &str = "the entry is left out";
            let given = |k: &str| m.get(k).is_some_and(|v| !v.is_null());
            if given("api_key") == given("hashed_api_key") {
                return Err(err(
                    &epath,
                    "expected exactly one of api_key, hashed_api_key",
                ));
            }
            let raw = match m.get("api_key") {
                Some(v) => self.secret(v, &key_path(&epath, "api_key"), LEFT_OUT)?,
                None => None,
            };
            let hashed = match m.get("hashed_api_key") {
                Some(v) => {
                    let hpath = key_path(&epath, "hashed_api_key");
                    match self.secret(v, &hpath, LEFT_OUT)? {
                        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                            Some(h.to_ascii_lowercase())
                        }
                        Some(_) => {
                            return Err(err(
                                &hpath,
                                "expected 64 hexadecimal characters (a SHA-256)",
                            ))
                        }
                        None => None,
                    }
                }
                None => None,
            };
            let hash = match (raw, hashed) {
                (Some(raw), _) => sha256_hex(&raw),
                (None, Some(h)) => h,
                (None, None) => continue,
            };
            if let Some(j) = first_index.get(&hash) {
                return Err(err(&epath, format!("same key as {}", index_path(path, *j))));
            }
            let field = |key: &str| self.opt_string(m, key, &epath);
            let info = KeyInfo {
                api_key_alias: field("key_alias")?,
                team: field("team_id")?,
                team_alias: field("team_alias")?,
                user: field("user_id")?,
                user_email: field("user_email")?,
                end_user: None,
                org_id: field("org_id")?,
                org_alias: field("org_alias")?,
            };
            if let Some(budget) = BudgetSpec::parse(m, &epath, &mut self.spend_warnings)? {
                self.key_budgets.push((hash.clone(), budget));
            }
            first_index.insert(hash.clone(), i);
            out.insert(hash, info);
        }
        Ok(out)
    }
}

fn unknown_key(path: &str, expected: &[&str]) -> ConfigError {
    err(
        path,
        format!("unknown key; expected one of {}", expected.join(", ")),
    )
}

fn check_custom_label(
    label: &str,
    path: &str,
    seen: &[(String, String)],
) -> Result<(), ConfigError> {
    if !is_label_name(label) {
        return Err(err(
            path,
            format!("\"{label}\" is not a valid Prometheus label name"),
        ));
    }
    if Label::from_name(label).is_some() {
        return Err(err(
            path,
            format!("label \"{label}\" is already a LiteLLM label"),
        ));
    }
    if let Some((_, other)) = seen.iter().find(|(l, _)| l == label) {
        return Err(err(
            path,
            format!("label \"{label}\" is already defined by {other}"),
        ));
    }
    Ok(())
}

fn identity_headers(v: &Value, path: &str) -> Result<IdentityHeaders, ConfigError> {
    let mut h = IdentityHeaders::default();
    let Some(m) = obj_or_null(v, path)? else {
        return Ok(h);
    };
    for (k, v) in m {
        let kpath = key_path(path, k);
        let slot = match k.as_str() {
            "team" => &mut h.team,
            "team_alias" => &mut h.team_alias,
            "user" => &mut h.user,
            "user_email" => &mut h.user_email,
            "api_key_alias" => &mut h.api_key_alias,
            "end_user" => &mut h.end_user,
            "org_id" => &mut h.org_id,
            "org_alias" => &mut h.org_alias,
            _ => return Err(unknown_key(&kpath, IDENTITY_HEADER_KEYS)),
        };
        *slot = match v {
            Value::Null => None,
            _ => {
                let name = string(v, &kpath)?.trim();
                if !is_header_name(name) {
                    return Err(err(
                        &kpath,
                        format!("\"{name}\" is not a valid HTTP header name"),
                    ));
                }
                Some(name.to_ascii_lowercase())
            }
        };
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn load(json: &str) -> Loaded {
        parse(json.as_bytes(), &no_env).unwrap()
    }

    fn error(json: &str) -> String {
        parse(json.as_bytes(), &no_env).unwrap_err().to_string()
    }

    #[test]
    fn empty_and_null_give_defaults() {
        for text in ["", "  \n", "null", "{}"] {
            let l = load(text);
            assert!(l.ignored.is_empty());
            let c = l.config;
            assert!(c.deployments.is_empty());
            assert_eq!(c.master_key_sha256, None);
            assert!(!c.end_user_tracking && !c.emit_stream_label);
            assert!(c.inject_stream_usage);
            assert!(c.metric_filter.is_none());
            assert!(c.metric_enabled("litellm_requests_metric"));
            assert_eq!(c.identity_headers, IdentityHeaders::default());
            assert_eq!(c.limits, Limits::default());
            assert!(c.alerting_general_settings.is_empty());
        }
        let d = Limits::default();
        assert_eq!(
            (d.max_capture_bytes, d.max_series_per_metric),
            (65_536, 2_000)
        );
        assert_eq!(
            (
                d.max_values_per_label,
                d.max_label_value_bytes,
                d.metrics_flush_interval_ms,
                d.max_tracked_keys
            ),
            (500, 256, 1_000, 1_024)
        );
    }

    const FULL: &str = r#"{
      "environment_variables": {"AZURE_BASE": "https://example-eu.openai.azure.com"},
      "model_list": [
        {"model_name": "gpt-4o",
         "litellm_params": {"model": "openai/gpt-4o", "api_base": "http://127.0.0.1:18080/v1",
                            "api_key": "os.environ/OPENAI_API_KEY", "rpm": 600, "tpm": 90000},
         "model_info": {"id": "gpt-4o-fake"}},
        {"model_name": "gpt-4o",
         "litellm_params": {"model": "azure/gpt-4o-eu", "api_base": "os.environ/AZURE_BASE",
                            "api_version": "2024-10-21", "region_name": "eu"},
         "model_info": {"id": 7, "tpm": 1000}},
        {"model_name": "claude-*",
         "litellm_params": {"model": "claude-3-5-sonnet", "custom_llm_provider": "anthropic",
                            "vertex_location": "us-east5"}},
        {"model_name": "*", "litellm_params": {"model": "openai/*"}}
      ],
      "litellm_settings": {
        "callbacks": ["prometheus"],
        "success_callback": ["prometheus"],
        "custom_prometheus_metadata_labels": ["metadata.app.env", "team_tier"],
        "custom_prometheus_tags": ["prod", "User-Agent: curl/*"],
        "prometheus_emit_stream_label": true,
        "enable_end_user_cost_tracking_prometheus_only": true,
        "redact_messages_in_exceptions": true,
        "prometheus_metrics_config": [
          {"group": "tokens", "metrics": ["litellm_input_tokens_metric", "litellm_spend_metric"],
           "include_labels": ["model", "hashed_api_key", "metadata_app_env", "tag_prod"]},
          {"group": "all", "metrics": ["litellm_proxy_total_requests_metric",
                                       "litellm_remaining_requests_metric"]}
        ]
      },
      "general_settings": {
        "master_key": "os.environ/LITELLM_MASTER_KEY",
        "database_url": "postgres://x",
        "alerting": ["slack"],
        "alerting_threshold": 300,
        "alert_to_webhook_url": {"llm_exceptions": "os.environ/SLACK_URL"}
      },
      "router_settings": {"routing_strategy": "simple-shuffle"},
      "guardrails": [],
      "telemetry_settings": {
        "keys": [
          {"api_key": "sk-demo", "key_alias": "demo-key", "team_id": "team-a",
           "team_alias": "Team A", "user_id": "alice", "user_email": "alice@example.com"},
          {"hashed_api_key": "88DC28D0F030C55ED4AB77ED8FAF098196CB1C05DF778539800C9F1243FE6B4B",
           "org_id": "org-1", "org_alias": "Org"}
        ],
        "identity_headers": {"team": "X-Team-ID", "end_user": "x-end-user", "org_alias": null},
        "inject_stream_usage": false,
        "max_capture_bytes": 2048,
        "max_series_per_metric": 10,
        "max_values_per_label": 5,
        "max_label_value_bytes": 64,
        "metrics_flush_interval_ms": 250,
        "max_tracked_keys": 8,
        "max_new_stats_per_second": 50
      }
    }"#;

    fn full_env(name: &str) -> Option<String> {
        match name {
            "LITELLM_MASTER_KEY" => Some("sk-master-secret".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn full_litellm_config() {
        let Loaded {
            config: c, ignored, ..
        } = parse(FULL.as_bytes(), &full_env).unwrap();
        assert_eq!(c.deployments.len(), 4);
        assert_eq!(
            c.deployments[0],
            Deployment {
                model_name: "gpt-4o".into(),
                litellm_model: "openai/gpt-4o".into(),
                model: "gpt-4o".into(),
                provider: "openai".into(),
                api_base: Some("http://127.0.0.1:18080/v1".into()),
                model_id: Some("gpt-4o-fake".into()),
                rpm: Some(600),
                tpm: Some(90000),
                region: None,
                prices: DeploymentPrices::default(),
                rates: crate::spend::prices::lookup("gpt-4o", Some("openai")).map(|m| m.rates),
            }
        );
        let az = &c.deployments[1];
        assert_eq!(
            (az.provider.as_str(), az.model.as_str()),
            ("azure", "gpt-4o-eu")
        );
        assert_eq!(
            az.api_base.as_deref(),
            Some("https://example-eu.openai.azure.com")
        );
        assert_eq!(az.model_id.as_deref(), Some("7"));
        assert_eq!((az.rpm, az.tpm), (None, Some(1000)));
        assert_eq!(az.region.as_deref(), Some("eu"));
        let cl = &c.deployments[2];
        assert_eq!(
            (cl.provider.as_str(), cl.model.as_str()),
            ("anthropic", "claude-3-5-sonnet")
        );
        assert_eq!(cl.region.as_deref(), Some("us-east5"));
        assert_eq!(c.deployments[3].provider, "openai");
        assert_eq!(c.deployments[3].model, "*");

        assert_eq!(
            c.master_key_sha256.as_deref(),
            Some(sha256_hex("sk-master-secret").as_str())
        );
        assert!(c.end_user_tracking && c.emit_stream_label && !c.inject_stream_usage);
        assert_eq!(
            c.metadata_labels,
            vec![
                MetadataLabel {
                    label: "metadata_app_env".into(),
                    path: vec!["app".into(), "env".into()]
                },
                MetadataLabel {
                    label: "team_tier".into(),
                    path: vec!["team_tier".into()]
                },
            ]
        );
        assert_eq!(
            c.tag_labels,
            vec![
                TagLabel {
                    label: "tag_prod".into(),
                    pattern: "prod".into()
                },
                TagLabel {
                    label: "tag_User_Agent_curl".into(),
                    pattern: "User-Agent: curl/*".into()
                },
            ]
        );

        let f = c.metric_filter.as_ref().unwrap();
        assert!(f.enabled("litellm_input_tokens_metric"));
        assert!(f.enabled("litellm_spend_metric"));
        assert!(f.enabled("litellm_proxy_total_requests_metric"));
        assert!(f.enabled("litellm_remaining_requests_metric"));
        // The filter emits the release's name; naming it enables exactly that family.
        assert!(!f.enabled("litellm_output_tokens_metric"));
        assert!(!c.metric_enabled("litellm_requests_metric"));
        assert_eq!(
            f.include_labels("litellm_input_tokens_metric").unwrap(),
            ["model", "hashed_api_key", "metadata_app_env", "tag_prod"]
        );
        assert_eq!(
            f.include_labels("litellm_proxy_total_requests_metric"),
            None
        );

        let demo = &c.keys[&sha256_hex("sk-demo")];
        assert_eq!(demo.api_key_alias.as_deref(), Some("demo-key"));
        assert_eq!(demo.team.as_deref(), Some("team-a"));
        assert_eq!(demo.team_alias.as_deref(), Some("Team A"));
        assert_eq!(demo.user.as_deref(), Some("alice"));
        assert_eq!(demo.user_email.as_deref(), Some("alice@example.com"));
        let hashed = &c.keys["88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"];
        assert_eq!(hashed.org_id.as_deref(), Some("org-1"));
        assert_eq!(hashed.api_key_alias, None);

        assert_eq!(c.identity_headers.team.as_deref(), Some("x-team-id"));
        assert_eq!(c.identity_headers.end_user.as_deref(), Some("x-end-user"));
        assert_eq!(c.identity_headers.org_alias, None);
        assert_eq!(
            c.limits,
            Limits {
                max_capture_bytes: 2048,
                max_series_per_metric: 10,
                max_values_per_label: 5,
                max_label_value_bytes: 64,
                metrics_flush_interval_ms: 250,
                max_tracked_keys: 8,
                max_new_stats_per_second: 50,
            }
        );
        let a = &c.alerting_general_settings;
        let keys: Vec<&str> = a.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "alert_to_webhook_url",
                "alerting",
                "alerting_threshold",
                "redact_messages_in_exceptions"
            ]
        );
        assert_eq!(
            a["alert_to_webhook_url"]["llm_exceptions"],
            "os.environ/SLACK_URL"
        );
        assert_eq!(a["alerting_threshold"], 300);

        assert_eq!(
            ignored,
            [
                "litellm_settings.prometheus_metrics_config[0].metrics[1] (litellm_spend_metric)",
                "general_settings.database_url",
                "guardrails",
                "router_settings.routing_strategy",
            ]
        );
    }

    #[test]
    fn find_deployment_prefers_exact_then_host_then_specific_wildcards() {
        let c = parse(FULL.as_bytes(), &full_env).unwrap().config;
        let id =
            |m: &str, h: Option<&str>| c.find_deployment(m, h).map(|d| d.litellm_model.as_str());
        assert_eq!(id("gpt-4o", None), Some("openai/gpt-4o"));
        assert_eq!(id("gpt-4o", Some("unknown.example")), Some("openai/gpt-4o"));
        assert_eq!(
            id("gpt-4o", Some("example-eu.openai.azure.com")),
            Some("azure/gpt-4o-eu")
        );
        assert_eq!(
            id("gpt-4o", Some("EXAMPLE-EU.openai.azure.com:443")),
            Some("azure/gpt-4o-eu")
        );
        assert_eq!(id("gpt-4o", Some("127.0.0.1:18080")), Some("openai/gpt-4o"));
        assert_eq!(id("claude-3-opus", None), Some("claude-3-5-sonnet"));
        assert_eq!(id("mistral-large", None), Some("openai/*"));

        let c = load(
            r#"{"model_list": [
              {"model_name": "openai/*", "litellm_params": {"model": "openai/*"}},
              {"model_name": "gpt-4*", "litellm_params": {"model": "openai/gpt-4-family"}},
              {"model_name": "gpt-4o*", "litellm_params": {"model": "openai/gpt-4o-family", "api_base": "http://a:1"}},
              {"model_name": "gpt-4o*", "litellm_params": {"model": "openai/gpt-4o-b", "api_base": "http://[::1]:2/v1"}}
            ]}"#,
        )
        .config;
        let id =
            |m: &str, h: Option<&str>| c.find_deployment(m, h).map(|d| d.litellm_model.as_str());
        assert_eq!(id("openai/gpt-4o", None), Some("openai/*"));
        assert_eq!(id("gpt-4-turbo", None), Some("openai/gpt-4-family"));
        assert_eq!(id("gpt-4o-mini", None), Some("openai/gpt-4o-family"));
        assert_eq!(id("gpt-4o-mini", Some("[::1]:2")), Some("openai/gpt-4o-b"));
        assert_eq!(id("gpt-4o-mini", Some("a:9")), Some("openai/gpt-4o-family"));
        assert_eq!(id("claude", None), None);
        assert_eq!(Config::default().find_deployment("gpt-4o", None), None);
    }

    #[test]
    fn glob_and_tag_labels() {
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b", "aXXbYYc"));
        assert!(glob_match("User-Agent: curl/*", "User-Agent: curl/7.68.0"));
        let t = TagLabel {
            label: tag_label_name("User-Agent: curl/*"),
            pattern: "User-Agent: curl/*".into(),
        };
        assert_eq!(t.label, "tag_User_Agent_curl");
        assert!(t.matches("User-Agent: curl/8.5.0"));
        assert!(!t.matches("User-Agent: python-requests/2.28.1"));
        let exact = TagLabel {
            label: tag_label_name("prod"),
            pattern: "prod".into(),
        };
        assert!(exact.matches("prod") && !exact.matches("production"));
        assert_eq!(tag_label_name("prod"), "tag_prod");
        assert_eq!(tag_label_name("Environment: prod"), "tag_Environment_prod");
        assert_eq!(
            tag_label_name("Service: api-gateway-v2"),
            "tag_Service_api_gateway_v2"
        );
        assert_eq!(tag_label_name("team__a--"), "tag_team_a");
        assert_eq!(tag_label_name("été"), "tag_t");
    }

    #[test]
    fn env_references() {
        let env = |n: &str| (n == "HOST").then(|| "http://h:1".to_owned());
        let json = r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m", "api_base": "os.environ/HOST"}}]}"#;
        let c = parse(json.as_bytes(), &env).unwrap().config;
        assert_eq!(c.deployments[0].api_base.as_deref(), Some("http://h:1"));
        // The document's environment_variables win over the process environment.
        let json = r#"{"environment_variables": {"HOST": "http://doc:2", "N": 5, "B": true, "Z": null},
                       "model_list": [{"model_name": "m", "litellm_params": {"model": "m", "api_base": "os.environ/HOST"}}]}"#;
        let c = parse(json.as_bytes(), &env).unwrap().config;
        assert_eq!(c.deployments[0].api_base.as_deref(), Some("http://doc:2"));
        assert_eq!(c.env_var("N", &env).as_deref(), Some("5"));
        assert_eq!(c.env_var("B", &env).as_deref(), Some("True"));
        assert_eq!(c.env_var("Z", &env), None);
        assert_eq!(
            c.resolve_env_ref("os.environ/HOST", &env).as_deref(),
            Some("http://doc:2")
        );
        assert_eq!(
            c.resolve_env_ref("https://x", &env).as_deref(),
            Some("https://x")
        );
        assert_eq!(c.resolve_env_ref("os.environ/NONE", &env), None);
        assert_eq!(
            Config::default().env_var("HOST", &env).as_deref(),
            Some("http://h:1")
        );
        // An unused api_key reference is not resolved.
        let json = r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m", "api_key": "os.environ/NOPE"}}]}"#;
        assert!(parse(json.as_bytes(), &env).is_ok());
    }

    #[test]
    fn rejections_name_the_path() {
        let cases: &[(&str, &str)] = &[
            ("[1]", "config: expected an object, got array"),
            ("{", "config: invalid JSON: EOF while parsing an object at line 1 column 1"),
            (r#"{"model_list": {}}"#, "model_list: expected a list, got object"),
            (r#"{"model_list": [3]}"#, "model_list[0]: expected an object, got number 3"),
            (r#"{"model_list": [{"litellm_params": {"model": "m"}}]}"#, "model_list[0].model_name: required key is missing"),
            (r#"{"model_list": [{"model_name": 1, "litellm_params": {}}]}"#, "model_list[0].model_name: expected a string, got number 1"),
            (r#"{"model_list": [{"model_name": "m"}]}"#, "model_list[0].litellm_params: required key is missing"),
            (r#"{"model_list": [{"model_name": "m", "litellm_params": []}]}"#, "model_list[0].litellm_params: expected an object, got array"),
            (r#"{"model_list": [{"model_name": "m", "litellm_params": {}}]}"#, "model_list[0].litellm_params.model: required key is missing"),
            (r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": ""}}]}"#, "model_list[0].litellm_params.model: must not be empty"),
            (r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m", "api_base": false}}]}"#, "model_list[0].litellm_params.api_base: expected a string, got boolean false"),
            (r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m", "rpm": -1}}]}"#, "model_list[0].litellm_params.rpm: expected a non-negative integer, got number -1"),
            (r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m"}, "model_info": {"tpm": "x"}}]}"#, "model_list[0].model_info.tpm: expected a non-negative integer, got string"),
            (r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m"}, "model_info": {"id": []}}]}"#, "model_list[0].model_info.id: expected a string, got array"),
            (r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m"}, "model_info": 1}]}"#, "model_list[0].model_info: expected an object, got number 1"),
            (r#"{"environment_variables": {"A": [1]}}"#, "environment_variables.A: expected a string, got array"),
            (r#"{"environment_variables": 2}"#, "environment_variables: expected an object, got number 2"),
            (r#"{"litellm_settings": "x"}"#, "litellm_settings: expected an object, got string"),
            (r#"{"litellm_settings": {"custom_prometheus_tags": ["prod", 3]}}"#, "litellm_settings.custom_prometheus_tags[1]: expected a string, got number 3"),
            (r#"{"litellm_settings": {"custom_prometheus_tags": "prod"}}"#, "litellm_settings.custom_prometheus_tags: expected a list, got string"),
            (r#"{"litellm_settings": {"custom_prometheus_tags": [""]}}"#, "litellm_settings.custom_prometheus_tags[0]: must not be empty"),
            (r#"{"litellm_settings": {"custom_prometheus_tags": ["a-b", "a_b"]}}"#, "litellm_settings.custom_prometheus_tags[1]: label \"tag_a_b\" is already defined by litellm_settings.custom_prometheus_tags[0]"),
            (r#"{"litellm_settings": {"custom_prometheus_metadata_labels": [true]}}"#, "litellm_settings.custom_prometheus_metadata_labels[0]: expected a string, got boolean true"),
            (r#"{"litellm_settings": {"custom_prometheus_metadata_labels": ["metadata.a..b"]}}"#, "litellm_settings.custom_prometheus_metadata_labels[0]: empty key in the metadata path"),
            (r#"{"litellm_settings": {"custom_prometheus_metadata_labels": ["metadata.app-name"]}}"#, "litellm_settings.custom_prometheus_metadata_labels[0]: \"metadata_app-name\" is not a valid Prometheus label name"),
            (r#"{"litellm_settings": {"custom_prometheus_metadata_labels": ["user"]}}"#, "litellm_settings.custom_prometheus_metadata_labels[0]: label \"user\" is already a LiteLLM label"),
            (r#"{"litellm_settings": {"prometheus_emit_stream_label": "yes"}}"#, "litellm_settings.prometheus_emit_stream_label: expected a boolean, got string"),
            (r#"{"litellm_settings": {"enable_end_user_cost_tracking_prometheus_only": 1}}"#, "litellm_settings.enable_end_user_cost_tracking_prometheus_only: expected a boolean, got number 1"),
            (r#"{"litellm_settings": {"prometheus_metrics_config": {}}}"#, "litellm_settings.prometheus_metrics_config: expected a list, got object"),
            (r#"{"litellm_settings": {"prometheus_metrics_config": [{"metrics": []}]}}"#, "litellm_settings.prometheus_metrics_config[0].group: required key is missing"),
            (r#"{"litellm_settings": {"prometheus_metrics_config": [{"group": "g"}]}}"#, "litellm_settings.prometheus_metrics_config[0].metrics: required key is missing"),
            (r#"{"litellm_settings": {"prometheus_metrics_config": [{"group": "g", "metrics": null}]}}"#, "litellm_settings.prometheus_metrics_config[0].metrics: expected a list, got null"),
            (r#"{"litellm_settings": {"prometheus_metrics_config": [{"group": "g", "metrics": ["litellm_requests_metric", "litellm_bogus"]}]}}"#, "litellm_settings.prometheus_metrics_config[0].metrics[1]: unknown LiteLLM metric"),
            (r#"{"litellm_settings": {"prometheus_metrics_config": [{"group": "g", "metrics": ["litellm_deployment_state"], "include_labels": ["api_base", "team"]}]}}"#, "litellm_settings.prometheus_metrics_config[0].include_labels[1]: \"team\" is not a label of litellm_deployment_state"),
            (r#"{"litellm_settings": {"prometheus_metrics_config": [{"group": "g", "metrics": ["litellm_requests_metric"], "include_labels": "model"}]}}"#, "litellm_settings.prometheus_metrics_config[0].include_labels: expected a list, got string"),
            (r#"{"general_settings": {"master_key": 12345}}"#, "general_settings.master_key: expected a string, got number"),
            (r#"{"telemetry_settings": []}"#, "telemetry_settings: expected an object, got array"),
            (r#"{"telemetry_settings": {"max_capture": 1}}"#, "telemetry_settings.max_capture: unknown key; expected one of keys, identity_headers, inject_stream_usage, on_invalid_config, max_capture_bytes, max_series_per_metric, max_values_per_label, max_label_value_bytes, metrics_flush_interval_ms, max_tracked_keys, max_new_stats_per_second, metric_names, logging, teams, users, end_users, enforce_budgets, max_budget_holders"),
            (r#"{"telemetry_settings": {"max_capture_bytes": 0}}"#, "telemetry_settings.max_capture_bytes: expected a positive integer, got number 0"),
            (r#"{"telemetry_settings": {"max_series_per_metric": -3}}"#, "telemetry_settings.max_series_per_metric: expected a positive integer, got number -3"),
            (r#"{"telemetry_settings": {"metrics_flush_interval_ms": 1.5}}"#, "telemetry_settings.metrics_flush_interval_ms: expected a positive integer, got number 1.5"),
            (r#"{"telemetry_settings": {"max_capture_bytes": "1k"}}"#, "telemetry_settings.max_capture_bytes: expected a positive integer, got string"),
            (r#"{"telemetry_settings": {"max_values_per_label": 0}}"#, "telemetry_settings.max_values_per_label: expected a positive integer, got number 0"),
            (r#"{"telemetry_settings": {"max_label_value_bytes": null}}"#, "telemetry_settings.max_label_value_bytes: expected a positive integer, got null"),
            (r#"{"telemetry_settings": {"max_tracked_keys": 0}}"#, "telemetry_settings.max_tracked_keys: expected a positive integer, got number 0"),
            (r#"{"telemetry_settings": {"max_new_stats_per_second": 10}}"#, "telemetry_settings.max_new_stats_per_second: must be at least 20: the 20 parts of a histogram are defined together"),
            (r#"{"telemetry_settings": {"inject_stream_usage": "no"}}"#, "telemetry_settings.inject_stream_usage: expected a boolean, got string"),
            (r#"{"telemetry_settings": {"metric_names": "prometheus"}}"#, "telemetry_settings.metric_names: expected litellm, gen_ai (or otel) or both, got \"prometheus\""),
            (r#"{"telemetry_settings": {"identity_headers": {"team": 1}}}"#, "telemetry_settings.identity_headers.team: expected a string, got number 1"),
            (r#"{"telemetry_settings": {"identity_headers": {"group": "x-group"}}}"#, "telemetry_settings.identity_headers.group: unknown key; expected one of team, team_alias, user, user_email, api_key_alias, end_user, org_id, org_alias"),
            (r#"{"telemetry_settings": {"identity_headers": {"user": "x user"}}}"#, "telemetry_settings.identity_headers.user: \"x user\" is not a valid HTTP header name"),
            (r#"{"telemetry_settings": {"keys": {}}}"#, "telemetry_settings.keys: expected a list, got object"),
            (r#"{"telemetry_settings": {"keys": ["sk-raw-in-a-list"]}}"#, "telemetry_settings.keys[0]: expected an object, got string"),
            (r#"{"telemetry_settings": {"keys": [{"key_alias": "a"}]}}"#, "telemetry_settings.keys[0]: expected exactly one of api_key, hashed_api_key"),
            (r#"{"telemetry_settings": {"keys": [{"api_key": "sk-a", "hashed_api_key": "00"}]}}"#, "telemetry_settings.keys[0]: expected exactly one of api_key, hashed_api_key"),
            (r#"{"telemetry_settings": {"keys": [{"hashed_api_key": "00"}]}}"#, "telemetry_settings.keys[0].hashed_api_key: expected 64 hexadecimal characters (a SHA-256)"),
            (r#"{"telemetry_settings": {"on_invalid_config": "refuze"}}"#, "telemetry_settings.on_invalid_config: unknown value \"refuze\"; expected one of pass_through, refuse"),
            (r#"{"telemetry_settings": {"on_invalid_config": false}}"#, "telemetry_settings.on_invalid_config: expected a string, got boolean false"),
            (r#"{"telemetry_settings": {"keys": [{"api_key": "sk-a", "team": "t"}]}}"#, "telemetry_settings.keys[0].team: unknown key; expected one of api_key, hashed_api_key, key_alias, team_id, team_alias, user_id, user_email, org_id, org_alias, max_budget, soft_budget, budget_duration, budget_reset_at"),
            (r#"{"telemetry_settings": {"keys": [{"api_key": "sk-a", "max_budget": "lots"}]}}"#, "telemetry_settings.keys[0].max_budget: expected a number, got a string that is not one"),
            (r#"{"telemetry_settings": {"keys": [{"api_key": "sk-a", "max_budget": 1, "budget_duration": "1fortnight"}]}}"#, "telemetry_settings.keys[0].budget_duration: invalid budget_duration \"1fortnight\"; use a format like \"1h\", \"24h\", \"7d\", \"30d\" or \"1mo\""),
            (r#"{"telemetry_settings": {"keys": [{"api_key": 42}]}}"#, "telemetry_settings.keys[0].api_key: expected a string, got number"),
            (r#"{"telemetry_settings": {"keys": [{"api_key": "sk-a", "user_id": 7}]}}"#, "telemetry_settings.keys[0].user_id: expected a string, got number 7"),
            (r#"{"telemetry_settings": {"keys": [{"api_key": "sk-a"}, {"hashed_api_key": "e1a8dbe5a4ecb1bb8f0e6d3a8e1fdb6c2c4a8c5b0d3f7e9a1b2c3d4e5f6a7b8c"}, {"api_key": "sk-a"}]}}"#, "telemetry_settings.keys[2]: same key as telemetry_settings.keys[0]"),
        ];
        for (json, want) in cases {
            assert_eq!(&error(json), want, "{json}");
        }
    }

    /// LiteLLM starts with references to variables that are not set (its `get_secret` returns
    /// None): so does the filter, saying what each one means.
    #[test]
    fn unset_variables_are_warnings_naming_the_variable() {
        let l = load(
            r#"{"model_list": [
                 {"model_name": "a", "litellm_params": {"model": "azure/a", "api_base": "os.environ/AZURE_API_BASE",
                                                        "region_name": "os.environ/AZURE_REGION"}},
                 {"model_name": "b", "litellm_params": {"model": "os.environ/B_MODEL"}},
                 {"model_name": "c", "litellm_params": {"model": "openai/c", "api_base": "os.environ/"}}],
               "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
               "telemetry_settings": {"keys": [{"api_key": "os.environ/SVC_KEY", "key_alias": "svc"},
                                               {"api_key": "sk-x", "team_id": "os.environ/TEAM"}]}}"#,
        );
        assert_eq!(
            l.warnings,
            [
                "model_list[0].litellm_params.api_base: environment variable AZURE_API_BASE is not set: api_base reads None",
                "model_list[0].litellm_params.region_name: environment variable AZURE_REGION is not set: read as unset",
                "model_list[1].litellm_params.model: environment variable B_MODEL is not set: the deployment is left out",
                "model_list[2].litellm_params.api_base: os.environ/ names no variable: api_base reads None",
                "general_settings.master_key: environment variable LITELLM_MASTER_KEY is not set: no key is treated as the master key",
                "telemetry_settings.keys[0].api_key: environment variable SVC_KEY is not set: the entry is left out",
                "telemetry_settings.keys[1].team_id: environment variable TEAM is not set: read as unset",
            ]
        );
        let c = &l.config;
        let names: Vec<&str> = c
            .deployments
            .iter()
            .map(|d| d.model_name.as_str())
            .collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(c.deployments[0].api_base.as_deref(), Some("None"));
        assert_eq!(c.deployments[0].region, None);
        assert_eq!(c.master_key_sha256, None);
        assert_eq!(c.keys.len(), 1);
        assert_eq!(c.keys[&sha256_hex("sk-x")].team, None);
        // An empty master key is no master key, as LiteLLM reads it.
        let l = load(r#"{"general_settings": {"master_key": ""}}"#);
        assert_eq!(l.config.master_key_sha256, None);
        assert_eq!(
            l.warnings,
            ["general_settings.master_key: empty: no key is treated as the master key"]
        );
    }

    #[test]
    fn invalid_config_policy_is_read_even_from_an_invalid_config() {
        use InvalidConfigPolicy::{PassThrough, Refuse};
        let cases: &[(&str, InvalidConfigPolicy)] = &[
            ("", PassThrough),
            ("{not json", PassThrough),
            (
                r#"{"telemetry_settings": {"on_invalid_config": "refuse"}}"#,
                Refuse,
            ),
            (
                r#"{"telemetry_settings": {"on_invalid_config": "refuse", "max_capture_bytes": 0}}"#,
                Refuse,
            ),
            (
                r#"{"telemetry_settings": {"on_invalid_config": "pass_through"}}"#,
                PassThrough,
            ),
            (
                r#"{"telemetry_settings": {"on_invalid_config": "refuze"}}"#,
                PassThrough,
            ),
            (r#"{"telemetry_settings": []}"#, PassThrough),
        ];
        for (json, want) in cases {
            assert_eq!(InvalidConfigPolicy::of(json.as_bytes()), *want, "{json}");
        }
        assert!(parse(
            br#"{"telemetry_settings": {"on_invalid_config": "refuse"}}"#,
            &no_env
        )
        .is_ok());
    }

    #[test]
    fn include_labels_accept_custom_and_stream_labels() {
        let c = load(
            r#"{"litellm_settings": {
                "custom_prometheus_metadata_labels": ["metadata.app"],
                "custom_prometheus_tags": ["prod"],
                "prometheus_metrics_config": [
                  {"group": "a", "metrics": ["litellm_proxy_total_requests_metric"],
                   "include_labels": ["stream", "metadata_app", "tag_prod", "status_code"]},
                  {"group": "b", "metrics": ["litellm_remaining_tokens"], "include_labels": ["api_base"]},
                  {"group": "c", "metrics": ["litellm_requests_metric"], "include_labels": []}
                ]}}"#,
        )
        .config;
        let f = c.metric_filter.unwrap();
        assert_eq!(
            f.include_labels("litellm_proxy_total_requests_metric")
                .unwrap(),
            ["stream", "metadata_app", "tag_prod", "status_code"]
        );
        assert_eq!(
            f.include_labels("litellm_remaining_tokens").unwrap(),
            ["api_base"]
        );
        assert_eq!(f.include_labels("litellm_requests_metric"), None);
        assert!(f.enabled("litellm_requests_metric"));
        // "stream" is only a label of the total-requests counter.
        let e = error(
            r#"{"litellm_settings": {"prometheus_metrics_config": [
                {"group": "a", "metrics": ["litellm_requests_metric"], "include_labels": ["stream"]}]}}"#,
        );
        assert_eq!(e, "litellm_settings.prometheus_metrics_config[0].include_labels[0]: \"stream\" is not a label of litellm_requests_metric");
        // An empty list means no filtering, as in LiteLLM.
        assert!(
            load(r#"{"litellm_settings": {"prometheus_metrics_config": []}}"#)
                .config
                .metric_filter
                .is_none()
        );
    }

    #[test]
    fn ignored_keys_are_listed() {
        let l = load(
            r#"{"include": ["other.yaml"], "mcp_servers": {}, "router_settings": {"num_retries": 2, "timeout": 30},
                "litellm_settings": {"drop_params": true, "turn_off_message_logging": true,
                   "prometheus_metrics_config": [{"group": "g", "metrics": ["litellm_total_users"], "extra": 1}]},
                "general_settings": {"store_model_in_db": true, "alerting_args": {"daily_report_frequency": 60}}}"#,
        );
        assert_eq!(
            l.ignored,
            [
                "litellm_settings.prometheus_metrics_config[0].metrics[0] (litellm_total_users)",
                "litellm_settings.prometheus_metrics_config[0].extra",
                "litellm_settings.drop_params",
                "general_settings.store_model_in_db",
                "include",
                "mcp_servers",
                "router_settings.num_retries",
                "router_settings.timeout",
            ]
        );
        let a = &l.config.alerting_general_settings;
        assert_eq!(a["turn_off_message_logging"], true);
        assert_eq!(a["alerting_args"]["daily_report_frequency"], 60);
    }

    /// `examples/config.json` is the demo's plugin config (converted from
    /// `examples/litellm-config.yaml`): the filter must load it.
    #[test]
    fn shipped_example_config_loads() {
        let text = include_str!("../../../examples/config.json");
        let Loaded {
            config: c, ignored, ..
        } = parse(text.as_bytes(), &no_env).unwrap();
        let d = c
            .find_deployment("gpt-4o", Some("127.0.0.1:18080"))
            .unwrap();
        assert_eq!(d.litellm_model, "openai/gpt-4o");
        assert_eq!(d.api_base.as_deref(), Some("http://127.0.0.1:18080/v1"));
        assert_eq!(d.model_id.as_deref(), Some("gpt-4o-fake"));
        assert_eq!(
            c.find_deployment("gpt-4o-eu", None).unwrap().provider,
            "azure"
        );
        let demo = &c.keys[&sha256_hex("sk-demo")];
        assert_eq!(demo.api_key_alias.as_deref(), Some("demo-key"));
        assert_eq!(demo.team.as_deref(), Some("team-a"));
        assert_eq!(demo.team_alias.as_deref(), Some("Team A"));
        assert_eq!(demo.user.as_deref(), Some("alice"));
        assert_eq!(demo.user_email.as_deref(), Some("alice@example.com"));
        assert_eq!(
            c.master_key_sha256.as_deref(),
            Some(sha256_hex("sk-1234").as_str())
        );
        let labels: Vec<&str> = c
            .metadata_labels
            .iter()
            .map(|l| l.label.as_str())
            .chain(c.tag_labels.iter().map(|t| t.label.as_str()))
            .collect();
        assert_eq!(labels, ["metadata_app", "tag_prod", "tag_team_a"]);
        assert!(c.end_user_tracking);
        assert!(c
            .alerting_general_settings
            .contains_key("alert_to_webhook_url"));
        assert_eq!(
            c.env_var("SLACK_WEBHOOK_URL", &no_env).as_deref(),
            Some("http://127.0.0.1:18081/slack")
        );
        // Read by the logging settings now (`prometheus` is what the filter does anyway).
        assert!(!ignored.contains(&"litellm_settings.callbacks".to_owned()));
        assert!(ignored.contains(&"router_settings.routing_strategy".to_owned()));
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug() {
        let env = |n: &str| match n {
            "MASTER" => Some("sk-master-very-secret".to_owned()),
            "KEY" => Some("sk-user-very-secret".to_owned()),
            _ => None,
        };
        let json = r#"{"environment_variables": {"OPENAI_API_KEY": "sk-env-very-secret"},
                       "general_settings": {"master_key": "os.environ/MASTER",
                         "alert_to_webhook_url": {"llm_exceptions": "https://hooks.slack.com/services/T0/B0/secret-hook"}},
                       "telemetry_settings": {"keys": [{"api_key": "os.environ/KEY", "key_alias": "k"},
                                                       {"api_key": "sk-literal-very-secret"}]}}"#;
        let l = parse(json.as_bytes(), &env).unwrap();
        let debug = format!("{l:?}");
        for secret in [
            "sk-master-very-secret",
            "sk-user-very-secret",
            "sk-literal-very-secret",
            "secret-hook",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(!debug.contains(&sha256_hex("sk-master-very-secret")));
        assert!(debug.contains("<redacted>"));
        // A raw key in the wrong place, a secret number, a resolved variable: none in the error.
        let errors = [
            r#"{"telemetry_settings": {"keys": ["sk-literal-very-secret"]}}"#,
            r#"{"telemetry_settings": {"keys": [{"api_key": "sk-literal-very-secret", "hashed_api_key": "sk-literal-very-secret"}]}}"#,
            r#"{"general_settings": {"master_key": 987654321}}"#,
            r#"{"environment_variables": {"X": {"k": "sk-literal-very-secret"}}}"#,
            r#"{"telemetry_settings": {"max_capture_bytes": "sk-literal-very-secret"}}"#,
        ];
        for json in errors {
            let e = parse(json.as_bytes(), &env).unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(
                !text.contains("very-secret") && !text.contains("987654321"),
                "{text}"
            );
        }
    }
}
