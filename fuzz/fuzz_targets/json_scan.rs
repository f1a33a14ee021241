//! cargo-fuzz target: the properties in `checks/src/json_scan.rs` (also replayed on stable by `make unit`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::json_scan::check(data));
