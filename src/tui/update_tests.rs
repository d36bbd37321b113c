//! `App::update` on its own: what a key or a report changes and which effects it
//! asks for, with no runner (nothing is spawned, no thread started).

use crate::tui::app::{App, Confirm, Effect, Level, Msg, Options, Step};
use crate::tui::theme::Theme;
use crate::tui::worker::{ChildRun, Op};
use crossterm::event::{KeyCode, KeyEvent};
use std::path::{Path, PathBuf};
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::upgrade::progress::{Operation, Outcome, Progress};

/// A root with an `images/` directory holding `images` (name, with a .sha256 beside it).
fn root_with(images: &[(&str, bool)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("temp dir");
    let dir = d.path().join("images");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, sidecar) in images {
        std::fs::write(dir.join(name), b"not really an ISO").unwrap();
        if *sidecar {
            std::fs::write(
                dir.join(format!("{name}.sha256")),
                format!("{}  {name}\n", "ab".repeat(32)),
            )
            .unwrap();
        }
    }
    d
}

fn app(root: &Path, image: Option<PathBuf>) -> App {
    let (tx, _rx) = std::sync::mpsc::channel();
    App::new(
        Options {
            root: ApplianceRoot::new(root),
            theme: Theme::default_theme(),
            ascii: false,
            terminal_note: "test".into(),
            image,
            self_exe: PathBuf::from("/nonexistent/upgrade-console"),
            notice: None,
        },
        tx,
    )
}

fn key(a: &mut App, c: char) -> Vec<Effect> {
    a.update(Msg::Key(KeyEvent::from(KeyCode::Char(c)))).effects
}

#[test]
fn y_on_the_activate_question_asks_for_the_child_and_spawns_nothing() {
    let d = root_with(&[("sps-7.3.1.iso", true)]);
    let mut a = app(d.path(), None);
    a.update(Msg::Key(KeyEvent::from(KeyCode::Char('2'))));
    a.wizard.step = Step::Activate;
    a.wizard.confirm = Some(Confirm::Activate);
    let fx = key(&mut a, 'y');
    let img = d.path().join("images/sps-7.3.1.iso");
    assert!(
        fx.contains(&Effect::Spawn {
            op: Op::Activate,
            args: vec!["activate".into(), img.into_os_string(), "--yes".into()],
        }),
        "{fx:?}"
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::SaveWizard(p) if p.stage == "activating")),
        "{fx:?}"
    );
    assert!(a.wizard.activate.is_none(), "nothing started yet");
    // The runner reports the start: the wizard follows that child.
    a.update(Msg::Started {
        op: Op::Activate,
        result: Ok(4242),
    });
    assert_eq!(a.wizard.activate.as_ref().map(|r| r.pid), Some(4242));
}

#[test]
fn space_ticks_without_moving_and_the_count_follows() {
    let d = root_with(&[]);
    let mut a = app(d.path(), None);
    key(&mut a, '2');
    let n = a.wizard.prereqs.len();
    key(&mut a, 'n');
    let said = a.message.clone().map(|m| m.1).unwrap_or_default();
    assert!(said.starts_with(&format!("{n} prerequisite(s)")), "{said}");
    key(&mut a, ' ');
    assert!(a.wizard.prereqs[0].done);
    assert_eq!(a.wizard.prereq_cursor, 0, "Space only ticks");
    let said = a.message.clone().map(|m| m.1).unwrap_or_default();
    assert!(
        said.starts_with(&format!("{} prerequisite(s)", n - 1)),
        "the warning counts what is left: {said}"
    );
    for _ in 1..n {
        a.update(Msg::Key(KeyEvent::from(KeyCode::Down)));
        key(&mut a, ' ');
    }
    assert!(a.wizard.prereqs.iter().all(|p| p.done));
    assert!(a.message.is_none(), "no stale warning: {:?}", a.message);
}

#[test]
fn preselects_the_newest_published_looking_image() {
    let d = root_with(&[
        ("sps-7.3.1-bad-payload-hash.iso", true),
        ("sps-7.3.1-fails-in-phase1.iso", true),
        ("sps-7.3.1.iso", true),
        ("sps-7.2.iso", true),
        ("sps-9.0.iso", false),
    ]);
    let a = app(d.path(), None);
    assert_eq!(
        a.selected_image().and_then(|p| p.file_name()),
        Some(std::ffi::OsStr::new("sps-7.3.1.iso"))
    );
    assert_eq!(
        crate::tui::app::preselect_image(&[d.path().join("images/sps-7.3.1-bad-payload-hash.iso")]),
        None
    );
}

fn write_progress(root: &Path, op: Operation, outcome: Option<Outcome>) {
    Progress {
        stage: "done".into(),
        fraction: 1.0,
        outcome,
        ..Progress::new(op)
    }
    .save(&ApplianceRoot::new(root))
    .unwrap();
}

