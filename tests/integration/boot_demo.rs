//! The demo appliance (the lead's builder, real ISOs) walked through the whole path
//! from the command line: activate, reboot, phase 1 with progress, commit, phase 2;
//! and the two failure images: rollback, and "recovery required".

use crate::support::boot::record_passed;
use crate::support::{describe, run_env};
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::upgrade::journal::UpgradeState;

fn demo(dir: &std::path::Path) -> std::path::PathBuf {
    let d = upgrade_console::demo::build(&dir.join("demo"), false).unwrap();
    d.root.canonicalize().unwrap()
}

#[test]
fn demo_upgrade_commits_and_phase2_finishes() {
    let d = tempfile::tempdir().unwrap();
    let root = demo(d.path());
    let iso = root.join("images/sps-7.3.1.iso");
    record_passed(&root, &iso);
    let o = run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let o = run_env(&root, &["--json", "reboot"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r[0]["outcome"], "committed", "{}", describe(&o));
    assert_eq!(r[0]["running_version"], "7.3.1");
    let rt = ApplianceRoot::new(&root);
    let s = upgrade_core::upgrade::phase2::phase2_summary(&rt).unwrap();
    assert!(s.message.contains("search is incomplete"), "{s:?}");
    let o = run_env(&root, &["phase2"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(
        upgrade_core::upgrade::phase2::phase2_summary(&rt)
            .unwrap()
            .done
    );
    let log = std::fs::read_to_string(rt.log_file()).unwrap();
    assert!(
        log.contains("Upgrade session database: done"),
        "phase-1 output logged"
    );
}

#[test]
fn demo_failure_images_roll_back_or_require_recovery() {
    let d = tempfile::tempdir().unwrap();
    let root = demo(d.path());
    let rt = ApplianceRoot::new(&root);
    let iso = root.join("images/sps-7.3.1-fails-in-phase1.iso");
    record_passed(&root, &iso);
    assert!(
        run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[])
            .status
            .success()
    );
    let o = run_env(&root, &["--json", "reboot"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r[0]["outcome"], "rolled-back", "{}", describe(&o));
    assert_eq!(r[1]["running_version"], "7.0.1");
    assert!(matches!(
        upgrade_core::upgrade::journal::current_state(&rt).unwrap(),
        UpgradeState::RolledBack { .. }
    ));

    let iso = root.join("images/sps-7.3.1-fails-after-point-of-no-return.iso");
    record_passed(&root, &iso);
    let o = run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", describe(&o));
    let o = run_env(&root, &["--json", "reboot"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r[0]["outcome"], "recovery-required", "{}", describe(&o));
    let p = upgrade_core::upgrade::progress::Progress::read(&rt)
        .present()
        .unwrap();
    assert_eq!(
        p.outcome,
        Some(upgrade_core::upgrade::progress::Outcome::Recovery)
    );
}
