//! Helpers shared by the integration tests: the binary, a demo appliance, commands.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_upgrade-console")
}

/// Runs the binary with `--root root` and the arguments; stdin is not a terminal.
pub fn run(root: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run upgrade-console")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh demo appliance in a temporary directory (kept alive by the returned guard).
pub fn demo() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().expect("tempdir");
    let root = d.path().join("appliance");
    let o = Command::new(bin())
        .arg("demo")
        .arg(&root)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("demo");
    assert_eq!(code(&o), 0, "demo failed: {}", text(&o));
    (d, root)
}

/// Fails the test with a message when a system tool is missing.
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "this test needs `{tool}` (Debian package {package}); run `bash .ci/packages` as root"
    );
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (loop devices, mounts, namespaces); run it as root, as CI does"
    );
}

/// A digest of every file under a directory (names, sizes, contents), to prove a
/// command changed nothing.
pub fn tree_digest(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        // The console log records attempts; it is the one file allowed to grow.
        if f.extension().is_some_and(|e| e == "log") {
            continue;
        }
        h.update(f.to_string_lossy().as_bytes());
        h.update(std::fs::read(&f).unwrap());
    }
    hex::encode(h.finalize())
}
