//! Logging settings in LiteLLM's vocabulary, parsed once into typed values. Written to be
//! called from `config::parse` (one error type, [`ConfigError`], naming the path); the `*_KEYS`
//! lists say which keys are read here, so the main parser stops listing them as ignored.
//!
//! | where | keys |
//! | --- | --- |
//! | `litellm_settings` | `callbacks`, `success_callback`, `failure_callback` (`generic_api` / `generic` / `custom_callback_api`, `otel` / `opentelemetry`, `langfuse_otel`, `datadog`, names of `callback_settings`), `turn_off_message_logging`, `redact_user_api_key_info`, `disable_add_user_agent_to_request_tags`, `generic_logger_headers` |
//! | top level | `callback_settings.<name>`: `callback_type: generic_api`, `endpoint`, `headers`, `event_types`, `log_format`, `max_retries`, `retry_delay`, `timeout` |
//! | `telemetry_settings.logging` (ours) | `response_headers`, `filter_state`, `max_logged_body_bytes`, `allow_client_message_redaction_opt_out`, `batch_max_records`, `batch_max_bytes`, `flush_interval_seconds`, `queue_max_records`, `queue_max_bytes`, `max_pending_bodies`, `max_retries`, `retry_delay_seconds`, `callout_timeout_ms` |
//! | environment (LiteLLM's) | `GENERIC_LOGGER_ENDPOINT`, `GENERIC_LOGGER_HEADERS`, `OTEL_EXPORTER`, `OTEL_ENDPOINT`, `OTEL_HEADERS` (and their `OTEL_EXPORTER_OTLP_PROTOCOL` / `_ENDPOINT` / `_HEADERS` forms, which win), `OTEL_SERVICE_NAME`, `OTEL_ENVIRONMENT_NAME`, `OTEL_MODEL_ID`, `OTEL_TRACER_NAME`, `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY`, `LANGFUSE_OTEL_HOST`, `LANGFUSE_HOST`, `DD_API_KEY`, `DD_SITE`, `DD_BASE_URL`, `LITELLM_DD_AGENT_HOST`, `LITELLM_DD_AGENT_PORT`, `DD_SOURCE`, `DD_SERVICE`, `DD_ENV`, `DD_VERSION`, `HOSTNAME`, `POD_NAME`, `DD_BATCH_SIZE`, `DEFAULT_BATCH_SIZE`, `DEFAULT_FLUSH_INTERVAL_SECONDS` |

use core::fmt;

use hashbrown::HashMap;
use serde_json::{Map, Value};

use super::capture::DEFAULT_MAX_LOGGED_BODY_BYTES;
use super::destinations::{
    check_header, datadog_intake_url, langfuse_headers, langfuse_otel_endpoint,
    normalize_otel_traces_endpoint, parse_generic_headers, parse_otel_headers, Endpoint,
};
use super::otel::OtelResource;
use super::payload::PayloadOptions;
use crate::config::ConfigError;
use crate::outbox::{Framing, OutboxLimits};

/// `litellm_settings` keys read here.
pub const LITELLM_SETTINGS_KEYS: &[&str] = &[
    "callbacks",
    "success_callback",
    "failure_callback",
    "turn_off_message_logging",
    "redact_user_api_key_info",
    "disable_add_user_agent_to_request_tags",
    "generic_logger_headers",
    "generic_api_use_v1",
];
/// Top-level keys read here.
pub const ROOT_KEYS: &[&str] = &["callback_settings"];
/// `telemetry_settings` keys read here.
pub const TELEMETRY_SETTINGS_KEYS: &[&str] = &["logging"];
/// Keys of `telemetry_settings.logging`.
pub const LOGGING_KEYS: &[&str] = &[
    "response_headers",
    "filter_state",
    "max_logged_body_bytes",
    "allow_client_message_redaction_opt_out",
    "batch_max_records",
    "batch_max_bytes",
    "flush_interval_seconds",
    "queue_max_records",
    "queue_max_bytes",
    "max_pending_bodies",
    "max_retries",
    "retry_delay_seconds",
    "callout_timeout_ms",
];

