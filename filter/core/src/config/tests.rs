//! The configuration parser's tests.
// Test code only (its parent includes it under `#[cfg(test)]`): it may unwrap and panic.
#![cfg(test)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn load(json: &str) -> Loaded {
    parse(json.as_bytes(), &no_env).unwrap()
}

fn error(json: &str) -> String {
    parse(json.as_bytes(), &no_env).unwrap_err().to_string()
}

#[test]
fn empty_and_null_give_defaults() {
    for text in ["", "  \n", "null", "{}"] {
        let l = load(text);
        assert!(l.ignored.is_empty());
        let c = l.config;
        assert!(c.deployments.is_empty());
        assert_eq!(c.master_key_sha256, None);
        assert!(!c.end_user_tracking && !c.emit_stream_label);
        assert!(c.inject_stream_usage);
        assert!(c.metric_filter.is_none());
        assert!(c.metric_enabled("litellm_requests_metric"));
        assert_eq!(c.identity_headers, IdentityHeaders::default());
        assert_eq!(c.limits, Limits::default());
        assert!(c.alerting_general_settings.is_empty());
    }
    let d = Limits::default();
    assert_eq!(
        (d.max_capture_bytes, d.max_series_per_metric),
        (65_536, 2_000)
    );
    assert_eq!(
        (
            d.max_values_per_label,
            d.max_label_value_bytes,
            d.metrics_flush_interval_ms,
            d.max_tracked_keys
        ),
        (500, 256, 1_000, 1_024)
    );
}

const FULL: &str = r#"{
  "environment_variables": {"AZURE_BASE": "https://example-eu.openai.azure.com"},
  "model_list": [
    {"model_name": "gpt-4o",
     "litellm_params": {"model": "openai/gpt-4o", "api_base": "http://127.0.0.1:18080/v1",
                        "api_key": "os.environ/OPENAI_API_KEY", "rpm": 600, "tpm": 90000},
     "model_info": {"id": "gpt-4o-fake"}},
    {"model_name": "gpt-4o",
     "litellm_params": {"model": "azure/gpt-4o-eu", "api_base": "os.environ/AZURE_BASE",
                        "api_version": "2024-10-21", "region_name": "eu"},
     "model_info": {"id": 7, "tpm": 1000}},
    {"model_name": "claude-*",
     "litellm_params": {"model": "claude-3-5-sonnet", "custom_llm_provider": "anthropic",
                        "vertex_location": "us-east5"}},
    {"model_name": "*", "litellm_params": {"model": "openai/*"}}
  ],
  "litellm_settings": {
    "callbacks": ["prometheus"],
    "success_callback": ["prometheus"],
    "custom_prometheus_metadata_labels": ["metadata.app.env", "team_tier"],
    "custom_prometheus_tags": ["prod", "User-Agent: curl/*"],
    "prometheus_emit_stream_label": true,
    "enable_end_user_cost_tracking_prometheus_only": true,
    "redact_messages_in_exceptions": true,
    "prometheus_metrics_config": [
      {"group": "tokens", "metrics": ["litellm_input_tokens_metric", "litellm_spend_metric"],
       "include_labels": ["model", "hashed_api_key", "metadata_app_env", "tag_prod"]},
      {"group": "all", "metrics": ["litellm_proxy_total_requests_metric",
                                   "litellm_remaining_requests_metric"]}
    ]
  },
  "general_settings": {
    "master_key": "os.environ/LITELLM_MASTER_KEY",
    "database_url": "postgres://x",
    "alerting": ["slack"],
    "alerting_threshold": 300,
    "alert_to_webhook_url": {"llm_exceptions": "os.environ/SLACK_URL"}
  },
  "router_settings": {"routing_strategy": "simple-shuffle"},
  "guardrails": [],
  "telemetry_settings": {
    "keys": [
      {"api_key": "sk-demo", "key_alias": "demo-key", "team_id": "team-a",
       "team_alias": "Team A", "user_id": "alice", "user_email": "alice@example.com"},
      {"hashed_api_key": "88DC28D0F030C55ED4AB77ED8FAF098196CB1C05DF778539800C9F1243FE6B4B",
       "org_id": "org-1", "org_alias": "Org"}
    ],
    "identity_headers": {"team": "X-Team-ID", "end_user": "x-end-user", "org_alias": null},
    "inject_stream_usage": false,
    "max_capture_bytes": 2048,
    "max_series_per_metric": 10,
    "max_values_per_label": 5,
    "max_label_value_bytes": 64,
    "metrics_flush_interval_ms": 250,
    "max_tracked_keys": 8,
    "max_new_stats_per_second": 50
  }
}"#;

fn full_env(name: &str) -> Option<String> {
    match name {
        "LITELLM_MASTER_KEY" => Some("sk-master-secret".to_owned()),
        _ => None,
    }
}

