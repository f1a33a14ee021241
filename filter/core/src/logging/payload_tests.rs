//! The StandardLoggingPayload, byte for byte.

use super::capture::Captured;
use super::payload::{encode_payload, PayloadOptions};
use super::tests::{metadata, rate_limited, success};
use super::LogInput;

fn payload(input: &LogInput, opts: PayloadOptions) -> String {
    let mut out = String::new();
    encode_payload(input, &opts, &mut out);
    // Always one valid JSON object.
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v.is_object());
    out
}

fn field(json: &str, key: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v[key].clone()
}

/// The fixtures' `metadata` object (the caller, the request's metadata), around `$usage`.
macro_rules! metadata_json {
    ($usage:literal) => {
        concat!(
            r#""metadata":{"user_api_key_hash":"88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b","#,
            r#""user_api_key_alias":"app-key","user_api_key_spend":null,"user_api_key_max_budget":null,"#,
            r#""user_api_key_budget_reset_at":null,"user_api_key_user_spend":null,"#,
            r#""user_api_key_user_max_budget":null,"user_api_key_team_spend":null,"#,
            r#""user_api_key_team_max_budget":null,"user_api_key_team_id":"t1","#,
            r#""user_api_key_org_id":null,"user_api_key_org_alias":null,"user_api_key_project_id":null,"#,
            r#""user_api_key_project_alias":null,"user_api_key_user_id":"alice","#,
            r#""user_api_key_team_alias":"Team A","user_api_key_user_email":null,"#,
            r#""user_api_key_end_user_id":"u1","user_api_key_request_route":"/v1/chat/completions","#,
            r#""spend_logs_metadata":{"app":"a"},"requester_ip_address":"10.0.0.7","#,
            r#""user_agent":"curl/8.5.0","#,
            r#""requester_metadata":{"generation_name":"gen1","spend_logs_metadata":{"app":"a"},"tags":["prod",3]},"#,
            r#""prompt_management_metadata":null,"applied_guardrails":null,"#,
            r#""mcp_tool_call_metadata":null,"vector_store_request_metadata":null,"#,
            r#""routing_decision":null,"#,
            r#""usage_object":"#,
            $usage,
            r#","requester_custom_headers":null,"cold_storage_object_key":null,"#,
            r#""user_api_key_auth_metadata":null,"team_alias":null,"team_id":null,"#,
            r#""used_client_oauth_token":null},"#,
        )
    };
}

/// A chat completion that succeeded, every field in LiteLLM's order.
const SUCCESS: &str = concat!(
    r#"{"id":"chatcmpl-abc","litellm_call_id":"b980db26-9512-45cc-b1da-c511a363b83f","#,
    r#""trace_id":"b980db26-9512-45cc-b1da-c511a363b83f","session_id":"","#,
    r#""call_type":"acompletion","cache_hit":null,"stream":null,"status":"success","#,
    r#""status_fields":{"llm_api_status":"success","guardrail_status":"not_run"},"#,
    r#""custom_llm_provider":"openai","saved_cache_cost":0.0,"startTime":1796216891.000123,"#,
    r#""endTime":1796216892.500123,"completionStartTime":1796216892.500123,"response_time":1.5,"#,
    r#""model":"openai/gpt-4o","#,
    metadata_json!(
        r#"{"completion_tokens":10,"prompt_tokens":19,"total_tokens":29,"completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0},"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"cache_creation_input_tokens":0,"cache_read_input_tokens":3}"#
    ),
    r#""cache_key":null,"response_cost":0.00014125,"#,
    r#""cost_breakdown":{"input_cost":4.125e-05,"output_cost":0.0001,"total_cost":0.00014125,"#,
    r#""tool_usage_cost":0.0,"service_tier":"default","data_residency":null,"#,
    r#""vertex_location":null},"autorouter_savings":null,"autorouter_savings_estimate":null,"#,
    r#""autorouter_baseline_observation":null,"total_tokens":29,"prompt_tokens":19,"#,
    r#""completion_tokens":10,"request_tags":["prod","User-Agent: curl","#,
    r#""User-Agent: curl/8.5.0"],"request_model_access_groups":[],"end_user":"u1","#,
    r#""api_base":"https://api.openai.com/v1","model_group":"gpt-4o","model_id":"dep-1","#,
    r#""requester_ip_address":"10.0.0.7","user_agent":"curl/8.5.0","#,
    r#""messages":[{"role":"user","content":"hi"}],"response":{"id":"chatcmpl-abc","#,
    r#""object":"chat.completion","model":"gpt-4o-2024-08-06","#,
    r#""choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"#,
    r#""usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29}},"#,
    r#""model_parameters":{"max_tokens":100,"temperature":0.2,"user":"u1"},"#,
    r#""hidden_params":{"model_id":"dep-1","cache_key":null,"#,
    r#""api_base":"https://api.openai.com/v1","response_cost":0.00014125,"#,
    r#""additional_headers":{"x_ratelimit_limit_requests":500,"x_ratelimit_limit_tokens":30000,"x_ratelimit_remaining_requests":499,"x_ratelimit_remaining_tokens":29000},"#,
    r#""litellm_overhead_time_ms":0.0,"batch_models":null,"batch_successful_requests":null,"#,
    r#""batch_failed_requests":null,"litellm_model_name":"gpt-4o","usage_object":null},"#,
    r#""model_map_information":{"model_map_key":"gpt-4o","model_map_value":null},"#,
    r#""error_str":null,"error_information":{"error_code":"","error_class":"","#,
    r#""llm_provider":"","traceback":"","error_message":"","error_provider_request_id":null,"#,
    r#""error_rate_limit_category":null,"error_rate_limit_type":null,"#,
    r#""error_budget_entity_type":null,"error_budget_entity_id":null,"error_budget_limit":null,"#,
    r#""error_budget_spend":null,"normalized_error":null},"#,
    r#""response_cost_failure_debug_info":null,"zero_cost_diagnostic":null,"#,
    r#""guardrail_information":null,"standard_built_in_tools_params":null}"#,
);

