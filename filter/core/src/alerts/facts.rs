//! What a worker puts on the alert queue, read off an exchange's [`Record`].
//!
//! Deployment resolution is the metrics' own ([`resolve_labels`]), so an alert names the model
//! group, deployment, provider and API base exactly as the metrics label them; key and team
//! aliases come from trusted identity headers, then `telemetry_settings.keys` by the key's hash.

use core::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::config::AlertingConfig;
use super::event::{HangingFacts, RequestFacts};
use crate::catalogue::Label;
use crate::config::{Config, Deployment};
use crate::exchange::Record;
use crate::identity::KeyHasher;
use crate::labels::UNKNOWN;
use crate::metrics::resolve_labels;

/// Unix milliseconds of a nanosecond time.
fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}

fn known(v: &str) -> Option<String> {
    (v != UNKNOWN && !v.is_empty()).then(|| v.to_string())
}

/// Key alias and team alias of the caller: trusted headers first, then the key table.
fn aliases(
    rec: &Record,
    config: &Config,
    hasher: &mut KeyHasher,
) -> (Option<String>, Option<String>) {
    let caller = &rec.caller;
    let info = match (&caller.api_key, config.keys.is_empty()) {
        (Some(k), false) => {
            let h = hasher.hash(k);
            config.keys.get(&*h)
        }
        _ => None,
    };
    let key_alias = caller
        .identity
        .api_key_alias
        .clone()
        .or_else(|| info.and_then(|i| i.key_alias.clone()));
    let team_alias = caller
        .identity
        .team_alias
        .clone()
        .or_else(|| info.and_then(|i| i.team_alias.clone()));
    (key_alias, team_alias)
}

fn deployment<'a>(rec: &Record, config: &'a Config) -> Option<&'a Deployment> {
    let host = rec.upstream_address.as_deref();
    rec.requested_model
        .as_deref()
        .and_then(|m| config.find_deployment(m, host))
}

/// The facts of a finished request. `messages_preview` is left out when the configuration
/// redacts messages (it then never travels through the shared queue).
pub fn request_facts(
    rec: &Record,
    config: &Config,
    alerting: &AlertingConfig,
    hasher: &mut KeyHasher,
) -> RequestFacts {
    let dep = deployment(rec, config);
    let labels = resolve_labels(rec, config, dep, hasher, usize::MAX);
    let (key_alias, team_alias) = aliases(rec, config, hasher);
    let requested = rec.requested_model.clone().unwrap_or_default();
    // With provider prefix, as LiteLLM's `litellm_params.model`: a wildcard deployment
    // (`openai/*`) serves the requested model under its prefix.
    let litellm_model = match dep {
        Some(d) if d.litellm_model.contains('*') && !requested.is_empty() => {
            d.litellm_model.replace('*', &requested)
        }
        Some(d) => d.litellm_model.clone(),
        None => known(labels.get(Label::LitellmModelName)).unwrap_or_else(|| requested.clone()),
    };
    let model = known(labels.get(Label::LitellmModelName)).unwrap_or_default();
    RequestFacts {
        time_ms: ms(rec.end_ns),
        start_ms: ms(rec.started_ns),
        status: rec.status,
        requested_model: requested,
        model_group: known(labels.get(Label::ModelGroup)).unwrap_or_default(),
        litellm_model,
        model,
        provider: known(labels.get(Label::ApiProvider)).unwrap_or_default(),
        api_base: known(labels.get(Label::ApiBase)).unwrap_or_default(),
        region: dep.and_then(|d| d.region.clone()),
        key_alias,
        team_alias,
        latency_ms: rec.total_latency_us() / 1000,
        error_message: rec.error_message.clone(),
        messages_preview: if alerting.redact_messages {
            None
        } else {
            rec.messages_preview.clone()
        },
        alerting_metadata: rec
            .metadata
            .as_deref()
            .map(alerting_metadata)
            .unwrap_or_default(),
        model_id: known(labels.get(Label::ModelId)),
    }
}

/// The facts of a request whose body has been read, for the worker's hanging tracker (the
/// tracker sets `start_ms` and `time_ms`). `requested_model` is what the client asked for
/// (LiteLLM's "Request Model"); the API base is the deployment's when the model list names it.
pub fn hanging_facts(rec: &Record, config: &Config, hasher: &mut KeyHasher) -> HangingFacts {
    let (key_alias, team_alias) = aliases(rec, config, hasher);
    let api_base = rec
        .requested_model
        .as_deref()
        .and_then(|m| config.find_deployment(m, None))
        .and_then(|d| d.api_base.clone());
    HangingFacts {
        time_ms: 0,
        start_ms: ms(rec.started_ns),
        requested_model: rec.requested_model.clone().unwrap_or_default(),
        api_base,
        key_alias,
        team_alias,
        alerting_metadata: rec
            .metadata
            .as_deref()
            .map(alerting_metadata)
            .unwrap_or_default(),
    }
}

/// Key/value pairs in request order (serde_json's map would sort them; LiteLLM iterates the
/// dict in insertion order).
struct Ordered(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    alerting_metadata: Option<Ordered>,
}

/// Python's `str()` of a JSON value, as LiteLLM formats `f"{key}: `{value}`"`.
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => super::text::py_float(f),
            _ => n.to_string(),
        },
        other => super::text::messages_preview(&other.to_string()),
    }
}

/// `metadata.alerting_metadata` of a request's raw `metadata` JSON, as (key, value) pairs in
/// request order. Anything that is not an object gives nothing.
pub fn alerting_metadata(raw_metadata: &[u8]) -> Vec<(String, String)> {
    match serde_json::from_slice::<Metadata>(raw_metadata) {
        Ok(Metadata {
            alerting_metadata: Some(Ordered(pairs)),
        }) => pairs.iter().map(|(k, v)| (k.clone(), py_str(v))).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_pairs_in_request_order() {
        let raw = br#"{"tags":["a"],"alerting_metadata":{"runbook":"golden-rb-1","a":1,"b":true,"c":null,"d":1.5}}"#;
        assert_eq!(
            alerting_metadata(raw),
            vec![
                ("runbook".to_string(), "golden-rb-1".to_string()),
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "True".to_string()),
                ("c".to_string(), "None".to_string()),
                ("d".to_string(), "1.5".to_string()),
            ]
        );
        assert!(alerting_metadata(br#"{"alerting_metadata":[1]}"#).is_empty());
        assert!(alerting_metadata(br#"[1]"#).is_empty());
        assert!(alerting_metadata(br#"{"other":1}"#).is_empty());
    }
}
