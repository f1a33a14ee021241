//! Engine scenarios with a fake clock: exact texts, windows, batching, routing, delivery.

use serde_json::{json, Value};

use super::event::tests::facts;
use super::*;
use crate::health::Cooldown;

/// 2024-11-23T12:02:08Z.
const T0: u64 = 1_732_363_328_000;
const SLACK: &str = "http://127.0.0.1:18081/slack/SECRETPATH";

fn cfg(extra: Value, env: &[(&str, &str)]) -> AlertingConfig {
    let mut map = json!({"alerting": ["slack"]}).as_object().cloned().unwrap();
    for (k, v) in extra.as_object().cloned().unwrap() {
        map.insert(k, v);
    }
    let mut vars: Vec<(String, String)> = vec![("SLACK_WEBHOOK_URL".into(), SLACK.into())];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    parse_alerting(&map, &move |k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .unwrap()
}

fn engine(extra: Value) -> AlertEngine {
    AlertEngine::new(cfg(extra, &[]), T0)
}

fn text(o: &Outgoing) -> String {
    let v: Value = serde_json::from_str(&o.body).unwrap();
    v["text"].as_str().unwrap().to_string()
}

fn texts(v: &[Outgoing]) -> Vec<String> {
    v.iter().map(text).collect()
}

/// Ticks at `now`, acknowledges every callout with 200 (as the host would), returns the texts.
fn delivered(e: &mut AlertEngine, now: u64) -> Vec<String> {
    let out = e.on_tick(now);
    for o in &out {
        assert_eq!(e.on_delivery_result(o.id, 200, now), DeliveryOutcome::Sent);
    }
    texts(&out)
}

fn finished(e: &mut AlertEngine, f: RequestFacts, now: u64) {
    e.on_event(&AlertEvent::RequestFinished(f), now);
}

fn at(status: u16, time: u64) -> RequestFacts {
    let mut f = facts(status);
    f.time_ms = time;
    f
}

/// Feeds the event and returns what a flush 5 s later sends.
fn one(e: &mut AlertEngine, f: RequestFacts) -> Vec<String> {
    let now = f.time_ms;
    finished(e, f, now);
    texts(&e.on_tick(now + 5_000))
}

const MSG_LINE: &str = "\nMessages: `[{'role': 'user', 'content': 'hi'}]`";
const NO_FALLBACK: &str =
    "\n\nLiteLLM: model group 'gpt-err500' failed with the error above. No fallback was attempted.";

#[test]
fn llm_exception_text_and_body_are_exact() {
    let mut e = engine(json!({"alert_types": ["llm_exceptions"]}));
    let mut f = at(500, T0);
    f.alerting_metadata = vec![("runbook".into(), "golden-rb-1".into())];
    finished(&mut e, f, T0);
    assert!(e.on_tick(T0 + 4_999).is_empty(), "batched for 5 s");
    let out = e.on_tick(T0 + 5_000);
    assert_eq!(out.len(), 1);
    let want = format!(
        "Alert type: `llm_exceptions`\nLevel: `High`\nTimestamp: `12:02:08`\n\nMessage: LLM API call failed: `litellm.InternalServerError: InternalServerError: OpenAIException - upstream boom{NO_FALLBACK}\nModel: openai/fake-err500\nAPI Base: `http://127.0.0.1:18080/v1`{MSG_LINE}\nmodel_group: `gpt-err500`\n\ndeployment: `openai/fake-err500`\n`\n\n*Alerting Metadata*: \nrunbook: `golden-rb-1`\n\n"
    );
    assert_eq!(text(&out[0]), want);
    assert_eq!(
        out[0].body,
        serde_json::to_string(&json!({ "text": want })).unwrap()
    );
    assert!(out[0]
        .body
        .starts_with("{\"text\":\"Alert type: `llm_exceptions`\\nLevel: `High`\\n"));
    assert_eq!(
        (out[0].id, out[0].attempt, out[0].alert_type),
        (1, 1, AlertType::LlmExceptions)
    );
    assert_eq!(out[0].destination.cluster, "webhook_127_0_0_1_18081");
    assert_eq!(out[0].destination.path, "/slack/SECRETPATH");
    assert!(!format!("{:?}", out[0]).contains("SECRETPATH"));
}

#[test]
fn which_statuses_raise_llm_exceptions() {
    let mut e = engine(json!({"alert_types": ["llm_exceptions"]}));
    for s in [200, 201, 302] {
        assert!(one(&mut e, at(s, T0)).is_empty(), "{s}");
    }
    for s in [400, 401, 404, 422, 408, 429, 500, 503] {
        assert_eq!(one(&mut e, at(s, T0)).len(), 1, "{s}");
    }
    let mut f = at(0, T0);
    f.error_message = None;
    f.messages_preview = None;
    f.key_alias = Some("k1".into());
    assert_eq!(
        one(&mut e, f),
        vec!["Alert type: `llm_exceptions`\nLevel: `High`\nTimestamp: `12:02:08`\n\nMessage: LLM API call failed: `litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error.\n\nLiteLLM: model group 'gpt-err500' failed with the error above. No fallback was attempted.\n\nKey Name: `k1`\nTeam: `None`\nModel: openai/fake-err500\nAPI Base: `http://127.0.0.1:18080/v1`\nmodel_group: `gpt-err500`\n\ndeployment: `openai/fake-err500`\n`"]
    );
    let mut f = at(502, T0);
    f.error_message = None;
    assert!(one(&mut e, f)[0]
        .contains("LLM API call failed: `litellm.BadGatewayError: BadGatewayError: OpenAIException - Error code: 502\n"));
}

#[test]
fn too_slow_is_strictly_greater_and_text_is_exact() {
    let mut e = engine(json!({"alerting_threshold": 2, "alert_types": ["llm_too_slow"]}));
    let mut f = at(200, T0);
    f.latency_ms = 2_000;
    assert!(
        one(&mut e, f).is_empty(),
        "equal to the threshold is not slow"
    );
    let mut f = at(200, T0);
    f.latency_ms = 3_010;
    f.alerting_metadata = vec![("runbook".into(), "golden-rb-1".into())];
    assert_eq!(
        one(&mut e, f),
        vec![format!("Alert type: `llm_too_slow`\nLevel: `Low`\nTimestamp: `12:02:08`\n\nMessage: `Responses are slow - 3.01s response time > Alerting threshold: 2s`\nRequest Model: `fake-err500`\nAPI Base: `http://127.0.0.1:18080/v1/`{MSG_LINE}\n\n*Alerting Metadata*: \nrunbook: `golden-rb-1`\n\n")]
    );
    let mut f = at(200, T0);
    f.latency_ms = 2_001;
    f.key_alias = Some("k".into());
    f.team_alias = Some("t".into());
    f.api_base = String::new();
    assert_eq!(
        one(&mut e, f),
        vec![format!("Alert type: `llm_too_slow`\nLevel: `Low`\nTimestamp: `12:02:08`\n\nMessage: `Responses are slow - 2.0s response time > Alerting threshold: 2s`\n\nKey Name: `k`\nTeam: `t`\nRequest Model: `fake-err500`\nAPI Base: `None`{MSG_LINE}")]
    );
    // A failed call is an exception, not a slow response.
    let mut f = at(500, T0);
    f.latency_ms = 60_000;
    assert!(one(&mut e, f).is_empty());
}

#[test]
fn hanging_text_is_exact() {
    let mut e = engine(json!({"alerting_threshold": 2, "alert_types": ["llm_requests_hanging"]}));
    let h = HangingFacts {
        time_ms: T0 + 3_000,
        start_ms: T0,
        requested_model: "gpt-slow".into(),
        key_alias: None,
        team_alias: None,
        alerting_metadata: vec![],
    };
    e.on_event(&AlertEvent::RequestHanging(h), T0 + 3_000);
    assert_eq!(
        texts(&e.on_tick(T0 + 8_000)),
        vec!["Alert type: `llm_requests_hanging`\nLevel: `Medium`\nTimestamp: `12:02:11`\n\nMessage: `Requests are hanging - 2s+ request time`\nRequest Model: `gpt-slow`\nAPI Base: `None`\nKey Alias: ``\nTeam Alias: ``"]
    );
}

#[test]
fn hanging_tracker_feeds_the_engine_once_per_request() {
    let c = cfg(
        json!({"alerting_threshold": 2, "alert_types": ["llm_requests_hanging"]}),
        &[],
    );
    let mut tracker = HangingTracker::from_config(&c);
    let mut e = AlertEngine::new(c, T0);
    let h = |m: &str| HangingFacts {
        time_ms: 0,
        start_ms: 0,
        requested_model: m.into(),
        key_alias: Some("k".into()),
        team_alias: Some("t".into()),
        alerting_metadata: vec![("a".into(), "b".into())],
    };
    tracker.start(1, T0, h("slow"));
    tracker.start(2, T0, h("fast"));
    tracker.finish(2);
    let mut sent = Vec::new();
    for s in 0..10 {
        let now = T0 + s * 1_000;
        for f in tracker.tick(now) {
            // Through the queue, as in production.
            let ev =
                AlertEvent::from_json(AlertEvent::RequestHanging(f).to_json().as_bytes()).unwrap();
            e.on_event(&ev, now);
        }
        sent.extend(texts(&e.on_tick(now)));
    }
    assert_eq!(
        sent,
        vec!["Alert type: `llm_requests_hanging`\nLevel: `Medium`\nTimestamp: `12:02:10`\n\nMessage: `Requests are hanging - 2s+ request time`\nRequest Model: `slow`\nAPI Base: `None`\nKey Alias: `k`\nTeam Alias: `t`\n\n*Alerting Metadata*: \na: `b`\n\n"]
    );
}

fn minor_text(ts: &str, n: u32) -> String {
    format!("Alert type: `outage_alerts`\nLevel: `Medium`\nTimestamp: `{ts}`\n\nMessage: \n\n\n*⚠️ Minor Service Outage*\n\n\n*Model Name:* `fake-err500`\n*Provider:* `openai`\n*API Base:* `http://127.0.0.1:18080/v1`\n\n\n*Errors:*\n\nAPI Errors: {n}\n\n\n*Last Check:* `0.0s ago`\n\n\n")
}

/// Feeds `n` errors one second apart from `start`, ticking each second; returns what was sent.
fn errors(e: &mut AlertEngine, start: u64, n: u64, status: u16) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        let t = start + i * 1_000;
        finished(e, at(status, t), t);
        // 1 ms later: the batch interval of these tests is 1 ms.
        out.extend(delivered(e, t + 1));
    }
    out
}

