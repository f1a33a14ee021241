//! The logging settings: LiteLLM's keys and variables, every refusal naming its path.

use hashbrown::HashMap;
use serde_json::{json, Value};

use super::otel::OtelResource;
use super::settings::{parse, DestinationKind, Events, LoadedLogging, LogDestination};
use crate::config::ConfigError;
use crate::outbox::{Framing, OutboxLimits};

fn load(doc: Value, env: &[(&str, &str)]) -> Result<LoadedLogging, ConfigError> {
    load_with(doc, env, &HashMap::new())
}

fn load_with(
    doc: Value,
    env: &[(&str, &str)],
    overrides: &HashMap<String, String>,
) -> Result<LoadedLogging, ConfigError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    parse(doc.as_object().unwrap(), &lookup, overrides)
}

fn error(doc: Value, env: &[(&str, &str)]) -> String {
    load(doc, env).unwrap_err().to_string()
}

fn only(l: &LoadedLogging) -> &LogDestination {
    assert_eq!(l.settings.destinations.len(), 1, "{:?}", l.settings);
    &l.settings.destinations[0]
}

fn headers(d: &LogDestination) -> Vec<(&str, &str)> {
    d.endpoint.headers()
}

const ENDPOINT: (&str, &str) = (
    "GENERIC_LOGGER_ENDPOINT",
    "http://127.0.0.1:18081/log-event",
);

#[test]
fn nothing_configured_nothing_sent() {
    let l = load(json!({}), &[ENDPOINT]).unwrap();
    assert!(l.settings.destinations.is_empty());
    assert!(l.settings.response_headers && !l.settings.filter_state);
    assert!(!l.settings.turn_off_message_logging);
    assert!(l.warnings.is_empty());
}

#[test]
fn the_generic_endpoint_from_litellms_variables() {
    let l = load(
        json!({"litellm_settings": {"callbacks": ["generic_api"]}}),
        &[
            ENDPOINT,
            (
                "GENERIC_LOGGER_HEADERS",
                "Authorization=Bearer sk-log, X-Team = t1",
            ),
        ],
    )
    .unwrap();
    let d = only(&l);
    assert_eq!(d.name, "generic_api");
    assert_eq!(d.kind, DestinationKind::Generic);
    assert_eq!(d.framing, Framing::JsonArray);
    assert_eq!(d.events, Events::BOTH);
    assert_eq!(d.limits, OutboxLimits::default());
    assert_eq!(d.endpoint.destination.cluster, "webhook_127_0_0_1_18081");
    assert_eq!(
        headers(d),
        [
            (":method", "POST"),
            (":path", "/log-event"),
            (":authority", "127.0.0.1:18081"),
            (":scheme", "http"),
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-log"),
            ("x-team", "t1"),
        ]
    );
    // Secrets stay out of Debug.
    let dbg = format!("{:?}", l.settings);
    assert!(
        !dbg.contains("sk-log") && !dbg.contains("log-event"),
        "{dbg}"
    );
}

#[test]
fn success_and_failure_lists_select_events() {
    let l = load(
        json!({"litellm_settings": {"success_callback": ["generic"]}}),
        &[ENDPOINT],
    )
    .unwrap();
    assert_eq!(only(&l).events, Events::SUCCESS);
    let l = load(
        json!({"litellm_settings": {"success_callback": "generic", "failure_callback": ["custom_callback_api"]}}),
        &[ENDPOINT],
    )
    .unwrap();
    assert_eq!(only(&l).events, Events::BOTH);
    assert!(
        Events::default()
            == Events {
                success: false,
                failure: false
            }
    );
}

#[test]
fn litellm_generic_logger_headers_add_to_the_variables() {
    let l = load(
        json!({"litellm_settings": {"callbacks": ["generic_api"],
            "generic_logger_headers": {"X-Team": "t2", "X-Key": "os.environ/LOG_KEY"}}}),
        &[
            ENDPOINT,
            ("GENERIC_LOGGER_HEADERS", "x-team=t1"),
            ("LOG_KEY", "k9"),
        ],
    )
    .unwrap();
    let h = headers(only(&l));
    assert_eq!(
        h[4..],
        [
            ("content-type", "application/json"),
            ("x-team", "t2"),
            ("x-key", "k9")
        ]
    );
}

