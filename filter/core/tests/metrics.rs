//! Finished exchanges → exact Envoy stat names and values, through a recording sink.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llm_telemetry_core::catalogue::Kind;
use llm_telemetry_core::config::{self, Config};
use llm_telemetry_core::exchange::{Caller, Record};
use llm_telemetry_core::health::{Cooldown, CooldownSettings, HealthModel, HealthUpdate};
use llm_telemetry_core::identity::sha256_hex;
use llm_telemetry_core::metrics::{exception_class, Metrics, StatSink};
use llm_telemetry_core::route::Api;
use llm_telemetry_core::usage::Usage;
use std::collections::BTreeMap;

/// Envoy as the metrics see it: names defined once, counters added, gauges set.
#[derive(Default)]
struct Recorder {
    names: Vec<(Kind, String)>,
    values: BTreeMap<String, u64>,
}

impl StatSink for Recorder {
    fn define(&mut self, kind: Kind, name: &str) -> Option<u32> {
        if let Some(i) = self.names.iter().position(|(_, n)| n == name) {
            return Some(i as u32);
        }
        self.names.push((kind, name.to_owned()));
        self.values.insert(name.to_owned(), 0);
        Some(self.names.len() as u32 - 1)
    }
    fn add(&mut self, id: u32, delta: u64) {
        let name = &self.names[id as usize].1;
        *self.values.get_mut(name).unwrap() += delta;
    }
    fn set(&mut self, id: u32, value: u64) {
        let name = &self.names[id as usize].1;
        self.values.insert(name.clone(), value);
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
}

fn parse(json: &str) -> Config {
    config::parse(json.as_bytes(), &|_| None).unwrap().config
}

fn chat_record(status: u16) -> Record {
    Record {
        api: Some(Api::ChatCompletions),
        route: "/v1/chat/completions".into(),
        base_path: "/v1".into(),
        caller: Caller {
            api_key: Some("sk-test".into()),
            user_agent: Some("curl/8".into()),
            client_ip: Some("10.0.0.1".into()),
            ..Caller::default()
        },
        requested_model: Some("gpt-4o".into()),
        response_model: Some("gpt-4o-2024-08-06".into()),
        status,
        usage: (status == 200).then_some(Usage {
            input: 19,
            output: 10,
            total: 29,
            input_cached: 3,
            output_reasoning: 2,
            ..Usage::default()
        }),
        started_ns: 1_000_000_000,
        upstream_start_ns: 1_000_000_000,
        end_ns: 1_300_000_000,
        upstream_address: Some("127.0.0.1:18080".into()),
        ..Record::default()
    }
}

#[test]
fn a_success_becomes_litellm_series_with_every_label() {
    let cfg = parse("");
    let mut m = Metrics::new(&cfg);
    m.record(&chat_record(200), &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    let key = sha256_hex("sk-test");
    assert_eq!(
        r.starting("litellm_proxy_total_requests_metric_total"),
        vec![(format!(
            "litellm_proxy_total_requests_metric_total;end_user=None;hashed_api_key={key};api_key_alias=None;\
requested_model=gpt-4o;team=None;team_alias=None;user=None;status_code=200;user_email=None;\
route=/v1/chat/completions;client_ip=10.0.0.1;user_agent=curl/8;model_id=None;api_provider=openai;\
org_id=None;org_alias=None;"
        ), 1)]
    );
    let tokens = r.starting("litellm_total_tokens_metric_total");
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].0.contains(";model=gpt-4o-2024-08-06;"));
    assert_eq!(tokens[0].1, 29);
    assert_eq!(
        r.starting("litellm_input_cached_tokens_metric_total")[0].1,
        3
    );
    assert_eq!(
        r.starting("litellm_output_reasoning_tokens_metric_total")[0].1,
        2
    );
    // LiteLLM's detail families are sparse: no series for a count of 0.
    for zero in [
        "litellm_input_audio_tokens_metric",
        "litellm_output_audio_tokens_metric",
        "litellm_input_cache_creation_tokens_metric",
        "litellm_provider_cache_creation_input_tokens_metric",
    ] {
        assert!(r.starting(zero).is_empty(), "{zero}");
    }
    assert_eq!(
        r.starting("litellm_provider_cache_read_input_tokens_metric_total")[0].1,
        3
    );
    // Not a stream: LiteLLM observes its overhead.
    assert_eq!(r.starting("litellm_overhead_latency_metric_count")[0].1, 1);
    // The state is the health coordinator's (`Metrics::record_health`).
    assert!(r.starting("litellm_deployment_state").is_empty());
    assert!(r
        .starting("litellm_proxy_failed_requests_metric")
        .is_empty());
}