#[test]
fn outage_minor_once_major_once_then_window_expiry_resets() {
    let mut e = engine(
        json!({"alert_types": ["outage_alerts"], "alerting_args": {"batch_interval_seconds": 0.001}}),
    );
    let sent = errors(&mut e, T0, 12, 500);
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[0], minor_text("12:02:12", 5));
    assert_eq!(
        sent[1],
        "Alert type: `outage_alerts`\nLevel: `High`\nTimestamp: `12:02:17`\n\nMessage: \n\n\n*⚠️ Major Service Outage*\n\n\n*Model Name:* `fake-err500`\n*Provider:* `openai`\n*API Base:* `http://127.0.0.1:18080/v1`\n\n\n*Errors:*\n\nAPI Errors: 10\n\n\n*Last Check:* `0.0s ago`\n\n\n"
    );
    // The window opened at T0 closes at T0 + 60 s; the next errors open a new one.
    assert!(e.on_tick(T0 + 60_000).is_empty());
    let sent = errors(&mut e, T0 + 61_000, 5, 500);
    assert_eq!(sent, vec![minor_text("12:03:13", 5)]);
}

#[test]
fn outage_window_is_opened_by_the_first_error() {
    let mut e = engine(
        json!({"alert_types": ["outage_alerts"], "alerting_args": {"batch_interval_seconds": 0.001}}),
    );
    // 4 errors, then the 5th after the window (opened at T0) expired: no alert.
    assert!(errors(&mut e, T0, 4, 500).is_empty());
    finished(&mut e, at(500, T0 + 60_000), T0 + 60_000);
    assert!(e.on_tick(T0 + 60_000).is_empty());
    // 400 and 429 are not outage errors; 408 counts as a timeout.
    assert!(errors(&mut e, T0 + 61_000, 10, 400).is_empty());
    assert!(errors(&mut e, T0 + 71_000, 10, 429).is_empty());
    let sent = errors(&mut e, T0 + 81_000, 2, 408);
    assert_eq!(sent.len(), 0);
    let sent = errors(&mut e, T0 + 83_000, 2, 0);
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].contains("*Errors:*\n\nTimeout Errors: 2\n\nAPI Errors: 3\n\n\n*Last Check:*"),
        "{}",
        sent[0]
    );
}

