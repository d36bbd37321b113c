//! The whole upgrade from the command line on a directory root with slot image files:
//! activate, reboot (the simulated firmware + init), phase 1, commit, phase 2; and the
//! failure ends: rollback before the point of no return, recovery after it.

use crate::support::boot::*;
use crate::support::*;
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::slots::slot_status::{SlotName, SlotState};
use upgrade_core::upgrade::journal::UpgradeState;
use upgrade_core::upgrade::progress::Progress;

#[test]
fn whole_upgrade_from_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let old = payload(300_000, 1);
    let new = payload(1_234_567, 2);
    make_file_root(&root, &old, 2 << 20);
    let iso = build_iso(d.path(), &IsoSpec::standard(&new));
    let config_before = std::fs::read(root.join("etc/appliance/appliance.toml")).unwrap();

    // Without verify and check on record: refused, nothing written.
    let o = run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(
        describe(&o).contains("verify and check have not passed"),
        "{}",
        describe(&o)
    );
    assert_eq!(
        std::fs::read(root.join("slots/B.img")).unwrap(),
        vec![0u8; 2 << 20]
    );

    record_passed(&root, &iso);
    // Neither a terminal nor --yes: could not run.
    let o = run_env(&root, &["activate", iso.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));

    let o = run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(
        describe(&o).contains("boots once from slot B"),
        "{}",
        describe(&o)
    );
    assert_eq!(std::fs::read(root.join("slots/B.img")).unwrap(), new);
    assert_eq!(std::fs::read(root.join("slots/A.img")).unwrap(), old);
    let env = env_of(&root);
    assert_eq!(env.get("ORDER"), Some("B A"));
    assert_eq!((env.ok(SlotName::B), env.tries(SlotName::B)), (true, 2));
    assert!(matches!(state_of(&root), UpgradeState::Activated { .. }));
    assert_eq!(slot_status(&root).get(SlotName::B).state, SlotState::Trial);

    let o = run_env(&root, &["--json", "reboot"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let reports: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(reports[0]["outcome"], "committed", "{}", describe(&o));
    assert_eq!(reports[0]["running_version"], NEW_VERSION);
    assert_eq!(booted(&root), SlotName::B);
    assert!(matches!(state_of(&root), UpgradeState::Committed { .. }));
    let env = env_of(&root);
    assert_eq!(env.get("ORDER"), Some("B A"));
    assert!(
        env.ok(SlotName::A) && env.ok(SlotName::B),
        "old slot kept as fallback"
    );
    assert_eq!(env.tries(SlotName::B), 0);
    let data = root.join("var/lib/appliance");
    assert_eq!(
        std::fs::read_to_string(data.join("db.v2")).unwrap(),
        DB_V1.to_uppercase()
    );
    assert!(!data.join("db.v1").exists());
    assert_eq!(
        std::fs::read(root.join("etc/appliance/appliance.toml")).unwrap(),
        config_before
    );
    let p = Progress::read(&ApplianceRoot::new(&root))
        .present()
        .unwrap();
    assert_eq!(
        p.outcome,
        Some(upgrade_core::upgrade::progress::Outcome::Done)
    );
    assert!(!p.do_not_power_off && !p.rollback_possible);
    let log = std::fs::read_to_string(root.join("var/log/upgrade-console/console.log")).unwrap();
    assert!(log.contains("converted 5 records"), "step output is logged");
    assert!(log.contains("old format removed"));

    // Phase 2: incomplete until run, then done.
    let r = ApplianceRoot::new(&root);
    let s = upgrade_core::upgrade::phase2::phase2_summary(&r).unwrap();
    assert!(
        !s.done && s.message.contains("search is incomplete"),
        "{s:?}"
    );
    let o = run_env(&root, &["phase2"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(
        upgrade_core::upgrade::phase2::phase2_summary(&r)
            .unwrap()
            .done
    );
    assert_eq!(
        std::fs::read_to_string(data.join("index")).unwrap(),
        "ECHO\nDELTA\nCHARLIE\nBRAVO\nALPHA\n",
        "newest first"
    );

    // A further boot is ordinary and keeps B.
    let o = run_env(&root, &["reboot"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert_eq!(booted(&root), SlotName::B);
    assert!(
        describe(&o).contains("is running and committed"),
        "{}",
        describe(&o)
    );
}

#[test]
fn a_failing_step_before_the_point_of_no_return_rolls_back() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let old = payload(100_000, 1);
    let new = payload(200_000, 3);
    make_file_root(&root, &old, 1 << 20);
    let iso = build_iso(
        d.path(),
        &IsoSpec {
            version: NEW_VERSION,
            payload: &new,
            phase1: vec![
                ("Convert database", CONVERT_SH, false),
                ("Check schema", FAIL_SH, false),
                ("Remove old database format", FINALIZE_SH, true),
            ],
            phase2: vec![],
        },
    );
    record_passed(&root, &iso);
    let o = run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let o = run_env(&root, &["--json", "reboot"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let reports: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(reports[0]["booted"], "B");
    assert_eq!(reports[0]["outcome"], "rolled-back", "{}", describe(&o));
    assert!(
        reports[0]["reason"]
            .as_str()
            .unwrap()
            .contains("Check schema")
    );
    // The rollback rebooted into A, which says what happened and what to do.
    assert_eq!(reports[1]["booted"], "A");
    assert_eq!(reports[1]["running_version"], OLD_VERSION);
    let msg = reports[1]["message"].as_str().unwrap();
    assert!(
        msg.contains("was rolled back") && msg.contains("support bundle"),
        "{msg}"
    );
    assert_eq!(booted(&root), SlotName::A);
    let env = env_of(&root);
    assert_eq!(env.get("ORDER"), Some("A B"));
    assert!(!env.ok(SlotName::B));
    assert_eq!(slot_status(&root).get(SlotName::B).state, SlotState::Bad);
    assert!(matches!(state_of(&root), UpgradeState::RolledBack { .. }));
    // The old data is intact for the old firmware.
    assert_eq!(
        std::fs::read_to_string(root.join("var/lib/appliance/db.v1")).unwrap(),
        DB_V1
    );
    let p = Progress::read(&ApplianceRoot::new(&root))
        .present()
        .unwrap();
    assert_eq!(
        p.outcome,
        Some(upgrade_core::upgrade::progress::Outcome::RolledBack)
    );
    // The step's stderr and protocol log made it into the console log.
    let log = std::fs::read_to_string(root.join("var/log/upgrade-console/console.log")).unwrap();
    assert!(log.contains("something broke") && log.contains("simulated migration failure"));

    // Trying again with a good image works from this state.
    let good = build_iso(d.path(), &IsoSpec::standard(&new));
    record_passed(&root, &good);
    let o = run_env(&root, &["activate", "--yes", good.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let o = run_env(&root, &["reboot"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(matches!(state_of(&root), UpgradeState::Committed { .. }));
}

#[test]
fn a_failure_after_an_irreversible_step_requires_recovery() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let old = payload(100_000, 1);
    let new = payload(200_000, 4);
    make_file_root(&root, &old, 1 << 20);
    let iso = build_iso(
        d.path(),
        &IsoSpec {
            version: NEW_VERSION,
            payload: &new,
            phase1: vec![
                ("Convert database", CONVERT_SH, false),
                ("Remove old database format", FINALIZE_SH, true),
                ("Rebuild caches", FAIL_SH, false),
            ],
            phase2: vec![],
        },
    );
    record_passed(&root, &iso);
    let o = run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let o = run_env(&root, &["--json", "reboot"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let reports: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        reports.as_array().unwrap().len(),
        1,
        "no reboot into the old slot"
    );
    assert_eq!(
        reports[0]["outcome"],
        "recovery-required",
        "{}",
        describe(&o)
    );
    let reason = reports[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("Rebuild caches") && reason.contains("irreversible"),
        "{reason}"
    );
    assert!(matches!(
        state_of(&root),
        UpgradeState::RecoveryRequired { .. }
    ));
    let p = Progress::read(&ApplianceRoot::new(&root))
        .present()
        .unwrap();
    assert_eq!(
        p.outcome,
        Some(upgrade_core::upgrade::progress::Outcome::Recovery)
    );
    assert!(!p.rollback_possible);
    // The new slot keeps booting (recovery runs there); the old one is not chosen.
    let env = env_of(&root);
    assert_eq!(env.next_boot(), SlotName::B);
    // Activation is refused until recovery is done.
    let o = run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(describe(&o).contains("needs recovery"), "{}", describe(&o));
    // Every further boot still says recovery required.
    let o = run_env(&root, &["--json", "reboot"], &[]);
    let reports: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        reports[0]["outcome"],
        "recovery-required",
        "{}",
        describe(&o)
    );
}

#[test]
fn phase2_resumes_from_its_checkpoint_after_a_kill() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let old = payload(100_000, 1);
    let new = payload(200_000, 5);
    make_file_root(&root, &old, 1 << 20);
    let iso = build_iso(d.path(), &IsoSpec::standard(&new));
    record_passed(&root, &iso);
    assert!(
        run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[])
            .status
            .success()
    );
    assert!(run_env(&root, &["reboot"], &[]).status.success());
    let o = run_env(
        &root,
        &["phase2"],
        &[("UPGRADE_CONSOLE_KILL_AT", "phase2:checkpoint#3")],
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(9),
        "{}",
        describe(&o)
    );
    let r = ApplianceRoot::new(&root);
    let s = upgrade_core::upgrade::phase2::phase2_summary(&r).unwrap();
    assert!(
        !s.done && s.message.contains("search is incomplete"),
        "{s:?}"
    );
    let o = run_env(&root, &["phase2"], &[]);
    assert!(o.status.success(), "{}", describe(&o));
    let data = root.join("var/lib/appliance");
    assert_eq!(
        std::fs::read_to_string(data.join("phase2.runs")).unwrap(),
        "start none\nstart 3\n",
        "the second run resumed from checkpoint 3"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("index")).unwrap(),
        "ECHO\nDELTA\nCHARLIE\nBRAVO\nALPHA\n"
    );
    assert!(
        upgrade_core::upgrade::phase2::phase2_summary(&r)
            .unwrap()
            .done
    );
}

#[test]
fn an_image_replaced_after_verify_is_not_armed() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let old = payload(100_000, 1);
    let new = payload(300_000, 6);
    make_file_root(&root, &old, 1 << 20);
    let iso = build_iso(d.path(), &IsoSpec::standard(&new));
    record_passed(&root, &iso);
    // Touched but identical: the whole image is hashed again and still matches.
    let bytes = std::fs::read(&iso).unwrap();
    std::fs::write(&iso, &bytes).unwrap();
    let o = run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    // Same payload and version, different migration program: not the verified image.
    let mut spec = IsoSpec::standard(&new);
    spec.phase1[0].1 = FAIL_SH;
    let dir2 = d.path().join("other");
    std::fs::create_dir_all(&dir2).unwrap();
    let swapped = build_iso(&dir2, &spec);
    std::fs::copy(&swapped, &iso).unwrap();
    let o = run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(
        describe(&o).contains("was the file replaced?"),
        "{}",
        describe(&o)
    );
    let env = env_of(&root);
    assert!(!env.ok(SlotName::B));
    assert_eq!(env.next_boot(), SlotName::A);
}

/// Phase-1 step that waits until the test lets it go (a file disappears), or fails
/// after about 120 s, so a test that died holding it leaves no process behind.
const WAIT_SH: &str = r#"#!/bin/sh
echo '{"progress": 0.5, "text": "waiting for the test"}'
i=0
while [ -f "$UPGRADE_CONSOLE_ROOT/hold" ]; do
  i=$((i+1))
  if [ "$i" -gt 2400 ]; then echo "the test never removed hold" >&2; exit 1; fi
  sleep 0.05
done
"#;

fn http_get(addr: &str, path: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    String::from_utf8_lossy(&read_until_closed(&mut s, &format!("the answer to {path}")))
        .into_owned()
}

#[test]
fn the_boot_log_server_shows_phase1_and_do_not_power_off() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let old = payload(100_000, 1);
    let new = payload(200_000, 7);
    make_file_root(&root, &old, 1 << 20);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = root.join("etc/appliance/appliance.toml");
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{cfg_text}\n[web]\nlisten = [\"{addr}\"]\n")).unwrap();
    let iso = build_iso(
        d.path(),
        &IsoSpec {
            version: NEW_VERSION,
            payload: &new,
            phase1: vec![("Wait", WAIT_SH, false)],
            phase2: vec![],
        },
    );
    record_passed(&root, &iso);
    assert!(
        run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[])
            .status
            .success()
    );
    std::fs::write(root.join("hold"), b"").unwrap();
    let bin = bin();
    let r2 = root.clone();
    let booting = std::thread::spawn(move || {
        std::process::Command::new(bin)
            .arg("--root")
            .arg(&r2)
            .arg("reboot")
            .output()
            .unwrap()
    });
    // Poll until phase 1 runs and the server answers.
    let status = wait_for("the boot log server to report phase 1", PATIENCE, || {
        assert!(!booting.is_finished(), "boot ended before phase 1 was seen");
        match std::net::TcpStream::connect(&addr) {
            Ok(s) => {
                drop(s);
                let body = http_get(&addr, "/status.json");
                if body.contains("\"phase1\"") {
                    Ok(body)
                } else {
                    Err(format!("/status.json: {body}"))
                }
            }
            Err(e) => Err(format!("connect {addr}: {e}")),
        }
    });
    assert!(status.contains("\"do_not_power_off\":true"), "{status}");
    assert!(status.contains("\"rollback_possible\":true"), "{status}");
    let log = http_get(&addr, "/log.txt");
    assert!(log.contains("trial boot of firmware 7.3.1"), "{log}");
    std::fs::remove_file(root.join("hold")).unwrap();
    wait_for("the boot (reboot) to finish", PATIENCE, || {
        if booting.is_finished() {
            Ok(())
        } else {
            Err("still running".into())
        }
    });
    let o = booting.join().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(matches!(state_of(&root), UpgradeState::Committed { .. }));
    // The server stopped with the boot phase.
    assert!(std::net::TcpStream::connect(&addr).is_err());
}
