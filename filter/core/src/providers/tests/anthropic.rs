use super::*;
use crate::test_support::{assert_split_invariant, pieces, Rng};

const MESSAGE: &[u8] = include_bytes!("../../../../../tests/fixtures/anthropic_message.json");
const STREAM: &[u8] = include_bytes!("../../../../../tests/fixtures/anthropic_stream.sse");
const STREAM_ERROR: &[u8] =
    include_bytes!("../../../../../tests/fixtures/anthropic_stream_error.sse");
const ERROR_429: &[u8] = include_bytes!("../../../../../tests/fixtures/anthropic_error_429.json");
const ERROR_529: &[u8] = include_bytes!("../../../../../tests/fixtures/anthropic_error_529.json");
const ERROR_TOO_LONG: &[u8] =
    include_bytes!("../../../../../tests/fixtures/anthropic_error_400_prompt_too_long.json");

const SSE: &str = "text/event-stream; charset=utf-8";
const JSON: &str = "application/json";

fn read(content_type: &str, chunks: &[&[u8]]) -> Reading {
    let mut r = Reader::new(content_type, 4096);
    for c in chunks {
        r.feed(c);
    }
    r.finish()
}

fn sse(body: &str) -> Reading {
    read(SSE, &[body.as_bytes()])
}

/// A complete reading of `usage` from the fixtures' model, with `service_tier` standard.
fn fixture_reading(usage: Usage) -> Reading {
    Reading {
        usage: Some(usage),
        usage_incomplete: false,
        response_model: Some("claude-sonnet-4-20250514".into()),
        error: None,
        unreadable: None,
        service_tier: Some("standard".into()),
    }
}

fn tokens(input: u64, output: u64, cached: u64, creation: u64, reasoning: u64) -> Usage {
    Usage {
        input,
        output,
        total: input + output,
        input_cached: cached,
        input_cache_creation: creation,
        output_reasoning: reasoning,
        input_audio: 0,
        output_audio: 0,
    }
}

#[test]
fn json_message_counts_input_as_litellm_does() {
    let r = assert_split_invariant("anthropic_message.json", MESSAGE, 0, |c| read(JSON, c));
    // 12 uncached + 2048 read from the cache + 1024 written to it.
    assert_eq!(r, fixture_reading(tokens(3084, 15, 2048, 1024, 0)));
}

#[test]
fn stream_usage_from_message_start_and_message_delta() {
    let r = assert_split_invariant("anthropic_stream.sse", STREAM, 0, |c| read(SSE, c));
    assert_eq!(r, fixture_reading(tokens(3084, 87, 2048, 1024, 0)));
}

#[test]
fn stream_error_event_and_no_message_delta() {
    let r = assert_split_invariant("anthropic_stream_error.sse", STREAM_ERROR, 0, |c| {
        read(SSE, c)
    });
    let error = ProviderError {
        kind: Some("overloaded_error".into()),
        message: Some("Overloaded".into()),
        code: None,
        stream_status: Some(500),
    };
    assert_eq!(
        r,
        Reading {
            // message_start's output_tokens (1) is a placeholder: no output count.
            usage: Some(tokens(25, 0, 0, 0, 0)),
            usage_incomplete: true,
            response_model: Some("claude-sonnet-4-20250514".into()),
            error: Some(error.clone()),
            unreadable: None,
            service_tier: None,
        }
    );
    assert_eq!(
        exception_class(500, Some(&error)),
        Some("InternalServerError")
    );
}

#[test]
fn error_bodies_map_to_litellm_classes() {
    let class = |status: u16, body: &[u8]| {
        let r = read(JSON, &[body]);
        assert_eq!(r.unreadable, None);
        exception_class(status, r.error.as_ref())
    };
    assert_eq!(class(429, ERROR_429), Some("RateLimitError"));
    let e = read(JSON, &[ERROR_429]).error.unwrap();
    assert_eq!(e.kind.as_deref(), Some("rate_limit_error"));
    assert!(e
        .message()
        .starts_with("This request would exceed the rate limit"));
    assert_eq!(class(529, ERROR_529), Some("InternalServerError"));
    assert_eq!(
        class(400, ERROR_TOO_LONG),
        Some("ContextWindowExceededError")
    );
    // By status when the body says nothing LiteLLM looks for.
    let none = None;
    for (status, want) in [
        (400, "BadRequestError"),
        (401, "AuthenticationError"),
        (402, "PaymentRequiredError"),
        (403, "PermissionDeniedError"),
        (404, "NotFoundError"),
        (408, "Timeout"),
        (409, "BadRequestError"),
        (413, "BadRequestError"),
        (429, "RateLimitError"),
        (500, "InternalServerError"),
        (502, "BadGatewayError"),
        (503, "ServiceUnavailableError"),
        (504, "Timeout"),
        (529, "InternalServerError"),
        (530, "APIError"),
    ] {
        assert_eq!(exception_class(status, none), Some(want), "{status}");
    }
    assert_eq!(
        exception_class(0, none),
        None,
        "no response: APIConnectionError"
    );
    let overloaded = ProviderError {
        message: Some("Overloaded".into()),
        ..ProviderError::default()
    };
    assert_eq!(
        exception_class(429, Some(&overloaded)),
        Some("InternalServerError"),
        "LiteLLM checks the text before the status"
    );
    assert_eq!(
        crate::providers::exception_class("anthropic", 0, None),
        Some("APIConnectionError")
    );
}

