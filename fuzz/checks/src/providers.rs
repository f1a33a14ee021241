//! The provider-native response readers (Anthropic, Gemini / Vertex AI, Bedrock), whatever the
//! body: the first input byte picks the API and the response's content type, the rest is the
//! body.
//!
//! Properties, for any body and any split: the [`Reading`] is the one of the whole body; usage
//! obeys LiteLLM's arithmetic (total = input + output for streams; cached and cache-creation
//! tokens within the input for Anthropic and Bedrock; reasoning within the output where capped);
//! an incomplete stream usage counts no output; error types are bounded.

use llm_telemetry_core::providers::{Reading, ResponseReader, MAX_ERROR_KIND};
use llm_telemetry_core::route::NativeApi;

use crate::split::{pieces, plans, Rng};

/// What the selector byte picks: (API, content type, status).
pub const SETUPS: &[(NativeApi, &str, &str)] = &[
    (NativeApi::AnthropicMessages, "application/json", "200"),
    (NativeApi::AnthropicMessages, "text/event-stream", "200"),
    (NativeApi::GeminiGenerateContent, "application/json", "200"),
    (
        NativeApi::GeminiStreamGenerateContent { sse: true },
        "text/event-stream",
        "200",
    ),
    (NativeApi::BedrockConverse, "application/json", "429"),
    (
        NativeApi::BedrockConverseStream,
        "application/vnd.amazon.eventstream",
        "200",
    ),
    (NativeApi::BedrockInvoke, "application/json", "200"),
    (
        NativeApi::BedrockInvokeStream,
        "application/vnd.amazon.eventstream",
        "200",
    ),
];

fn read(setup: usize, chunks: &[&[u8]]) -> Reading {
    let (api, content_type, status) = SETUPS[setup];
    let get = |name: &str| match name {
        ":status" => Some(status.to_owned()),
        "content-type" => Some(content_type.to_owned()),
        "x-amzn-bedrock-input-token-count" => Some("11".to_owned()),
        "x-amzn-errortype" => Some("ThrottlingException:http://internal".to_owned()),
        _ => None,
    };
    let mut r = ResponseReader::new(api, &get, 512);
    for c in chunks {
        r.feed(c);
    }
    r.finish()
}

/// The readers' properties on `data` (see the module documentation).
pub fn check(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let setup = usize::from(selector) % SETUPS.len();
    let whole = read(setup, &[body]);
    let mut rng = Rng::from_bytes(data);
    for cuts in plans(body.len(), &mut rng) {
        assert_eq!(
            read(setup, &pieces(body, &cuts)),
            whole,
            "{:?} cut at {cuts:?}",
            SETUPS[setup]
        );
    }
    if let Some(u) = whole.usage {
        let (api, content_type, _) = SETUPS[setup];
        let stream = content_type != "application/json";
        if stream {
            assert_eq!(u.total, u.input.saturating_add(u.output), "stream total");
        }
        if !matches!(
            api,
            NativeApi::GeminiGenerateContent | NativeApi::GeminiStreamGenerateContent { .. }
        ) {
            assert!(
                u.input_cached.saturating_add(u.input_cache_creation) <= u.input,
                "{u:?}"
            );
            assert!(u.output_reasoning <= u.output, "{u:?}");
        }
        if whole.usage_incomplete {
            assert_eq!((u.output, u.total), (0, u.input));
        }
    }
    if let Some(e) = &whole.error {
        assert!(e.kind().len() <= MAX_ERROR_KIND);
    }
}