#[test]
fn callback_settings_name_more_generic_endpoints() {
    let l = load(
        json!({
            "litellm_settings": {"success_callback": ["audit", "generic_api"], "failure_callback": ["audit"]},
            "callback_settings": {"audit": {
                "callback_type": "generic_api",
                "endpoint": "os.environ/AUDIT_URL",
                "headers": {"Authorization": "Bearer a"},
                "event_types": ["llm_api_failure"],
                "log_format": "ndjson",
                "max_retries": 2,
                "retry_delay": 0.5,
                "timeout": 3
            }}
        }),
        &[ENDPOINT, ("AUDIT_URL", "https://audit.example.com/v1/logs")],
    )
    .unwrap();
    let names: Vec<&str> = l
        .settings
        .destinations
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["generic_api", "audit"]);
    let a = &l.settings.destinations[1];
    assert_eq!(a.events, Events::FAILURE);
    assert_eq!(a.framing, Framing::Ndjson);
    assert_eq!(
        (
            a.limits.max_retries,
            a.limits.retry_delay_ms,
            a.limits.callout_timeout_ms
        ),
        (2, 500, 3_000)
    );
    assert_eq!(
        a.endpoint.destination.cluster,
        "webhook_audit_example_com_443"
    );
    assert_eq!(a.endpoint.destination.id, "audit");
    // Only success asked for, but event_types allow only failures: nothing to send.
    let l = load(
        json!({"litellm_settings": {"success_callback": ["audit"]},
            "callback_settings": {"audit": {"callback_type": "generic_api",
                "endpoint": "http://a:1/x", "event_types": ["llm_api_failure"], "log_format": "single"}}}),
        &[],
    )
    .unwrap();
    assert!(l.settings.destinations.is_empty());
}

