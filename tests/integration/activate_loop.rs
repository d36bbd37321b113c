//! Activation onto real partitions: a GPT disk image on a loop device with boot,
//! slotA, slotB and data partitions (partx adds the partition devices).

use crate::support::boot::*;
use crate::support::*;
use std::path::Path;
use std::process::{Command, Stdio};
use upgrade_core::slots::slot_status::{SlotName, SlotState};
use upgrade_core::upgrade::journal::UpgradeState;

/// A root whose slots are the disk's partitions (ROOT/dev/slotX -> /dev/loopNpK).
fn loop_root(dir: &Path, disk: &LoopDisk, old: &[u8], same: bool) -> std::path::PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("dev")).unwrap();
    std::os::unix::fs::symlink(disk.part(2), root.join("dev/slotA")).unwrap();
    let b = if same { disk.part(2) } else { disk.part(3) };
    std::os::unix::fs::symlink(b, root.join("dev/slotB")).unwrap();
    std::fs::write(disk.part(2), old).unwrap();
    make_root(&root, "/dev/slotA", "/dev/slotB", old);
    root
}

fn fill(dev: &str, byte: u8, len: usize) {
    std::fs::write(dev, vec![byte; len]).unwrap();
}

#[test]
fn activate_writes_slot_b_for_real_and_never_touches_a_or_data() {
    let d = tempfile::tempdir().unwrap();
    let disk = LoopDisk::new(d.path(), 24, 8);
    let old = payload(3 << 20, 1);
    let new = payload((9 << 20) + 777, 2);
    let root = loop_root(d.path(), &disk, &old, false);
    fill(&disk.part(3), 0x55, 24 << 20);
    fill(&disk.part(4), 0xda, 8 << 20);
    let data_before = hash_prefix(Path::new(&disk.part(4)), 8 << 20);
    let a_before = hash_prefix(Path::new(&disk.part(2)), 24 << 20);
    let iso = build_iso(d.path(), &IsoSpec::standard(&new));
    record_passed(&root, &iso);

    let o = run_env(
        &root,
        &["--json", "activate", "--yes", iso.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rep["slot"], "B");
    assert_eq!(rep["direct_write"], true, "O_DIRECT on a block device");
    assert_eq!(
        rep["direct_read"], true,
        "read back with the page cache bypassed"
    );
    assert_eq!(
        hash_prefix(Path::new(&disk.part(3)), new.len()),
        sha_hex(&new)
    );
    assert_eq!(
        hash_prefix(Path::new(&disk.part(2)), 24 << 20),
        a_before,
        "slot A untouched"
    );
    assert_eq!(
        hash_prefix(Path::new(&disk.part(4)), 8 << 20),
        data_before,
        "data untouched"
    );

    let o = run_env(&root, &["reboot"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert_eq!(booted(&root), SlotName::B);
    assert!(matches!(state_of(&root), UpgradeState::Committed { .. }));
    assert_eq!(slot_status(&root).get(SlotName::B).state, SlotState::Good);
}

#[test]
fn corruption_between_write_and_read_back_is_caught() {
    let d = tempfile::tempdir().unwrap();
    let disk = LoopDisk::new(d.path(), 16, 4);
    let old = payload(1 << 20, 1);
    let new = payload((6 << 20) + 123, 3);
    let root = loop_root(d.path(), &disk, &old, false);
    let iso = build_iso(d.path(), &IsoSpec::standard(&new));
    record_passed(&root, &iso);
    let pause = d.path().join("paused");
    let mut child = Command::new(bin())
        .arg("--root")
        .arg(&root)
        .args(["activate", "--yes", iso.to_str().unwrap()])
        .env("UPGRADE_CONSOLE_PAUSE_AT", "before-read-back")
        .env("UPGRADE_CONSOLE_PAUSE_FILE", &pause)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("activate to pause before read-back", PATIENCE, || {
        if pause.exists() {
            return Ok(());
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("activate ended before read-back ({st})");
        }
        Err(format!("no {}", pause.display()))
    });
    let r = upgrade_core::appliance::root::ApplianceRoot::new(&root);
    assert!(upgrade_core::upgrade::activate::activation_running(&r));
    let o = run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a second activation is refused: {}",
        describe(&o)
    );
    // The slot was written and synced; flip 4 KiB on the device itself, bypassing
    // the page cache as a failing disk would.
    let o = Command::new("dd")
        .args([
            "if=/dev/urandom",
            &format!("of={}", disk.part(3)),
            "bs=4096",
            "count=1",
            "seek=300",
            "oflag=direct",
            "conv=notrunc,fsync",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_file(&pause).unwrap();
    wait_for(
        "the paused activation to finish",
        PATIENCE,
        || match child.try_wait().unwrap() {
            Some(_) => Ok(()),
            None => Err("still running".into()),
        },
    );
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(
        describe(&o).contains("reads back with SHA-256"),
        "{}",
        describe(&o)
    );
    // Not armed: the next boot is the old slot, the new one is marked bad.
    let env = env_of(&root);
    assert!(!env.ok(SlotName::B));
    assert_eq!(env.next_boot(), SlotName::A);
    assert_eq!(slot_status(&root).get(SlotName::B).state, SlotState::Bad);
    assert!(matches!(
        state_of(&root),
        UpgradeState::ActivationFailed { .. }
    ));
    let o = run_env(&root, &["reboot"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert_eq!(booted(&root), SlotName::A);
    // Activating again writes it properly.
    let o = run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert_eq!(
        hash_prefix(Path::new(&disk.part(3)), new.len()),
        sha_hex(&new)
    );
}

#[test]
fn two_slots_on_one_device_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let disk = LoopDisk::new(d.path(), 8, 1);
    let old = payload(1 << 20, 1);
    let root = loop_root(d.path(), &disk, &old, true);
    let new = payload(2 << 20, 2);
    let iso = build_iso(d.path(), &IsoSpec::standard(&new));
    record_passed(&root, &iso);
    let a_before = hash_prefix(Path::new(&disk.part(2)), 8 << 20);
    let o = run_env(&root, &["activate", "--yes", iso.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(
        describe(&o).contains("are the same device"),
        "{}",
        describe(&o)
    );
    assert_eq!(hash_prefix(Path::new(&disk.part(2)), 8 << 20), a_before);
}

#[test]
fn the_booted_slot_is_never_the_target() {
    let d = tempfile::tempdir().unwrap();
    let disk = LoopDisk::new(d.path(), 8, 1);
    let old = payload(1 << 20, 1);
    let root = loop_root(d.path(), &disk, &old, false);
    // Running from B this time: activation must go to A.
    std::fs::write(root.join("proc/cmdline"), "upgrade_console.slot=B\n").unwrap();
    std::fs::write(disk.part(3), &old).unwrap();
    let b_before = hash_prefix(Path::new(&disk.part(3)), 8 << 20);
    let new = payload(2 << 20, 2);
    let iso = build_iso(d.path(), &IsoSpec::standard(&new));
    record_passed(&root, &iso);
    let o = run_env(
        &root,
        &["--json", "activate", "--yes", iso.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rep["slot"], "A");
    assert_eq!(hash_prefix(Path::new(&disk.part(3)), 8 << 20), b_before);
    assert_eq!(
        hash_prefix(Path::new(&disk.part(2)), new.len()),
        sha_hex(&new)
    );
}
