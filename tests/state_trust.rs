//! The boot state machine and `status` do not trust state files blindly: a lost
//! journal, a damaged slot status or a damaged journal after `activate` never makes a
//! trial permanent, never runs an irreversible step, never says "rollback still
//! possible" (issue 9, defects 2-4); recovery.json lives only while recovery does;
//! concurrent verify/check/activate lose no journal record.

mod common;
use common::{code, demo, run, text};
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
