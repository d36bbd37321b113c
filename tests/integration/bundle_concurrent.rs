//! The support bundle under load and after accidents (issue 10, items 4 and 6): the
//! recovery bundle made once for 20 concurrent callers, parallel `bundle` runs, old
//! bundles and dead writers' leftovers pruned, and the size budget spent on the state
//! files before the logs.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::state::recovery::RecoveryReport;

fn bundles_dir(root: &Path) -> PathBuf {
    root.join("var/lib/upgrade-console/bundles")
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn unzip_ok(path: &Path) {
    let t = Command::new("unzip").arg("-t").arg(path).output().unwrap();
    assert!(
        t.status.success(),
        "{} is not a whole ZIP: {}",
        path.display(),
        String::from_utf8_lossy(&t.stdout)
    );
}

/// In recovery, as `recover` leaves it, but with no bundle recorded.
fn enter_recovery(root: &Path) {
    let report = RecoveryReport {
        reason: "test".into(),
        entered: "2026-12-03T00:00:00Z".into(),
        sealed: false,
        interfaces: vec![],
        addresses: vec![],
        ssh_port: None,
        ssh_listen: vec![],
        host_key_fingerprints: vec![],
        sshd_pid: None,
        ssh_error: None,
        bundle: None,
        bundle_error: None,
        log_server: vec![],
        log_server_error: None,
    };
    upgrade_core::state::recovery::save(&ApplianceRoot::new(root), &report).unwrap();
}

#[test]
fn twenty_concurrent_callers_get_one_bundle() {
    require_tool("unzip", "unzip");
    let (_d, root) = demo();
    enter_recovery(&root);
    let r = ApplianceRoot::new(&root);
    let paths: Vec<PathBuf> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| s.spawn(|| upgrade_core::support::bundle::recovery_bundle(&r)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().expect("recovery_bundle"))
            .collect()
    });
    assert!(
        paths.iter().all(|p| p == &paths[0]),
        "callers got different bundles: {paths:?}"
    );
    unzip_ok(&paths[0]);
    let zips: Vec<String> = names_in(&bundles_dir(&root))
        .into_iter()
        .filter(|n| n.ends_with(".zip"))
        .collect();
    assert_eq!(zips.len(), 1, "{zips:?}");
    // Recorded for the next caller, who gets it without a new build.
    let rec = upgrade_core::state::recovery::load(&r).present().unwrap();
    assert_eq!(rec.bundle.as_ref(), Some(&paths[0]));
    assert_eq!(
        upgrade_core::support::bundle::recovery_bundle(&r).unwrap(),
        paths[0]
    );
    // A damaged recorded bundle is made again, not served.
    std::fs::write(&paths[0], b"PK\x03\x04 cut short").unwrap();
    let again = upgrade_core::support::bundle::recovery_bundle(&r).unwrap();
    unzip_ok(&again);
}

#[test]
fn parallel_bundle_commands_all_succeed_and_old_bundles_are_pruned() {
    require_tool("unzip", "unzip");
    let (_d, root) = demo();
    let dir = bundles_dir(&root);
    std::fs::create_dir_all(&dir).unwrap();
    // Five old bundles, and a dead writer's temporary file from an hour ago.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for i in 0..5 {
        let p = dir.join(format!("support-old-2026010{i}T000000Z.zip"));
        std::fs::write(&p, b"old").unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(old + std::time::Duration::from_secs(i))
            .unwrap();
    }
    let stale = dir.join(".support-x.zip.abcdef.tmp");
    std::fs::write(&stale, b"half").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();

    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(bin())
                .arg("--root")
                .arg(&root)
                .args(["--json", "bundle"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut made = Vec::new();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_eq!(code(&o), 0, "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        made.push(PathBuf::from(v["bundle"].as_str().unwrap()));
    }
    let names = names_in(&dir);
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("-old-")),
        "old bundles kept: {names:?}"
    );
    let zips: Vec<&String> = names.iter().filter(|n| n.ends_with(".zip")).collect();
    assert_eq!(
        zips.len(),
        upgrade_core::support::bundle::KEEP_BUNDLES,
        "{names:?}"
    );
    // The newest, the last one made, is always among those kept, and whole.
    for z in &zips {
        unzip_ok(&dir.join(z));
    }
    let mut distinct = made.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        made.len(),
        "two runs wrote one file: {made:?}"
    );
}

#[test]
fn a_dead_builders_lock_does_not_block_the_next() {
    require_tool("flock", "util-linux");
    let (_d, root) = demo();
    let lock = root.join("var/lib/upgrade-console/bundle.lock");
    // --no-fork: flock execs sleep with the lock held, so killing that one
    // process is the holder dying (and nothing is left holding our stdout).
    let mut holder = Command::new("flock")
        .arg("--no-fork")
        .arg(&lock)
        .args(["sleep", "600"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("flock to take the bundle lock", PATIENCE, || {
        if lock.exists() {
            Ok(())
        } else {
            Err("no lock file yet".into())
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    holder.kill().unwrap();
    holder.wait().unwrap();
    let o = run(&root, &["bundle"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// Logs bigger than the whole budget: the state files are in the bundle all the
/// same, and README.txt says which logs were cut or left out.
#[test]
fn state_files_come_before_logs_in_the_size_budget() {
    require_tool("unzip", "unzip");
    let (d, root) = demo();
    let iso = root.join("images/sps-7.3.1.iso");
    for args in [
        vec!["verify", iso.to_str().unwrap()],
        vec!["check", iso.to_str().unwrap()],
        vec!["activate", "--yes", iso.to_str().unwrap()],
    ] {
        let o = run(&root, &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    }
    let logs = root.join("var/log/upgrade-console");
    let line = "x".repeat(1023) + "\n";
    let chunk = line.repeat(9 * 1024); // 9 MiB per file, over the member cap
    for i in 0..9 {
        std::fs::write(logs.join(format!("console.log.{i}")), &chunk).unwrap();
    }
    let out = d.path().join("b.zip");
    let o = run(&root, &["bundle", "-o", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let l = Command::new("unzip").arg("-l").arg(&out).output().unwrap();
    let listing = String::from_utf8_lossy(&l.stdout);
    for m in [
        "state/journal.log",
        "state/slot-status.json",
        "state/progress.json",
        "config/appliance.toml",
        "log/console.log",
    ] {
        assert!(listing.contains(m), "{m} missing:\n{listing}");
    }
    let r = Command::new("unzip")
        .arg("-p")
        .arg(&out)
        .arg("README.txt")
        .output()
        .unwrap();
    let readme = String::from_utf8_lossy(&r.stdout);
    assert!(
        readme.contains("left out, the bundle reached its size cap")
            && readme.contains("console.log."),
        "{readme}"
    );
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(size > 0);
}
