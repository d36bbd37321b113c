//! The live state of the running operation (activate, boot phase, phase 2, recovery),
//! in `var/lib/upgrade-console/progress.json`, and the one reporter that produces it.
//! The process doing the work writes it; the console, the boot log server and `status`
//! read it. Because the work and its readers only meet in this file, a console that
//! goes away (serial line hung up) never stops the work, and a new console picks up
//! where the old one was.
//!
//! The reporter follows RAUC's weighted-step model: an operation is a tree of named
//! steps, each with a weight within its parent; a step's share of the whole is its
//! parent's share times its weight over the parent's total. Progress only moves
//! forward. Observers (progress.json, the CLI's bar or lines) each decide how often
//! they draw; step changes and the end are always delivered.

use crate::appliance::durable::write_atomic;
use crate::appliance::root::ApplianceRoot;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The operation a progress record describes; spelled in JSON as users see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    #[serde(rename = "activate")]
    Activate,
    #[serde(rename = "boot")]
    Boot,
    #[serde(rename = "phase2")]
    Phase2,
    #[serde(rename = "recover")]
    Recover,
    /// Hashing an image; shown on the command line only (verify writes no state).
    #[serde(rename = "verify")]
    Verify,
    /// The HA pair's upgrade on the primary (stderr only; its state is the journal).
    #[serde(rename = "ha")]
    Ha,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Activate => "activate",
            Operation::Boot => "boot",
            Operation::Phase2 => "phase2",
            Operation::Recover => "recover",
            Operation::Verify => "verify",
            Operation::Ha => "ha",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    #[serde(rename = "done")]
    Done,
    #[serde(rename = "failed")]
    Failed,
    #[serde(rename = "rolled-back")]
    RolledBack,
    /// Rollback was impossible: the appliance waits in recovery.
    #[serde(rename = "recovery")]
    Recovery,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled-back",
            Outcome::Recovery => "recovery",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub operation: Operation,
    /// Coarse stage within the operation, e.g. "write", "read-back", "phase1", "commit".
    pub stage: String,
    /// The named step running now within the stage (a migration step's name, say).
    #[serde(default)]
    pub step: String,
    /// 0.0 ..= 1.0 over the whole operation (steps weighted).
    pub fraction: f64,
    /// Whether the old firmware can still be booted if this fails.
    pub rollback_possible: bool,
    /// Phase 1 runs: powering off now may lose data.
    #[serde(default)]
    pub do_not_power_off: bool,
    /// One line for the operator.
    #[serde(default)]
    pub message: String,
    /// Process doing the work.
    #[serde(default)]
    pub pid: u32,
    /// RFC 3339 time of this update.
    #[serde(default)]
    pub updated: String,
    /// Set when the operation ended.
    #[serde(default)]
    pub outcome: Option<Outcome>,
}

/// What reading progress.json found (the state module's `Loaded`): a damaged file
/// is said so, never read as "none".
pub type ProgressRead = crate::state::Loaded<Progress>;

impl Progress {
    /// A record of `operation` at its start.
    pub fn new(operation: Operation) -> Progress {
        Progress {
            operation,
            stage: String::new(),
            step: String::new(),
            fraction: 0.0,
            rollback_possible: true,
            do_not_power_off: false,
            message: String::new(),
            pid: 0,
            updated: String::new(),
            outcome: None,
        }
    }

    pub fn path(root: &ApplianceRoot) -> PathBuf {
        crate::state::progress(root)
    }

    /// The one reader of progress.json: the state module's reader, and a fraction
    /// within 0..1.
    pub fn read(root: &ApplianceRoot) -> ProgressRead {
        let path = Self::path(root);
        let damaged = |why: String| {
            ProgressRead::Damaged(format!(
                "\"{}\" {why}; it is rewritten by the next activate, reboot, phase2 or recover (or remove it)",
                path.display()
            ))
        };
        match crate::state::read_json::<Progress>(&path) {
            ProgressRead::Present(p) if (0.0..=1.0).contains(&p.fraction) => {
                ProgressRead::Present(p)
            }
            ProgressRead::Present(p) => {
                damaged(format!("has fraction {}, outside 0..1", p.fraction))
            }
            ProgressRead::Missing => ProgressRead::Missing,
            ProgressRead::Damaged(why) => damaged(format!("is not a progress record ({why})")),
        }
    }