#[test]
fn outage_last_check_reports_queue_delay() {
    let mut e = engine(
        json!({"alert_types": ["outage_alerts"], "alerting_args": {"minor_outage_alert_threshold": 1, "batch_interval_seconds": 0.001}}),
    );
    finished(&mut e, at(500, T0), T0 + 1_250);
    assert!(texts(&e.on_tick(T0 + 1_251))[0].contains("*Last Check:* `1.25s ago`"));
}

#[test]
fn a_cooldown_from_the_health_model_is_alerted() {
    let mut e = engine(
        json!({"alert_types": ["cooldown_deployment"], "alerting_args": {"batch_interval_seconds": 0.001}}),
    );
    // Requests alone never cool a deployment down here: that is the health model's.
    errors(&mut e, T0, 10, 503);
    assert!(e.on_tick(T0 + 100).is_empty());
    e.on_event(
        &AlertEvent::DeploymentCooledDown {
            time_ms: T0 + 1_000,
            deployment: [
                "openai/fake-err500",
                "id-1",
                "http://127.0.0.1:18080/v1",
                "openai",
            ]
            .map(String::from),
            cooldown: Cooldown {
                status: 429,
                model_group: "gpt-err500".into(),
                cooldown_ms: 5_000,
                reason: "rate limited, and the model group has other deployments".into(),
            },
        },
        T0 + 1_000,
    );
    assert_eq!(
        texts(&e.on_tick(T0 + 1_100)),
        vec!["Alert type: `cooldown_deployment`\nLevel: `Low`\nTimestamp: `12:02:09`\n\nMessage: `Deployment cooled down - rate limited, and the model group has other deployments`\nModel: `openai/fake-err500`\nAPI Base: `http://127.0.0.1:18080/v1`\nmodel_group: `gpt-err500`\nException Status Code: `429`\nCooldown Time: `5.0s`"]
    );
}

