//! What the binary prints, as insta snapshots (snapshots/): `status`, `check` passing
//! and on the demo's `--fail check` root, `verify` matching and mismatching, plain and
//! `--json`, on demo roots built here. Paths, times, durations, hashes and sizes are
//! masked, so a snapshot changes only when the wording or the layout does.

use crate::support::*;
use std::path::Path;
use std::process::{Command, Stdio};

/// Escapes a literal for insta's regex filters.
fn literal(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The exit code and what the command said, stdout and stderr apart.
fn shown(o: &std::process::Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}",
        code(o),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs the binary on `root` and snapshots its output under `name`, masked.
fn snap(name: &str, root: &Path, args: &[&str]) {
    let o = run(root, args);
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    let base = root.parent().unwrap().display().to_string();
    s.set_description(format!(
        "upgrade-console --root ROOT {}",
        args.join(" ").replace(&base, "[TMP]")
    ));
    s.set_omit_expression(true);
    // The roots live in fresh temporary directories.
    s.add_filter(&literal(&base), "[TMP]");
    // What the machine running the test has: its disks, its links, its kernel.
    s.add_filter(r"(?m)^Disks\n(?:  .*\n)*", "Disks\n  [HOST DISKS]\n");
    s.add_filter(r"(?m)^(  eth\d+) +[a-z-]+ +", "$1 [LINK] ");
    s.add_filter(r#"(?s)"system": \{.*?\}"#, r#""system": "[HOST]""#);
    s.add_filter(r#"(?s)"disks": \[.*?\n  \]"#, r#""disks": "[HOST DISKS]""#);
    s.add_filter(r#""link": "[a-z-]+""#, r#""link": "[LINK]""#);
    // Progress lines come as the bytes go (the reporter's business, not this test's).
    s.add_filter(r"(?m)(^\w+: +\d+ ?% [^\n]*\n)+", "[PROGRESS LINES]\n");
    // Hashes before sizes and times, since they contain digits.
    s.add_filter(r"\b[0-9a-fA-F]{64}\b", "[SHA256]");
    // The demo's signing key is made when the demo is built.
    s.add_filter(r"\bkey [0-9A-F]{16}\b", "key [KEY-ID]");
    s.add_filter(r#""key_id": "[0-9A-F]{16}""#, r#""key_id": "[KEY-ID]""#);
    s.add_filter(r#""(\w*_seconds)": ?[0-9.e-]+"#, "\"$1\": [NUMBER]");
    s.add_filter(r"\b[0-9a-fA-F]{12,63}(\.\.\.|…)", "[SHA256-PREFIX]$1");
    s.add_filter(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?( ?(Z|UTC|[+-]\d{2}:?\d{2}))?",
        "[TIME]",
    );
    s.add_filter(r"\b\d+(\.\d+)? ?(ms|µs|s|seconds?)\b", "[DURATION]");
    s.add_filter(
        r"\b\d+(\.\d+)? ?(B|bytes|KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB)\b",
        "[SIZE]",
    );
    s.add_filter(
        r#""(\w*bytes|\w*percent|size|free|total|used|uptime_s|elapsed_ms|pid)": ?[0-9.]+"#,
        "\"$1\": [NUMBER]",
    );
    s.add_filter(r"\b\d+(\.\d+)? ?%", "[PERCENT]");
    // Right-aligned columns of masked numbers vary in width with the numbers.
    s.add_filter(r" +(\[SIZE\]|\[PERCENT\])", " $1");
    s.add_filter(r"(\[SIZE\]|\[PERCENT\]) +", "$1 ");
    s.bind(|| insta::assert_snapshot!(name, shown(&o)));
}

fn demo_in(dir: &Path, fail: Option<&str>) -> std::path::PathBuf {
    let root = dir.join("appliance");
    let mut c = Command::new(bin());
    c.arg("demo");
    if let Some(f) = fail {
        c.args(["--fail", f]);
    }
    let o = c.arg(&root).stdin(Stdio::null()).output().expect("demo");
    assert_eq!(code(&o), 0, "demo: {}", describe(&o));
    root
}

#[test]
fn status_and_check_on_the_demo() {
    let d = tempfile::tempdir().unwrap();
    let root = demo_in(d.path(), None);
    let iso = root.join("images/sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    snap("status", &root, &["status"]);
    snap("status_json", &root, &["--json", "status"]);
    snap("check_passes", &root, &["check", iso]);
    snap("check_passes_json", &root, &["--json", "check", iso]);
}

#[test]
fn check_on_the_fail_check_demo() {
    let d = tempfile::tempdir().unwrap();
    let root = demo_in(d.path(), Some("check"));
    let iso = root.join("images/sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    snap("check_fails", &root, &["check", iso]);
    snap("check_fails_json", &root, &["--json", "check", iso]);
}

#[test]
fn verify_match_and_mismatch() {
    let d = tempfile::tempdir().unwrap();
    let root = demo_in(d.path(), None);
    let iso = root.join("images/sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    let wrong = "0".repeat(64);
    snap("verify_match", &root, &["verify", iso]);
    snap("verify_match_json", &root, &["--json", "verify", iso]);
    snap(
        "verify_mismatch",
        &root,
        &["verify", iso, "--sha256", &wrong],
    );
    snap(
        "verify_mismatch_json",
        &root,
        &["--json", "verify", iso, "--sha256", &wrong],
    );
}