#[test]
fn histograms_are_cumulative_buckets_in_seconds_with_an_integer_sum() {
    let cfg = parse("");
    let mut m = Metrics::new(&cfg);
    m.record(&chat_record(200), &cfg, 0); // 300 ms
    let mut r = Recorder::default();
    m.flush(&mut r);
    let buckets = r.starting("litellm_request_total_latency_metric_bucket");
    assert_eq!(buckets.len(), 18, "17 bounds and +Inf, all defined");
    let le = |b: &str| {
        buckets
            .iter()
            .find(|(k, _)| k.ends_with(&format!(";le={b};")))
            .unwrap()
            .1
    };
    assert_eq!(
        (le("0.25"), le("0.5"), le("600.0"), le("+Inf")),
        (0, 1, 1, 1)
    );
    assert_eq!(
        r.starting("litellm_request_total_latency_metric_count")[0].1,
        1
    );
    assert_eq!(
        r.starting("litellm_request_total_latency_metric_sum_microseconds")[0].1,
        300_000
    );
    // 300 ms over 10 output tokens: 0.03 s per token.
    let per_token = r.starting("litellm_deployment_latency_per_output_token_bucket");
    assert_eq!(per_token.len(), 15);
    let le = |b: &str| {
        per_token
            .iter()
            .find(|(k, _)| k.ends_with(&format!(";le={b};")))
            .unwrap()
            .1
    };
    assert_eq!((le("0.025"), le("0.05")), (0, 1));
    // Not a stream: no time to first token.
    assert!(r
        .starting("litellm_llm_api_time_to_first_token_metric")
        .is_empty());
}

#[test]
fn flushes_send_only_deltas() {
    let cfg = parse("");
    let mut m = Metrics::new(&cfg);
    let mut r = Recorder::default();
    m.record(&chat_record(200), &cfg, 0);
    m.flush(&mut r);
    m.flush(&mut r);
    m.record(&chat_record(200), &cfg, 0);
    m.record(&chat_record(200), &cfg, 0);
    m.flush(&mut r);
    assert_eq!(
        r.starting("litellm_proxy_total_requests_metric_total")[0].1,
        3
    );
    assert_eq!(r.starting("litellm_total_tokens_metric_total")[0].1, 87);
}

