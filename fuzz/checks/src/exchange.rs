//! A whole `Exchange`: request headers and body, response headers and body (JSON or SSE,
//! identity, gzip or deflate), end and `finish`, as the host drives it.
//!
//! Input: a flag byte, the request body, the separator `\n\x1e\n`, the response body (plain:
//! the check compresses it when the flags ask). Flags: bits 0-1 the API (chat, completions,
//! responses, Azure chat), bit 2 SSE, bit 3 compressed (bit 7: deflate instead of gzip), bit 4
//! alerting on (the prompt is captured), bits 5-6 the status (200, 200, 429, 500).
//!
//! Properties:
//! - every split of the request and of the (compressed) response body, and every way the host
//!   may signal the ends (end of stream on the last chunk, an empty final chunk, trailers), gives
//!   the same `Record` and the same bytes forwarded upstream as everything fed whole;
//! - a compressed response gives the `Record` of the same body sent plain;
//! - the request is forwarded byte for byte, or with `"stream_options":{"include_usage":true}`
//!   added before the root's closing brace; on JSON exactly when it is a streamed chat or
//!   completions request without `stream_options`, and the result is that JSON with the member;
//! - the request (and a JSON response) is counted malformed exactly when serde_json refuses it;
//! - `finish` gives the record once.

use std::sync::OnceLock;

use llm_telemetry_core::config::{parse, Config};
use llm_telemetry_core::exchange::{BodyProblem, Exchange, Headers, RequestBodyAction};
use llm_telemetry_core::route::classify;
use serde_json::Value;

use crate::decode::gzip_member;
use crate::reference::{scanner_accepts, tree, Key, Node};
use crate::split::{pieces, plans, Rng};

/// Separates the request body from the response body in an input.
pub const SEPARATOR: &[u8] = b"\n\x1e\n";

const PATHS: [&str; 4] = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/responses",
    "/openai/deployments/dep-1/chat/completions?api-version=2024-10-21",
];
const STATUS: [u16; 4] = [200, 200, 429, 500];
/// What the filter adds to a streamed request without `stream_options`.
const MEMBER: &[u8] = br#","stream_options":{"include_usage":true}"#;

/// Builds an input from its parts (the seeds and the stable replay's generator use it).
pub fn input(flags: u8, request: &[u8], response: &[u8]) -> Vec<u8> {
    [&[flags][..], request, SEPARATOR, response].concat()
}

fn configs() -> &'static [Config; 2] {
    static CONFIGS: OnceLock<[Config; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let load = |json: &[u8]| parse(json, &|_| None).map(|l| l.config).unwrap_or_default();
        [
            load(b"{}"),
            load(br#"{"general_settings":{"alerting":["slack"]}}"#),
        ]
    })
}

