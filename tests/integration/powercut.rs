//! The power-cut matrix: the real binary is SIGKILLed (with its migration programs)
//! at every journal step, every boot-environment and slot-status change, every
//! migration checkpoint, and at many byte offsets of the slot write; then what the
//! firmware and init would run next (`reboot` on a test root: pick the slot from
//! grubenv, write proc/cmdline, run `boot`). At every kill point: a good slot boots
//! (its contents hash to what its status records), configuration and data are
//! intact and match the running firmware, the journal is readable, and a next
//! activate + reboot + phase2 finishes the upgrade cleanly.

use crate::support::boot::*;
use crate::support::*;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use upgrade_core::slots::slot_status::SlotState;
use upgrade_core::upgrade::journal::UpgradeState;

/// Small slot-write requests: with 64 requests per fsync-and-read-back segment,
/// the 3 MiB payload spans four segments.
const CHUNK: usize = 16 << 10;
/// Kill offsets are taken every this many bytes of the slot write.
const OFFSET_STEP: usize = 256 << 10;

struct Fixture {
    template: PathBuf,
    good_iso: PathBuf,
    bad_iso: PathBuf,
    new_len: usize,
    config: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    /// The standard image: convert, irreversible finalize, phase-2 reindex.
    Good,
    /// A phase-1 step fails before the point of no return: rollback path.
    Failing,
}

#[derive(Clone, Debug)]
struct Point {
    scenario: Scenario,
    /// Which command is killed: "activate", "reboot" or "phase2".
    during: &'static str,
    kill_at: String,
}

fn copy_dir(from: &Path, to: &Path) {
    let o = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(o.status.success());
}

fn iso_for(f: &Fixture, s: Scenario) -> &Path {
    match s {
        Scenario::Good => &f.good_iso,
        Scenario::Failing => &f.bad_iso,
    }
}

fn activate(root: &Path, iso: &Path, envs: &[(&str, &str)]) -> std::process::Output {
    let chunk = CHUNK.to_string();
    let mut e = vec![("UPGRADE_CONSOLE_TEST_CHUNK", chunk.as_str())];
    e.extend_from_slice(envs);
    run_env(root, &["activate", "--yes", iso.to_str().unwrap()], &e)
}

/// Runs a scenario up to and including the killed command.
fn drive(f: &Fixture, root: &Path, p: &Point) {
    let kill = [("UPGRADE_CONSOLE_KILL_AT", p.kill_at.as_str())];
    let iso = iso_for(f, p.scenario);
    let steps: &[&str] = match p.during {
        "activate" => &["activate"],
        "reboot" => &["activate", "reboot"],
        _ => &["activate", "reboot", "phase2"],
    };
    for (i, s) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        let envs: &[(&str, &str)] = if last { &kill } else { &[] };
        let o = match *s {
            "activate" => activate(root, iso, envs),
            cmd => run_env(root, &[cmd], envs),
        };
        if last {
            assert_eq!(
                o.status.signal(),
                Some(9),
                "kill point {p:?} was not reached:\n{}",
                describe(&o)
            );
        } else {
            assert!(o.status.code().is_some(), "{p:?}: {}", describe(&o));
        }
    }
}

/// What must hold after any power cut followed by a power-up.
fn check_invariants(f: &Fixture, root: &Path, p: &Point) {
    let state = state_of(root);
    assert!(
        !matches!(
            state,
            UpgradeState::RecoveryRequired { .. }
                | UpgradeState::Trial { .. }
                | UpgradeState::PointOfNoReturn { .. }
        ),
        "{p:?}: the boot ended in {state:?}"
    );
    let b = booted(root);
    let st = slot_status(root).get(b);
    assert_eq!(
        st.state,
        SlotState::Good,
        "{p:?}: booted slot {b} is {st:?}"
    );
    let size = st.size.unwrap() as usize;
    let img = root.join(format!("slots/{b}.img"));
    assert_eq!(
        Some(hash_prefix(&img, size)),
        st.sha256,
        "{p:?}: slot {b} does not hold what its status says"
    );
    assert_eq!(
        std::fs::read(root.join("etc/appliance/appliance.toml")).unwrap(),
        f.config,
        "{p:?}: configuration changed"
    );
    let data = root.join("var/lib/appliance");
    match st.version.unwrap().to_string().as_str() {
        OLD_VERSION => assert_eq!(
            std::fs::read_to_string(data.join("db.v1")).ok().as_deref(),
            Some(DB_V1),
            "{p:?}: old firmware running but its data is gone"
        ),
        _ => {
            assert!(
                matches!(state, UpgradeState::Committed { .. }),
                "{p:?}: {state:?}"
            );
            assert_eq!(
                std::fs::read_to_string(data.join("db.v2")).ok(),
                Some(DB_V1.to_uppercase()),
                "{p:?}: new firmware running with unconverted data"
            );
        }
    }
}

