use super::*;
use crate::test_support::{assert_split_invariant, base64, pieces, string_message, Rng};

const CONVERSE: &[u8] = include_bytes!("../../../../../tests/fixtures/bedrock_converse.json");
const CONVERSE_STREAM: &[u8] =
    include_bytes!("../../../../../tests/fixtures/bedrock_converse_stream.eventstream");
const THROTTLED: &[u8] =
    include_bytes!("../../../../../tests/fixtures/bedrock_converse_stream_throttled.eventstream");
const INVOKE: &[u8] = include_bytes!("../../../../../tests/fixtures/bedrock_invoke_anthropic.json");
const INVOKE_STREAM: &[u8] =
    include_bytes!("../../../../../tests/fixtures/bedrock_invoke_stream.eventstream");
const LLAMA_STREAM: &[u8] =
    include_bytes!("../../../../../tests/fixtures/bedrock_invoke_stream_llama.eventstream");
const THROTTLING: &[u8] =
    include_bytes!("../../../../../tests/fixtures/bedrock_error_throttling.json");

const EVENTS: &str = "application/vnd.amazon.eventstream";

/// Response headers as a lookup.
fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn read(api: NativeApi, h: &[(&str, &str)], chunks: &[&[u8]]) -> Reading {
    let get = headers(h);
    let mut r = Reader::new(api, &get, 4096);
    for c in chunks {
        r.feed(c);
    }
    r.finish()
}

fn ok_json() -> Vec<(&'static str, &'static str)> {
    vec![(":status", "200"), ("content-type", "application/json")]
}

fn ok_stream() -> Vec<(&'static str, &'static str)> {
    vec![(":status", "200"), ("content-type", EVENTS)]
}

fn usage(input: u64, output: u64, total: u64, cached: u64, creation: u64) -> Usage {
    Usage {
        input,
        output,
        total,
        input_cached: cached,
        input_cache_creation: creation,
        ..Usage::default()
    }
}

#[test]
fn converse_json() {
    let h = ok_json();
    let r = assert_split_invariant("bedrock_converse.json", CONVERSE, 0, |c| {
        read(NativeApi::BedrockConverse, &h, c)
    });
    // 25 uncached + 1024 written to the cache; total as Bedrock reported it.
    assert_eq!(r.usage, Some(usage(1049, 48, 1097, 0, 1024)));
    assert_eq!(
        (r.error, r.unreadable, r.response_model),
        (None, None, None)
    );
}

#[test]
fn converse_stream_metadata_event() {
    let h = ok_stream();
    let r = assert_split_invariant("converse stream", CONVERSE_STREAM, 0, |c| {
        read(NativeApi::BedrockConverseStream, &h, c)
    });
    assert_eq!(
        r,
        Reading {
            usage: Some(usage(533, 11, 544, 512, 0)),
            ..Reading::default()
        }
    );
}

#[test]
fn converse_stream_exception() {
    let h = ok_stream();
    let r = assert_split_invariant("throttled", THROTTLED, 0, |c| {
        read(NativeApi::BedrockConverseStream, &h, c)
    });
    let e = r.error.clone().unwrap();
    assert_eq!(
        e,
        ProviderError {
            kind: Some("throttlingException".into()),
            message: Some("Too many tokens, please wait before trying again.".into()),
            code: None,
            stream_status: Some(429),
        }
    );
    assert_eq!((r.usage, r.unreadable), (None, None));
    assert_eq!(exception_class(429, Some(&e)), Some("RateLimitError"));
}

#[test]
fn invoke_stream_of_an_anthropic_model() {
    let h = ok_stream();
    let r = assert_split_invariant("invoke stream", INVOKE_STREAM, 0, |c| {
        read(NativeApi::BedrockInvokeStream, &h, c)
    });
    assert_eq!(
        r,
        Reading {
            // Anthropic's semantics: 14 + 2048 read + 1024 written.
            usage: Some(usage(3086, 12, 3098, 2048, 1024)),
            response_model: Some("claude-3-5-sonnet-20240620".into()),
            ..Reading::default()
        }
    );
}

#[test]
fn invoke_stream_of_another_model_uses_invocation_metrics() {
    let h = ok_stream();
    let r = assert_split_invariant("llama stream", LLAMA_STREAM, 0, |c| {
        read(NativeApi::BedrockInvokeStream, &h, c)
    });
    assert_eq!(r.usage, Some(usage(18, 7, 25, 0, 0)));
    assert_eq!((r.unreadable, r.usage_incomplete), (None, false));
}

