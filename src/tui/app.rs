//! The console's state and its one place of change, `App::update(msg)`. Keys,
//! ticks and worker reports arrive as `Msg`; `update` changes the state and
//! returns the work to do as `Effect`s (start a child, run a check, write a
//! file), which the runner (effects.rs) carries out; drawing only reads `&App`.

use crate::tui::keys::{self, Action, Ctx};
use crate::tui::theme::Theme;
use crate::tui::worker::{self, ChildRun, Op, Persisted};
use crossterm::event::{KeyCode, KeyEvent};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use upgrade_core::appliance::config::Config;
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::check::finding::Report;
use upgrade_core::image::hash_forms::{self, Sha256};
use upgrade_core::image::manifest::{Manifest, Reminder};
use upgrade_core::image::verify::VerifyReport;
use upgrade_core::image::version::Version;
use upgrade_core::report::status::StatusReport;
use upgrade_core::slots::slot_status::{SlotStatus, booted_slot};
use upgrade_core::state::Loaded;
use upgrade_core::state::recovery::RecoveryReport;
use upgrade_core::upgrade::progress::{Operation, Outcome, Progress};

/// Keys closer together than this after an accepted hash are the rest of a paste.
const PASTE_GAP: std::time::Duration = std::time::Duration::from_millis(50);

/// Everything that can change the console's state.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    /// Text pasted with bracketed paste (terminals that support it).
    Paste(String),
    Resize(u16, u16),
    /// Time passes: re-read progress.json, the slot status and the log.
    Tick,
    Status(Result<Box<StatusReport>, String>),
    /// Both nodes of the HA pair, the other node's power, the HA upgrade.
    Ha(Box<upgrade_core::ha::view::PairView>),
    VerifyProgress {
        done: u64,
        total: u64,
    },
    VerifyDone(Result<(Box<VerifyReport>, Box<Manifest>), String>),
    CheckDone(Result<Box<Report>, String>),
    ChildExited {
        op: Op,
        code: Option<i32>,
    },
    /// The terminal went away (hang-up, end of input): the console closes, work goes on.
    InputClosed,
    /// The runner started (or failed to start) a detached child asked for by `Effect::Spawn`.
    Started {
        op: Op,
        result: Result<u32, String>,
    },
}

/// What one message did: whether to draw again, and the work to do.
#[derive(Debug, Default)]
pub struct Update {
    pub redraw: bool,
    pub effects: Vec<Effect>,
}

/// Work `update` asks for; the runner does it and reports back as `Msg`.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Start `self_exe --root ROOT detach -- ARGS` (reported as `Msg::Started`,
    /// then `Msg::ChildExited`).
    Spawn { op: Op, args: Vec<OsString> },
    /// Hash the image in a thread (`Msg::VerifyProgress`, `Msg::VerifyDone`).
    Verify { image: PathBuf, expected: Sha256 },
    /// Run the upgrade test in a thread (`Msg::CheckDone`); `ticked` names the
    /// prerequisites the operator confirmed.
    Check {
        image: PathBuf,
        iso_sha256: Option<String>,
        ticked: Vec<String>,
    },
    /// Gather the dashboard's status in a thread (`Msg::Status`).
    GatherStatus,
    /// Gather the HA pair's view in a thread (`Msg::Ha`): it asks the other node over
    /// the HA link and its BMC, a second or two.
    GatherHa,
    /// Record what a later console needs (console-wizard.json).
    SaveWizard(Persisted),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Status,
    Wizard,
    Recovery,
    Logs,
    Cluster,
    Ha,
    Help,
}

impl Screen {
    pub const TABS: [(Screen, &'static str, &'static str); 7] = [
        (Screen::Status, "1", "Status"),
        (Screen::Wizard, "2", "Upgrade"),
        (Screen::Recovery, "3", "Recovery"),
        (Screen::Logs, "4", "Logs"),
        (Screen::Cluster, "5", "Cluster"),
        (Screen::Ha, "6", "HA pair"),
        (Screen::Help, "?", "Help"),
    ];
}

/// The upgrade wizard's steps, in order; the last three happen after the reboot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Prerequisites,
    Image,
    Verify,
    Check,
    Bundle,
    Activate,
    Reboot,
    Phase1,
    VersionCheck,
    Reminders,
}

impl Step {
    pub const ALL: [Step; 10] = [
        Step::Prerequisites,
        Step::Image,
        Step::Verify,
        Step::Check,
        Step::Bundle,
        Step::Activate,
        Step::Reboot,
        Step::Phase1,
        Step::VersionCheck,
        Step::Reminders,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Step::Prerequisites => "Prerequisites",
            Step::Image => "Image and hash",
            Step::Verify => "Verify image",
            Step::Check => "Upgrade test",
            Step::Bundle => "Support bundle",
            Step::Activate => "Activate",
            Step::Reboot => "Reboot",
            Step::Phase1 => "Phase 1",
            Step::VersionCheck => "Version check",
            Step::Reminders => "Reminders",
        }
    }
    fn index(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
    fn next(self) -> Step {
        Step::ALL.get(self.index() + 1).copied().unwrap_or(self)
    }
    fn prev(self) -> Step {
        self.index()
            .checked_sub(1)
            .and_then(|i| Step::ALL.get(i).copied())
            .unwrap_or(self)
    }
}

/// One prerequisite from the vendor guides, ticked by the operator.
#[derive(Debug, Clone)]
pub struct Prereq {
    /// The shared list's id (upgrade_core::check::prerequisites).
    pub id: &'static str,
    pub text: String,
    pub detail: String,
    pub done: bool,
}

#[derive(Debug, Clone, Default)]
pub enum Job<T> {
    #[default]
    Idle,
    Running {
        done: u64,
        total: u64,
    },
    Done(T),
    Failed(String),
}

impl<T> Job<T> {
    pub fn is_running(&self) -> bool {
        matches!(self, Job::Running { .. })
    }
}

/// A question that must be answered before something irreversible happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Activate,
    Reboot,
    /// Recovery mode on request (recovery screen).
    Recover,
    /// The HA screen: start the pair's upgrade with the wizard's image.
    HaStart,
    /// The HA screen: the next step changes power, roles or reboots.
    HaStep(upgrade_core::ha::procedure::HaStep),
    /// The HA screen: bring the pair back after the primary rolled back.
    HaRestore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

