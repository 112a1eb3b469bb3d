//! Runs every target's properties over its committed seed corpus (`corpus/<target>/`) and its
//! kept crashes (`regressions/<target>/`), without libFuzzer, on the stable toolchain:
//! `cargo test --manifest-path fuzz/Cargo.toml`. A regression that still fails fails here.

use std::path::Path;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

fn replay(kind: &str, require_some: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    for (name, run) in guichet_fuzz::TARGETS {
        let files = inputs(&root.join(kind).join(name));
        assert!(
            !require_some || !files.is_empty(),
            "{kind}/{name} has no input"
        );
        for file in files {
            let data = std::fs::read(&file).expect("readable input");
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "failing inputs: {failures:#?}");
}

#[test]
fn seed_corpora_hold_every_property() {
    replay("corpus", true);
}

#[test]
fn kept_regressions_hold_every_property() {
    replay("regressions", false);
}