#[test]
fn region_outage_needs_two_models_and_ignores_400() {
    let mut e = engine(
        json!({"alert_types": ["region_outage_alerts"], "alerting_args": {"batch_interval_seconds": 0.001}}),
    );
    let bedrock = |model: &str, status: u16, t: u64| {
        let mut f = at(status, t);
        f.provider = "bedrock".into();
        f.litellm_model = format!("bedrock/{model}");
        f.model = model.into();
        f.api_base = "https://bedrock-runtime.us-east-1.amazonaws.com".into();
        f
    };
    let mut sent = Vec::new();
    for i in 0..6 {
        let t = T0 + i * 1_000;
        finished(&mut e, bedrock("claude", 500, t), t);
        finished(&mut e, bedrock("titan", 400, t), t);
        sent.extend(delivered(&mut e, t));
    }
    assert!(sent.is_empty(), "one failing model is not a region outage");
    finished(&mut e, bedrock("titan", 503, T0 + 6_000), T0 + 6_000);
    assert_eq!(
        delivered(&mut e, T0 + 6_001),
        vec!["Alert type: `region_outage_alerts`\nLevel: `Medium`\nTimestamp: `12:02:14`\n\nMessage: \n\n\n*⚠️ Minor Service Outage*\n\n\n*Region Name:* `us-east-1`\n*Provider:* `bedrock`\n\n\n*Errors:*\n\nAPI Errors: 7\n\n\n*Last Check:* `0.0s ago`\n\n\n"]
    );
    let mut more = Vec::new();
    for i in 7..12 {
        let t = T0 + i * 1_000;
        finished(&mut e, bedrock("claude", 500, t), t);
        more.extend(delivered(&mut e, t));
    }
    assert_eq!(more.len(), 1);
    assert!(more[0].starts_with("Alert type: `region_outage_alerts`\nLevel: `High`"));
    assert!(more[0].contains("*⚠️ Major Service Outage*") && more[0].contains("API Errors: 10\n"));
}

#[test]
fn region_rules() {
    let with = |base: &str, region: Option<&str>| {
        let mut f = facts(500);
        f.api_base = base.into();
        f.region = region.map(String::from);
        region_of(&f)
    };
    assert_eq!(
        with("https://bedrock-runtime.us-west-2.amazonaws.com", None).as_deref(),
        Some("us-west-2")
    );
    assert_eq!(
        with("https://us-central1-aiplatform.googleapis.com/v1", None).as_deref(),
        Some("us-central1")
    );
    assert_eq!(
        with("https://eastus.api.cognitive.microsoft.com/", None).as_deref(),
        Some("eastus")
    );
    assert_eq!(with("https://myres.openai.azure.com", None), None);
    assert_eq!(
        with("https://myres.openai.azure.com", Some("swedencentral")).as_deref(),
        Some("swedencentral")
    );
    assert_eq!(with("https://api.openai.com/v1", None), None);
    assert_eq!(with("https://s3.amazonaws.com", None), None);
}

#[test]
fn identical_alerts_in_a_batch_collapse_with_count() {
    let mut e = engine(json!({"alert_types": ["llm_exceptions"]}));
    for _ in 0..3 {
        finished(&mut e, at(500, T0), T0);
    }
    let mut other = at(500, T0);
    other.error_message = Some("other".into());
    finished(&mut e, other, T0 + 100);
    let out = texts(&e.on_tick(T0 + 5_000));
    assert_eq!(out.len(), 2);
    assert!(
        out[0].starts_with("[Num Alerts: 3]\n\nAlert type: `llm_exceptions`\nLevel: `High`\n"),
        "{}",
        out[0]
    );
    assert!(
        out[1].starts_with("Alert type: `llm_exceptions`")
            && out[1].contains("OpenAIException - other\n")
    );
    let s = e.stats().get(AlertType::LlmExceptions);
    assert_eq!((s.queued, s.deduplicated), (4, 2));
}

