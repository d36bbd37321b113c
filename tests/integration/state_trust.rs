//! The boot state machine and `status` do not trust state files blindly: a lost
//! journal, a damaged slot status or a damaged journal after `activate` never makes a
//! trial permanent, never runs an irreversible step, never says "rollback still
//! possible" (issue 9, defects 2-4); recovery.json lives only while recovery does;
//! concurrent verify/check/activate lose no journal record.

use crate::support::{code, demo, run, text};
use std::path::{Path, PathBuf};
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::slots::grubenv::GrubEnv;
use upgrade_core::slots::slot_status::SlotName;

fn iso(root: &Path) -> PathBuf {
    root.join("images/sps-7.3.1.iso")
}

/// verify, check and activate of the good demo image, as the README does it.
fn activated_demo() -> (tempfile::TempDir, PathBuf) {
    let (d, root) = demo();
    let i = iso(&root);
    let i = i.to_str().unwrap();
    for args in [
        vec!["verify", i],
        vec!["check", i],
        vec!["activate", "--yes", i],
    ] {
        let o = run(&root, &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    }
    (d, root)
}

fn env(root: &Path) -> GrubEnv {
    GrubEnv::load(&ApplianceRoot::new(root).grubenv()).unwrap()
}

fn journal_path(root: &Path) -> PathBuf {
    root.join("var/lib/upgrade-console/journal.log")
}

fn slot_status_path(root: &Path) -> PathBuf {
    root.join("var/lib/upgrade-console/slot-status.json")
}

/// After the trial slot was booted with its state lost, the next power-up must
/// choose slot A again, and slot B must not be left armed as a good slot.
fn assert_rolled_back_to_a(root: &Path, what: &str, out: &str) {
    let e = env(root);
    assert!(
        !e.ok(SlotName::B),
        "{what}: slot B was left bootable (B_OK=1, B_TRY={}): the trial became permanent\n{out}",
        e.tries(SlotName::B)
    );
    assert_eq!(
        e.next_boot(),
        SlotName::A,
        "{what}: the next power-up does not boot the known-good slot A\n{out}"
    );
}

fn reboot_lost_journal(empty: bool) {
    let (_d, root) = activated_demo();
    let j = journal_path(&root);
    if empty {
        std::fs::write(&j, b"").unwrap();
    } else {
        std::fs::remove_file(&j).unwrap();
    }
    let o = run(&root, &["--json", "reboot"]);
    let out = text(&o);
    let what = if empty { "emptied" } else { "deleted" };
    assert_rolled_back_to_a(&root, &format!("journal {what}"), &out);
    let cmdline = std::fs::read_to_string(root.join("proc/cmdline")).unwrap();
    assert!(
        cmdline.contains("upgrade_console.slot=A"),
        "journal {what}: the appliance ends on {cmdline:?}, not slot A\n{out}"
    );
}

#[test]
fn defect2_deleted_journal_does_not_make_the_trial_permanent() {
    reboot_lost_journal(false);
}

#[test]
fn defect2_emptied_journal_does_not_make_the_trial_permanent() {
    reboot_lost_journal(true);
}

/// Journal and slot status both lost during the trial: the boot environment alone
/// cannot tell the trial from a committed slot's last attempt, so the new firmware is
/// neither committed nor rolled back blind: recovery, with phase 1 not run.
#[test]
fn journal_and_slot_status_both_lost_on_a_trial_boot_require_recovery() {
    let (_d, root) = activated_demo();
    std::fs::remove_file(journal_path(&root)).unwrap();
    std::fs::remove_file(slot_status_path(&root)).unwrap();
    let o = run(&root, &["--json", "reboot"]);
    let out = text(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert_eq!(r[0]["booted"], "B", "{out}");
    assert_eq!(r[0]["outcome"], "recovery-required", "{out}");
    assert!(out.contains("cannot be told apart"), "{out}");
    let log = std::fs::read_to_string(root.join("var/log/upgrade-console/console.log"))
        .unwrap_or_default();
    assert!(
        !log.contains("phase 1: step 1 of"),
        "phase 1 ran on untrusted state\n{out}"
    );
    // A later ordinary boot of the same box (first attempt) stays in recovery: the
    // journal now records why.
    let o = run(&root, &["--json", "reboot"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert_eq!(r[0]["outcome"], "recovery-required", "{}", text(&o));
}

/// The same loss on an ordinary boot (first attempt of the committed slot) is not a
/// reason for recovery: nothing says a trial was under way.
#[test]
fn journal_and_slot_status_lost_on_an_ordinary_boot_boot_normally() {
    let (_d, root) = quiet_demo();
    std::fs::remove_file(journal_path(&root)).ok();
    std::fs::remove_file(slot_status_path(&root)).unwrap();
    let o = run(&root, &["--json", "reboot"]);
    let out = text(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert_eq!(r[0]["outcome"], "normal", "{out}");
}

fn reboot_damaged_slot_status(content: Option<&[u8]>, what: &str) {
    let (_d, root) = activated_demo();
    let p = slot_status_path(&root);
    match content {
        Some(c) => std::fs::write(&p, c).unwrap(),
        None => std::fs::remove_file(&p).unwrap(),
    }
    let o = run(&root, &["--json", "reboot"]);
    let out = text(&o);
    let log = std::fs::read_to_string(root.join("var/log/upgrade-console/console.log"))
        .unwrap_or_default();
    assert!(
        !log.contains("is irreversible"),
        "slot status {what}: an irreversible phase-1 step ran\n{out}"
    );
    assert!(
        !log.contains("phase 1: step 1 of"),
        "slot status {what}: phase 1 began although the state cannot be trusted\n{out}"
    );
    assert_rolled_back_to_a(&root, &format!("slot status {what}"), &out);
}

#[test]
fn defect3_missing_slot_status_rolls_back_before_phase1() {
    reboot_damaged_slot_status(None, "missing");
}

#[test]
fn defect3_empty_slot_status_rolls_back_before_phase1() {
    reboot_damaged_slot_status(Some(b""), "empty");
}

#[test]
fn defect3_corrupt_slot_status_rolls_back_before_phase1() {
    reboot_damaged_slot_status(Some(b"{\"slots\": {\"A\": "), "corrupt");
}

#[test]
fn defect4_status_with_a_damaged_journal_says_so_first() {
    let (_d, root) = activated_demo();
    let j = journal_path(&root);
    // Flip a byte inside the first record: later good records follow it.
    let mut bytes = std::fs::read(&j).unwrap();
    let pos = bytes.iter().position(|&b| b == b'{').unwrap() + 3;
    bytes[pos] ^= 0x01;
    std::fs::write(&j, &bytes).unwrap();
    let o = run(&root, &["status"]);
    let out = text(&o);
    assert_ne!(code(&o), 0, "status exits 0 with a damaged journal:\n{out}");
    assert!(
        !out.contains("rollback still possible"),
        "status promises a rollback with a damaged journal:\n{out}"
    );
    let first = out.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(
        first.contains("damaged") && first.contains("journal"),
        "status does not say first that the journal is damaged: {first:?}\n{out}"
    );
    assert!(
        out.contains("bundle"),
        "status does not say what to do (a support bundle):\n{out}"
    );
}

/// Runs the binary and waits for it, failing the test (naming the command) when it
/// is not done by the deadline.
fn run_deadline(root: &Path, args: &[&str], secs: u64) -> std::process::Output {
    use std::process::{Command, Stdio};
    let mut child = Command::new(crate::support::bin())
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    // The outputs are small (a few lines): the pipes do not fill while we poll.
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`upgrade-console {}` did not finish within {secs} s",
                args.join(" ")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn verify_check_and_activate_together_lose_no_journal_record() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use upgrade_core::upgrade::journal::{Event, Journal};
    let (_d, root) = demo();
    let i = iso(&root);
    let i = i.to_str().unwrap().to_string();
    for args in [["verify", i.as_str()], ["check", i.as_str()]] {
        let o = run(&root, &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    }
    const ACTIVATIONS: usize = 3;
    let done = Arc::new(AtomicBool::new(false));
    let verified = Arc::new(AtomicUsize::new(1));
    let checked = Arc::new(AtomicUsize::new(1));
    let mut recorders = Vec::new();
    for (cmd, count) in [
        ("verify", verified.clone()),
        ("verify", verified.clone()),
        ("check", checked.clone()),
        ("check", checked.clone()),
    ] {
        let (root, i, done) = (root.clone(), i.clone(), done.clone());
        recorders.push(std::thread::spawn(move || {
            // At least one run each, and on until the activations are over.
            loop {
                let o = run_deadline(&root, &[cmd, &i], 300);
                assert_eq!(code(&o), 0, "{cmd}: {}", text(&o));
                count.fetch_add(1, Ordering::SeqCst);
                if done.load(Ordering::SeqCst) {
                    break;
                }
            }
        }));
    }
    for _ in 0..ACTIVATIONS {
        let o = run_deadline(&root, &["activate", "--yes", &i], 300);
        assert_eq!(code(&o), 0, "activate: {}", text(&o));
    }
    done.store(true, Ordering::SeqCst);
    for r in recorders {
        r.join().unwrap();
    }
    let j = Journal::open(&ApplianceRoot::new(&root)).unwrap();
    assert!(j.torn_tail.is_none(), "{:?}", j.torn_tail);
    let count = |f: fn(&Event) -> bool| j.records().filter(|r| f(&r.event)).count();
    let got = (
        count(|e| matches!(e, Event::Verified { .. })),
        count(|e| matches!(e, Event::CheckPassed { .. })),
        count(|e| matches!(e, Event::ActivateStarted { .. })),
        count(|e| matches!(e, Event::SlotWritten { .. })),
        count(|e| matches!(e, Event::Activated { .. })),
    );
    let want = (
        verified.load(Ordering::SeqCst),
        checked.load(Ordering::SeqCst),
        ACTIVATIONS,
        ACTIVATIONS,
        ACTIVATIONS,
    );
    assert_eq!(
        got, want,
        "records (verified, check-passed, activate-started, slot-written, activated) in the journal vs. runs that succeeded"
    );
}

fn recovery_json(root: &Path) -> PathBuf {
    root.join("var/lib/upgrade-console/recovery.json")
}

/// A demo root whose boot log server stays off (parallel tests share no port).
fn quiet_demo() -> (tempfile::TempDir, PathBuf) {
    let (d, root) = demo();
    let cfg = root.join("etc/appliance/appliance.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replace("listen = [\"127.0.0.1:8480\"]", "listen = []");
    std::fs::write(&cfg, text).unwrap();
    (d, root)
}

#[test]
fn recovery_json_lives_while_recovery_does() {
    use std::process::{Command, Stdio};
    let (_d, root) = quiet_demo();
    let rt = ApplianceRoot::new(&root);
    // Entering recovery (on request) creates it ...
    let mut p = Command::new(crate::support::bin())
        .arg("--root")
        .arg(&root)
        .arg("recover")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !recovery_json(&root).is_file() {
        if let Some(s) = p.try_wait().unwrap() {
            panic!("recover exited ({s}) before writing recovery.json");
        }
        if std::time::Instant::now() > deadline {
            let _ = p.kill();
            panic!("recover did not write recovery.json within 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let saved = std::fs::read(recovery_json(&root)).unwrap();
    assert!(
        matches!(
            upgrade_core::state::recovery::load(&rt),
            upgrade_core::state::Loaded::Present(_)
        ),
        "recovery.json does not read as the one recovery report type: {}",
        String::from_utf8_lossy(&saved)
    );
    // ... leaving it (SIGTERM, as at shutdown) removes it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(s) = p.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = p.kill();
            panic!("recover did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "recover ended with {status}");
    assert!(
        !recovery_json(&root).exists(),
        "recovery.json is still there after recovery was left"
    );
    assert!(!upgrade_core::state::recovery::active(&rt));

    // A report left from an earlier recovery goes when a good boot commits.
    std::fs::write(recovery_json(&root), &saved).unwrap();
    let i = iso(&root);
    let i = i.to_str().unwrap();
    for args in [
        vec!["verify", i],
        vec!["check", i],
        vec!["activate", "--yes", i],
        vec!["--json", "reboot"],
    ] {
        let o = run(&root, &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    }
    assert!(
        !recovery_json(&root).exists(),
        "recovery.json outlived a committed upgrade: the console would still say \"in recovery\" and /bundle would still be served"
    );
}

/// The journal lost after the point of no return: the boot environment keeps the new
/// slot (it is not the single attempt of a trial), so the old firmware, which cannot
/// use the migrated data, is not booted; recovery is required instead.
#[test]
fn lost_journal_after_the_point_of_no_return_requires_recovery_not_rollback() {
    let (_d, root) = quiet_demo();
    let i = iso(&root);
    let i = i.to_str().unwrap();
    for args in [
        vec!["verify", i],
        vec!["check", i],
        vec!["activate", "--yes", i],
    ] {
        let o = run(&root, &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    }
    let o = std::process::Command::new(crate::support::bin())
        .arg("--root")
        .arg(&root)
        .arg("reboot")
        .env(
            "UPGRADE_CONSOLE_KILL_AT",
            "journal:point-of-no-return:after#1",
        )
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(9),
        "the kill point after the point of no return was not reached:\n{}",
        text(&o)
    );
    std::fs::remove_file(journal_path(&root)).unwrap();
    let o = run(&root, &["--json", "reboot"]);
    let out = text(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert_eq!(r[0]["booted"], "B", "{out}");
    assert_eq!(r[0]["outcome"], "recovery-required", "{out}");
    let e = env(&root);
    assert_eq!(
        e.next_boot(),
        SlotName::B,
        "the old slot would boot on migrated data\n{out}"
    );
}
