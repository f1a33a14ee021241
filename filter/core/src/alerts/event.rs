//! What a worker tells the alert leader, through Envoy's shared queue.
//!
//! Outage windows, de-duplication and daily reports must count across every worker VM, so each
//! worker serializes an [`AlertEvent`] per finished (or hanging) request into one shared queue,
//! and the elected leader feeds them to the [`super::AlertEngine`]. Events are compact JSON
//! (no whitespace, absent options left out) and bounded in size by [`AlertEvent::sanitize`],
//! which both sides apply: the queue is shared memory, so the reader does not trust the writer.

use serde::{Deserialize, Serialize};

use super::budget::{BudgetAlertKind, CallInfo};
use super::text::truncate_chars;
use crate::health::Cooldown;

/// Longest `error_message` carried, in characters.
pub const MAX_ERROR_CHARS: usize = 1000;
/// Longest `messages_preview`, in characters (LiteLLM shows the first 100).
pub const MAX_PREVIEW_CHARS: usize = 100;
/// Most `alerting_metadata` pairs carried.
pub const MAX_METADATA_PAIRS: usize = 32;
/// Longest metadata key or value, in characters.
pub const MAX_METADATA_CHARS: usize = 256;
/// Longest name-like field (models, aliases, API base), in characters.
pub const MAX_NAME_CHARS: usize = 512;

/// A finished request, as the alert rules need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFacts {
    /// When the response finished (Unix ms).
    pub time_ms: u64,
    /// When the request started (Unix ms).
    pub start_ms: u64,
    /// Upstream status; 0 = no response (connection failure, reset, local timeout).
    pub status: u16,
    /// The `model` the client asked for.
    pub requested_model: String,
    /// LiteLLM's model group (the `model_name` in `model_list`).
    pub model_group: String,
    /// The deployment's model with provider prefix, e.g. `openai/fake-err500`.
    pub litellm_model: String,
    /// The model without provider prefix, e.g. `fake-err500`.
    pub model: String,
    /// Provider, e.g. `openai`.
    pub provider: String,
    /// The deployment's API base as configured (empty when unknown).
    pub api_base: String,
    /// Provider region when known from configuration (else derived from `api_base`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Key alias of the caller's virtual key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_alias: Option<String>,
    /// Team alias of the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_alias: Option<String>,
    /// Total response time in ms.
    pub latency_ms: u64,
    /// Upstream error text (≤ 1000 characters), e.g. the `error.message` of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// First 100 characters of the request messages (see [`super::messages_preview`]); `None`
    /// when messages are redacted or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_preview: Option<String>,
    /// Request `metadata.alerting_metadata` as (key, value) pairs in request order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerting_metadata: Vec<(String, String)>,
    /// Deployment id (`model_info.id`), when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// A `model_list` deployment served the request (LiteLLM's router path: its exception
    /// texts then name the model group and the deployment).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub routed: bool,
}

/// A request still unfinished after `alerting_threshold`, found by a worker's
/// [`super::HangingTracker`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HangingFacts {
    /// When the worker noticed (Unix ms).
    pub time_ms: u64,
    /// When the request started (Unix ms).
    pub start_ms: u64,
    /// The `model` the client asked for.
    pub requested_model: String,
    /// Key alias of the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_alias: Option<String>,
    /// Team alias of the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_alias: Option<String>,
    /// Request `metadata.alerting_metadata`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerting_metadata: Vec<(String, String)>,
}

/// One thing that happened, for the leader's [`super::AlertEngine`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertEvent {
    /// A request finished (any status).
    RequestFinished(RequestFacts),
    /// A request is hanging.
    RequestHanging(HangingFacts),
    /// Spend could not be computed for a request (e.g. no price for the model).
    FailedTrackingSpend {
        /// When (Unix ms).
        time_ms: u64,
        /// The model whose spend is unknown (alerts are de-duplicated per model).
        model: String,
        /// Why, e.g. `model=gpt-x, no price known`.
        error_message: String,
    },
    /// A budget was checked (for the spend module).
    Budget {
        /// When (Unix ms).
        time_ms: u64,
        /// Which budget.
        budget: BudgetAlertKind,
        /// The holder and its numbers.
        info: CallInfo,
    },
    /// The deployment health coordinator put a deployment in cooldown ([`crate::health`]).
    DeploymentCooledDown {
        /// When (Unix ms).
        time_ms: u64,
        /// `litellm_model_name`, `model_id`, `api_base`, `api_provider`.
        deployment: [String; 4],
        /// What began it.
        cooldown: Cooldown,
    },
}