#[test]
fn usage_semantics() {
    let u = |raw: &str| usage(&parse_usage(raw.as_bytes()).unwrap().0);
    assert_eq!(
        u(r#"{"input_tokens":10,"output_tokens":5}"#),
        tokens(10, 5, 0, 0, 0)
    );
    assert_eq!(
        u(r#"{"input_tokens":null,"output_tokens":"5","cache_read_input_tokens":null}"#),
        tokens(0, 0, 0, 0, 0),
        "null and strings count 0"
    );
    // Thinking tokens where reported, capped to the output.
    assert_eq!(
        u(
            r#"{"input_tokens":3,"output_tokens":40,"output_tokens_details":{"thinking_tokens":30}}"#
        ),
        tokens(3, 40, 0, 0, 30)
    );
    assert_eq!(
        u(
            r#"{"input_tokens":3,"output_tokens":10,"output_tokens_details":{"thinking_tokens":30}}"#
        ),
        tokens(3, 10, 0, 0, 10)
    );
    // Iterations replace the top-level counts when the list is not empty.
    let it = r#"{"input_tokens":1,"output_tokens":1,"cache_read_input_tokens":100,
        "iterations":[
          {"input_tokens":10,"output_tokens":20,"cache_read_input_tokens":5,"cache_creation_input_tokens":7,"output_tokens_details":{"thinking_tokens":4}},
          {"input_tokens":1,"output_tokens":2,"cache_read_input_tokens":null,"output_tokens_details":{"thinking_tokens":1}}]}"#;
    assert_eq!(u(it), tokens(11 + 5 + 7, 22, 5, 7, 5));
    let partial = r#"{"input_tokens":1,"output_tokens":9,"output_tokens_details":{"thinking_tokens":2},
        "iterations":[{"input_tokens":1,"output_tokens":9,"output_tokens_details":{"thinking_tokens":3}},{"input_tokens":0,"output_tokens":0}]}"#;
    assert_eq!(
        u(partial).output_reasoning,
        2,
        "an iteration without thinking tokens: the top-level count"
    );
    assert_eq!(
        u(r#"{"input_tokens":4,"output_tokens":2,"iterations":[]}"#),
        tokens(4, 2, 0, 0, 0)
    );
    assert!(parse_usage(b"[1]").is_none() && parse_usage(b"{\"a\":}").is_none());
}

#[test]
fn message_delta_with_cumulative_counts_replaces_message_start() {
    // Newer API versions repeat every count in message_delta, cumulatively.
    let body = concat!(
        "event: message_start\n",
        r#"data: {"type":"message_start","message":{"model":"claude-opus-4-1","usage":{"input_tokens":5,"cache_read_input_tokens":0,"output_tokens":1}}}"#,
        "\n\nevent: message_delta\n",
        r#"data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"input_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":300,"output_tokens":42,"server_tool_use":{"web_search_requests":1}}}"#,
        "\n\n"
    );
    let r = assert_split_invariant("cumulative", body.as_bytes(), 0, |c| read(SSE, c));
    assert_eq!(r.usage, Some(tokens(305, 42, 300, 0, 0)));
    assert!(!r.usage_incomplete);
}

#[test]
fn only_the_usage_events_are_read() {
    // A tool's input may hold any object, including a `usage` key: not the message's usage.
    let body = concat!(
        r#"data: {"type":"message_start","message":{"usage":{"input_tokens":7,"output_tokens":1}}}"#,
        "\n\n",
        r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{"usage":{"input_tokens":1000,"output_tokens":1000}}}}"#,
        "\n\n",
        r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"usage\": {\"output_tokens\": 5000}}"}}"#,
        "\n\n",
        r#"data: {"type": "message_delta", "usage": {"output_tokens": 9}}"#,
        "\n\n",
        r#"data: {"type":"error","error":{"type":"api_error","message":"x"}}"#,
        "\n\n",
    );
    let r = assert_split_invariant("tool", body.as_bytes(), 0, |c| read(SSE, c));
    assert_eq!(r.usage, Some(tokens(7, 9, 0, 0, 0)));
    assert_eq!(r.error.as_ref().map(ProviderError::kind), Some("api_error"));
}