#[test]
fn full_litellm_config() {
    let Loaded {
        config: c, ignored, ..
    } = parse(FULL.as_bytes(), &full_env).unwrap();
    assert_eq!(c.deployments.len(), 4);
    assert_eq!(
        c.deployments[0],
        Deployment {
            model_name: "gpt-4o".into(),
            litellm_model: "openai/gpt-4o".into(),
            model: "gpt-4o".into(),
            provider: "openai".into(),
            api_base: Some("http://127.0.0.1:18080/v1".into()),
            model_id: Some("gpt-4o-fake".into()),
            rpm: Some(600),
            tpm: Some(90000),
            region: None,
            prices: DeploymentPrices::default(),
            rates: crate::spend::prices::lookup("gpt-4o", Some("openai")).map(|m| m.rates),
        }
    );
    let az = &c.deployments[1];
    assert_eq!(
        (az.provider.as_str(), az.model.as_str()),
        ("azure", "gpt-4o-eu")
    );
    assert_eq!(
        az.api_base.as_deref(),
        Some("https://example-eu.openai.azure.com")
    );
    assert_eq!(az.model_id.as_deref(), Some("7"));
    assert_eq!((az.rpm, az.tpm), (None, Some(1000)));
    assert_eq!(az.region.as_deref(), Some("eu"));
    let cl = &c.deployments[2];
    assert_eq!(
        (cl.provider.as_str(), cl.model.as_str()),
        ("anthropic", "claude-3-5-sonnet")
    );
    assert_eq!(cl.region.as_deref(), Some("us-east5"));
    assert_eq!(c.deployments[3].provider, "openai");
    assert_eq!(c.deployments[3].model, "*");

    assert_eq!(
        c.master_key_sha256.as_deref(),
        Some(sha256_hex("sk-master-secret").as_str())
    );
    assert!(c.end_user_tracking && c.emit_stream_label && !c.inject_stream_usage);
    assert_eq!(
        c.metadata_labels,
        vec![
            MetadataLabel {
                label: "metadata_app_env".into(),
                path: vec!["app".into(), "env".into()]
            },
            MetadataLabel {
                label: "team_tier".into(),
                path: vec!["team_tier".into()]
            },
        ]
    );
    assert_eq!(
        c.tag_labels,
        vec![
            TagLabel {
                label: "tag_prod".into(),
                pattern: "prod".into()
            },
            TagLabel {
                label: "tag_User_Agent_curl".into(),
                pattern: "User-Agent: curl/*".into()
            },
        ]
    );

    let f = c.metric_filter.as_ref().unwrap();
    assert!(f.enabled("litellm_input_tokens_metric"));
    assert!(f.enabled("litellm_spend_metric"));
    assert!(f.enabled("litellm_proxy_total_requests_metric"));
    assert!(f.enabled("litellm_remaining_requests_metric"));
    // The filter emits the release's name; naming it enables exactly that family.
    assert!(!f.enabled("litellm_output_tokens_metric"));
    assert!(!c.metric_enabled("litellm_requests_metric"));
    assert_eq!(
        f.include_labels("litellm_input_tokens_metric").unwrap(),
        ["model", "hashed_api_key", "metadata_app_env", "tag_prod"]
    );
    assert_eq!(
        f.include_labels("litellm_proxy_total_requests_metric"),
        None
    );

    let demo = &c.keys[&sha256_hex("sk-demo")];
    assert_eq!(demo.api_key_alias.as_deref(), Some("demo-key"));
    assert_eq!(demo.team.as_deref(), Some("team-a"));
    assert_eq!(demo.team_alias.as_deref(), Some("Team A"));
    assert_eq!(demo.user.as_deref(), Some("alice"));
    assert_eq!(demo.user_email.as_deref(), Some("alice@example.com"));
    let hashed = &c.keys["88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"];
    assert_eq!(hashed.org_id.as_deref(), Some("org-1"));
    assert_eq!(hashed.api_key_alias, None);

    assert_eq!(c.identity_headers.team.as_deref(), Some("x-team-id"));
    assert_eq!(c.identity_headers.end_user.as_deref(), Some("x-end-user"));
    assert_eq!(c.identity_headers.org_alias, None);
    assert_eq!(
        c.limits,
        Limits {
            max_capture_bytes: 2048,
            max_series_per_metric: 10,
            max_values_per_label: 5,
            max_label_value_bytes: 64,
            metrics_flush_interval_ms: 250,
            max_tracked_keys: 8,
            max_new_stats_per_second: 50,
        }
    );
    let a = &c.alerting_general_settings;
    let keys: Vec<&str> = a.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "alert_to_webhook_url",
            "alerting",
            "alerting_threshold",
            "redact_messages_in_exceptions"
        ]
    );
    assert_eq!(
        a["alert_to_webhook_url"]["llm_exceptions"],
        "os.environ/SLACK_URL"
    );
    assert_eq!(a["alerting_threshold"], 300);

    assert_eq!(
        ignored,
        [
            "litellm_settings.prometheus_metrics_config[0].metrics[1] (litellm_spend_metric)",
            "general_settings.database_url",
            "guardrails",
            "router_settings.routing_strategy",
        ]
    );
}

