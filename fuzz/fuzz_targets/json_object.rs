//! cargo-fuzz target: the properties in `checks/src/json_object.rs` (also replayed on stable by `make unit`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::json_object::check(data));