#[test]
fn a_429_is_a_failure_and_its_zero_headroom_is_written() {
    let cfg = parse("");
    let mut m = Metrics::new(&cfg);
    let mut rec = chat_record(429);
    rec.rate_limits.remaining_requests = Some(0);
    rec.rate_limits.limit_requests = Some(60);
    m.record(&rec, &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    let failed = r.starting("litellm_proxy_failed_requests_metric_total");
    assert_eq!(failed.len(), 1);
    assert!(failed[0]
        .0
        .contains(";exception_status=429;exception_class=Openai.RateLimitError;"));
    assert_eq!(r.starting("litellm_remaining_requests_metric;")[0].1, 0);
    // The upstream's limit header feeds no limit gauge (only configured limits do), and the
    // state is the health coordinator's to write.
    assert!(r.starting("litellm_deployment_rpm_limit;").is_empty());
    assert!(r.starting("litellm_deployment_state;").is_empty());
    assert!(r.starting("litellm_total_tokens_metric").is_empty());
    assert!(
        r.starting("litellm_requests_metric").is_empty(),
        "LiteLLM counts it on success only"
    );
}

#[test]
fn outcomes_carry_the_deployment_its_group_and_litellms_class() {
    let cfg = parse(
        r#"{"model_list": [
          {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o", "api_base": "http://127.0.0.1:18080/v1"}, "model_info": {"id": "a"}},
          {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o-b", "api_base": "http://b:1/v1"}, "model_info": {"id": "b"}}
        ]}"#,
    );
    let mut m = Metrics::new(&cfg);
    let o = m.record(&chat_record(500), &cfg, 7_000_000).unwrap();
    assert_eq!(
        o.deployment,
        ["gpt-4o", "a", "http://127.0.0.1:18080/v1", "openai"].map(String::from)
    );
    assert_eq!(
        (o.model_group.as_str(), o.group_size, o.time_ms, o.status),
        ("gpt-4o", 2, 7, 500)
    );
    assert_eq!((o.class.as_str(), o.successes), ("InternalServerError", 0));
    let o = m.record(&chat_record(200), &cfg, 0).unwrap();
    assert_eq!((o.status, o.class.as_str(), o.successes), (0, "", 1));
    let mut gone = chat_record(0);
    gone.client_left = true;
    assert_eq!(m.record(&gone, &cfg, 0), None);
}

#[test]
fn the_coordinators_update_writes_state_and_cooled_down() {
    let cfg = parse("");
    let mut m = Metrics::new(&cfg);
    let deployment = ["openai/x", "None", "http://h/v1", "openai"].map(String::from);
    m.record_health(&HealthUpdate {
        deployment: deployment.clone(),
        state: 2,
        cooldown: Some(Cooldown {
            status: 429,
            model_group: "x".into(),
            cooldown_ms: 5_000,
            reason: String::new(),
        }),
    });
    m.record_health(&HealthUpdate {
        deployment,
        state: 0,
        cooldown: None,
    });
    let mut r = Recorder::default();
    m.flush(&mut r);
    assert_eq!(
        r.starting("litellm_deployment_cooled_down_total"),
        vec![("litellm_deployment_cooled_down_total;litellm_model_name=openai/x;model_id=None;api_base=http://h/v1;api_provider=openai;exception_status=429;".to_owned(), 1)]
    );
    assert_eq!(
        r.starting("litellm_deployment_state"),
        vec![("litellm_deployment_state;litellm_model_name=openai/x;model_id=None;api_base=http://h/v1;api_provider=openai;".to_owned(), 0)]
    );
    // Nothing else: the update's series has no request counts.
    assert_eq!(r.values.len(), 2);
}

#[test]
fn identity_from_the_key_table_and_the_master_key() {
    let cfg = parse(&format!(
        r#"{{"general_settings":{{"master_key":"sk-master"}},
            "telemetry_settings":{{"keys":[{{"hashed_api_key":"{}","key_alias":"k1","team_id":"t1","team_alias":"Team One","user_id":"u1","user_email":"u1@x.io"}}]}}}}"#,
        sha256_hex("sk-test")
    ));
    let mut m = Metrics::new(&cfg);
    m.record(&chat_record(200), &cfg, 0);
    let mut master = chat_record(200);
    master.caller.api_key = Some("sk-master".into());
    m.record(&master, &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    let total = r.starting("litellm_proxy_total_requests_metric_total");
    assert_eq!(total.len(), 2);
    assert!(total.iter().any(|(k, _)| k.contains(";api_key_alias=k1;requested_model=gpt-4o;team=t1;team_alias=Team One;user=u1;status_code=200;user_email=u1@x.io;")));
    assert!(total.iter().any(
        |(k, _)| k.contains(";hashed_api_key=litellm_proxy_master_key;")
            && k.contains(";user=default_user_id;")
    ));
    let all: String = r.values.keys().cloned().collect();
    assert!(
        !all.contains("sk-master") && !all.contains("sk-test"),
        "raw keys never leave"
    );
}

