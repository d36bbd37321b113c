//! `activate` reports its progress while it works: plain lines on a pipe (one per step,
//! periodic ones between), progress.json's final typed record, and a closed stdout
//! that does not turn a written and armed slot into a panic.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::upgrade::progress::{Operation, Outcome, Progress, ProgressRead};

/// A demo root whose good image passed verify and check, ready to activate.
fn ready() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (d, root) = demo();
    let iso = root.join("images/sps-7.3.1.iso");
    for cmd in ["verify", "check"] {
        let o = run(&root, &[cmd, iso.to_str().unwrap()]);
        assert_eq!(code(&o), 0, "{cmd}: {}", text(&o));
    }
    (d, root, iso)
}

fn activate(root: &Path, iso: &Path, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(bin())
        .arg("--root")
        .arg(root)
        .args(["activate", "--yes"])
        .arg(iso)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run upgrade-console activate")
}

fn final_record(root: &Path) -> Progress {
    match Progress::read(&ApplianceRoot::new(root)) {
        ProgressRead::Present(p) => p,
        other => panic!("progress.json after activate: {other:?}"),
    }
}

#[test]
fn piped_activate_prints_periodic_lines_naming_write_and_read_back() {
    let (_d, root, iso) = ready();
    // Small slot writes and no wait between lines: the periodic lines show up on a
    // payload of a few MiB.
    let o = activate(
        &root,
        &iso,
        &[
            ("UPGRADE_CONSOLE_TEST_CHUNK", "65536"),
            ("UPGRADE_CONSOLE_PROGRESS_EVERY", "0"),
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("activate: "))
        .collect();
    let writes: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("% write"))
        .collect();
    assert!(
        writes.len() >= 3,
        "expected periodic lines during the write, got:\n{err}"
    );
    assert!(
        writes.iter().any(|l| l.contains("written")),
        "write lines say how much is written:\n{err}"
    );
    assert!(
        lines.iter().any(|l| l.contains("% read-back")),
        "no line names the read-back:\n{err}"
    );
    assert!(
        lines.iter().any(|l| l.contains("% staging")),
        "no line names staging:\n{err}"
    );
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("activate: done at arming - firmware 7.3.1"),
        "last line: {last}\n{err}"
    );
    // Percentages only go up.
    let pct: Vec<u32> = lines
        .iter()
        .filter_map(|l| {
            l.strip_prefix("activate: ")?
                .split('%')
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .collect();
    assert!(pct.windows(2).all(|w| w[0] <= w[1]), "{pct:?}\n{err}");
    // stdout has the result only.
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("Slot B holds firmware 7.3.1"), "{out}");
    assert!(!out.contains('%'), "progress leaked into stdout: {out}");

    let p = final_record(&root);
    assert_eq!(p.operation, Operation::Activate);
    assert_eq!(p.outcome, Some(Outcome::Done));
    assert_eq!(p.stage, "arming");
    assert_eq!(p.fraction, 1.0);
    assert!(p.rollback_possible);
    assert!(
        p.message.contains("boots once from slot B"),
        "{}",
        p.message
    );
}

#[test]
fn by_default_a_pipe_gets_a_line_per_step_not_per_chunk() {
    let (_d, root, iso) = ready();
    let started = std::time::Instant::now();
    let o = activate(&root, &iso, &[("UPGRADE_CONSOLE_TEST_CHUNK", "65536")]);
    let seconds = started.elapsed().as_secs();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines = err.lines().filter(|l| l.starts_with("activate: ")).count();
    // Four steps and the end, plus at most one line per 5 s that the run took.
    let most = 5 + (seconds / 5 + 1) as usize;
    assert!(
        (5..=most).contains(&lines),
        "{lines} lines in {seconds} s:\n{err}"
    );
    assert_eq!(final_record(&root).outcome, Some(Outcome::Done));
}

#[test]
fn a_closed_stdout_does_not_panic_after_the_slot_is_armed() {
    let (_d, root, iso) = ready();
    let mut child = Command::new(bin())
        .arg("--root")
        .arg(&root)
        .args(["activate", "--yes"])
        .arg(&iso)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run upgrade-console activate");
    // The reader goes away before activate prints its result (`activate | head -0`).
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("wait for activate");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(final_record(&root).outcome, Some(Outcome::Done));
}

#[test]
fn status_says_a_damaged_progress_file_is_damaged() {
    let (_d, root) = demo();
    let path = root.join("var/lib/upgrade-console/progress.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"{\"operation\": \"activ").unwrap();
    let o = run(&root, &["status"]);
    let t = text(&o);
    assert!(
        t.contains("damaged") && t.contains("progress.json"),
        "status hides the damaged progress.json:\n{t}"
    );
    let o = run(&root, &["--json", "status"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status --json");
    assert!(
        v["operation_damaged"]
            .as_str()
            .is_some_and(|s| s.contains("progress.json")),
        "{v}"
    );
}

#[test]
fn json_activate_reports_progress_records_on_stderr() {
    let (_d, root, iso) = ready();
    let o = Command::new(bin())
        .arg("--root")
        .arg(&root)
        .args(["--json", "activate", "--yes"])
        .arg(&iso)
        .env("UPGRADE_CONSOLE_TEST_CHUNK", "65536")
        .env("UPGRADE_CONSOLE_PROGRESS_EVERY", "0")
        .stdin(Stdio::null())
        .output()
        .expect("run upgrade-console --json activate");
    assert_eq!(code(&o), 0, "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(report["slot"], "B");
    let err = String::from_utf8_lossy(&o.stderr);
    let records: Vec<Progress> = err
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for stage in ["write", "read-back", "staging", "arming"] {
        assert!(
            records.iter().any(|p| p.stage == stage),
            "no record of {stage}:\n{err}"
        );
    }
    let last = records.last().expect("progress records on stderr");
    assert_eq!(last.operation, Operation::Activate);
    assert_eq!(last.outcome, Some(Outcome::Done));
}

/// `reboot` on a demo root runs the boot phase here: its progress shows on stderr
/// (lines beside the log, JSON lines with --json), stdout keeps only the result.
#[test]
fn reboot_shows_the_boot_phase_progress_on_stderr() {
    let (_d, root, iso) = ready();
    let o = activate(&root, &iso, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = Command::new(bin())
        .arg("--root")
        .arg(&root)
        .args(["--json", "reboot"])
        .env("UPGRADE_CONSOLE_PROGRESS_EVERY", "0")
        .stdin(Stdio::null())
        .output()
        .expect("run upgrade-console reboot");
    assert_eq!(code(&o), 0, "{}", text(&o));
    let reports: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    assert_eq!(reports[0]["booted"], "B", "{reports}");
    let records: Vec<Progress> = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        records
            .iter()
            .any(|p| p.operation == Operation::Boot && p.stage == "phase1" && p.outcome.is_none()),
        "no phase-1 progress record on stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let last = records.last().expect("progress records on stderr");
    assert_eq!(last.outcome, Some(Outcome::Done), "{last:?}");
    assert_eq!(last.stage, "commit", "{last:?}");
}
