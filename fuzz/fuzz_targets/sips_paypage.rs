//! Fuzz target `sips_paypage`: the properties are in `src/sips_paypage.rs` (docs/FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| guichet_fuzz::sips_paypage::run(data));
