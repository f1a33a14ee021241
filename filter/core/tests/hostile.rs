//! Bodies a broken upstream or a hostile one sends: cut short, reset, garbage inside a stream,
//! `[DONE]` with more after it. Each is read the same whatever the split, counted once, under one
//! reason, and a body the upstream broke is a failed request; a client that left is not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llm_telemetry_core::config;
use llm_telemetry_core::exchange::{BodyProblem, Exchange, Headers, Record};
use llm_telemetry_core::route::classify;

const CHAT_JSON: &[u8] = include_bytes!("../../../tests/fixtures/chat_completion.json");
const CHAT_SSE: &[u8] = include_bytes!("../../../tests/fixtures/chat_stream_usage.sse");
const TRUNCATED: &[u8] = include_bytes!("../../../tests/fixtures/malformed.json");

struct Pairs(Vec<(&'static str, String)>);
impl Headers for Pairs {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

/// How the response stops.
#[derive(Clone, Copy)]
enum End<'a> {
    /// Envoy delivers its end of stream.
    Clean,
    /// The stream ends first (`on_log`), with these `response.code_details`.
    Unclean(&'a str),
}

/// A chat completion whose response (`content_type`, optional `content-encoding`) arrives in
/// `pieces`, then ends as `end` says. Also returns whether `on_log` wanted the details.
fn exchange(
    content_type: &str,
    encoding: Option<&str>,
    pieces: &[&[u8]],
    end: End,
) -> (Record, bool) {
    let cfg = config::parse(b"", &|_| None).unwrap().config;
    let mut ex = Exchange::new(classify("POST", "/v1/chat/completions").unwrap(), &cfg, 1);
    ex.on_request_headers(&Pairs(vec![]), None, &cfg, false);
    ex.on_request_body(br#"{"model":"gpt-4o","messages":[]}"#, true);
    let mut h = vec![
        (":status", "200".to_string()),
        ("content-type", content_type.into()),
    ];
    if let Some(e) = encoding {
        h.push(("content-encoding", e.into()));
    }
    ex.on_response_headers(&Pairs(h), false);
    for p in pieces {
        ex.on_response_body(p, false, 2);
    }
    let wanted = match end {
        End::Clean => {
            ex.on_response_body(&[], true, 3);
            ex.wants_end_details()
        }
        End::Unclean(details) => {
            let wanted = ex.wants_end_details();
            ex.on_response_details(details);
            wanted
        }
    };
    (ex.finish(4, None).unwrap(), wanted)
}

/// `body` in two pieces cut at `at`.
fn split(body: &[u8], at: usize) -> [&[u8]; 2] {
    [&body[..at], &body[at..]]
}

fn assert_broken(rec: &Record, what: &str) {
    assert!(
        rec.upstream_broke && !rec.succeeded(),
        "{what}: a failed request"
    );
    assert_eq!(rec.status, 200, "{what}: the status the client got");
    assert_eq!(
        rec.outcome_status(),
        0,
        "{what}: alerts see no usable response"
    );
    assert_eq!(
        rec.local_failure_class,
        Some("APIConnectionError"),
        "{what}"
    );
    assert_eq!(
        rec.problems,
        vec![BodyProblem::ResponseIncomplete],
        "{what}: one reason"
    );
}

#[test]
fn a_whole_response_needs_no_host_call_at_the_end() {
    let (rec, wanted) = exchange("application/json", None, &[CHAT_JSON], End::Clean);
    assert!(!wanted && rec.succeeded() && !rec.upstream_broke);
    assert!(rec.problems.is_empty());
    let (rec, wanted) = exchange("text/event-stream", None, &[CHAT_SSE], End::Clean);
    assert!(!wanted && rec.succeeded() && rec.usage.is_some());
}

#[test]
fn json_cut_short_with_a_consistent_length_is_a_failed_request() {
    // A content-length shorter than the document: Envoy sees a whole response.
    for at in 0..=TRUNCATED.len() {
        let (rec, _) = exchange("application/json", None, &split(TRUNCATED, at), End::Clean);
        assert_broken(&rec, &format!("split at {at}"));
        assert_eq!(rec.response_model.as_deref(), Some("gpt-4o-2024-08-06"));
    }
}

#[test]
fn a_stream_cut_mid_event_is_a_failed_request_but_a_final_done_without_blank_line_is_not() {
    let cut = &CHAT_SSE[..CHAT_SSE.len() / 2];
    for at in (0..=cut.len()).step_by(13) {
        let (rec, _) = exchange("text/event-stream", None, &split(cut, at), End::Clean);
        assert_broken(&rec, &format!("split at {at}"));
    }
    let lax = CHAT_SSE.strip_suffix(b"\n").unwrap();
    assert!(lax.ends_with(b"data: [DONE]\n"));
    let (rec, _) = exchange("text/event-stream", None, &[lax], End::Clean);
    assert!(
        rec.succeeded() && rec.problems.is_empty(),
        "{:?}",
        rec.problems
    );
    assert_eq!(rec.usage.map(|u| u.total), Some(29));
}

#[test]
fn gzip_cut_short_is_a_failed_request() {
    let (rec, _) = exchange(
        "application/json",
        Some("gzip"),
        &[b"\x1f\x8b\x08\x00"],
        End::Clean,
    );
    assert_broken(&rec, "gzip header only");
}

#[test]
fn an_upstream_reset_mid_body_is_one_failed_request_a_client_gone_is_not() {
    let reset = "upstream_reset_after_response_started{protocol_error}";
    let half = &CHAT_JSON[..CHAT_JSON.len() / 2];
    for (ct, body) in [
        ("application/json", half),
        ("text/event-stream", &CHAT_SSE[..300]),
    ] {
        let (rec, wanted) = exchange(ct, None, &[body], End::Unclean(reset));
        assert!(
            wanted,
            "the details are read only for a response that did not end"
        );
        assert_broken(&rec, ct);
        assert!(rec.error_message.as_deref().unwrap().contains(reset));
        // Reset after the headers, before any body byte: still broken.
        let (rec, _) = exchange(ct, None, &[], End::Unclean(reset));
        assert_broken(&rec, "no body byte");
        // The client hung up: not the upstream's failure; the body read so far is cut off.
        let (rec, _) = exchange(
            ct,
            None,
            &[body],
            End::Unclean("downstream_remote_disconnect"),
        );
        assert!(rec.succeeded() && !rec.upstream_broke, "{ct}");
        assert_eq!(rec.problems, vec![BodyProblem::ResponseIncomplete], "{ct}");
    }
    let (rec, _) = exchange(
        "text/event-stream",
        None,
        &[&CHAT_SSE[..300]],
        End::Unclean("stream_idle_timeout"),
    );
    assert!(rec.upstream_broke);
    assert_eq!(rec.local_failure_class, Some("Timeout"));
}

/// The events of CHAT_SSE with `extra` inserted after the first event.
fn with_after_first_event(extra: &[u8]) -> Vec<u8> {
    let first_end = CHAT_SSE.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    [&CHAT_SSE[..first_end], extra, &CHAT_SSE[first_end..]].concat()
}

#[test]
fn garbage_inside_a_stream_is_counted_once_whatever_the_split() {
    let mut garbage = Vec::new();
    while garbage.len() < 20_000 {
        garbage.extend_from_slice(b"#&<not an event> %$@!{][}\n");
    }
    garbage.extend_from_slice(b"data: <html>oops</html>\n\n");
    let body = with_after_first_event(&garbage);
    let whole = exchange("text/event-stream", None, &[&body], End::Clean).0;
    assert_eq!(whole.problems, vec![BodyProblem::ResponseMalformedSse]);
    assert!(
        whole.succeeded(),
        "garbage is counted, the stream still served"
    );
    assert_eq!(whole.usage.map(|u| u.total), Some(29), "usage still read");
    for at in (0..=body.len()).step_by(997) {
        let (rec, _) = exchange("text/event-stream", None, &split(&body, at), End::Clean);
        assert_eq!(
            (rec.problems, rec.usage),
            (whole.problems.clone(), whole.usage),
            "at {at}"
        );
    }
}

#[test]
fn done_followed_by_more_bytes_reads_the_same_whatever_the_split() {
    for tail in [
        &b"data: [DONE]xyz\n\n"[..],
        b"data: [DONE]\ndata: x\n\n",
        b"data: [DO\n\n",
    ] {
        let body = with_after_first_event(tail);
        let whole = exchange("text/event-stream", None, &[&body], End::Clean).0;
        assert_eq!(
            whole.problems,
            vec![BodyProblem::ResponseMalformedSse],
            "{tail:?}"
        );
        assert_eq!(whole.usage.map(|u| u.total), Some(29));
        for at in 0..=body.len() {
            let (rec, _) = exchange("text/event-stream", None, &split(&body, at), End::Clean);
            assert_eq!(rec.problems, whole.problems, "{tail:?} split at {at}");
            assert_eq!(rec.usage, whole.usage, "{tail:?} split at {at}");
        }
    }
}

#[test]
fn a_client_gone_before_any_response_is_499_not_the_upstreams_failure() {
    let cfg = config::parse(b"", &|_| None).unwrap().config;
    let mut ex = Exchange::new(classify("POST", "/v1/chat/completions").unwrap(), &cfg, 1);
    ex.on_request_headers(&Pairs(vec![]), None, &cfg, false);
    ex.on_request_body(br#"{"model":"gpt-4o","messages":[]}"#, true);
    assert!(ex.wants_end_details());
    ex.on_response_details("downstream_remote_disconnect");
    let rec = ex.finish(4, None).unwrap();
    assert!(rec.client_left && !rec.succeeded() && !rec.upstream_broke);
    assert_eq!(rec.status, 499);
    assert_eq!(rec.local_failure_class, Some("ClientClosedRequest"));
    assert!(rec.problems.is_empty());
}
