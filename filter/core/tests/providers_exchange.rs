//! Provider-native exchanges (Anthropic, Gemini / Vertex AI, Bedrock) through
//! [`Exchange`]: routed by path, the caller identified as LiteLLM would, each provider's body read
//! into the record, fed whole and split at every offset.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llm_telemetry_core::config::{self, Config};
use llm_telemetry_core::exchange::{BodyProblem, Exchange, Headers, Record};
use llm_telemetry_core::route::{classify_request, NativeApi};
use llm_telemetry_core::usage::Usage;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/fixtures/", $name)).as_slice()
    };
}

struct Map(Vec<(&'static str, String)>);
impl Headers for Map {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

fn config() -> Config {
    config::parse(b"", &|_| None).unwrap().config
}

/// A response: status, headers beyond `:status`, body pieces.
struct Response<'a> {
    status: u16,
    headers: Vec<(&'static str, String)>,
    pieces: Vec<&'a [u8]>,
}

fn content_type(ct: &str) -> Vec<(&'static str, String)> {
    vec![("content-type", ct.to_owned())]
}

/// Runs one exchange for `path` with request headers `req` and body `request`.
fn run(path: &str, req: Vec<(&'static str, String)>, request: &[u8], resp: Response) -> Record {
    let cfg = config();
    let route = classify_request("POST", path).unwrap();
    let mut ex = Exchange::new(route, &cfg, 1_000_000_000);
    let mut req = req;
    req.push((":path", path.to_owned()));
    ex.on_request_headers(&Map(req), Some("10.0.0.1".into()), &cfg, request.is_empty());
    if !request.is_empty() {
        ex.on_request_body(request, true);
    }
    let mut headers = resp.headers;
    headers.push((":status", resp.status.to_string()));
    ex.on_response_headers(&Map(headers), false);
    let mut t = 2_000_000_000;
    for p in resp.pieces {
        ex.on_response_body(p, false, t);
        t += 1_000_000;
    }
    ex.on_response_body(&[], true, 3_000_000_000);
    ex.finish(3_500_000_000, Some("127.0.0.1:18080".into()))
        .unwrap()
}

/// `check` holds for the body fed whole, byte by byte, and split in two at every offset.
fn every_split(body: &[u8], run_with: impl Fn(Vec<&[u8]>) -> Record, check: impl Fn(&Record)) {
    check(&run_with(vec![body]));
    check(&run_with(body.chunks(1).collect()));
    for i in 0..=body.len() {
        let (a, b) = body.split_at(i);
        check(&run_with(vec![a, b]));
    }
}

fn usage(input: u64, output: u64, cached: u64, creation: u64, reasoning: u64) -> Usage {
    Usage {
        input,
        output,
        total: input + output,
        input_cached: cached,
        input_cache_creation: creation,
        output_reasoning: reasoning,
        ..Usage::default()
    }
}

const ANTHROPIC_REQUEST: &[u8] =
    br#"{"model":"claude-sonnet-4-20250514","max_tokens":64,"messages":[{"role":"user","content":"Bonjour"}]}"#;
const ANTHROPIC_STREAM_REQUEST: &[u8] =
    br#"{"model":"claude-sonnet-4-20250514","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Bonjour"}]}"#;

fn anthropic(request: &[u8], resp: Response) -> Record {
    let req = vec![
        ("x-api-key", "sk-ant-test".into()),
        ("anthropic-version", "2023-06-01".into()),
    ];
    run("/v1/messages", req, request, resp)
}

#[test]
fn anthropic_json_counts_the_prompt_as_litellm_does() {
    let body = fixture!("anthropic_message.json");
    every_split(
        body,
        |pieces| {
            anthropic(
                ANTHROPIC_REQUEST,
                Response {
                    status: 200,
                    headers: content_type("application/json"),
                    pieces,
                },
            )
        },
        |r| {
            assert_eq!(r.native, Some(NativeApi::AnthropicMessages));
            assert_eq!(r.api, None);
            // LiteLLM: prompt = input 12 + cache read 2048 + cache creation 1024.
            assert_eq!(r.usage, Some(usage(3084, 15, 2048, 1024, 0)));
            assert_eq!(
                r.response_model.as_deref(),
                Some("claude-sonnet-4-20250514")
            );
            assert_eq!(
                r.requested_model.as_deref(),
                Some("claude-sonnet-4-20250514")
            );
            assert_eq!(r.service_tier.as_deref(), Some("standard"));
            assert_eq!(r.caller.api_key.as_deref(), Some("sk-ant-test"));
            assert!(!r.stream && r.succeeded() && r.problems.is_empty());
        },
    );
}

#[test]
fn anthropic_stream_split_at_every_offset() {
    let body = fixture!("anthropic_stream.sse");
    every_split(
        body,
        |pieces| {
            anthropic(
                ANTHROPIC_STREAM_REQUEST,
                Response {
                    status: 200,
                    headers: content_type("text/event-stream; charset=utf-8"),
                    pieces,
                },
            )
        },
        |r| {
            let u = r.usage.unwrap();
            assert_eq!((u.input, u.output, u.total), (3084, 87, 3171));
            assert_eq!((u.input_cached, u.input_cache_creation), (2048, 1024));
            assert!(r.stream && !r.stream_without_usage && r.succeeded());
            assert!(r.time_to_first_token_us().is_some());
            assert!(r.problems.is_empty(), "{:?}", r.problems);
        },
    );
}

#[test]
fn anthropic_rate_limit_headers_and_error_class() {
    let mut headers = content_type("application/json");
    headers.push(("anthropic-ratelimit-requests-remaining", "0".into()));
    headers.push(("anthropic-ratelimit-requests-limit", "50".into()));
    let r = anthropic(
        ANTHROPIC_REQUEST,
        Response {
            status: 429,
            headers,
            pieces: vec![fixture!("anthropic_error_429.json")],
        },
    );
    assert!(!r.succeeded());
    assert_eq!(r.rate_limits.remaining_requests, Some(0));
    assert_eq!(r.rate_limits.limit_requests, Some(50));
    assert_eq!(
        r.provider_exception_class("anthropic"),
        Some("RateLimitError")
    );
    let r = anthropic(
        ANTHROPIC_REQUEST,
        Response {
            status: 400,
            headers: content_type("application/json"),
            pieces: vec![fixture!("anthropic_error_400_prompt_too_long.json")],
        },
    );
    assert_eq!(
        r.provider_exception_class("anthropic"),
        Some("ContextWindowExceededError")
    );
}

#[test]
fn anthropic_error_inside_a_stream_fails_the_request() {
    let r = anthropic(
        ANTHROPIC_STREAM_REQUEST,
        Response {
            status: 200,
            headers: content_type("text/event-stream"),
            pieces: vec![fixture!("anthropic_stream_error.sse")],
        },
    );
    assert_eq!(r.status, 200);
    assert!(!r.succeeded());
    assert_eq!(
        r.provider_error.as_ref().map(|e| e.kind()),
        Some("overloaded_error")
    );
    assert_eq!(
        r.provider_exception_class("anthropic"),
        Some("InternalServerError")
    );
}

fn gemini(path: &str, resp: Response) -> Record {
    let req = vec![("x-goog-api-key", "AIza-test".into())];
    run(
        path,
        req,
        br#"{"contents":[{"parts":[{"text":"Bonjour"}]}]}"#,
        resp,
    )
}

#[test]
fn gemini_json_model_from_the_path_and_usage_metadata() {
    let r = gemini(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        Response {
            status: 200,
            headers: content_type("application/json; charset=UTF-8"),
            pieces: vec![fixture!("gemini_generate.json")],
        },
    );
    assert_eq!(r.requested_model.as_deref(), Some("gemini-2.5-flash"));
    let u = r.usage.unwrap();
    assert_eq!(
        (u.input, u.output, u.total, u.input_cached),
        (1043, 40, 1083, 1024)
    );
    assert_eq!(u.output_reasoning, 28);
    assert_eq!(r.caller.api_key.as_deref(), Some("AIza-test"));
    assert!(!r.stream && r.problems.is_empty());
}

#[test]
fn gemini_streams_as_array_and_sse_split_at_every_offset() {
    for (path, body, ct) in [
        (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            fixture!("gemini_stream.json"),
            "application/json; charset=UTF-8",
        ),
        (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            fixture!("gemini_stream.sse"),
            "text/event-stream",
        ),
    ] {
        every_split(
            body,
            |pieces| {
                gemini(
                    path,
                    Response {
                        status: 200,
                        headers: content_type(ct),
                        pieces,
                    },
                )
            },
            |r| {
                let u = r.usage.unwrap();
                assert_eq!((u.input, u.output, u.total), (9, 40, 49), "{path}");
                assert_eq!(r.response_model.as_deref(), Some("gemini-2.5-flash"));
                assert!(r.stream && r.problems.is_empty(), "{path} {:?}", r.problems);
            },
        );
    }
}

#[test]
fn gemini_key_in_the_query_identifies_the_caller() {
    let r = run(
        "/v1beta/models/gemini-2.5-flash:generateContent?key=AIza-query",
        vec![],
        b"{}",
        Response {
            status: 200,
            headers: content_type("application/json"),
            pieces: vec![fixture!("gemini_generate.json")],
        },
    );
    assert_eq!(r.caller.api_key.as_deref(), Some("AIza-query"));
}

const SIGV4: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024";

fn bedrock(path: &str, resp: Response) -> Record {
    let req = vec![("authorization", SIGV4.to_owned())];
    run(path, req, br#"{"messages":[]}"#, resp)
}

const CONVERSE_STREAM: &str = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream";

#[test]
fn bedrock_caller_is_the_access_key_id_never_the_signature() {
    let r = bedrock(
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
        Response {
            status: 200,
            headers: content_type("application/json"),
            pieces: vec![fixture!("bedrock_converse.json")],
        },
    );
    assert_eq!(r.caller.api_key.as_deref(), Some("AKIAIOSFODNN7EXAMPLE"));
    assert_eq!(
        r.requested_model.as_deref(),
        Some("anthropic.claude-3-5-sonnet-20240620-v1:0")
    );
    assert_eq!(
        r.usage,
        Some(usage(1049, 48, 0, 1024, 0)).map(|mut u| {
            u.total = 1097;
            u
        })
    );
}

#[test]
fn bedrock_event_streams_split_at_every_offset() {
    for (path, body, input, output) in [
        (
            CONVERSE_STREAM,
            fixture!("bedrock_converse_stream.eventstream"),
            533,
            11,
        ),
        (
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream",
            fixture!("bedrock_invoke_stream.eventstream"),
            3086,
            12,
        ),
    ] {
        let expected = bedrock(
            path,
            Response {
                status: 200,
                headers: content_type("application/vnd.amazon.eventstream"),
                pieces: vec![body],
            },
        )
        .usage
        .unwrap();
        assert_eq!((expected.input, expected.output), (input, output), "{path}");
        every_split(
            body,
            |pieces| {
                bedrock(
                    path,
                    Response {
                        status: 200,
                        headers: content_type("application/vnd.amazon.eventstream"),
                        pieces,
                    },
                )
            },
            |r| {
                assert_eq!(r.usage, Some(expected), "{path}");
                assert!(r.stream && r.succeeded() && r.problems.is_empty(), "{path}");
            },
        );
    }
}

#[test]
fn bedrock_throttled_stream_is_a_rate_limit_failure() {
    let r = bedrock(
        CONVERSE_STREAM,
        Response {
            status: 200,
            headers: content_type("application/vnd.amazon.eventstream"),
            pieces: vec![fixture!("bedrock_converse_stream_throttled.eventstream")],
        },
    );
    assert!(!r.succeeded());
    assert_eq!(
        r.provider_exception_class("bedrock"),
        Some("RateLimitError")
    );
}

#[test]
fn corrupt_event_stream_is_counted_under_its_own_reason() {
    let mut body = fixture!("bedrock_converse_stream.eventstream").to_vec();
    // A flipped payload byte in the first message: its CRC no longer matches.
    body[20] ^= 0x55;
    let r = bedrock(
        CONVERSE_STREAM,
        Response {
            status: 200,
            headers: content_type("application/vnd.amazon.eventstream"),
            pieces: vec![&body],
        },
    );
    assert_eq!(r.problems, vec![BodyProblem::ResponseMalformedEventStream]);
    assert_eq!(
        BodyProblem::ResponseMalformedEventStream.as_str(),
        "response_malformed_event_stream"
    );
}