#[test]
fn batch_flushes_early_at_batch_max_alerts() {
    let mut e = engine(
        json!({"alert_types": ["llm_exceptions"], "alerting_args": {"batch_max_alerts": 2}}),
    );
    finished(&mut e, at(500, T0), T0);
    assert!(e.on_tick(T0).is_empty());
    finished(&mut e, at(500, T0), T0);
    assert_eq!(
        e.on_tick(T0).len(),
        1,
        "full batch goes at once (identical texts collapse)"
    );
}

#[test]
fn routing_to_two_urls_and_default() {
    let c = cfg(
        json!({"alert_types": ["llm_exceptions", "llm_too_slow"], "alerting_threshold": 1,
               "alert_to_webhook_url": {"llm_exceptions": ["os.environ/HOOK_A", "https://hooks.slack.com/services/SECRETB"]}}),
        &[("HOOK_A", "http://127.0.0.1:9001/a")],
    );
    let mut e = AlertEngine::new(c, T0);
    finished(&mut e, at(500, T0), T0);
    let mut slow = at(200, T0);
    slow.latency_ms = 1_500;
    finished(&mut e, slow, T0);
    let out = e.on_tick(T0 + 5_000);
    let mut got: Vec<(String, String, AlertType)> = out
        .iter()
        .map(|o| {
            (
                o.destination.id.clone(),
                o.destination.cluster.clone(),
                o.alert_type,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "llm_exceptions#1".into(),
                "webhook_127_0_0_1_9001".into(),
                AlertType::LlmExceptions
            ),
            (
                "llm_exceptions#2".into(),
                "webhook_hooks_slack_com_443".into(),
                AlertType::LlmExceptions
            ),
            (
                "slack".into(),
                "webhook_127_0_0_1_18081".into(),
                AlertType::LlmTooSlow
            ),
        ]
    );
    assert_eq!(text(&out[0]), text(&out[1]), "each URL gets the same alert");
    for o in &out {
        assert!(!o.body.contains("SECRET"));
    }
}

#[test]
fn redaction_removes_messages_lines() {
    let mut e = engine(
        json!({"alert_types": ["llm_exceptions", "llm_too_slow"], "alerting_threshold": 1,
                              "redact_messages_in_exceptions": true}),
    );
    finished(&mut e, at(500, T0), T0);
    let mut slow = at(200, T0);
    slow.latency_ms = 1_500;
    finished(&mut e, slow, T0);
    let out = texts(&e.on_tick(T0 + 5_000));
    assert_eq!(out.len(), 2);
    for t in &out {
        assert!(!t.contains("'role'"), "{t}");
    }
    assert!(!out[0].contains("Messages:"));
    assert!(out[0].ends_with(
        "API Base: `http://127.0.0.1:18080/v1`\nmodel_group: `gpt-err500`\n\ndeployment: `openai/fake-err500`\n`"
    ));
    // LiteLLM keeps the slow alert's Messages line and says why it is empty.
    assert!(out[1].ends_with(
        "Request Model: `fake-err500`\nAPI Base: `http://127.0.0.1:18080/v1/`\nMessages: `Message not logged. litellm.redact_messages_in_exceptions=True`"
    ));
}

#[test]
fn proxy_base_url_is_appended() {
    let c = cfg(
        json!({"alert_types": ["llm_exceptions"]}),
        &[("PROXY_BASE_URL", "http://proxy:4000")],
    );
    let mut e = AlertEngine::new(c, T0);
    let mut f = at(500, T0);
    f.alerting_metadata = vec![("a".into(), "1".into()), ("b".into(), "2".into())];
    let out = one(&mut e, f);
    assert!(out[0].ends_with("\n\n*Alerting Metadata*: \na: `1`\n\n\n\n*Alerting Metadata*: \nb: `2`\n\n\n\nProxy URL: `http://proxy:4000`"), "{}", out[0]);
}

