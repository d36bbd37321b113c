//! What the log server knows between requests: the secrets (or why they cannot be
//! known, in which case nothing that could hold one is served), and the live feed for
//! SSE viewers, capped in bytes, kept by one tailer thread that follows the console
//! log, progress.json and appliance.toml.

use super::lines::{LineReader, scrub_line};
use super::{Limits, Shared};
use crate::appliance::root::ApplianceRoot;
use crate::support::secrets::Secrets;
use crate::upgrade::progress::Progress;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// How often the tailer looks at the log.
const POLL: Duration = Duration::from_millis(10);
/// How often progress.json and appliance.toml are looked at.
const STAT_EVERY: Duration = Duration::from_millis(100);
/// While the secrets are unknown, loading is retried this often even without a change.
const RETRY_FAILED: Duration = Duration::from_secs(1);
/// Memory a line costs in the feed beyond its text (counted against the cap).
const LINE_OVERHEAD: usize = 64;

/// The secrets the server scrubs with, or why it cannot (then it serves nothing that
/// could hold one).
pub(super) type SecretsState = Result<Arc<Secrets>, Arc<str>>;

/// One line of the feed: where it lies in the file and its scrubbed text.
pub(super) struct Line {
    pub start: u64,
    pub end: u64,
    pub text: Arc<str>,
}

#[derive(Default)]
pub(super) struct Feed {
    pub lines: VecDeque<Line>,
    /// Bytes the lines cost, kept under `Limits::feed_bytes`.
    pub bytes: usize,
    /// Offset just past the last line given out.
    pub end: u64,
    /// Bumped when the log was truncated or replaced or the secrets changed: viewers
    /// start over.
    pub epoch: u64,
    /// The status as scrubbed JSON (None while the secrets are unknown), and a counter
    /// bumped when it changes.
    pub status: Option<Arc<str>>,
    pub status_gen: u64,
}

impl Feed {
    fn push(&mut self, line: Line, cap: usize) {
        self.end = line.end;
        self.bytes += line.text.len() + LINE_OVERHEAD;
        self.lines.push_back(line);
        while self.bytes > cap {
            let Some(l) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= l.text.len() + LINE_OVERHEAD;
        }
    }

    fn clear(&mut self, end: u64) {
        self.lines.clear();
        self.bytes = 0;
        self.end = end;
        self.epoch += 1;
    }

    /// Where the oldest line kept starts (the feed's end when it is empty).
    pub fn first_start(&self) -> u64 {
        self.lines.front().map_or(self.end, |l| l.start)
    }
}

/// Loads the secrets; a failure or a panic inside the loader both mean "unknown".
pub(super) fn load_secrets(root: &ApplianceRoot) -> Result<Secrets, String> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| Secrets::load(root))) {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(e.to_string()),
        // The panic's own text is not repeated: it could quote the configuration.
        Err(_) => Err(format!(
            "reading the secrets in \"{}\" failed (the file does not parse safely); fix \
             its syntax (compare with the documented format or restore a backup)",
            root.config_file().display()
        )),
    }
}

/// What identifies a version of a file: a change of content, permissions or inode
/// changes one of these.
type Stamp = (Option<SystemTime>, i64, i64, u64, u64, u32);

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.modified().ok(),
        m.ctime(),
        m.ctime_nsec(),
        m.len(),
        m.ino(),
        m.mode(),
    ))
}

/// Follows the log file, the progress file and the configuration.
pub(super) struct Tailer {
    file: Option<(std::fs::File, u64)>,
    reader: LineReader,
    /// The secrets the feed was scrubbed with (None: unknown, the feed is empty).
    secrets: Option<Arc<Secrets>>,
    config_stamp: Option<Option<Stamp>>,
    progress_stamp: Option<Option<Stamp>>,
    last_stat: Option<Instant>,
    last_load: Option<Instant>,
    failed_logged: bool,
}

impl Default for Tailer {
    fn default() -> Self {
        Tailer {
            file: None,
            reader: LineReader::new(0, false),
            secrets: None,
            config_stamp: None,
            progress_stamp: None,
            last_stat: None,
            last_load: None,
            failed_logged: false,
        }
    }
}

/// Marks the tailer gone when its thread ends for any reason, so the server stops
/// serving rather than serve a feed nobody keeps.
struct AliveGuard<'a>(&'a Shared);

impl Drop for AliveGuard<'_> {
    fn drop(&mut self) {
        self.0.tailer_alive.store(false, Ordering::SeqCst);
        self.0.wake.notify_all();
    }
}

