//! Hostile and unusual paths (issue 9, defects 1, 5 and 6): a relative --root, an
//! image whose directory tree loops, and every way a write could leave the root
//! (planted symlinks, config paths with `..`, predictable temp names).

mod common;

use common::{bin, code, text};
use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary in `cwd` with exactly these arguments (stdin not a terminal).
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(cwd)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run upgrade-console")
}

/// Defect 1: the README's "A whole upgrade from the command line", word for word,
/// with `R=demo-appliance` relative to a fresh working directory.
#[test]
fn readme_upgrade_with_a_relative_root_commits() {
    let cwd = tempfile::tempdir().unwrap();
    let c = cwd.path();
    let o = run_in(c, &["demo", "demo-appliance"]);
    assert_eq!(code(&o), 0, "demo: {}", text(&o));
    let r = "demo-appliance";
    let i = "demo-appliance/images/sps-7.3.1.iso";
    let steps: [&[&str]; 7] = [
        &["--root", r, "status"],
        &["--root", r, "verify", i],
        &["--root", r, "check", i],
        &["--root", r, "activate", "--yes", i],
        &["--root", r, "reboot"],
        &["--root", r, "phase2"],
        &["--root", r, "status"],
    ];
    let mut last = String::new();
    for args in steps {
        let o = run_in(c, args);
        assert_eq!(code(&o), 0, "`{}` failed: {}", args.join(" "), text(&o));
        last = text(&o);
    }
    assert!(
        last.contains("firmware 7.3.1"),
        "status after the upgrade does not show 7.3.1 running:\n{last}"
    );
    let root = upgrade_core::appliance::root::ApplianceRoot::new(c.join(r));
    let state = upgrade_core::upgrade::journal::current_state(&root).unwrap();
    assert!(
        matches!(
            state,
            upgrade_core::upgrade::journal::UpgradeState::Committed { .. }
        ),
        "the upgrade did not commit: {state:?}"
    );
    let running = upgrade_core::slots::slot_status::running_version(&root)
        .unwrap()
        .map(|v| v.to_string());
    assert_eq!(running.as_deref(), Some("7.3.1"));
}

/// A demo appliance and, beside it (outside its root), a directory a planted link
/// points into.
fn demo_with_outside() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let (d, root) = common::demo();
    let outside = d.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    (d, root, outside)
}

fn verify_and_check(root: &Path, iso: &str) {
    for args in [["verify", iso], ["check", iso]] {
        let o = common::run(root, &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    }
}

/// Defect 6: a console.log link gets no log line; the command says why.
#[test]
fn a_console_log_link_is_not_followed() {
    let (_d, root, outside) = demo_with_outside();
    let target = outside.join("victim");
    std::fs::write(&target, "precious\n").unwrap();
    let log = root.join("var/log/upgrade-console/console.log");
    let _ = std::fs::remove_file(&log);
    std::os::unix::fs::symlink(&target, &log).unwrap();
    let iso = root.join("images/sps-7.3.1.iso");
    let o = common::run(&root, &["check", iso.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(
        text(&o).contains("is a symbolic link"),
        "no word about the link: {}",
        text(&o)
    );
}

/// Defect 6: dangling links for the three locks create nothing at their targets.
#[test]
fn dangling_lock_links_create_nothing() {
    let (_d, root, outside) = demo_with_outside();
    let iso = root.join("images/sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    let state = root.join("var/lib/upgrade-console");
    std::fs::create_dir_all(&state).unwrap();
    verify_and_check(&root, iso);
    let cases: [(&str, &[&str]); 3] = [
        ("activate.lock", &["activate", "--yes", iso]),
        ("boot.lock", &["boot"]),
        ("phase2.lock", &["phase2"]),
    ];
    for (lock, args) in cases {
        let target = outside.join(lock);
        let link = state.join(lock);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let o = common::run(&root, args);
        let t = text(&o);
        assert!(
            !target.exists(),
            "{args:?} created {}: {t}",
            target.display()
        );
        assert_ne!(code(&o), 0, "{args:?} ran through a {lock} link: {t}");
        assert!(
            t.contains("is a symbolic link") && t.contains(lock),
            "{args:?}: the error does not name the link: {t}"
        );
        std::fs::remove_file(&link).unwrap();
    }
}

/// Defect 6: a slot path that climbs out of the root is refused at load, by key.
#[test]
fn a_slot_outside_the_root_is_refused() {
    let (_d, root, outside) = demo_with_outside();
    let slot_b = root.join("var/lib/demo/slotB.img");
    let planted = outside.join("slotB.img");
    std::fs::copy(&slot_b, &planted).unwrap();
    let before = std::fs::read(&planted).unwrap();
    let cfg = root.join("etc/appliance/appliance.toml");
    let text0 = std::fs::read_to_string(&cfg).unwrap();
    let old = "B = \"var/lib/demo/slotB.img\"";
    assert!(
        text0.contains(old),
        "the demo configuration changed: {text0}"
    );
    let escape = format!("B = \"/../{}/slotB.img\"", "outside");
    std::fs::write(&cfg, text0.replace(old, &escape)).unwrap();
    let iso = root.join("images/sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    let _ = common::run(&root, &["verify", iso]);
    for args in [
        vec!["check", iso],
        vec!["activate", "--yes", iso],
        vec!["status"],
    ] {
        let o = common::run(&root, &args);
        let t = text(&o);
        assert_eq!(code(&o), 2, "{args:?}: {t}");
        assert!(
            t.contains("slots.B") && t.contains("leaves the appliance root"),
            "{args:?}: the error does not name the key: {t}"
        );
    }
    assert!(
        std::fs::read(&planted).unwrap() == before,
        "slot B outside the root was written"
    );
}

/// Defect 6: the durable helper's temp file is not at a guessable name, so a link
/// planted there (for this very process id, the old name) is left alone.
#[test]
fn a_planted_temp_link_is_not_written_through() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("victim");
    std::fs::write(&target, "precious\n").unwrap();
    let dir = d.path().join("state");
    std::fs::create_dir_all(&dir).unwrap();
    let pid = std::process::id();
    std::os::unix::fs::symlink(&target, dir.join(format!(".slot-status.json.tmp.{pid}"))).unwrap();
    upgrade_core::appliance::durable::write_atomic(&dir.join("slot-status.json"), b"{}").unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert_eq!(std::fs::read(dir.join("slot-status.json")).unwrap(), b"{}");
}

/// Defect 6: `bundle -o FILE` likewise (in this process, so its old temp name is known).
#[test]
fn a_planted_bundle_temp_link_is_not_written_through() {
    let (d, root, outside) = demo_with_outside();
    let target = outside.join("victim");
    std::fs::write(&target, "precious\n").unwrap();
    let out_dir = d.path().join("bundles");
    std::fs::create_dir_all(&out_dir).unwrap();
    let pid = std::process::id();
    std::os::unix::fs::symlink(&target, out_dir.join(format!(".b.zip.tmp.{pid}"))).unwrap();
    let r = upgrade_core::appliance::root::ApplianceRoot::new(&root);
    let out = out_dir.join("b.zip");
    let written = upgrade_core::support::bundle::write_bundle(&r, Some(&out)).unwrap();
    assert_eq!(written, out);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(std::fs::metadata(&out).unwrap().len() > 0);
}