/// Datadog's largest batch (`DD_MAX_BATCH_SIZE`) and body (`DD_MAX_PAYLOAD_SIZE_BYTES`).
const DD_MAX_BATCH_SIZE: usize = 1000;
const DD_MAX_PAYLOAD_SIZE_BYTES: usize = 4_000_000;

/// Which finished requests a destination receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// Successes (`success_callback`, `callbacks`; LiteLLM's `llm_api_success`).
    pub success: bool,
    /// Failures (`failure_callback`, `callbacks`; `llm_api_failure`).
    pub failure: bool,
}

impl Events {
    /// Successes and failures (`callbacks`).
    pub const BOTH: Events = Events {
        success: true,
        failure: true,
    };
    /// Successes only (`success_callback`).
    pub const SUCCESS: Events = Events {
        success: true,
        failure: false,
    };
    /// Failures only (`failure_callback`).
    pub const FAILURE: Events = Events {
        success: false,
        failure: true,
    };

    fn or(self, o: Events) -> Events {
        Events {
            success: self.success || o.success,
            failure: self.failure || o.failure,
        }
    }

    fn any(self) -> bool {
        self.success || self.failure
    }

    /// Whether a request with this outcome goes to the destination.
    pub fn wants(self, succeeded: bool) -> bool {
        if succeeded {
            self.success
        } else {
            self.failure
        }
    }
}

/// Datadog's per-log fields (LiteLLM's `DatadogPayload` and `get_datadog_tags`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatadogFields {
    /// `ddsource` (`DD_SOURCE`, default `litellm`).
    pub source: String,
    /// `service` (`DD_SERVICE`, default `litellm-server`).
    pub service: String,
    /// `hostname` (`HOSTNAME`).
    pub hostname: String,
    /// The `env:`, `service:`, `version:`, `HOSTNAME:`, `POD_NAME:` tags, joined.
    pub base_tags: String,
}

/// What a destination sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DestinationKind {
    /// StandardLoggingPayloads, framed as the log format says.
    Generic,
    /// OTLP/HTTP JSON spans under this resource.
    Otel(OtelResource),
    /// Datadog log entries, the payload in `message`.
    Datadog(DatadogFields),
}

/// One place logs go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogDestination {
    /// Its name in logs and the `destination` label (`generic_api`, `otel`, `langfuse_otel`,
    /// `datadog`, or a `callback_settings` name).
    pub name: String,
    /// What it receives.
    pub kind: DestinationKind,
    /// Where.
    pub endpoint: Endpoint,
    /// For which requests.
    pub events: Events,
    /// How records are joined into bodies.
    pub framing: Framing,
    /// Its batching, queue and retry limits.
    pub limits: OutboxLimits,
}

/// Everything logging needs from the configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct LoggingSettings {
    /// Where logs go.
    pub destinations: Vec<LogDestination>,
    /// `litellm_settings.turn_off_message_logging`.
    pub turn_off_message_logging: bool,
    /// `telemetry_settings.logging.allow_client_message_redaction_opt_out` (ours): every
    /// caller may use `LiteLLM-Disable-Message-Redaction` (LiteLLM's key or team metadata flag
    /// of the same name allows it per caller).
    pub allow_client_message_redaction_opt_out: bool,
    /// Payload switches.
    pub payload: PayloadOptions,
    /// `telemetry_settings.logging.max_logged_body_bytes`: bound of each logged body.
    pub max_logged_body_bytes: usize,
    /// `telemetry_settings.logging.response_headers` (default on): the `x-litellm-*` headers.
    pub response_headers: bool,
    /// `telemetry_settings.logging.filter_state` (default off): the payload and its main
    /// fields in Envoy filter state for access logs.
    pub filter_state: bool,
}