#[test]
fn retry_backoff_schedule_then_drop() {
    let mut e = engine(json!({"alert_types": ["llm_exceptions"]}));
    finished(&mut e, at(500, T0), T0);
    let first = e.on_tick(T0 + 5_000);
    let id = first[0].id;
    let mut now = T0 + 5_000;
    assert_eq!(e.in_flight_len(), 1);
    for (status, wait, attempt) in [(503u16, 1_000u64, 2u32), (0, 2_000, 3), (429, 4_000, 4)] {
        now += 100;
        assert_eq!(
            e.on_delivery_result(id, status, now),
            DeliveryOutcome::Retrying { at_ms: now + wait }
        );
        assert!(e.on_tick(now + wait - 1).is_empty());
        now += wait;
        let again = e.on_tick(now);
        assert_eq!(
            (again.len(), again[0].id, again[0].attempt),
            (1, id, attempt)
        );
        assert_eq!(again[0].body, first[0].body);
    }
    assert_eq!(e.on_delivery_result(id, 500, now), DeliveryOutcome::Dropped);
    assert_eq!(e.on_delivery_result(id, 200, now), DeliveryOutcome::Unknown);
    let s = e.stats().get(AlertType::LlmExceptions);
    assert_eq!((s.sent, s.failed, s.retried, s.dropped), (0, 4, 3, 1));
    assert_eq!((e.pending_len(), e.in_flight_len()), (0, 0));
}

#[test]
fn client_errors_are_not_retried_and_success_counts() {
    let mut e = engine(
        json!({"alert_types": ["llm_exceptions"], "alerting_args": {"max_retries": 5, "retry_backoff_seconds": [1]}}),
    );
    finished(&mut e, at(500, T0), T0);
    let id = e.on_tick(T0 + 5_000)[0].id;
    assert_eq!(
        e.on_delivery_result(id, 404, T0 + 5_100),
        DeliveryOutcome::Dropped
    );
    let mut f = at(500, T0);
    f.error_message = Some("second".into());
    finished(&mut e, f, T0 + 6_000);
    let id = e.on_tick(T0 + 11_000)[0].id;
    // The last backoff value repeats.
    assert_eq!(
        e.on_delivery_result(id, 502, T0 + 11_000),
        DeliveryOutcome::Retrying { at_ms: T0 + 12_000 }
    );
    e.on_tick(T0 + 12_000);
    assert_eq!(
        e.on_delivery_result(id, 502, T0 + 12_000),
        DeliveryOutcome::Retrying { at_ms: T0 + 13_000 }
    );
    e.on_tick(T0 + 13_000);
    assert_eq!(
        e.on_delivery_result(id, 204, T0 + 13_000),
        DeliveryOutcome::Sent
    );
    let s = e.stats().get(AlertType::LlmExceptions);
    assert_eq!(
        (s.queued, s.sent, s.failed, s.retried, s.dropped),
        (2, 1, 3, 2, 1)
    );
}

#[test]
fn lost_callback_is_unconfirmed_and_never_resent() {
    let mut e = engine(
        json!({"alert_types": ["llm_exceptions"], "alerting_args": {"callout_timeout_ms": 1000}}),
    );
    finished(&mut e, at(500, T0), T0);
    let id = e.on_tick(T0 + 5_000)[0].id;
    assert!(e.on_tick(T0 + 10_999).is_empty());
    assert!(e.is_in_flight(id));
    // 1 s timeout + 5 s grace: it may have arrived; a second copy would page twice.
    assert!(e.on_tick(T0 + 11_000).is_empty());
    assert!(!e.is_in_flight(id));
    assert!(e.on_tick(T0 + 60_000).is_empty());
    assert_eq!(
        e.on_delivery_result(id, 200, T0 + 60_000),
        DeliveryOutcome::Unknown
    );
    let s = e.stats().get(AlertType::LlmExceptions);
    assert_eq!((s.sent, s.failed, s.retried, s.unconfirmed), (0, 0, 0, 1));
}

#[test]
fn only_what_never_left_is_resent() {
    let mut e = engine(json!({"alert_types": ["llm_exceptions"]}));
    finished(&mut e, at(500, T0), T0);
    let id = e.on_tick(T0 + 5_000)[0].id;
    let now = T0 + 5_100;
    assert_eq!(
        e.on_callout_result(id, CalloutResult::NotSent, now),
        DeliveryOutcome::Retrying { at_ms: now + 1_000 }
    );
    let again = e.on_tick(now + 1_000);
    assert_eq!((again[0].id, again[0].attempt), (id, 2));
    assert_eq!(
        e.on_callout_result(id, CalloutResult::Unconfirmed, now + 1_100),
        DeliveryOutcome::Unconfirmed
    );
    assert!(e.on_tick(now + 30_000).is_empty());
    let s = e.stats().get(AlertType::LlmExceptions);
    assert_eq!(
        (s.sent, s.failed, s.retried, s.dropped, s.unconfirmed),
        (0, 1, 1, 0, 1)
    );
}

