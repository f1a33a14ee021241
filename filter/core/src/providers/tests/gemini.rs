use super::*;
use crate::test_support::{assert_split_invariant, pieces, Rng};

const GENERATE: &[u8] = include_bytes!("../../../../../tests/fixtures/gemini_generate.json");
const GROUNDING: &[u8] = include_bytes!("../../../../../tests/fixtures/gemini_grounding.json");
const STREAM_ARRAY: &[u8] = include_bytes!("../../../../../tests/fixtures/gemini_stream.json");
const STREAM_SSE: &[u8] = include_bytes!("../../../../../tests/fixtures/gemini_stream.sse");
const ERROR_429: &[u8] = include_bytes!("../../../../../tests/fixtures/gemini_error_429.json");

const JSON: &str = "application/json; charset=UTF-8";
const SSE: &str = "text/event-stream";

fn read(content_type: &str, chunks: &[&[u8]]) -> Reading {
    let mut r = Reader::new(content_type, 4096);
    for c in chunks {
        r.feed(c);
    }
    r.finish()
}

fn reading(usage: Usage, model: &str) -> Reading {
    Reading {
        usage: Some(usage),
        usage_incomplete: false,
        response_model: Some(model.into()),
        error: None,
        unreadable: None,
        service_tier: None,
    }
}

#[test]
fn generate_content_body() {
    let r = assert_split_invariant("gemini_generate.json", GENERATE, 0, |c| read(JSON, c));
    let want = Usage {
        input: 1043,
        // 12 candidates + 28 thoughts: 1043 + 12 != 1083, so the candidates exclude the thoughts.
        output: 40,
        total: 1083,
        input_cached: 1024,
        input_cache_creation: 0,
        output_reasoning: 28,
        // 40 audio prompt tokens, 24 of them from the cache.
        input_audio: 16,
        output_audio: 0,
    };
    assert_eq!(r, reading(want, "gemini-2.5-flash"));
}

#[test]
fn search_grounding_keeps_tool_use_tokens_out_of_the_prompt() {
    let r = assert_split_invariant("gemini_grounding.json", GROUNDING, 0, |c| read(JSON, c));
    let want = Usage {
        input: 10,
        output: 80,
        total: 240,
        ..Usage::default()
    };
    assert_eq!(r, reading(want, "gemini-2.0-flash"));
    // Without grounding the tool-use prompt tokens are billed as prompt.
    let raw = br#"{"promptTokenCount":10,"candidatesTokenCount":80,"totalTokenCount":240,"toolUsePromptTokenCount":150}"#;
    assert_eq!(parse_usage(raw, false).unwrap().input, 160);
    let empty = br#"{"candidates":[{"groundingMetadata":{"webSearchQueries":[""]}}],"usageMetadata":{"promptTokenCount":1,"toolUsePromptTokenCount":2,"totalTokenCount":3}}"#;
    assert_eq!(
        read(JSON, &[empty]).usage.unwrap().input,
        3,
        "no query: not grounded"
    );
}

#[test]
fn streamed_array_and_sse_read_the_same() {
    let want = Usage {
        input: 9,
        output: 40,
        total: 49,
        input_cached: 0,
        input_cache_creation: 0,
        output_reasoning: 28,
        input_audio: 0,
        output_audio: 0,
    };
    let array = assert_split_invariant("gemini_stream.json", STREAM_ARRAY, 0, |c| read(JSON, c));
    assert_eq!(array, reading(want, "gemini-2.5-flash"));
    let sse = assert_split_invariant("gemini_stream.sse", STREAM_SSE, 0, |c| read(SSE, c));
    assert_eq!(sse, array);
}

#[test]
fn usage_semantics() {
    let u = |raw: &str| parse_usage(raw.as_bytes(), false).unwrap();
    // Candidates inclusive of thoughts: not added twice.
    let inc = u(
        r#"{"promptTokenCount":5,"candidatesTokenCount":30,"totalTokenCount":35,"thoughtsTokenCount":20}"#,
    );
    assert_eq!((inc.input, inc.output, inc.output_reasoning), (5, 30, 20));
    // The Live API's responseTokenCount wins over candidates.
    let live = u(
        r#"{"promptTokenCount":5,"responseTokenCount":9,"candidatesTokenCount":3,"totalTokenCount":14,
        "responseTokensDetails":[{"modality":"AUDIO","tokenCount":6},{"modality":"TEXT","tokenCount":3}]}"#,
    );
    assert_eq!((live.output, live.output_audio), (9, 6));
    let audio = u(
        r#"{"promptTokenCount":50,"totalTokenCount":50,"promptTokensDetails":[{"modality":"audio","tokenCount":30},{"modality":"AUDIO","token_count":4}]}"#,
    );
    assert_eq!(audio.input_audio, 34);
    let odd = u(r#"{"promptTokenCount":null,"candidatesTokenCount":"7","totalTokenCount":-1}"#);
    assert_eq!((odd.input, odd.output, odd.total), (0, 0, 0));
    assert!(parse_usage(b"[]", false).is_none());
    // A stream's chunks: a later 0 never replaces a reported count.
    let body = concat!(
        r#"data: {"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":3,"totalTokenCount":12}}"#,
        "\r\n\r\n",
        r#"data: {"candidates":[]}"#,
        "\r\n\r\n",
        r#"data: {"usageMetadata":{"promptTokenCount":0,"candidatesTokenCount":8,"totalTokenCount":8}}"#,
        "\r\n\r\n",
    );
    let r = read(SSE, &[body.as_bytes()]);
    assert_eq!(
        r.usage.map(|u| (u.input, u.output, u.total)),
        Some((9, 8, 17))
    );
}

