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

mod deployments;
mod sections;
#[cfg(test)]
mod tests;
mod values;

use deployments::{glob_match, literal_len, pick_by_host};
use sections::{logging_cluster_overrides, router_cooldowns, Parser, ROUTER_COOLDOWN_KEYS};
use values::*;

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
        pick_by_host(self.candidates(requested_model), upstream_host)
    }

    /// The deployments [`Config::find_deployment`] chooses among for `requested_model`: those
    /// with that exact `model_name`, else the most specific wildcards that match it.
    fn candidates<'a: 'm, 'm>(
        &'a self,
        requested_model: &'m str,
    ) -> impl Iterator<Item = &'a Deployment> + 'm {
        let exact = self
            .deployments
            .iter()
            .any(|d| d.model_name == requested_model);
        let best = if exact {
            None
        } else {
            self.deployments
                .iter()
                .filter(|d| {
                    d.model_name.contains('*') && glob_match(&d.model_name, requested_model)
                })
                .map(|d| literal_len(&d.model_name))
                .max()
        };
        self.deployments.iter().filter(move |d| match best {
            None => exact && d.model_name == requested_model,
            Some(best) => {
                d.model_name.contains('*')
                    && literal_len(&d.model_name) == best
                    && glob_match(&d.model_name, requested_model)
            }
        })
    }

    /// Whether the address Envoy connected to can change how a finished request for
    /// `requested_model` is labelled: unless one deployment serves it and names its `api_base`,
    /// the upstream picks among deployments, or is the `api_base` (and the provider) itself.
    /// The adapter asks Envoy for `upstream.address` (a host call that returns data) only then.
    pub fn needs_upstream_address(&self, requested_model: Option<&str>) -> bool {
        let Some(m) = requested_model else {
            return true;
        };
        let mut candidates = self.candidates(m);
        match (candidates.next(), candidates.next()) {
            (Some(only), None) => only.api_base.is_none(),
            _ => true,
        }
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
