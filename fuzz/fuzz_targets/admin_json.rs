//! Fuzz target `admin_json`: the properties are in `src/admin_json.rs` (docs/FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| guichet_fuzz::admin_json::run(data));