#[test]
fn a_committed_boot_starts_phase_2_once() {
    let d = root_with(&[]);
    let mut a = app(d.path(), None);
    a.wizard.reboot = Some(ChildRun {
        op: Op::Reboot,
        pid: 1,
        exit: None,
    });
    a.wizard.step = Step::Phase1;
    write_progress(d.path(), Operation::Boot, Some(Outcome::Done));
    let fx = a.update(Msg::Tick).effects;
    assert!(
        fx.contains(&Effect::Spawn {
            op: Op::Phase2,
            args: vec!["phase2".into()],
        }),
        "{fx:?}"
    );
    assert_eq!(a.wizard.step, Step::VersionCheck);
    // A later change of the file does not start it again.
    write_progress(d.path(), Operation::Boot, Some(Outcome::Done));
    std::fs::write(d.path().join("x"), b"").unwrap();
    let again = a.update(Msg::ChildExited {
        op: Op::Reboot,
        code: Some(0),
    });
    assert!(
        !again
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Spawn { op: Op::Phase2, .. })),
        "{:?}",
        again.effects
    );
}

#[test]
fn a_rollback_is_said_plainly() {
    let d = root_with(&[]);
    let mut a = app(d.path(), None);
    a.wizard.reboot = Some(ChildRun {
        op: Op::Reboot,
        pid: 1,
        exit: None,
    });
    write_progress(d.path(), Operation::Boot, Some(Outcome::RolledBack));
    a.update(Msg::ChildExited {
        op: Op::Reboot,
        code: Some(1),
    });
    let (level, said) = a.message.clone().unwrap();
    assert_eq!(level, Level::Error);
    assert!(said.contains("rolled back"), "{said}");
    assert!(!said.contains("ended in"), "{said}");
}

#[test]
fn the_version_check_follows_phase_2_to_its_end() {
    use upgrade_core::slots::slot_status::{SlotName, SlotRecord, SlotState, SlotStatus};
    let d = root_with(&[]);
    let root = ApplianceRoot::new(d.path());
    let mut st = SlotStatus::default();
    st.slots.insert(
        SlotName::A,
        SlotRecord {
            state: SlotState::Good,
            version: Some("7.3.1".parse().unwrap()),
            ..SlotRecord::empty()
        },
    );
    st.save(&root).unwrap();
    let mut a = app(d.path(), None);
    a.wizard.saved.target = Some("7.3.1".into());
    a.screen = crate::tui::app::Screen::Wizard;
    a.wizard.step = Step::VersionCheck;
    let screen = |a: &App| {
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
        t.draw(|f| crate::tui::ui::draw(f, a)).unwrap();
        t.backend().to_string()
    };
    Progress {
        stage: "migrate".into(),
        fraction: 0.5,
        ..Progress::new(Operation::Phase2)
    }
    .save(&root)
    .unwrap();
    a.update(Msg::Tick);
    let s = screen(&a);
    assert!(
        s.contains("Phase 2 (background migration): migrate 50 %"),
        "{s}"
    );
    write_progress(d.path(), Operation::Phase2, Some(Outcome::Done));
    a.update(Msg::Tick);
    let s = screen(&a);
    assert!(s.contains("Phase 2 done"), "{s}");
    assert!(s.contains("The upgrade is committed"), "{s}");
}

/// Every binding of the keys table reaches its action on the screen and step it is
/// bound to (nothing earlier in the lookup hides it), and the handler carries the
/// action out (an exhaustive match in `App::act`).
#[test]
fn every_binding_of_the_keys_table_reaches_its_action() {
    use crate::tui::app::Screen;
    use crate::tui::keys::{self, Ctx};
    let d = root_with(&[("sps-7.3.1.iso", true)]);
    let mut a = app(d.path(), None);
    for b in keys::binds() {
        let (screen, step) = match b.ctx {
            Ctx::Chord | Ctx::Global | Ctx::Status => (Screen::Status, None),
            Ctx::Logs => (Screen::Logs, None),
            Ctx::Help => (Screen::Help, None),
            Ctx::Recovery => (Screen::Recovery, None),
            Ctx::Ha => (Screen::Ha, None),
            Ctx::Wizard => (Screen::Wizard, Some(Step::Image)),
            Ctx::Step(s) => (Screen::Wizard, Some(s)),
            // Looked up on their own, before anything else (see App::key).
            Ctx::HashEntry | Ctx::Confirm => continue,
        };
        a.screen = screen;
        if let Some(s) = step {
            a.wizard.step = s;
        }
        let ev = b.key.event();
        let found = if b.ctx == Ctx::Chord {
            keys::action(&[Ctx::Chord], &ev)
        } else {
            keys::action(&a.key_contexts(), &ev)
        };
        assert_eq!(found, Some(b.action), "{b:?} on {screen:?} {step:?}");
    }
}

