//! cargo-fuzz target: the properties in `checks/src/event_stream.rs` (also replayed on stable by `make unit`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::event_stream::check(data));
