//! The `x-litellm-*` headers LiteLLM's proxy adds to responses (`get_custom_headers` in
//! `litellm/proxy/common_request_processing.py`, 1.106.2), split by when a proxy knows them.
//!
//! LiteLLM buffers or wraps the provider's response before its headers leave, so it knows the
//! cost then. Envoy sends the response headers on before the body has passed, so only what is
//! known from the request and the deployment goes in headers; what needs the body (cost,
//! duration, spend after the request) goes in trailers, which the wiring can add only where the
//! protocol carries them (HTTP/2, HTTP/1.1 chunked with `TE: trailers`), and always into the
//! logs. As in LiteLLM, a header whose value is unknown (`None`) is left out.
//!
//! Values are checked before they become headers: a model group can be the client's own
//! `model` (without a `model_list`), and a header must never carry what a client injected, so
//! a value with anything but visible ASCII and spaces, or longer than 256 bytes, is left out.

use super::json::pico_usd_text;
use crate::alerts::text::py_float;
use crate::spend::cost::Cost;

/// The LiteLLM release whose behaviour the filter follows: the value of `x-litellm-version`.
pub const LITELLM_VERSION: &str = "1.106.2";

/// Header names set when the response headers leave.
pub const RESPONSE_HEADER_NAMES: &[&str] = &[
    "x-litellm-call-id",
    "x-litellm-model-id",
    "x-litellm-model-name",
    "x-litellm-model-api-base",
    "x-litellm-model-group",
    "x-litellm-version",
    "x-litellm-key-max-budget",
];

/// Trailer names set at the end of the response, where the protocol allows trailers.
pub const TRAILER_NAMES: &[&str] = &[
    "x-litellm-response-cost",
    "x-litellm-response-cost-input",
    "x-litellm-response-cost-output",
    "x-litellm-response-duration-ms",
    "x-litellm-key-spend",
];

/// Longest header value the filter sets from request or configuration data.
const MAX_HEADER_VALUE_LEN: usize = 256;

/// Whether `v` may go into a header: 1 to 256 bytes of visible ASCII or spaces.
pub fn is_header_safe(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_HEADER_VALUE_LEN
        && v.bytes().all(|b| (0x20..0x7f).contains(&b))
        && v != "None"
}

/// What is known when the response headers leave.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HeaderValues<'a> {
    /// The call id.
    pub call_id: &'a str,
    /// The deployment's `model_info.id`.
    pub model_id: Option<&'a str>,
    /// The deployment's `litellm_params.model` (`azure/gpt-4o`): `x-litellm-model-name`.
    pub deployment_model: Option<&'a str>,
    /// The deployment's API base.
    pub api_base: Option<&'a str>,
    /// The model group.
    pub model_group: Option<&'a str>,
    /// The key's `max_budget` in USD.
    pub key_max_budget: Option<f64>,
}

/// The `(name, value)` response headers, in LiteLLM's order, unknown and unsafe ones left out.
pub fn response_headers(v: &HeaderValues) -> Vec<(&'static str, String)> {
    let api_base = v.api_base.map(|b| b.split('?').next().unwrap_or(b));
    let max_budget = v.key_max_budget.map(py_float);
    let candidates: [(&'static str, Option<&str>); 7] = [
        ("x-litellm-call-id", Some(v.call_id)),
        ("x-litellm-model-id", v.model_id),
        ("x-litellm-model-name", v.deployment_model),
        // LiteLLM drops the query: it may hold credentials (`?api-key=`).
        ("x-litellm-model-api-base", api_base),
        ("x-litellm-model-group", v.model_group),
        ("x-litellm-version", Some(LITELLM_VERSION)),
        ("x-litellm-key-max-budget", max_budget.as_deref()),
    ];
    candidates
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| is_header_safe(v)).map(|v| (k, v.to_owned())))
        .collect()
}

/// What is known once the response has ended.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrailerValues {
    /// The request's cost (`None`: no price).
    pub cost: Option<Cost>,
    /// Request headers to last byte, in nanoseconds.
    pub duration_ns: u64,
    /// The key's spend after this request, USD.
    pub key_spend: Option<f64>,
}

/// The `(name, value)` trailers: LiteLLM's cost headers as Python's `str(float)` writes them.
pub fn response_trailers(v: &TrailerValues) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(TRAILER_NAMES.len());
    if let Some(c) = v.cost {
        out.push(("x-litellm-response-cost", pico_usd_text(c.total())));
        out.push(("x-litellm-response-cost-input", pico_usd_text(c.input)));
        out.push(("x-litellm-response-cost-output", pico_usd_text(c.output)));
    }
    out.push((
        "x-litellm-response-duration-ms",
        py_float(v.duration_ns as f64 / 1e6),
    ));
    if let Some(s) = v.key_spend {
        out.push(("x-litellm-key-spend", py_float(s)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_headers_in_litellm_order() {
        let h = response_headers(&HeaderValues {
            call_id: "b980db26-9512-45cc-b1da-c511a363b83f",
            model_id: Some("cb41bc03"),
            deployment_model: Some("azure/gpt-4o"),
            api_base: Some("https://x-example-1234.openai.azure.com?api-version=2024-02-01"),
            model_group: Some("gpt-4o"),
            key_max_budget: Some(10.0),
        });
        let got: Vec<String> = h.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        assert_eq!(
            got,
            [
                "x-litellm-call-id: b980db26-9512-45cc-b1da-c511a363b83f",
                "x-litellm-model-id: cb41bc03",
                "x-litellm-model-name: azure/gpt-4o",
                "x-litellm-model-api-base: https://x-example-1234.openai.azure.com",
                "x-litellm-model-group: gpt-4o",
                "x-litellm-version: 1.106.2",
                "x-litellm-key-max-budget: 10.0",
            ]
        );
        assert_eq!(got.len(), RESPONSE_HEADER_NAMES.len(), "every name listed");
    }

    #[test]
    fn unknown_and_unsafe_values_are_left_out() {
        let long = "m".repeat(257);
        for group in ["gpt\r\nx-evil: 1", "é", "None", "", long.as_str()] {
            let h = response_headers(&HeaderValues {
                call_id: "c1",
                model_group: Some(group),
                ..HeaderValues::default()
            });
            let names: Vec<&str> = h.iter().map(|(k, _)| *k).collect();
            assert_eq!(
                names,
                ["x-litellm-call-id", "x-litellm-version"],
                "{group:?}"
            );
        }
    }

    #[test]
    fn trailers_carry_cost_duration_and_spend() {
        let t = response_trailers(&TrailerValues {
            cost: Some(Cost {
                input: 2_625_000,
                output: 6_000_000,
            }),
            duration_ns: 1_234_567_000,
            key_spend: Some(0.5),
        });
        let got: Vec<String> = t.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        assert_eq!(
            got,
            [
                "x-litellm-response-cost: 8.625e-06",
                "x-litellm-response-cost-input: 2.625e-06",
                "x-litellm-response-cost-output: 6e-06",
                "x-litellm-response-duration-ms: 1234.567",
                "x-litellm-key-spend: 0.5",
            ]
        );
        // No price: no cost trailers (LiteLLM leaves `None` out).
        let t = response_trailers(&TrailerValues::default());
        assert_eq!(t, [("x-litellm-response-duration-ms", "0.0".to_owned())]);
    }
}
