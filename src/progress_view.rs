//! The command line's view of an operation's progress (an observer of the core's
//! progress reporter): on a terminal a bar with the step name; otherwise plain lines,
//! one when the step changes and at most one every few seconds between, so the logs
//! of unattended runs stay small. With `--json` the lines are progress records, one
//! JSON object a line (SPEC §1). Drawn on stderr, so stdout keeps only the result
//! (and `--json` stays parseable); a closed or broken stderr never stops the work.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};
use upgrade_core::upgrade::progress::{Change, Observer, Outcome, Progress, Throttle};

/// How often a plain line is printed within a step, unless the environment variable
/// below says otherwise (in seconds, fractions allowed; 0 prints every update).
pub const LINE_EVERY: Duration = Duration::from_secs(5);
pub const LINE_EVERY_VAR: &str = "UPGRADE_CONSOLE_PROGRESS_EVERY";

/// The bar's resolution: fraction is drawn in tenths of a percent.
const TICKS: u64 = 1000;

pub enum CliProgress {
    Bar(ProgressBar),
    Lines(Lines),
}

pub struct Lines {
    out: Box<dyn Write + Send>,
    throttle: Throttle,
    label: Option<(String, String)>,
    /// Each line is the progress record as JSON rather than text.
    json: bool,
    /// Once writing failed (a closed pipe), nothing more is written.
    broken: bool,
}

impl CliProgress {
    /// The view that fits stderr: JSON lines with `--json`, a bar on a terminal, text
    /// lines otherwise.
    pub fn for_stderr(ascii: bool, json: bool) -> CliProgress {
        if json {
            let mut v = CliProgress::lines(Box::new(std::io::stderr()), line_every());
            if let CliProgress::Lines(l) = &mut v {
                l.json = true;
            }
            v
        } else if std::io::stderr().is_terminal() {
            CliProgress::bar(ascii)
        } else {
            CliProgress::lines(Box::new(std::io::stderr()), line_every())
        }
    }

    /// The view for stderr when the console log is echoed there too: lines (or JSON
    /// lines), never a bar, which log lines written under it would tear.
    pub fn beside_log(ascii: bool, json: bool, log_echoed: bool) -> CliProgress {
        if log_echoed && !json {
            CliProgress::lines(Box::new(std::io::stderr()), line_every())
        } else {
            CliProgress::for_stderr(ascii, json)
        }
    }

    fn bar(ascii: bool) -> CliProgress {
        let bar = ProgressBar::with_draw_target(Some(TICKS), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars(if ascii {
                "#>-"
            } else {
                "█▉▊▋▌▍▎▏ "
            });
        bar.set_style(style);
        CliProgress::Bar(bar)
    }

    /// Plain lines to `out`, one per `every` within a step.
    pub fn lines(out: Box<dyn Write + Send>, every: Duration) -> CliProgress {
        CliProgress::Lines(Lines {
            out,
            throttle: Throttle::new(every),
            label: None,
            json: false,
            broken: false,
        })
    }
}

/// The line interval: `UPGRADE_CONSOLE_PROGRESS_EVERY` seconds when set and valid.
pub fn line_every() -> Duration {
    std::env::var(LINE_EVERY_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(LINE_EVERY, Duration::from_secs_f64)
}

fn step_label(p: &Progress) -> String {
    match (p.stage.as_str(), p.step.as_str()) {
        (stage, "") => stage.to_string(),
        (stage, step) => format!("{stage}: {step}"),
    }
}

/// One plain line: `activate: 42% write - slot B: written 1 of 2 bytes`.
pub fn line(p: &Progress) -> String {
    let head = match p.outcome {
        Some(o) => format!("{}: {o} at {}", p.operation, step_label(p)),
        None => format!(
            "{}: {:>3.0}% {}",
            p.operation,
            (p.fraction * 100.0).floor(),
            step_label(p)
        ),
    };
    if p.message.is_empty() {
        head
    } else {
        format!("{head} - {}", p.message)
    }
}

impl Observer for CliProgress {
    fn observe(&mut self, p: &Progress, change: Change) {
        match self {
            CliProgress::Bar(bar) => {
                bar.set_prefix(format!("{} {}", p.operation, step_label(p)));
                bar.set_message(p.message.clone());
                bar.set_position((p.fraction * TICKS as f64) as u64);
                if let Some(outcome) = p.outcome {
                    if outcome == Outcome::Done {
                        bar.finish();
                    } else {
                        bar.abandon();
                    }
                    // The bar stays on screen; what is printed next starts below it.
                    let _ = writeln!(std::io::stderr());
                }
            }
            CliProgress::Lines(l) => l.observe(p, change),
        }
    }
}

impl Lines {
    fn observe(&mut self, p: &Progress, change: Change) {
        if self.broken {
            return;
        }
        let label = (p.stage.clone(), p.step.clone());
        // A step change prints only when the name shown changes (an ended step and
        // the next one's start are one line).
        let new_step = self.label.as_ref() != Some(&label);
        let forced = change == Change::Finished || (change == Change::Step && new_step);
        if change == Change::Step && !new_step {
            return;
        }
        if !self.throttle.due(Instant::now(), forced) {
            return;
        }
        self.label = Some(label);
        let text = if self.json {
            serde_json::to_string(p).unwrap_or_default()
        } else {
            line(p)
        };
        if writeln!(self.out, "{text}")
            .and_then(|_| self.out.flush())
            .is_err()
        {
            self.broken = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use upgrade_core::upgrade::progress::{Operation, Reporter};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn lines_one_per_step_and_none_between_within_the_interval() {
        let buf = Buf::default();
        let mut r = Reporter::new(Operation::Activate, 2).with(CliProgress::lines(
            Box::new(buf.clone()),
            Duration::from_secs(3600),
        ));
        r.begin_step("write", 1, 1);
        for k in 0..10_000 {
            r.update(k as f64 / 10_000.0, "writing");
        }
        r.end_step();
        r.begin_step("read-back", 1, 1);
        r.update(0.5, "reading");
        r.end_step();
        r.finish(Outcome::Done, "armed");
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "activate:   0% write",
                "activate:  50% read-back",
                "activate: done at read-back - armed"
            ],
            "{text}"
        );
    }

    #[test]
    fn a_closed_pipe_stops_the_lines_not_the_work() {
        let mut r = Reporter::new(Operation::Activate, 1)
            .with(CliProgress::lines(Box::new(Closed), Duration::ZERO));
        r.begin_step("write", 1, 1);
        r.update(0.5, "x");
        r.finish(Outcome::Failed, "y");
        assert_eq!(r.record().outcome, Some(Outcome::Failed));
    }
}
