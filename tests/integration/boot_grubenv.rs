//! The boot environment against the real GRUB tools: what we write, grub-editenv
//! reads the same; what grub-editenv writes, we read the same; the grub.cfg snippet
//! in recovery/ passes grub-script-check.

use crate::support::require_tool;
use std::process::Command;
use upgrade_core::slots::grubenv::GrubEnv;
use upgrade_core::slots::slot_status::SlotName;

fn editenv(args: &[&str]) -> String {
    require_tool("grub-editenv", "grub-common");
    let o = Command::new("grub-editenv").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "grub-editenv {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn ours_read_by_grub_editenv() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("grubenv");
    let mut e = GrubEnv::initial(SlotName::A);
    e.set_ok(SlotName::B, true);
    e.set_tries(SlotName::B, 2);
    e.set_order(SlotName::B);
    e.set("saved_entry", "with \\ backslash").unwrap();
    e.save(&p).unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 1024);
    let listed = editenv(&[p.to_str().unwrap(), "list"]);
    assert_eq!(
        listed,
        "ORDER=B A\nA_OK=1\nA_TRY=0\nB_OK=1\nB_TRY=2\nsaved_entry=with \\ backslash\n"
    );
    // grub-editenv can change what we wrote, and we read its change.
    editenv(&[p.to_str().unwrap(), "set", "B_TRY=3"]);
    let back = GrubEnv::load(&p).unwrap();
    assert_eq!(back.tries(SlotName::B), 3);
    assert_eq!(back.get("saved_entry"), Some("with \\ backslash"));
}

#[test]
fn grub_editenv_read_by_ours() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("grubenv");
    let ps = p.to_str().unwrap();
    editenv(&[ps, "create"]);
    assert_eq!(GrubEnv::load(&p).unwrap().vars().len(), 0);
    editenv(&[
        ps,
        "set",
        "ORDER=B A",
        "A_OK=1",
        "A_TRY=0",
        "B_OK=1",
        "B_TRY=1",
        "odd=a\\b",
    ]);
    editenv(&[ps, "unset", "A_TRY"]);
    let e = GrubEnv::load(&p).unwrap();
    assert_eq!(e.order(), vec![SlotName::B, SlotName::A]);
    assert!(e.ok(SlotName::A) && e.ok(SlotName::B));
    assert_eq!(e.tries(SlotName::A), 0);
    assert_eq!(e.tries(SlotName::B), 1);
    assert_eq!(e.get("odd"), Some("a\\b"));
    // Our rewrite keeps every variable grub-editenv listed.
    e.save(&p).unwrap();
    assert_eq!(
        editenv(&[ps, "list"]),
        "ORDER=B A\nA_OK=1\nB_OK=1\nB_TRY=1\nodd=a\\b\n"
    );
}

#[test]
fn a_damaged_block_is_an_error_not_a_guess() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("grubenv");
    editenv(&[p.to_str().unwrap(), "create"]);
    editenv(&[p.to_str().unwrap(), "set", "ORDER=A B"]);
    let mut b = std::fs::read(&p).unwrap();
    b.truncate(700);
    std::fs::write(&p, &b).unwrap();
    let e = GrubEnv::load(&p).unwrap_err().to_string();
    assert!(e.contains("damaged") && e.contains("grub-editenv"), "{e}");
}

#[test]
fn recovery_grub_cfg_passes_grub_script_check() {
    require_tool("grub-script-check", "grub-common");
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/recovery/grub.cfg");
    let o = Command::new("grub-script-check").arg(cfg).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(cfg).unwrap();
    for v in [
        "ORDER",
        "A_OK",
        "A_TRY",
        "B_OK",
        "B_TRY",
        "save_env",
        "upgrade_console.slot=",
    ] {
        assert!(text.contains(v), "grub.cfg lacks {v}");
    }
}
