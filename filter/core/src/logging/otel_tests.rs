//! OTLP/HTTP JSON spans and W3C trace context.

use super::call_id::IdGenerator;
use super::otel::{
    encode_span, parse_traceparent, OtelResource, SpanIds, SpanOptions, TraceParent,
};
use super::tests::{metadata, rate_limited, success};
use super::LogInput;
use crate::outbox::Framing;

const IDS: SpanIds<'static> = SpanIds {
    trace_id: [
        0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47,
        0x36,
    ],
    span_id: [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
    parent_span_id: Some([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]),
    trace_state: Some("vendor=x"),
    sampled: true,
};

fn span(input: &LogInput, ids: &SpanIds, opts: SpanOptions) -> String {
    let mut out = String::new();
    encode_span(input, ids, &opts, &mut out);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v.is_object());
    out
}

/// The fixtures' span up to its request metadata attributes, ending at `$end_ns`.
macro_rules! span_head {
    ($end_ns:literal) => {
        concat!(
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","#,
            r#""parentSpanId":"0102030405060708","traceState":"vendor=x","name":"gen1","kind":1,"#,
            r#""startTimeUnixNano":"1796216891000123000","endTimeUnixNano":""#,
            $end_ns,
            r#"","#,
            r#""attributes":[{"key":"metadata.user_api_key_hash","value":{"stringValue":"88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"}},"#,
            r#"{"key":"metadata.user_api_key_alias","value":{"stringValue":"app-key"}},"#,
            r#"{"key":"metadata.user_api_key_team_id","value":{"stringValue":"t1"}},"#,
            r#"{"key":"metadata.user_api_key_user_id","value":{"stringValue":"alice"}},"#,
            r#"{"key":"metadata.user_api_key_team_alias","value":{"stringValue":"Team A"}},"#,
            r#"{"key":"metadata.user_api_key_end_user_id","value":{"stringValue":"u1"}},"#,
            r#"{"key":"metadata.user_api_key_request_route","value":{"stringValue":"/v1/chat/completions"}},"#,
            r#"{"key":"metadata.spend_logs_metadata","value":{"stringValue":"{\"app\":\"a\"}"}},"#,
            r#"{"key":"metadata.requester_ip_address","value":{"stringValue":"10.0.0.7"}},"#,
            r#"{"key":"metadata.user_agent","value":{"stringValue":"curl/8.5.0"}},"#,
            r#"{"key":"metadata.requester_metadata","value":{"stringValue":"{\"generation_name\":\"gen1\",\"spend_logs_metadata\":{\"app\":\"a\"},\"tags\":[\"prod\",3]}"}},"#,
        )
    };
}

/// A successful chat completion's span: LiteLLM's attributes, then the semantic conventions'.
const SUCCESS_SPAN: &str = concat!(
    span_head!("1796216892500123000"),
    r#"{"key":"metadata.usage_object","value":{"stringValue":"{\"completion_tokens\":10,\"prompt_tokens\":19,\"total_tokens\":29,\"completion_tokens_details\":{\"reasoning_tokens\":2,\"audio_tokens\":0},\"prompt_tokens_details\":{\"cached_tokens\":3,\"audio_tokens\":0},\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":3}"}},"#,
    r#"{"key":"hidden_params","value":{"stringValue":"{\"model_id\":\"dep-1\",\"cache_key\":null,\"api_base\":\"https://api.openai.com/v1\",\"response_cost\":0.00014125,\"additional_headers\":{\"x_ratelimit_limit_requests\":500,\"x_ratelimit_limit_tokens\":30000,\"x_ratelimit_remaining_requests\":499,\"x_ratelimit_remaining_tokens\":29000},\"litellm_overhead_time_ms\":0.0,\"batch_models\":null,\"batch_successful_requests\":null,\"batch_failed_requests\":null,\"litellm_model_name\":\"gpt-4o\",\"usage_object\":null}"}},"#,
    r#"{"key":"http.route","value":{"stringValue":"/v1/chat/completions"}},"#,
    r#"{"key":"litellm.model_group","value":{"stringValue":"gpt-4o"}},"#,
    r#"{"key":"litellm.provider.model","value":{"stringValue":"gpt-4o"}},"#,
    r#"{"key":"gen_ai.cost.input_cost","value":{"doubleValue":4.125e-05}},"#,
    r#"{"key":"gen_ai.cost.output_cost","value":{"doubleValue":0.0001}},"#,
    r#"{"key":"gen_ai.cost.total_cost","value":{"doubleValue":0.00014125}},"#,
    r#"{"key":"gen_ai.cost.tool_usage_cost","value":{"doubleValue":0.0}},"#,
    r#"{"key":"gen_ai.cost.service_tier","value":{"stringValue":"default"}},"#,
    r#"{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},"#,
    r#"{"key":"llm.request.type","value":{"stringValue":"acompletion"}},"#,
    r#"{"key":"gen_ai.system","value":{"stringValue":"openai"}},"#,
    r#"{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},"#,
    r#"{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},"#,
    r#"{"key":"gen_ai.request.max_tokens","value":{"intValue":"100"}},"#,
    r#"{"key":"gen_ai.request.temperature","value":{"doubleValue":0.2}},"#,
    r#"{"key":"llm.is_streaming","value":{"stringValue":"False"}},"#,
    r#"{"key":"llm.user","value":{"stringValue":"u1"}},"#,
    r#"{"key":"gen_ai.response.id","value":{"stringValue":"chatcmpl-abc"}},"#,
    r#"{"key":"litellm.call_id","value":{"stringValue":"b980db26-9512-45cc-b1da-c511a363b83f"}},"#,
    r#"{"key":"gen_ai.response.model","value":{"stringValue":"gpt-4o-2024-08-06"}},"#,
    r#"{"key":"gen_ai.openai.response.service_tier","value":{"stringValue":"default"}},"#,
    r#"{"key":"gen_ai.usage.total_tokens","value":{"intValue":"29"}},"#,
    r#"{"key":"gen_ai.usage.output_tokens","value":{"intValue":"10"}},"#,
    r#"{"key":"gen_ai.usage.input_tokens","value":{"intValue":"19"}},"#,
    r#"{"key":"gen_ai.usage.cache_read.input_tokens","value":{"intValue":"3"}},"#,
    r#"{"key":"gen_ai.input.messages","value":{"stringValue":"[{\"parts\":[{\"content\":\"hi\",\"type\":\"text\"}],\"role\":\"user\"}]"}},"#,
    r#"{"key":"gen_ai.output.messages","value":{"stringValue":"[{\"finish_reason\":\"stop\",\"parts\":[{\"content\":\"Hello\",\"type\":\"text\"}],\"role\":\"assistant\"}]"}},"#,
    r#"{"key":"gen_ai.response.finish_reasons","value":{"stringValue":"[\"stop\"]"}},"#,
    r#"{"key":"http.response.status_code","value":{"intValue":"200"}}],"status":{"code":1}}"#,
);