/// The same request refused with a 429.
const RATE_LIMITED: &str = concat!(
    r#"{"id":"b980db26-9512-45cc-b1da-c511a363b83f","#,
    r#""litellm_call_id":"b980db26-9512-45cc-b1da-c511a363b83f","#,
    r#""trace_id":"b980db26-9512-45cc-b1da-c511a363b83f","session_id":"","#,
    r#""call_type":"acompletion","cache_hit":false,"stream":null,"status":"failure","#,
    r#""status_fields":{"llm_api_status":"failure","guardrail_status":"not_run"},"#,
    r#""custom_llm_provider":"openai","saved_cache_cost":0.0,"startTime":1796216891.000123,"#,
    r#""endTime":1796216891.100123,"completionStartTime":1796216891.100123,"response_time":0.1,"#,
    r#""model":"openai/gpt-4o","#,
    metadata_json!("{}"),
    r#""cache_key":null,"response_cost":0.0,"#,
    r#""cost_breakdown":null,"autorouter_savings":null,"autorouter_savings_estimate":null,"#,
    r#""autorouter_baseline_observation":null,"total_tokens":0,"prompt_tokens":0,"#,
    r#""completion_tokens":0,"request_tags":["prod","User-Agent: curl","#,
    r#""User-Agent: curl/8.5.0"],"request_model_access_groups":[],"end_user":"u1","#,
    r#""api_base":"https://api.openai.com/v1","model_group":"gpt-4o","model_id":"dep-1","#,
    r#""requester_ip_address":"10.0.0.7","user_agent":"curl/8.5.0","#,
    r#""messages":[{"role":"user","content":"hi"}],"#,
    r#""response":{"error":{"message":"Rate limit reached for gpt-4o","type":"requests"}},"#,
    r#""model_parameters":{"max_tokens":100,"temperature":0.2,"user":"u1"},"#,
    r#""hidden_params":{"model_id":"dep-1","cache_key":null,"#,
    r#""api_base":"https://api.openai.com/v1","response_cost":null,"#,
    r#""additional_headers":{"x_ratelimit_limit_requests":500,"x_ratelimit_limit_tokens":30000,"x_ratelimit_remaining_requests":499,"x_ratelimit_remaining_tokens":29000,"llm_provider-x-request-id":"req_123"},"#,
    r#""litellm_overhead_time_ms":null,"batch_models":null,"batch_successful_requests":null,"#,
    r#""batch_failed_requests":null,"litellm_model_name":"gpt-4o","usage_object":null},"#,
    r#""model_map_information":{"model_map_key":"gpt-4o","model_map_value":null},"#,
    r#""error_str":"Rate limit reached for gpt-4o","error_information":{"error_code":"429","#,
    r#""error_class":"RateLimitError","llm_provider":"openai","traceback":"","#,
    r#""error_message":"Rate limit reached for gpt-4o","error_provider_request_id":"req_123","#,
    r#""error_rate_limit_category":null,"error_rate_limit_type":null,"#,
    r#""error_budget_entity_type":null,"error_budget_entity_id":null,"error_budget_limit":null,"#,
    r#""error_budget_spend":null,"normalized_error":"429_RATE_LIMIT_EXCEEDED"},"#,
    r#""response_cost_failure_debug_info":null,"zero_cost_diagnostic":null,"#,
    r#""guardrail_information":null,"standard_built_in_tools_params":null}"#,
);

#[test]
fn a_success_is_litellms_payload_byte_for_byte() {
    let md = metadata();
    assert_eq!(payload(&success(&md), PayloadOptions::default()), SUCCESS);
}

#[test]
fn a_failure_carries_litellms_error_fields() {
    let md = metadata();
    assert_eq!(
        payload(&rate_limited(&md), PayloadOptions::default()),
        RATE_LIMITED
    );
}

