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
