//! One exchange's life, fed the shared fixtures whole and split at every offset.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llm_telemetry_core::config::{self, Config};
use llm_telemetry_core::exchange::{BodyProblem, Exchange, Headers, Record, RequestBodyAction};
use llm_telemetry_core::route::classify;
use llm_telemetry_core::usage::Usage;

const CHAT_JSON: &[u8] = include_bytes!("../../../tests/fixtures/chat_completion.json");
const CHAT_SSE: &[u8] = include_bytes!("../../../tests/fixtures/chat_stream_usage.sse");
const CHAT_SSE_NO_USAGE: &[u8] = include_bytes!("../../../tests/fixtures/chat_stream_no_usage.sse");
const RESPONSES_SSE: &[u8] = include_bytes!("../../../tests/fixtures/responses_stream.sse");
const RESPONSES_JSON: &[u8] = include_bytes!("../../../tests/fixtures/responses.json");
const EMBEDDINGS: &[u8] = include_bytes!("../../../tests/fixtures/embeddings.json");
const MALFORMED: &[u8] = include_bytes!("../../../tests/fixtures/malformed_syntax.json");

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

const CHAT_REQUEST: &[u8] =
    br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi there"}],"user":"u-1"}"#;
const STREAM_REQUEST: &[u8] =
    br#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o","stream":true}"#;

/// Runs one exchange: request body in one piece, response body in the given pieces.
fn run(
    path: &str,
    request: &[u8],
    status: u16,
    content_type: &str,
    pieces: &[&[u8]],
    encoding: Option<&str>,
) -> (Record, Option<Vec<u8>>) {
    let cfg = config();
    let mut ex = Exchange::new(classify("POST", path).unwrap(), &cfg, 1_000_000_000);
    let req_headers = Map(vec![
        ("content-length", request.len().to_string()),
        ("authorization", "Bearer sk-test".into()),
        ("user-agent", "curl/8".into()),
    ]);
    let held = ex.on_request_headers(&req_headers, Some("10.0.0.1".into()), &cfg, false);
    let replaced = match ex.on_request_body(request, true) {
        RequestBodyAction::Replace(b) => Some(b),
        RequestBodyAction::Continue => None,
    };
    let _ = held;
    let mut resp = vec![
        (":status", status.to_string()),
        ("content-type", content_type.to_owned()),
    ];
    if let Some(e) = encoding {
        resp.push(("content-encoding", e.to_owned()));
    }
    resp.push(("x-ratelimit-remaining-requests", "0".into()));
    ex.on_response_headers(&Map(resp), false);
    let mut t = 2_000_000_000;
    for p in pieces {
        ex.on_response_body(p, false, t);
        t += 1_000_000;
    }
    ex.on_response_body(&[], true, 3_000_000_000);
    (
        ex.finish(3_500_000_000, Some("127.0.0.1:18080".into()))
            .unwrap(),
        replaced,
    )
}

fn every_split(body: &[u8], check: impl Fn(&Record)) {
    for cut in 0..=body.len() {
        let (a, b) = body.split_at(cut);
        let (rec, _) = run(
            "/v1/chat/completions",
            CHAT_REQUEST,
            200,
            "application/json",
            &[a, b],
            None,
        );
        check(&rec);
    }
}

