//! Fuzz target `ogone_return`: the properties are in `src/ogone_return.rs` (docs/FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| guichet_fuzz::ogone_return::run(data));
