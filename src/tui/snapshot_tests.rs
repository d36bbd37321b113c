//! Every screen at 80x24, in the default theme and in ASCII + mono, drawn by the
//! real main loop (`Console`) on ratatui's TestBackend and compared with insta
//! snapshots (src/tui/snapshots/). The appliance is the demo's, built for real;
//! state files (progress.json, slot status, recovery report, log) are written the
//! way the processes doing the work write them. Filters mask the temporary root,
//! sizes, hashes and link states, which differ between machines.

use crate::demo;
use crate::tui::Console;
use crate::tui::app::{App, Job, Msg, Options, Screen, Step};
use crate::tui::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::slots::slot_status::{SlotName, SlotRecord, SlotState, SlotStatus};
use upgrade_core::upgrade::progress::{Operation, Outcome, Progress};

/// The demo appliance, built once under target/ and reused by later runs; tests
/// copy its small state files and read its images.
fn shared_demo() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/tui-snapshot-demo"
        ));
        demo::build(&d, false).expect("demo appliance builds");
        d
    })
}

/// An image of the demo, as seen in a test root's own `images/` directory.
fn image(root: &tempfile::TempDir, name: &str) -> PathBuf {
    root.path().join("images").join(name)
}

/// A fresh appliance root with the demo's configuration and state (not its slot
/// images or ISOs, which the wizard reads from the shared demo).
fn fresh_root() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("tui-root")
        .tempdir()
        .expect("temp dir");
    // Everything but the images and the slot image files (large, not read here).
    copy_tree(
        shared_demo(),
        d.path(),
        &["images", "var/lib/demo"],
        shared_demo(),
    );
    // The images, linked (cheap) or copied, so paths on screen are the root's.
    let images = d.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    for e in std::fs::read_dir(shared_demo().join("images")).unwrap() {
        let from = e.unwrap().path();
        if from.is_dir() {
            continue; // images/untrusted/: the signature demos, not listed by the wizard
        }
        let to = images.join(from.file_name().unwrap());
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    d
}

fn copy_tree(from: &Path, to: &Path, skip: &[&str], base: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(base).unwrap();
        if skip.iter().any(|s| rel == Path::new(s)) {
            continue;
        }
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dest, skip, base);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

struct Variant {
    name: &'static str,
    mono: bool,
}

const VARIANTS: [Variant; 2] = [
    Variant {
        name: "default",
        mono: false,
    },
    Variant {
        name: "ascii_mono",
        mono: true,
    },
];

fn console(
    root: &Path,
    image: Option<PathBuf>,
    v: &Variant,
) -> (Console<TestBackend>, Sender<Msg>) {
    let (tx, rx) = channel();
    let theme = if v.mono {
        Theme::builtin("mono").unwrap()
    } else {
        Theme::default_theme()
    };
    let app = App::new(
        Options {
            root: ApplianceRoot::new(root),
            theme,
            ascii: v.mono,
            terminal_note: "test terminal".into(),
            image,
            self_exe: PathBuf::from("upgrade-console"),
            notice: None,
        },
        tx.clone(),
    );
    let c = Console::new(TestBackend::new(80, 24), app, rx, Duration::ZERO).unwrap();
    (c, tx)
}

