//! Pure logic of llm-telemetry. Nothing here imports proxy-wasm: every module builds and is
//! unit-tested natively with `cargo test`; `filter/wasm` is the thin adapter that talks to Envoy.
// Tests may unwrap; filter code may not (a panic kills the Wasm VM inside Envoy).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod json_scan;
pub mod sse;