#[test]
fn errors_map_to_litellm_classes() {
    let r = read(JSON, &[ERROR_429]);
    let e = r.error.clone().unwrap();
    assert_eq!(
        (e.kind(), e.code, r.usage),
        ("RESOURCE_EXHAUSTED", Some(429), None)
    );
    assert!(e.message().starts_with("You exceeded your current quota"));
    assert_eq!(exception_class(429, Some(&e)), Some("RateLimitError"));
    let class = |status: u16, body: &str| {
        let e = read(JSON, &[body.as_bytes()]).error;
        exception_class(status, e.as_ref())
    };
    assert_eq!(
        class(
            400,
            r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#
        ),
        Some("AuthenticationError")
    );
    assert_eq!(
        class(
            403,
            r#"{"error":{"code":403,"message":"Permission denied on resource project p.","status":"PERMISSION_DENIED"}}"#
        ),
        Some("BadRequestError"),
        "LiteLLM finds \"403\" in the body"
    );
    assert_eq!(
        class(
            503,
            r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#
        ),
        Some("InternalServerError")
    );
    assert_eq!(
        class(
            500,
            r#"{"error":{"code":429,"message":"upstream said so","status":"RESOURCE_EXHAUSTED"}}"#
        ),
        Some("RateLimitError")
    );
    assert_eq!(
        class(
            400,
            r#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#
        ),
        Some("ContextWindowExceededError")
    );
    for (status, want) in [
        (400, "BadRequestError"),
        (401, "AuthenticationError"),
        (403, "PermissionDeniedError"),
        (404, "NotFoundError"),
        (408, "Timeout"),
        (429, "RateLimitError"),
        (500, "InternalServerError"),
        (502, "APIConnectionError"),
        (503, "ServiceUnavailableError"),
        (504, "Timeout"),
        (422, "BadRequestError"),
    ] {
        assert_eq!(exception_class(status, None), Some(want), "{status}");
    }
    assert_eq!(
        crate::providers::exception_class("vertex_ai", 429, None),
        Some("RateLimitError")
    );
}

#[test]
fn error_inside_a_stream() {
    let body = br#"[{"candidates":[{"content":{"parts":[{"text":"Bon"}]}}],"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4}}
,{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}
]"#;
    let r = assert_split_invariant("array error", body, 0, |c| read(JSON, c));
    let e = r.error.unwrap();
    assert_eq!((e.kind(), e.stream_status), ("UNAVAILABLE", Some(503)));
    assert_eq!(r.usage.map(|u| u.input), Some(4));
    assert_eq!(r.unreadable, None);
}

#[test]
fn malformed_and_truncated_bodies() {
    let r = read(JSON, &[b"<html>502 Bad Gateway</html>"]);
    assert_eq!(r.unreadable, Some(Unreadable::MalformedJson));
    let cut = read(JSON, &[&STREAM_ARRAY[..STREAM_ARRAY.len() - 50]]);
    assert_eq!(
        cut.unreadable,
        Some(Unreadable::MalformedJson),
        "array never closed"
    );
    assert_eq!(
        cut.usage.map(|u| u.output),
        Some(35),
        "the elements that did arrive count"
    );
    let r = read(
        JSON,
        &[br#"[{"usageMetadata":{"promptTokenCount":1}},{"usageMetadata":[}]"#],
    );
    assert_eq!(r.unreadable, Some(Unreadable::MalformedJson));
    assert_eq!(read(JSON, &[b"  \r\n"]), Reading::default());
    let r = read(
        SSE,
        &[b"data: {\"usageMetadata\":{\"promptTokenCount\":1}}\r\n\r\ndata: not json\r\n\r\n"],
    );
    assert_eq!(r.unreadable, Some(Unreadable::MalformedSse));
    assert_eq!(r.usage.map(|u| u.input), Some(1));
}

#[test]
fn api_key_from_header_or_query() {
    assert_eq!(
        api_key(Some(" AIzaHeader "), "key=AIzaQuery").as_deref(),
        Some("AIzaHeader")
    );
    assert_eq!(
        api_key(None, "alt=sse&key=AIza%2Bq").as_deref(),
        Some("AIza+q")
    );
    assert_eq!(api_key(Some(""), "alt=sse"), None);
    assert_eq!(api_key(None, "key="), None);
}

/// Random streamed arrays of Gemini-shaped chunks, cut anywhere, read the same as whole.
#[test]
fn random_arrays_read_the_same_whatever_the_cuts() {
    let chunks = [
        r#"{"candidates":[{"content":{"parts":[{"text":"a]}\"["}]}}],"usageMetadata":{"promptTokenCount":3,"totalTokenCount":3}}"#,
        r#"{"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":5,"thoughtsTokenCount":2,"totalTokenCount":10},"modelVersion":"g"}"#,
        r#"{"candidates":[{"groundingMetadata":{"webSearchQueries":["q"]}}],"usageMetadata":{"promptTokenCount":1,"toolUsePromptTokenCount":9,"totalTokenCount":10}}"#,
        r#"{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED"}}"#,
        r#"{"usageMetadata":null}"#,
        r#"{"usageMetadata":{"promptTokenCount":}}"#,
    ];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..3_000 {
        let mut body = String::from("[");
        for k in 0..rng.below(5) {
            if k > 0 {
                body.push_str("\r\n,\r\n");
            }
            body.push_str(chunks[rng.below(chunks.len())]);
        }
        body.push(']');
        let input = body.as_bytes();
        let whole = read(JSON, &[input]);
        let cuts = rng.cuts(input.len(), 6);
        assert_eq!(
            read(JSON, &pieces(input, &cuts)),
            whole,
            "{body:?} cut at {cuts:?}"
        );
    }
}
