//! Streams of `D` text deltas (plus their start and end events), one event per chunk as real
//! LLM streams arrive, read `N` times:
//!
//!     bench-providers-profile <openai|anthropic|converse|invoke> <D> <N>
//!
//! `openai` is the OpenAI chat path's per-event work (the SSE framer and the key spotter hunting
//! `usage`, as the exchange drives them); the others go through `providers::ResponseReader`.
//! tests/bench/providers.sh runs each under callgrind at two `D` and divides the difference.
use llm_telemetry_core::event_stream::encode::{chunk_payload, string_message};
use llm_telemetry_core::providers::ResponseReader;
use llm_telemetry_core::route::NativeApi;
use llm_telemetry_core::spot::KeySpotter;
use llm_telemetry_core::sse::{SseFramer, SseSink};
use std::hint::black_box;
use std::process::ExitCode;

const TEXT: &str = "Bonjour ! Ça va très bien,";

fn event(event_type: &str, payload: &str) -> Vec<u8> {
    let h = [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ];
    string_message(&h, payload.as_bytes())
}

fn chunk(inner: &str) -> Vec<u8> {
    event("chunk", &chunk_payload(inner.as_bytes(), "abcdefghijklmnop"))
}

/// The stream's chunks, one event each.
fn stream(kind: &str, deltas: usize) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    match kind {
        "openai" => {
            for _ in 0..deltas {
                out.push(format!(r#"data: {{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{{"index":0,"delta":{{"content":"{TEXT}"}},"logprobs":null,"finish_reason":null}}],"usage":null}}"#).into_bytes());
                out.last_mut()?.extend_from_slice(b"\n\n");
            }
            out.push(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\ndata: [DONE]\n\n".to_vec());
        }
        "anthropic" => {
            out.push(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n".to_vec());
            for _ in 0..deltas {
                out.push(format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{TEXT}\"}}}}\n\n").into_bytes());
            }
            out.push(b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n".to_vec());
        }
        "converse" => {
            for _ in 0..deltas {
                out.push(event("contentBlockDelta", &format!(r#"{{"contentBlockIndex":0,"delta":{{"text":"{TEXT}"}},"p":"abcdefghijklmnopqrstu"}}"#)));
            }
            out.push(event("metadata", r#"{"usage":{"inputTokens":3,"outputTokens":4,"totalTokens":7},"metrics":{"latencyMs":3}}"#));
        }
        "invoke" => {
            out.push(chunk(r#"{"type":"message_start","message":{"model":"claude","usage":{"input_tokens":5,"output_tokens":1}}}"#));
            for _ in 0..deltas {
                out.push(chunk(&format!(r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{TEXT}"}}}}"#)));
            }
            out.push(chunk(r#"{"type":"message_delta","usage":{"output_tokens":9}}"#));
        }
        _ => return None,
    }
    Some(out)
}

/// The OpenAI path's per-event work, as `exchange::EventReader` drives it.
struct Spot(KeySpotter);

impl SseSink for Spot {
    fn data(&mut self, f: &[u8]) {
        self.0.feed(f);
    }
    fn dispatch(&mut self, _: &[u8]) {
        black_box(self.0.value(0));
        self.0.reset_wanting(|k| k == 0);
    }
}

#[inline(never)]
fn run(kind: &str, chunks: &[Vec<u8>], n: usize) {
    let (api, content_type) = match kind {
        "anthropic" => (NativeApi::AnthropicMessages, "text/event-stream"),
        "converse" => (NativeApi::BedrockConverseStream, "application/vnd.amazon.eventstream"),
        _ => (NativeApi::BedrockInvokeStream, "application/vnd.amazon.eventstream"),
    };
    for _ in 0..n {
        if kind == "openai" {
            const KEYS: &[&[u8]] = &[b"usage", b"model", b"error", b"service_tier"];
            let mut f = SseFramer::new();
            let mut s = Spot(KeySpotter::new(KEYS, 65536));
            for c in chunks {
                f.feed(black_box(c), &mut s);
            }
            black_box(f.finish(&mut s));
        } else {
            let get = |name: &str| match name {
                ":status" => Some("200".to_owned()),
                "content-type" => Some(content_type.to_owned()),
                _ => None,
            };
            let mut r = ResponseReader::new(api, &get, 65536);
            for c in chunks {
                r.feed(black_box(c));
            }
            black_box(r.finish());
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(deltas), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|d| d.parse().ok()),
        args.get(3).and_then(|n| n.parse().ok()),
    ) else {
        eprintln!("usage: bench-providers-profile <openai|anthropic|converse|invoke> <deltas> <N>");
        return ExitCode::FAILURE;
    };
    let Some(chunks) = stream(kind, deltas) else {
        eprintln!("unknown stream {kind}");
        return ExitCode::FAILURE;
    };
    println!("delta chunk bytes {}", chunks.get(1).map_or(0, Vec::len));
    run(kind, &chunks, n);
    ExitCode::SUCCESS
}
