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
use crate::config::Config;
use crate::exchange::Record;
use crate::identity::KeyHasher;
use crate::labels::UNKNOWN;
use crate::metrics::Resolution;

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
        .or_else(|| info.and_then(|i| i.api_key_alias.clone()));
    let team_alias = caller
        .identity
        .team_alias
        .clone()
        .or_else(|| info.and_then(|i| i.team_alias.clone()));
    (key_alias, team_alias)
}

/// What the `*` of a one-wildcard `pattern` matched in `name` (all of `name` otherwise).
fn wildcard_part<'a>(pattern: &str, name: &'a str) -> &'a str {
    match pattern.split_once('*') {
        Some((pre, suf)) if !suf.contains('*') => name
            .strip_prefix(pre)
            .and_then(|r| r.strip_suffix(suf))
            .unwrap_or(name),
        _ => name,
    }
}

/// The facts of a finished request. `messages_preview` is left out when the configuration
/// redacts messages (it then never travels through the shared queue).
pub fn request_facts(
    rec: &Record,
    config: &Config,
    alerting: &AlertingConfig,
    resolution: &Resolution,
    hasher: &mut KeyHasher,
) -> RequestFacts {
    let dep = resolution.deployment;
    let labels = &resolution.labels;
    let (key_alias, team_alias) = aliases(rec, config, hasher);
    let requested = rec.requested_model.clone().unwrap_or_default();
    // With provider prefix, as LiteLLM's `litellm_params.model`: a wildcard deployment
    // (`model_name: team/*`, `model: openai/*`) serves what the `*` matched under its prefix.
    let litellm_model = match dep {
        Some(d) if d.litellm_model.contains('*') && !requested.is_empty() => d
            .litellm_model
            .replace('*', wildcard_part(&d.model_name, &requested)),
        Some(d) => d.litellm_model.clone(),
        None => known(labels.get(Label::LitellmModelName)).unwrap_or_else(|| requested.clone()),
    };
    // Without provider prefix, as LiteLLM's `model` (what the provider is asked for).
    let model = match dep {
        Some(d) if d.litellm_model.contains('*') => litellm_model
            .split_once('/')
            .map_or(litellm_model.as_str(), |(_, m)| m)
            .to_string(),
        _ => known(labels.get(Label::LitellmModelName)).unwrap_or_default(),
    };
    RequestFacts {
        time_ms: ms(rec.end_ns),
        start_ms: ms(rec.started_ns),
        // A body the upstream broke is no usable response, whatever its headers said.
        status: rec.outcome_status(),
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
        routed: dep.is_some(),
    }
}

