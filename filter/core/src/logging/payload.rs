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

use super::json::{push_f64, push_raw_or_null, push_string, push_value, Obj, StrArray};
use crate::spend::money::pico_to_usd;
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
    o.str("id", input.payload_id());
    o.str("litellm_call_id", input.call_id);
    o.str("trace_id", input.trace_id());
    // LiteLLM fills `session_id` only with `request_correlation_in_logs`.
    o.str("session_id", "");
    o.str("call_type", input.call_type());
    // LiteLLM passes `cache_hit=None` on success; a failure never sets it (False).
    if succeeded {
        o.null("cache_hit");
    } else {
        o.bool("cache_hit", false);
    }
    if input.stream {
        o.bool("stream", true);
    } else {
        o.null("stream");
    }
    o.str("status", input.status_str());
    {
        let mut s = Obj::begin(o.key("status_fields"));
        s.str("llm_api_status", input.status_str());
        s.str("guardrail_status", "not_run");
        s.end();
    }
    o.opt_str("custom_llm_provider", input.provider());
    o.f64("saved_cache_cost", 0.0);
    o.f64("startTime", LogInput::seconds(input.start_ns));
    o.f64("endTime", LogInput::seconds(input.end_ns));
    o.f64(
        "completionStartTime",
        LogInput::seconds(input.completion_start_ns()),
    );
    o.f64("response_time", input.response_time_s());
    o.str("model", input.model);
    write_metadata(&mut o, input, opts);
    o.null("cache_key");
    o.f64(
        "response_cost",
        input.cost.map_or(0.0, |c| pico_to_usd(c.total())),
    );
    write_cost_breakdown(&mut o, input);
    o.null("autorouter_savings");
    o.null("autorouter_savings_estimate");
    o.null("autorouter_baseline_observation");
    let u = input.usage.unwrap_or_default();
    o.u64("total_tokens", total_tokens(&u));
    o.u64("prompt_tokens", u.input);
    o.u64("completion_tokens", u.output);
    write_request_tags(o.key("request_tags"), input, opts);
    o.key("request_model_access_groups").push_str("[]");
    o.opt_str("end_user", input.end_user());
    o.str("api_base", strip_trailing_slash(input.api_base));
    o.str("model_group", input.model_group.unwrap_or(""));
    o.str("model_id", input.model_id.unwrap_or(""));
    o.opt_str("requester_ip_address", input.requester_ip);
    o.opt_str("user_agent", input.user_agent);
    write_bodies(&mut o, input);
    write_model_parameters(o.key("model_parameters"), input);
    push_hidden_params(o.key("hidden_params"), input);
    {
        let mut m = Obj::begin(o.key("model_map_information"));
        m.str("model_map_key", input.model_map_key.unwrap_or(""));
        m.null("model_map_value");
        m.end();
    }
    o.opt_str("error_str", error.as_deref());
    write_error_information(&mut o, input, error.as_deref());
    write_cost_failure(&mut o, input);
    o.null("zero_cost_diagnostic");
    o.null("guardrail_information");
    o.null("standard_built_in_tools_params");
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
    Null(&'static str),
    /// A string.
    Str(&'static str, &'a str),
    /// A USD amount.
    Float(&'static str, f64),
    /// A value from the request's `metadata`.
    Json(&'static str, &'a Value),
    /// The request's whole `metadata`.
    Object(&'static str, &'a Map<String, Value>),
    /// `usage_object` (`{}` without usage).
    Usage(&'static str, Option<&'a Usage>),
}

impl MetadataField<'_> {
    /// The field's name.
    pub(super) fn key(&self) -> &'static str {
        match self {
            MetadataField::Null(k)
            | MetadataField::Str(k, _)
            | MetadataField::Float(k, _)
            | MetadataField::Json(k, _)
            | MetadataField::Object(k, _)
            | MetadataField::Usage(k, _) => k,
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
    let s = |k: &'static str, v: Option<&'a str>| v.map_or(Null(k), |v| Str(k, v));
    let n = |k: &'static str, v: Option<f64>| v.map_or(Null(k), |v| Float(k, v));
    let id = &input.identity;
    let sp = &input.spend;
    if !redact {
        for field in [
            s("user_api_key_hash", id.hashed_api_key),
            s("user_api_key_alias", id.key_alias),
            n("user_api_key_spend", sp.key_spend),
            n("user_api_key_max_budget", sp.key_max_budget),
            s("user_api_key_budget_reset_at", sp.key_budget_reset_at),
            n("user_api_key_user_spend", sp.user_spend),
            n("user_api_key_user_max_budget", sp.user_max_budget),
            n("user_api_key_team_spend", sp.team_spend),
            n("user_api_key_team_max_budget", sp.team_max_budget),
            s("user_api_key_team_id", id.team_id),
            s("user_api_key_org_id", id.org_id),
            s("user_api_key_org_alias", id.org_alias),
            Null("user_api_key_project_id"),
            Null("user_api_key_project_alias"),
            s("user_api_key_user_id", id.user_id),
            s("user_api_key_team_alias", id.team_alias),
            s("user_api_key_user_email", id.user_email),
            s("user_api_key_end_user_id", input.end_user()),
            Str("user_api_key_request_route", input.route),
        ] {
            f(field);
        }
    }
    f(
        match input.metadata.and_then(|md| md.get("spend_logs_metadata")) {
            Some(v) => MetadataField::Json("spend_logs_metadata", v),
            None => Null("spend_logs_metadata"),
        },
    );
    f(s("requester_ip_address", input.requester_ip));
    f(s("user_agent", input.user_agent));
    f(match input.metadata {
        Some(md) => MetadataField::Object("requester_metadata", md),
        None => Null("requester_metadata"),
    });
    for k in [
        "prompt_management_metadata",
        "applied_guardrails",
        "mcp_tool_call_metadata",
        "vector_store_request_metadata",
        "routing_decision",
    ] {
        f(Null(k));
    }
    f(MetadataField::Usage("usage_object", input.usage.as_ref()));
    f(Null("requester_custom_headers"));
    f(Null("cold_storage_object_key"));
    if !redact {
        f(Null("user_api_key_auth_metadata"));
    }
    f(Null("team_alias"));
    f(Null("team_id"));
    f(Null("used_client_oauth_token"));
}

fn write_metadata(o: &mut Obj, input: &LogInput, opts: &PayloadOptions) {
    let mut m = Obj::begin(o.key("metadata"));
    metadata_fields(input, opts.redact_user_api_key_info, &mut |field| {
        let out = m.key(field.key());
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
        o.u64("completion_tokens", u.output);
        o.u64("prompt_tokens", u.input);
        o.u64("total_tokens", total_tokens(u));
        {
            let mut c = Obj::begin(o.key("completion_tokens_details"));
            c.u64("reasoning_tokens", u.output_reasoning);
            c.u64("audio_tokens", u.output_audio);
            c.end();
        }
        {
            let mut p = Obj::begin(o.key("prompt_tokens_details"));
            p.u64("cached_tokens", u.input_cached);
            p.u64("audio_tokens", u.input_audio);
            p.end();
        }
        o.u64("cache_creation_input_tokens", u.input_cache_creation);
        o.u64("cache_read_input_tokens", u.input_cached);
    }
    o.end();
}

/// LiteLLM's `cost_breakdown` (`set_cost_breakdown`): `null` when no cost was computed.
/// The USD amounts of LiteLLM's `cost_breakdown` (`set_cost_breakdown`), in its order; `None`
/// when no cost was computed. The filter bills no built-in tools.
pub(super) fn cost_breakdown(input: &LogInput) -> Option<[(&'static str, f64); 4]> {
    let c = input.cost?;
    Some([
        ("input_cost", pico_to_usd(c.input)),
        ("output_cost", pico_to_usd(c.output)),
        ("total_cost", pico_to_usd(c.total())),
        ("tool_usage_cost", 0.0),
    ])
}

fn write_cost_breakdown(o: &mut Obj, input: &LogInput) {
    let Some(amounts) = cost_breakdown(input) else {
        o.null("cost_breakdown");
        return;
    };
    let mut b = Obj::begin(o.key("cost_breakdown"));
    for (k, v) in amounts {
        b.f64(k, v);
    }
    b.opt_str("service_tier", input.service_tier());
    b.null("data_residency");
    b.null("vertex_location");
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
        o.key("messages").push_str(REDACTED_MESSAGES_JSON);
        o.key("response").push_str(REDACTED_RESPONSE_JSON);
        return;
    }
    match &input.messages {
        Some(c) => c.push_json(o.key("messages")),
        None => o.null("messages"),
    }
    match &input.response {
        Some(c) => c.push_json(o.key("response")),
        None => o.key("response").push_str("{}"),
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
    h.opt_str("model_id", input.model_id);
    h.null("cache_key");
    h.str("api_base", strip_trailing_slash(input.api_base));
    h.opt_f64("response_cost", input.cost.map(|c| pico_to_usd(c.total())));
    if input.status == 0 {
        h.null("additional_headers");
    } else {
        let rl = &input.rate_limits;
        let mut a = Obj::begin(h.key("additional_headers"));
        for (k, v) in [
            ("x_ratelimit_limit_requests", rl.limit_requests),
            ("x_ratelimit_limit_tokens", rl.limit_tokens),
            ("x_ratelimit_remaining_requests", rl.remaining_requests),
            ("x_ratelimit_remaining_tokens", rl.remaining_tokens),
        ] {
            if let Some(v) = v {
                a.u64(k, v);
            }
        }
        for (k, v) in [
            (
                "x_ratelimit_reset_requests",
                input.rate_limit_reset_requests,
            ),
            ("x_ratelimit_reset_tokens", input.rate_limit_reset_tokens),
            ("llm_provider-x-request-id", input.provider_request_id),
        ] {
            if let Some(v) = v {
                a.str(k, v);
            }
        }
        a.end();
    }
    // The filter never holds a request: no overhead to report (LiteLLM reports it on success).
    if succeeded {
        h.f64("litellm_overhead_time_ms", 0.0);
    } else {
        h.null("litellm_overhead_time_ms");
    }
    h.null("batch_models");
    h.null("batch_successful_requests");
    h.null("batch_failed_requests");
    h.opt_str("litellm_model_name", input.litellm_model_name);
    h.null("usage_object");
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
    let mut e = Obj::begin(o.key("error_information"));
    match error {
        None => {
            for k in [
                "error_code",
                "error_class",
                "llm_provider",
                "traceback",
                "error_message",
            ] {
                e.str(k, "");
            }
            e.null("error_provider_request_id");
        }
        Some(text) => {
            // No response at all is LiteLLM's APIConnectionError, whose status is 500.
            let code = if input.status == 0 { 500 } else { input.status };
            push_string(e.key("error_code"), &code.to_string());
            e.str("error_class", input.error_class.unwrap_or(""));
            e.str("llm_provider", input.provider().unwrap_or(""));
            e.str("traceback", "");
            e.str("error_message", text);
            e.opt_str("error_provider_request_id", input.provider_request_id);
        }
    }
    for k in [
        "error_rate_limit_category",
        "error_rate_limit_type",
        "error_budget_entity_type",
        "error_budget_entity_id",
        "error_budget_limit",
        "error_budget_spend",
    ] {
        e.null(k);
    }
    match error {
        None => e.null("normalized_error"),
        Some(_) => e.str("normalized_error", normalized_error(input.status)),
    }
    e.end();
}

/// `response_cost_failure_debug_info` for a success whose model has no price.
fn write_cost_failure(o: &mut Obj, input: &LogInput) {
    if !input.succeeded() || input.cost.is_some() || input.usage.is_none() {
        o.null("response_cost_failure_debug_info");
        return;
    }
    let provider = input.provider().unwrap_or("");
    let mut d = Obj::begin(o.key("response_cost_failure_debug_info"));
    d.str(
        "error_str",
        &format!(
            "This model isn't mapped yet. model={}, custom_llm_provider={provider}. Add it here - https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json.",
            input.model
        ),
    );
    d.str("traceback_str", "");
    d.str("model", input.model);
    d.null("cache_hit");
    d.opt_str("custom_llm_provider", input.provider());
    d.null("base_model");
    d.str("call_type", input.call_type());
    d.bool("custom_pricing", false);
    d.end();
}
