//! Properties checked by Guichet's fuzz targets (issue 7, item 4; docs/FUZZING.md).
//!
//! Each module has one `run(data: &[u8])` that the libFuzzer binary of the same name in
//! `fuzz_targets/` calls for every input. A property that does not hold panics, which libFuzzer
//! reports as a crash and saves the input. `tests/replay.rs` runs the same functions over the
//! committed seed corpora and regressions with plain `cargo test` (no libFuzzer, stable).
//!
//! The targets only call the crates' public parsers: no product source is changed for them.

pub mod admin_json;
pub mod money;
pub mod ogone_ncresponse;
pub mod ogone_return;
pub mod psp_amount;
pub mod shop_json;
pub mod sips_json;
pub mod sips_paypage;
mod util;

/// A target's property check.
pub type Target = fn(&[u8]);

/// Every target, by name (the names of `fuzz_targets/*.rs` and of the corpus folders).
pub const TARGETS: &[(&str, Target)] = &[
    ("ogone_ncresponse", ogone_ncresponse::run),
    ("ogone_return", ogone_return::run),
    ("sips_paypage", sips_paypage::run),
    ("sips_json", sips_json::run),
    ("shop_json", shop_json::run),
    ("admin_json", admin_json::run),
    ("money", money::run),
    ("psp_amount", psp_amount::run),
];
