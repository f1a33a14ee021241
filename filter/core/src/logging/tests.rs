//! Shared fixtures, and tests of [`Logging`]: what each destination receives for a request.

use super::*;
use crate::exchange::RateLimits;
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
        end_user: Some("u1"),
        identity: LogIdentity {
            hashed_api_key: Some(KEY_HASH),
            key_alias: Some("app-key"),
            team_id: Some("t1"),
            team_alias: Some("Team A"),
            user_id: Some("alice"),
            ..LogIdentity::default()
        },
        model: "openai/gpt-4o",
        litellm_model_name: Some("gpt-4o"),
        model_group: Some("gpt-4o"),
        model_id: Some("dep-1"),
        api_base: "https://api.openai.com/v1/",
        provider: Some("openai"),
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
