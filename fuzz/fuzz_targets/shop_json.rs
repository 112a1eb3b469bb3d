//! Fuzz target `shop_json`: the properties are in `src/shop_json.rs` (docs/FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| guichet_fuzz::shop_json::run(data));
