//! Fuzz target `sips_json`: the properties are in `src/sips_json.rs` (docs/FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| guichet_fuzz::sips_json::run(data));
