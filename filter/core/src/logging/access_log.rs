//! What the filter leaves in Envoy's filter state for access loggers.
//!
//! Envoy 1.40 gives a Wasm filter no way to write dynamic metadata (checked: a
//! `set_property(["metadata", "filter_metadata", ns, key])` returns Ok and
//! `%DYNAMIC_METADATA(ns:key)%` stays empty; envoyproxy/envoy#15148 is still open). What works
//! is filter state: `set_property([name], value)` stores `wasm.<name>`, read by
//! `%FILTER_STATE(wasm.<name>:PLAIN)%` in any access-log format and by CEL as
//! `filter_state["wasm.<name>"]` — also when set in `on_log`, which Envoy runs before the
//! connection manager's access loggers (checked with Envoy 1.40).
//!
//! So each entry is `llm_telemetry.<field>` (full name `wasm.llm_telemetry.<field>`), the
//! field named as in the StandardLoggingPayload, plus `llm_telemetry.payload`: the whole
//! payload JSON, so `%FILTER_STATE(wasm.llm_telemetry.payload:PLAIN)%` alone prints one JSON
//! line per request. Every entry is one host call, so the set is short and only written with
//! `telemetry_settings.logging.filter_state: true` (the shipped access-log configs need it).

use super::input::LogInput;
use super::json::pico_usd_text;
use super::payload::total_tokens;
use crate::alerts::text::py_float;

/// The namespace of the entries (`set_property` names; Envoy prefixes `wasm.`).
pub const NAMESPACE: &str = "llm_telemetry";

/// The entry holding the whole payload.
pub const PAYLOAD_KEY: &str = "llm_telemetry.payload";

/// Every entry name, in the order [`filter_state_entries`] writes them.
pub const ENTRY_KEYS: &[&str] = &[
    PAYLOAD_KEY,
    "llm_telemetry.litellm_call_id",
    "llm_telemetry.id",
    "llm_telemetry.call_type",
    "llm_telemetry.status",
    "llm_telemetry.model",
    "llm_telemetry.model_group",
    "llm_telemetry.model_id",
    "llm_telemetry.api_base",
    "llm_telemetry.custom_llm_provider",
    "llm_telemetry.total_tokens",
    "llm_telemetry.prompt_tokens",
    "llm_telemetry.completion_tokens",
    "llm_telemetry.response_cost",
    "llm_telemetry.response_time",
    "llm_telemetry.end_user",
    "llm_telemetry.user_api_key_hash",
    "llm_telemetry.user_api_key_alias",
    "llm_telemetry.user_api_key_team_id",
    "llm_telemetry.user_api_key_team_alias",
    "llm_telemetry.user_api_key_user_id",
    "llm_telemetry.error_str",
];

/// The `(name, value)` entries for `input` whose payload is `payload_json`. Unknown values are
/// left out (the access log prints `-`); `redact_user_api_key_info` leaves the key fields out.
pub fn filter_state_entries<'a>(
    input: &LogInput<'a>,
    payload_json: &'a str,
    redact_user_api_key_info: bool,
) -> Vec<(&'static str, String)> {
    let u = input.usage.unwrap_or_default();
    let id = &input.identity;
    let owned = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_owned);
    let mut keys = ENTRY_KEYS.iter();
    let mut next = || keys.next().copied().unwrap_or(PAYLOAD_KEY);
    let key_fields = [
        id.hashed_api_key,
        id.key_alias,
        id.team_id,
        id.team_alias,
        id.user_id,
    ];
    let mut values: Vec<Option<String>> = vec![
        Some(payload_json.to_owned()),
        Some(input.call_id.to_owned()),
        Some(input.payload_id().to_owned()),
        owned(Some(input.call_type())),
        Some(input.status_str().to_owned()),
        owned(Some(input.model)),
        owned(input.model_group),
        owned(input.model_id),
        owned(Some(input.api_base)),
        owned(input.provider()),
        Some(total_tokens(&u).to_string()),
        Some(u.input.to_string()),
        Some(u.output.to_string()),
        input.cost.map(|c| pico_usd_text(c.total())),
        Some(py_float(input.response_time_s())),
        owned(input.end_user()),
    ];
    values.extend(key_fields.iter().map(|v| {
        if redact_user_api_key_info {
            None
        } else {
            owned(*v)
        }
    }));
    values.push(input.error_text());
    values
        .into_iter()
        .filter_map(|v| {
            let k = next();
            v.map(|v| (k, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::Usage;

    #[test]
    fn entries_are_named_after_payload_fields() {
        let input = LogInput {
            call_id: "c1",
            model: "openai/gpt-4o",
            model_group: Some("gpt-4o"),
            api_base: "https://api.openai.com/v1",
            status: 200,
            usage: Some(Usage {
                input: 19,
                output: 10,
                total: 29,
                ..Usage::default()
            }),
            identity: crate::spend::budget::Identity {
                key_alias: Some("app"),
                ..Default::default()
            },
            start_ns: 1_000_000_000,
            end_ns: 1_500_000_000,
            ..LogInput::default()
        };
        let e = filter_state_entries(&input, "{}", false);
        let got: Vec<String> = e.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            got,
            [
                "llm_telemetry.payload={}",
                "llm_telemetry.litellm_call_id=c1",
                "llm_telemetry.id=c1",
                "llm_telemetry.status=success",
                "llm_telemetry.model=openai/gpt-4o",
                "llm_telemetry.model_group=gpt-4o",
                "llm_telemetry.api_base=https://api.openai.com/v1",
                "llm_telemetry.total_tokens=29",
                "llm_telemetry.prompt_tokens=19",
                "llm_telemetry.completion_tokens=10",
                "llm_telemetry.response_time=0.5",
                "llm_telemetry.user_api_key_alias=app",
            ]
        );
        let redacted = filter_state_entries(&input, "{}", true);
        assert!(redacted.iter().all(|(k, _)| !k.contains("user_api_key")));
        assert_eq!(ENTRY_KEYS.len(), 22);
        assert!(ENTRY_KEYS.iter().all(|k| k.starts_with(NAMESPACE)));
    }
}
