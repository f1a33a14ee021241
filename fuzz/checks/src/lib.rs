//! Property checks of the core's parsers, shared by the cargo-fuzz targets (`fuzz/fuzz_targets`,
//! nightly, `make fuzz`) and the stable replay (`tests/replay.rs`, `make unit`), so that what is
//! fuzzed and what CI replays cannot drift apart.
//!
//! Each module's `check(data)` panics when a property fails. Properties are about the parsers'
//! public behaviour: the same result whatever the split, and agreement with a reference
//! (serde_json, a literal WHATWG framer, flate2's whole-buffer inflate, the same bytes fed whole).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

/// Config parsing (and the alerting settings it passes on).
pub mod config;
/// gzip/deflate decoding.
pub mod decode;
/// The AWS event-stream framer.
pub mod event_stream;
/// A whole exchange.
pub mod exchange;
/// Random structured inputs for the stable replay.
pub mod gen;
/// The streamed JSON array framer.
pub mod json_array;
/// Members, elements and counts of a captured JSON value.
pub mod json_object;
/// The incremental JSON scanner.
pub mod json_scan;
/// The provider-native response readers.
pub mod providers;
/// serde_json-based references.
pub mod reference;
/// Randomness and split plans.
pub mod split;
/// The key spotter.
pub mod spot;
/// The SSE framer.
pub mod sse;

/// A target's property check: panics when a property fails.
pub type Check = fn(&[u8]);

/// Every target: its name (the cargo-fuzz binary and the corpus directory) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("sse", sse::check),
    ("json_scan", json_scan::check),
    ("spot", spot::check),
    ("decode", decode::check),
    ("config", config::check),
    ("exchange", exchange::check),
    ("event_stream", event_stream::check),
    ("json_array", json_array::check),
    ("json_object", json_object::check),
    ("providers", providers::check),
];
