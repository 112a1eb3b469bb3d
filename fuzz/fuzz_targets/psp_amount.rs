//! Fuzz target `psp_amount`: the properties are in `src/psp_amount.rs` (docs/FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| guichet_fuzz::psp_amount::run(data));
