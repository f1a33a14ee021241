use super::*;
use crate::json_scan::{JsonScanner, ScanState};
use crate::test_support::{pieces, Rng};

#[test]
fn provider_from_host() {
    let cases = [
        ("api.openai.com", "openai"),
        ("API.OpenAI.com:443", "openai"),
        ("my-res.openai.azure.com", "azure"),
        ("my-res.cognitiveservices.azure.com", "azure"),
        ("my-proj.services.ai.azure.com", "azure_ai"),
        ("api.anthropic.com", "anthropic"),
        ("generativelanguage.googleapis.com", "gemini"),
        ("us-central1-aiplatform.googleapis.com", "vertex_ai"),
        ("aiplatform.googleapis.com", "vertex_ai"),
        ("bedrock-runtime.us-east-1.amazonaws.com", "bedrock"),
        (
            "bedrock-runtime-fips.us-west-2.amazonaws.com:443",
            "bedrock",
        ),
        ("bedrock-runtime.eu-west-3.api.aws", "bedrock"),
        ("api.mistral.ai", "mistral"),
        ("api.groq.com", "groq"),
        ("api.together.xyz", "together_ai"),
        ("openrouter.ai", "openrouter"),
        ("api.deepseek.com", "deepseek"),
        ("api.x.ai", "xai"),
        ("localhost:11434", "ollama"),
        ("[::1]:11434", "ollama"),
        ("ollama.models.svc.cluster.local:8080", "ollama"),
        ("vllm-llama3.inference.svc:8000", "hosted_vllm"),
        ("127.0.0.1:8000", "openai"),
        ("llm-gateway.internal", "openai"),
        // Look-alike domains are not the provider's.
        ("notanthropic.com", "openai"),
        ("anthropic.com.evil.example", "openai"),
        (
            "bedrock-runtime.us-east-1.amazonaws.com.evil.example",
            "openai",
        ),
    ];
    for (host, want) in cases {
        assert_eq!(
            detect_provider(host, "/v1/chat/completions"),
            want,
            "{host}"
        );
    }
}

#[test]
fn provider_from_path_behind_a_gateway() {
    let cases = [
        ("/v1/messages", "anthropic"),
        ("/anthropic/v1/messages", "anthropic"),
        ("/v1beta/models/gemini-2.5-flash:generateContent", "gemini"),
        (
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent",
            "vertex_ai",
        ),
        (
            "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-3-5-sonnet@20240620:rawPredict",
            "vertex_ai",
        ),
        ("/model/anthropic.claude-3-haiku-20240307-v1:0/converse", "bedrock"),
        ("/openai/deployments/gpt4o/chat/completions", "azure"),
        ("/v1/chat/completions", "openai"),
    ];
    for (path, want) in cases {
        assert_eq!(detect_provider("10.0.0.7:8080", path), want, "{path}");
    }
    // A known host wins over the path's shape.
    assert_eq!(
        detect_provider("openrouter.ai", "/api/v1/messages"),
        "openrouter"
    );
}

#[test]
fn litellm_status_fallback_and_context_window_texts() {
    assert_eq!(class_by_status(499), Some("BadRequestError"));
    assert_eq!(class_by_status(599), Some("APIError"));
    assert_eq!(class_by_status(200), None);
    assert!(context_window_exceeded(
        "This model's maximum context length is 8192 tokens"
    ));
    assert!(context_window_exceeded(
        "Current length is 9000 while limit is 8192"
    ));
    assert!(!context_window_exceeded(
        "string_above_max_length: exceed context limit"
    ));
    assert!(!context_window_exceeded("rate limited"));
    let timeout = ProviderError {
        message: Some("Request timed out.".into()),
        ..ProviderError::default()
    };
    for provider in ["anthropic", "bedrock", "gemini", "vertex_ai"] {
        assert_eq!(
            exception_class(provider, 500, Some(&timeout)),
            Some("Timeout")
        );
    }
    assert_eq!(
        exception_class("openai", 429, None),
        None,
        "the OpenAI-style table applies"
    );
}