struct HeaderList(Vec<(&'static str, String)>);

impl Headers for HeaderList {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

/// How the host tells the exchange a body is over.
#[derive(Clone, Copy, Debug)]
enum End {
    /// End of stream on the last data chunk.
    LastChunk,
    /// An empty chunk with end of stream.
    EmptyChunk,
    /// Trailers: no body callback carries end of stream.
    Trailers,
}

const ENDS: [End; 3] = [End::LastChunk, End::EmptyChunk, End::Trailers];

/// One run of an exchange: the record (as `Debug` text) and the request bytes forwarded.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    record: String,
    forwarded: Vec<u8>,
    injected: bool,
    problems: Vec<BodyProblem>,
}

struct Case<'a> {
    path: &'static str,
    config: &'static Config,
    status: u16,
    content_type: &'static str,
    encoding: Option<&'static str>,
    request: Vec<&'a [u8]>,
    response: Vec<&'a [u8]>,
}

fn run(case: &Case<'_>, request_end: End, response_end: End) -> Run {
    const T: u64 = 2_000_000;
    let cfg = case.config;
    let Some(route) = classify("POST", case.path) else {
        panic!("{} is an LLM route", case.path);
    };
    let mut ex = Exchange::new(route, cfg, 1_000_000);
    let request_headers = HeaderList(vec![
        ("authorization", "Bearer sk-fuzz".to_owned()),
        ("user-agent", "fuzz/1".to_owned()),
        ("x-forwarded-for", "10.1.2.3, 10.0.0.1".to_owned()),
        ("content-type", "application/json".to_owned()),
    ]);
    let headers_only = case.request.iter().all(|c| c.is_empty());
    ex.on_request_headers(
        &request_headers,
        Some("127.0.0.1".into()),
        cfg,
        headers_only,
    );
    let mut forwarded = Vec::new();
    if headers_only {
        ex.on_request_end();
    } else {
        let n = case.request.len();
        for (i, chunk) in case.request.iter().enumerate() {
            let eos = i + 1 == n && matches!(request_end, End::LastChunk);
            match ex.on_request_body(chunk, eos) {
                RequestBodyAction::Continue => forwarded.extend_from_slice(chunk),
                RequestBodyAction::Replace(bytes) => forwarded.extend_from_slice(&bytes),
            }
        }
        match request_end {
            End::LastChunk => {}
            End::EmptyChunk => {
                assert_eq!(ex.on_request_body(&[], true), RequestBodyAction::Continue);
            }
            End::Trailers => ex.on_request_end(),
        }
    }
    let mut response_headers = vec![
        (":status", case.status.to_string()),
        ("content-type", case.content_type.to_owned()),
        ("x-ratelimit-remaining-requests", "7".to_owned()),
    ];
    if let Some(e) = case.encoding {
        response_headers.push(("content-encoding", e.to_owned()));
    }
    ex.on_response_headers(&HeaderList(response_headers), false);
    let n = case.response.len();
    for (i, chunk) in case.response.iter().enumerate() {
        let eos = i + 1 == n && matches!(response_end, End::LastChunk);
        ex.on_response_body(chunk, eos, T);
    }
    match response_end {
        End::LastChunk => {}
        End::EmptyChunk => ex.on_response_body(&[], true, T),
        End::Trailers => ex.on_response_end(T),
    }
    let Some(record) = ex.finish(3_000_000, Some("127.0.0.1:8080".into())) else {
        panic!("the first finish gives the record");
    };
    assert!(
        ex.finish(4_000_000, None).is_none(),
        "a record is given once"
    );
    Run {
        record: format!("{record:?}"),
        forwarded,
        injected: record.usage_injected,
        problems: record.problems,
    }
}

/// Where two runs differ, for the failure message: the records around their first difference.
fn difference(got: &Run, want: &Run) -> String {
    if got.forwarded != want.forwarded {
        return format!(
            "forwarded {:?} vs {:?}",
            String::from_utf8_lossy(&got.forwarded),
            String::from_utf8_lossy(&want.forwarded)
        );
    }
    let (a, b) = (got.record.as_bytes(), want.record.as_bytes());
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(60);
    let around = |r: &str| r.get(from..(at + 120).min(r.len())).unwrap_or(r).to_owned();
    format!(
        "record …{}… vs …{}…",
        around(&got.record),
        around(&want.record)
    )
}

/// The first value at a root key (raw key bytes compared).
fn root_member<'a>(root: &Node<'a>, key: &str) -> Option<&'a str> {
    let Node::Object(_, members) = root else {
        return None;
    };
    members
        .iter()
        .find(|(k, _)| *k == Key::Some(key.as_bytes()))
        .map(|(_, v)| v.raw())
}