#[test]
fn full_queue_drops_the_oldest() {
    let mut e = engine(
        json!({"alert_types": ["llm_exceptions"], "alerting_args": {"queue_max_events": 3}}),
    );
    for i in 0..5 {
        let mut f = at(500, T0);
        f.error_message = Some(format!("e{i}"));
        finished(&mut e, f, T0 + i);
    }
    assert_eq!(e.pending_len(), 3);
    let out = texts(&e.on_tick(T0 + 5_010));
    let errs: Vec<bool> = (0..5)
        .map(|i| out.iter().any(|t| t.contains(&format!("- e{i}\n"))))
        .collect();
    assert_eq!(errs, vec![false, false, true, true, true]);
    let s = e.stats().get(AlertType::LlmExceptions);
    assert_eq!((s.queued, s.dropped), (5, 2));
}

#[test]
fn daily_report_text_and_schedule() {
    let mut e = engine(json!({"alert_types": ["daily_reports"], "alerting_args": {
        "daily_report_frequency": 3600, "report_check_interval": 60, "batch_interval_seconds": 0.001}}));
    let dep = |m: &str, base: &str, status: u16, latency: u64| {
        let mut f = at(status, T0);
        f.litellm_model = m.into();
        f.api_base = base.into();
        f.latency_ms = latency;
        f
    };
    for _ in 0..3 {
        finished(&mut e, dep("openai/a", "http://a/v1", 500, 10), T0);
    }
    finished(&mut e, dep("openai/b", "http://b/v1", 429, 10), T0);
    finished(&mut e, dep("openai/b", "http://b/v1", 200, 1_000), T0);
    finished(&mut e, dep("openai/b", "http://b/v1", 200, 2_000), T0);
    finished(&mut e, dep("openai/c", "http://c/v1", 200, 3_000), T0);
    // Checked every report_check_interval (60 s); due after daily_report_frequency (1 h).
    assert!(e.on_tick(T0 + 3_540_000).is_empty());
    let now = T0 + 3_600_000;
    assert!(e.on_tick(now).is_empty());
    let out = texts(&e.on_tick(now + 1));
    assert_eq!(
        out,
        vec!["Alert type: `daily_reports`\n\nTime: `1732366928.0`s\nHere are today's key metrics 📈: \n\n\n\n*❗️ Top Deployments with Most Failed Requests:*\n\n\t1. Deployment: `openai/a`, Failed Requests: `3`,  API Base: `http://a/v1`\n\t2. Deployment: `openai/b`, Failed Requests: `1`,  API Base: `http://b/v1`\n\n\n*😅 Top Slowest Deployments:*\n\n\t1. Deployment: `openai/c`, Average Latency: `3.0s`,  API Base: `http://c/v1`\n\n\t2. Deployment: `openai/b`, Average Latency: `1.5s`,  API Base: `http://b/v1`\n\n\n\nNext Run is at: `1732370528.0`s"]
    );
    // Aggregates were reset: nothing happened since, so the next report is skipped.
    assert!(e.on_tick(now + 3_600_000).is_empty());
    assert!(e.on_tick(now + 3_600_001).is_empty());
}

