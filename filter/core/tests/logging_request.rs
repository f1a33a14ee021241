//! One request through the exchange and its [`RequestLog`], as the host adapter drives them: the
//! configuration hook, the response id and headers the exchange reads for the logs, the call id,
//! the `x-litellm-*` headers, and the payload and filter state `on_log` produces. Bodies are fed
//! split at every offset: the logged values must not depend on chunking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llm_telemetry_core::config::{self, Config};
use llm_telemetry_core::exchange::{Exchange, Headers, Record};
use llm_telemetry_core::logging::request::RequestLog;
use llm_telemetry_core::logging::Logging;
use llm_telemetry_core::metrics::Metrics;
use llm_telemetry_core::route::classify;
use serde_json::{json, Value};

const CHAT_JSON: &[u8] = include_bytes!("../../../tests/fixtures/chat_completion.json");
const CHAT_SSE: &[u8] = include_bytes!("../../../tests/fixtures/chat_stream_usage.sse");
const ERROR_500: &[u8] = include_bytes!("../../../tests/fixtures/error_500.json");
const REQUEST: &[u8] = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi there"}],"temperature":0.2,"user":"u-1","max_tokens":50}"#;

struct Map(Vec<(&'static str, String)>);
impl Headers for Map {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

fn load(logging: Value, litellm: Value) -> Config {
    let doc = json!({
        "model_list": [{"model_name": "gpt-4o",
            "litellm_params": {"model": "openai/gpt-4o", "api_base": "https://api.openai.com/v1?key=secret"},
            "model_info": {"id": "dep-1"}}],
        "litellm_settings": litellm,
        "telemetry_settings": {"logging": logging},
    });
    config::parse(doc.to_string().as_bytes(), &|_| None)
        .unwrap()
        .config
}

/// Runs one request; returns the response headers added, the record and the filter state.
fn run(
    cfg: &Config,
    request_headers: Vec<(&'static str, String)>,
    status: u16,
    content_type: &str,
    pieces: &[&[u8]],
) -> (Vec<String>, Record, Vec<(&'static str, String)>) {
    let mut logging = Logging::new(cfg.logging.clone(), &[1, 2, 3]);
    let mut ex = Exchange::new(
        classify("POST", "/v1/chat/completions").unwrap(),
        cfg,
        1_000_000_000,
    );
    let req = Map(request_headers);
    ex.on_request_headers(&req, Some("10.0.0.1".into()), cfg, false);
    let mut log = RequestLog::new(&mut logging, &req);
    for (i, b) in REQUEST.chunks(7).enumerate() {
        let last = (i + 1) * 7 >= REQUEST.len();
        ex.on_request_body(b, last);
        log.on_request_body(b);
    }
    let resp = Map(vec![
        (":status", status.to_string()),
        ("content-type", content_type.to_owned()),
        ("x-ratelimit-reset-requests", "6m0s".into()),
        ("x-request-id", "req-upstream-9".into()),
    ]);
    ex.on_response_headers(&resp, false);
    log.on_response_headers(&resp);
    let headers = log
        .response_headers(&logging, ex.record(), cfg)
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    for p in pieces {
        ex.on_response_body(p, false, 2_000_000_000);
        log.on_response_body(p);
    }
    ex.on_response_body(&[], true, 3_000_000_000);
    let rec = ex
        .finish(3_500_000_000, Some("127.0.0.1:443".into()))
        .unwrap();
    // Resolved as the adapter resolves it, by the metrics.
    let mut metrics = Metrics::new(cfg);
    let resolution = metrics.resolve(&rec, cfg);
    let state = log.finish(&mut logging, &rec, &resolution, 3_500);
    (headers, rec, state)
}

fn payload(state: &[(&'static str, String)]) -> Value {
    let (_, p) = state
        .iter()
        .find(|(k, _)| *k == "llm_telemetry.payload")
        .expect("the payload entry");
    serde_json::from_str(p).unwrap()
}

#[test]
fn the_configuration_hook_reads_litellms_logging_keys() {
    let cfg = load(
        json!({"filter_state": true, "max_logged_body_bytes": 100}),
        json!({"turn_off_message_logging": true, "redact_user_api_key_info": true}),
    );
    let l = &cfg.logging;
    assert!(l.filter_state && l.turn_off_message_logging && l.payload.redact_user_api_key_info);
    assert_eq!(l.max_logged_body_bytes, 100);
    let bad = json!({"telemetry_settings": {"logging": {"filter_state": 1}}}).to_string();
    let err = config::parse(bad.as_bytes(), &|_| None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "telemetry_settings.logging.filter_state: expected a boolean, got number"
    );
    let missing = json!({"litellm_settings": {"callbacks": ["generic_api"]}}).to_string();
    let err = config::parse(missing.as_bytes(), &|_| None).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "litellm_settings.callbacks[0]: the generic logger needs GENERIC_LOGGER_ENDPOINT"
        ),
        "{err}"
    );
    // The document's environment_variables name the endpoint, as LiteLLM reads them.
    let doc = json!({"litellm_settings": {"success_callback": ["generic"]},
        "environment_variables": {"GENERIC_LOGGER_ENDPOINT": "http://127.0.0.1:9/log"}});
    let loaded = config::parse(doc.to_string().as_bytes(), &|_| None).unwrap();
    let d = &loaded.config.logging.destinations[0];
    assert_eq!(
        (d.name.as_str(), d.endpoint.destination.cluster.as_str()),
        ("generic_api", "webhook_127_0_0_1_9")
    );
    assert!(!loaded.ignored.iter().any(|i| i.contains("callback")));
}

#[test]
fn a_plain_response_logged_the_same_at_every_split() {
    let cfg = load(json!({"filter_state": true}), json!({}));
    let req = vec![
        ("x-request-id", "call-7".to_owned()),
        ("authorization", "Bearer sk-1234".to_owned()),
    ];
    let mut first: Option<Value> = None;
    for cut in 0..=CHAT_JSON.len() {
        let (a, b) = CHAT_JSON.split_at(cut);
        let (headers, rec, state) = run(&cfg, req.clone(), 200, "application/json", &[a, b]);
        assert_eq!(
            rec.response_id.as_deref(),
            Some("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG")
        );
        let p = payload(&state);
        // Times come from the clock the test passes: the same at every split.
        if let Some(f) = &first {
            assert_eq!(&p, f, "split at {cut}");
            continue;
        }
        assert_eq!(
            headers,
            [
                "x-litellm-call-id: call-7",
                "x-litellm-model-id: dep-1",
                "x-litellm-model-name: openai/gpt-4o",
                "x-litellm-model-api-base: https://api.openai.com/v1",
                "x-litellm-model-group: gpt-4o",
                "x-litellm-version: 1.106.2",
            ]
        );
        assert_eq!(p["litellm_call_id"], "call-7");
        assert_eq!(p["id"], "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
        assert_eq!(p["status"], "success");
        assert_eq!(
            (
                &p["prompt_tokens"],
                &p["completion_tokens"],
                &p["total_tokens"]
            ),
            (&json!(19), &json!(10), &json!(29))
        );
        assert_eq!(
            p["model_parameters"],
            json!({"max_tokens": 50, "temperature": 0.2, "user": "u-1"})
        );
        assert_eq!(
            p["messages"],
            json!([{"role": "user", "content": "hi there"}])
        );
        assert_eq!(
            p["response"],
            serde_json::from_slice::<Value>(CHAT_JSON).unwrap()
        );
        assert_eq!(
            p["metadata"]["user_api_key_hash"],
            "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
        );
        assert_eq!(
            p["hidden_params"]["additional_headers"]["x_ratelimit_reset_requests"],
            "6m0s"
        );
        assert_eq!(
            p["hidden_params"]["additional_headers"]["llm_provider-x-request-id"],
            "req-upstream-9"
        );
        assert_eq!(p["model_map_information"]["model_map_key"], "gpt-4o");
        assert!(p["response_cost"].as_f64().unwrap() > 0.0);
        let entries: Vec<&str> = state.iter().map(|(k, _)| *k).collect();
        assert!(entries.contains(&"llm_telemetry.litellm_call_id"));
        first = Some(p);
    }
}

#[test]
fn a_stream_has_its_id_at_every_split_and_a_failure_its_error() {
    let cfg = load(json!({"filter_state": true}), json!({}));
    for cut in (0..=CHAT_SSE.len()).step_by(3) {
        let (a, b) = CHAT_SSE.split_at(cut);
        let (_, rec, state) = run(&cfg, vec![], 200, "text/event-stream", &[a, b]);
        assert_eq!(
            rec.response_id.as_deref(),
            Some("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"),
            "split at {cut}"
        );
        let p = payload(&state);
        assert_eq!(p["total_tokens"], 29);
        // Without a client id the call id is a new UUIDv4.
        assert_eq!(p["litellm_call_id"].as_str().unwrap().len(), 36);
    }
    let (_, _, state) = run(&cfg, vec![], 500, "application/json", &[ERROR_500]);
    let p = payload(&state);
    assert_eq!(p["status"], "failure");
    assert_eq!(
        p["error_str"],
        "The server had an error while processing your request. Sorry about that!"
    );
    assert_eq!(p["error_information"]["error_class"], "InternalServerError");
}

#[test]
fn redaction_and_the_body_bound() {
    let quiet = load(
        json!({"filter_state": true}),
        json!({"turn_off_message_logging": true}),
    );
    let (_, _, state) = run(&quiet, vec![], 200, "application/json", &[CHAT_JSON]);
    let all: String = state.iter().map(|(_, v)| v.as_str()).collect();
    assert!(
        !all.contains("hi there") && !all.contains("bonjour"),
        "{all}"
    );
    // The client asks for redaction of one request.
    let open = load(json!({"filter_state": true}), json!({}));
    let h = vec![("x-litellm-enable-message-redaction", "true".to_owned())];
    let (_, _, state) = run(&open, h, 200, "application/json", &[CHAT_JSON]);
    assert_eq!(
        payload(&state)["messages"],
        json!([{"role": "user", "content": "redacted-by-litellm"}])
    );
    // A response longer than the bound is cut, and says so.
    let small = load(
        json!({"filter_state": true, "max_logged_body_bytes": 64}),
        json!({}),
    );
    let (_, _, state) = run(&small, vec![], 200, "application/json", &[CHAT_JSON]);
    let r = payload(&state)["response"].as_str().unwrap().to_owned();
    assert!(
        r.ends_with(&format!(
            "...[truncated by llm-telemetry: 64 of {} bytes kept]",
            CHAT_JSON.len()
        )),
        "{r}"
    );
    // Headers off: none.
    let off = load(json!({"response_headers": false}), json!({}));
    let (headers, _, _) = run(&off, vec![], 200, "application/json", &[CHAT_JSON]);
    assert!(headers.is_empty());
}