    /// The one writer: atomically and durably, stamping the time and pid.
    pub fn save(&mut self, root: &ApplianceRoot) -> std::io::Result<()> {
        self.updated = crate::appliance::console_log::now_rfc3339();
        self.pid = std::process::id();
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        write_atomic(&Self::path(root), &bytes)
    }
}

/// Why an observer is told about the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A step began or ended: always worth showing.
    Step,
    /// Progress within a step, the message or a flag: may be throttled.
    Update,
    /// The operation ended (`outcome` is set).
    Finished,
}

/// Something that shows or stores the progress of an operation.
pub trait Observer {
    fn observe(&mut self, p: &Progress, change: Change);
}

/// Lets one observer through at most once per `every`, except for forced changes.
#[derive(Debug, Clone)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
}

impl Throttle {
    pub fn new(every: Duration) -> Throttle {
        Throttle { every, last: None }
    }

    /// Whether to pass an update at `now`; forced ones always pass and restart the wait.
    pub fn due(&mut self, now: Instant, forced: bool) -> bool {
        let due = forced
            || self
                .last
                .is_none_or(|l| now.saturating_duration_since(l) >= self.every);
        if due {
            self.last = Some(now);
        }
        due
    }
}

/// How often progress.json is rewritten within a step: each write is an fsync of the
/// file and its directory, and readers poll about this often anyway.
pub const FILE_EVERY: Duration = Duration::from_millis(500);

/// The progress.json observer.
pub struct ProgressFile {
    root: ApplianceRoot,
    throttle: Throttle,
    warned: bool,
}

impl ProgressFile {
    pub fn new(root: &ApplianceRoot) -> ProgressFile {
        ProgressFile {
            root: root.clone(),
            throttle: Throttle::new(FILE_EVERY),
            warned: false,
        }
    }
}