#[test]
fn chat_completion_usage_split_at_every_offset() {
    let expected = Usage {
        input: 19,
        output: 10,
        total: 29,
        input_cached: 3,
        input_cache_creation: 0,
        output_reasoning: 2,
        input_audio: 0,
        output_audio: 0,
    };
    every_split(CHAT_JSON, |rec| {
        assert_eq!(rec.usage, Some(expected));
        assert_eq!(rec.response_model.as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(rec.requested_model.as_deref(), Some("gpt-4o"));
        assert!(rec.problems.is_empty(), "{:?}", rec.problems);
    });
    let bytes: Vec<&[u8]> = CHAT_JSON.chunks(1).collect();
    let (rec, _) = run(
        "/v1/chat/completions",
        CHAT_REQUEST,
        200,
        "application/json",
        &bytes,
        None,
    );
    assert_eq!(rec.usage, Some(expected));
    assert_eq!(rec.end_user.as_deref(), Some("u-1"));
    assert_eq!(rec.caller.client_ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(rec.rate_limits.remaining_requests, Some(0));
    assert_eq!(
        rec.messages_preview, None,
        "the prompt is read only for alerts"
    );
}

#[test]
fn chat_stream_usage_comes_from_the_event_that_carries_it() {
    for cut in 0..=CHAT_SSE.len() {
        let (a, b) = CHAT_SSE.split_at(cut);
        let (rec, _) = run(
            "/v1/chat/completions",
            STREAM_REQUEST,
            200,
            "text/event-stream",
            &[a, b],
            None,
        );
        let u = rec.usage.unwrap();
        assert_eq!((u.input, u.output, u.total), (19, 10, 29), "cut at {cut}");
        assert!(rec.stream && !rec.stream_without_usage);
        assert!(rec.problems.is_empty());
    }
    let bytes: Vec<&[u8]> = CHAT_SSE.chunks(1).collect();
    let (rec, _) = run(
        "/v1/chat/completions",
        STREAM_REQUEST,
        200,
        "text/event-stream",
        &bytes,
        None,
    );
    assert_eq!(rec.usage.map(|u| u.total), Some(29));
    assert_eq!(rec.time_to_first_token_us(), Some(1_000_000));
}

#[test]
fn stream_without_usage_is_marked_and_invents_nothing() {
    let (rec, _) = run(
        "/v1/chat/completions",
        STREAM_REQUEST,
        200,
        "text/event-stream",
        &[CHAT_SSE_NO_USAGE],
        None,
    );
    assert_eq!(rec.usage, None);
    assert!(rec.stream_without_usage);
    assert!(rec.response_model.is_some());
}

#[test]
fn streaming_request_gets_include_usage_and_keeps_every_other_byte() {
    let (rec, replaced) = run(
        "/v1/chat/completions",
        STREAM_REQUEST,
        200,
        "text/event-stream",
        &[CHAT_SSE],
        None,
    );
    let body = replaced.expect("rewritten");
    assert_eq!(
        body,
        br#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#.to_vec()
    );
    assert!(rec.usage_injected);
    // Explicit false is not asking for usage: it is turned on, through serde.
    let req = br#"{"model":"m","stream":true,"stream_options":{"include_usage":false}}"#;
    let (_, replaced) = run(
        "/v1/chat/completions",
        req,
        200,
        "text/event-stream",
        &[CHAT_SSE],
        None,
    );
    assert_eq!(
        replaced, None,
        "stream_options without usage is the client's choice"
    );
    // Already asking, or not streaming, or not chat: untouched.
    for (path, req) in [
        (
            "/v1/chat/completions",
            &br#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#[..],
        ),
        ("/v1/chat/completions", CHAT_REQUEST),
        (
            "/v1/responses",
            &br#"{"model":"m","stream":true,"input":"x"}"#[..],
        ),
    ] {
        let (rec, replaced) = run(path, req, 200, "application/json", &[], None);
        assert_eq!(replaced, None, "{path}");
        assert!(!rec.usage_injected);
    }
}

/// The member goes into whichever chunk holds the closing brace, wherever the body is cut, and
/// no chunk before it is held or changed: bodies of any size get usage.
#[test]
fn include_usage_is_added_in_the_chunk_with_the_closing_brace_at_every_split() {
    let cfg = config();
    let expected: &[u8] = br#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}} "#;
    let body: &[u8] =
        br#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o","stream":true} "#;
    for cut in 0..=body.len() {
        let mut ex = Exchange::new(classify("POST", "/v1/chat/completions").unwrap(), &cfg, 0);
        assert!(ex.on_request_headers(&Map(vec![]), None, &cfg, false));
        let mut sent = Vec::new();
        for (i, part) in [&body[..cut], &body[cut..]].into_iter().enumerate() {
            match ex.on_request_body(part, i == 1) {
                RequestBodyAction::Replace(b) => sent.extend(b),
                RequestBodyAction::Continue => sent.extend_from_slice(part),
            }
        }
        assert_eq!(sent, expected, "cut at {cut}");
        let rec = ex.finish(1, None).unwrap();
        assert!(rec.usage_injected && rec.stream);
        assert_eq!(rec.requested_model.as_deref(), Some("gpt-4o"));
    }
    // A compressed request body is never touched.
    let mut ex = Exchange::new(classify("POST", "/v1/chat/completions").unwrap(), &cfg, 0);
    assert!(!ex.on_request_headers(
        &Map(vec![("content-encoding", "gzip".into())]),
        None,
        &cfg,
        false
    ));
}

#[test]
fn responses_api_stream_and_json() {
    for cut in (0..=RESPONSES_SSE.len()).step_by(7) {
        let (a, b) = RESPONSES_SSE.split_at(cut);
        let req = br#"{"model":"gpt-4o","input":"hello","stream":true}"#;
        let (rec, replaced) = run(
            "/v1/responses",
            req,
            200,
            "text/event-stream",
            &[a, b],
            None,
        );
        assert_eq!(replaced, None);
        let u = rec.usage.unwrap();
        assert_eq!(
            (
                u.input,
                u.output,
                u.total,
                u.input_cached,
                u.output_reasoning
            ),
            (36, 87, 123, 4, 5)
        );
    }
    let (rec, _) = run(
        "/v1/responses",
        br#"{"model":"gpt-4o","input":"hello"}"#,
        200,
        "application/json",
        &[RESPONSES_JSON],
        None,
    );
    assert_eq!(rec.usage.map(|u| (u.input, u.output)), Some((36, 87)));
}

#[test]
fn embeddings_usage() {
    let (rec, _) = run(
        "/v1/embeddings",
        br#"{"model":"text-embedding-3-small","input":"x"}"#,
        200,
        "application/json",
        &[EMBEDDINGS],
        None,
    );
    assert_eq!(
        rec.usage.map(|u| (u.input, u.output, u.total)),
        Some((8, 0, 8))
    );
    assert_eq!(
        rec.response_model.as_deref(),
        Some("text-embedding-3-small")
    );
}

#[test]
fn gzip_response_is_read_without_touching_it() {
    let gz = gzip(CHAT_JSON);
    for cut in (0..=gz.len()).step_by(5) {
        let (a, b) = gz.split_at(cut);
        let (rec, _) = run(
            "/v1/chat/completions",
            CHAT_REQUEST,
            200,
            "application/json",
            &[a, b],
            Some("gzip"),
        );
        assert_eq!(rec.usage.map(|u| u.total), Some(29), "cut {cut}");
    }
    let (rec, _) = run(
        "/v1/chat/completions",
        CHAT_REQUEST,
        200,
        "application/json",
        &[b"\x1f\x8b junk"],
        Some("gzip"),
    );
    assert_eq!(rec.problems, vec![BodyProblem::DecodeError]);
    let (rec, _) = run(
        "/v1/chat/completions",
        CHAT_REQUEST,
        200,
        "application/json",
        &[b"...."],
        Some("br"),
    );
    assert_eq!(rec.problems, vec![BodyProblem::UnsupportedEncoding]);
    assert_eq!(rec.usage, None);
}

#[test]
fn malformed_bodies_are_counted_not_guessed() {
    let (rec, _) = run(
        "/v1/chat/completions",
        CHAT_REQUEST,
        200,
        "application/json",
        &[MALFORMED],
        None,
    );
    assert_eq!(rec.problems, vec![BodyProblem::ResponseMalformedJson]);
    assert_eq!(rec.usage, None);
    let (rec, _) = run(
        "/v1/chat/completions",
        b"{not json",
        200,
        "application/json",
        &[CHAT_JSON],
        None,
    );
    assert_eq!(rec.problems, vec![BodyProblem::RequestMalformedJson]);
    assert_eq!(rec.usage.map(|u| u.total), Some(29));
}

#[test]
fn errors_carry_status_and_message() {
    let body = br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
    let (rec, _) = run(
        "/v1/chat/completions",
        CHAT_REQUEST,
        429,
        "application/json",
        &[body],
        None,
    );
    assert_eq!(rec.status, 429);
    assert!(!rec.succeeded());
    assert_eq!(rec.error_message.as_deref(), Some("Rate limit reached"));
}

#[test]
fn no_response_at_all_is_status_zero() {
    let cfg = config();
    let mut ex = Exchange::new(classify("POST", "/v1/chat/completions").unwrap(), &cfg, 5);
    ex.on_request_headers(&Map(vec![]), None, &cfg, true);
    ex.on_request_end();
    let rec = ex.finish(9, None).unwrap();
    assert_eq!(rec.status, 0);
    assert!(ex.finish(10, None).is_none(), "finished once");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
    let crc = crc32(data);
    out.extend(crc.to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn the_prompt_is_read_when_alerting_quotes_it() {
    let cfg = config::parse(br#"{"general_settings":{"alerting":["slack"]}}"#, &|_| None)
        .unwrap()
        .config;
    let mut ex = Exchange::new(classify("POST", "/v1/chat/completions").unwrap(), &cfg, 0);
    ex.on_request_headers(&Map(vec![]), None, &cfg, false);
    ex.on_request_body(CHAT_REQUEST, true);
    let rec = ex.finish(2, None).unwrap();
    assert_eq!(
        rec.messages_preview.as_deref(),
        Some("[{'role': 'user', 'content': 'hi there'}]")
    );
}

/// Found by fuzzing: a stream's error event was recognised only when its first fragment held
/// the whole `{"type":"error"` prefix; a chunk boundary inside it lost the error message.
#[test]
fn stream_error_event_is_read_whatever_the_split() {
    let body: &[u8] = b"data: {\"type\":\"response.created\",\"response\":{\"model\":\"gpt-4o\"}}\n\ndata:  {\"type\":\"error\",\"error\":{\"message\":\"boom\"}}\n\ndata: {\"error\":\"flat\"}\n\n";
    for cut in 0..=body.len() {
        let (a, b) = body.split_at(cut);
        let (rec, _) = run(
            "/v1/responses",
            br#"{"model":"gpt-4o","input":"hi","stream":true}"#,
            200,
            "text/event-stream",
            &[a, b],
            None,
        );
        assert_eq!(rec.error_message.as_deref(), Some("boom"), "cut at {cut}");
        assert_eq!(
            rec.response_model.as_deref(),
            Some("gpt-4o"),
            "cut at {cut}"
        );
    }
}

/// `json_string` reads plain strings itself and the rest through serde: both agree with serde
/// on every input, malformed ones included.
#[test]
fn json_string_agrees_with_serde() {
    use llm_telemetry_core::exchange::json_string;
    let cases: &[&[u8]] = &[
        b"\"gpt-4o\"",
        b"\"\"",
        b"\"",
        b"\"caf\xc3\xa9\"",
        b"\"caf\xc3\"",
        b"\"a\\\"b\"",
        b"\"\\u00e9\"",
        b"\"a\x01b\"",
        b"\"a\"b\"",
        b" \"x\" ",
        b"\x0c\"x\"",
        b"\"x\"\n",
        b"null",
        b"42",
        b"\"\\ud800\"",
    ];
    for raw in cases {
        let serde = serde_json::from_slice::<String>(raw).ok();
        assert_eq!(
            json_string(raw),
            serde,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

/// A chunk the host would not hand over: the body is counted `host_read_failed` once, never as
/// malformed, and what was read before the hole still counts.
#[test]
fn a_chunk_the_host_would_not_hand_over_is_counted_as_such_not_as_malformed() {
    let cfg = config();
    let mut ex = Exchange::new(
        classify("POST", "/v1/chat/completions").unwrap(),
        &cfg,
        1_000_000_000,
    );
    let headers = Map(vec![("content-type", "application/json".into())]);
    let _ = ex.on_request_headers(&headers, None, &cfg, false);
    let (head, _) = CHAT_REQUEST.split_at(30);
    let _ = ex.on_request_body(head, false);
    ex.on_request_body_unreadable(false);
    // Bytes after the hole are not fed: the half-read document is not called malformed.
    let _ = ex.on_request_body(b"garbage", true);
    let resp = Map(vec![
        (":status", "200".into()),
        ("content-type", "application/json".into()),
    ]);
    ex.on_response_headers(&resp, false);
    let (first, rest) = CHAT_JSON.split_at(CHAT_JSON.len() / 2);
    ex.on_response_body(first, false, 2_000_000_000);
    ex.on_response_body_unreadable(false, 0);
    ex.on_response_body_unreadable(false, 0);
    ex.on_response_body(rest, true, 3_000_000_000);
    let rec = ex.finish(3_500_000_000, None).unwrap();
    assert_eq!(
        rec.problems,
        vec![BodyProblem::HostReadFailed, BodyProblem::HostReadFailed]
    );
    assert_eq!(rec.problems[0].as_str(), "host_read_failed");
    assert_eq!(rec.requested_model.as_deref(), Some("gpt-4o"));
    assert_eq!(rec.usage, None);
    assert_eq!(rec.first_byte_ns, Some(2_000_000_000));
    assert_eq!(rec.end_ns, 3_000_000_000);
}

/// The first response chunk unreadable: its arrival is still the first byte.
#[test]
fn an_unreadable_first_chunk_still_times_the_first_byte() {
    let cfg = config();
    let mut ex = Exchange::new(
        classify("POST", "/v1/chat/completions").unwrap(),
        &cfg,
        1_000_000_000,
    );
    let _ = ex.on_request_headers(&Map(vec![]), None, &cfg, false);
    let _ = ex.on_request_body(CHAT_REQUEST, true);
    let resp = Map(vec![
        (":status", "200".into()),
        ("content-type", "text/event-stream".into()),
    ]);
    ex.on_response_headers(&resp, false);
    ex.on_response_body_unreadable(true, 2_500_000_000);
    let rec = ex.finish(3_500_000_000, None).unwrap();
    assert_eq!(rec.problems, vec![BodyProblem::HostReadFailed]);
    assert_eq!(rec.first_byte_ns, Some(2_500_000_000));
    assert!(!rec.stream_without_usage);
}

/// An event whose data starts with a NUL byte is garbage however the stream is cut (a NUL once
/// read as "no data yet" made the whole stream look clean and a split one malformed).
#[test]
fn an_event_starting_with_a_nul_byte_is_garbage_at_every_split() {
    let stream: &[u8] =
        b"data: \0\0{\"id\":\"c\",\"choices\":[]}\n\ndata: {\"id\":\"c\",\"choices\":[]}\n\ndata: [DONE]\n\n";
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        let (rec, _) = run(
            "/v1/chat/completions",
            STREAM_REQUEST,
            200,
            "text/event-stream",
            &[a, b],
            None,
        );
        assert_eq!(
            rec.problems,
            vec![BodyProblem::ResponseMalformedSse],
            "cut at {cut}"
        );
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    let (rec, _) = run(
        "/v1/chat/completions",
        STREAM_REQUEST,
        200,
        "text/event-stream",
        &bytes,
        None,
    );
    assert_eq!(
        rec.problems,
        vec![BodyProblem::ResponseMalformedSse],
        "byte by byte"
    );
}