pub struct Wizard {
    pub step: Step,
    pub prereqs: Vec<Prereq>,
    pub prereq_cursor: usize,
    pub images_dir: PathBuf,
    pub images: Vec<PathBuf>,
    pub image_cursor: usize,
    /// The hash as typed or pasted (several lines allowed: certutil output).
    pub hash_input: String,
    pub editing_hash: bool,
    pub expected: Option<Sha256>,
    /// Where the expected hash came from ("typed", "sps-7.3.1.iso.sha256").
    pub hash_source: String,
    pub hash_error: Option<String>,
    pub verify: Job<Box<VerifyReport>>,
    pub manifest: Option<Box<Manifest>>,
    pub check: Job<Box<Report>>,
    pub check_scroll: u16,
    pub bundle: Option<ChildRun>,
    pub bundle_path: Option<PathBuf>,
    /// `recover` started on request from the recovery screen.
    pub recover: Option<ChildRun>,
    pub activate: Option<ChildRun>,
    pub reboot: Option<ChildRun>,
    /// Phase 2, started in the background after a committed boot.
    pub phase2: Option<ChildRun>,
    pub confirm: Option<Confirm>,
    /// What a new console needs to pick up after a hang-up or the reboot.
    pub saved: Persisted,
    /// After a hash was accepted with Enter: keys arriving faster than anyone types
    /// are the rest of a paste (certutil's last line) and must not act as commands.
    pub paste_guard_until: Option<std::time::Instant>,
}

pub struct App {
    pub root: ApplianceRoot,
    pub theme: Theme,
    pub ascii: bool,
    /// "serial line (tty /dev/ttyS0): ASCII, mono" and the like, shown on Help.
    pub terminal_note: String,
    pub screen: Screen,
    pub quit: bool,
    /// Ctrl-L: the main loop forgets the screen and sends it whole.
    pub repaint: bool,
    pub config: Result<Config, String>,
    pub status: Option<Result<Box<StatusReport>, String>>,
    pub slots: SlotStatus,
    pub progress: Option<Progress>,
    /// The recovery report `recover` leaves in recovery.json, through the state
    /// module's typed reader (damaged is said, never taken for "not in recovery").
    pub recovery: Loaded<RecoveryReport>,
    pub wizard: Wizard,
    pub message: Option<(Level, String)>,
    pub help_scroll: u16,
    /// The last key handled (tests wait for a marker key with it).
    pub last_key: Option<KeyEvent>,
    /// tui-logger target unique to this console, so its log view shows only its lines.
    pub log_target: String,
    pub log_state: tui_logger::TuiWidgetState,
    log_offset: u64,
    /// The binary started for long work (this same program).
    pub self_exe: PathBuf,
    pub tx: Sender<Msg>,
    /// Effects asked for and not yet handed to the runner.
    pending: Vec<Effect>,
    /// The HA pair as last gathered, when it was asked for, and the HA step running.
    pub ha: Option<Box<upgrade_core::ha::view::PairView>>,
    ha_asked: Option<std::time::Instant>,
    ha_next_at: Option<std::time::Instant>,
    pub ha_run: Option<ChildRun>,
}

/// How the console was asked to start.
pub struct Options {
    pub root: ApplianceRoot,
    pub theme: Theme,
    pub ascii: bool,
    pub terminal_note: String,
    /// The image to preselect (the demo passes its good image).
    pub image: Option<PathBuf>,
    pub self_exe: PathBuf,
    /// A problem to show at once (a broken theme file, say).
    pub notice: Option<String>,
}

fn prerequisites(config: Option<&Config>, crash_files: usize) -> Vec<Prereq> {
    upgrade_core::check::prerequisites::list(config, crash_files)
        .into_iter()
        .map(|p| Prereq {
            id: p.id,
            text: p.text,
            detail: p.detail,
            done: false,
        })
        .collect()
}