fn key(tx: &Sender<Msg>, code: KeyCode) {
    tx.send(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
        .unwrap();
}

fn keys(tx: &Sender<Msg>, text: &str) {
    for c in text.chars() {
        key(tx, KeyCode::Char(c));
    }
}

/// Sends a marker key nobody uses and runs the real loop until it has been seen,
/// so everything sent before it was handled and drawn.
fn settle(c: &mut Console<TestBackend>, tx: &Sender<Msg>) {
    let marker = KeyEvent::new(KeyCode::F(12), KeyModifiers::NONE);
    c.app.last_key = None;
    tx.send(Msg::Key(marker)).unwrap();
    c.run_until(|app| app.last_key == Some(marker)).unwrap();
    // The status report comes from a worker thread; screens show parts of it (the
    // image step its signers and floor), so wait for it or the drawing races it.
    c.run_until(|app| app.status.is_some()).unwrap();
}

fn check_snapshot(c: &Console<TestBackend>, root: &Path, name: &str, v: &Variant) {
    let text = c.terminal.backend().to_string();
    let root_re = regex_escape(&root.display().to_string());
    let demo_re = regex_escape(&shared_demo().display().to_string());
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    // A quoted path under the root runs to the border (its length varies).
    settings.add_filter(&format!("\"{root_re}[^│|]*"), "\"[ROOT-PATH] ");
    settings.add_filter(&root_re, "[ROOT]");
    // The demo lives under the checkout, whose path length varies: mask to the border.
    settings.add_filter(&format!("{demo_re}[^│|]*"), "[DEMO-PATH] ");
    settings.add_filter(r" +[0-9]+(\.[0-9]+)? (B|KiB|MiB|GiB|TiB)\b", " [SIZE]");
    settings.add_filter(r"[0-9a-f]{32}", "[HEX32]");
    settings.add_filter(r"(?:[0-9a-f]{2} ){8,}[0-9a-f]{2}", "[HEX BYTES]");
    settings.add_filter(r"link [a-z]+ *", "link [LINK] ");
    // The demo's signing key is made when the demo is built (same width kept).
    settings.add_filter(r"key [0-9A-F]{16}", "key [KEY-ID--------]");
    settings.add_filter(r"free-space: [^│|]*", "free-space: [SUMMARY] ");
    settings.bind(|| insta::assert_snapshot!(format!("{name}_{}", v.name), text));
    if v.mono {
        let buf = c.terminal.backend().buffer();
        for cell in buf.content() {
            assert!(
                cell.symbol().is_ascii(),
                "{name}: non-ASCII {:?}",
                cell.symbol()
            );
            assert_eq!(
                cell.fg,
                ratatui::style::Color::Reset,
                "{name}: colour in mono"
            );
            assert_eq!(
                cell.bg,
                ratatui::style::Color::Reset,
                "{name}: colour in mono"
            );
        }
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}

#[test]
fn status_screen() {
    for v in &VARIANTS {
        let root = fresh_root();
        let (mut c, _tx) = console(root.path(), None, v);
        c.run_until(|app| app.status.is_some()).unwrap();
        check_snapshot(&c, root.path(), "status", v);
    }
}

/// A last operation whose message is wider than the panel: its continuation
/// lines start under the value column, not under the labels (defect 8).
#[test]
fn status_screen_wraps_to_the_value_column() {
    for v in &VARIANTS {
        let root = fresh_root();
        write_progress(
            root.path(),
            Progress {
                outcome: Some(Outcome::Failed),
                message: "phase-1 step \"Upgrade session database\" failed (exit status: 1); the appliance rolled back to slot A".into(),
                ..Progress::new(Operation::Activate)
            },
        );
        let (mut c, _tx) = console(root.path(), None, v);
        c.run_until(|app| app.status.is_some()).unwrap();
        check_snapshot(&c, root.path(), "status_long_operation", v);
    }
}

/// Opens the wizard and ticks every prerequisite.
fn tick_all(c: &Console<TestBackend>, tx: &Sender<Msg>) {
    keys(tx, "2");
    // Space ticks the item under the cursor; Down moves on.
    for _ in 0..c.app.wizard.prereqs.len() {
        key(tx, KeyCode::Char(' '));
        key(tx, KeyCode::Down);
    }
}

#[test]
fn wizard_prerequisites_and_image() {
    for v in &VARIANTS {
        let root = fresh_root();
        let (mut c, tx) = console(root.path(), Some(image(&root, "sps-7.3.1.iso")), v);
        keys(&tx, "2 ");
        settle(&mut c, &tx);
        check_snapshot(&c, root.path(), "wizard_prerequisites", v);
        // The wizard does not go on with items unticked.
        keys(&tx, "n");
        settle(&mut c, &tx);
        assert_eq!(c.app.wizard.step, Step::Prerequisites);
        // The first item is ticked and the cursor stays on it: tick the rest.
        assert_eq!(c.app.wizard.prereq_cursor, 0);
        for _ in 1..c.app.wizard.prereqs.len() {
            key(&tx, KeyCode::Down);
            key(&tx, KeyCode::Char(' '));
        }
        keys(&tx, "n");
        settle(&mut c, &tx);
        assert_eq!(c.app.wizard.step, Step::Image);
        check_snapshot(&c, root.path(), "wizard_image", v);
    }
}

#[test]
fn wizard_hash_paste_in_certutil_form() {
    for v in &VARIANTS {
        let root = fresh_root();
        let img = image(&root, "sps-7.3.1.iso");
        let (mut c, tx) = console(root.path(), Some(img.clone()), v);
        tick_all(&c, &tx);
        keys(&tx, "ne");
        // A terminal without bracketed paste delivers the lines as keys and Enters.
        let digest = std::fs::read_to_string(image(&root, "sps-7.3.1.iso.sha256")).unwrap();
        let hex = digest.split_whitespace().next().unwrap().to_string();
        keys(&tx, "SHA256 hash of sps-7.3.1.iso:");
        key(&tx, KeyCode::Enter);
        let spaced: Vec<String> = hex
            .as_bytes()
            .chunks(2)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        keys(&tx, &spaced[..20].join(" "));
        settle(&mut c, &tx);
        assert!(c.app.wizard.editing_hash);
        check_snapshot(&c, root.path(), "wizard_hash_entry", v);
        keys(&tx, &format!(" {}", spaced[20..].join(" ")));
        key(&tx, KeyCode::Enter);
        // certutil's last line follows at once: it must not act as keys ("p", "n"...).
        keys(&tx, "CertUtil: -hashfile command completed successfully.");
        key(&tx, KeyCode::Enter);
        settle(&mut c, &tx);
        assert!(!c.app.wizard.editing_hash, "accepted");
        assert_eq!(
            c.app.wizard.step,
            Step::Image,
            "the pasted tail did nothing"
        );
        assert_eq!(c.app.wizard.hash_source, "typed");
        assert_eq!(c.app.wizard.expected.map(hex::encode), Some(hex.clone()));
    }
}

#[test]
fn wizard_verify_and_upgrade_test() {
    for v in &VARIANTS {
        let root = fresh_root();
        let (mut c, tx) = console(root.path(), Some(image(&root, "sps-7.3.1.iso")), v);
        tick_all(&c, &tx);
        keys(&tx, "n");
        key(&tx, KeyCode::Enter); // image: next
        settle(&mut c, &tx);
        assert_eq!(c.app.wizard.step, Step::Verify);
        check_snapshot(&c, root.path(), "wizard_verify_idle", v);
        key(&tx, KeyCode::Enter);
        c.run_until(|app| matches!(app.wizard.verify, Job::Done(_) | Job::Failed(_)))
            .unwrap();
        check_snapshot(&c, root.path(), "wizard_verify_done", v);
        keys(&tx, "n");
        key(&tx, KeyCode::Enter);
        c.run_until(|app| matches!(app.wizard.check, Job::Done(_) | Job::Failed(_)))
            .unwrap();
        check_snapshot(&c, root.path(), "wizard_check_passed", v);
        keys(&tx, "n");
        settle(&mut c, &tx);
        assert_eq!(c.app.wizard.step, Step::Bundle);
        check_snapshot(&c, root.path(), "wizard_bundle", v);
        keys(&tx, "n");
        key(&tx, KeyCode::Enter);
        settle(&mut c, &tx);
        check_snapshot(&c, root.path(), "wizard_activate_confirm", v);
        key(&tx, KeyCode::Esc);
        settle(&mut c, &tx);
        assert!(c.app.wizard.activate.is_none(), "Esc changed nothing");
    }
}

#[test]
fn wizard_verify_mismatch_and_blockers() {
    for v in &VARIANTS {
        let root = fresh_root();
        let (mut c, tx) = console(
            root.path(),
            Some(image(&root, "sps-7.3.1-bad-payload-hash.iso")),
            v,
        );
        tick_all(&c, &tx);
        keys(&tx, "n");
        key(&tx, KeyCode::Enter);
        key(&tx, KeyCode::Enter);
        c.run_until(|app| matches!(app.wizard.verify, Job::Done(_) | Job::Failed(_)))
            .unwrap();
        keys(&tx, "n");
        settle(&mut c, &tx);
        assert_eq!(
            c.app.wizard.step,
            Step::Verify,
            "a bad image stops the wizard"
        );
        check_snapshot(&c, root.path(), "wizard_verify_mismatch", v);

        let root = fresh_root();
        let (mut c, tx) = console(root.path(), Some(image(&root, "sps-8.1.iso")), v);
        tick_all(&c, &tx);
        keys(&tx, "n");
        key(&tx, KeyCode::Enter);
        key(&tx, KeyCode::Enter);
        c.run_until(|app| matches!(app.wizard.verify, Job::Done(_) | Job::Failed(_)))
            .unwrap();
        keys(&tx, "n");
        key(&tx, KeyCode::Enter);
        c.run_until(|app| matches!(app.wizard.check, Job::Done(_) | Job::Failed(_)))
            .unwrap();
        keys(&tx, "n");
        settle(&mut c, &tx);
        assert_eq!(c.app.wizard.step, Step::Check, "blockers stop the wizard");
        check_snapshot(&c, root.path(), "wizard_check_blockers", v);
    }
}

fn write_progress(root: &Path, p: Progress) {
    let mut p = p;
    p.save(&ApplianceRoot::new(root)).unwrap();
    // save() stamps our pid: this test process stands for the worker.
}

fn persisted(root: &Path, stage: &str) {
    let img = root.join("images/sps-7.3.1.iso");
    let fw = upgrade_core::image::iso::FirmwareImage::open(&img).unwrap();
    crate::tui::worker::Persisted {
        image: Some(img),
        target: Some(fw.manifest.firmware.version.to_string()),
        reminders: fw.manifest.reminders.clone(),
        stage: stage.into(),
    }
    .save(&ApplianceRoot::new(root))
    .unwrap();
}

#[test]
fn activation_in_progress_found_by_a_new_console() {
    for v in &VARIANTS {
        let root = fresh_root();
        persisted(root.path(), "activating");
        write_progress(
            root.path(),
            Progress {
                operation: Operation::Activate,
                stage: "write".into(),
                step: "slot B".into(),
                fraction: 0.42,
                rollback_possible: true,
                message: "writing the payload to slot B".into(),
                ..Progress::new(Operation::Activate)
            },
        );
        let (mut c, tx) = console(root.path(), None, v);
        settle(&mut c, &tx);
        assert_eq!(c.app.screen, Screen::Wizard);
        assert_eq!(c.app.wizard.step, Step::Activate);
        check_snapshot(&c, root.path(), "wizard_activate_running", v);
    }
}

#[test]
fn reboot_confirmation_says_no_downgrade() {
    for v in &VARIANTS {
        let root = fresh_root();
        persisted(root.path(), "activated");
        write_progress(
            root.path(),
            Progress {
                operation: Operation::Activate,
                stage: "done".into(),
                fraction: 1.0,
                rollback_possible: true,
                outcome: Some(Outcome::Done),
                ..Progress::new(Operation::Activate)
            },
        );
        let (mut c, tx) = console(root.path(), None, v);
        keys(&tx, "2");
        settle(&mut c, &tx);
        assert_eq!(c.app.wizard.step, Step::Reboot);
        check_snapshot(&c, root.path(), "wizard_reboot", v);
        keys(&tx, "r");
        settle(&mut c, &tx);
        check_snapshot(&c, root.path(), "wizard_reboot_confirm", v);
        assert!(c.terminal.backend().to_string().contains("NO DOWNGRADE"));
    }
}

#[test]
fn phase1_version_check_and_reminders() {
    for v in &VARIANTS {
        let root = fresh_root();
        persisted(root.path(), "rebooting");
        write_progress(
            root.path(),
            Progress {
                operation: Operation::Boot,
                stage: "phase1".into(),
                step: "Migrate configuration".into(),
                fraction: 0.35,
                rollback_possible: true,
                do_not_power_off: true,
                message: "migrating the configuration".into(),
                ..Progress::new(Operation::Boot)
            },
        );
        let (mut c, tx) = console(root.path(), None, v);
        settle(&mut c, &tx);
        assert_eq!(c.app.wizard.step, Step::Phase1);
        check_snapshot(&c, root.path(), "wizard_phase1", v);

        // The boot phase commits slot B: the booted slot now runs 7.3.1.
        let r = ApplianceRoot::new(root.path());
        let mut st = SlotStatus::load(&r).unwrap();
        st.slots.insert(
            SlotName::B,
            SlotRecord {
                state: SlotState::Good,
                version: Some("7.3.1".parse().unwrap()),
                ..SlotRecord::empty()
            },
        );
        st.save(&r).unwrap();
        std::fs::write(r.cmdline(), "quiet upgrade_console.slot=B\n").unwrap();
        write_progress(
            root.path(),
            Progress {
                operation: Operation::Boot,
                stage: "commit".into(),
                fraction: 1.0,
                rollback_possible: false,
                outcome: Some(Outcome::Done),
                ..Progress::new(Operation::Boot)
            },
        );
        tx.send(Msg::Tick).unwrap();
        settle(&mut c, &tx);
        assert_eq!(c.app.wizard.step, Step::VersionCheck);
        // The committed boot asked for phase 2; this test's program is not a real
        // binary, so the start fails (update_tests checks the effect itself).
        assert!(
            c.app.wizard.phase2.is_some(),
            "phase 2 was asked for after the committed boot"
        );
        // A phase 2 that ended at once without a progress record: with exit 0 it had
        // nothing to do (a firmware without background migration, as on the virtual
        // appliance); otherwise it could not start.
        c.app.message = None;
        for (exit, said) in [
            (0, "nothing to migrate in the background"),
            (1, "Phase 2 could not start"),
        ] {
            c.app.wizard.phase2 = Some(crate::tui::worker::ChildRun {
                op: crate::tui::worker::Op::Phase2,
                pid: 1,
                exit: Some(exit),
            });
            tx.send(Msg::Tick).unwrap();
            settle(&mut c, &tx);
            let screen = c.terminal.backend().to_string();
            assert!(screen.contains(said), "phase 2 exit {exit}:\n{screen}");
        }
        c.app.wizard.phase2 = None;
        settle(&mut c, &tx);
        check_snapshot(&c, root.path(), "wizard_version_committed", v);
        keys(&tx, "n");
        settle(&mut c, &tx);
        check_snapshot(&c, root.path(), "wizard_reminders", v);
    }
}

#[test]
fn rolled_back_upgrade_offers_the_bundle() {
    for v in &VARIANTS {
        let root = fresh_root();
        persisted(root.path(), "rebooting");
        write_progress(
            root.path(),
            Progress {
                operation: Operation::Boot,
                stage: "rollback".into(),
                fraction: 0.2,
                rollback_possible: true,
                message: "phase 1 failed: Migrate configuration exited 1".into(),
                outcome: Some(Outcome::RolledBack),
                ..Progress::new(Operation::Boot)
            },
        );
        let (mut c, tx) = console(root.path(), None, v);
        settle(&mut c, &tx);
        assert_eq!(c.app.wizard.step, Step::VersionCheck);
        check_snapshot(&c, root.path(), "wizard_version_rolled_back", v);
    }
}

#[test]
fn recovery_screen_with_report_and_sealed() {
    for v in &VARIANTS {
        let root = fresh_root();
        // recovery.json as the recovery module writes it (upgrade_core::recovery::RecoveryReport).
        let report = serde_json::json!({
            "reason": "phase-1 step \"Upgrade session database\" failed (exit status: 1), after an irreversible migration step began",
            "entered": "2026-11-23T10:00:00Z",
            "sealed": false,
            "interfaces": [
                {"name": "eth0", "management": true, "ok": true, "addresses": ["192.0.2.10/24"], "steps": []},
                {"name": "eth1", "management": false, "ok": true, "addresses": ["198.51.100.10/24"], "steps": []}
            ],
            "addresses": ["192.0.2.10/24", "198.51.100.10/24"],
            "ssh_port": 22,
            "ssh_listen": ["192.0.2.10:22", "198.51.100.10:22"],
            "host_key_fingerprints": ["ED25519 SHA256:Xq3dVbU1mIeJ0+Ow2O2x8ZpGxR7bdyt0wq9oV+z9k0c"],
            "bundle": "/var/lib/upgrade-console/bundles/support-sps-demo-20261123T100000Z.zip",
            "log_server": ["http://192.0.2.10:80/"]
        });
        let r = ApplianceRoot::new(root.path());
        upgrade_core::appliance::durable::write_atomic(
            &r.state_dir().join("recovery.json"),
            report.to_string().as_bytes(),
        )
        .unwrap();
        let (mut c, tx) = console(root.path(), None, v);
        keys(&tx, "3");
        settle(&mut c, &tx);
        check_snapshot(&c, root.path(), "recovery", v);
        assert!(!c.terminal.backend().to_string().contains("state unknown"));

        // The report recovery writes before it starts the log server: no URL, no
        // error. The screen must not claim the server is up (defect 8).
        let mut early = report.clone();
        early["log_server"] = serde_json::json!([]);
        upgrade_core::appliance::durable::write_atomic(
            &r.state_dir().join("recovery.json"),
            early.to_string().as_bytes(),
        )
        .unwrap();
        let (mut c, tx) = console(root.path(), None, v);
        keys(&tx, "3");
        settle(&mut c, &tx);
        let screen = c.terminal.backend().to_string();
        assert!(!screen.contains("http://"), "{screen}");
        assert!(screen.contains("state unknown"), "{screen}");

        let root = fresh_root();
        let cfg = root.path().join("etc/appliance/appliance.toml");
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("sealed = false", "sealed = true");
        std::fs::write(&cfg, text).unwrap();
        let (mut c, tx) = console(root.path(), None, v);
        keys(&tx, "3");
        settle(&mut c, &tx);
        check_snapshot(&c, root.path(), "recovery_sealed_idle", v);
        assert!(c.terminal.backend().to_string().contains("no SSH"));
    }
}

#[test]
fn a_damaged_recovery_report_is_said_and_recovery_offered_again() {
    let v = &VARIANTS[0];
    let root = fresh_root();
    let r = ApplianceRoot::new(root.path());
    // A report cut short (a power cut while recovery wrote it).
    upgrade_core::appliance::durable::write_atomic(
        &r.state_dir().join("recovery.json"),
        br#"{"reason": "phase-1 step failed", "entered": "2026-11-23T10:"#,
    )
    .unwrap();
    let (mut c, tx) = console(root.path(), None, v);
    keys(&tx, "3");
    settle(&mut c, &tx);
    let screen = c.terminal.backend().to_string();
    assert!(screen.contains("RECOVERY MODE"), "{screen}");
    assert!(screen.contains("is damaged"), "{screen}");
    assert!(!screen.contains("Not in recovery mode"), "{screen}");
    assert!(
        screen.contains("enter recovery mode"),
        "R is offered: {screen}"
    );
    keys(&tx, "R");
    settle(&mut c, &tx);
    assert!(
        c.app.wizard.confirm.is_some(),
        "R asks to enter recovery again"
    );
}

#[test]
fn logs_cluster_and_help() {
    for v in &VARIANTS {
        let root = fresh_root();
        let r = ApplianceRoot::new(root.path());
        std::fs::create_dir_all(r.log_dir()).unwrap();
        std::fs::write(
            r.log_file(),
            "2026-11-23T10:00:00Z INFO  console opened\n\
             2026-11-23T10:00:05Z INFO  verify sps-7.3.1.iso: image matches, payload matches\n\
             2026-11-23T10:01:00Z WARN  a virtual appliance: take a VM snapshot\n\
             2026-11-23T10:02:00Z ERROR activate failed: slot B is busy\n",
        )
        .unwrap();
        let cfg = root.path().join("etc/appliance/appliance.toml");
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text.push_str(
            "\n[cluster]\nroles = [\"central-management\"]\nnodes = [\n  { name = \"master-1\", roles = [\"search-master\"], version = \"7.0.1\" },\n  { name = \"minion-1\", roles = [\"search-minion\"], version = \"7.3.1\" },\n  { name = \"host-2\", roles = [\"managed-host\"], version = \"7.0.1\" },\n]\n",
        );
        std::fs::write(&cfg, text).unwrap();
        let (mut c, tx) = console(root.path(), None, v);
        keys(&tx, "4");
        tx.send(Msg::Tick).unwrap();
        settle(&mut c, &tx);
        check_snapshot(&c, root.path(), "logs", v);
        keys(&tx, "5");
        settle(&mut c, &tx);
        check_snapshot(&c, root.path(), "cluster", v);
        keys(&tx, "?");
        settle(&mut c, &tx);
        check_snapshot(&c, root.path(), "help", v);
    }
}

#[test]
fn ctrl_l_repaints_and_quit_ends_the_loop() {
    let root = fresh_root();
    let (mut c, tx) = console(root.path(), None, &VARIANTS[1]);
    settle(&mut c, &tx);
    let frames = c.frames;
    tx.send(Msg::Key(KeyEvent::new(
        KeyCode::Char('l'),
        KeyModifiers::CONTROL,
    )))
    .unwrap();
    settle(&mut c, &tx);
    assert!(c.frames > frames, "Ctrl-L draws again");
    assert!(!c.app.repaint, "the repaint was done");
    keys(&tx, "q");
    c.run().unwrap();
    assert!(c.app.quit);
}

#[test]
fn uses_more_room_when_there_is_more() {
    let root = fresh_root();
    let (mut c, tx) = console(
        root.path(),
        Some(image(&root, "sps-7.3.1.iso")),
        &VARIANTS[0],
    );
    tx.send(Msg::Resize(120, 40)).unwrap();
    tick_all(&c, &tx);
    keys(&tx, "n");
    settle(&mut c, &tx);
    let text = c.terminal.backend().to_string();
    assert_eq!(text.lines().count(), 40);
    assert!(
        text.contains("sps-7.3.1-fails-after-point-of-no-return.iso "),
        "{text}"
    );
}

/// The HA screen: first what the worker really gathers on a node whose link and BMC
/// are not set up (each problem said), then an upgrade under way, stopped at the
/// secondary's power-off, with the step list and the power warning.
#[test]
fn ha_pair_screen() {
    use upgrade_core::appliance::config::HaRole;
    use upgrade_core::ha::procedure::{HaProgress, HaStep};
    for v in &VARIANTS {
        let root = fresh_root();
        let cfg = root.path().join("etc/appliance/appliance.toml");
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text.push_str("\n[ha]\nrole = \"primary\"\npeer = \"10.0.0.2\"\n");
        std::fs::write(&cfg, text).unwrap();
        let (mut c, tx) = console(root.path(), Some(image(&root, "sps-7.3.1.iso")), v);
        keys(&tx, "6");
        c.run_until(|app| app.ha.is_some()).unwrap();
        settle(&mut c, &tx);
        check_snapshot(&c, root.path(), "ha_unconfigured", v);
        let mut view = (**c.app.ha.as_ref().unwrap()).clone();
        let mut other = view.this_node.clone();
        other.hostname = "sps-2".into();
        other.role = Some(HaRole::Secondary);
        other.after_reboot = Some("7.3.1".parse().unwrap());
        view.other_node = Some(other);
        view.other_node_error = None;
        view.other_power = Some(upgrade_core::ha::ipmi::Power::On);
        view.other_power_error = None;
        let p = HaProgress {
            version: "7.3.1".parse().unwrap(),
            iso_sha256: "ab".repeat(32),
            payload_sha256: "cd".repeat(32),
            iso: "sps-7.3.1.iso".into(),
            peer: "10.0.0.2".into(),
            done: vec![HaStep::UpgradeTest, HaStep::SyncToSecondary],
            stopped: Some((
                HaStep::SecondaryOff,
                "IPMI: the BMC at 10.0.1.2:623 does not answer".into(),
            )),
            abandoned: false,
        };
        view.secondary_may_power_on = p.secondary_may_power_on();
        view.next_step = Some("secondary-off".into());
        view.upgrade = Some(p);
        tx.send(Msg::Ha(Box::new(view))).unwrap();
        settle(&mut c, &tx);
        check_snapshot(&c, root.path(), "ha_under_way", v);
    }
}
