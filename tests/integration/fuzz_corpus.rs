//! The fuzz targets' seed corpora and every input the fuzzer has found (fuzz/seeds,
//! fuzz/regressions), run through the same checks on a plain `cargo test`, so a parser
//! change that breaks one fails here without nightly flags or cargo-fuzz.

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            out.push(e.unwrap().path());
        }
    }
    out.sort();
    assert!(
        !out.is_empty(),
        "no seed inputs in fuzz/seeds/{target}: the corpus was lost"
    );
    out
}

fn each(target: &str, check: impl Fn(&[u8])) {
    for path in inputs(target) {
        let data = std::fs::read(&path).unwrap();
        eprintln!("{target}: {}", path.display());
        check(&data);
    }
}

#[test]
fn config_corpus() {
    each("config", checks::config);
}

#[test]
fn manifest_corpus() {
    each("manifest", checks::manifest);
}

#[test]
fn journal_corpus() {
    each("journal", checks::journal);
}

#[test]
fn grubenv_corpus() {
    each("grubenv", checks::grubenv);
}

#[test]
fn hash_forms_corpus() {
    each("hash_forms", checks::hash_forms);
}

#[test]
fn http_head_corpus() {
    each("http_head", checks::http_head);
}

#[test]
fn iso_open_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("input.iso");
    each("iso_open", |d| checks::iso_open(d, &scratch));
}
