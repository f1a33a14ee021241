//! `telemetry_settings.metric_names`: the OpenTelemetry gen_ai families beside (or instead of)
//! LiteLLM's, as exact Envoy stat names and values through a recording sink, and provider-native
//! records named as LiteLLM names them (`api_provider`, exception classes).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llm_telemetry_core::catalogue::Kind;
use llm_telemetry_core::config::{self, Config};
use llm_telemetry_core::exchange::{Caller, Record};
use llm_telemetry_core::gen_ai::TOKEN_BUCKETS;
use llm_telemetry_core::identity::sha256_hex;
use llm_telemetry_core::metrics::{Metrics, StatSink};
use llm_telemetry_core::providers::ProviderError;
use llm_telemetry_core::route::NativeApi;
use llm_telemetry_core::usage::Usage;
use std::collections::BTreeMap;

#[derive(Default)]
struct Recorder {
    names: Vec<String>,
    values: BTreeMap<String, u64>,
}

impl StatSink for Recorder {
    fn define(&mut self, _: Kind, name: &str) -> Option<u32> {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Some(i as u32);
        }
        self.names.push(name.to_owned());
        self.values.insert(name.to_owned(), 0);
        Some(self.names.len() as u32 - 1)
    }
    fn add(&mut self, id: u32, delta: u64) {
        *self.values.get_mut(&self.names[id as usize]).unwrap() += delta;
    }
    fn set(&mut self, id: u32, value: u64) {
        self.values.insert(self.names[id as usize].clone(), value);
    }
}

impl Recorder {
    fn starting(&self, prefix: &str) -> Vec<(String, u64)> {
        self.values
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
    fn value(&self, name: &str) -> Option<u64> {
        self.values.get(name).copied()
    }
}

fn with_names(names: &str) -> Config {
    let json = format!(r#"{{"telemetry_settings": {{"metric_names": "{names}"}}}}"#);
    config::parse(json.as_bytes(), &|_| None).unwrap().config
}

/// An Anthropic Messages response: LiteLLM's prompt 3084 (12 + 2048 read + 1024 written).
fn anthropic_record(status: u16) -> Record {
    Record {
        native: Some(NativeApi::AnthropicMessages),
        route: "/v1/messages".into(),
        base_path: "/v1".into(),
        caller: Caller {
            api_key: Some("sk-ant".into()),
            ..Caller::default()
        },
        requested_model: Some("claude-sonnet-4".into()),
        response_model: (status == 200).then(|| "claude-sonnet-4-20250514".into()),
        status,
        usage: (status == 200).then_some(Usage {
            input: 3084,
            output: 15,
            total: 3099,
            input_cached: 2048,
            input_cache_creation: 1024,
            ..Usage::default()
        }),
        provider_error: (status == 429).then(|| ProviderError {
            kind: Some("rate_limit_error".into()),
            ..ProviderError::default()
        }),
        started_ns: 1_000_000_000,
        upstream_start_ns: 1_000_000_000,
        end_ns: 1_300_000_000,
        upstream_address: Some("127.0.0.1:18080".into()),
        ..Record::default()
    }
}

const GEN_AI: &str = "gen_ai_operation_name=chat;gen_ai_provider_name=anthropic;\
gen_ai_request_model=claude-sonnet-4;gen_ai_response_model=claude-sonnet-4-20250514";

#[test]
fn default_emits_no_gen_ai_family() {
    let cfg = config::parse(b"", &|_| None).unwrap().config;
    let mut m = Metrics::new(&cfg);
    m.record(&anthropic_record(200), &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    assert!(r.starting("gen_ai_").is_empty());
    assert!(!r.starting("litellm_input_tokens_metric_total").is_empty());
}

#[test]
fn both_vocabularies_count_the_same_tokens() {
    let cfg = with_names("both");
    let mut m = Metrics::new(&cfg);
    m.record(&anthropic_record(200), &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    let key = sha256_hex("sk-ant");
    let litellm = |family: &str| {
        let found = r.starting(family);
        assert_eq!(found.len(), 1, "{family}");
        assert!(found[0].0.contains(&format!(";hashed_api_key={key};")));
        assert!(found[0].0.contains(";api_provider=anthropic;"));
        found[0].1
    };
    for (token_type, family, n) in [
        ("input", "litellm_input_tokens_metric_total", 3084),
        ("output", "litellm_output_tokens_metric_total", 15),
        (
            "cached_input",
            "litellm_input_cached_tokens_metric_total",
            2048,
        ),
        (
            "cache_creation_input",
            "litellm_input_cache_creation_tokens_metric_total",
            1024,
        ),
    ] {
        assert_eq!(litellm(family), n);
        let sum = format!("gen_ai_client_token_usage_sum;{GEN_AI};gen_ai_token_type={token_type};");
        assert_eq!(r.value(&sum), Some(n), "{sum}");
        let count =
            format!("gen_ai_client_token_usage_count;{GEN_AI};gen_ai_token_type={token_type};");
        assert_eq!(r.value(&count), Some(1));
        // Cumulative buckets in tokens: 3084 is within le=4096, not le=1024.
        for b in TOKEN_BUCKETS {
            let name = format!(
                "gen_ai_client_token_usage_bucket;{GEN_AI};gen_ai_token_type={token_type};le={};",
                b.le
            );
            assert_eq!(r.value(&name), Some(u64::from(n <= b.micros)), "{name}");
        }
    }
    // Reasoning was not reported: no observation (a 0 there is "not reported").
    assert!(r
        .starting("gen_ai_client_token_usage_count")
        .iter()
        .all(|(k, _)| !k.contains("reasoning")));
    let duration = format!("gen_ai_client_operation_duration_seconds_count;{GEN_AI};");
    assert_eq!(r.value(&duration), Some(1));
    let sum = format!("gen_ai_client_operation_duration_seconds_sum_microseconds;{GEN_AI};");
    assert_eq!(r.value(&sum), Some(300_000));
    // Not a stream: no time to first token.
    assert!(r.starting("gen_ai_server_time_to_first_token").is_empty());
}

#[test]
fn gen_ai_alone_drops_litellm_families_and_names_failures() {
    let cfg = with_names("gen_ai");
    let mut m = Metrics::new(&cfg);
    m.record(&anthropic_record(429), &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    assert!(r.starting("litellm_").is_empty());
    // No response model reported: the attribute is left out, not `None`.
    assert_eq!(
        r.value(
            "gen_ai_client_operation_duration_seconds_count;gen_ai_operation_name=chat;\
gen_ai_provider_name=anthropic;error_type=RateLimitError;gen_ai_request_model=claude-sonnet-4;"
        ),
        Some(1)
    );
}

#[test]
fn native_records_use_the_providers_exception_classes() {
    let cfg = config::parse(b"", &|_| None).unwrap().config;
    let mut m = Metrics::new(&cfg);
    m.record(&anthropic_record(429), &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    let failed = r.starting("litellm_proxy_failed_requests_metric_total");
    assert_eq!(failed.len(), 1);
    assert!(failed[0]
        .0
        .contains(";exception_class=Anthropic.RateLimitError;"));
}