/// The request-side properties of one run against the request bytes.
fn check_request(run: &Run, request: &[u8], api_reads_stream_usage: bool) {
    let valid = scanner_accepts(request);
    assert_eq!(
        run.problems.contains(&BodyProblem::RequestMalformedJson),
        !request.is_empty() && !valid,
        "request counted malformed iff it is not JSON"
    );
    if !run.injected {
        assert!(
            run.forwarded == request,
            "the request is forwarded untouched"
        );
    } else {
        // The member starts with `,` and goes before a `}`: the first byte where the forwarded
        // request differs from the request is where it went.
        let at = run
            .forwarded
            .iter()
            .zip(request)
            .position(|(f, r)| f != r)
            .unwrap_or(request.len());
        assert!(
            run.forwarded[at..].starts_with(MEMBER),
            "the member was added"
        );
        assert!(
            run.forwarded[at + MEMBER.len()..] == request[at..],
            "only the member was added"
        );
        assert_eq!(request.get(at), Some(&b'}'), "added before a brace");
    }
    let Some(root) = tree(request) else {
        return;
    };
    let expect_injection = api_reads_stream_usage
        && root_member(&root, "stream") == Some("true")
        && root_member(&root, "stream_options").is_none();
    assert_eq!(
        run.injected, expect_injection,
        "stream_options added iff needed"
    );
    if run.injected {
        let (Ok(mut want), Ok(got)) = (
            serde_json::from_slice::<Value>(request),
            serde_json::from_slice::<Value>(&run.forwarded),
        ) else {
            panic!("the forwarded request is JSON");
        };
        if let Some(m) = want.as_object_mut() {
            m.insert(
                "stream_options".into(),
                serde_json::json!({"include_usage": true}),
            );
        }
        assert_eq!(
            got, want,
            "the forwarded request is the request plus the member"
        );
    }
}

/// The exchange's properties on `data` (see the module documentation).
pub fn check(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (request, plain) = match rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        Some(i) => (&rest[..i], &rest[i + SEPARATOR.len()..]),
        None => (rest, &b""[..]),
    };
    let path = PATHS[usize::from(flags & 3)];
    let sse = flags & 4 != 0;
    let compressed = flags & 8 != 0;
    let deflate = flags & 0x80 != 0;
    let config = &configs()[usize::from(flags >> 4 & 1)];
    let status = STATUS[usize::from(flags >> 5 & 3)];
    let (encoding, wire) = match (compressed, deflate) {
        (false, _) => (None, plain.to_vec()),
        (true, false) => (Some("gzip"), gzip_member(plain, 1, 0)),
        (true, true) => {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut z, plain).unwrap_or_default();
            (Some("deflate"), z.finish().unwrap_or_default())
        }
    };
    let content_type = if sse {
        "text/event-stream; charset=utf-8"
    } else {
        "application/json"
    };
    let mut rng = Rng::from_bytes(data);
    let whole = Case {
        path,
        config,
        status,
        content_type,
        encoding,
        request: vec![request],
        response: vec![&wire],
    };
    let want = run(&whole, End::LastChunk, End::LastChunk);
    let api_reads_stream_usage = !path.contains("/responses");
    check_request(&want, request, api_reads_stream_usage);
    if !sse && !compressed {
        assert_eq!(
            want.problems.contains(&BodyProblem::ResponseMalformedJson),
            !plain.is_empty() && !scanner_accepts(plain),
            "JSON response counted malformed iff it is not JSON"
        );
    }
    // (An empty body compressed is not empty: the first byte's time differs, rightly.)
    if compressed && !plain.is_empty() {
        let identity = Case {
            encoding: None,
            response: vec![plain],
            ..whole
        };
        let got = run(&identity, End::LastChunk, End::LastChunk);
        assert!(
            got == want,
            "compressed and plain bodies read differently: {}",
            difference(&got, &want)
        );
    }
    let request_plans = plans(request.len(), &mut rng);
    let response_plans = plans(wire.len(), &mut rng);
    for i in 0..request_plans.len().max(response_plans.len()) {
        let req_cuts = &request_plans[i % request_plans.len()];
        let resp_cuts = &response_plans[i % response_plans.len()];
        let split = Case {
            path,
            config,
            status,
            content_type,
            encoding,
            request: pieces(request, req_cuts),
            response: pieces(&wire, resp_cuts),
        };
        let ends = (ENDS[i % 3], ENDS[(i / 3 + i) % 3]);
        let got = run(&split, ends.0, ends.1);
        assert!(
            got == want,
            "request cut at {req_cuts:?}, response cut at {resp_cuts:?}, ends {ends:?}: {}\ninput {:?}",
            difference(&got, &want),
            String::from_utf8_lossy(data)
        );
    }
}