#[test]
fn model_list_resolves_deployments_and_folds_unknown_models() {
    let cfg = parse(
        r#"{"model_list":[{"model_name":"gpt-4o","litellm_params":{"model":"azure/gpt-4o-dep","api_base":"https://x.openai.azure.com","rpm":100},"model_info":{"id":"dep-1"}}]}"#,
    );
    let mut m = Metrics::new(&cfg);
    m.record(&chat_record(200), &cfg, 0);
    let mut other = chat_record(200);
    other.requested_model = Some("mystery".into());
    m.record(&other, &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    let dep = r.starting("litellm_deployment_success_responses_total");
    assert_eq!(dep.len(), 2);
    assert!(dep.iter().any(|(k, _)| k.contains("model_group=gpt-4o;requested_model=gpt-4o;litellm_model_name=gpt-4o-dep;model_id=dep-1;api_base=https://x.openai.azure.com;api_provider=azure;")));
    assert!(dep
        .iter()
        .any(|(k, _)| k.contains("model_group=other;requested_model=other;")));
    assert_eq!(
        r.starting("litellm_deployment_rpm_limit;model_group=gpt-4o;")[0].1,
        100,
        "from model_list when no header"
    );
}

#[test]
fn label_values_and_series_are_bounded() {
    let cfg =
        parse(r#"{"telemetry_settings":{"max_values_per_label":2,"max_series_per_metric":3}}"#);
    let mut m = Metrics::new(&cfg);
    for ua in ["a", "b", "c", "d"] {
        let mut rec = chat_record(200);
        rec.caller.user_agent = Some(ua.into());
        m.record(&rec, &cfg, 0);
    }
    let mut r = Recorder::default();
    m.flush(&mut r);
    let total = r.starting("litellm_proxy_total_requests_metric_total");
    let overflow: u64 = total
        .iter()
        .filter(|(k, _)| k.contains("user_agent=__overflow__"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(overflow, 2);
    assert_eq!(
        total.iter().map(|(_, v)| v).sum::<u64>(),
        4,
        "folded, never lost"
    );
    assert_eq!(
        r.starting("llm_telemetry_label_values_folded_total;label=user_agent")[0].1,
        2
    );
}

#[test]
fn prometheus_metrics_config_keeps_only_listed_metrics_and_labels() {
    let cfg = parse(
        r#"{"litellm_settings":{"prometheus_metrics_config":[{"group":"g","metrics":["litellm_proxy_total_requests_metric"],"include_labels":["requested_model","status_code"]}]}}"#,
    );
    let mut m = Metrics::new(&cfg);
    m.record(&chat_record(200), &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    let litellm: Vec<_> = r
        .values
        .iter()
        .filter(|(k, _)| k.starts_with("litellm_"))
        .collect();
    assert_eq!(
        litellm,
        vec![(
            &"litellm_proxy_total_requests_metric_total;requested_model=gpt-4o;status_code=200;"
                .to_owned(),
            &1
        )]
    );
}

#[test]
fn custom_metadata_and_tag_labels() {
    let cfg = parse(
        r#"{"litellm_settings":{"custom_prometheus_metadata_labels":["metadata.app"],"custom_prometheus_tags":["prod","team-a"]}}"#,
    );
    let mut m = Metrics::new(&cfg);
    let mut rec = chat_record(200);
    rec.metadata = Some(br#"{"app":"billing;v2","tags":["prod"]}"#.to_vec());
    m.record(&rec, &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    let total = r.starting("litellm_proxy_total_requests_metric_total");
    assert!(
        total[0]
            .0
            .ends_with(";metadata_app=billing%3Bv2;tag_prod=true;tag_team_a=false;"),
        "{}",
        total[0].0
    );
}

#[test]
fn exception_classes_read_like_litellm() {
    assert_eq!(exception_class("openai", 429), "Openai.RateLimitError");
    assert_eq!(exception_class("azure", 500), "Azure.InternalServerError");
    assert_eq!(exception_class("openai", 0), "Openai.APIConnectionError");
}

#[test]
fn envoy_own_reply_for_an_unreachable_upstream_is_a_connection_error() {
    let cfg = parse("");
    let mut m = Metrics::new(&cfg);
    let mut rec = chat_record(503);
    rec.local_failure_class = llm_telemetry_core::exchange::local_failure_class(
        "upstream_reset_before_response_started{connection_failure}",
    );
    m.record(&rec, &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    let failed = r.starting("litellm_proxy_failed_requests_metric_total");
    assert!(failed[0]
        .0
        .contains(";exception_status=503;exception_class=Openai.APIConnectionError;"));
    assert_eq!(
        llm_telemetry_core::exchange::local_failure_class("via_upstream"),
        None
    );
    assert_eq!(
        llm_telemetry_core::exchange::local_failure_class("upstream_response_timeout"),
        Some("Timeout")
    );
}

#[test]
fn the_filters_own_counters_are_bounded_too() {
    let cfg = parse(r#"{"telemetry_settings":{"max_series_per_metric":2}}"#);
    let mut m = Metrics::new(&cfg);
    for i in 0..5 {
        let mut rec = chat_record(200);
        rec.route = format!("/x{i}/v1/chat/completions");
        rec.usage_injected = true;
        m.record(&rec, &cfg, 0);
    }
    let mut r = Recorder::default();
    m.flush(&mut r);
    let injected = r.starting("llm_telemetry_stream_usage_injected_total");
    assert_eq!(injected.len(), 3, "{injected:?}");
    assert!(injected.contains(&(
        "llm_telemetry_stream_usage_injected_total;route=__overflow__;".into(),
        3
    )));
}

#[test]
fn a_label_changing_between_requests_makes_a_new_series_and_back() {
    // Interning compares with the previous request's value first: a change must still count.
    let cfg = parse("");
    let mut m = Metrics::new(&cfg);
    for ua in ["a", "b", "b", "a"] {
        let mut rec = chat_record(200);
        rec.caller.user_agent = Some(ua.into());
        m.record(&rec, &cfg, 0);
    }
    m.record(&chat_record(429), &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    let total = r.starting("litellm_proxy_total_requests_metric_total");
    let count = |needle: &str| -> u64 {
        total
            .iter()
            .filter(|(k, _)| k.contains(needle))
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(count(";user_agent=a;"), 2);
    assert_eq!(count(";user_agent=b;"), 2);
    assert_eq!(count(";status_code=429;"), 1);
    assert_eq!(count(";status_code=200;"), 4);
}

#[test]
fn gauges_keep_a_folded_value_as_it_is() {
    // Gauges are bounded by their own count, not by the label values: a value past
    // max_values_per_label still names its litellm_deployment_state.
    let cfg = parse(r#"{"telemetry_settings":{"max_values_per_label":1}}"#);
    let mut m = Metrics::new(&cfg);
    let mut health = HealthModel::new(CooldownSettings::default());
    for host in ["h1:80", "h2:80", "h1:80"] {
        let mut rec = chat_record(200);
        rec.upstream_address = Some(host.into());
        let outcome = m.record(&rec, &cfg, 0).unwrap();
        if let Some(u) = health.apply(&outcome) {
            m.record_health(&u);
        }
    }
    let mut r = Recorder::default();
    m.flush(&mut r);
    let states: Vec<String> = r
        .starting("litellm_deployment_state")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(states.len(), 2, "{states:?}");
    assert!(states
        .iter()
        .any(|k| k.contains(";api_base=http://h1:80/v1;")));
    assert!(states
        .iter()
        .any(|k| k.contains(";api_base=http://h2:80/v1;")));
    let total = r.starting("litellm_proxy_total_requests_metric_total");
    assert!(total.iter().any(|(k, _)| !k.contains("h2")), "{total:?}");
}

/// Requests of `n` different models and keys (a flood of new series).
fn flood(m: &mut Metrics, cfg: &Config, n: usize) {
    for i in 0..n {
        let mut rec = chat_record(200);
        rec.requested_model = Some(format!("model-{i}"));
        rec.caller.api_key = Some(format!("sk-{i}"));
        m.record(&rec, cfg, 0);
    }
}

#[test]
fn new_stats_wait_for_the_budget_and_nothing_is_lost() {
    let cfg = parse("");
    let mut m = Metrics::new(&cfg);
    flood(&mut m, &cfg, 5);
    let wanted = m.pending_definitions();
    let mut whole = Recorder::default();
    let mut unbudgeted = Metrics::new(&cfg);
    flood(&mut unbudgeted, &cfg, 5);
    unbudgeted.flush(&mut whole);
    // The filter's own counters come on top of the series and gauges counted here.
    assert_eq!(wanted, whole.names.len());
    let mut r = Recorder::default();
    let mut flushes = 0;
    loop {
        flushes += 1;
        let report = m.flush_budgeted(&mut r, 100);
        assert!(report.defined <= 100, "{report:?}");
        if report.waiting == 0 {
            break;
        }
        assert!(flushes < 100);
    }
    assert!(
        flushes >= wanted.div_ceil(100),
        "{wanted} definitions took {flushes} flushes"
    );
    // Once everything is defined, every count is there, as an unbudgeted flush would have it.
    m.flush(&mut r);
    for (name, value) in &whole.values {
        assert_eq!(r.values.get(name), Some(value), "{name}");
    }
    let deferred = r.starting("llm_telemetry_stat_definitions_deferred_total")[0].1;
    assert!(
        deferred > 0 && deferred < wanted as u64,
        "each waiting stat once: {deferred}"
    );
    // A histogram is never half defined: every family defined has all its parts.
    let buckets = r.starting("litellm_request_total_latency_metric_bucket;");
    assert_eq!(buckets.len(), 5 * 18);
}

#[test]
fn a_family_that_does_not_fit_waits_whole_and_stops_the_queue() {
    let cfg = parse("");
    let mut m = Metrics::new(&cfg);
    m.record(&chat_record(200), &cfg, 0);
    let mut r = Recorder::default();
    let report = m.flush_budgeted(&mut r, 25);
    assert!(report.defined <= 25 && report.waiting > 0);
    let parts = |prefix: &str| r.starting(prefix).len();
    for h in [
        "litellm_request_total_latency_metric",
        "litellm_llm_api_latency_metric",
    ] {
        let n = parts(&format!("{h}_bucket;"))
            + parts(&format!("{h}_count;"))
            + parts(&format!("{h}_sum"));
        assert!(n == 0 || n == 20, "{h}: {n} parts");
    }
    assert_eq!(llm_telemetry_core::metrics::LARGEST_FAMILY_PARTS, 20);
}

/// Bounds counted elsewhere (another VM already took every slot but one value).
struct Shared {
    values_left: usize,
    series_left: usize,
}

impl llm_telemetry_core::metrics::Admission for Shared {
    fn admit_value(&mut self, _: usize, _: &str, _: usize) -> bool {
        let ok = self.values_left > 0;
        self.values_left = self.values_left.saturating_sub(1);
        ok
    }
    fn admit_series(&mut self, _: u64, _: usize) -> bool {
        let ok = self.series_left > 0;
        self.series_left = self.series_left.saturating_sub(1);
        ok
    }
}

#[test]
fn bounds_counted_elsewhere_fold_values_and_series_here() {
    let cfg = parse("");
    let mut m = Metrics::new(&cfg);
    m.set_admission(Box::new(Shared {
        values_left: 1_000,
        series_left: 1,
    }));
    flood(&mut m, &cfg, 3);
    let mut r = Recorder::default();
    m.flush(&mut r);
    let total = r.starting("litellm_proxy_total_requests_metric_total");
    assert_eq!(
        total.len(),
        2,
        "one admitted series, then the overflow series: {total:?}"
    );
    assert_eq!(
        total.iter().map(|(_, v)| v).sum::<u64>(),
        3,
        "folded, never lost"
    );
    assert_eq!(r.starting("llm_telemetry_series_folded_total")[0].1, 2);

    let mut m = Metrics::new(&cfg);
    m.set_admission(Box::new(Shared {
        values_left: 0,
        series_left: 1_000,
    }));
    m.record(&chat_record(200), &cfg, 0);
    m.record(&chat_record(200), &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    let total = r.starting("litellm_proxy_total_requests_metric_total");
    assert_eq!(total.len(), 1);
    assert!(
        total[0].0.contains(";requested_model=__overflow__;"),
        "{}",
        total[0].0
    );
    assert_eq!(total[0].1, 2);
}

#[test]
fn a_flood_past_the_backlog_folds_until_the_budget_frees_up() {
    // 20 definitions per second: at most 200 waiting, i.e. two new series (111 parts each).
    let cfg = parse(r#"{"telemetry_settings":{"max_new_stats_per_second":20}}"#);
    let mut m = Metrics::new(&cfg);
    flood(&mut m, &cfg, 10);
    let mut r = Recorder::default();
    while m.flush_budgeted(&mut r, 20).waiting > 0 {}
    let total = r.starting("litellm_proxy_total_requests_metric_total");
    let own: Vec<_> = total
        .iter()
        .filter(|(k, _)| !k.contains("__overflow__"))
        .collect();
    assert_eq!(own.len(), 2, "{total:?}");
    assert_eq!(
        total.iter().map(|(_, v)| v).sum::<u64>(),
        10,
        "folded, never lost"
    );
    // Eight requests folded, and the gauges of the new label sets not written meanwhile.
    assert!(r.starting("llm_telemetry_series_folded_total")[0].1 >= 8);
    // The queue drained: a new label set gets its own series again.
    let mut rec = chat_record(200);
    rec.requested_model = Some("after-the-flood".into());
    m.record(&rec, &cfg, 0);
    while m.flush_budgeted(&mut r, 20).waiting > 0 {}
    assert_eq!(
        r.starting("litellm_proxy_total_requests_metric_total")
            .iter()
            .filter(|(k, _)| k.contains("requested_model=after-the-flood;"))
            .count(),
        1
    );
}

#[test]
fn limit_gauges_are_the_configured_limits_and_streams_have_no_overhead() {
    let cfg = parse(
        r#"{"model_list": [{"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o", "rpm": 1000, "tpm": 90000}}]}"#,
    );
    let mut m = Metrics::new(&cfg);
    let mut rec = chat_record(200);
    rec.rate_limits.limit_requests = Some(5000);
    rec.rate_limits.limit_tokens = Some(1);
    rec.stream = true;
    m.record(&rec, &cfg, 0);
    let mut other = chat_record(200);
    other.requested_model = Some("unlisted".into());
    other.rate_limits.limit_requests = Some(5000);
    m.record(&other, &cfg, 0);
    let mut r = Recorder::default();
    m.flush(&mut r);
    // LiteLLM 1.106.2 showed 1000 for `rpm: 1000` whose upstream sent a limit of 5000; nothing
    // for a deployment with no limit configured.
    let rpm = r.starting("litellm_deployment_rpm_limit;");
    assert_eq!(rpm.len(), 1, "{rpm:?}");
    assert_eq!(rpm[0].1, 1000);
    assert_eq!(r.starting("litellm_deployment_tpm_limit;")[0].1, 90000);
    // Only the non-streamed request has an overhead.
    let overhead = r.starting("litellm_overhead_latency_metric_count");
    assert_eq!(overhead.len(), 1);
    assert!(
        overhead[0].0.contains(";model_group=other;"),
        "{overhead:?}"
    );
}

/// One resolution serves every reader: the metrics cut a long value to
/// `max_label_value_bytes`, the resolution (what alerts and logs read) keeps it whole, and
/// recording through it gives the same stats as `record`.
#[test]
fn one_resolution_is_cut_for_the_metrics_only() {
    use llm_telemetry_core::catalogue::Label;
    let config = parse(r#"{"telemetry_settings": {"max_label_value_bytes": 8}}"#);
    let mut rec = chat_record(200);
    rec.caller.user_agent = Some("agent-with-a-long-name".into());
    let mut direct = Metrics::new(&config);
    direct.record(&rec, &config, rec.end_ns);
    let mut shared = Metrics::new(&config);
    let resolution = shared.resolve(&rec, &config);
    assert_eq!(
        resolution.labels.get(Label::UserAgent),
        "agent-with-a-long-name"
    );
    shared.record_resolved(&rec, &resolution, &config, rec.end_ns);
    let (mut a, mut b) = (Recorder::default(), Recorder::default());
    direct.flush(&mut a);
    shared.flush(&mut b);
    assert_eq!(a.values, b.values);
    let total = b.starting("litellm_proxy_total_requests_metric_total;");
    assert_eq!(total.len(), 1);
    assert!(
        total[0].0.contains(";user_agent=agent-wi;"),
        "{}",
        total[0].0
    );
}