#[test]
fn budget_alert_goes_to_both_channels_once_per_ttl() {
    let c = cfg(
        json!({"alerting": ["slack", "webhook"], "alert_types": ["budget_alerts"], "alerting_args": {"budget_alert_ttl": 60}}),
        &[("WEBHOOK_URL", "http://127.0.0.1:18082/generic/SECRETG")],
    );
    let mut e = AlertEngine::new(c, T0);
    let info = CallInfo {
        spend: 1.0,
        max_budget: Some(0.0),
        soft_budget: None,
        token: None,
        customer_id: None,
        user_id: Some("default_user_id".into()),
        team_id: None,
        team_alias: None,
        organization_id: None,
        user_email: None,
        key_alias: None,
        projected_exceeded_date: None,
        projected_spend: None,
        event_group: EventGroup::Key,
        alert_emails: None,
        max_budget_alert_emails: None,
    };
    assert_eq!(
        e.budget_event(BudgetAlertKind::UserBudget, &info, T0 + 6_000),
        Some(BudgetEvent::BudgetCrossed)
    );
    // The generic webhook is not batched.
    let now = e.on_tick(T0 + 6_000);
    assert_eq!(now.len(), 1);
    e.on_delivery_result(now[0].id, 200, T0 + 6_000);
    assert_eq!(now[0].destination.id, "webhook");
    assert!(now[0]
        .body
        .starts_with(r#"{"spend":1.0,"max_budget":0.0,"soft_budget":null,"token":null,"#));
    assert!(now[0].body.ends_with(r#""event":"budget_crossed","event_message":"User Budget: Budget Crossed\n Total Budget:`0.0`"}"#));
    assert_eq!(
        delivered(&mut e, T0 + 11_000),
        vec!["Alert type: `budget_alerts`\nLevel: `High`\nTimestamp: `12:02:14`\n\nMessage: User Budget: Budget Crossed\n Total Budget:`0.0`\n\n*spend:* `1.0`\n*max_budget:* `0.0`\n*user_id:* `default_user_id`\n*event_group:* `key`\n"]
    );
    // Same (event, id) within the TTL: nothing; through the queue as an event too.
    assert_eq!(
        e.budget_event(BudgetAlertKind::UserBudget, &info, T0 + 30_000),
        None
    );
    let ev = AlertEvent::Budget {
        time_ms: T0,
        budget: BudgetAlertKind::UserBudget,
        info: info.clone(),
    };
    e.on_event(
        &AlertEvent::from_json(ev.to_json().as_bytes()).unwrap(),
        T0 + 40_000,
    );
    assert!(e.on_tick(T0 + 50_000).is_empty());
    assert_eq!(e.stats().get(AlertType::BudgetAlerts).deduplicated, 2);
    assert_eq!(
        e.budget_event(BudgetAlertKind::UserBudget, &info, T0 + 66_000),
        Some(BudgetEvent::BudgetCrossed)
    );
}

#[test]
fn failed_tracking_spend_once_per_model_and_ttl() {
    let mut e = engine(
        json!({"alert_types": ["failed_tracking_spend"], "alerting_args": {"budget_alert_ttl": 100}}),
    );
    let ev = |m: &str| AlertEvent::FailedTrackingSpend {
        time_ms: T0,
        model: m.into(),
        error_message: format!("model={m}, no price known"),
    };
    e.on_event(&ev("gpt-x"), T0);
    e.on_event(&ev("gpt-x"), T0 + 1);
    e.on_event(&ev("gpt-y"), T0 + 2);
    assert_eq!(
        texts(&e.on_tick(T0 + 5_000)),
        vec![
            "Alert type: `failed_tracking_spend`\nLevel: `High`\nTimestamp: `12:02:08`\n\nMessage: Failed Tracking Cost for model=gpt-x, no price known",
            "Alert type: `failed_tracking_spend`\nLevel: `High`\nTimestamp: `12:02:08`\n\nMessage: Failed Tracking Cost for model=gpt-y, no price known",
        ]
    );
    e.on_event(&ev("gpt-x"), T0 + 100_000);
    assert_eq!(e.on_tick(T0 + 105_000).len(), 1);
}

#[test]
fn stats_deltas_for_envoy_counters() {
    let mut e = engine(json!({"alert_types": ["llm_exceptions"]}));
    finished(&mut e, at(500, T0), T0);
    finished(&mut e, at(500, T0), T0);
    let out = e.on_tick(T0 + 5_000);
    e.on_delivery_result(out[0].id, 200, T0 + 5_100);
    let d = e.take_stats_delta();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].0, AlertType::LlmExceptions);
    assert_eq!(
        d[0].1.outcomes(),
        [
            ("queued", 2),
            ("sent", 1),
            ("failed", 0),
            ("retried", 0),
            ("dropped", 0),
            ("deduplicated", 1),
            ("unconfirmed", 0)
        ]
    );
    assert!(e.take_stats_delta().is_empty());
    finished(&mut e, at(500, T0 + 6_000), T0 + 6_000);
    assert_eq!(e.take_stats_delta()[0].1.queued, 1);
    assert_eq!(e.stats().total().queued, 3);
}

#[test]
fn disabled_types_and_alerting_off_send_nothing() {
    let mut e = engine(json!({"alert_types": ["llm_too_slow"]}));
    assert!(one(&mut e, at(500, T0)).is_empty());
    let mut off = AlertEngine::new(AlertingConfig::disabled(), T0);
    finished(&mut off, at(500, T0), T0);
    assert!(off.on_tick(T0 + 10_000).is_empty());
}

/// An alert whose type has no destination (LiteLLM starts like this and fails to send it) is
/// counted dropped when it fires; nothing is sent.
#[test]
fn alerts_without_a_destination_are_counted_dropped() {
    let map = json!({"alerting": ["slack"], "alert_types": ["llm_exceptions", "llm_too_slow"],
                     "alert_to_webhook_url": {"llm_too_slow": SLACK}})
    .as_object()
    .cloned()
    .unwrap();
    let cfg = parse_alerting(&map, &|_| None).unwrap();
    let mut e = AlertEngine::new(cfg, T0);
    finished(&mut e, at(500, T0), T0);
    finished(&mut e, at(503, T0 + 1), T0 + 1);
    assert!(e.on_tick(T0 + 5_000).is_empty());
    let s = e.stats().get(AlertType::LlmExceptions);
    assert_eq!((s.queued, s.sent, s.dropped), (0, 0, 2));
}