fn cap(s: &mut String, max: usize) {
    let t = truncate_chars(s, max);
    if t.len() < s.len() {
        *s = t.to_string();
    }
}

fn cap_opt(s: &mut Option<String>, max: usize) {
    if let Some(v) = s {
        cap(v, max);
    }
}

fn cap_metadata(m: &mut Vec<(String, String)>) {
    m.truncate(MAX_METADATA_PAIRS);
    for (k, v) in m.iter_mut() {
        cap(k, MAX_METADATA_CHARS);
        cap(v, MAX_METADATA_CHARS);
    }
}

impl RequestFacts {
    /// Caps every text field (error 1000, preview 100, metadata 32 × 256, names 512 characters).
    pub fn sanitize(&mut self) {
        for s in [
            &mut self.requested_model,
            &mut self.model_group,
            &mut self.litellm_model,
            &mut self.model,
            &mut self.provider,
            &mut self.api_base,
        ] {
            cap(s, MAX_NAME_CHARS);
        }
        for s in [
            &mut self.region,
            &mut self.key_alias,
            &mut self.team_alias,
            &mut self.model_id,
        ] {
            cap_opt(s, MAX_NAME_CHARS);
        }
        cap_opt(&mut self.error_message, MAX_ERROR_CHARS);
        cap_opt(&mut self.messages_preview, MAX_PREVIEW_CHARS);
        cap_metadata(&mut self.alerting_metadata);
    }
}

impl HangingFacts {
    /// Caps every text field, as [`RequestFacts::sanitize`].
    pub fn sanitize(&mut self) {
        cap(&mut self.requested_model, MAX_NAME_CHARS);
        for s in [&mut self.key_alias, &mut self.team_alias] {
            cap_opt(s, MAX_NAME_CHARS);
        }
        cap_metadata(&mut self.alerting_metadata);
    }
}

impl AlertEvent {
    /// Caps every text field so one event stays small in the shared queue.
    pub fn sanitize(&mut self) {
        match self {
            AlertEvent::RequestFinished(f) => f.sanitize(),
            AlertEvent::RequestHanging(h) => h.sanitize(),
            AlertEvent::FailedTrackingSpend {
                model,
                error_message,
                ..
            } => {
                cap(model, MAX_NAME_CHARS);
                cap(error_message, MAX_ERROR_CHARS);
            }
            AlertEvent::Budget { .. } => {}
            AlertEvent::DeploymentCooledDown {
                deployment,
                cooldown,
                ..
            } => {
                for s in deployment.iter_mut() {
                    cap(s, MAX_NAME_CHARS);
                }
                cap(&mut cooldown.model_group, MAX_NAME_CHARS);
                cap(&mut cooldown.reason, MAX_NAME_CHARS);
            }
        }
    }

    /// Compact JSON for the shared queue (sanitized first).
    pub fn to_json(&self) -> String {
        let mut e = self.clone();
        e.sanitize();
        serde_json::to_string(&e).unwrap_or_default()
    }

    /// Reads an event from the shared queue; the result is sanitized.
    pub fn from_json(bytes: &[u8]) -> Result<AlertEvent, serde_json::Error> {
        let mut e: AlertEvent = serde_json::from_slice(bytes)?;
        e.sanitize();
        Ok(e)
    }

    /// The event's own time (Unix ms).
    pub fn time_ms(&self) -> u64 {
        match self {
            AlertEvent::RequestFinished(f) => f.time_ms,
            AlertEvent::RequestHanging(h) => h.time_ms,
            AlertEvent::FailedTrackingSpend { time_ms, .. }
            | AlertEvent::Budget { time_ms, .. }
            | AlertEvent::DeploymentCooledDown { time_ms, .. } => *time_ms,
        }
    }
}