#[test]
fn stream_usage_keeps_reported_counts() {
    let mut s = StreamUsage::default();
    assert_eq!(s.total(), None);
    s.add(Usage {
        input: 10,
        output: 1,
        input_cached: 4,
        ..Usage::default()
    });
    s.add(Usage {
        input: 0,
        output: 7,
        output_reasoning: 2,
        ..Usage::default()
    });
    let t = s.total().unwrap();
    assert_eq!(
        (
            t.input,
            t.output,
            t.total,
            t.input_cached,
            t.output_reasoning
        ),
        (10, 7, 17, 4, 2),
        "a later 0 input keeps the input side"
    );
    s.add(Usage {
        input: 12,
        output: 0,
        ..Usage::default()
    });
    let t = s.total().unwrap();
    assert_eq!((t.input, t.output, t.input_cached), (12, 7, 0));
}

/// What the sniffer says, and the canonical replay plus the unconsumed rest parse as the input.
fn sniff(chunks: &[&[u8]]) -> (Option<Vec<u8>>, bool, Vec<u8>) {
    let mut s = TypeSniffer::default();
    let mut rest = Vec::new();
    let mut decided = false;
    for c in chunks {
        if decided {
            rest.extend_from_slice(c);
            continue;
        }
        let used = s.push(c);
        if s.verdict() != Verdict::Pending {
            decided = true;
            rest.extend_from_slice(&c[used..]);
        }
    }
    let mut head = [0u8; REPLAY_MAX];
    let n = s.replay(&mut head);
    let doc = [&head[..n], &rest[..]].concat();
    match s.verdict() {
        Verdict::Known(t) => (Some(t.to_vec()), true, doc),
        Verdict::Unknown => (None, true, doc),
        Verdict::Pending => (None, false, doc),
    }
}

#[test]
fn sniffer_reads_a_leading_type_and_replays_what_it_consumed() {
    let inputs: [&[u8]; 10] = [
        br#"{"type":"message_start","message":{}}"#,
        br#"  {  "type" :	"ping" }"#,
        br#"{"typo":"x","type":"message_delta"}"#,
        br#"{"ty":1}"#,
        br#"{"type":1}"#,
        br#"{"type":"a\"b"}"#,
        br#"{"type":"abcdefghijklmnopqrstuvwxyzabcdefghijkl"}"#,
        br#"{}"#,
        br#"[{"type":"x"}]"#,
        br#"{"types":"x"}"#,
    ];
    let types: [Option<&[u8]>; 10] = [
        Some(b"message_start"),
        Some(b"ping"),
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    ];
    for (input, want) in inputs.iter().zip(types) {
        let canonical: serde_json::Value = serde_json::from_slice(input).unwrap();
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let (t, decided, doc) = sniff(&pieces(input, &[a, b]));
                let what = String::from_utf8_lossy(input);
                assert!(decided, "{what}");
                assert_eq!(t.as_deref(), want, "{what} split {a},{b}");
                let replayed: serde_json::Value = serde_json::from_slice(&doc).unwrap();
                assert_eq!(replayed, canonical, "{what} split {a},{b}");
            }
        }
    }
    assert!(!sniff(&[b"  {\"ty"]).1, "pending");
}

/// The replay fed to a scanner ahead of the rest gives the same captures as the whole input.
#[test]
fn sniffer_replay_is_equivalent_for_a_scanner() {
    const PATHS: &[&str] = &["type", "usage"];
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let docs = [
        r#"{"type":"message_delta","usage":{"output_tokens":3}}"#,
        r#"{ "type" : "message_delta" , "usage" : {"output_tokens":3} }"#,
        r#"{"usage":{"output_tokens":3},"type":"message_delta"}"#,
        r#"{"t":1,"usage":{}}"#,
    ];
    for _ in 0..500 {
        let doc = docs[rng.below(docs.len())].as_bytes();
        let cuts = rng.cuts(doc.len(), 3);
        let (_, _, replayed) = sniff(&pieces(doc, &cuts));
        let scan = |bytes: &[u8]| {
            let mut s = JsonScanner::new(PATHS, 256);
            s.feed(bytes);
            assert_eq!(s.finish(), ScanState::Complete);
            (
                s.captured(0).map(<[u8]>::to_vec),
                s.captured(1).map(<[u8]>::to_vec),
            )
        };
        assert_eq!(scan(&replayed), scan(doc));
    }
}