#[test]
fn keys_from_the_table_act_in_their_context() {
    let d = root_with(&[("sps-7.3.1.iso", true)]);
    let mut a = app(d.path(), None);
    key(&mut a, '2');
    a.wizard.step = Step::Image;
    // e starts hash entry; typed keys go into it, even global ones such as q and 1.
    key(&mut a, 'e');
    assert!(a.wizard.editing_hash);
    for c in ['q', '1', 'a'] {
        key(&mut a, c);
    }
    assert_eq!(a.wizard.hash_input, "q1a");
    assert!(!a.quit);
    // Ctrl-L repaints even while typing; Esc cancels.
    a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('l'),
        crossterm::event::KeyModifiers::CONTROL,
    )));
    assert!(a.repaint);
    a.update(Msg::Key(KeyEvent::from(KeyCode::Esc)));
    assert!(!a.wizard.editing_hash && a.wizard.hash_input.is_empty());
    // r on the image step looks for images again.
    std::fs::write(d.path().join("images/sps-7.4.0.iso"), b"x").unwrap();
    key(&mut a, 'r');
    assert_eq!(a.wizard.images.len(), 2);
    // n on a question answers it and changes nothing.
    a.wizard.step = Step::Activate;
    a.wizard.confirm = Some(Confirm::Activate);
    let fx = key(&mut a, 'n');
    assert!(a.wizard.confirm.is_none());
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(
        a.wizard.step,
        Step::Activate,
        "n answered, it did not go on"
    );
}

#[test]
fn a_refused_signature_is_said_as_such_not_as_a_payload_mismatch() {
    use upgrade_core::image::manifest::Manifest;
    use upgrade_core::image::verify::VerifyReport;
    let d = root_with(&[("sps-7.3.1.iso", true)]);
    let mut a = app(d.path(), None);
    let manifest = Manifest::parse(include_str!(
        "../../tests/integration/fixtures/manifest/valid/minimal.toml"
    ))
    .unwrap();
    let report = VerifyReport {
        image: "sps-7.3.1.iso".into(),
        product: "sps".into(),
        version: "7.3.1".into(),
        image_sha256: "ab".repeat(32),
        expected_sha256: "ab".repeat(32),
        image_ok: true,
        payload_file: "firmware/rootfs.img".into(),
        payload_algorithm: upgrade_core::image::image_hash::PayloadAlgorithm::Blake3,
        payload_sha256: None,
        payload_expected_sha256: "cd".repeat(32),
        payload_blake3: Some("ef".repeat(32)),
        payload_expected_blake3: Some("ef".repeat(32)),
        payload_ok: true,
        bytes: 1,
        signer: None,
        signature_error: Some("the image is not signed".into()),
        hash_seconds: 0.0,
        signature_seconds: 0.0,
    };
    a.wizard.step = Step::Verify;
    a.update(Msg::VerifyDone(Ok((Box::new(report), Box::new(manifest)))));
    let (level, said) = a.message.clone().unwrap();
    assert_eq!(level, Level::Error);
    assert!(
        said.contains("signature is refused (the image is not signed)"),
        "{said}"
    );
    assert!(!said.contains("payload"), "{said}");
    let why = a.may_advance().unwrap_err();
    assert!(why.contains("signature is refused"), "{why}");
    assert!(!why.contains("payload"), "{why}");
}

#[test]
fn phase_2_started_by_another_console_is_not_an_error() {
    let d = root_with(&[]);
    let mut a = app(d.path(), None);
    a.wizard.phase2 = Some(ChildRun {
        op: Op::Phase2,
        pid: 1,
        exit: None,
    });
    let stderr = crate::tui::worker::stderr_file(&ApplianceRoot::new(d.path()), Op::Phase2);
    std::fs::create_dir_all(stderr.parent().unwrap()).unwrap();
    std::fs::write(
        &stderr,
        "upgrade-console: phase 2 is already running (EAGAIN: Try again)\n",
    )
    .unwrap();
    a.update(Msg::ChildExited {
        op: Op::Phase2,
        code: Some(1),
    });
    let (level, said) = a.message.clone().unwrap();
    assert_eq!(level, Level::Info, "{said}");
    assert!(said.contains("another process"), "{said}");
    assert!(
        a.wizard.phase2.is_none(),
        "the screen follows progress.json, not this child"
    );
}

#[test]
fn a_console_that_comes_up_after_phase_2_started_resumes_at_the_version_check() {
    let d = root_with(&[]);
    let root = ApplianceRoot::new(d.path());
    crate::tui::worker::Persisted {
        image: None,
        target: Some("7.3.1".into()),
        reminders: vec![],
        stage: "rebooting".into(),
    }
    .save(&root)
    .unwrap();
    // The other console started phase 2 after the committed boot, and it is done.
    write_progress(d.path(), Operation::Phase2, Some(Outcome::Done));
    let a = app(d.path(), None);
    assert_eq!(a.wizard.step, Step::VersionCheck);
}

