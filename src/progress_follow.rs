//! Shows the progress of an operation that reports only through progress.json (the
//! boot phase, a simulated reboot's boots, entering recovery) on the command line:
//! a thread re-reads the file and hands each new record of this process to a view
//! made by `progress_view`. Reading the shared file, not hooking the core, keeps the
//! boot code free of any knowledge of who watches it.

use crate::progress_view::CliProgress;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::upgrade::progress::{Change, Observer, Progress};

/// How often progress.json is re-read.
const POLL: Duration = Duration::from_millis(100);

/// A running follower; [`Follower::finish`] shows the last record and stops it.
pub struct Follower {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Follows progress.json under `root`, showing records written by this process. Each
/// operation (a simulated reboot runs several boots) gets a view of its own from
/// `view`.
pub fn follow(root: &ApplianceRoot, view: impl Fn() -> CliProgress + Send + 'static) -> Follower {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let root = root.clone();
    let thread = std::thread::Builder::new()
        .name("progress-follow".into())
        .spawn(move || {
            let mut state = Shown::default();
            loop {
                // Read after the flag: the record written last before `finish` is shown.
                let last_round = flag.load(Ordering::SeqCst);
                if let Some(p) = Progress::read(&root).present() {
                    state.show(p, &view);
                }
                if last_round {
                    break;
                }
                std::thread::sleep(POLL);
            }
        })
        .ok();
    Follower { stop, thread }
}

impl Follower {
    /// Shows the final record and stops following.
    pub fn finish(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// What the follower showed last, and the view of the operation being shown.
#[derive(Default)]
struct Shown {
    last: Option<Progress>,
    view: Option<CliProgress>,
}

impl Shown {
    fn show(&mut self, p: Progress, view: &impl Fn() -> CliProgress) {
        if p.pid != std::process::id() || self.last.as_ref() == Some(&p) {
            return;
        }
        let change = match &self.last {
            // A new operation (or the first seen): a fresh view.
            Some(l) if same_operation(l, &p) => {
                if p.outcome.is_some() {
                    Change::Finished
                } else if (l.stage.as_str(), l.step.as_str()) != (p.stage.as_str(), p.step.as_str())
                {
                    Change::Step
                } else {
                    Change::Update
                }
            }
            _ => {
                self.view = Some(view());
                if p.outcome.is_some() {
                    Change::Finished
                } else {
                    Change::Step
                }
            }
        };
        if let Some(v) = self.view.as_mut() {
            v.observe(&p, change);
        }
        self.last = Some(p);
    }
}

/// Whether `next` continues the operation `last` showed (a finished one never does).
fn same_operation(last: &Progress, next: &Progress) -> bool {
    last.outcome.is_none() && last.operation == next.operation
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use upgrade_core::upgrade::progress::{Operation, Outcome};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(b);
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn record(op: Operation, stage: &str, fraction: f64, outcome: Option<Outcome>) -> Progress {
        let mut p = Progress::new(op);
        p.stage = stage.into();
        p.fraction = fraction;
        p.outcome = outcome;
        p.pid = std::process::id();
        p
    }

    #[test]
    fn each_operation_gets_its_own_lines_and_other_processes_are_ignored() {
        let buf = Buf::default();
        let b = buf.clone();
        let make = move || CliProgress::lines(Box::new(b.clone()), Duration::ZERO);
        let mut s = Shown::default();
        let mut foreign = record(Operation::Activate, "write", 0.5, None);
        foreign.pid = std::process::id().wrapping_add(1);
        s.show(foreign, &make);
        s.show(record(Operation::Boot, "phase1", 0.2, None), &make);
        s.show(record(Operation::Boot, "phase1", 0.2, None), &make);
        s.show(record(Operation::Boot, "commit", 0.9, None), &make);
        s.show(
            record(Operation::Boot, "commit", 1.0, Some(Outcome::Done)),
            &make,
        );
        s.show(
            record(Operation::Boot, "verify", 1.0, Some(Outcome::Done)),
            &make,
        );
        let text = String::from_utf8(buf.0.lock().map(|v| v.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert!(!text.contains("activate"), "{text}");
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("boot:  20% phase1"), "{text}");
        assert!(lines[2].contains("done at commit"), "{text}");
        assert!(lines[3].contains("done at verify"), "{text}");
    }
}