/// The next runs finish the upgrade from wherever it was.
fn finish(f: &Fixture, root: &Path, p: &Point) {
    if !matches!(state_of(root), UpgradeState::Committed { .. }) {
        let o = activate(root, &f.good_iso, &[]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{p:?}: re-activate: {}",
            describe(&o)
        );
        let o = run_env(root, &["reboot"], &[]);
        assert_eq!(o.status.code(), Some(0), "{p:?}: reboot: {}", describe(&o));
    }
    assert!(
        matches!(state_of(root), UpgradeState::Committed { .. }),
        "{p:?}"
    );
    let o = run_env(root, &["phase2"], &[]);
    assert_eq!(o.status.code(), Some(0), "{p:?}: phase2: {}", describe(&o));
    let data = root.join("var/lib/appliance");
    assert_eq!(
        std::fs::read_to_string(data.join("index")).ok().as_deref(),
        Some("ECHO\nDELTA\nCHARLIE\nBRAVO\nALPHA\n"),
        "{p:?}"
    );
    let b = booted(root);
    let st = slot_status(root).get(b);
    assert_eq!(st.version.unwrap().to_string(), NEW_VERSION, "{p:?}");
    assert_eq!(
        Some(hash_prefix(&root.join(format!("slots/{b}.img")), f.new_len)),
        st.sha256,
        "{p:?}"
    );
}

fn trace(f: &Fixture, dir: &Path, scenario: Scenario) -> Vec<Point> {
    let root = dir.join(format!("trace-{scenario:?}"));
    copy_dir(&f.template, &root);
    let iso = iso_for(f, scenario);
    let mut points = Vec::new();
    for during in ["activate", "reboot", "phase2"] {
        if scenario == Scenario::Failing && during == "phase2" {
            continue;
        }
        let tf = dir.join(format!("trace-{scenario:?}-{during}.txt"));
        let e = [("UPGRADE_CONSOLE_KILL_TRACE", tf.to_str().unwrap())];
        let o = match during {
            "activate" => activate(&root, iso, &e),
            cmd => run_env(&root, &[cmd], &e),
        };
        assert!(o.status.code().is_some(), "{}", describe(&o));
        for line in std::fs::read_to_string(&tf).unwrap().lines() {
            points.push(Point {
                scenario,
                during,
                kill_at: line.to_string(),
            });
        }
    }
    points
}

#[test]
fn power_cut_at_every_step_leaves_a_good_slot_and_resumes() {
    let d = tempfile::tempdir().unwrap();
    let template = d.path().join("template");
    let old = payload(1 << 20, 1);
    let new = payload(3 * (1 << 20) + 1234, 2);
    make_file_root(&template, &old, 4 << 20);
    let good_iso = build_iso(d.path(), &IsoSpec::standard(&new));
    let mut bad = IsoSpec::standard(&new);
    bad.version = "7.3.2";
    bad.phase1.insert(1, ("Check schema", FAIL_SH, false));
    let bad_iso = build_iso(d.path(), &bad);
    record_passed(&template, &good_iso);
    record_passed(&template, &bad_iso);
    let f = Fixture {
        config: std::fs::read(template.join("etc/appliance/appliance.toml")).unwrap(),
        template,
        good_iso,
        bad_iso,
        new_len: new.len(),
    };

    let mut points = trace(&f, d.path(), Scenario::Good);
    points.extend(trace(&f, d.path(), Scenario::Failing));
    // Byte offsets of the slot write: every request boundary and some in between.
    let mut offsets: Vec<u64> = (1..=new.len().div_ceil(OFFSET_STEP) as u64)
        .map(|k| (k * OFFSET_STEP as u64).min(new.len() as u64))
        .collect();
    offsets.extend([1, 4096, 100_000, 1_000_000, 2_000_001]);
    for o in offsets {
        points.push(Point {
            scenario: Scenario::Good,
            during: "activate",
            kill_at: format!("slot-write@{o}"),
        });
    }
    let journal_points = points
        .iter()
        .filter(|p| p.kill_at.starts_with("journal:"))
        .count();
    assert!(
        journal_points >= 20,
        "too few journal kill points: {journal_points}"
    );

    let queue = Mutex::new(points.clone().into_iter().enumerate());
    let failures = Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().next();
                    let Some((i, p)) = next else { break };
                    let root = d.path().join(format!("cut-{i}"));
                    copy_dir(&f.template, &root);
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        drive(&f, &root, &p);
                        // Power comes back: firmware + init.
                        let o = run_env(&root, &["reboot"], &[]);
                        assert!(
                            o.status.code().is_some(),
                            "{p:?}: power-up: {}",
                            describe(&o)
                        );
                        check_invariants(&f, &root, &p);
                        if p.during == "phase2" {
                            // The interrupted phase 2 resumes.
                            assert!(run_env(&root, &["phase2"], &[]).status.success(), "{p:?}");
                        }
                        finish(&f, &root, &p);
                    }));
                    if let Err(e) = r {
                        let msg = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        failures.lock().unwrap().push(msg);
                    }
                    let _ = std::fs::remove_dir_all(&root);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    for p in &points {
        eprintln!("  {:?} {} {}", p.scenario, p.during, p.kill_at);
    }
    eprintln!(
        "power-cut matrix: {} kill points tried ({} journal steps, {} slot-write offsets), {} failed",
        points.len(),
        journal_points,
        points
            .iter()
            .filter(|p| p.kill_at.starts_with("slot-write@"))
            .count(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} kill points failed:\n{}",
        failures.len(),
        failures.join("\n---\n")
    );
}