/// A pair view as the worker would report it: both nodes on 7.0.1, healthy.
fn pair_view(progress: Option<upgrade_core::ha::procedure::HaProgress>) -> Msg {
    use upgrade_core::appliance::config::HaRole;
    use upgrade_core::ha::node::NodeState;
    let node = |host: &str, role| NodeState {
        schema: 1,
        hostname: host.into(),
        product: "sps".into(),
        role: Some(role),
        current: Some("7.0.1".parse().unwrap()),
        after_reboot: Some("7.0.1".parse().unwrap()),
        upgrade: "no upgrade in progress".into(),
        rolled_back: false,
        health: "ok".into(),
        hardware: "T4".into(),
        sealed: false,
    };
    let may = progress
        .as_ref()
        .is_none_or(|p: &upgrade_core::ha::procedure::HaProgress| p.secondary_may_power_on());
    Msg::Ha(Box::new(upgrade_core::ha::view::PairView {
        schema: 1,
        this_node: node("sps-1", HaRole::Primary),
        other_node: Some(node("sps-2", HaRole::Secondary)),
        other_node_error: None,
        other_power: Some(upgrade_core::ha::ipmi::Power::On),
        other_power_error: None,
        next_step: progress
            .as_ref()
            .and_then(|p| p.next())
            .map(|s| s.name().into()),
        secondary_may_power_on: may,
        upgrade: progress,
    }))
}

fn ha_config(root: &Path) {
    std::fs::create_dir_all(root.join("etc/appliance")).unwrap();
    std::fs::write(
        root.join("etc/appliance/appliance.toml"),
        "[appliance]\nproduct = \"sps\"\nhostname = \"sps-1\"\n[slots]\nA = \"a.img\"\nB = \"b.img\"\n[ha]\nrole = \"primary\"\npeer = \"10.0.0.2\"\n",
    )
    .unwrap();
}

#[test]
fn the_ha_screen_starts_the_pair_upgrade_with_the_wizards_image_after_a_yes() {
    let d = root_with(&[("sps-7.3.1.iso", true)]);
    ha_config(d.path());
    let mut a = app(d.path(), None);
    let fx = key(&mut a, '6');
    assert!(fx.contains(&Effect::GatherHa), "{fx:?}");
    a.update(pair_view(None));
    assert!(key(&mut a, 'n').is_empty(), "asks first");
    assert_eq!(a.wizard.confirm, Some(Confirm::HaStart));
    let fx = key(&mut a, 'y');
    let img = d.path().join("images/sps-7.3.1.iso");
    assert!(
        fx.contains(&Effect::Spawn {
            op: Op::Ha,
            // The hash the wizard holds (here from the .sha256 beside the image).
            args: vec![
                "ha".into(),
                "upgrade".into(),
                img.into_os_string(),
                "--sha256".into(),
                "ab".repeat(32).into(),
                "--yes".into(),
                "--step".into()
            ],
        }),
        "{fx:?}"
    );
    // While it runs, n does nothing more.
    assert!(key(&mut a, 'n').is_empty());
}

#[test]
fn the_ha_screen_asks_before_a_power_change_and_not_before_a_transfer() {
    use upgrade_core::ha::procedure::{HaProgress, HaStep};
    let d = root_with(&[("sps-7.3.1.iso", true)]);
    ha_config(d.path());
    let mut a = app(d.path(), None);
    key(&mut a, '6');
    let mut p = HaProgress {
        version: "7.3.1".parse().unwrap(),
        iso_sha256: "ab".repeat(32),
        payload_sha256: "cd".repeat(32),
        iso: "x.iso".into(),
        peer: "10.0.0.2".into(),
        done: vec![HaStep::UpgradeTest],
        stopped: None,
        abandoned: false,
    };
    a.update(pair_view(Some(p.clone())));
    // The transfer changes nothing running: it starts at once.
    let fx = key(&mut a, 'n');
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Spawn { op: Op::Ha, args } if args.len() == 4)),
        "{fx:?}"
    );
    a.update(Msg::ChildExited {
        op: Op::Ha,
        code: Some(0),
    });
    p.done.push(HaStep::SyncToSecondary);
    a.update(pair_view(Some(p)));
    assert!(key(&mut a, 'n').is_empty());
    assert_eq!(
        a.wizard.confirm,
        Some(Confirm::HaStep(HaStep::SecondaryOff))
    );
    key(&mut a, 'n');
    assert_eq!(a.wizard.confirm, None, "n answers no");
    assert!(a.ha_run.is_none(), "nothing started");
}
