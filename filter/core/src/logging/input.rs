//! [`LogInput`]: everything the logging encoders read about one finished request, borrowed from
//! the request's record and its resolution (labels, deployment, identity, spend), so the wiring
//! fills one struct and nothing is copied.

use serde_json::{Map, Value};

use super::capture::Captured;
use crate::exchange::RateLimits;
use crate::route::Api;
use crate::spend::budget::Identity;
use crate::spend::cost::Cost;
use crate::usage::Usage;

/// Budget figures LiteLLM reads from its database at authentication, in USD, when the spend
/// module knows them (`None` otherwise: logged as `null`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LogSpend<'a> {
    /// `user_api_key_spend`.
    pub key_spend: Option<f64>,
    /// `user_api_key_max_budget`.
    pub key_max_budget: Option<f64>,
    /// `user_api_key_budget_reset_at` (ISO-8601).
    pub key_budget_reset_at: Option<&'a str>,
    /// `user_api_key_user_spend`.
    pub user_spend: Option<f64>,
    /// `user_api_key_user_max_budget`.
    pub user_max_budget: Option<f64>,
    /// `user_api_key_team_spend`.
    pub team_spend: Option<f64>,
    /// `user_api_key_team_max_budget`.
    pub team_max_budget: Option<f64>,
}

/// One finished request, as the logging encoders need it. Times are Unix nanoseconds from the
/// host clock; strings are borrowed (attacker-controlled ones are escaped by the encoders).
#[derive(Clone, Debug, Default)]
pub struct LogInput<'a> {
    /// The call id (see [`super::call_id`]); also sent as `x-litellm-call-id`.
    pub call_id: &'a str,
    /// The provider's response `id` (`chatcmpl-...`), LiteLLM's payload `id`; the call id when
    /// none was read.
    pub response_id: Option<&'a str>,
    /// The request's `traceparent` header (W3C), for the span's parent.
    pub traceparent: Option<&'a str>,
    /// The request's `tracestate` header, passed on with the span.
    pub tracestate: Option<&'a str>,

    /// Which API (`None`: not an LLM route — not logged by the wiring).
    pub api: Option<Api>,
    /// The request path without its query (`user_api_key_request_route`, `http.route`).
    pub route: &'a str,
    /// The request asked for a stream.
    pub stream: bool,
    /// `model` from the request body.
    pub requested_model: Option<&'a str>,
    /// The request's parameters other than its prompt (`temperature`, `max_tokens`, `user`,
    /// ...): top-level body keys of [`super::payload::MODEL_PARAMETER_KEYS`] with their raw
    /// JSON values, in that list's order.
    pub model_parameters: &'a [(&'a str, &'a [u8])],
    /// The request body's `metadata` object (tags, `spend_logs_metadata`, `trace_id`,
    /// `session_id`, `generation_name`, the client's own keys).
    pub metadata: Option<&'a Map<String, Value>>,
    /// `user-agent`.
    pub user_agent: Option<&'a str>,
    /// The client address (first `x-forwarded-for` entry, else the downstream address).
    pub requester_ip: Option<&'a str>,
    /// The caller, resolved once for spend and logs (key hash, alias, team, user, org, end
    /// user, provider): the same value spend's budget decisions use.
    pub identity: Identity<'a>,
    /// The caller's budgets, when known.
    pub spend: LogSpend<'a>,

    /// The deployment's `litellm_params.model` with its provider prefix (`openai/gpt-4o`),
    /// else the requested model: LiteLLM's payload `model`.
    pub model: &'a str,
    /// The model name sent to the provider (`gpt-4o`): `hidden_params.litellm_model_name`.
    pub litellm_model_name: Option<&'a str>,
    /// The `model_list` group the request matched.
    pub model_group: Option<&'a str>,
    /// The deployment's `model_info.id`.
    pub model_id: Option<&'a str>,
    /// The deployment's API base (or the upstream Envoy connected to).
    pub api_base: &'a str,
    /// The price-table entry the cost was computed from (`model_map_information.model_map_key`).
    pub model_map_key: Option<&'a str>,

    /// The HTTP status the client got; 0 when no response came.
    pub status: u16,
    /// `model` as the provider reported it.
    pub response_model: Option<&'a str>,
    /// Token usage, when the response carried it.
    pub usage: Option<Usage>,
    /// Cost in pico-dollars; `None` when the model has no price.
    pub cost: Option<Cost>,
    /// `service_tier` the request asked for.
    pub requested_service_tier: Option<&'a str>,
    /// `service_tier` the response reported.
    pub served_service_tier: Option<&'a str>,
    /// The provider's `x-ratelimit-*` numbers.
    pub rate_limits: RateLimits,
    /// `x-ratelimit-reset-requests` as sent (`1s`, `6m0s`).
    pub rate_limit_reset_requests: Option<&'a str>,
    /// `x-ratelimit-reset-tokens` as sent.
    pub rate_limit_reset_tokens: Option<&'a str>,
    /// The upstream's own request id (`x-request-id` of the response), logged as LiteLLM's
    /// `llm_provider-x-request-id`.
    pub provider_request_id: Option<&'a str>,
    /// The provider's error message, when the response carried one.
    pub error_message: Option<&'a str>,
    /// LiteLLM's error class for the failure (`RateLimitError`, `APIConnectionError`).
    pub error_class: Option<&'a str>,

    /// Request headers reached the filter.
    pub start_ns: u64,
    /// First response body byte (time to first token, for streams).
    pub first_byte_ns: Option<u64>,
    /// Last response byte.
    pub end_ns: u64,

    /// Whether messages and response may be logged ([`super::capture::messages_logged`]);
    /// when false they are redacted whatever [`LogInput::messages`] holds.
    pub messages_logged: bool,
    /// The request's prompt (`messages`, `input` or `prompt` value), when logged.
    pub messages: Option<Captured<'a>>,
    /// The response body, when logged.
    pub response: Option<Captured<'a>>,
}