#[test]
fn turn_off_message_logging_leaves_no_message_text() {
    let md = metadata();
    let input = LogInput {
        messages_logged: false,
        ..success(&md)
    };
    let p = payload(&input, PayloadOptions::default());
    assert!(p.contains(r#""messages":[{"role":"user","content":"redacted-by-litellm"}],"response":{"text":"redacted-by-litellm"},"#));
    assert!(!p.contains("\"hi\"") && !p.contains("Hello"), "{p}");
}

#[test]
fn redact_user_api_key_info_removes_every_key_field() {
    let md = metadata();
    let opts = PayloadOptions {
        redact_user_api_key_info: true,
        ..PayloadOptions::default()
    };
    let p = payload(&success(&md), opts);
    assert!(!p.contains("user_api_key"), "{p}");
    let keys: Vec<String> = match field(&p, "metadata") {
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    assert_eq!(keys.len(), 15, "{keys:?}");
}

#[test]
fn a_stream_reports_its_first_token() {
    let md = metadata();
    let input = LogInput {
        stream: true,
        ..success(&md)
    };
    let p = payload(&input, PayloadOptions::default());
    assert!(p.contains(r#""stream":true,"#));
    assert!(p.contains(r#""startTime":1796216891.000123,"endTime":1796216892.500123,"completionStartTime":1796216891.250123,"response_time":0.25,"#));
}

#[test]
fn an_unpriced_model_says_why_it_has_no_cost() {
    let md = metadata();
    let input = LogInput {
        cost: None,
        model: "openai/new-model",
        ..success(&md)
    };
    let p = payload(&input, PayloadOptions::default());
    assert!(p.contains(r#""response_cost":0.0,"cost_breakdown":null,"#));
    assert!(p.contains(concat!(
        r#""response_cost_failure_debug_info":{"error_str":"This model isn't mapped yet. "#,
        r#"model=openai/new-model, custom_llm_provider=openai. Add it here - "#,
        r#"https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json.","#,
        r#""traceback_str":"","model":"openai/new-model","cache_hit":null,"#,
        r#""custom_llm_provider":"openai","base_model":null,"call_type":"acompletion","#,
        r#""custom_pricing":false},"#
    )), "{p}");
}

#[test]
fn no_response_is_litellms_connection_error() {
    let md = metadata();
    let input = LogInput {
        status: 0,
        error_message: None,
        error_class: Some("APIConnectionError"),
        provider_request_id: None,
        response: None,
        ..rate_limited(&md)
    };
    let p = payload(&input, PayloadOptions::default());
    assert!(p.contains(r#""additional_headers":null,"#));
    assert!(p.contains(r#""response":{},"#));
    assert!(
        p.contains(concat!(
            r#""error_str":"Connection error: no response from upstream","#,
            r#""error_information":{"error_code":"500","error_class":"APIConnectionError","#,
            r#""llm_provider":"openai","traceback":"","#,
            r#""error_message":"Connection error: no response from upstream","#,
            r#""error_provider_request_id":null,"#
        )),
        "{p}"
    );
    assert!(p.contains(r#""normalized_error":"500_PROVIDER_CONNECTION_ERROR"}"#));
}

#[test]
fn attacker_strings_stay_inside_their_json_strings() {
    let md = serde_json::Map::new();
    let evil = "x\",\"status\":\"success\"}\n\u{0}";
    let input = LogInput {
        user_agent: Some(evil),
        identity: crate::spend::budget::Identity {
            end_user: Some(evil),
            ..success(&md).identity
        },
        model: evil,
        metadata: Some(&md),
        model_parameters: &[("user", b"{\"unterminated\":")],
        messages: Some(Captured::whole(b"[1,2")),
        ..success(&md)
    };
    let p = payload(&input, PayloadOptions::default());
    assert_eq!(
        field(&p, "user_agent"),
        serde_json::Value::String(evil.to_owned())
    );
    assert_eq!(field(&p, "status"), "success");
    assert!(p.contains(r#""model":"x\",\"status\":\"success\"}\n\u0000","#));
    // Raw values that are not JSON become null or text, never broken JSON.
    assert!(p.contains(r#""model_parameters":{"user":null},"#));
    assert!(p.contains(r#""messages":"[1,2","#));
}

#[test]
fn user_agent_tags_can_be_turned_off() {
    let md = metadata();
    let opts = PayloadOptions {
        user_agent_tags: false,
        ..PayloadOptions::default()
    };
    let p = payload(&success(&md), opts);
    assert!(p.contains(r#""request_tags":["prod"],"#));
    let no_slash = LogInput {
        user_agent: Some("curl"),
        metadata: None,
        ..success(&md)
    };
    let p = payload(&no_slash, PayloadOptions::default());
    assert!(p.contains(r#""request_tags":["User-Agent: curl"],"#));
    assert!(p.contains(r#""requester_metadata":null,"#));
}

#[test]
fn the_buffer_is_reused_without_growing() {
    let md = metadata();
    let input = success(&md);
    let mut out = String::new();
    encode_payload(&input, &PayloadOptions::default(), &mut out);
    let cap = out.capacity();
    for _ in 0..10 {
        out.clear();
        encode_payload(&input, &PayloadOptions::default(), &mut out);
    }
    assert_eq!(out, SUCCESS);
    assert_eq!(out.capacity(), cap);
}
