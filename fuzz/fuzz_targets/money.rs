//! Fuzz target `money`: the properties are in `src/money.rs` (docs/FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| guichet_fuzz::money::run(data));