#[test]
fn response_reader_dispatch_and_rate_limits() {
    let headers = |ct: &'static str| {
        move |name: &str| match name {
            ":status" => Some("200".to_owned()),
            "content-type" => Some(ct.to_owned()),
            "anthropic-ratelimit-requests-remaining" => Some("3".to_owned()),
            _ => None,
        }
    };
    let sse = headers("text/event-stream");
    let mut r = ResponseReader::new(NativeApi::AnthropicMessages, &sse, 1024);
    r.feed(b"data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":2,\"output_tokens\":1}}}\n\n");
    r.feed(b"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":5}}\n\n");
    assert_eq!(r.finish().usage.map(|u| (u.input, u.output)), Some((2, 5)));
    let json = headers("application/json");
    let mut g = ResponseReader::new(NativeApi::GeminiGenerateContent, &json, 1024);
    g.feed(br#"{"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":6,"totalTokenCount":10}}"#);
    assert_eq!(g.finish().usage.map(|u| u.total), Some(10));
    let mut b = ResponseReader::new(NativeApi::BedrockConverse, &json, 1024);
    b.feed(br#"{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}"#);
    assert_eq!(b.finish().usage.map(|u| u.total), Some(3));
    assert_eq!(
        rate_limits(NativeApi::AnthropicMessages, &json).and_then(|r| r.remaining_requests),
        Some(3)
    );
    assert_eq!(rate_limits(NativeApi::BedrockConverse, &json), None);
    assert_eq!(
        Unreadable::MalformedEventStream.as_str(),
        "response_malformed_event_stream"
    );
}

#[test]
fn caller_keys_never_include_a_signature() {
    let sigv4 = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250115/us-west-2/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc123";
    assert_eq!(
        caller_key(Some(sigv4), None, None, None, ""),
        Some(CallerKey::AwsAccessKey {
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            region: Some("us-west-2")
        })
    );
    // A SigV4 header that cannot be read is no key at all (not the whole header hashed).
    assert_eq!(
        caller_key(Some("AWS4-HMAC-SHA256 Signature=abc"), None, None, None, ""),
        None
    );
    assert_eq!(
        caller_key(
            Some("AWS4-HMAC-SHA256 Signature=abc"),
            None,
            Some("sk-ant-1"),
            None,
            ""
        ),
        Some(CallerKey::ApiKey("sk-ant-1"))
    );
    assert_eq!(
        caller_key(None, None, Some("sk-ant-api03-x"), None, "").map(|k| k.as_str().to_owned()),
        Some("sk-ant-api03-x".to_owned())
    );
    assert_eq!(
        caller_key(Some("Bearer ABSKbedrockkey"), None, None, None, ""),
        Some(CallerKey::ApiKey("ABSKbedrockkey"))
    );
    assert_eq!(
        caller_key(None, None, None, Some("AIzaHeader"), "key=AIzaQuery"),
        Some(CallerKey::ApiKey("AIzaHeader"))
    );
    assert_eq!(
        caller_key(None, None, None, None, "alt=sse&key=AIzaQuery"),
        Some(CallerKey::QueryKey("AIzaQuery".into()))
    );
    assert_eq!(
        caller_key(None, None, None, None, "X-Amz-Credential=AKIAQ%2F20250115%2Fus-east-1%2Fbedrock%2Faws4_request&X-Amz-Signature=ff")
            .map(|k| k.as_str().to_owned()),
        Some("AKIAQ".to_owned())
    );
    assert_eq!(caller_key(None, None, None, None, ""), None);
}