#[test]
fn find_deployment_prefers_exact_then_host_then_specific_wildcards() {
    let c = parse(FULL.as_bytes(), &full_env).unwrap().config;
    let id = |m: &str, h: Option<&str>| c.find_deployment(m, h).map(|d| d.litellm_model.as_str());
    assert_eq!(id("gpt-4o", None), Some("openai/gpt-4o"));
    assert_eq!(id("gpt-4o", Some("unknown.example")), Some("openai/gpt-4o"));
    assert_eq!(
        id("gpt-4o", Some("example-eu.openai.azure.com")),
        Some("azure/gpt-4o-eu")
    );
    assert_eq!(
        id("gpt-4o", Some("EXAMPLE-EU.openai.azure.com:443")),
        Some("azure/gpt-4o-eu")
    );
    assert_eq!(id("gpt-4o", Some("127.0.0.1:18080")), Some("openai/gpt-4o"));
    assert_eq!(id("claude-3-opus", None), Some("claude-3-5-sonnet"));
    assert_eq!(id("mistral-large", None), Some("openai/*"));

    let c = load(
        r#"{"model_list": [
          {"model_name": "openai/*", "litellm_params": {"model": "openai/*"}},
          {"model_name": "gpt-4*", "litellm_params": {"model": "openai/gpt-4-family"}},
          {"model_name": "gpt-4o*", "litellm_params": {"model": "openai/gpt-4o-family", "api_base": "http://a:1"}},
          {"model_name": "gpt-4o*", "litellm_params": {"model": "openai/gpt-4o-b", "api_base": "http://[::1]:2/v1"}}
        ]}"#,
    )
    .config;
    let id = |m: &str, h: Option<&str>| c.find_deployment(m, h).map(|d| d.litellm_model.as_str());
    assert_eq!(id("openai/gpt-4o", None), Some("openai/*"));
    assert_eq!(id("gpt-4-turbo", None), Some("openai/gpt-4-family"));
    assert_eq!(id("gpt-4o-mini", None), Some("openai/gpt-4o-family"));
    assert_eq!(id("gpt-4o-mini", Some("[::1]:2")), Some("openai/gpt-4o-b"));
    assert_eq!(id("gpt-4o-mini", Some("a:9")), Some("openai/gpt-4o-family"));
    assert_eq!(id("claude", None), None);
    assert_eq!(Config::default().find_deployment("gpt-4o", None), None);
}

#[test]
fn the_upstream_address_is_needed_unless_one_deployment_with_an_api_base_serves_the_model() {
    let c = load(
        r#"{"model_list": [
          {"model_name": "gpt-4*", "litellm_params": {"model": "openai/gpt-4-family"}},
          {"model_name": "gpt-4o*", "litellm_params": {"model": "openai/gpt-4o-a", "api_base": "http://a:1"}},
          {"model_name": "gpt-4o*", "litellm_params": {"model": "openai/gpt-4o-b", "api_base": "http://b:2"}},
          {"model_name": "mini", "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": "http://a:1"}},
          {"model_name": "nano*", "litellm_params": {"model": "openai/gpt-4.1-nano", "api_base": "http://a:1"}}
        ]}"#,
    )
    .config;
    let needs = |m: Option<&str>| c.needs_upstream_address(m);
    // One deployment, its api_base named: the labels are the configuration's.
    assert!(!needs(Some("mini")));
    assert!(!needs(Some("nano-2025")));
    // No api_base: the upstream is the api_base.
    assert!(needs(Some("gpt-4-turbo")));
    // Two deployments for the name: the upstream picks.
    assert!(needs(Some("gpt-4o-mini")));
    // No deployment, or no model: the upstream names the api_base and the provider.
    assert!(needs(Some("claude")));
    assert!(needs(None));
    assert!(Config::default().needs_upstream_address(Some("mini")));
}

#[test]
fn glob_and_tag_labels() {
    assert!(glob_match("*", ""));
    assert!(glob_match("a*b*c", "aXXbYYc"));
    assert!(!glob_match("a*b", "aXXbYYc"));
    assert!(glob_match("User-Agent: curl/*", "User-Agent: curl/7.68.0"));
    let t = TagLabel {
        label: tag_label_name("User-Agent: curl/*"),
        pattern: "User-Agent: curl/*".into(),
    };
    assert_eq!(t.label, "tag_User_Agent_curl");
    assert!(t.matches("User-Agent: curl/8.5.0"));
    assert!(!t.matches("User-Agent: python-requests/2.28.1"));
    let exact = TagLabel {
        label: tag_label_name("prod"),
        pattern: "prod".into(),
    };
    assert!(exact.matches("prod") && !exact.matches("production"));
    assert_eq!(tag_label_name("prod"), "tag_prod");
    assert_eq!(tag_label_name("Environment: prod"), "tag_Environment_prod");
    assert_eq!(
        tag_label_name("Service: api-gateway-v2"),
        "tag_Service_api_gateway_v2"
    );
    assert_eq!(tag_label_name("team__a--"), "tag_team_a");
    assert_eq!(tag_label_name("été"), "tag_t");
}