/// Files in the images directory that look like firmware images, sorted.
pub fn list_images(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("iso"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The image to preselect when none was named: the newest that looks like a
/// published release, i.e. named `PRODUCT-VERSION.iso` (no `-bad-...` or
/// `-fails-...` after the version) with its `.sha256` beside it. None when no
/// image qualifies.
pub fn preselect_image(images: &[PathBuf]) -> Option<usize> {
    let version_of = |p: &PathBuf| -> Option<Version> {
        let name = p.file_name()?.to_str()?;
        let stem = name.get(..name.len().checked_sub(4)?)?;
        // The version starts after the first '-' followed by a digit.
        let at = stem
            .char_indices()
            .find(|&(i, c)| c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()))?
            .0;
        stem[at + 1..].parse().ok()
    };
    images
        .iter()
        .enumerate()
        .filter(|(_, p)| hash_forms::sidecar_path(p).is_some_and(|s| s.is_file()))
        .filter_map(|(i, p)| version_of(p).map(|v| (v, i)))
        .max()
        .map(|(_, i)| i)
}

/// Where the wizard looks for images: the demo's `images/` beside the root's
/// content, else `var/lib/upgrade-console/images`.
pub fn default_images_dir(root: &ApplianceRoot, image: Option<&Path>) -> PathBuf {
    if let Some(dir) = image.and_then(Path::parent) {
        return dir.to_path_buf();
    }
    let demo = root.resolve("images");
    if demo.is_dir() {
        demo
    } else {
        root.state_dir().join("images")
    }
}

impl App {
    pub fn new(opts: Options, tx: Sender<Msg>) -> App {
        let root = opts.root;
        let config = Config::load(&root).map_err(|e| e.to_string());
        let crash_files = std::fs::read_dir(root.crash_dir())
            .map(|d| d.count())
            .unwrap_or(0);
        let images_dir = default_images_dir(&root, opts.image.as_deref());
        let images = list_images(&images_dir);
        let image_cursor = opts
            .image
            .as_ref()
            .and_then(|i| images.iter().position(|p| p == i))
            .or_else(|| preselect_image(&images))
            .unwrap_or(0);
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log_target = format!("console-log-{}-{n}", std::process::id());
        let log_state = tui_logger::TuiWidgetState::new()
            .set_default_display_level(log::LevelFilter::Off)
            .set_level_for_target(&log_target, log::LevelFilter::Trace);
        let saved = Persisted::load(&root);
        let mut app = App {
            wizard: Wizard {
                step: Step::Prerequisites,
                prereqs: prerequisites(config.as_ref().ok(), crash_files),
                prereq_cursor: 0,
                images_dir,
                images,
                image_cursor,
                hash_input: String::new(),
                editing_hash: false,
                expected: None,
                hash_source: String::new(),
                hash_error: None,
                verify: Job::Idle,
                manifest: None,
                check: Job::Idle,
                check_scroll: 0,
                bundle: None,
                bundle_path: None,
                recover: None,
                paste_guard_until: None,
                activate: None,
                reboot: None,
                phase2: None,
                confirm: None,
                saved,
            },
            root,
            theme: opts.theme,
            ascii: opts.ascii,
            terminal_note: opts.terminal_note,
            screen: Screen::Status,
            quit: false,
            repaint: false,
            config,
            status: None,
            slots: SlotStatus::default(),
            progress: None,
            recovery: Loaded::Missing,
            message: opts.notice.map(|n| (Level::Warning, n)),
            help_scroll: 0,
            last_key: None,
            log_target,
            log_state,
            log_offset: 0,
            self_exe: opts.self_exe,
            tx,
            pending: Vec::new(),
            ha: None,
            ha_asked: None,
            ha_next_at: None,
            ha_run: None,
        };
        app.log_offset = std::fs::metadata(app.root.log_file())
            .map(|m| m.len().saturating_sub(16 << 10))
            .unwrap_or(0);
        app.pick_sidecar_hash();
        app.refresh_files();
        app.resume();
        app.request_status();
        log::info!("console opened on {}", app.root.dir().display());
        app
    }

    /// The version the booted slot runs.
    pub fn running_version(&self) -> Option<Version> {
        self.slots.get(booted_slot(&self.root)).version
    }

    /// The version the wizard is upgrading to.
    pub fn target_version(&self) -> Option<Version> {
        self.wizard
            .manifest
            .as_ref()
            .map(|m| m.firmware.version)
            .or_else(|| {
                self.wizard
                    .saved
                    .target
                    .as_deref()
                    .and_then(|t| t.parse().ok())
            })
    }

    pub fn reminders(&self) -> Vec<Reminder> {
        match &self.wizard.manifest {
            Some(m) => m.reminders.clone(),
            None => self.wizard.saved.reminders.clone(),
        }
    }

    pub fn selected_image(&self) -> Option<&PathBuf> {
        self.wizard.images.get(self.wizard.image_cursor)
    }

    /// The operation in progress.json that has not ended, if its process still runs.
    pub fn live_operation(&self) -> Option<&Progress> {
        self.progress
            .as_ref()
            .filter(|p| p.outcome.is_none() && worker::process_alive(p.pid))
    }

    fn say(&mut self, level: Level, text: impl Into<String>) {
        let text = text.into();
        match level {
            Level::Info => log::info!("{text}"),
            Level::Warning => log::warn!("{text}"),
            Level::Error => log::error!("{text}"),
        }
        self.message = Some((level, text));
    }

    fn request_status(&mut self) {
        if self.config.is_ok() {
            self.pending.push(Effect::GatherStatus);
        }
    }

    /// Asks for the HA view unless a gathering is under way (one at a time: each
    /// talks to the other node and its BMC).
    fn request_ha(&mut self) {
        let has_ha = self.config.as_ref().is_ok_and(|c| c.ha.is_some());
        let busy = self
            .ha_asked
            .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(30));
        if has_ha && !busy {
            self.ha_asked = Some(std::time::Instant::now());
            self.pending.push(Effect::GatherHa);
        }
    }

    /// The HA view is due again on the HA screen every few seconds.
    fn ha_due(&self) -> bool {
        self.screen == Screen::Ha
            && self.ha_asked.is_none()
            && self
                .ha_next_at
                .is_none_or(|t| std::time::Instant::now() >= t)
    }

    /// The effects asked for so far (the first status request, after `new`).
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.pending)
    }

    /// Re-reads the small state files; returns whether anything shown changed.
    fn refresh_files(&mut self) -> bool {
        let mut changed = false;
        let slots = SlotStatus::load(&self.root).unwrap_or_default();
        if slots != self.slots {
            self.slots = slots;
            changed = true;
        }
        // A damaged progress.json shows as no operation; `status` says it is damaged.
        let progress = Progress::read(&self.root).present();
        if progress != self.progress {
            self.progress = progress;
            changed = true;
        }
        let recovery = upgrade_core::state::recovery::load(&self.root);
        if recovery != self.recovery {
            self.recovery = recovery;
            changed = true;
        }
        changed |= self.follow_log();
        changed
    }

    /// Feeds new console-log lines to the log view.
    fn follow_log(&mut self) -> bool {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(self.root.log_file()) else {
            return false;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.log_offset {
            self.log_offset = 0; // rotated or truncated
        }
        if len == self.log_offset || f.seek(SeekFrom::Start(self.log_offset)).is_err() {
            return false;
        }
        let mut buf = Vec::new();
        if f.take(1 << 20).read_to_end(&mut buf).is_err() {
            return false;
        }
        // Only whole lines; the rest waits for the next tick.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            return false;
        };
        self.log_offset += end as u64 + 1;
        let drain = tui_logger::Drain::new();
        for line in String::from_utf8_lossy(&buf[..end]).lines() {
            let level = match line.split_whitespace().nth(1) {
                Some("ERROR") => log::Level::Error,
                Some("WARN") => log::Level::Warn,
                Some("DEBUG") => log::Level::Debug,
                _ => log::Level::Info,
            };
            drain.log(
                &log::Record::builder()
                    .args(format_args!("{line}"))
                    .level(level)
                    .target(&self.log_target)
                    .build(),
            );
        }
        tui_logger::move_events();
        true
    }

    /// Whether recovery.json says the appliance is in recovery mode now.
    /// (Present, or damaged: a half-written report still means recovery was entered.)
    pub fn recovery_active(&self) -> bool {
        !matches!(self.recovery, Loaded::Missing)
    }

    /// A new console finds work a previous one started: follows it.
    fn resume(&mut self) {
        if self.recovery_active() {
            self.screen = Screen::Recovery;
        }
        let Some(p) = self.progress.clone() else {
            return;
        };
        let live = p.outcome.is_none() && worker::process_alive(p.pid);
        match p.operation {
            Operation::Activate if live => {
                self.wizard.step = Step::Activate;
                self.screen = Screen::Wizard;
            }
            Operation::Activate
                if p.outcome == Some(Outcome::Done) && self.wizard.saved.target.is_some() =>
            {
                self.wizard.step = Step::Reboot;
            }
            Operation::Boot => {
                self.screen = Screen::Wizard;
                self.wizard.step = if live {
                    Step::Phase1
                } else {
                    Step::VersionCheck
                };
            }
            // Phase 2 follows a committed boot; another console (the serial line and
            // the screen both run one) may have started it before this one came up.
            Operation::Phase2 if self.wizard.saved.target.is_some() => {
                self.screen = Screen::Wizard;
                self.wizard.step = Step::VersionCheck;
            }
            Operation::Recover => self.screen = Screen::Recovery,
            Operation::Activate | Operation::Phase2 | Operation::Verify | Operation::Ha => {}
        }
        if p.outcome == Some(Outcome::Recovery) {
            self.screen = Screen::Recovery;
        }
    }

    fn pick_sidecar_hash(&mut self) {
        let w = &mut self.wizard;
        if w.hash_source == "typed" {
            return;
        }
        w.expected = None;
        w.hash_source.clear();
        w.hash_error = None;
        let Some(img) = w.images.get(w.image_cursor) else {
            return;
        };
        let name = img.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(side) = hash_forms::sidecar_path(img) {
            match hash_forms::read_hash_file(&side, name.as_deref()) {
                Ok(h) => {
                    w.expected = Some(h);
                    w.hash_source = side
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                }
                Err(e) => w.hash_error = Some(e.to_string()),
            }
        }
    }

    fn image_changed(&mut self) {
        let w = &mut self.wizard;
        w.verify = Job::Idle;
        w.check = Job::Idle;
        w.manifest = None;
        self.pick_sidecar_hash();
    }

    /// Whether the wizard may move on from its current step.
    pub fn may_advance(&self) -> Result<(), String> {
        let w = &self.wizard;
        match w.step {
            Step::Prerequisites => {
                let open = w.prereqs.iter().filter(|p| !p.done).count();
                if open > 0 {
                    return Err(format!(
                        "{open} prerequisite(s) not ticked: tick each with Space once done"
                    ));
                }
            }
            Step::Image => {
                if self.selected_image().is_none() {
                    return Err(format!(
                        "no firmware image in {}: copy the ISO there",
                        w.images_dir.display()
                    ));
                }
                if w.expected.is_none() {
                    return Err("enter or paste the published SHA-256 first (key e)".into());
                }
            }
            Step::Verify => match &w.verify {
                Job::Done(r) if r.ok() => {}
                Job::Done(r) if !r.image_ok => {
                    return Err("the image does not match its hash: do not use it".into());
                }
                Job::Done(r) if !r.payload_ok => {
                    return Err(
                        "the payload does not match the image's manifest: do not use this image"
                            .into(),
                    );
                }
                Job::Done(r) => {
                    return Err(format!(
                        "the image's signature is refused ({}): only images signed by the vendor are installed",
                        r.signature_error.as_deref().unwrap_or("no signer")
                    ));
                }
                _ => return Err("verify the image first (Enter)".into()),
            },
            Step::Check => match &w.check {
                Job::Done(r) if r.passed() => {}
                Job::Done(r) => {
                    return Err(format!(
                        "{} blocker(s): fix them, then run the test again (Enter)",
                        r.blockers()
                    ));
                }
                _ => return Err("run the upgrade test first (Enter)".into()),
            },
            Step::Bundle => {
                if w.bundle.as_ref().is_some_and(|b| b.exit.is_none()) {
                    return Err("the support bundle is still being written".into());
                }
            }
            Step::Activate => {
                if !w.activate.as_ref().is_some_and(ChildRun::succeeded) {
                    return Err("activate the image first (Enter)".into());
                }
            }
            Step::Reboot => return Err("reboot to continue (Enter)".into()),
            Step::Phase1 => {
                if self.live_operation().is_some() {
                    return Err("phase 1 is still running".into());
                }
            }
            Step::VersionCheck | Step::Reminders => {}
        }
        Ok(())
    }

    /// The one place where state changes. Returns whether the screen may have
    /// changed (a tick that found nothing new does not cost a frame) and the
    /// effects for the runner.
    pub fn update(&mut self, msg: Msg) -> Update {
        let redraw = self.apply(msg);
        Update {
            redraw,
            effects: self.take_effects(),
        }
    }

    fn apply(&mut self, msg: Msg) -> bool {
        if let Msg::Tick = msg {
            if self.ha_due() {
                self.request_ha();
            }
            let changed = self.refresh_files();
            if changed {
                self.after_progress();
            }
            return changed;
        }
        match msg {
            Msg::Key(k) => {
                self.last_key = Some(k);
                self.key(k);
            }
            Msg::Paste(text) => {
                if self.screen == Screen::Wizard && self.wizard.step == Step::Image {
                    self.wizard.editing_hash = true;
                    // Terminals send pasted line ends as CR: make them lines again.
                    let text = text.replace("\r\n", "\n").replace('\r', "\n");
                    self.wizard.hash_input.push_str(&text);
                    self.try_accept_hash(false);
                }
            }
            Msg::Resize(..) | Msg::Tick => {}
            Msg::Status(s) => self.status = Some(s),
            Msg::Ha(v) => {
                self.ha = Some(v);
                // Again in a few seconds while the HA screen is shown.
                self.ha_asked = None;
                self.ha_next_at =
                    Some(std::time::Instant::now() + std::time::Duration::from_secs(3));
            }
            Msg::VerifyProgress { done, total } => {
                self.wizard.verify = Job::Running { done, total };
            }
            Msg::VerifyDone(r) => match r {
                Ok((report, manifest)) => {
                    if report.ok() {
                        self.say(
                            Level::Info,
                            format!("image {} verified: SHA-256 matches", report.version),
                        );
                    } else if !report.image_ok {
                        self.say(
                            Level::Error,
                            format!("image {} does NOT match its hash", report.image),
                        );
                    } else if !report.payload_ok {
                        // The ISO is the published one; what is inside it is not.
                        self.say(
                            Level::Error,
                            format!(
                                "the payload {} does NOT match the image's manifest: do not use this image",
                                report.payload_file
                            ),
                        );
                    } else {
                        self.say(
                            Level::Error,
                            format!(
                                "image {} is not installable: its signature is refused ({})",
                                report.image,
                                report.signature_error.as_deref().unwrap_or("no signer")
                            ),
                        );
                    }
                    self.wizard.manifest = Some(manifest);
                    self.wizard.verify = Job::Done(report);
                }
                Err(e) => {
                    self.say(Level::Error, format!("verify failed: {e}"));
                    self.wizard.verify = Job::Failed(e);
                }
            },
            Msg::CheckDone(r) => match r {
                Ok(report) => {
                    self.say(
                        if report.passed() {
                            Level::Info
                        } else {
                            Level::Warning
                        },
                        format!(
                            "upgrade test: {} blocker(s), {} warning(s)",
                            report.blockers(),
                            report.warnings()
                        ),
                    );
                    self.wizard.check_scroll = 0;
                    self.wizard.check = Job::Done(report);
                }
                Err(e) => {
                    self.say(Level::Error, format!("upgrade test could not run: {e}"));
                    self.wizard.check = Job::Failed(e);
                }
            },
            Msg::ChildExited { op, code } => self.child_exited(op, code),
            Msg::Started { op, result } => self.started(op, result),
            Msg::InputClosed => {
                log::warn!(
                    "the terminal went away or the console was told to stop; work in progress goes on without it"
                );
                self.quit = true;
            }
        }
        true
    }

    fn child_exited(&mut self, op: Op, code: Option<i32>) {
        let run = match op {
            Op::Activate => self.wizard.activate.as_mut(),
            Op::Reboot => self.wizard.reboot.as_mut(),
            Op::Bundle => self.wizard.bundle.as_mut(),
            Op::Recover => self.wizard.recover.as_mut(),
            Op::Phase2 => self.wizard.phase2.as_mut(),
            Op::Ha => self.ha_run.as_mut(),
        };
        if let Some(r) = run {
            r.exit = Some(code.unwrap_or(-1));
        }
        self.refresh_files();
        let ok = code == Some(0);
        let tail = self.child_error_tail(op);
        match (op, ok) {
            (Op::Activate, true) => {
                self.say(
                    Level::Info,
                    "activation done: the new slot boots once after the reboot",
                );
                self.wizard.saved.stage = "activated".into();
                self.save_wizard();
                self.wizard.step = Step::Reboot;
            }
            (Op::Bundle, true) => {
                let p = self.wizard.bundle_path.clone().unwrap_or_default();
                self.say(
                    Level::Info,
                    format!("support bundle written: {}", p.display()),
                );
            }
            (Op::Reboot, true) => self.after_progress(),
            // The boot phase ran and ended badly (rolled back, recovery): it says
            // why in progress.json; the wizard's next screen shows it.
            (Op::Reboot, false)
                if self.progress.as_ref().is_some_and(|p| {
                    matches!(p.operation, Operation::Boot | Operation::Recover)
                        && p.outcome.is_some()
                }) =>
            {
                let outcome = self.progress.as_ref().and_then(|p| p.outcome);
                let said = match outcome {
                    Some(Outcome::RolledBack) => {
                        "the upgrade was rolled back: the old firmware runs again".to_string()
                    }
                    Some(Outcome::Recovery) => {
                        "phase 1 failed after its point of no return: recovery mode".to_string()
                    }
                    other => format!(
                        "the boot phase ended badly ({}): see the screen above",
                        other.map_or("", |o| o.as_str())
                    ),
                };
                self.say(Level::Error, said);
                self.after_progress();
            }
            (Op::Ha, true) => {
                self.ha_run = None;
                self.say(Level::Info, "HA step done: see the next one");
                self.ha_next_at = None;
                self.request_ha();
            }
            (Op::Ha, false) => {
                self.ha_run = None;
                self.say(Level::Error, format!("the HA step stopped{tail}"));
                self.ha_next_at = None;
                self.request_ha();
            }
            (Op::Recover, true) => self.say(Level::Warning, "recovery mode is on"),
            (Op::Phase2, true) => self.say(Level::Info, "phase 2 ended: see the version check"),
            // Another console (the serial line and the screen both run one) started it
            // first: it goes on there, and progress.json shows it here.
            (Op::Phase2, false) if tail.contains("already running") => {
                self.wizard.phase2 = None;
                self.say(
                    Level::Info,
                    "phase 2 runs in another process: the version check follows it",
                );
            }
            (op, false) => self.say(
                Level::Error,
                format!("{} failed (exit {}){}", op.name(), code.unwrap_or(-1), tail),
            ),
        }
        self.request_status();
    }

    fn child_error_tail(&self, op: Op) -> String {
        std::fs::read_to_string(worker::stderr_file(&self.root, op))
            .ok()
            .and_then(|t| {
                t.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| format!(": {}", l.trim()))
            })
            .unwrap_or_default()
    }

    /// Moves the wizard along with what progress.json says.
    fn after_progress(&mut self) {
        let Some(p) = self.progress.clone() else {
            return;
        };
        if p.operation == Operation::Boot && self.wizard.step >= Step::Reboot {
            match p.outcome {
                None => self.wizard.step = Step::Phase1,
                Some(_) if self.wizard.step < Step::VersionCheck => {
                    self.wizard.step = Step::VersionCheck;
                    self.request_status();
                }
                Some(_) => {}
            }
        }
        // A committed boot leaves the background migration to the `phase2`
        // service; on this appliance the console is what starts it, detached
        // like the other work, once.
        if p.operation == Operation::Boot
            && p.outcome == Some(Outcome::Done)
            && self.wizard.phase2.is_none()
            && (self.wizard.reboot.is_some() || self.wizard.saved.stage == "rebooting")
        {
            self.wizard.phase2 = Some(ChildRun {
                op: Op::Phase2,
                pid: 0,
                exit: None,
            });
            self.pending.push(Effect::Spawn {
                op: Op::Phase2,
                args: vec!["phase2".into()],
            });
        }
        if p.outcome == Some(Outcome::Recovery) && self.screen == Screen::Wizard {
            self.screen = Screen::Recovery;
        }
    }

    fn save_wizard(&mut self) {
        self.pending
            .push(Effect::SaveWizard(self.wizard.saved.clone()));
    }

    fn key(&mut self, k: KeyEvent) {
        if let Some(a) = keys::action(&[Ctx::Chord], &k) {
            return self.act(a, k);
        }
        if self.wizard.editing_hash && self.screen == Screen::Wizard {
            if let Some(a) = keys::action(&[Ctx::HashEntry], &k) {
                self.act(a, k);
            }
            return;
        }
        if let Some(until) = self.wizard.paste_guard_until {
            let now = std::time::Instant::now();
            if now < until && matches!(k.code, KeyCode::Char(_) | KeyCode::Enter) {
                self.wizard.paste_guard_until = Some(now + PASTE_GAP);
                return;
            }
            self.wizard.paste_guard_until = None;
        }
        if self.wizard.confirm.is_some()
            && matches!(self.screen, Screen::Wizard | Screen::Recovery | Screen::Ha)
        {
            if let Some(a) = keys::action(&[Ctx::Confirm], &k) {
                self.act(a, k);
            }
            return;
        }
        if let Some(a) = keys::action(&self.key_contexts(), &k) {
            self.act(a, k);
        }
    }

    /// Where a key is looked up on the screen shown now, global keys first.
    pub fn key_contexts(&self) -> Vec<Ctx> {
        let mut ctxs = vec![Ctx::Global];
        match self.screen {
            Screen::Status => ctxs.push(Ctx::Status),
            Screen::Wizard => ctxs.extend([Ctx::Wizard, Ctx::Step(self.wizard.step)]),
            Screen::Recovery => ctxs.push(Ctx::Recovery),
            Screen::Logs => ctxs.push(Ctx::Logs),
            Screen::Help => ctxs.push(Ctx::Help),
            Screen::Ha => ctxs.push(Ctx::Ha),
            Screen::Cluster => {}
        }
        ctxs
    }

    /// Carries out what a key asked for (the keys table decides which action).
    fn act(&mut self, a: Action, k: KeyEvent) {
        match a {
            Action::Repaint => self.repaint = true,
            Action::Quit => {
                if self
                    .wizard
                    .activate
                    .as_ref()
                    .is_some_and(|a| a.exit.is_none())
                    || self.live_operation().is_some()
                {
                    log::info!("console closed while work runs on; it goes on without the console");
                }
                self.quit = true;
            }
            Action::Show(s) => {
                self.screen = s;
                if s == Screen::Ha {
                    self.request_ha();
                }
            }
            Action::NextScreen | Action::PrevScreen => {
                let i = Screen::TABS
                    .iter()
                    .position(|t| t.0 == self.screen)
                    .unwrap_or(0);
                let n = Screen::TABS.len();
                let j = if a == Action::NextScreen {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.screen = Screen::TABS[j].0;
            }
            Action::Refresh => {
                self.refresh_files();
                self.request_status();
                if self.screen == Screen::Ha {
                    self.ha_next_at = None;
                    self.request_ha();
                }
                self.message = Some((Level::Info, "status refreshed".into()));
            }
            Action::StepNext => match self.may_advance() {
                Ok(()) => {
                    self.wizard.step = self.wizard.step.next();
                    self.message = None;
                }
                Err(why) => self.message = Some((Level::Warning, why)),
            },
            Action::StepBack => {
                let step = self.wizard.step;
                let busy = self.wizard.verify.is_running()
                    || self.wizard.check.is_running()
                    || self.wizard.activate.is_some();
                if step <= Step::Bundle && !busy || step == Step::Reminders {
                    self.wizard.step = step.prev();
                } else {
                    self.message = Some((
                        Level::Warning,
                        "the steps before this one cannot be redone now".into(),
                    ));
                }
            }
            Action::Down => self.move_cursor(true),
            Action::Up => self.move_cursor(false),
            Action::Tick => self.tick_prerequisite(),
            Action::EditHash => {
                self.wizard.editing_hash = true;
                self.wizard.hash_input.clear();
                self.wizard.hash_error = None;
            }
            Action::Rescan => {
                self.wizard.images = list_images(&self.wizard.images_dir);
                self.wizard.image_cursor = self
                    .wizard
                    .image_cursor
                    .min(self.wizard.images.len().saturating_sub(1));
                self.image_changed();
            }
            Action::Run => match self.wizard.step {
                Step::Verify if !self.wizard.verify.is_running() => self.start_verify(),
                Step::Check if !self.wizard.check.is_running() => self.start_check(),
                _ => {}
            },
            Action::Bundle => self.start_bundle(),
            Action::Activate => {
                if self.wizard.activate.is_none() && self.live_operation().is_none() {
                    self.wizard.confirm = Some(Confirm::Activate);
                }
            }
            Action::Reboot => {
                if self.wizard.reboot.is_none() {
                    self.wizard.confirm = Some(Confirm::Reboot);
                }
            }
            Action::Recover => {
                // Not over a good report; over a damaged one, recovery rewrites it.
                if !matches!(self.recovery, Loaded::Present(_))
                    && self
                        .wizard
                        .recover
                        .as_ref()
                        .is_none_or(|r| r.exit.is_some())
                {
                    self.wizard.confirm = Some(Confirm::Recover);
                }
            }
            Action::Yes => {
                if let Some(c) = self.wizard.confirm.take() {
                    match c {
                        Confirm::Activate => self.start_activate(),
                        Confirm::Reboot => self.start_reboot(),
                        Confirm::Recover => self.start_recover(),
                        Confirm::HaStart => self.start_ha(true),
                        Confirm::HaStep(_) => self.start_ha(false),
                        Confirm::HaRestore => {
                            self.spawn_ha(vec!["ha".into(), "restore".into(), "--yes".into()])
                        }
                    }
                }
            }
            Action::No => {
                self.wizard.confirm = None;
                self.message = Some((Level::Info, "nothing was changed".into()));
            }
            Action::HashAccept => {
                self.try_accept_hash(true);
                if !self.wizard.editing_hash {
                    self.wizard.paste_guard_until = Some(std::time::Instant::now() + PASTE_GAP);
                }
            }
            Action::HashCancel => {
                let w = &mut self.wizard;
                w.editing_hash = false;
                w.hash_input.clear();
                w.hash_error = None;
            }
            Action::HashClear => self.wizard.hash_input.clear(),
            Action::HashDelete => {
                self.wizard.hash_input.pop();
            }
            Action::HashType => {
                if let KeyCode::Char(c) = k.code
                    && self.wizard.hash_input.len() < 4096
                {
                    self.wizard.hash_input.push(c);
                }
            }
            Action::HaNext => self.ha_next(),
            Action::HaRestore => {
                let rolled_back = self
                    .ha
                    .as_ref()
                    .is_some_and(|v| v.under_way().is_some() && v.this_node.rolled_back);
                if self.ha_run.is_some() {
                    self.say(Level::Warning, "an HA step is running: wait for it");
                } else if rolled_back {
                    self.wizard.confirm = Some(Confirm::HaRestore);
                } else {
                    self.say(
                        Level::Warning,
                        "restore is for a primary that rolled back during the HA upgrade",
                    );
                }
            }
            Action::LogFollow => self
                .log_state
                .transition(tui_logger::TuiWidgetEvent::EscapeKey),
            Action::HelpBack => self.screen = Screen::Status,
        }
    }

    /// Down or up in what the screen shows: the log, the help text, or the wizard
    /// step's list (prerequisites, images, findings).
    fn move_cursor(&mut self, down: bool) {
        use tui_logger::TuiWidgetEvent as E;
        match self.screen {
            Screen::Logs => {
                self.log_state
                    .transition(if down { E::NextPageKey } else { E::PrevPageKey })
            }
            Screen::Help => {
                self.help_scroll = if down {
                    self.help_scroll.saturating_add(1)
                } else {
                    self.help_scroll.saturating_sub(1)
                }
            }
            Screen::Wizard => {
                let w = &mut self.wizard;
                match w.step {
                    Step::Prerequisites => {
                        let n = w.prereqs.len();
                        w.prereq_cursor = if down {
                            (w.prereq_cursor + 1).min(n.saturating_sub(1))
                        } else {
                            w.prereq_cursor.saturating_sub(1)
                        }
                    }
                    Step::Image => {
                        if down && w.image_cursor + 1 < w.images.len() {
                            w.image_cursor += 1;
                            self.image_changed();
                        } else if !down && w.image_cursor > 0 {
                            w.image_cursor -= 1;
                            self.image_changed();
                        }
                    }
                    Step::Check => {
                        w.check_scroll = if down {
                            w.check_scroll.saturating_add(1)
                        } else {
                            w.check_scroll.saturating_sub(1)
                        }
                    }
                    _ => {}
                }
            }
            Screen::Status | Screen::Recovery | Screen::Cluster | Screen::Ha => {}
        }
    }

    /// `n` on the HA screen: the next step of the pair's upgrade, asked first when it
    /// changes power, roles or reboots; the first step starts it with the image and
    /// hash chosen in the upgrade wizard.
    fn ha_next(&mut self) {
        if self.ha_run.is_some() {
            return self.say(Level::Warning, "an HA step is running: wait for it");
        }
        let Some(view) = self.ha.as_ref() else {
            return self.say(
                Level::Warning,
                "the HA pair's state is not known yet: r refreshes it",
            );
        };
        match view.under_way().and_then(|p| p.next()) {
            Some(step) => {
                use upgrade_core::ha::procedure::HaStep;
                // After the primary's reboot, the step only judges the boot.
                let rebooted = step == HaStep::RebootPrimary
                    && view.under_way().map(|p| p.version) == view.this_node.current;
                if step.needs_confirmation() && !rebooted {
                    self.wizard.confirm = Some(Confirm::HaStep(step));
                } else {
                    self.start_ha(false);
                }
            }
            _ => {
                if self.ha_image().is_none() {
                    return self.say(
                        Level::Warning,
                        "choose the image in the upgrade wizard (2, Image and hash) first",
                    );
                }
                self.wizard.confirm = Some(Confirm::HaStart);
            }
        }
    }

    /// The wizard's image and, when typed, its published hash.
    fn ha_image(&self) -> Option<(PathBuf, Option<String>)> {
        let img = self.wizard.images.get(self.wizard.image_cursor)?.clone();
        Some((img, self.wizard.expected.map(hex::encode)))
    }

    fn start_ha(&mut self, first: bool) {
        let mut args: Vec<OsString> = vec!["ha".into(), "upgrade".into()];
        if first {
            let Some((img, hash)) = self.ha_image() else {
                return;
            };
            args.push(img.into_os_string());
            if let Some(h) = hash {
                args.push("--sha256".into());
                args.push(h.into());
            }
        }
        args.push("--yes".into());
        args.push("--step".into());
        self.spawn_ha(args);
    }

    fn spawn_ha(&mut self, args: Vec<OsString>) {
        self.ha_run = Some(ChildRun {
            op: Op::Ha,
            pid: 0,
            exit: None,
        });
        self.pending.push(Effect::Spawn { op: Op::Ha, args });
    }

    fn tick_prerequisite(&mut self) {
        let w = &mut self.wizard;
        if let Some(p) = w.prereqs.get_mut(w.prereq_cursor) {
            p.done = !p.done;
            let (t, d) = (p.text.clone(), p.done);
            log::info!(
                "prerequisite {}: {t}",
                if d { "ticked" } else { "unticked" }
            );
        }
        // A warning about unticked items counts what is left now.
        if self
            .message
            .as_ref()
            .is_some_and(|(_, m)| m.contains("prerequisite(s) not ticked"))
        {
            self.message = self.may_advance().err().map(|m| (Level::Warning, m));
        }
    }

    fn start_verify(&mut self) {
        match (self.selected_image().cloned(), self.wizard.expected) {
            (Some(img), Some(expected)) => {
                self.say(Level::Info, format!("verifying {}", img.display()));
                self.wizard.verify = Job::Running { done: 0, total: 0 };
                self.pending.push(Effect::Verify {
                    image: img,
                    expected,
                });
            }
            _ => {
                self.message = Some((
                    Level::Warning,
                    "choose an image and its hash first (p)".into(),
                ))
            }
        }
    }

    fn start_check(&mut self) {
        match (self.selected_image().cloned(), &self.config) {
            (Some(img), Ok(_)) => {
                self.say(Level::Info, format!("upgrade test of {}", img.display()));
                self.wizard.check = Job::Running { done: 0, total: 0 };
                let sha = match &self.wizard.verify {
                    Job::Done(r) if r.ok() => Some(r.image_sha256.clone()),
                    _ => None,
                };
                let ticked = self
                    .wizard
                    .prereqs
                    .iter()
                    .filter(|p| p.done)
                    .map(|p| p.id.to_string())
                    .collect();
                self.pending.push(Effect::Check {
                    image: img,
                    iso_sha256: sha,
                    ticked,
                });
            }
            (_, Err(e)) => {
                let e = format!("the configuration does not load: {e}");
                self.message = Some((Level::Error, e))
            }
            (None, _) => self.message = Some((Level::Warning, "choose an image first".into())),
        }
    }

    fn start_bundle(&mut self) {
        if self
            .wizard
            .bundle
            .as_ref()
            .is_some_and(|b| b.exit.is_none())
        {
            return;
        }
        let stamp = upgrade_core::appliance::console_log::now_rfc3339().replace([':', '-'], "");
        let out = self
            .root
            .state_dir()
            .join("bundles")
            .join(format!("support-bundle-{stamp}.zip"));
        let args = vec!["bundle".into(), "-o".into(), out.clone().into_os_string()];
        self.wizard.bundle_path = Some(out);
        self.pending.push(Effect::Spawn {
            op: Op::Bundle,
            args,
        });
    }

    /// The runner started a child (or could not): the wizard follows it.
    fn started(&mut self, op: Op, result: Result<u32, String>) {
        let pid = match result {
            Ok(pid) => pid,
            Err(e) => {
                let what = match op {
                    Op::Activate => "the activation",
                    Op::Reboot => "the reboot",
                    Op::Bundle => "the bundle",
                    Op::Recover => "recovery",
                    Op::Phase2 => "phase 2",
                    Op::Ha => "the HA step",
                };
                self.say(Level::Error, format!("cannot start {what}: {e}"));
                if op == Op::Ha {
                    self.ha_run = None;
                }
                if let Some(r) = self.wizard.phase2.as_mut().filter(|_| op == Op::Phase2) {
                    r.exit = Some(-1);
                }
                return;
            }
        };
        let run = Some(ChildRun {
            op,
            pid,
            exit: None,
        });
        match op {
            Op::Bundle => {
                let p = self.wizard.bundle_path.clone().unwrap_or_default();
                self.say(
                    Level::Info,
                    format!("writing support bundle {}", p.display()),
                );
                self.wizard.bundle = run;
            }
            Op::Activate => {
                let img = self.wizard.saved.image.clone().unwrap_or_default();
                self.say(
                    Level::Info,
                    format!("activation of {} started (pid {pid})", img.display()),
                );
                self.wizard.activate = run;
            }
            Op::Recover => {
                self.say(
                    Level::Warning,
                    format!("entering recovery mode on request (pid {pid})"),
                );
                self.wizard.recover = run;
            }
            Op::Ha => {
                self.say(Level::Info, format!("HA step started (pid {pid})"));
                self.ha_run = run;
            }
            Op::Reboot => {
                self.say(Level::Info, format!("reboot requested (pid {pid})"));
                self.wizard.reboot = run;
                self.wizard.step = Step::Phase1;
            }
            Op::Phase2 => {
                self.say(
                    Level::Info,
                    format!("phase 2 started in the background (pid {pid})"),
                );
                self.wizard.phase2 = run;
            }
        }
    }

    fn start_activate(&mut self) {
        let Some(img) = self.selected_image().cloned() else {
            return;
        };
        self.wizard.saved = Persisted {
            image: Some(img.clone()),
            target: self.target_version().map(|v| v.to_string()),
            reminders: self.reminders(),
            stage: "activating".into(),
        };
        self.save_wizard();
        let args = vec!["activate".into(), img.into_os_string(), "--yes".into()];
        self.pending.push(Effect::Spawn {
            op: Op::Activate,
            args,
        });
    }

    fn start_recover(&mut self) {
        self.pending.push(Effect::Spawn {
            op: Op::Recover,
            args: vec!["recover".into()],
        });
    }

    fn start_reboot(&mut self) {
        self.wizard.saved.stage = "rebooting".into();
        self.save_wizard();
        self.pending.push(Effect::Spawn {
            op: Op::Reboot,
            args: vec!["reboot".into()],
        });
    }

    /// Accepts the typed or pasted hash when it parses. Enter on text that does not
    /// parse yet starts a new line, so a multi-line paste (certutil) arrives whole on
    /// terminals without bracketed paste.
    fn try_accept_hash(&mut self, enter: bool) {
        let name = self
            .selected_image()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        let w = &mut self.wizard;
        match hash_forms::parse_expected(&w.hash_input, name.as_deref()) {
            Ok(h) => {
                w.expected = Some(h);
                w.hash_source = "typed".into();
                w.editing_hash = false;
                w.hash_error = None;
                w.verify = Job::Idle;
                log::info!("expected SHA-256 entered: {}", hex::encode(h));
            }
            Err(e) => {
                if enter {
                    if w.hash_input.ends_with('\n') || w.hash_input.trim().is_empty() {
                        w.hash_error = Some(e.to_string());
                    } else {
                        w.hash_input.push('\n');
                    }
                }
            }
        }
    }
}