#[test]
fn opentelemetry_from_litellms_variables() {
    let l = load(
        json!({"litellm_settings": {"callbacks": ["otel"]}}),
        &[
            ("OTEL_EXPORTER", "otlp_http"),
            ("OTEL_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_HEADERS",
                "x-honeycomb-team=abc,Authorization=Bearer%20k",
            ),
            ("OTEL_SERVICE_NAME", "gateway"),
        ],
    )
    .unwrap();
    let d = only(&l);
    assert_eq!(d.name, "otel");
    assert_eq!(
        d.kind,
        DestinationKind::Otel(OtelResource {
            service_name: "gateway".into(),
            environment: "production".into(),
            model_id: "gateway".into(),
            tracer_name: "litellm".into(),
        })
    );
    assert!(
        matches!(&d.framing, Framing::Enclosed { head, .. } if head.starts_with(r#"{"resourceSpans":"#))
    );
    assert_eq!(d.endpoint.destination.cluster, "webhook_collector_4318");
    assert_eq!(
        headers(d)[1..],
        [
            (":path", "/v1/traces"),
            (":authority", "collector:4318"),
            (":scheme", "http"),
            ("content-type", "application/json"),
            ("x-honeycomb-team", "abc"),
            ("authorization", "Bearer k"),
        ]
    );
}

#[test]
fn otlp_variables_win_and_an_endpoint_alone_means_otlp_http() {
    let l = load(
        json!({"litellm_settings": {"callbacks": ["opentelemetry"]}}),
        &[
            ("OTEL_ENDPOINT", "http://old:4318"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://api.honeycomb.io/v1/traces",
            ),
        ],
    )
    .unwrap();
    let d = only(&l);
    assert_eq!(
        d.endpoint.destination.cluster,
        "webhook_api_honeycomb_io_443"
    );
    assert_eq!(d.endpoint.destination.path, "/v1/traces");
}

#[test]
fn console_and_grpc_exporters_are_accepted_and_send_nothing() {
    let l = load(json!({"litellm_settings": {"callbacks": ["otel"]}}), &[]).unwrap();
    assert!(l.settings.destinations.is_empty());
    assert_eq!(
        l.warnings,
        ["OTEL_EXPORTER=console: the filter has no console; set OTEL_ENDPOINT to an OTLP/HTTP collector. No spans are sent"]
    );
    let l = load(
        json!({"litellm_settings": {"callbacks": ["otel"]}}),
        &[
            ("OTEL_EXPORTER", "otlp_grpc"),
            ("OTEL_ENDPOINT", "http://c:4317"),
        ],
    )
    .unwrap();
    assert!(l.settings.destinations.is_empty());
    assert!(
        l.warnings[0].starts_with("OTEL_EXPORTER=otlp_grpc: the filter sends OTLP over HTTP only")
    );
}

#[test]
fn langfuse_through_its_otel_endpoint() {
    let l = load(
        json!({"litellm_settings": {"callbacks": ["langfuse_otel"]}}),
        &[
            ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
            ("LANGFUSE_SECRET_KEY", "sk-lf-2"),
        ],
    )
    .unwrap();
    let d = only(&l);
    assert_eq!(d.name, "langfuse_otel");
    assert_eq!(
        d.endpoint.destination.cluster,
        "webhook_us_cloud_langfuse_com_443"
    );
    assert_eq!(
        headers(d)[1..],
        [
            (":path", "/api/public/otel/v1/traces"),
            (":authority", "us.cloud.langfuse.com"),
            (":scheme", "https"),
            ("content-type", "application/json"),
            ("authorization", "Basic cGstbGYtMTpzay1sZi0y"),
            ("x-langfuse-ingestion-version", "4"),
        ]
    );
    let l = load(
        json!({"litellm_settings": {"callbacks": ["langfuse_otel"]}}),
        &[
            ("LANGFUSE_PUBLIC_KEY", "pk"),
            ("LANGFUSE_SECRET_KEY", "sk"),
            ("LANGFUSE_HOST", "http://127.0.0.1:3000"),
        ],
    )
    .unwrap();
    assert_eq!(
        only(&l).endpoint.destination.cluster,
        "webhook_127_0_0_1_3000"
    );
    assert_eq!(
        error(json!({"litellm_settings": {"callbacks": ["langfuse_otel"]}}), &[]),
        "litellm_settings.callbacks[0]: langfuse_otel needs LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"
    );
}

#[test]
fn datadog_logs_intake() {
    let l = load(
        json!({"litellm_settings": {"success_callback": ["datadog"]}}),
        &[
            ("DD_API_KEY", "dd-secret"),
            ("DD_SITE", "us5.datadoghq.com"),
            ("DD_BATCH_SIZE", "50"),
            ("DD_ENV", "prod"),
            ("HOSTNAME", "envoy-1"),
        ],
    )
    .unwrap();
    let d = only(&l);
    assert_eq!(
        d.endpoint.destination.cluster,
        "webhook_http-intake_logs_us5_datadoghq_com_443"
    );
    assert_eq!(d.endpoint.destination.path, "/api/v2/logs");
    assert_eq!(headers(d)[5], ("dd-api-key", "dd-secret"));
    assert_eq!(d.limits.batch_max_records, 50);
    let DestinationKind::Datadog(f) = &d.kind else {
        panic!("datadog kind");
    };
    assert_eq!(
        (
            f.source.as_str(),
            f.service.as_str(),
            f.hostname.as_str(),
            f.base_tags.as_str()
        ),
        (
            "litellm",
            "litellm-server",
            "envoy-1",
            "env:prod,service:litellm-server,version:unknown,HOSTNAME:envoy-1,POD_NAME:unknown"
        )
    );
    assert_eq!(
        error(
            json!({"litellm_settings": {"callbacks": ["datadog"]}}),
            &[("DD_SITE", "x")]
        ),
        "litellm_settings.callbacks[0]: datadog needs DD_API_KEY (or LITELLM_DD_AGENT_HOST)"
    );
    assert_eq!(
        error(
            json!({"litellm_settings": {"callbacks": ["datadog"]}}),
            &[("DD_API_KEY", "k")]
        ),
        "litellm_settings.callbacks[0]: datadog needs DD_SITE (or LITELLM_DD_AGENT_HOST)"
    );
}

#[test]
fn other_callbacks_are_warned_about_once() {
    let l = load(
        json!({"litellm_settings": {"callbacks": ["prometheus", "langfuse", 3]}}),
        &[],
    )
    .unwrap();
    assert!(l.settings.destinations.is_empty());
    assert_eq!(
        l.warnings,
        [
            "litellm_settings.callbacks[1]: callback \"langfuse\" is not one the filter can send to (generic_api, otel, langfuse_otel, datadog, or a callback_settings generic_api); ignored",
            "litellm_settings.callbacks[2]: not a callback name; ignored",
        ]
    );
}

#[test]
fn refusals_name_the_path() {
    type Case = (Value, &'static [(&'static str, &'static str)], &'static str);
    let cases: Vec<Case> = vec![
        (
            json!({"litellm_settings": {"success_callback": ["generic_api"]}}),
            &[],
            "litellm_settings.success_callback[0]: the generic logger needs GENERIC_LOGGER_ENDPOINT (environment_variables or the VM's environment)",
        ),
        (
            json!({"litellm_settings": {"callbacks": ["generic_api"]}}),
            &[("GENERIC_LOGGER_ENDPOINT", "ftp://x/y")],
            "GENERIC_LOGGER_ENDPOINT: not a valid webhook URL (scheme must be http or https)",
        ),
        (
            json!({"litellm_settings": {"callbacks": ["generic_api"]}}),
            &[ENDPOINT, ("GENERIC_LOGGER_HEADERS", "bad header=x")],
            "GENERIC_LOGGER_HEADERS: \"bad header\" is not a valid header name",
        ),
        (
            json!({"litellm_settings": {"callbacks": ["otel"]}}),
            &[("OTEL_ENDPOINT", "http://c:4318"), ("OTEL_HEADERS", "novalue")],
            "OTEL_HEADERS: every item must be key=value",
        ),
        (
            json!({"litellm_settings": {"callbacks": "otel", "turn_off_message_logging": "yes"}}),
            &[],
            "litellm_settings.turn_off_message_logging: expected a boolean, got string",
        ),
        (
            json!({"litellm_settings": {"callbacks": {"otel": true}}}),
            &[],
            "litellm_settings.callbacks: expected a list of callback names, got object",
        ),
        (
            json!({"litellm_settings": {"callbacks": ["a"]}, "callback_settings": {"a": {"callback_type": "generic_api"}}}),
            &[],
            "callback_settings.a.endpoint: required for a generic_api callback",
        ),
        (
            json!({"litellm_settings": {"callbacks": ["a"]}, "callback_settings": {"a": {"callback_type": "generic_api", "endpoint": "http://a:1/", "log_format": "csv"}}}),
            &[],
            "callback_settings.a.log_format: expected \"json_array\", \"ndjson\" or \"single\"",
        ),
        (
            json!({"litellm_settings": {"callbacks": ["a"]}, "callback_settings": {"a": {"callback_type": "generic_api", "endpoint": "http://a:1/", "event_types": ["llm_api_success", "spend"]}}}),
            &[],
            "callback_settings.a.event_types[1]: expected \"llm_api_success\" or \"llm_api_failure\"",
        ),
        (
            json!({"litellm_settings": {"callbacks": ["a"]}, "callback_settings": {"a": {"callback_type": "generic_api", "endpoint": "os.environ/NOPE"}}}),
            &[],
            "callback_settings.a.endpoint: environment variable NOPE is not set",
        ),
        (
            json!({"litellm_settings": {"callbacks": ["a"]}, "callback_settings": {"a": {"callback_type": "generic_api", "endpoint": "http://a:1/", "headers": {"x": "secret\nvalue"}}}}),
            &[],
            "callback_settings.a.headers.x: the value of header \"x\" has characters a header cannot carry",
        ),
        (
            json!({"telemetry_settings": {"logging": {"max_retries": -1}}}),
            &[],
            "telemetry_settings.logging.max_retries: expected an integer >= 0, got number",
        ),
        (
            json!({"telemetry_settings": {"logging": {"flush_interval_seconds": 0}}}),
            &[],
            "telemetry_settings.logging.flush_interval_seconds: expected a number of seconds > 0, got number",
        ),
        (
            json!({"telemetry_settings": {"logging": {"queue_size": 3}}}),
            &[],
            "telemetry_settings.logging.queue_size: unknown key (expected one of: response_headers, filter_state, max_logged_body_bytes, allow_client_message_redaction_opt_out, batch_max_records, batch_max_bytes, flush_interval_seconds, queue_max_records, queue_max_bytes, max_pending_bodies, max_retries, retry_delay_seconds, callout_timeout_ms)",
        ),
    ];
    for (doc, env, want) in cases {
        assert_eq!(error(doc.clone(), env), want, "{doc}");
        assert!(!want.contains("secret"));
    }
}

#[test]
fn our_logging_section_and_litellms_switches() {
    let l = load(
        json!({
            "litellm_settings": {"callbacks": ["generic_api"], "turn_off_message_logging": true,
                "redact_user_api_key_info": true, "disable_add_user_agent_to_request_tags": true},
            "telemetry_settings": {"logging": {
                "response_headers": false, "filter_state": true, "max_logged_body_bytes": 4096,
                "allow_client_message_redaction_opt_out": true, "batch_max_records": 100,
                "batch_max_bytes": 65536, "flush_interval_seconds": 2, "queue_max_records": 50,
                "queue_max_bytes": 100000, "max_pending_bodies": 2, "max_retries": 5,
                "retry_delay_seconds": 0.25, "callout_timeout_ms": 2000}}
        }),
        &[ENDPOINT],
    )
    .unwrap();
    let s = &l.settings;
    assert!(s.turn_off_message_logging && s.payload.redact_user_api_key_info);
    assert!(!s.payload.user_agent_tags && !s.response_headers && s.filter_state);
    assert!(s.allow_client_message_redaction_opt_out);
    assert_eq!(s.max_logged_body_bytes, 4096);
    assert_eq!(
        only(&l).limits,
        OutboxLimits {
            batch_max_records: 100,
            batch_max_bytes: 65536,
            flush_interval_ms: 2_000,
            queue_max_records: 50,
            queue_max_bytes: 100_000,
            max_pending_bodies: 2,
            max_retries: 5,
            retry_delay_ms: 250,
            callout_timeout_ms: 2_000,
        }
    );
}

#[test]
fn litellms_batch_variables() {
    let l = load(
        json!({"litellm_settings": {"callbacks": ["generic_api"]}}),
        &[
            ENDPOINT,
            ("DEFAULT_BATCH_SIZE", "64"),
            ("DEFAULT_FLUSH_INTERVAL_SECONDS", "x"),
        ],
    )
    .unwrap();
    assert_eq!(only(&l).limits.batch_max_records, 64);
    assert_eq!(only(&l).limits.flush_interval_ms, 5_000);
    assert_eq!(
        l.warnings,
        ["DEFAULT_FLUSH_INTERVAL_SECONDS: not a positive integer; the default is used"]
    );
}

#[test]
fn webhook_clusters_overrides_apply() {
    let mut o = HashMap::new();
    o.insert(
        "collector".to_string(),
        "outbound|4318||otel-collector.observability".to_string(),
    );
    let l = load_with(
        json!({"litellm_settings": {"callbacks": ["otel"]}}),
        &[("OTEL_ENDPOINT", "http://collector:4318")],
        &o,
    )
    .unwrap();
    assert_eq!(
        only(&l).endpoint.destination.cluster,
        "outbound|4318||otel-collector.observability"
    );
}