#[test]
fn env_references() {
    let env = |n: &str| (n == "HOST").then(|| "http://h:1".to_owned());
    let json = r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m", "api_base": "os.environ/HOST"}}]}"#;
    let c = parse(json.as_bytes(), &env).unwrap().config;
    assert_eq!(c.deployments[0].api_base.as_deref(), Some("http://h:1"));
    // The document's environment_variables win over the process environment.
    let json = r#"{"environment_variables": {"HOST": "http://doc:2", "N": 5, "B": true, "Z": null},
                   "model_list": [{"model_name": "m", "litellm_params": {"model": "m", "api_base": "os.environ/HOST"}}]}"#;
    let c = parse(json.as_bytes(), &env).unwrap().config;
    assert_eq!(c.deployments[0].api_base.as_deref(), Some("http://doc:2"));
    assert_eq!(c.env_var("N", &env).as_deref(), Some("5"));
    assert_eq!(c.env_var("B", &env).as_deref(), Some("True"));
    assert_eq!(c.env_var("Z", &env), None);
    assert_eq!(
        c.resolve_env_ref("os.environ/HOST", &env).as_deref(),
        Some("http://doc:2")
    );
    assert_eq!(
        c.resolve_env_ref("https://x", &env).as_deref(),
        Some("https://x")
    );
    assert_eq!(c.resolve_env_ref("os.environ/NONE", &env), None);
    assert_eq!(
        Config::default().env_var("HOST", &env).as_deref(),
        Some("http://h:1")
    );
    // An unused api_key reference is not resolved.
    let json = r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m", "api_key": "os.environ/NOPE"}}]}"#;
    assert!(parse(json.as_bytes(), &env).is_ok());
}

