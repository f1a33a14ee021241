//! Pure logic of llm-telemetry. Nothing here imports proxy-wasm: every module builds and is
//! unit-tested natively with `cargo test`; `filter/wasm` is the thin adapter that talks to Envoy.
// Tests may unwrap; filter code may not (a panic kills the Wasm VM inside Envoy).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

/// LiteLLM-style alerting: rules, texts, batching, routing.
pub mod alerts;
/// LiteLLM's metric families: names, types, label keys, buckets.
pub mod catalogue;
/// Plugin configuration in LiteLLM's vocabulary, validated and compiled once.
pub mod config;
/// One request/response exchange, from headers to the final record.
pub mod exchange;
/// The OpenTelemetry gen_ai metric vocabulary and its Prometheus names, as data.
pub mod gen_ai;
/// One deployment health for the proxy: LiteLLM's router cooldown rules.
pub mod health;
/// API keys to `hashed_api_key`, and the identity table.
pub mod identity;
/// Label values: escaping and encoding into Envoy stat names.
pub mod labels;
/// Per-request logging as LiteLLM does it: call ids, response headers, the standard logging
/// payload, the generic endpoint, OpenTelemetry, Datadog, access-log filter state.
pub mod logging;
/// Turning a finished exchange into metric updates, aggregated per VM.
pub mod metrics;
/// OpenAI-style bodies: which member carries what, read into typed captures.
pub mod openai;
/// Records queued in the VM, batched into POST bodies, retried, dropped and counted.
pub mod outbox;
/// The incremental parsers (SSE, JSON, AWS event stream, gzip), and the byte search under them.
pub mod parsers;
/// The parsers at their old paths (`crate::sse`, ...), as the rest of the crate and the fuzz
/// targets name them.
pub use parsers::{bytes, decode, event_stream, json_array, json_object, json_scan, spot, sse};
/// Anthropic, Gemini / Vertex AI and Bedrock responses read natively, with LiteLLM's semantics.
pub mod providers;
/// One finished request worked out once (deployment, identity, label values) for every reader.
pub mod resolve;
/// Which OpenAI-style (or provider-native) API a request path is.
pub mod route;
/// Spend and budgets: prices, cost per request, budget decisions, shared spend.
pub mod spend;
/// Token usage read from OpenAI-style usage objects.
pub mod usage;

/// Shared test helpers: split-invariance checks and test-side encoders.
#[cfg(test)]
#[path = "tests/support.rs"]
mod test_support;