/// The facts of a request whose body has been read, for the worker's hanging tracker (the
/// tracker sets `start_ms` and `time_ms`). `requested_model` is what the client asked for
/// (LiteLLM's "Request Model"). No API base: LiteLLM registers a request for the hanging check
/// before its router picks a deployment, so its alert always reads `API Base: None`.
pub fn hanging_facts(rec: &Record, config: &Config, hasher: &mut KeyHasher) -> HangingFacts {
    let (key_alias, team_alias) = aliases(rec, config, hasher);
    HangingFacts {
        time_ms: 0,
        start_ms: ms(rec.started_ns),
        requested_model: rec.requested_model.clone().unwrap_or_default(),
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
    use crate::alerts::parse_alerting;
    use crate::exchange::Caller;

    const CONFIG: &str = r#"{
      "model_list": [
        {"model_name": "gpt-err500", "litellm_params": {"model": "openai/fake-err500", "api_base": "http://127.0.0.1:18080/v1", "region_name": "eu-west-1"}, "model_info": {"id": "dep-1"}},
        {"model_name": "wild/*", "litellm_params": {"model": "openai/*", "api_base": "https://api.openai.com/v1"}}
      ],
      "general_settings": {"alerting": ["slack"]},
      "telemetry_settings": {"keys": [{"api_key": "sk-team", "key_alias": "svc", "team_alias": "search"}]}
    }"#;

    fn setup(redact: bool) -> (Config, AlertingConfig) {
        let config = crate::config::parse(CONFIG.as_bytes(), &|_| None)
            .unwrap()
            .config;
        let mut gs = config.alerting_general_settings.clone();
        gs.insert("redact_messages_in_exceptions".into(), Value::Bool(redact));
        let env = |k: &str| (k == "SLACK_WEBHOOK_URL").then(|| "http://127.0.0.1:1/x".to_string());
        let alerting = parse_alerting(&gs, &env).unwrap();
        (config, alerting)
    }

    fn record(model: &str, status: u16) -> Record {
        Record {
            requested_model: Some(model.into()),
            status,
            started_ns: 1_000_000_000,
            upstream_start_ns: 1_000_000_000,
            end_ns: 3_500_000_000,
            caller: Caller {
                api_key: Some("sk-team".into()),
                ..Caller::default()
            },
            metadata: Some(br#"{"alerting_metadata":{"z":"1","a":"2"}}"#.to_vec()),
            messages_preview: Some("[{'role': 'user', 'content': 'hi'}]".into()),
            error_message: Some("boom".into()),
            ..Record::default()
        }
    }

    /// The facts of `rec`, resolved as the adapter resolves it (by the metrics).
    fn facts_of(rec: &Record, config: &Config, alerting: &AlertingConfig) -> RequestFacts {
        let mut metrics = crate::metrics::Metrics::new(config);
        let resolution = metrics.resolve(rec, config);
        request_facts(rec, config, alerting, &resolution, metrics.key_hasher())
    }

    #[test]
    fn finished_request_resolved_like_the_metrics() {
        let (config, alerting) = setup(false);
        let f = facts_of(&record("gpt-err500", 500), &config, &alerting);
        assert_eq!(
            (f.time_ms, f.start_ms, f.latency_ms, f.status),
            (3_500, 1_000, 2_500, 500)
        );
        assert_eq!(f.requested_model, "gpt-err500");
        assert_eq!(f.model_group, "gpt-err500");
        assert_eq!(f.litellm_model, "openai/fake-err500");
        assert_eq!(f.model, "fake-err500");
        assert_eq!(f.provider, "openai");
        assert_eq!(f.api_base, "http://127.0.0.1:18080/v1");
        assert_eq!(f.region.as_deref(), Some("eu-west-1"));
        assert_eq!(f.model_id.as_deref(), Some("dep-1"));
        assert_eq!(
            (f.key_alias.as_deref(), f.team_alias.as_deref()),
            (Some("svc"), Some("search"))
        );
        assert_eq!(f.error_message.as_deref(), Some("boom"));
        assert!(f.messages_preview.is_some());
        assert_eq!(
            f.alerting_metadata,
            vec![("z".into(), "1".into()), ("a".into(), "2".into())]
        );
        // A wildcard deployment serves the requested model under its prefix.
        let w = facts_of(&record("wild/x", 200), &config, &alerting);
        assert_eq!(
            (w.litellm_model.as_str(), w.model.as_str()),
            ("openai/x", "x")
        );
        assert_eq!(w.api_base, "https://api.openai.com/v1");
    }

    #[test]
    fn redaction_keeps_messages_off_the_queue() {
        let (config, alerting) = setup(true);
        let f = facts_of(&record("gpt-err500", 500), &config, &alerting);
        assert_eq!(f.messages_preview, None);
    }

    #[test]
    fn hanging_facts_name_the_requested_model_and_aliases() {
        let (config, _) = setup(false);
        let mut hasher = KeyHasher::new(8);
        let mut rec = record("gpt-err500", 0);
        let h = hanging_facts(&rec, &config, &mut hasher);
        assert_eq!(h.requested_model, "gpt-err500");
        assert_eq!(h.start_ms, 1_000);
        assert_eq!(
            (h.key_alias.as_deref(), h.team_alias.as_deref()),
            (Some("svc"), Some("search"))
        );
        assert_eq!(h.alerting_metadata.len(), 2);
        rec.caller.api_key = Some("sk-unknown".into());
        rec.requested_model = Some("nope".into());
        let h = hanging_facts(&rec, &config, &mut hasher);
        assert_eq!((h.key_alias, h.team_alias), (None, None));
    }

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