/// The 429's span: error attributes and status ERROR.
const RATE_LIMITED_SPAN: &str = concat!(
    span_head!("1796216891100123000"),
    r#"{"key":"hidden_params","value":{"stringValue":"{\"model_id\":\"dep-1\",\"cache_key\":null,\"api_base\":\"https://api.openai.com/v1\",\"response_cost\":null,\"additional_headers\":{\"x_ratelimit_limit_requests\":500,\"x_ratelimit_limit_tokens\":30000,\"x_ratelimit_remaining_requests\":499,\"x_ratelimit_remaining_tokens\":29000,\"llm_provider-x-request-id\":\"req_123\"},\"litellm_overhead_time_ms\":null,\"batch_models\":null,\"batch_successful_requests\":null,\"batch_failed_requests\":null,\"litellm_model_name\":\"gpt-4o\",\"usage_object\":null}"}},"#,
    r#"{"key":"http.route","value":{"stringValue":"/v1/chat/completions"}},"#,
    r#"{"key":"litellm.model_group","value":{"stringValue":"gpt-4o"}},"#,
    r#"{"key":"litellm.provider.model","value":{"stringValue":"gpt-4o"}},"#,
    r#"{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},"#,
    r#"{"key":"llm.request.type","value":{"stringValue":"acompletion"}},"#,
    r#"{"key":"gen_ai.system","value":{"stringValue":"openai"}},"#,
    r#"{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},"#,
    r#"{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},"#,
    r#"{"key":"gen_ai.request.max_tokens","value":{"intValue":"100"}},"#,
    r#"{"key":"gen_ai.request.temperature","value":{"doubleValue":0.2}},"#,
    r#"{"key":"llm.is_streaming","value":{"stringValue":"False"}},"#,
    r#"{"key":"llm.user","value":{"stringValue":"u1"}},"#,
    r#"{"key":"gen_ai.response.id","value":{"stringValue":"b980db26-9512-45cc-b1da-c511a363b83f"}},"#,
    r#"{"key":"litellm.call_id","value":{"stringValue":"b980db26-9512-45cc-b1da-c511a363b83f"}},"#,
    r#"{"key":"gen_ai.input.messages","value":{"stringValue":"[{\"parts\":[{\"content\":\"hi\",\"type\":\"text\"}],\"role\":\"user\"}]"}},"#,
    r#"{"key":"http.response.status_code","value":{"intValue":"429"}},"#,
    r#"{"key":"error.code","value":{"stringValue":"429"}},"#,
    r#"{"key":"error.type","value":{"stringValue":"RateLimitError"}},"#,
    r#"{"key":"error.message","value":{"stringValue":"Rate limit reached for gpt-4o"}},"#,
    r#"{"key":"error.llm_provider","value":{"stringValue":"openai"}}],"status":{"code":2}}"#,
);