#[test]
fn rejections_name_the_path() {
    let cases: &[(&str, &str)] = &[
        ("[1]", "config: expected an object, got array"),
        ("{", "config: invalid JSON: EOF while parsing an object at line 1 column 1"),
        (r#"{"model_list": {}}"#, "model_list: expected a list, got object"),
        (r#"{"model_list": [3]}"#, "model_list[0]: expected an object, got number 3"),
        (r#"{"model_list": [{"litellm_params": {"model": "m"}}]}"#, "model_list[0].model_name: required key is missing"),
        (r#"{"model_list": [{"model_name": 1, "litellm_params": {}}]}"#, "model_list[0].model_name: expected a string, got number 1"),
        (r#"{"model_list": [{"model_name": "m"}]}"#, "model_list[0].litellm_params: required key is missing"),
        (r#"{"model_list": [{"model_name": "m", "litellm_params": []}]}"#, "model_list[0].litellm_params: expected an object, got array"),
        (r#"{"model_list": [{"model_name": "m", "litellm_params": {}}]}"#, "model_list[0].litellm_params.model: required key is missing"),
        (r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": ""}}]}"#, "model_list[0].litellm_params.model: must not be empty"),
        (r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m", "api_base": false}}]}"#, "model_list[0].litellm_params.api_base: expected a string, got boolean false"),
        (r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m", "rpm": -1}}]}"#, "model_list[0].litellm_params.rpm: expected a non-negative integer, got number -1"),
        (r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m"}, "model_info": {"tpm": "x"}}]}"#, "model_list[0].model_info.tpm: expected a non-negative integer, got string"),
        (r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m"}, "model_info": {"id": []}}]}"#, "model_list[0].model_info.id: expected a string, got array"),
        (r#"{"model_list": [{"model_name": "m", "litellm_params": {"model": "m"}, "model_info": 1}]}"#, "model_list[0].model_info: expected an object, got number 1"),
        (r#"{"environment_variables": {"A": [1]}}"#, "environment_variables.A: expected a string, got array"),
        (r#"{"environment_variables": 2}"#, "environment_variables: expected an object, got number 2"),
        (r#"{"litellm_settings": "x"}"#, "litellm_settings: expected an object, got string"),
        (r#"{"litellm_settings": {"custom_prometheus_tags": ["prod", 3]}}"#, "litellm_settings.custom_prometheus_tags[1]: expected a string, got number 3"),
        (r#"{"litellm_settings": {"custom_prometheus_tags": "prod"}}"#, "litellm_settings.custom_prometheus_tags: expected a list, got string"),
        (r#"{"litellm_settings": {"custom_prometheus_tags": [""]}}"#, "litellm_settings.custom_prometheus_tags[0]: must not be empty"),
        (r#"{"litellm_settings": {"custom_prometheus_tags": ["a-b", "a_b"]}}"#, "litellm_settings.custom_prometheus_tags[1]: label \"tag_a_b\" is already defined by litellm_settings.custom_prometheus_tags[0]"),
        (r#"{"litellm_settings": {"custom_prometheus_metadata_labels": [true]}}"#, "litellm_settings.custom_prometheus_metadata_labels[0]: expected a string, got boolean true"),
        (r#"{"litellm_settings": {"custom_prometheus_metadata_labels": ["metadata.a..b"]}}"#, "litellm_settings.custom_prometheus_metadata_labels[0]: empty key in the metadata path"),
        (r#"{"litellm_settings": {"custom_prometheus_metadata_labels": ["metadata.app-name"]}}"#, "litellm_settings.custom_prometheus_metadata_labels[0]: \"metadata_app-name\" is not a valid Prometheus label name"),
        (r#"{"litellm_settings": {"custom_prometheus_metadata_labels": ["user"]}}"#, "litellm_settings.custom_prometheus_metadata_labels[0]: label \"user\" is already a LiteLLM label"),
        (r#"{"litellm_settings": {"prometheus_emit_stream_label": "yes"}}"#, "litellm_settings.prometheus_emit_stream_label: expected a boolean, got string"),
        (r#"{"litellm_settings": {"enable_end_user_cost_tracking_prometheus_only": 1}}"#, "litellm_settings.enable_end_user_cost_tracking_prometheus_only: expected a boolean, got number 1"),
        (r#"{"litellm_settings": {"prometheus_metrics_config": {}}}"#, "litellm_settings.prometheus_metrics_config: expected a list, got object"),
        (r#"{"litellm_settings": {"prometheus_metrics_config": [{"metrics": []}]}}"#, "litellm_settings.prometheus_metrics_config[0].group: required key is missing"),
        (r#"{"litellm_settings": {"prometheus_metrics_config": [{"group": "g"}]}}"#, "litellm_settings.prometheus_metrics_config[0].metrics: required key is missing"),
        (r#"{"litellm_settings": {"prometheus_metrics_config": [{"group": "g", "metrics": null}]}}"#, "litellm_settings.prometheus_metrics_config[0].metrics: expected a list, got null"),
        (r#"{"litellm_settings": {"prometheus_metrics_config": [{"group": "g", "metrics": ["litellm_requests_metric", "litellm_bogus"]}]}}"#, "litellm_settings.prometheus_metrics_config[0].metrics[1]: unknown LiteLLM metric"),
        (r#"{"litellm_settings": {"prometheus_metrics_config": [{"group": "g", "metrics": ["litellm_deployment_state"], "include_labels": ["api_base", "team"]}]}}"#, "litellm_settings.prometheus_metrics_config[0].include_labels[1]: \"team\" is not a label of litellm_deployment_state"),
        (r#"{"litellm_settings": {"prometheus_metrics_config": [{"group": "g", "metrics": ["litellm_requests_metric"], "include_labels": "model"}]}}"#, "litellm_settings.prometheus_metrics_config[0].include_labels: expected a list, got string"),
        (r#"{"general_settings": {"master_key": 12345}}"#, "general_settings.master_key: expected a string, got number"),
        (r#"{"telemetry_settings": []}"#, "telemetry_settings: expected an object, got array"),
        (r#"{"telemetry_settings": {"max_capture": 1}}"#, "telemetry_settings.max_capture: unknown key; expected one of keys, identity_headers, inject_stream_usage, on_invalid_config, max_capture_bytes, max_series_per_metric, max_values_per_label, max_label_value_bytes, metrics_flush_interval_ms, max_tracked_keys, max_new_stats_per_second, metric_names, logging, teams, users, end_users, enforce_budgets, max_budget_holders"),
        (r#"{"telemetry_settings": {"max_capture_bytes": 0}}"#, "telemetry_settings.max_capture_bytes: expected a positive integer, got number 0"),
        (r#"{"telemetry_settings": {"max_series_per_metric": -3}}"#, "telemetry_settings.max_series_per_metric: expected a positive integer, got number -3"),
        (r#"{"telemetry_settings": {"metrics_flush_interval_ms": 1.5}}"#, "telemetry_settings.metrics_flush_interval_ms: expected a positive integer, got number 1.5"),
        (r#"{"telemetry_settings": {"max_capture_bytes": "1k"}}"#, "telemetry_settings.max_capture_bytes: expected a positive integer, got string"),
        (r#"{"telemetry_settings": {"max_values_per_label": 0}}"#, "telemetry_settings.max_values_per_label: expected a positive integer, got number 0"),
        (r#"{"telemetry_settings": {"max_label_value_bytes": null}}"#, "telemetry_settings.max_label_value_bytes: expected a positive integer, got null"),
        (r#"{"telemetry_settings": {"max_tracked_keys": 0}}"#, "telemetry_settings.max_tracked_keys: expected a positive integer, got number 0"),
        (r#"{"telemetry_settings": {"max_new_stats_per_second": 10}}"#, "telemetry_settings.max_new_stats_per_second: must be at least 20: the 20 parts of a histogram are defined together"),
        (r#"{"telemetry_settings": {"inject_stream_usage": "no"}}"#, "telemetry_settings.inject_stream_usage: expected a boolean, got string"),
        (r#"{"telemetry_settings": {"metric_names": "prometheus"}}"#, "telemetry_settings.metric_names: expected litellm, gen_ai (or otel) or both, got \"prometheus\""),
        (r#"{"telemetry_settings": {"identity_headers": {"team": 1}}}"#, "telemetry_settings.identity_headers.team: expected a string, got number 1"),
        (r#"{"telemetry_settings": {"identity_headers": {"group": "x-group"}}}"#, "telemetry_settings.identity_headers.group: unknown key; expected one of team, team_alias, user, user_email, api_key_alias, end_user, org_id, org_alias"),
        (r#"{"telemetry_settings": {"identity_headers": {"user": "x user"}}}"#, "telemetry_settings.identity_headers.user: \"x user\" is not a valid HTTP header name"),
        (r#"{"telemetry_settings": {"keys": {}}}"#, "telemetry_settings.keys: expected a list, got object"),
        (r#"{"telemetry_settings": {"keys": ["sk-raw-in-a-list"]}}"#, "telemetry_settings.keys[0]: expected an object, got string"),
        (r#"{"telemetry_settings": {"keys": [{"key_alias": "a"}]}}"#, "telemetry_settings.keys[0]: expected exactly one of api_key, hashed_api_key"),
        (r#"{"telemetry_settings": {"keys": [{"api_key": "sk-a", "hashed_api_key": "00"}]}}"#, "telemetry_settings.keys[0]: expected exactly one of api_key, hashed_api_key"),
        (r#"{"telemetry_settings": {"keys": [{"hashed_api_key": "00"}]}}"#, "telemetry_settings.keys[0].hashed_api_key: expected 64 hexadecimal characters (a SHA-256)"),
        (r#"{"telemetry_settings": {"on_invalid_config": "refuze"}}"#, "telemetry_settings.on_invalid_config: unknown value \"refuze\"; expected one of pass_through, refuse"),
        (r#"{"telemetry_settings": {"on_invalid_config": false}}"#, "telemetry_settings.on_invalid_config: expected a string, got boolean false"),
        (r#"{"telemetry_settings": {"keys": [{"api_key": "sk-a", "team": "t"}]}}"#, "telemetry_settings.keys[0].team: unknown key; expected one of api_key, hashed_api_key, key_alias, team_id, team_alias, user_id, user_email, org_id, org_alias, max_budget, soft_budget, budget_duration, budget_reset_at"),
        (r#"{"telemetry_settings": {"keys": [{"api_key": "sk-a", "max_budget": "lots"}]}}"#, "telemetry_settings.keys[0].max_budget: expected a number, got a string that is not one"),
        (r#"{"telemetry_settings": {"keys": [{"api_key": "sk-a", "max_budget": 1, "budget_duration": "1fortnight"}]}}"#, "telemetry_settings.keys[0].budget_duration: invalid budget_duration \"1fortnight\"; use a format like \"1h\", \"24h\", \"7d\", \"30d\" or \"1mo\""),
        (r#"{"telemetry_settings": {"keys": [{"api_key": 42}]}}"#, "telemetry_settings.keys[0].api_key: expected a string, got number"),
        (r#"{"telemetry_settings": {"keys": [{"api_key": "sk-a", "user_id": 7}]}}"#, "telemetry_settings.keys[0].user_id: expected a string, got number 7"),
        (r#"{"telemetry_settings": {"keys": [{"api_key": "sk-a"}, {"hashed_api_key": "e1a8dbe5a4ecb1bb8f0e6d3a8e1fdb6c2c4a8c5b0d3f7e9a1b2c3d4e5f6a7b8c"}, {"api_key": "sk-a"}]}}"#, "telemetry_settings.keys[2]: same key as telemetry_settings.keys[0]"),
    ];
    for (json, want) in cases {
        assert_eq!(&error(json), want, "{json}");
    }
}

/// LiteLLM starts with references to variables that are not set (its `get_secret` returns
/// None): so does the filter, saying what each one means.
#[test]
fn unset_variables_are_warnings_naming_the_variable() {
    let l = load(
        r#"{"model_list": [
             {"model_name": "a", "litellm_params": {"model": "azure/a", "api_base": "os.environ/AZURE_API_BASE",
                                                    "region_name": "os.environ/AZURE_REGION"}},
             {"model_name": "b", "litellm_params": {"model": "os.environ/B_MODEL"}},
             {"model_name": "c", "litellm_params": {"model": "openai/c", "api_base": "os.environ/"}}],
           "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
           "telemetry_settings": {"keys": [{"api_key": "os.environ/SVC_KEY", "key_alias": "svc"},
                                           {"api_key": "sk-x", "team_id": "os.environ/TEAM"}]}}"#,
    );
    assert_eq!(
        l.warnings,
        [
            "model_list[0].litellm_params.api_base: environment variable AZURE_API_BASE is not set: api_base reads None",
            "model_list[0].litellm_params.region_name: environment variable AZURE_REGION is not set: read as unset",
            "model_list[1].litellm_params.model: environment variable B_MODEL is not set: the deployment is left out",
            "model_list[2].litellm_params.api_base: os.environ/ names no variable: api_base reads None",
            "general_settings.master_key: environment variable LITELLM_MASTER_KEY is not set: no key is treated as the master key",
            "telemetry_settings.keys[0].api_key: environment variable SVC_KEY is not set: the entry is left out",
            "telemetry_settings.keys[1].team_id: environment variable TEAM is not set: read as unset",
        ]
    );
    let c = &l.config;
    let names: Vec<&str> = c
        .deployments
        .iter()
        .map(|d| d.model_name.as_str())
        .collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(c.deployments[0].api_base.as_deref(), Some("None"));
    assert_eq!(c.deployments[0].region, None);
    assert_eq!(c.master_key_sha256, None);
    assert_eq!(c.keys.len(), 1);
    assert_eq!(c.keys[&sha256_hex("sk-x")].team, None);
    // An empty master key is no master key, as LiteLLM reads it.
    let l = load(r#"{"general_settings": {"master_key": ""}}"#);
    assert_eq!(l.config.master_key_sha256, None);
    assert_eq!(
        l.warnings,
        ["general_settings.master_key: empty: no key is treated as the master key"]
    );
}

#[test]
fn invalid_config_policy_is_read_even_from_an_invalid_config() {
    use InvalidConfigPolicy::{PassThrough, Refuse};
    let cases: &[(&str, InvalidConfigPolicy)] = &[
        ("", PassThrough),
        ("{not json", PassThrough),
        (
            r#"{"telemetry_settings": {"on_invalid_config": "refuse"}}"#,
            Refuse,
        ),
        (
            r#"{"telemetry_settings": {"on_invalid_config": "refuse", "max_capture_bytes": 0}}"#,
            Refuse,
        ),
        (
            r#"{"telemetry_settings": {"on_invalid_config": "pass_through"}}"#,
            PassThrough,
        ),
        (
            r#"{"telemetry_settings": {"on_invalid_config": "refuze"}}"#,
            PassThrough,
        ),
        (r#"{"telemetry_settings": []}"#, PassThrough),
    ];
    for (json, want) in cases {
        assert_eq!(InvalidConfigPolicy::of(json.as_bytes()), *want, "{json}");
    }
    assert!(parse(
        br#"{"telemetry_settings": {"on_invalid_config": "refuse"}}"#,
        &no_env
    )
    .is_ok());
}

#[test]
fn include_labels_accept_custom_and_stream_labels() {
    let c = load(
        r#"{"litellm_settings": {
            "custom_prometheus_metadata_labels": ["metadata.app"],
            "custom_prometheus_tags": ["prod"],
            "prometheus_metrics_config": [
              {"group": "a", "metrics": ["litellm_proxy_total_requests_metric"],
               "include_labels": ["stream", "metadata_app", "tag_prod", "status_code"]},
              {"group": "b", "metrics": ["litellm_remaining_tokens"], "include_labels": ["api_base"]},
              {"group": "c", "metrics": ["litellm_requests_metric"], "include_labels": []}
            ]}}"#,
    )
    .config;
    let f = c.metric_filter.unwrap();
    assert_eq!(
        f.include_labels("litellm_proxy_total_requests_metric")
            .unwrap(),
        ["stream", "metadata_app", "tag_prod", "status_code"]
    );
    assert_eq!(
        f.include_labels("litellm_remaining_tokens").unwrap(),
        ["api_base"]
    );
    assert_eq!(f.include_labels("litellm_requests_metric"), None);
    assert!(f.enabled("litellm_requests_metric"));
    // "stream" is only a label of the total-requests counter.
    let e = error(
        r#"{"litellm_settings": {"prometheus_metrics_config": [
            {"group": "a", "metrics": ["litellm_requests_metric"], "include_labels": ["stream"]}]}}"#,
    );
    assert_eq!(e, "litellm_settings.prometheus_metrics_config[0].include_labels[0]: \"stream\" is not a label of litellm_requests_metric");
    // An empty list means no filtering, as in LiteLLM.
    assert!(
        load(r#"{"litellm_settings": {"prometheus_metrics_config": []}}"#)
            .config
            .metric_filter
            .is_none()
    );
}

#[test]
fn ignored_keys_are_listed() {
    let l = load(
        r#"{"include": ["other.yaml"], "mcp_servers": {}, "router_settings": {"num_retries": 2, "timeout": 30},
            "litellm_settings": {"drop_params": true, "turn_off_message_logging": true,
               "prometheus_metrics_config": [{"group": "g", "metrics": ["litellm_total_users"], "extra": 1}]},
            "general_settings": {"store_model_in_db": true, "alerting_args": {"daily_report_frequency": 60}}}"#,
    );
    assert_eq!(
        l.ignored,
        [
            "litellm_settings.prometheus_metrics_config[0].metrics[0] (litellm_total_users)",
            "litellm_settings.prometheus_metrics_config[0].extra",
            "litellm_settings.drop_params",
            "general_settings.store_model_in_db",
            "include",
            "mcp_servers",
            "router_settings.num_retries",
            "router_settings.timeout",
        ]
    );
    let a = &l.config.alerting_general_settings;
    assert_eq!(a["turn_off_message_logging"], true);
    assert_eq!(a["alerting_args"]["daily_report_frequency"], 60);
}

/// `examples/config.json` is the demo's plugin config (converted from
/// `examples/litellm-config.yaml`): the filter must load it.
#[test]
fn shipped_example_config_loads() {
    let text = include_str!("../../../../examples/config.json");
    let Loaded {
        config: c, ignored, ..
    } = parse(text.as_bytes(), &no_env).unwrap();
    let d = c
        .find_deployment("gpt-4o", Some("127.0.0.1:18080"))
        .unwrap();
    assert_eq!(d.litellm_model, "openai/gpt-4o");
    assert_eq!(d.api_base.as_deref(), Some("http://127.0.0.1:18080/v1"));
    assert_eq!(d.model_id.as_deref(), Some("gpt-4o-fake"));
    assert_eq!(
        c.find_deployment("gpt-4o-eu", None).unwrap().provider,
        "azure"
    );
    let demo = &c.keys[&sha256_hex("sk-demo")];
    assert_eq!(demo.api_key_alias.as_deref(), Some("demo-key"));
    assert_eq!(demo.team.as_deref(), Some("team-a"));
    assert_eq!(demo.team_alias.as_deref(), Some("Team A"));
    assert_eq!(demo.user.as_deref(), Some("alice"));
    assert_eq!(demo.user_email.as_deref(), Some("alice@example.com"));
    assert_eq!(
        c.master_key_sha256.as_deref(),
        Some(sha256_hex("sk-1234").as_str())
    );
    let labels: Vec<&str> = c
        .metadata_labels
        .iter()
        .map(|l| l.label.as_str())
        .chain(c.tag_labels.iter().map(|t| t.label.as_str()))
        .collect();
    assert_eq!(labels, ["metadata_app", "tag_prod", "tag_team_a"]);
    assert!(c.end_user_tracking);
    assert!(c
        .alerting_general_settings
        .contains_key("alert_to_webhook_url"));
    assert_eq!(
        c.env_var("SLACK_WEBHOOK_URL", &no_env).as_deref(),
        Some("http://127.0.0.1:18081/slack")
    );
    // Read by the logging settings now (`prometheus` is what the filter does anyway).
    assert!(!ignored.contains(&"litellm_settings.callbacks".to_owned()));
    assert!(ignored.contains(&"router_settings.routing_strategy".to_owned()));
}

#[test]
fn secrets_never_appear_in_errors_or_debug() {
    let env = |n: &str| match n {
        "MASTER" => Some("sk-master-very-secret".to_owned()),
        "KEY" => Some("sk-user-very-secret".to_owned()),
        _ => None,
    };
    let json = r#"{"environment_variables": {"OPENAI_API_KEY": "sk-env-very-secret"},
                   "general_settings": {"master_key": "os.environ/MASTER",
                     "alert_to_webhook_url": {"llm_exceptions": "https://hooks.slack.com/services/T0/B0/secret-hook"}},
                   "telemetry_settings": {"keys": [{"api_key": "os.environ/KEY", "key_alias": "k"},
                                                   {"api_key": "sk-literal-very-secret"}]}}"#;
    let l = parse(json.as_bytes(), &env).unwrap();
    let debug = format!("{l:?}");
    for secret in [
        "sk-master-very-secret",
        "sk-user-very-secret",
        "sk-literal-very-secret",
        "secret-hook",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(!debug.contains(&sha256_hex("sk-master-very-secret")));
    assert!(debug.contains("<redacted>"));
    // A raw key in the wrong place, a secret number, a resolved variable: none in the error.
    let errors = [
        r#"{"telemetry_settings": {"keys": ["sk-literal-very-secret"]}}"#,
        r#"{"telemetry_settings": {"keys": [{"api_key": "sk-literal-very-secret", "hashed_api_key": "sk-literal-very-secret"}]}}"#,
        r#"{"general_settings": {"master_key": 987654321}}"#,
        r#"{"environment_variables": {"X": {"k": "sk-literal-very-secret"}}}"#,
        r#"{"telemetry_settings": {"max_capture_bytes": "sk-literal-very-secret"}}"#,
    ];
    for json in errors {
        let e = parse(json.as_bytes(), &env).unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains("very-secret") && !text.contains("987654321"),
            "{text}"
        );
    }
}