impl Tailer {
    pub(super) fn run(mut self, shared: &Shared) {
        let _alive = AliveGuard(shared);
        while !shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(POLL);
            let stepped = std::panic::catch_unwind(AssertUnwindSafe(|| self.step(shared)));
            if stepped.is_err() {
                // Unknown state: stop serving until a fresh start succeeds.
                log::error!("boot log server: the log follower failed; starting it over");
                shared.set_secrets(Err(
                    "the boot log server's log follower failed and is starting over; \
                     try again in a few seconds"
                        .into(),
                ));
                self = Tailer::default();
                std::thread::sleep(RETRY_FAILED);
            }
        }
    }

    pub(super) fn step(&mut self, shared: &Shared) {
        let now = Instant::now();
        if self
            .last_stat
            .is_none_or(|t| now.duration_since(t) >= STAT_EVERY)
        {
            self.last_stat = Some(now);
            self.refresh_secrets(shared, now);
            self.refresh_status(shared);
        }
        self.read_log(shared);
    }

    /// Reloads the secrets when appliance.toml changes (and retries while they are
    /// unknown). New secrets restart the feed: lines kept were scrubbed with the old.
    fn refresh_secrets(&mut self, shared: &Shared, now: Instant) {
        let st = stamp(&shared.root.config_file());
        let changed = self.config_stamp != Some(st);
        let retry = self.secrets.is_none()
            && self
                .last_load
                .is_none_or(|t| now.duration_since(t) >= RETRY_FAILED);
        if !changed && !retry {
            return;
        }
        self.config_stamp = Some(st);
        self.last_load = Some(now);
        match load_secrets(&shared.root) {
            Ok(s) => {
                if self.failed_logged {
                    log::info!("boot log server: the secrets are known again; serving");
                    self.failed_logged = false;
                }
                let s = Arc::new(s);
                self.secrets = Some(s.clone());
                shared.set_secrets(Ok(s));
                // Re-read the tail with the new secrets.
                self.file = None;
                self.progress_stamp = None;
            }
            Err(e) => {
                if !self.failed_logged {
                    log::error!("boot log server: serving nothing that could hold a secret: {e}");
                    self.failed_logged = true;
                }
                self.secrets = None;
                self.file = None;
                self.progress_stamp = None;
                shared.set_secrets(Err(e.into()));
                if let Ok(mut f) = shared.feed.lock() {
                    f.clear(0);
                    f.status = None;
                    f.status_gen += 1;
                }
                shared.wake.notify_all();
            }
        }
    }

    fn refresh_status(&mut self, shared: &Shared) {
        let Some(secrets) = self.secrets.clone() else {
            return;
        };
        let st = stamp(&Progress::path(&shared.root));
        if self.progress_stamp == Some(st) {
            return;
        }
        self.progress_stamp = Some(st);
        let json: Arc<str> = secrets.scrub_str(&status_json(&shared.root)).into();
        if let Ok(mut f) = shared.feed.lock()
            && f.status.as_deref() != Some(&*json)
        {
            f.status = Some(json);
            f.status_gen += 1;
            drop(f);
            shared.wake.notify_all();
        }
    }

    fn read_log(&mut self, shared: &Shared) {
        use std::os::unix::fs::MetadataExt;
        let Some(secrets) = self.secrets.clone() else {
            return;
        };
        let limits: &Limits = &shared.limits;
        let cap = limits.feed_bytes;
        let path = shared.root.log_file();
        let Ok(meta) = std::fs::metadata(&path) else {
            return;
        };
        let len = meta.len();
        let same_file = self
            .file
            .as_ref()
            .is_some_and(|(_, ino)| *ino == meta.ino());
        if !same_file || len < self.reader.read_to() {
            // New, replaced or truncated: start over from the tail of what is there.
            let Ok(f) = std::fs::File::open(&path) else {
                return;
            };
            let start = len.saturating_sub(cap as u64);
            self.file = Some((f, meta.ino()));
            self.reader = LineReader::new(start, start > 0);
            if let Ok(mut feed) = shared.feed.lock() {
                feed.clear(start);
            }
            shared.wake.notify_all();
        }
        let Some((file, _)) = self.file.as_mut() else {
            return;
        };
        let behind = len.saturating_sub(self.reader.read_to());
        let mut skipped = None;
        if behind > 2 * cap as u64 {
            // A burst larger than any viewer could catch up with: jump to its tail
            // and say so, rather than scrub megabytes nobody will see.
            let from = self.reader.line_start();
            let start = len - cap as u64;
            self.reader = LineReader::new(start, true);
            skipped = Some(Line {
                start: from,
                end: start,
                text: format!("[… {} bytes of the log skipped …]", start - from).into(),
            });
        }
        use std::io::{Seek, SeekFrom};
        if file.seek(SeekFrom::Start(self.reader.read_to())).is_err() {
            return;
        }
        let mut batch: Vec<Line> = skipped.into_iter().collect();
        loop {
            let next = self.reader.next(file, len);
            let done = !matches!(next, Ok(Some(_)));
            if let Ok(Some(span)) = next {
                let text = scrub_line(&secrets, self.reader.line(), span.cut);
                batch.push(Line {
                    start: span.start,
                    end: span.end,
                    text: text.into(),
                });
            }
            if (done || batch.len() >= 256) && !batch.is_empty() {
                let Ok(mut feed) = shared.feed.lock() else {
                    return;
                };
                for l in batch.drain(..) {
                    feed.push(l, cap);
                }
                drop(feed);
                shared.wake.notify_all();
            }
            if done {
                break;
            }
        }
        // A reader stuck in a line with no break still moves the feed's end, so a
        // page served now and the feed agree on where the log stands.
        if self.reader.skipping()
            && let Ok(mut feed) = shared.feed.lock()
            && feed.end < self.reader.line_start()
        {
            feed.end = self.reader.line_start();
        }
    }
}

/// progress.json as the JSON /status.json serves (not yet scrubbed).
pub(super) fn status_json(root: &ApplianceRoot) -> String {
    let recovery = crate::state::recovery::active(root);
    let read = Progress::read(root);
    let v = match read.as_present() {
        Some(p) => serde_json::json!({
            "operation": p.operation,
            "stage": p.stage,
            "step": p.step,
            "fraction": p.fraction,
            "rollback_possible": p.rollback_possible,
            "do_not_power_off": p.do_not_power_off,
            "message": p.message,
            "outcome": p.outcome,
            "updated": p.updated,
            "recovery": recovery,
        }),
        None => serde_json::json!({
            "operation": null,
            "stage": null,
            "fraction": null,
            "rollback_possible": null,
            "do_not_power_off": false,
            "message": read.damaged().unwrap_or("no operation has run"),
            "outcome": null,
            "recovery": recovery,
            "damaged": read.damaged().is_some(),
        }),
    };
    serde_json::to_string(&v).unwrap_or_else(|_| "{}".into())
}