#[test]
fn invoke_json_anthropic_body_or_headers() {
    let h = ok_json();
    let r = assert_split_invariant("invoke", INVOKE, 0, |c| {
        read(NativeApi::BedrockInvoke, &h, c)
    });
    assert_eq!(r.usage, Some(usage(14, 12, 26, 0, 0)));
    assert_eq!(
        r.response_model.as_deref(),
        Some("claude-3-5-sonnet-20240620")
    );
    let llama = br#"{"generation":"Bonjour !","prompt_token_count":18,"generation_token_count":7,"stop_reason":"stop"}"#;
    let with_counts = [
        (":status", "200"),
        ("content-type", "application/json"),
        ("x-amzn-bedrock-input-token-count", "18"),
        ("x-amzn-bedrock-output-token-count", "7"),
        ("x-amzn-bedrock-invocation-latency", "402"),
    ];
    let r = read(NativeApi::BedrockInvoke, &with_counts, &[llama]);
    assert_eq!(r.usage, Some(usage(18, 7, 25, 0, 0)));
    assert_eq!(
        read(NativeApi::BedrockInvoke, &ok_json(), &[llama]).usage,
        None
    );
    // The headers count even for a body the filter cannot read.
    let r = read(NativeApi::BedrockInvoke, &with_counts, &[b"\x89PNG"]);
    assert_eq!(
        (r.usage.map(|u| u.total), r.unreadable),
        (Some(25), Some(Unreadable::MalformedJson))
    );
}