#[test]
fn events_whose_type_is_not_first_are_still_read() {
    // A gateway that re-serializes with sorted keys.
    let body = concat!(
        r#"data: {"message":{"model":"claude-3-haiku","usage":{"input_tokens":3,"output_tokens":1}},"type":"message_start"}"#,
        "\n\n",
        r#"data: {"delta":{"text":"hi","type":"text_delta"},"index":0,"type":"content_block_delta"}"#,
        "\n\n",
        r#"data: {"delta":{"stop_reason":"end_turn"},"type":"message_delta","usage":{"output_tokens":4}}"#,
        "\n\n",
        r#"data:   {  "type"  :  "message_stop"  }"#,
        "\n\n",
    );
    let r = assert_split_invariant("sorted", body.as_bytes(), 0, |c| read(SSE, c));
    assert_eq!(r.usage, Some(tokens(3, 4, 0, 0, 0)));
    assert_eq!(r.response_model.as_deref(), Some("claude-3-haiku"));
    assert_eq!(r.unreadable, None);
}

#[test]
fn malformed_and_truncated_streams() {
    let bad = concat!(
        r#"data: {"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}"#,
        "\n\n",
        r#"data: {"type":"message_delta","usage":{"output_tokens":4}"#,
        "\n\n",
    );
    let r = sse(bad);
    assert_eq!(r.unreadable, Some(Unreadable::MalformedSse));
    assert_eq!(r.usage, Some(tokens(3, 0, 0, 0, 0)));
    assert!(r.usage_incomplete);
    // Cut inside message_delta: the event is never dispatched.
    let cut = STREAM.len() - 60;
    let r = read(SSE, &[&STREAM[..cut]]);
    assert!(r.usage_incomplete);
    assert_eq!(r.usage.map(|u| (u.input, u.output)), Some((3084, 0)));
    // Cut before any usage: unreadable (the stream ended mid-event).
    let r = read(SSE, &[&STREAM[..40]]);
    assert_eq!(
        (r.usage, r.unreadable),
        (None, Some(Unreadable::MalformedSse))
    );
    // Not JSON at all.
    let r = read(JSON, &[b"<html>502</html>"]);
    assert_eq!(
        (r.usage, r.unreadable),
        (None, Some(Unreadable::MalformedJson))
    );
    assert_eq!(read(JSON, &[]), Reading::default(), "no body");
    assert_eq!(
        sse("data: {}\n\ndata:\n\n").unreadable,
        Some(Unreadable::MalformedSse)
    );
}

#[test]
fn rate_limit_headers() {
    let h = |name: &str| {
        match name {
            "anthropic-ratelimit-requests-remaining" => Some("49"),
            "anthropic-ratelimit-requests-limit" => Some("50"),
            "anthropic-ratelimit-tokens-remaining" => Some(" 0 "),
            "anthropic-ratelimit-tokens-limit" => Some("x"),
            _ => None,
        }
        .map(str::to_owned)
    };
    assert_eq!(
        rate_limits(h),
        RateLimits {
            remaining_requests: Some(49),
            remaining_tokens: Some(0),
            limit_requests: Some(50),
            limit_tokens: None,
        }
    );
}

/// Random streams of Anthropic-shaped events, cut at random points, read the same as whole.
#[test]
fn random_streams_read_the_same_whatever_the_cuts() {
    let events = [
        r#"{"type":"message_start","message":{"model":"m","usage":{"input_tokens":2,"cache_read_input_tokens":3,"output_tokens":1}}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\"usage\":{}"}}"#,
        r#"{"type": "ping"}"#,
        r#"{"type":"message_delta","usage":{"output_tokens":7}}"#,
        r#"{"type":"message_delta","usage":{"output_tokens":0,"input_tokens":0}}"#,
        r#"{"usage":{"output_tokens":11},"type":"message_delta"}"#,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        r#"{"type":"message_stop"}"#,
        r#"{"type":"message_delta","usage":{"output_tokens":"#,
        r#"[1,2]"#,
    ];
    let mut rng = Rng(0x5DEE_CE66_D1CE_4E5B);
    for _ in 0..3_000 {
        let mut body = String::new();
        for _ in 0..rng.below(6) {
            body.push_str("data: ");
            body.push_str(events[rng.below(events.len())]);
            body.push_str(["\n\n", "\r\n\r\n"][rng.below(2)]);
        }
        let input = body.as_bytes();
        let whole = read(SSE, &[input]);
        let cuts = rng.cuts(input.len(), 6);
        assert_eq!(
            read(SSE, &pieces(input, &cuts)),
            whole,
            "{body:?} cut at {cuts:?}"
        );
    }
}
