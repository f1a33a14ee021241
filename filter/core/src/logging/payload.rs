//! LiteLLM's `StandardLoggingPayload` (1.106.2, `litellm/types/utils.py`), written as compact
//! JSON for one finished request.
//!
//! Every field LiteLLM's `get_standard_logging_object_payload` sets is written, in the order it
//! sets them, with LiteLLM's names, types and units: times as float seconds since the epoch
//! (`startTime`, `endTime`, `completionStartTime`), `response_time` in seconds, costs in USD
//! floats, tokens as integers. Fields a proxy cannot know carry the value LiteLLM writes when it
//! has nothing (`null`, `""`, `[]`, `0.0`); the README lists them and why.

use super::capture::{REDACTED_MESSAGES_JSON, REDACTED_RESPONSE_JSON};
use super::input::LogInput;
use serde_json::{Map, Value};

use super::json::{
    key, push_f64, push_pico_usd, push_raw_or_null, push_string, push_unix_micros, push_value, Key,
    Obj, StrArray,
};
use crate::usage::Usage;

/// Request body keys logged as `model_parameters` (LiteLLM's `optional_params` minus the prompt
/// — `messages`, `prompt`, `input`, `system` — and minus `tools`, `functions` and `prediction`,
/// whose text is prompt-like and large). The wiring reads these top-level keys with the body
/// scanner.
pub const MODEL_PARAMETER_KEYS: &[&str] = &[
    "dimensions",
    "encoding_format",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_output_tokens",
    "max_tokens",
    "modalities",
    "n",
    "parallel_tool_calls",
    "presence_penalty",
    "reasoning",
    "reasoning_effort",
    "response_format",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "text",
    "tool_choice",
    "top_k",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
    "verbosity",
];

/// Payload switches from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadOptions {
    /// `litellm_settings.redact_user_api_key_info`: leave every `user_api_key_*` field out of
    /// `metadata`.
    pub redact_user_api_key_info: bool,
    /// Add `User-Agent: ...` tags to `request_tags` (LiteLLM's default; off with
    /// `litellm_settings.disable_add_user_agent_to_request_tags`).
    pub user_agent_tags: bool,
}

impl Default for PayloadOptions {
    fn default() -> Self {
        PayloadOptions {
            redact_user_api_key_info: false,
            user_agent_tags: true,
        }
    }
}

/// Appends the payload of `input` to `out` (the caller keeps `out` between requests so it
/// stops allocating once grown).
pub fn encode_payload(input: &LogInput, opts: &PayloadOptions, out: &mut String) {
    let succeeded = input.succeeded();
    let error = input.error_text();
    let mut o = Obj::begin(out);
    o.str(key!("id"), input.payload_id());
    o.str(key!("litellm_call_id"), input.call_id);
    o.str(key!("trace_id"), input.trace_id());
    // LiteLLM fills `session_id` only with `request_correlation_in_logs`.
    o.str(key!("session_id"), "");
    o.str(key!("call_type"), input.call_type());
    // LiteLLM passes `cache_hit=None` on success; a failure never sets it (False).
    if succeeded {
        o.null(key!("cache_hit"));
    } else {
        o.bool(key!("cache_hit"), false);
    }
    if input.stream {
        o.bool(key!("stream"), true);
    } else {
        o.null(key!("stream"));
    }
    o.str(key!("status"), input.status_str());
    {
        let mut s = Obj::begin(o.field(key!("status_fields")));
        s.str(key!("llm_api_status"), input.status_str());
        s.str(key!("guardrail_status"), "not_run");
        s.end();
    }
    o.opt_str(key!("custom_llm_provider"), input.provider());
    o.f64(key!("saved_cache_cost"), 0.0);
    push_unix_micros(o.field(key!("startTime")), input.start_ns / 1_000);
    push_unix_micros(o.field(key!("endTime")), input.end_ns / 1_000);
    push_unix_micros(
        o.field(key!("completionStartTime")),
        input.completion_start_ns() / 1_000,
    );
    o.f64(key!("response_time"), input.response_time_s());
    o.str(key!("model"), input.model);
    write_metadata(&mut o, input, opts);
    o.null(key!("cache_key"));
    push_pico_usd(
        o.field(key!("response_cost")),
        input.cost.map_or(0, |c| c.total()),
    );
    write_cost_breakdown(&mut o, input);
    o.null(key!("autorouter_savings"));
    o.null(key!("autorouter_savings_estimate"));
    o.null(key!("autorouter_baseline_observation"));
    let u = input.usage.unwrap_or_default();
    o.u64(key!("total_tokens"), total_tokens(&u));
    o.u64(key!("prompt_tokens"), u.input);
    o.u64(key!("completion_tokens"), u.output);
    write_request_tags(o.field(key!("request_tags")), input, opts);
    o.field(key!("request_model_access_groups")).push_str("[]");
    o.opt_str(key!("end_user"), input.end_user());
    o.str(key!("api_base"), strip_trailing_slash(input.api_base));
    o.str(key!("model_group"), input.model_group.unwrap_or(""));
    o.str(key!("model_id"), input.model_id.unwrap_or(""));
    o.opt_str(key!("requester_ip_address"), input.requester_ip);
    o.opt_str(key!("user_agent"), input.user_agent);
    write_bodies(&mut o, input);
    write_model_parameters(o.field(key!("model_parameters")), input);
    push_hidden_params(o.field(key!("hidden_params")), input);
    {
        let mut m = Obj::begin(o.field(key!("model_map_information")));
        m.str(key!("model_map_key"), input.model_map_key.unwrap_or(""));
        m.null(key!("model_map_value"));
        m.end();
    }
    o.opt_str(key!("error_str"), error.as_deref());
    write_error_information(&mut o, input, error.as_deref());
    write_cost_failure(&mut o, input);
    o.null(key!("zero_cost_diagnostic"));
    o.null(key!("guardrail_information"));
    o.null(key!("standard_built_in_tools_params"));
    o.end();
}