impl Default for LoggingSettings {
    fn default() -> Self {
        LoggingSettings {
            destinations: Vec::new(),
            turn_off_message_logging: false,
            allow_client_message_redaction_opt_out: false,
            payload: PayloadOptions::default(),
            max_logged_body_bytes: DEFAULT_MAX_LOGGED_BODY_BYTES,
            response_headers: true,
            filter_state: false,
        }
    }
}

impl fmt::Debug for LoggingSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destinations' `Debug` hides paths and header values (credentials).
        f.debug_struct("LoggingSettings")
            .field("destinations", &self.destinations)
            .field("turn_off_message_logging", &self.turn_off_message_logging)
            .field(
                "allow_client_message_redaction_opt_out",
                &self.allow_client_message_redaction_opt_out,
            )
            .field("payload", &self.payload)
            .field("max_logged_body_bytes", &self.max_logged_body_bytes)
            .field("response_headers", &self.response_headers)
            .field("filter_state", &self.filter_state)
            .finish()
    }
}

impl LoggingSettings {
    /// Whether any request body must be copied for logging (a destination or filter state will
    /// read it, and message logging is not off).
    pub fn may_log_bodies(&self) -> bool {
        (self.filter_state || !self.destinations.is_empty()) && self.max_logged_body_bytes > 0
    }
}

/// Parsed settings and what to warn about once.
#[derive(Clone, Debug, Default)]
pub struct LoadedLogging {
    /// The settings.
    pub settings: LoggingSettings,
    /// Accepted but not acted on (the host logs each once).
    pub warnings: Vec<String>,
}

