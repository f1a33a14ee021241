//! Shared fixtures, and tests of [`Logging`]: what each destination receives for a request.

use super::*;
use crate::exchange::RateLimits;
use crate::outbox;
use crate::route::Api;
use crate::spend::cost::Cost;
use crate::usage::Usage;
use capture::Captured;
use serde_json::{json, Map, Value};

pub(super) const KEY_HASH: &str =
    "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b";
pub(super) const MESSAGES: &[u8] = br#"[{"role":"user","content":"hi"}]"#;
pub(super) const RESPONSE: &[u8] = br#"{"id":"chatcmpl-abc","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29}}"#;
pub(super) const PARAMS: &[(&str, &[u8])] = &[
    ("max_tokens", b"100"),
    ("temperature", b"0.2"),
    ("user", br#""u1""#),
];

pub(super) fn metadata() -> Map<String, Value> {
    match json!({"generation_name": "gen1", "spend_logs_metadata": {"app": "a"}, "tags": ["prod", 3]})
    {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A streamed-or-not chat completion that succeeded, as the wiring would fill it.
pub(super) fn success(md: &Map<String, Value>) -> LogInput<'_> {
    LogInput {
        call_id: "b980db26-9512-45cc-b1da-c511a363b83f",
        response_id: Some("chatcmpl-abc"),
        api: Some(Api::ChatCompletions),
        route: "/v1/chat/completions",
        requested_model: Some("gpt-4o"),
        model_parameters: PARAMS,
        metadata: Some(md),
        user_agent: Some("curl/8.5.0"),
        requester_ip: Some("10.0.0.7"),
        identity: Identity {
            hashed_api_key: Some(KEY_HASH),
            key_alias: Some("app-key"),
            team_id: Some("t1"),
            team_alias: Some("Team A"),
            user_id: Some("alice"),
            end_user: Some("u1"),
            provider: Some("openai"),
            ..Identity::default()
        },
        model: "openai/gpt-4o",
        litellm_model_name: Some("gpt-4o"),
        model_group: Some("gpt-4o"),
        model_id: Some("dep-1"),
        api_base: "https://api.openai.com/v1/",
        model_map_key: Some("gpt-4o"),
        status: 200,
        response_model: Some("gpt-4o-2024-08-06"),
        usage: Some(Usage {
            input: 19,
            output: 10,
            total: 29,
            input_cached: 3,
            output_reasoning: 2,
            ..Usage::default()
        }),
        cost: Some(Cost {
            input: 41_250_000,
            output: 100_000_000,
        }),
        served_service_tier: Some("default"),
        rate_limits: RateLimits {
            remaining_requests: Some(499),
            remaining_tokens: Some(29_000),
            limit_requests: Some(500),
            limit_tokens: Some(30_000),
        },
        start_ns: 1_796_216_891_000_123_000,
        first_byte_ns: Some(1_796_216_891_250_123_000),
        end_ns: 1_796_216_892_500_123_000,
        messages_logged: true,
        messages: Some(Captured::whole(MESSAGES)),
        response: Some(Captured::whole(RESPONSE)),
        ..LogInput::default()
    }
}

/// The same request answered 429 by the provider.
pub(super) fn rate_limited(md: &Map<String, Value>) -> LogInput<'_> {
    LogInput {
        response_id: None,
        status: 429,
        response_model: None,
        usage: None,
        cost: None,
        served_service_tier: None,
        error_message: Some("Rate limit reached for gpt-4o"),
        error_class: Some("RateLimitError"),
        provider_request_id: Some("req_123"),
        first_byte_ns: None,
        end_ns: 1_796_216_891_100_123_000,
        response: Some(Captured::whole(
            br#"{"error":{"message":"Rate limit reached for gpt-4o","type":"requests"}}"#,
        )),
        ..success(md)
    }
}

fn logging(doc: Value, env: &[(&str, &str)]) -> Logging {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let loaded = settings::parse(doc.as_object().unwrap(), &lookup, &Default::default()).unwrap();
    Logging::new(loaded.settings, &[1_796_216_891_000_000_000, 1])
}

fn payload_of(input: &LogInput) -> String {
    let mut out = String::new();
    payload::encode_payload(input, &payload::PayloadOptions::default(), &mut out);
    out
}

const GENERIC_ENV: &[(&str, &str)] = &[
    (
        "GENERIC_LOGGER_ENDPOINT",
        "http://127.0.0.1:18081/log-event",
    ),
    ("GENERIC_LOGGER_HEADERS", "Authorization=Bearer sk-log"),
];

#[test]
fn the_generic_endpoint_receives_one_json_list_per_batch() {
    let md = metadata();
    let mut l = logging(
        json!({"litellm_settings": {"callbacks": ["generic_api"]}}),
        GENERIC_ENV,
    );
    assert!(l.is_active());
    assert!(
        l.on_finished(&success(&md), 1_000).is_empty(),
        "no filter state"
    );
    l.on_finished(&rate_limited(&md), 2_000);
    // Nothing goes before the flush interval (5 s after the first record).
    assert!(l.on_tick(5_999).is_empty());
    let calls = l.on_tick(6_000);
    assert_eq!(
        calls,
        [LogCallout {
            destination: 0,
            body: 1
        }]
    );
    let c = l.callout(calls[0]).unwrap();
    assert_eq!(c.cluster, "webhook_127_0_0_1_18081");
    assert_eq!(c.timeout_ms, 5_000);
    assert_eq!(
        c.headers,
        [
            (":method", "POST"),
            (":path", "/log-event"),
            (":authority", "127.0.0.1:18081"),
            (":scheme", "http"),
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-log"),
        ]
    );
    let want = format!(
        "[{},{}]",
        payload_of(&success(&md)),
        payload_of(&rate_limited(&md))
    );
    assert_eq!(c.body, want);
    assert_eq!(
        l.on_callout_result(calls[0], 200, 6_100),
        outbox::Settled::Sent
    );
    let counters = l.take_counters();
    assert_eq!(counters.len(), 1);
    assert_eq!(counters[0].0, "generic_api");
    assert_eq!((counters[0].1.queued, counters[0].1.sent), (2, 2));
    assert!(l.callout(calls[0]).is_none(), "settled");
}

#[test]
fn success_callback_only_receives_successes() {
    let md = metadata();
    let mut l = logging(
        json!({"litellm_settings": {"success_callback": ["generic"]}}),
        GENERIC_ENV,
    );
    l.on_finished(&rate_limited(&md), 0);
    assert!(l.on_tick(10_000).is_empty());
    l.on_finished(&success(&md), 10_000);
    assert_eq!(l.on_tick(15_000).len(), 1);
}

#[test]
fn a_down_endpoint_costs_requests_nothing_and_every_loss_is_counted() {
    let md = metadata();
    let mut l = logging(
        json!({"litellm_settings": {"callbacks": ["generic_api"]},
               "telemetry_settings": {"logging": {"queue_max_records": 3, "max_pending_bodies": 1,
                   "batch_max_records": 2, "max_retries": 1}}}),
        GENERIC_ENV,
    );
    // Requests only queue: 5 records into a queue of 3.
    for i in 0..5 {
        l.on_finished(&success(&md), i);
    }
    let first = l.on_tick(10);
    assert_eq!(first.len(), 1);
    assert_eq!(
        l.on_callout_result(first[0], 503, 20),
        outbox::Settled::Retrying { at_ms: 1_020 }
    );
    let retry = l.on_tick(1_020);
    assert_eq!(retry, first, "the same body again");
    assert_eq!(
        l.on_callout_result(retry[0], 0, 1_030),
        outbox::Settled::Dropped
    );
    let (_, c) = l.take_counters()[0];
    assert_eq!(
        (
            c.queued,
            c.dropped_queue_full,
            c.failed_attempts,
            c.retries,
            c.dropped_retries_exhausted
        ),
        (5, 2, 2, 1, 2)
    );
}

#[test]
fn opentelemetry_receives_one_span_per_request_in_an_otlp_envelope() {
    let md = metadata();
    let mut l = logging(
        json!({"litellm_settings": {"callbacks": ["otel"]}}),
        &[("OTEL_ENDPOINT", "http://127.0.0.1:4318")],
    );
    let joined = LogInput {
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ..success(&md)
    };
    l.on_finished(&joined, 0);
    l.on_finished(&rate_limited(&md), 0);
    // The caller's trace is not sampled: no span, as LiteLLM's parent-based sampler decides.
    let unsampled = LogInput {
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
        ..success(&md)
    };
    l.on_finished(&unsampled, 0);
    let calls = l.on_tick(5_000);
    let c = l.callout(calls[0]).unwrap();
    assert_eq!(c.cluster, "webhook_127_0_0_1_4318");
    assert_eq!(c.headers[1], (":path", "/v1/traces"));
    let v: Value = serde_json::from_str(c.body).unwrap();
    let spans = v["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(spans[0]["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(spans[1]["status"]["code"], 2);
    assert!(spans[1].get("parentSpanId").is_none());
    assert_ne!(spans[0]["spanId"], spans[1]["spanId"]);
    assert_eq!(
        v["resourceSpans"][0]["resource"]["attributes"][0],
        json!({"key": "service.name", "value": {"stringValue": "litellm"}})
    );
}

#[test]
fn datadog_entries_carry_the_payload_as_message() {
    let md = metadata();
    let mut l = logging(
        json!({"litellm_settings": {"callbacks": ["datadog"]}}),
        &[
            ("DD_API_KEY", "k"),
            ("DD_SITE", "datadoghq.com"),
            ("HOSTNAME", "envoy-1"),
        ],
    );
    l.on_finished(&rate_limited(&md), 0);
    let calls = l.on_tick(5_000);
    let c = l.callout(calls[0]).unwrap();
    let prefix = concat!(
        r#"[{"ddsource":"litellm","ddtags":"env:unknown,service:litellm-server,version:unknown,"#,
        r#"HOSTNAME:envoy-1,POD_NAME:unknown,request_tag:prod,team:team_a","hostname":"envoy-1","#,
        r#""message":"{\"id\":\"b980db26-9512-45cc-b1da-c511a363b83f\",\"litellm_call_id\":"#
    );
    assert!(c.body.starts_with(prefix), "{}", c.body);
    assert!(c
        .body
        .ends_with(r#"","service":"litellm-server","status":"error"}]"#));
    let v: Value = serde_json::from_str(c.body).unwrap();
    assert_eq!(
        v[0]["message"].as_str().unwrap(),
        payload_of(&rate_limited(&md))
    );
    assert_eq!(
        super::datadog_tag_value("  User-Agent: curl/8.5  "),
        "user-agent:_curl/8.5"
    );
    assert_eq!(super::datadog_tag_value("__A__b__"), "a_b");
}

#[test]
fn filter_state_holds_the_payload_for_access_logs() {
    let md = metadata();
    let mut l = logging(
        json!({"telemetry_settings": {"logging": {"filter_state": true}}}),
        &[],
    );
    assert!(l.is_active());
    let entries = l.on_finished(&success(&md), 0);
    assert_eq!(
        entries[0],
        (access_log::PAYLOAD_KEY, payload_of(&success(&md)))
    );
    assert!(entries.contains(&(
        "llm_telemetry.litellm_call_id",
        success(&md).call_id.to_owned()
    )));
    assert!(entries.contains(&("llm_telemetry.response_cost", "0.00014125".to_owned())));
    assert!(l.on_tick(10_000).is_empty(), "no destination");
    let off = logging(json!({}), &[]);
    assert!(!off.is_active());
}

#[test]
fn call_ids_reuse_sane_client_ids_else_are_generated() {
    let mut l = logging(json!({}), &[]);
    assert_eq!(l.call_id(Some("mine-1"), Some("envoy-2")), "mine-1");
    assert_eq!(l.call_id(None, Some("envoy-2")), "envoy-2");
    let a = l.call_id(Some("no good"), None);
    let b = l.call_id(None, None);
    assert_eq!((a.len(), b.len()), (36, 36));
    assert_ne!(a, b);
}

#[test]
fn redaction_opt_out_needs_permission() {
    let off = json!({"litellm_settings": {"turn_off_message_logging": true, "callbacks": ["generic_api"]}});
    let l = logging(off.clone(), GENERIC_ENV);
    let disable = capture::RedactionHeaders {
        disable: true,
        enable: false,
    };
    assert!(!l.messages_logged(disable, false));
    assert!(
        l.messages_logged(disable, true),
        "the caller's key or team allows it"
    );
    assert!(l.body_capture(l.messages_logged(disable, false)).is_none());
    assert!(l.body_capture(l.messages_logged(disable, true)).is_some());
    let mut everyone = off;
    everyone["telemetry_settings"] =
        json!({"logging": {"allow_client_message_redaction_opt_out": true}});
    assert!(logging(everyone, GENERIC_ENV).messages_logged(disable, false));
    // Nothing reads bodies without a destination: none copied.
    let idle = logging(json!({}), &[]);
    assert!(idle.body_capture(true).is_none());
}

#[test]
fn response_headers_can_be_turned_off() {
    let v = headers::HeaderValues {
        call_id: "c1",
        ..Default::default()
    };
    assert_eq!(logging(json!({}), &[]).response_headers(&v).len(), 2);
    let off = logging(
        json!({"telemetry_settings": {"logging": {"response_headers": false}}}),
        &[],
    );
    assert!(off.response_headers(&v).is_empty());
}

/// Not a test: a loop for counting instructions per encode under valgrind (no timing is
/// asserted anywhere). `N` encodes of `W` (`payload`, `span`, with `_nobody` for no logged
/// bodies, or `none`); the difference between two `N` divided by their difference is the cost of
/// one, e.g. `N=200` and `N=1200` under `valgrind --tool=cachegrind --cache-sim=no
/// --branch-sim=no <test binary> --ignored --exact logging::tests::encode_loop_for_instruction_counts`.
#[test]
#[ignore]
fn encode_loop_for_instruction_counts() {
    let n: usize = std::env::var("N").map_or(1, |v| v.parse().unwrap_or(1));
    let which = std::env::var("W").unwrap_or_else(|_| "payload".to_owned());
    let md = metadata();
    let with_bodies = success(&md);
    let no_bodies = LogInput {
        messages: None,
        response: None,
        ..success(&md)
    };
    let input = if which.ends_with("_nobody") {
        no_bodies
    } else {
        with_bodies
    };
    let which = which.trim_end_matches("_nobody").to_owned();
    let mut buf = String::new();
    let ids = otel::SpanIds::for_request(&input, &mut call_id::IdGenerator::from_seed(&[1]));
    for _ in 0..n {
        buf.clear();
        match which.as_str() {
            "payload" => {
                payload::encode_payload(&input, &payload::PayloadOptions::default(), &mut buf)
            }
            "span" => otel::encode_span(&input, &ids, &otel::SpanOptions::default(), &mut buf),
            _ => {}
        }
    }
    assert!(n == 0 || !buf.is_empty() || which == "none");
}
