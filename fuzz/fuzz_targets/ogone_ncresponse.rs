//! Fuzz target `ogone_ncresponse`: the properties are in `src/ogone_ncresponse.rs` (docs/FUZZING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| guichet_fuzz::ogone_ncresponse::run(data));