fn err(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn expect<'a, T>(
    v: &'a Value,
    path: &str,
    what: &str,
    f: impl Fn(&'a Value) -> Option<T>,
) -> Result<T, ConfigError> {
    f(v).ok_or_else(|| err(path, format!("expected {what}, got {}", kind_of(v))))
}

fn boolean(v: &Value, path: &str) -> Result<bool, ConfigError> {
    expect(v, path, "a boolean", Value::as_bool)
}

fn count(v: &Value, path: &str, min: u64) -> Result<u64, ConfigError> {
    match v.as_u64() {
        Some(n) if n >= min => Ok(n),
        _ => Err(err(
            path,
            format!("expected an integer >= {min}, got {}", kind_of(v)),
        )),
    }
}

fn size(v: &Value, path: &str, min: u64) -> Result<usize, ConfigError> {
    usize::try_from(count(v, path, min)?).map_err(|_| err(path, "too large"))
}

/// A number of seconds as milliseconds (LiteLLM's `retry_delay`, `timeout`).
fn seconds_ms(v: &Value, path: &str, allow_zero: bool) -> Result<u64, ConfigError> {
    match v.as_f64() {
        Some(s) if s.is_finite() && (s > 0.0 || (allow_zero && s == 0.0)) && s < 1e9 => {
            Ok((s * 1000.0).round() as u64)
        }
        _ => Err(err(
            path,
            format!(
                "expected a number of seconds {}, got {}",
                if allow_zero { ">= 0" } else { "> 0" },
                kind_of(v)
            ),
        )),
    }
}

/// An `os.environ/NAME` reference resolved, any other string as it is.
fn resolve(
    s: &str,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    match s.strip_prefix("os.environ/") {
        None => Ok(s.to_owned()),
        Some("") => Err(err(path, "os.environ/ reference without a variable name")),
        Some(name) => {
            env(name).ok_or_else(|| err(path, format!("environment variable {name} is not set")))
        }
    }
}

/// A string→string map of headers (`generic_logger_headers`, `callback_settings.*.headers`);
/// values may be `os.environ/` references.
fn header_map(
    v: &Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let m = expect(v, path, "a map of header names to values", Value::as_object)?;
    let mut out = Vec::with_capacity(m.len());
    for (k, v) in m {
        let p = format!("{path}.{k}");
        let value = match v {
            Value::String(s) => resolve(s, &p, env)?,
            Value::Number(n) => n.to_string(),
            _ => return Err(err(&p, format!("expected a string, got {}", kind_of(v)))),
        };
        check_header(k, &value).map_err(|e| err(&p, e))?;
        out.push((k.clone(), value));
    }
    Ok(out)
}

/// Non-empty environment variable.
fn var(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// One callback name's destination, gathered across the three lists.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wanted {
    GenericEnv,
    Otel,
    LangfuseOtel,
    Datadog,
}

/// Parses the logging settings from the configuration document `root`. `env` looks a variable
/// up as LiteLLM does (the document's `environment_variables`, then the VM's environment:
/// `Config::env_var`); `cluster_overrides` is `general_settings.webhook_clusters` as the alerts
/// parse it (host → Envoy cluster).
pub fn parse(
    root: &Map<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
    cluster_overrides: &HashMap<String, String>,
) -> Result<LoadedLogging, ConfigError> {
    let mut s = LoggingSettings::default();
    let mut warnings = Vec::new();
    let null = Value::Null;
    let ls = match root.get("litellm_settings") {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    };
    let lget = |k: &str| ls.and_then(|m| m.get(k)).unwrap_or(&null);

    for (key, slot) in [
        ("turn_off_message_logging", &mut s.turn_off_message_logging),
        (
            "redact_user_api_key_info",
            &mut s.payload.redact_user_api_key_info,
        ),
    ] {
        if !lget(key).is_null() {
            *slot = boolean(lget(key), &format!("litellm_settings.{key}"))?;
        }
    }
    let ua_key = "disable_add_user_agent_to_request_tags";
    if !lget(ua_key).is_null() {
        s.payload.user_agent_tags = !boolean(lget(ua_key), &format!("litellm_settings.{ua_key}"))?;
    }
    if !lget("generic_api_use_v1").is_null()
        && boolean(
            lget("generic_api_use_v1"),
            "litellm_settings.generic_api_use_v1",
        )?
    {
        warnings.push("litellm_settings.generic_api_use_v1: the v1 payload is not produced; the generic endpoint receives StandardLoggingPayloads".to_owned());
    }

    let base_limits = logging_section(root, &mut s, env, &mut warnings)?;

    // callback_settings: named generic_api destinations.
    let callback_settings = match root.get("callback_settings") {
        None | Some(Value::Null) => None,
        Some(v) => Some(expect(
            v,
            "callback_settings",
            "an object",
            Value::as_object,
        )?),
    };
    let is_named_generic = |name: &str| {
        callback_settings
            .and_then(|m| m.get(name))
            .and_then(|c| c.get("callback_type"))
            .and_then(Value::as_str)
            == Some("generic_api")
    };

    // Which destinations the three lists ask for, with the path that first named each.
    let mut wanted: Vec<(Wanted, Events, String)> = Vec::new();
    let mut named: Vec<(String, Events, String)> = Vec::new();
    for (list, events) in [
        ("callbacks", Events::BOTH),
        ("success_callback", Events::SUCCESS),
        ("failure_callback", Events::FAILURE),
    ] {
        let v = lget(list);
        let items: &[Value] = match v {
            Value::Null => &[],
            Value::Array(a) => a,
            // LiteLLM accepts a single name too.
            Value::String(_) => std::slice::from_ref(v),
            _ => {
                return Err(err(
                    &format!("litellm_settings.{list}"),
                    format!("expected a list of callback names, got {}", kind_of(v)),
                ))
            }
        };
        for (i, item) in items.iter().enumerate() {
            let path = format!("litellm_settings.{list}[{i}]");
            let Some(name) = item.as_str() else {
                warnings.push(format!("{path}: not a callback name; ignored"));
                continue;
            };
            let which = match name {
                "generic" | "generic_api" | "custom_callback_api" => Some(Wanted::GenericEnv),
                "otel" | "opentelemetry" => Some(Wanted::Otel),
                "langfuse_otel" => Some(Wanted::LangfuseOtel),
                "datadog" => Some(Wanted::Datadog),
                // The filter's own metrics are LiteLLM's Prometheus metrics.
                "prometheus" => continue,
                n if is_named_generic(n) => {
                    match named.iter_mut().find(|(x, _, _)| x == n) {
                        Some(e) => e.1 = e.1.or(events),
                        None => named.push((n.to_owned(), events, path)),
                    }
                    continue;
                }
                _ => None,
            };
            match which {
                Some(w) => match wanted.iter_mut().find(|(x, _, _)| *x == w) {
                    Some(e) => e.1 = e.1.or(events),
                    None => wanted.push((w, events, path)),
                },
                None => warnings.push(format!(
                    "{path}: callback \"{name}\" is not one the filter can send to (generic_api, otel, langfuse_otel, datadog, or a callback_settings generic_api); ignored"
                )),
            }
        }
    }

    let generic_headers = || -> Result<Vec<(String, String)>, ConfigError> {
        let mut h = match var(env, "GENERIC_LOGGER_HEADERS") {
            Some(text) => {
                parse_generic_headers(&text).map_err(|e| err("GENERIC_LOGGER_HEADERS", e))?
            }
            None => Vec::new(),
        };
        let v = lget("generic_logger_headers");
        if !v.is_null() {
            h.extend(header_map(
                v,
                "litellm_settings.generic_logger_headers",
                env,
            )?);
        }
        Ok(h)
    };

    for (which, events, path) in wanted {
        let dest = match which {
            Wanted::GenericEnv => {
                let url = var(env, "GENERIC_LOGGER_ENDPOINT").ok_or_else(|| {
                    err(&path, "the generic logger needs GENERIC_LOGGER_ENDPOINT (environment_variables or the VM's environment)")
                })?;
                let endpoint =
                    Endpoint::new(&url, "generic_api", cluster_overrides, generic_headers()?)
                        .map_err(|e| err("GENERIC_LOGGER_ENDPOINT", e))?;
                LogDestination {
                    name: "generic_api".into(),
                    kind: DestinationKind::Generic,
                    endpoint,
                    events,
                    framing: Framing::JsonArray,
                    limits: base_limits.clone(),
                }
            }
            Wanted::Otel => {
                match otel_destination(env, cluster_overrides, events, &base_limits, &mut warnings)?
                {
                    Some(d) => d,
                    None => continue,
                }
            }
            Wanted::LangfuseOtel => {
                langfuse_destination(env, cluster_overrides, events, &base_limits, &path)?
            }
            Wanted::Datadog => datadog_destination(
                env,
                cluster_overrides,
                events,
                &base_limits,
                &path,
                &mut warnings,
            )?,
        };
        s.destinations.push(dest);
    }

    for (name, events, _) in named {
        let path = format!("callback_settings.{name}");
        let Some(cfg) = callback_settings.and_then(|m| m.get(&name)) else {
            continue;
        };
        s.destinations.push(named_generic(
            &name,
            cfg,
            &path,
            events,
            env,
            cluster_overrides,
            &base_limits,
            generic_headers()?,
        )?);
    }
    s.destinations.retain(|d| d.events.any());
    Ok(LoadedLogging {
        settings: s,
        warnings,
    })
}

/// `telemetry_settings.logging` and LiteLLM's batch variables: the limits every destination
/// starts from.
fn logging_section(
    root: &Map<String, Value>,
    s: &mut LoggingSettings,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<OutboxLimits, ConfigError> {
    let mut l = OutboxLimits::default();
    let mut positive = |name: &str| -> Option<u64> {
        let text = var(env, name)?;
        match text.parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                warnings.push(format!(
                    "{name}: not a positive integer; the default is used"
                ));
                None
            }
        }
    };
    if let Some(n) = positive("DEFAULT_BATCH_SIZE") {
        l.batch_max_records = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = positive("DEFAULT_FLUSH_INTERVAL_SECONDS") {
        l.flush_interval_ms = n.saturating_mul(1000);
    }
    let section = root
        .get("telemetry_settings")
        .and_then(|t| t.get("logging"));
    let Some(v) = section.filter(|v| !v.is_null()) else {
        return Ok(l);
    };
    const P: &str = "telemetry_settings.logging";
    let m = expect(v, P, "an object", Value::as_object)?;
    for (k, v) in m {
        let p = format!("{P}.{k}");
        match k.as_str() {
            "response_headers" => s.response_headers = boolean(v, &p)?,
            "filter_state" => s.filter_state = boolean(v, &p)?,
            "max_logged_body_bytes" => s.max_logged_body_bytes = size(v, &p, 0)?,
            "allow_client_message_redaction_opt_out" => {
                s.allow_client_message_redaction_opt_out = boolean(v, &p)?
            }
            "batch_max_records" => l.batch_max_records = size(v, &p, 1)?,
            "batch_max_bytes" => l.batch_max_bytes = size(v, &p, 1024)?,
            "flush_interval_seconds" => l.flush_interval_ms = seconds_ms(v, &p, false)?,
            "queue_max_records" => l.queue_max_records = size(v, &p, 1)?,
            "queue_max_bytes" => l.queue_max_bytes = size(v, &p, 1024)?,
            "max_pending_bodies" => l.max_pending_bodies = size(v, &p, 1)?,
            "max_retries" => {
                l.max_retries = u32::try_from(count(v, &p, 0)?).map_err(|_| err(&p, "too large"))?
            }
            "retry_delay_seconds" => l.retry_delay_ms = seconds_ms(v, &p, true)?,
            "callout_timeout_ms" => l.callout_timeout_ms = count(v, &p, 1)?,
            _ => {
                return Err(err(
                    &p,
                    format!("unknown key (expected one of: {})", LOGGING_KEYS.join(", ")),
                ))
            }
        }
    }
    Ok(l)
}

fn resource(env: &dyn Fn(&str) -> Option<String>) -> OtelResource {
    let d = OtelResource::default();
    let service_name = var(env, "OTEL_SERVICE_NAME").unwrap_or(d.service_name);
    OtelResource {
        model_id: var(env, "OTEL_MODEL_ID").unwrap_or_else(|| service_name.clone()),
        environment: var(env, "OTEL_ENVIRONMENT_NAME").unwrap_or(d.environment),
        tracer_name: var(env, "OTEL_TRACER_NAME").unwrap_or(d.tracer_name),
        service_name,
    }
}

/// `otel`: LiteLLM's `OpenTelemetryConfig.from_env`. Only OTLP over HTTP can be sent; the
/// console and gRPC exporters are accepted with a warning and send nothing.
fn otel_destination(
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &HashMap<String, String>,
    events: Events,
    limits: &OutboxLimits,
    warnings: &mut Vec<String>,
) -> Result<Option<LogDestination>, ConfigError> {
    let (exporter_var, exporter) = match var(env, "OTEL_EXPORTER_OTLP_PROTOCOL") {
        Some(e) => ("OTEL_EXPORTER_OTLP_PROTOCOL", e),
        None => (
            "OTEL_EXPORTER",
            var(env, "OTEL_EXPORTER").unwrap_or_else(|| "console".into()),
        ),
    };
    let (endpoint_var, endpoint) = match var(env, "OTEL_EXPORTER_OTLP_ENDPOINT") {
        Some(e) => ("OTEL_EXPORTER_OTLP_ENDPOINT", Some(e)),
        None => ("OTEL_ENDPOINT", var(env, "OTEL_ENDPOINT")),
    };
    // LiteLLM: an endpoint with the default console exporter means OTLP/HTTP.
    let exporter = if endpoint.is_some() && exporter == "console" {
        "otlp_http".to_owned()
    } else {
        exporter
    };
    match exporter.as_str() {
        "otlp_http" | "http/protobuf" | "http/json" => {}
        "otlp_grpc" | "grpc" => {
            warnings.push(format!("{exporter_var}={exporter}: the filter sends OTLP over HTTP only; use an OTLP/HTTP endpoint (port 4318). No spans are sent"));
            return Ok(None);
        }
        _ => {
            warnings.push(format!("{exporter_var}={exporter}: the filter has no console; set OTEL_ENDPOINT to an OTLP/HTTP collector. No spans are sent"));
            return Ok(None);
        }
    }
    // The OpenTelemetry SDK's default OTLP/HTTP endpoint.
    let url =
        normalize_otel_traces_endpoint(endpoint.as_deref().unwrap_or("http://localhost:4318"));
    let (headers_var, headers) = match var(env, "OTEL_EXPORTER_OTLP_HEADERS") {
        Some(h) => ("OTEL_EXPORTER_OTLP_HEADERS", Some(h)),
        None => ("OTEL_HEADERS", var(env, "OTEL_HEADERS")),
    };
    let headers = match headers {
        Some(h) => parse_otel_headers(&h).map_err(|e| err(headers_var, e))?,
        None => Vec::new(),
    };
    let endpoint =
        Endpoint::new(&url, "otel", overrides, headers).map_err(|e| err(endpoint_var, e))?;
    let resource = resource(env);
    Ok(Some(LogDestination {
        name: "otel".into(),
        framing: resource.framing(),
        kind: DestinationKind::Otel(resource),
        endpoint,
        events,
        limits: limits.clone(),
    }))
}

/// `langfuse_otel`: Langfuse's OTel endpoint with Basic auth, as LiteLLM's
/// `LangfuseOtelLogger` builds it.
fn langfuse_destination(
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &HashMap<String, String>,
    events: Events,
    limits: &OutboxLimits,
    path: &str,
) -> Result<LogDestination, ConfigError> {
    let (Some(pk), Some(sk)) = (
        var(env, "LANGFUSE_PUBLIC_KEY"),
        var(env, "LANGFUSE_SECRET_KEY"),
    ) else {
        return Err(err(
            path,
            "langfuse_otel needs LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY",
        ));
    };
    let host = var(env, "LANGFUSE_OTEL_HOST").or_else(|| var(env, "LANGFUSE_HOST"));
    let url = normalize_otel_traces_endpoint(&langfuse_otel_endpoint(host.as_deref()));
    let endpoint = Endpoint::new(&url, "langfuse_otel", overrides, langfuse_headers(&pk, &sk))
        .map_err(|e| err("LANGFUSE_HOST", e))?;
    let resource = resource(env);
    Ok(LogDestination {
        name: "langfuse_otel".into(),
        framing: resource.framing(),
        kind: DestinationKind::Otel(resource),
        endpoint,
        events,
        limits: limits.clone(),
    })
}

/// `datadog`: Datadog's logs intake (or agent), as LiteLLM's `DataDogLogger` sends to it.
fn datadog_destination(
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &HashMap<String, String>,
    events: Events,
    limits: &OutboxLimits,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<LogDestination, ConfigError> {
    let agent = var(env, "LITELLM_DD_AGENT_HOST");
    let api_key = var(env, "DD_API_KEY");
    if agent.is_none() && api_key.is_none() {
        return Err(err(
            path,
            "datadog needs DD_API_KEY (or LITELLM_DD_AGENT_HOST)",
        ));
    }
    let url = datadog_intake_url(
        var(env, "DD_BASE_URL").as_deref(),
        agent.as_deref(),
        var(env, "LITELLM_DD_AGENT_PORT").as_deref(),
        var(env, "DD_SITE").as_deref(),
    )
    .ok_or_else(|| err(path, "datadog needs DD_SITE (or LITELLM_DD_AGENT_HOST)"))?;
    let headers = api_key
        .map(|k| vec![("dd-api-key".to_owned(), k)])
        .unwrap_or_default();
    let endpoint =
        Endpoint::new(&url, "datadog", overrides, headers).map_err(|e| err("DD_SITE", e))?;
    let mut limits = limits.clone();
    limits.batch_max_records = limits.batch_max_records.min(DD_MAX_BATCH_SIZE);
    limits.batch_max_bytes = limits.batch_max_bytes.min(DD_MAX_PAYLOAD_SIZE_BYTES);
    if let Some(b) = var(env, "DD_BATCH_SIZE") {
        match b.parse::<usize>() {
            Ok(n) => limits.batch_max_records = n.clamp(1, DD_MAX_BATCH_SIZE),
            Err(_) => warnings.push("DD_BATCH_SIZE: not an integer; the default is used".into()),
        }
    }
    let get = |k: &str, d: &str| var(env, k).unwrap_or_else(|| d.to_owned());
    let service = get("DD_SERVICE", "litellm-server");
    let hostname = get("HOSTNAME", "");
    let base_tags = format!(
        "env:{},service:{service},version:{},HOSTNAME:{hostname},POD_NAME:{}",
        get("DD_ENV", "unknown"),
        get("DD_VERSION", "unknown"),
        get("POD_NAME", "unknown")
    );
    Ok(LogDestination {
        name: "datadog".into(),
        kind: DestinationKind::Datadog(DatadogFields {
            source: get("DD_SOURCE", "litellm"),
            service,
            hostname,
            base_tags,
        }),
        endpoint,
        events,
        framing: Framing::JsonArray,
        limits,
    })
}

/// A `callback_settings.<name>` entry with `callback_type: generic_api`.
#[allow(clippy::too_many_arguments)]
fn named_generic(
    name: &str,
    cfg: &Value,
    path: &str,
    events: Events,
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &HashMap<String, String>,
    base: &OutboxLimits,
    mut headers: Vec<(String, String)>,
) -> Result<LogDestination, ConfigError> {
    let m = expect(cfg, path, "an object", Value::as_object)?;
    let null = Value::Null;
    let get = |k: &str| m.get(k).unwrap_or(&null);
    let ep = format!("{path}.endpoint");
    let url = match get("endpoint") {
        Value::String(s) => resolve(s, &ep, env)?,
        Value::Null => return Err(err(&ep, "required for a generic_api callback")),
        v => {
            return Err(err(
                &ep,
                format!("expected a URL string, got {}", kind_of(v)),
            ))
        }
    };
    if !get("headers").is_null() {
        headers.extend(header_map(get("headers"), &format!("{path}.headers"), env)?);
    }
    let mut events = events;
    if !get("event_types").is_null() {
        let tp = format!("{path}.event_types");
        let list = expect(get("event_types"), &tp, "a list", Value::as_array)?;
        let mut allowed = Events::default();
        for (i, t) in list.iter().enumerate() {
            match t.as_str() {
                Some("llm_api_success") => allowed.success = true,
                Some("llm_api_failure") => allowed.failure = true,
                _ => {
                    return Err(err(
                        &format!("{tp}[{i}]"),
                        "expected \"llm_api_success\" or \"llm_api_failure\"",
                    ))
                }
            }
        }
        events = Events {
            success: events.success && allowed.success,
            failure: events.failure && allowed.failure,
        };
    }
    let framing = match get("log_format") {
        Value::Null => Framing::JsonArray,
        v => match v.as_str() {
            Some("json_array") => Framing::JsonArray,
            Some("ndjson") => Framing::Ndjson,
            Some("single") => Framing::Single,
            _ => {
                return Err(err(
                    &format!("{path}.log_format"),
                    "expected \"json_array\", \"ndjson\" or \"single\"",
                ))
            }
        },
    };
    let mut limits = base.clone();
    if !get("max_retries").is_null() {
        let p = format!("{path}.max_retries");
        limits.max_retries =
            u32::try_from(count(get("max_retries"), &p, 0)?).map_err(|_| err(&p, "too large"))?;
    }
    if !get("retry_delay").is_null() {
        limits.retry_delay_ms =
            seconds_ms(get("retry_delay"), &format!("{path}.retry_delay"), true)?;
    }
    if !get("timeout").is_null() {
        limits.callout_timeout_ms = seconds_ms(get("timeout"), &format!("{path}.timeout"), false)?;
    }
    let endpoint = Endpoint::new(&url, name, overrides, headers).map_err(|e| err(&ep, e))?;
    Ok(LogDestination {
        name: name.to_owned(),
        kind: DestinationKind::Generic,
        endpoint,
        events,
        framing,
        limits,
    })
}