impl<'a> LogInput<'a> {
    /// Whether the client got a success (2xx/3xx), as metrics count it.
    pub fn succeeded(&self) -> bool {
        (200..400).contains(&self.status)
    }

    /// LiteLLM's `status`: `success` or `failure`.
    pub fn status_str(&self) -> &'static str {
        if self.succeeded() {
            "success"
        } else {
            "failure"
        }
    }

    /// LiteLLM's `call_type` for the proxy's async calls.
    pub fn call_type(&self) -> &'static str {
        match self.api {
            Some(Api::ChatCompletions) => "acompletion",
            Some(Api::Completions) => "atext_completion",
            Some(Api::Embeddings) => "aembedding",
            Some(Api::Responses) => "aresponses",
            None => "",
        }
    }

    /// `gen_ai.operation.name` (semantic conventions): `chat`, `text_completion`, `embeddings`.
    pub fn operation_name(&self) -> &'static str {
        match self.api {
            Some(Api::Completions) => "text_completion",
            Some(Api::Embeddings) => "embeddings",
            _ => "chat",
        }
    }

    /// The payload `id`: the provider's response id, else the call id.
    pub fn payload_id(&self) -> &'a str {
        self.response_id
            .filter(|s| !s.is_empty())
            .unwrap_or(self.call_id)
    }

    /// The error text of a failure (LiteLLM's `error_str`): the provider's message, else what
    /// happened (the same words as the alerts).
    pub fn error_text(&self) -> Option<String> {
        if self.succeeded() {
            return None;
        }
        Some(match self.error_message {
            Some(e) if !e.is_empty() => e.to_owned(),
            _ if self.status == 0 => "Connection error: no response from upstream".to_owned(),
            _ => format!("HTTP {} from upstream", self.status),
        })
    }

    /// The request's `metadata.tags` that are strings.
    pub fn request_tags(&self) -> impl Iterator<Item = &'a str> {
        self.metadata
            .and_then(|m| m.get("tags"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// `custom_llm_provider` (`openai`, `azure`, ...): the identity's provider.
    pub fn provider(&self) -> Option<&'a str> {
        self.identity.provider
    }

    /// The service tier the cost was priced on: the served one, else the requested one.
    pub fn service_tier(&self) -> Option<&'a str> {
        self.served_service_tier.or(self.requested_service_tier)
    }

    /// The end user (the request's `user`, or the end-user header).
    pub fn end_user(&self) -> Option<&'a str> {
        self.identity.end_user
    }

    /// A string member of the request's `metadata`.
    pub fn metadata_str(&self, key: &str) -> Option<&'a str> {
        self.metadata?.get(key)?.as_str().filter(|s| !s.is_empty())
    }

    /// LiteLLM's `trace_id`: the request's `metadata.session_id` or `metadata.trace_id`
    /// (LiteLLM's default order), else the call id (one call per request here, so the call is
    /// its own trace).
    pub fn trace_id(&self) -> &'a str {
        self.metadata_str("session_id")
            .or_else(|| self.metadata_str("trace_id"))
            .unwrap_or(self.call_id)
    }

    /// LiteLLM's `completionStartTime`: the first token for streams, else the end.
    pub fn completion_start_ns(&self) -> u64 {
        if self.stream {
            self.first_byte_ns.unwrap_or(self.end_ns)
        } else {
            self.end_ns
        }
    }

    /// LiteLLM's `response_time`, seconds: to the first token for streams, else to the end.
    pub fn response_time_s(&self) -> f64 {
        let to = self.completion_start_ns();
        self.end_ns.min(to).saturating_sub(self.start_ns) as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn derived_values() {
        let meta = json!({"session_id": "s1", "trace_id": "t1", "empty": ""});
        let mut i = LogInput {
            call_id: "c1",
            api: Some(Api::ChatCompletions),
            status: 200,
            metadata: meta.as_object(),
            start_ns: 1_000_000_000,
            first_byte_ns: Some(1_250_000_000),
            end_ns: 3_000_000_000,
            ..LogInput::default()
        };
        assert_eq!(
            (i.status_str(), i.call_type(), i.operation_name()),
            ("success", "acompletion", "chat")
        );
        assert_eq!(i.payload_id(), "c1");
        assert_eq!(i.trace_id(), "s1");
        assert_eq!(i.metadata_str("empty"), None);
        assert_eq!(i.error_text(), None);
        assert_eq!(i.response_time_s(), 2.0);
        i.stream = true;
        assert_eq!(i.response_time_s(), 0.25);
        assert_eq!(i.completion_start_ns(), 1_250_000_000);
        i.status = 0;
        assert_eq!(
            i.error_text().as_deref(),
            Some("Connection error: no response from upstream")
        );
        i.status = 503;
        assert_eq!(i.error_text().as_deref(), Some("HTTP 503 from upstream"));
        i.error_message = Some("overloaded");
        assert_eq!(i.error_text().as_deref(), Some("overloaded"));
        for (api, ct, op) in [
            (Api::Completions, "atext_completion", "text_completion"),
            (Api::Embeddings, "aembedding", "embeddings"),
            (Api::Responses, "aresponses", "chat"),
        ] {
            i.api = Some(api);
            assert_eq!((i.call_type(), i.operation_name()), (ct, op));
        }
        i.response_id = Some("chatcmpl-1");
        assert_eq!(i.payload_id(), "chatcmpl-1");
    }
}