/// `usage.total_tokens`, else input + output (as metrics count it).
pub fn total_tokens(u: &Usage) -> u64 {
    if u.total > 0 {
        u.total
    } else {
        u.input.saturating_add(u.output)
    }
}

/// LiteLLM's `strip_trailing_slash`.
fn strip_trailing_slash(s: &str) -> &str {
    if s.ends_with("//") {
        s.trim_end_matches('/')
    } else {
        s.strip_suffix('/').unwrap_or(s)
    }
}

/// One field of LiteLLM's `StandardLoggingMetadata`, for the payload's `metadata` object and
/// the span's `metadata.*` attributes.
pub(super) enum MetadataField<'a> {
    /// A field with no value (`null`).
    Null(Key),
    /// A string.
    Str(Key, &'a str),
    /// A USD amount.
    Float(Key, f64),
    /// A value from the request's `metadata`.
    Json(Key, &'a Value),
    /// The request's whole `metadata`.
    Object(Key, &'a Map<String, Value>),
    /// `usage_object` (`{}` without usage).
    Usage(Key, Option<&'a Usage>),
}

impl MetadataField<'_> {
    /// The field's name.
    pub(super) fn key(&self) -> Key {
        match self {
            MetadataField::Null(k)
            | MetadataField::Str(k, _)
            | MetadataField::Float(k, _)
            | MetadataField::Json(k, _)
            | MetadataField::Object(k, _)
            | MetadataField::Usage(k, _) => *k,
        }
    }
}

/// Calls `f` with every `StandardLoggingMetadata` field in LiteLLM's order (its
/// `get_standard_logging_metadata`); `redact` leaves the `user_api_key_*` fields out
/// (`redact_user_api_key_info`).
pub(super) fn metadata_fields<'a>(
    input: &'a LogInput<'a>,
    redact: bool,
    f: &mut dyn FnMut(MetadataField<'a>),
) {
    use MetadataField::{Float, Null, Str};
    let s = |k: Key, v: Option<&'a str>| v.map_or(Null(k), |v| Str(k, v));
    let n = |k: Key, v: Option<f64>| v.map_or(Null(k), |v| Float(k, v));
    let id = &input.identity;
    let sp = &input.spend;
    if !redact {
        for field in [
            s(key!("user_api_key_hash"), id.hashed_api_key),
            s(key!("user_api_key_alias"), id.key_alias),
            n(key!("user_api_key_spend"), sp.key_spend),
            n(key!("user_api_key_max_budget"), sp.key_max_budget),
            s(key!("user_api_key_budget_reset_at"), sp.key_budget_reset_at),
            n(key!("user_api_key_user_spend"), sp.user_spend),
            n(key!("user_api_key_user_max_budget"), sp.user_max_budget),
            n(key!("user_api_key_team_spend"), sp.team_spend),
            n(key!("user_api_key_team_max_budget"), sp.team_max_budget),
            s(key!("user_api_key_team_id"), id.team_id),
            s(key!("user_api_key_org_id"), id.org_id),
            s(key!("user_api_key_org_alias"), id.org_alias),
            Null(key!("user_api_key_project_id")),
            Null(key!("user_api_key_project_alias")),
            s(key!("user_api_key_user_id"), id.user_id),
            s(key!("user_api_key_team_alias"), id.team_alias),
            s(key!("user_api_key_user_email"), id.user_email),
            s(key!("user_api_key_end_user_id"), input.end_user()),
            Str(key!("user_api_key_request_route"), input.route),
        ] {
            f(field);
        }
    }
    f(
        match input.metadata.and_then(|md| md.get("spend_logs_metadata")) {
            Some(v) => MetadataField::Json(key!("spend_logs_metadata"), v),
            None => Null(key!("spend_logs_metadata")),
        },
    );
    f(s(key!("requester_ip_address"), input.requester_ip));
    f(s(key!("user_agent"), input.user_agent));
    f(match input.metadata {
        Some(md) => MetadataField::Object(key!("requester_metadata"), md),
        None => Null(key!("requester_metadata")),
    });
    for k in [
        key!("prompt_management_metadata"),
        key!("applied_guardrails"),
        key!("mcp_tool_call_metadata"),
        key!("vector_store_request_metadata"),
        key!("routing_decision"),
    ] {
        f(Null(k));
    }
    f(MetadataField::Usage(
        key!("usage_object"),
        input.usage.as_ref(),
    ));
    f(Null(key!("requester_custom_headers")));
    f(Null(key!("cold_storage_object_key")));
    if !redact {
        f(Null(key!("user_api_key_auth_metadata")));
    }
    f(Null(key!("team_alias")));
    f(Null(key!("team_id")));
    f(Null(key!("used_client_oauth_token")));
}

fn write_metadata(o: &mut Obj, input: &LogInput, opts: &PayloadOptions) {
    let mut m = Obj::begin(o.field(key!("metadata")));
    metadata_fields(input, opts.redact_user_api_key_info, &mut |field| {
        let out = m.field(field.key());
        match field {
            MetadataField::Null(_) => out.push_str("null"),
            MetadataField::Str(_, v) => push_string(out, v),
            MetadataField::Float(_, v) => push_f64(out, v),
            MetadataField::Json(_, v) => push_value(out, v),
            MetadataField::Object(_, md) => push_object(out, md),
            MetadataField::Usage(_, u) => push_usage_object(out, u),
        }
    });
    m.end();
}

/// Appends an object's members (the request's `metadata`).
pub(super) fn push_object(out: &mut String, m: &Map<String, Value>) {
    let mut o = Obj::begin(out);
    for (k, v) in m {
        push_value(o.key(k), v);
    }
    o.end();
}

/// LiteLLM's `usage_object`: the usage as a chat `Usage` dict (`{}` without one).
pub(super) fn push_usage_object(out: &mut String, u: Option<&Usage>) {
    let mut o = Obj::begin(out);
    if let Some(u) = u {
        o.u64(key!("completion_tokens"), u.output);
        o.u64(key!("prompt_tokens"), u.input);
        o.u64(key!("total_tokens"), total_tokens(u));
        {
            let mut c = Obj::begin(o.field(key!("completion_tokens_details")));
            c.u64(key!("reasoning_tokens"), u.output_reasoning);
            c.u64(key!("audio_tokens"), u.output_audio);
            c.end();
        }
        {
            let mut p = Obj::begin(o.field(key!("prompt_tokens_details")));
            p.u64(key!("cached_tokens"), u.input_cached);
            p.u64(key!("audio_tokens"), u.input_audio);
            p.end();
        }
        o.u64(key!("cache_creation_input_tokens"), u.input_cache_creation);
        o.u64(key!("cache_read_input_tokens"), u.input_cached);
    }
    o.end();
}

/// LiteLLM's `cost_breakdown` (`set_cost_breakdown`): `null` when no cost was computed.
/// The amounts (pico-dollars; LiteLLM's are USD) of `cost_breakdown` (`set_cost_breakdown`),
/// in its order; `None` when no cost was computed. The filter bills no built-in tools.
pub(super) fn cost_breakdown(input: &LogInput) -> Option<[(Key, u64); 4]> {
    let c = input.cost?;
    Some([
        (key!("input_cost"), c.input),
        (key!("output_cost"), c.output),
        (key!("total_cost"), c.total()),
        (key!("tool_usage_cost"), 0),
    ])
}

fn write_cost_breakdown(o: &mut Obj, input: &LogInput) {
    let Some(amounts) = cost_breakdown(input) else {
        o.null(key!("cost_breakdown"));
        return;
    };
    let mut b = Obj::begin(o.field(key!("cost_breakdown")));
    for (k, pico) in amounts {
        push_pico_usd(b.field(k), pico);
    }
    b.opt_str(key!("service_tier"), input.service_tier());
    b.null(key!("data_residency"));
    b.null(key!("vertex_location"));
    b.end();
}

/// `metadata.tags` (strings), then LiteLLM's `User-Agent: <product>` and `User-Agent: <full>`.
fn write_request_tags(out: &mut String, input: &LogInput, opts: &PayloadOptions) {
    let tags = input.request_tags();
    let mut ua_tags: [Option<String>; 2] = [None, None];
    if opts.user_agent_tags {
        if let Some(ua) = input.user_agent {
            if let Some((product, _)) = ua.split_once('/') {
                ua_tags[0] = Some(format!("User-Agent: {product}"));
            }
            ua_tags[1] = Some(format!("User-Agent: {ua}"));
        }
    }
    let mut a = StrArray::begin(out);
    for t in tags {
        a.push(t);
    }
    for t in ua_tags.iter().flatten() {
        a.push(t);
    }
    a.end();
}

fn write_bodies(o: &mut Obj, input: &LogInput) {
    if !input.messages_logged {
        o.field(key!("messages")).push_str(REDACTED_MESSAGES_JSON);
        o.field(key!("response")).push_str(REDACTED_RESPONSE_JSON);
        return;
    }
    match &input.messages {
        Some(c) => c.push_json(o.field(key!("messages"))),
        None => o.null(key!("messages")),
    }
    match &input.response {
        Some(c) => c.push_json(o.field(key!("response"))),
        None => o.field(key!("response")).push_str("{}"),
    }
}

fn write_model_parameters(out: &mut String, input: &LogInput) {
    let mut p = Obj::begin(out);
    for (k, raw) in input.model_parameters {
        push_raw_or_null(p.key(k), raw);
    }
    p.end();
}

/// LiteLLM's `hidden_params`, with `additional_headers` holding the provider's rate-limit
/// headers as LiteLLM types them.
pub(super) fn push_hidden_params(out: &mut String, input: &LogInput) {
    let succeeded = input.succeeded();
    let mut h = Obj::begin(out);
    h.opt_str(key!("model_id"), input.model_id);
    h.null(key!("cache_key"));
    h.str(key!("api_base"), strip_trailing_slash(input.api_base));
    match input.cost {
        Some(c) => push_pico_usd(h.field(key!("response_cost")), c.total()),
        None => h.null(key!("response_cost")),
    }
    if input.status == 0 {
        h.null(key!("additional_headers"));
    } else {
        let rl = &input.rate_limits;
        let mut a = Obj::begin(h.field(key!("additional_headers")));
        for (k, v) in [
            (key!("x_ratelimit_limit_requests"), rl.limit_requests),
            (key!("x_ratelimit_limit_tokens"), rl.limit_tokens),
            (
                key!("x_ratelimit_remaining_requests"),
                rl.remaining_requests,
            ),
            (key!("x_ratelimit_remaining_tokens"), rl.remaining_tokens),
        ] {
            if let Some(v) = v {
                a.u64(k, v);
            }
        }
        for (k, v) in [
            (
                key!("x_ratelimit_reset_requests"),
                input.rate_limit_reset_requests,
            ),
            (
                key!("x_ratelimit_reset_tokens"),
                input.rate_limit_reset_tokens,
            ),
            (key!("llm_provider-x-request-id"), input.provider_request_id),
        ] {
            if let Some(v) = v {
                a.str(k, v);
            }
        }
        a.end();
    }
    // The filter never holds a request: no overhead to report (LiteLLM reports it on success).
    if succeeded {
        h.f64(key!("litellm_overhead_time_ms"), 0.0);
    } else {
        h.null(key!("litellm_overhead_time_ms"));
    }
    h.null(key!("batch_models"));
    h.null(key!("batch_successful_requests"));
    h.null(key!("batch_failed_requests"));
    h.opt_str(key!("litellm_model_name"), input.litellm_model_name);
    h.null(key!("usage_object"));
    h.end();
}

/// LiteLLM's `normalize_error` by status (its message-based classes are not reproduced).
fn normalized_error(status: u16) -> &'static str {
    match status {
        0 => "500_PROVIDER_CONNECTION_ERROR",
        400 => "400_INVALID_REQUEST",
        401 => "401_AUTHENTICATION_FAILED",
        403 => "403_PERMISSION_DENIED",
        404 => "404_RESOURCE_NOT_FOUND",
        408 | 504 => "408_UPSTREAM_TIMEOUT",
        422 => "400_INVALID_PARAMETER_VALUE",
        429 => "429_RATE_LIMIT_EXCEEDED",
        500 | 502 => "500_PROVIDER_INTERNAL_ERROR",
        503 => "503_PROVIDER_OVERLOADED",
        _ => "UNCLASSIFIED",
    }
}

/// LiteLLM's `error_information`: empty strings on success (`get_error_information(None)`).
fn write_error_information(o: &mut Obj, input: &LogInput, error: Option<&str>) {
    let mut e = Obj::begin(o.field(key!("error_information")));
    match error {
        None => {
            for k in [
                key!("error_code"),
                key!("error_class"),
                key!("llm_provider"),
                key!("traceback"),
                key!("error_message"),
            ] {
                e.str(k, "");
            }
            e.null(key!("error_provider_request_id"));
        }
        Some(text) => {
            // No response at all is LiteLLM's APIConnectionError, whose status is 500.
            let code = if input.status == 0 { 500 } else { input.status };
            push_string(e.field(key!("error_code")), &code.to_string());
            e.str(key!("error_class"), input.error_class.unwrap_or(""));
            e.str(key!("llm_provider"), input.provider().unwrap_or(""));
            e.str(key!("traceback"), "");
            e.str(key!("error_message"), text);
            e.opt_str(key!("error_provider_request_id"), input.provider_request_id);
        }
    }
    for k in [
        key!("error_rate_limit_category"),
        key!("error_rate_limit_type"),
        key!("error_budget_entity_type"),
        key!("error_budget_entity_id"),
        key!("error_budget_limit"),
        key!("error_budget_spend"),
    ] {
        e.null(k);
    }
    match error {
        None => e.null(key!("normalized_error")),
        Some(_) => e.str(key!("normalized_error"), normalized_error(input.status)),
    }
    e.end();
}

/// `response_cost_failure_debug_info` for a success whose model has no price.
fn write_cost_failure(o: &mut Obj, input: &LogInput) {
    if !input.succeeded() || input.cost.is_some() || input.usage.is_none() {
        o.null(key!("response_cost_failure_debug_info"));
        return;
    }
    let provider = input.provider().unwrap_or("");
    let mut d = Obj::begin(o.field(key!("response_cost_failure_debug_info")));
    d.str(key!("error_str"),
        &format!(
            "This model isn't mapped yet. model={}, custom_llm_provider={provider}. Add it here - https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json.",
            input.model
        ),
    );
    d.str(key!("traceback_str"), "");
    d.str(key!("model"), input.model);
    d.null(key!("cache_hit"));
    d.opt_str(key!("custom_llm_provider"), input.provider());
    d.null(key!("base_model"));
    d.str(key!("call_type"), input.call_type());
    d.bool(key!("custom_pricing"), false);
    d.end();
}