/// An upstream failure worth an `llm_exceptions` alert: no response or any error status. LiteLLM
/// 1.106 leaves out only its own refusals (auth, budgets: `HTTPException`/`ProxyException`
/// under 500), which never reach an upstream; an error the LLM API returns, a 400 included, is
/// a `litellm.BadRequestError` and alerted (tests/fixtures/litellm_alerts.json,
/// `llm_exceptions_400` recorded it). A client that left is no failure here: its
/// request never reaches the alert rules.
pub fn is_upstream_failure(status: u16) -> bool {
    is_failure(status)
}

/// An error counted towards outages: no response, 408 or 5xx (LiteLLM: "408 or ≥ 500"; a
/// connection failure is LiteLLM's `APIConnectionError`, status 500).
pub fn is_outage_error(status: u16) -> bool {
    status == 0 || status == 408 || status >= 500
}

/// A failed call of any kind (what LiteLLM's failure callbacks see): no response or ≥ 400.
pub fn is_failure(status: u16) -> bool {
    status == 0 || status >= 400
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn facts(status: u16) -> RequestFacts {
        RequestFacts {
            time_ms: 1_732_363_328_000,
            start_ms: 1_732_363_327_000,
            status,
            requested_model: "gpt-err500".into(),
            model_group: "gpt-err500".into(),
            litellm_model: "openai/fake-err500".into(),
            model: "fake-err500".into(),
            provider: "openai".into(),
            api_base: "http://127.0.0.1:18080/v1".into(),
            region: None,
            key_alias: None,
            team_alias: None,
            latency_ms: 1000,
            error_message: Some("upstream boom".into()),
            messages_preview: Some("[{'role': 'user', 'content': 'hi'}]".into()),
            alerting_metadata: vec![],
            model_id: None,
            routed: true,
        }
    }

    #[test]
    fn compact_json_round_trip() {
        let mut f = facts(500);
        f.alerting_metadata = vec![("runbook".into(), "golden-rb-1".into())];
        let e = AlertEvent::RequestFinished(f);
        let j = e.to_json();
        assert!(j.starts_with(r#"{"kind":"request_finished","time_ms":1732363328000,"start_ms":1732363327000,"status":500,"#), "{j}");
        assert!(j.contains(r#""alerting_metadata":[["runbook","golden-rb-1"]]"#));
        assert!(!j.contains("\"region\""));
        assert_eq!(AlertEvent::from_json(j.as_bytes()).unwrap(), e);
        let h = AlertEvent::RequestHanging(HangingFacts {
            time_ms: 5,
            start_ms: 1,
            requested_model: "gpt-slow".into(),
            key_alias: None,
            team_alias: None,
            alerting_metadata: vec![],
        });
        assert_eq!(
            h.to_json(),
            r#"{"kind":"request_hanging","time_ms":5,"start_ms":1,"requested_model":"gpt-slow"}"#
        );
        assert!(AlertEvent::from_json(b"{\"kind\":\"nope\"}").is_err());
    }

    #[test]
    fn sanitize_caps_sizes() {
        let mut f = facts(500);
        f.error_message = Some("é".repeat(5000));
        f.messages_preview = Some("x".repeat(500));
        f.alerting_metadata = (0..100)
            .map(|i| (format!("k{i}"), "v".repeat(1000)))
            .collect();
        let e = AlertEvent::from_json(AlertEvent::RequestFinished(f).to_json().as_bytes()).unwrap();
        let AlertEvent::RequestFinished(f) = e else {
            panic!()
        };
        assert_eq!(f.error_message.unwrap().chars().count(), 1000);
        assert_eq!(f.messages_preview.unwrap().len(), 100);
        assert_eq!(f.alerting_metadata.len(), 32);
        assert_eq!(f.alerting_metadata[0].1.len(), 256);
    }

    #[test]
    fn status_classes() {
        let up: Vec<u16> = [0, 200, 400, 401, 404, 408, 429, 499, 500, 503]
            .into_iter()
            .filter(|s| is_upstream_failure(*s))
            .collect();
        assert_eq!(up, vec![0, 400, 401, 404, 408, 429, 499, 500, 503]);
        let out: Vec<u16> = [0, 200, 400, 408, 429, 500, 504]
            .into_iter()
            .filter(|s| is_outage_error(*s))
            .collect();
        assert_eq!(out, vec![0, 408, 500, 504]);
        assert!(is_failure(400) && is_failure(0) && !is_failure(200) && !is_failure(302));
    }
}