#[test]
fn json_errors_map_to_litellm_classes() {
    let h = [
        (":status", "429"),
        ("content-type", "application/json"),
        (
            "x-amzn-errortype",
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        ),
    ];
    let r = read(NativeApi::BedrockConverse, &h, &[THROTTLING]);
    let e = r.error.clone().unwrap();
    assert_eq!(e.kind(), "ThrottlingException");
    assert_eq!(
        e.message(),
        "Too many requests, please wait before trying again."
    );
    assert_eq!(exception_class(429, Some(&e)), Some("RateLimitError"));
    let class = |status: &str, body: &str| {
        let h = [(":status", status), ("content-type", "application/json")];
        let e = read(NativeApi::BedrockInvoke, &h, &[body.as_bytes()]).error;
        exception_class(status.parse().unwrap(), e.as_ref())
    };
    assert_eq!(
        class(
            "400",
            r#"{"message":"Malformed input request: #: required key [messages] not found, please reformat your input and try again."}"#
        ),
        Some("BadRequestError")
    );
    assert_eq!(
        class(
            "400",
            r#"{"message":"Input is too long for requested model."}"#
        ),
        Some("ContextWindowExceededError")
    );
    assert_eq!(
        class(
            "403",
            r#"{"Message":"The security token included in the request is invalid."}"#
        ),
        Some("AuthenticationError")
    );
    assert_eq!(
        class(
            "403",
            r#"{"message":"You don't have access to the model with the specified model ID."}"#
        ),
        Some("PermissionDeniedError")
    );
    assert_eq!(
        class("500", r#"{"message":"An internal error occurred."}"#),
        Some("ServiceUnavailableError")
    );
    assert_eq!(
        class("424", r#"{"message":"The model failed."}"#),
        Some("BadRequestError")
    );
    assert_eq!(
        class(
            "408",
            r#"{"message":"Model has timed out in processing the request."}"#
        ),
        Some("Timeout")
    );
    // On a success, a top-level `message` is the model's output, not an error.
    let ok = read(
        NativeApi::BedrockInvoke,
        &ok_json(),
        &[br#"{"message":"hi"}"#],
    );
    assert_eq!(ok.error, None);
    assert_eq!(
        crate::providers::exception_class("bedrock", 503, None),
        Some("ServiceUnavailableError")
    );
}

#[test]
fn stream_exception_statuses_follow_the_service_model() {
    for (kind, status, class) in [
        ("internalServerException", 500, "ServiceUnavailableError"),
        ("modelStreamErrorException", 424, "BadRequestError"),
        ("validationException", 400, "BadRequestError"),
        ("throttlingException", 429, "RateLimitError"),
        ("modelTimeoutException", 408, "Timeout"),
        (
            "serviceUnavailableException",
            503,
            "ServiceUnavailableError",
        ),
        ("somethingNewException", 400, "BadRequestError"),
    ] {
        let msg = string_message(
            &[
                (":exception-type", kind),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            br#"{"message":"m"}"#,
        );
        let r = read(NativeApi::BedrockConverseStream, &ok_stream(), &[&msg]);
        let e = r.error.unwrap();
        assert_eq!((e.kind(), e.stream_status), (kind, Some(status)), "{kind}");
        assert_eq!(exception_class(status, Some(&e)), Some(class), "{kind}");
    }
    let err = string_message(
        &[
            (":error-code", "InternalFailure"),
            (":error-message", "boom"),
            (":message-type", "error"),
        ],
        b"",
    );
    let e = read(NativeApi::BedrockInvokeStream, &ok_stream(), &[&err])
        .error
        .unwrap();
    assert_eq!(
        (e.kind(), e.message(), e.stream_status),
        ("InternalFailure", "boom", Some(400))
    );
}

#[test]
fn corrupt_and_truncated_streams_are_unreadable() {
    let h = ok_stream();
    // Flip a byte inside the metadata event's payload: its CRC fails, its usage is void.
    let mut corrupt = CONVERSE_STREAM.to_vec();
    let at = corrupt.len() - 20;
    corrupt[at] ^= 0x01;
    let r = read(NativeApi::BedrockConverseStream, &h, &[&corrupt]);
    assert_eq!(
        (r.usage, r.unreadable),
        (None, Some(Unreadable::MalformedEventStream))
    );
    // Cut in the middle of the last message.
    let cut = &CONVERSE_STREAM[..CONVERSE_STREAM.len() - 5];
    let r = read(NativeApi::BedrockConverseStream, &h, &[cut]);
    assert_eq!(
        (r.usage, r.unreadable),
        (None, Some(Unreadable::MalformedEventStream))
    );
    // Not an event stream at all.
    let r = read(NativeApi::BedrockConverseStream, &h, &[b"<html>502</html>"]);
    assert_eq!(r.unreadable, Some(Unreadable::MalformedEventStream));
    // A chunk whose base64 is broken.
    let bad = string_message(
        &[(":event-type", "chunk"), (":message-type", "event")],
        br#"{"bytes":"eyJ0eXBlIjoi*","p":"x"}"#,
    );
    let r = read(NativeApi::BedrockInvokeStream, &h, &[&bad]);
    assert_eq!(r.unreadable, Some(Unreadable::MalformedEventStream));
}

fn chunk(inner: &str, payload: impl Fn(&str) -> String) -> Vec<u8> {
    string_message(
        &[
            (":event-type", "chunk"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload(&base64(inner.as_bytes())).as_bytes(),
    )
}

#[test]
fn chunk_payloads_in_any_member_order_and_spacing() {
    let start =
        r#"{"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}"#;
    let delta = r#"{"type":"message_delta","usage":{"output_tokens":3}}"#;
    let stream = [
        chunk(start, |b| {
            format!(
                r#"{{ "p" : "abc" , "bytes" : "{}" }}"#,
                b.replace('/', "\\/")
            )
        }),
        chunk(delta, |b| {
            format!(r#"{{"bytes":"{b}","p":"abcdefghijklmnopqrstuvwxyz"}}"#)
        }),
    ]
    .concat();
    let r = assert_split_invariant("chunks", &stream, 0, |c| {
        read(NativeApi::BedrockInvokeStream, &ok_stream(), c)
    });
    assert_eq!(r.usage, Some(usage(5, 3, 8, 0, 0)));
    assert_eq!(r.unreadable, None);
    // Every padding length.
    for inner in [
        r#"{"type":"message_delta","usage":{"output_tokens":3}}"#,
        r#"{"type":"message_delta","usage":{"output_tokens":3}} "#,
        r#"{"type":"message_delta","usage":{"output_tokens":3}}  "#,
    ] {
        let s = [
            chunk(start, |b| format!(r#"{{"bytes":"{b}"}}"#)),
            chunk(inner, |b| format!(r#"{{"bytes":"{b}"}}"#)),
        ]
        .concat();
        let r = read(NativeApi::BedrockInvokeStream, &ok_stream(), &[&s]);
        assert_eq!(
            (r.usage.map(|u| u.output), r.unreadable),
            (Some(3), None),
            "{inner:?}"
        );
    }
    for bad in [
        r#"{"bytes":"QQ=A"}"#,
        r#"{"bytes":"Q"}"#,
        r#"{"bytes":1}"#,
        r#"{"p":"x"}"#,
        r#"["bytes"]"#,
    ] {
        let m = string_message(
            &[(":event-type", "chunk"), (":message-type", "event")],
            bad.as_bytes(),
        );
        let r = read(NativeApi::BedrockInvokeStream, &ok_stream(), &[&m]);
        assert_eq!(
            r.unreadable,
            Some(Unreadable::MalformedEventStream),
            "{bad}"
        );
    }
}

#[test]
fn sigv4_identity() {
    let h = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250115/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024";
    assert_eq!(
        sigv4_credential(h),
        Some(SigV4Credential {
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            date: "20250115",
            region: Some("us-east-1"),
            service: "bedrock",
        })
    );
    let a = "AWS4-ECDSA-P256-SHA256 Credential=ASIAXAMPLE123/20250115/bedrock/aws4_request, SignedHeaders=host;x-amz-region-set, Signature=3045";
    let c = sigv4_credential(a).unwrap();
    assert_eq!(
        (c.access_key_id, c.region, c.service),
        ("ASIAXAMPLE123", None, "bedrock")
    );
    for bad in [
        "Bearer AKIAIOSFODNN7EXAMPLE",
        "AWS4-HMAC-SHA256Credential=AKID/20250115/us-east-1/bedrock/aws4_request",
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKID/2025011/us-east-1/bedrock/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AK;ID/20250115/us-east-1/bedrock/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKID/20250115/US-EAST-1/bedrock/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKID/20250115/us-east-1/bedrock/aws4_request/x",
        "AWS4-HMAC-SHA256 Credential=/20250115/us-east-1/bedrock/aws4_request",
    ] {
        assert_eq!(sigv4_credential(bad), None, "{bad}");
    }
    assert_eq!(
        sigv4_query_credential("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20250115%2Feu-west-3%2Fbedrock%2Faws4_request&X-Amz-Signature=00"),
        Some(("AKIAEXAMPLE".to_owned(), Some("eu-west-3".to_owned())))
    );
    assert_eq!(sigv4_query_credential("a=b"), None);
}

#[test]
fn converse_reasoning_tokens_when_reported() {
    let body = br#"{"output":{"message":{"role":"assistant","content":[]}},"additionalModelResponseFields":{"usage":{"output_tokens_details":{"thinking_tokens":30}}},"usage":{"inputTokens":3,"outputTokens":20,"totalTokens":23}}"#;
    let r = read(NativeApi::BedrockConverse, &ok_json(), &[body]);
    assert_eq!(
        r.usage.map(|u| u.output_reasoning),
        Some(20),
        "capped to the output"
    );
    let stop = string_message(
        &[(":event-type", "messageStop"), (":message-type", "event")],
        br#"{"stopReason":"end_turn","additionalModelResponseFields":{"usage":{"output_tokens_details":{"thinking_tokens":4}}}}"#,
    );
    let meta = string_message(
        &[(":event-type", "metadata"), (":message-type", "event")],
        br#"{"usage":{"inputTokens":3,"outputTokens":9,"totalTokens":12,"cacheReadInputTokenCount":2}}"#,
    );
    let r = read(
        NativeApi::BedrockConverseStream,
        &ok_stream(),
        &[&[stop, meta].concat()],
    );
    assert_eq!(
        r.usage,
        Some(Usage {
            output_reasoning: 4,
            ..usage(5, 9, 14, 2, 0)
        })
    );
}

/// Random Bedrock streams (both operations' messages mixed), cut anywhere, read as whole.
#[test]
fn random_streams_read_the_same_whatever_the_cuts() {
    let messages = [
        string_message(
            &[
                (":event-type", "contentBlockDelta"),
                (":message-type", "event"),
            ],
            br#"{"delta":{"text":"x"}}"#,
        ),
        string_message(
            &[(":event-type", "metadata"), (":message-type", "event")],
            br#"{"usage":{"inputTokens":3,"outputTokens":4,"totalTokens":7}}"#,
        ),
        string_message(
            &[
                (":exception-type", "throttlingException"),
                (":message-type", "exception"),
            ],
            br#"{"message":"slow"}"#,
        ),
        chunk(
            r#"{"type":"message_start","message":{"usage":{"input_tokens":2,"output_tokens":1}}}"#,
            |b| format!(r#"{{"bytes":"{b}","p":"ab"}}"#),
        ),
        chunk(
            r#"{"type":"message_delta","usage":{"output_tokens":6}}"#,
            |b| format!(r#"{{"bytes":"{b}"}}"#),
        ),
        chunk(
            r#"{"type":"content_block_delta","delta":{"text":"\"usage\":{}"}}"#,
            |b| format!(r#"{{"bytes":"{b}"}}"#),
        ),
        b"\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2\x48\xeb\x7d\x98\xc8\xff".to_vec(),
    ];
    let mut rng = Rng(0xA076_1D64_78BD_642F);
    for _ in 0..2_000 {
        let mut input = Vec::new();
        for _ in 0..rng.below(5) {
            input.extend_from_slice(&messages[rng.below(messages.len())]);
        }
        if rng.below(8) == 0 && !input.is_empty() {
            let at = rng.below(input.len());
            input[at] ^= 0x40;
        }
        let api = if rng.below(2) == 0 {
            NativeApi::BedrockConverseStream
        } else {
            NativeApi::BedrockInvokeStream
        };
        let whole = read(api, &ok_stream(), &[&input]);
        let cuts = rng.cuts(input.len(), 6);
        assert_eq!(
            read(api, &ok_stream(), &pieces(&input, &cuts)),
            whole,
            "cut at {cuts:?}"
        );
    }
}