impl Observer for ProgressFile {
    fn observe(&mut self, p: &Progress, change: Change) {
        if !self.throttle.due(Instant::now(), change != Change::Update) {
            return;
        }
        let mut p = p.clone();
        if let Err(e) = p.save(&self.root) {
            // The work goes on without its display; say it once, not per update.
            if !self.warned || change == Change::Finished {
                log::warn!(
                    "cannot write \"{}\": {e}",
                    Progress::path(&self.root).display()
                );
                self.warned = true;
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Frame {
    name: String,
    /// Where this step starts and how much of the whole it spans.
    start: f64,
    span: f64,
    /// The sum of its children's weights, and how much of it is done.
    total: u64,
    used: u64,
    /// Its weight within its parent.
    weight: u64,
}

impl Frame {
    fn at(&self, used: u64) -> f64 {
        self.start + self.span * (used.min(self.total) as f64 / self.total.max(1) as f64)
    }
}

/// One operation's progress: named, weighted, nested steps, delivered to observers.
pub struct Reporter<'a> {
    record: Progress,
    frames: Vec<Frame>,
    observers: Vec<Box<dyn Observer + 'a>>,
}

impl<'a> Reporter<'a> {
    /// An operation whose top-level steps have weights summing to `total`.
    pub fn new(operation: Operation, total: u64) -> Reporter<'a> {
        Reporter {
            record: Progress::new(operation),
            frames: vec![Frame {
                name: String::new(),
                start: 0.0,
                span: 1.0,
                total,
                used: 0,
                weight: total,
            }],
            observers: Vec::new(),
        }
    }

    /// Adds an observer; it sees every later change.
    pub fn with(mut self, o: impl Observer + 'a) -> Reporter<'a> {
        self.observers.push(Box::new(o));
        self
    }

    pub fn add(&mut self, o: Box<dyn Observer + 'a>) {
        self.observers.push(o);
    }

    /// The record as observers last saw it.
    pub fn record(&self) -> &Progress {
        &self.record
    }

    pub fn fraction(&self) -> f64 {
        self.record.fraction
    }

    fn notify(&mut self, change: Change) {
        let depth = self.frames.len();
        if depth >= 2 {
            self.record.stage = self.frames[1].name.clone();
            self.record.step = if depth >= 3 {
                self.frames[depth - 1].name.clone()
            } else {
                String::new()
            };
        }
        // Every observer sees who reported and when, not only the file's writer.
        self.record.pid = std::process::id();
        self.record.updated = crate::appliance::console_log::now_rfc3339();
        for o in &mut self.observers {
            o.observe(&self.record, change);
        }
    }

    /// Moves forward to `f` of the whole; never back, never past 1.
    fn advance(&mut self, f: f64) {
        if f.is_finite() && f > self.record.fraction {
            self.record.fraction = f.min(1.0);
        }
    }

    /// Begins step `name` of `weight` within the current step; its own children's
    /// weights sum to `substeps` (1 when it has none).
    pub fn begin_step(&mut self, name: &str, weight: u64, substeps: u64) {
        let parent = self.frames.last().cloned().unwrap_or(Frame {
            name: String::new(),
            start: 0.0,
            span: 1.0,
            total: 1,
            used: 0,
            weight: 1,
        });
        let start = parent.at(parent.used);
        let end = parent.at(parent.used.saturating_add(weight));
        // The last step's line does not describe this one.
        self.record.message.clear();
        self.frames.push(Frame {
            name: name.to_string(),
            start,
            span: end - start,
            total: substeps.max(1),
            used: 0,
            weight,
        });
        self.advance(start);
        self.notify(Change::Step);
    }

    /// Ends the innermost step: its whole weight counts as done.
    pub fn end_step(&mut self) {
        if self.frames.len() < 2 {
            return;
        }
        if let Some(done) = self.frames.pop() {
            let end = done.start + done.span;
            if let Some(parent) = self.frames.last_mut() {
                parent.used = parent.used.saturating_add(done.weight);
            }
            self.advance(end);
        }
        self.notify(Change::Step);
    }

    /// Counts `weight` of the current step as done without running it (a resumed
    /// operation skips what it finished before).
    pub fn skip(&mut self, weight: u64) {
        let f = match self.frames.last_mut() {
            Some(fr) => {
                fr.used = fr.used.saturating_add(weight);
                fr.at(fr.used)
            }
            None => return,
        };
        self.advance(f);
        self.notify(Change::Update);
    }

    /// `f` (0..1) of the innermost step is done.
    pub fn set_fraction(&mut self, f: f64) {
        if let Some(fr) = self.frames.last() {
            let f = if f.is_finite() {
                f.clamp(0.0, 1.0)
            } else {
                0.0
            };
            let at = fr.start + fr.span * f;
            self.advance(at);
        }
        self.notify(Change::Update);
    }

    /// `f` of the innermost step is done, and says so in one line.
    pub fn update(&mut self, f: f64, message: &str) {
        self.record.message = message.to_string();
        self.set_fraction(f);
    }

    pub fn set_message(&mut self, message: &str) {
        self.record.message = message.to_string();
        self.notify(Change::Update);
    }

    /// Sets whether the old firmware can still boot and whether powering off is unsafe
    /// (shown at the next change).
    pub fn set_safety(&mut self, rollback_possible: bool, do_not_power_off: bool) {
        self.record.rollback_possible = rollback_possible;
        self.record.do_not_power_off = do_not_power_off;
    }

    /// Sets the outcome while the operation still runs: recovery is the state the
    /// appliance is in from its first step, and readers act on that at once.
    pub fn mark(&mut self, outcome: Outcome) {
        self.record.outcome = Some(outcome);
    }

    /// Ends the operation. `Done` completes the bar; other outcomes leave it where it
    /// stopped.
    pub fn finish(&mut self, outcome: Outcome, message: &str) {
        if outcome == Outcome::Done {
            self.advance(1.0);
        }
        self.record.message = message.to_string();
        self.record.outcome = Some(outcome);
        self.frames.truncate(2);
        self.notify(Change::Finished);
    }

    /// Ends the operation in a step of its own name (e.g. "rollback" or "recovery"),
    /// which is what readers show as its stage.
    pub fn finish_in(&mut self, stage: &str, outcome: Outcome, message: &str) {
        self.frames.truncate(1);
        self.record.stage = stage.to_string();
        self.record.step.clear();
        self.finish(outcome, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Records what it sees.
    #[derive(Clone, Default)]
    struct Seen(Rc<RefCell<Vec<(Progress, Change)>>>);
    impl Observer for Seen {
        fn observe(&mut self, p: &Progress, change: Change) {
            self.0.borrow_mut().push((p.clone(), change));
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn weighted_steps_share_the_whole() {
        let seen = Seen::default();
        let mut r = Reporter::new(Operation::Activate, 100).with(seen.clone());
        r.begin_step("write", 45, 1);
        r.set_fraction(0.5);
        assert!(close(r.fraction(), 0.225), "{}", r.fraction());
        r.end_step();
        assert!(close(r.fraction(), 0.45));
        r.begin_step("read-back", 45, 1);
        assert_eq!(r.record().stage, "read-back");
        r.end_step();
        r.begin_step("staging", 5, 1);
        r.end_step();
        assert!(close(r.fraction(), 0.95));
        r.begin_step("arming", 5, 1);
        r.finish(Outcome::Done, "armed");
        assert!(close(r.fraction(), 1.0));
        let seen = seen.0.borrow();
        let last = &seen.last().unwrap().0;
        assert_eq!(last.outcome, Some(Outcome::Done));
        assert_eq!(last.stage, "arming");
    }

    #[test]
    fn nested_steps_share_their_parents_span() {
        let mut r = Reporter::new(Operation::Boot, 10);
        r.begin_step("phase1", 8, 4);
        r.begin_step("a", 1, 1);
        assert_eq!(r.record().stage, "phase1");
        assert_eq!(r.record().step, "a");
        r.set_fraction(0.5);
        // phase1 spans 0.8; "a" is a quarter of it; half of "a" is 0.1.
        assert!(close(r.fraction(), 0.1), "{}", r.fraction());
        r.end_step();
        r.begin_step("b", 3, 1);
        r.set_fraction(1.0);
        assert!(close(r.fraction(), 0.8), "{}", r.fraction());
        r.end_step();
        r.end_step();
        assert_eq!(r.record().step, "");
        r.begin_step("health", 1, 1);
        r.end_step();
        assert!(close(r.fraction(), 0.9));
    }

    #[test]
    fn progress_never_goes_back_or_past_one() {
        let seen = Seen::default();
        let mut r = Reporter::new(Operation::Phase2, 2).with(seen.clone());
        r.begin_step("x", 1, 1);
        r.set_fraction(0.8);
        r.set_fraction(0.2);
        r.set_fraction(f64::NAN);
        r.set_fraction(7.0);
        r.end_step();
        // A step heavier than what is left cannot push past the end.
        r.begin_step("y", 5, 1);
        r.set_fraction(1.0);
        r.end_step();
        r.skip(9);
        let fr: Vec<f64> = seen.0.borrow().iter().map(|(p, _)| p.fraction).collect();
        assert!(fr.windows(2).all(|w| w[0] <= w[1]), "{fr:?}");
        assert!(fr.iter().all(|f| (0.0..=1.0).contains(f)), "{fr:?}");
        assert!(close(*fr.last().unwrap(), 1.0));
    }

    #[test]
    fn resumed_operation_skips_done_weight() {
        let mut r = Reporter::new(Operation::Boot, 4);
        r.skip(3);
        assert!(close(r.fraction(), 0.75));
        r.begin_step("last", 1, 1);
        r.set_fraction(0.5);
        assert!(close(r.fraction(), 0.875));
    }

    #[test]
    fn failure_leaves_the_bar_where_it_stopped() {
        let mut r = Reporter::new(Operation::Activate, 2);
        r.begin_step("write", 1, 1);
        r.set_fraction(0.5);
        r.finish(Outcome::Failed, "disk full");
        assert!(close(r.fraction(), 0.25));
        assert_eq!(r.record().outcome, Some(Outcome::Failed));
        assert_eq!(r.record().stage, "write");
        r.finish_in("rollback", Outcome::RolledBack, "back");
        assert_eq!(r.record().stage, "rollback");
    }

    #[test]
    fn throttle_passes_one_update_per_interval_and_every_forced_one() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_millis(500));
        let ms = |n| t0 + Duration::from_millis(n);
        assert!(t.due(ms(0), false));
        // A multi-GiB write reports every chunk: only one of these gets through.
        let passed = (1..500).filter(|n| t.due(ms(*n), false)).count();
        assert_eq!(passed, 0);
        assert!(t.due(ms(500), false));
        assert!(t.due(ms(501), true), "a step change always passes");
        assert!(!t.due(ms(900), false));
        assert!(t.due(ms(1001), false));
        // 10 s of updates every millisecond: about 20 writes, not 10 000.
        let mut t = Throttle::new(Duration::from_millis(500));
        let n = (0..10_000).filter(|n| t.due(ms(*n), false)).count();
        assert_eq!(n, 20);
    }

    #[test]
    fn the_file_observer_keeps_step_changes_and_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(dir.path());
        let mut r = Reporter::new(Operation::Activate, 2).with(ProgressFile::new(&root));
        r.begin_step("write", 1, 1);
        // Within a step the file is throttled (see the Throttle test, on a synthetic
        // clock); what must never be lost are step changes and the end.
        for k in 0..1000 {
            r.update(k as f64 / 1000.0, "writing");
        }
        assert_eq!(Progress::read(&root).present().unwrap().stage, "write");
        r.end_step();
        r.begin_step("read-back", 1, 1);
        assert_eq!(Progress::read(&root).present().unwrap().stage, "read-back");
        r.finish(Outcome::Done, "ok");
        let p = Progress::read(&root).present().unwrap();
        assert_eq!(p.outcome, Some(Outcome::Done));
        assert_eq!(p.fraction, 1.0);
        assert_eq!(p.operation, Operation::Activate);
    }

    #[test]
    fn reader_says_missing_or_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(dir.path());
        assert_eq!(Progress::read(&root), ProgressRead::Missing);
        let path = Progress::path(&root);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut good = Progress::new(Operation::Boot);
        good.save(&root).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for (what, bytes) in [
            ("empty", b"".to_vec()),
            ("blank", b"  \n".to_vec()),
            ("truncated", text.as_bytes()[..text.len() / 2].to_vec()),
            ("garbage", b"\x00\xff not json".to_vec()),
            ("wrong type", b"[1,2,3]".to_vec()),
            (
                "unknown operation",
                text.replace("\"boot\"", "\"dance\"").into_bytes(),
            ),
            (
                "unknown outcome",
                text.replace("\"outcome\":null", "\"outcome\":\"maybe\"")
                    .into_bytes(),
            ),
            (
                "fraction out of range",
                text.replace("\"fraction\":0.0", "\"fraction\":3.5")
                    .into_bytes(),
            ),
        ] {
            std::fs::write(&path, &bytes).unwrap();
            match Progress::read(&root) {
                ProgressRead::Damaged(why) => {
                    assert!(why.contains("progress.json"), "{what}: {why}");
                    assert!(why.contains("rewritten by"), "{what}: {why}");
                }
                other => panic!("{what}: read as {other:?}"),
            }
        }
        std::fs::write(&path, text).unwrap();
        assert_eq!(Progress::read(&root).present(), Some(good));
    }

    #[test]
    fn json_spelling_is_what_users_see_today() {
        let mut p = Progress::new(Operation::Phase2);
        p.outcome = Some(Outcome::RolledBack);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["operation"], "phase2");
        assert_eq!(v["outcome"], "rolled-back");
        for (o, s) in [
            (Operation::Activate, "activate"),
            (Operation::Boot, "boot"),
            (Operation::Phase2, "phase2"),
            (Operation::Recover, "recover"),
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), s);
            assert_eq!(o.to_string(), s);
        }
        for (o, s) in [
            (Outcome::Done, "done"),
            (Outcome::Failed, "failed"),
            (Outcome::RolledBack, "rolled-back"),
            (Outcome::Recovery, "recovery"),
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), s);
            assert_eq!(o.to_string(), s);
        }
    }
}