#[test]
fn spans_byte_for_byte() {
    let md = metadata();
    for (input, want) in [
        (success(&md), SUCCESS_SPAN),
        (rate_limited(&md), RATE_LIMITED_SPAN),
    ] {
        assert_eq!(span(&input, &IDS, SpanOptions::default()), want);
    }
}

#[test]
fn spans_go_inside_an_export_trace_service_request() {
    let Framing::Enclosed { head, tail } = OtelResource::default().framing() else {
        panic!("OTLP framing is an envelope");
    };
    assert_eq!(
        format!("{head}{tail}"),
        r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"litellm"}},{"key":"deployment.environment","value":{"stringValue":"production"}},{"key":"model_id","value":{"stringValue":"litellm"}}]},"scopeSpans":[{"scope":{"name":"litellm"},"spans":[]}]}]}"#
    );
    let md = metadata();
    let body = format!(
        "{head}{}{tail}",
        span(&success(&md), &IDS, SpanOptions::default())
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"],
        "00f067aa0ba902b7"
    );
    let custom = OtelResource {
        service_name: "gateway \"eu\"".into(),
        ..OtelResource::default()
    };
    let Framing::Enclosed { head, .. } = custom.framing() else {
        panic!("OTLP framing is an envelope");
    };
    assert!(head.contains(r#"{"key":"service.name","value":{"stringValue":"gateway \"eu\""}}"#));
}

#[test]
fn without_message_logging_no_content_attributes() {
    let md = metadata();
    let input = LogInput {
        messages_logged: false,
        ..success(&md)
    };
    let s = span(&input, &IDS, SpanOptions::default());
    assert!(!s.contains("gen_ai.input.messages") && !s.contains("gen_ai.output.messages"));
    assert!(!s.contains("Hello") && !s.contains("\\\"hi\\\""), "{s}");
}

#[test]
fn redact_user_api_key_info_drops_key_attributes() {
    let md = metadata();
    let s = span(
        &success(&md),
        &IDS,
        SpanOptions {
            redact_user_api_key_info: true,
        },
    );
    assert!(!s.contains("user_api_key"), "{s}");
    assert!(s.contains(r#"{"key":"metadata.requester_ip_address","#));
}

#[test]
fn traceparent_follows_w3c() {
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    assert_eq!(
        parse_traceparent(tp),
        Some(TraceParent {
            trace_id: IDS.trace_id,
            parent_span_id: IDS.span_id,
            sampled: true
        })
    );
    assert_eq!(
        parse_traceparent(&format!(" {tp} ")).map(|t| t.sampled),
        Some(true)
    );
    let unsampled = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    assert_eq!(unsampled.map(|t| t.sampled), Some(false));
    // A later version may carry more fields after a dash.
    assert!(
        parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
            .is_some()
    );
    for bad in [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        "é0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ] {
        assert_eq!(parse_traceparent(bad), None, "{bad:?}");
    }
}

#[test]
fn a_span_joins_the_callers_trace_or_starts_one() {
    let md = metadata();
    let mut gen = IdGenerator::from_seed(&[1]);
    let input = LogInput {
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        tracestate: Some(" congo=t61rcWkgMzE "),
        ..success(&md)
    };
    let ids = SpanIds::for_request(&input, &mut gen);
    assert_eq!(ids.trace_id, IDS.trace_id);
    assert_eq!(ids.parent_span_id, Some(IDS.span_id));
    assert_ne!(ids.span_id, IDS.span_id);
    assert_eq!(ids.trace_state, Some("congo=t61rcWkgMzE"));
    assert!(ids.sampled);
    let long = "k=".to_owned() + &"v".repeat(600);
    let fresh = SpanIds::for_request(
        &LogInput {
            traceparent: Some("garbage"),
            tracestate: Some(&long),
            ..success(&md)
        },
        &mut gen,
    );
    assert_ne!(fresh.trace_id, IDS.trace_id);
    assert_eq!((fresh.parent_span_id, fresh.trace_state), (None, None));
    let s = span(&success(&md), &fresh, SpanOptions::default());
    assert!(!s.contains("parentSpanId") && !s.contains("traceState"));
}

#[test]
fn a_bare_prompt_and_a_non_json_response_still_log_as_content() {
    let md = serde_json::Map::new();
    let input = LogInput {
        messages: Some(super::capture::Captured::whole(br#""Say hi""#)),
        response: Some(super::capture::Captured::whole(b"data: {}\n\n")),
        metadata: Some(&md),
        ..success(&md)
    };
    let s = span(&input, &IDS, SpanOptions::default());
    assert!(s.contains(r#"{"key":"gen_ai.input.messages","value":{"stringValue":"[{\"parts\":[{\"content\":\"Say hi\",\"type\":\"text\"}],\"role\":\"user\"}]"}}"#), "{s}");
    assert!(
        s.contains(r#"{"key":"gen_ai.output.messages","value":{"stringValue":"data: {}\n\n"}}"#),
        "{s}"
    );
    assert!(s.contains(r#""name":"litellm_request""#));
}
