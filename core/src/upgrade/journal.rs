//! The upgrade journal, `var/lib/upgrade-console/journal.log`: every state change of an
//! upgrade as one checksummed record, so that after a power cut at any instant the
//! console knows where it was. Replaying the records gives [`UpgradeState`].
//!
//! Format: one record a line, `SEQ SUM JSON`, where SEQ counts up by one, SUM is the
//! first 16 hex digits of the SHA-256 of `SEQ JSON`, and JSON is a [`Record`].
//!
//! Appending is real appending, so that processes recording at the same time (verify,
//! check, activate, the console) never lose each other's records: under an exclusive
//! advisory lock (flock) on the journal, the file is read again from disk, the next
//! sequence number taken from its last record, and the record added with one write
//! to a file opened O_APPEND, then fdatasync. A damaged last line (torn by a power
//! cut, edited) is reported and ignored, and cut off by the next append; a damaged
//! record followed by good ones makes the journal untrustworthy: an error, never a
//! guess. When the journal grows past twice [`KEEP_RECORDS`], the appender holding
//! the lock replaces it with its newest records (atomically); appenders waiting for
//! the lock notice the replaced file and lock the new one.
//!
//! Facts recorded by other commands: `verify` calls [`record_verified`] and `check`
//! calls [`record_check_passed`]; `activate` refuses an image without both.

use crate::appliance::durable::write_atomic;
use crate::appliance::root::ApplianceRoot;
use crate::image::manifest::Manifest;
use crate::image::version::Version;
use crate::slots::slot_status::SlotName;
use crate::upgrade::killpoint;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

/// Records kept when the journal is compacted (older upgrades are history only).
pub const KEEP_RECORDS: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot read the upgrade journal \"{path}\": {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the upgrade journal \"{path}\" is damaged at line {line} ({problem}) and later records follow it; the upgrade state cannot be trusted: create a support bundle and contact support"
    )]
    Corrupt {
        path: String,
        line: usize,
        problem: String,
    },
    #[error(
        "cannot write the upgrade journal \"{path}\": {source}; check free space on the state partition"
    )]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the upgrade journal \"{path}\" has reached record number {seq}, the largest there is; the upgrade state cannot be trusted: create a support bundle and contact support"
    )]
    SequenceExhausted { path: String, seq: u64 },
}

/// The upgrade being carried out: which slot gets which firmware, and which slot it
/// replaces as the running one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The slot being written / trial-booted.
    pub slot: SlotName,
    /// The slot the appliance ran from when the upgrade began (the fallback).
    pub from: SlotName,
    pub version: Version,
    #[serde(default)]
    pub from_version: Option<Version>,
    /// Payload SHA-256 (names the staged directory).
    pub sha256: String,
}

/// Which file an image was when it was verified: if the same file is activated
/// unchanged (same device, inode, size, modification and change times), activate
/// does not need to hash the whole image again; otherwise it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl FileId {
    pub fn of(path: &std::path::Path) -> std::io::Result<FileId> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(FileId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// `verify` found the image matches its published hash and its payload hash.
    Verified {
        iso_sha256: String,
        payload_sha256: String,
        version: Version,
        #[serde(default)]
        file: Option<FileId>,
    },
    /// `check` (the upgrade test) found no blocker for this image.
    CheckPassed {
        #[serde(default)]
        iso_sha256: Option<String>,
        payload_sha256: String,
        version: Version,
        #[serde(default)]
        file: Option<FileId>,
    },
    /// Writing the slot begins (the slot is disarmed first).
    ActivateStarted {
        target: Target,
    },
    /// Written, read back with the page cache bypassed, hash matches.
    SlotWritten {
        slot: SlotName,
        sha256: String,
    },
    /// Armed: the slot boots once at the next reboot.
    Activated {
        target: Target,
    },
    /// Activation stopped; the slot is not armed.
    ActivationFailed {
        slot: SlotName,
        reason: String,
    },
    /// The trial boot of the new slot began (boot phase).
    TrialBoot {
        slot: SlotName,
    },
    /// A phase-1 step began.
    StepStarted {
        index: usize,
        name: String,
        irreversible: bool,
    },
    StepDone {
        index: usize,
    },
    /// The first irreversible step is about to start: no rollback from here on.
    PointOfNoReturn {
        index: usize,
        name: String,
    },
    /// The new slot is good; the old one stays as the fallback.
    Committed {
        slot: SlotName,
        version: Version,
        sha256: String,
        /// The version floor this commit raised (see `upgrade::floor`): recorded with
        /// the commit itself so a power cut right after it cannot lose the floor.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        floor: Option<Version>,
    },
    /// The new slot failed and the old one boots again.
    RolledBack {
        slot: SlotName,
        to: SlotName,
        reason: String,
    },
    /// Neither the new slot works nor can the old one be booted safely.
    RecoveryRequired {
        reason: String,
    },
    /// The HA pair's upgrade began on this node, the primary (`ha::procedure`).
    HaStarted {
        version: Version,
        iso_sha256: String,
        payload_sha256: String,
        iso: String,
        peer: String,
    },
    /// A step of the HA upgrade is done.
    HaStepDone {
        step: crate::ha::procedure::HaStep,
    },
    /// A step of the HA upgrade stopped, changing nothing more; it is retried on resume.
    HaStopped {
        step: crate::ha::procedure::HaStep,
        reason: String,
    },
    /// The HA upgrade was closed without finishing (given up, or the pair restored).
    HaAbandoned {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub time: String,
    #[serde(flatten)]
    pub event: Event,
}

/// Where the upgrade is, from the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum UpgradeState {
    Idle,
    /// Writing the slot; interrupted if no process is doing it.
    Activating {
        target: Target,
        written: bool,
    },
    /// Armed for a trial boot at the next reboot.
    Activated {
        target: Target,
    },
    /// The trial boot began; `steps_done` phase-1 steps are finished.
    Trial {
        target: Target,
        steps_done: usize,
        running: Option<usize>,
    },
    /// An irreversible step has started: the old firmware can no longer be used.
    PointOfNoReturn {
        target: Target,
        steps_done: usize,
        running: Option<usize>,
    },
    Committed {
        slot: SlotName,
        version: Version,
        sha256: String,
    },
    RolledBack {
        slot: SlotName,
        to: SlotName,
        version: Option<Version>,
        reason: String,
    },
    ActivationFailed {
        slot: SlotName,
        reason: String,
    },
    RecoveryRequired {
        reason: String,
        target: Option<Target>,
    },
}

impl UpgradeState {
    /// Whether the firmware the appliance ran before the upgrade can still be booted.
    pub fn rollback_possible(&self) -> bool {
        !matches!(
            self,
            UpgradeState::PointOfNoReturn { .. }
                | UpgradeState::RecoveryRequired { .. }
                | UpgradeState::Committed { .. }
        )
    }

    pub fn target(&self) -> Option<&Target> {
        match self {
            UpgradeState::Activating { target, .. }
            | UpgradeState::Activated { target }
            | UpgradeState::Trial { target, .. }
            | UpgradeState::PointOfNoReturn { target, .. } => Some(target),
            UpgradeState::RecoveryRequired { target, .. } => target.as_ref(),
            _ => None,
        }
    }

    /// One line for the operator.
    pub fn describe(&self) -> String {
        match self {
            UpgradeState::Idle => "no upgrade in progress".into(),
            UpgradeState::Activating { target, .. } => format!(
                "writing firmware {} to slot {} (interrupted if no activate is running)",
                target.version, target.slot
            ),
            UpgradeState::Activated { target } => format!(
                "firmware {} is in slot {} and boots once after the next reboot",
                target.version, target.slot
            ),
            UpgradeState::Trial {
                target, steps_done, ..
            } => format!(
                "trial boot of firmware {} on slot {}: {} phase-1 step(s) done; rollback possible",
                target.version, target.slot, steps_done
            ),
            UpgradeState::PointOfNoReturn {
                target, steps_done, ..
            } => format!(
                "firmware {} on slot {}: irreversible migration under way ({} step(s) done); rollback no longer possible",
                target.version, target.slot, steps_done
            ),
            UpgradeState::Committed { slot, version, .. } => {
                format!("firmware {version} on slot {slot} is committed")
            }
            UpgradeState::RolledBack {
                slot,
                to,
                version,
                reason,
            } => format!(
                "the upgrade{} was rolled back to slot {to} (slot {slot} failed: {reason})",
                version
                    .as_ref()
                    .map(|v| format!(" to {v}"))
                    .unwrap_or_default()
            ),
            UpgradeState::ActivationFailed { slot, reason } => {
                format!("activation of slot {slot} stopped: {reason}")
            }
            UpgradeState::RecoveryRequired { reason, .. } => {
                format!("recovery required: {reason}")
            }
        }
    }

    fn apply(self, ev: &Event) -> UpgradeState {
        use UpgradeState as S;
        match (self, ev) {
            // Facts about images and the HA procedure's own steps do not move the
            // node's upgrade (its activation and boot record their own events).
            (
                s,
                Event::Verified { .. }
                | Event::CheckPassed { .. }
                | Event::HaStarted { .. }
                | Event::HaStepDone { .. }
                | Event::HaStopped { .. }
                | Event::HaAbandoned { .. },
            ) => s,
            (_, Event::ActivateStarted { target }) => S::Activating {
                target: target.clone(),
                written: false,
            },
            (S::Activating { target, .. }, Event::SlotWritten { slot, .. })
                if *slot == target.slot =>
            {
                S::Activating {
                    target,
                    written: true,
                }
            }
            (_, Event::Activated { target }) => S::Activated {
                target: target.clone(),
            },
            (_, Event::ActivationFailed { slot, reason }) => S::ActivationFailed {
                slot: *slot,
                reason: reason.clone(),
            },
            (S::Activated { target }, Event::TrialBoot { slot }) if *slot == target.slot => {
                S::Trial {
                    target,
                    steps_done: 0,
                    running: None,
                }
            }
            (
                S::Trial {
                    target, steps_done, ..
                },
                Event::StepStarted { index, .. },
            ) => S::Trial {
                target,
                steps_done,
                running: Some(*index),
            },
            (
                S::PointOfNoReturn {
                    target, steps_done, ..
                },
                Event::StepStarted { index, .. },
            ) => S::PointOfNoReturn {
                target,
                steps_done,
                running: Some(*index),
            },
            (
                S::Trial {
                    target, steps_done, ..
                },
                Event::StepDone { index },
            ) if *index < usize::MAX => S::Trial {
                target,
                steps_done: steps_done.max(index + 1),
                running: None,
            },
            (
                S::PointOfNoReturn {
                    target, steps_done, ..
                },
                Event::StepDone { index },
            ) if *index < usize::MAX => S::PointOfNoReturn {
                target,
                steps_done: steps_done.max(index + 1),
                running: None,
            },
            (
                S::Trial {
                    target, steps_done, ..
                }
                | S::PointOfNoReturn {
                    target, steps_done, ..
                },
                Event::PointOfNoReturn { .. },
            ) => S::PointOfNoReturn {
                target,
                steps_done,
                running: None,
            },
            (
                _,
                Event::Committed {
                    slot,
                    version,
                    sha256,
                    ..
                },
            ) => S::Committed {
                slot: *slot,
                version: *version,
                sha256: sha256.clone(),
            },
            (s, Event::RolledBack { slot, to, reason }) => S::RolledBack {
                slot: *slot,
                to: *to,
                version: s.target().map(|t| t.version),
                reason: reason.clone(),
            },
            (s, Event::RecoveryRequired { reason }) => S::RecoveryRequired {
                reason: reason.clone(),
                target: s.target().cloned(),
            },
            // An event that does not fit the state (e.g. a step record with no trial
            // boot) means the journal does not describe one consistent upgrade.
            (s, ev) => S::RecoveryRequired {
                reason: format!(
                    "the upgrade journal records \"{}\" in state \"{}\"",
                    event_name(ev),
                    s.describe()
                ),
                target: s.target().cloned(),
            },
        }
    }
}

fn event_name(ev: &Event) -> String {
    serde_json::to_value(ev)
        .ok()
        .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(String::from))
        .unwrap_or_default()
}

fn checksum(seq: u64, json: &str) -> String {
    let mut h = Sha256::new();
    h.update(seq.to_string().as_bytes());
    h.update(b" ");
    h.update(json.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// The journal as read from disk.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    records: Vec<(u64, Record)>,
    /// A damaged last line was found and ignored.
    pub torn_tail: Option<String>,
    /// Bytes of the file up to the end of the last good record.
    good_len: u64,
}

impl Journal {
    pub fn path(root: &ApplianceRoot) -> PathBuf {
        crate::state::journal(root)
    }

    /// Reads the journal (a missing one is empty: no upgrade has been recorded). A
    /// shared lock keeps a compaction from swapping the file mid-read.
    pub fn open(root: &ApplianceRoot) -> Result<Journal, JournalError> {
        let path = Self::path(root);
        let read_err = |source| JournalError::Read {
            path: path.display().to_string(),
            source,
        };
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Self::parse(path, &[]);
            }
            Err(e) => return Err(read_err(e)),
        };
        let mut file = Flock::lock(file, FlockArg::LockShared)
            .map_err(|(_, e)| read_err(std::io::Error::from(e)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(read_err)?;
        Self::parse(path, &bytes)
    }

    /// Reads a journal's bytes as `open` would, without a file (for the fuzz target).
    pub fn from_bytes(bytes: &[u8]) -> Result<Journal, JournalError> {
        Self::parse(PathBuf::from("journal.log"), bytes)
    }

    fn parse(path: PathBuf, bytes: &[u8]) -> Result<Journal, JournalError> {
        let mut records: Vec<(u64, Record)> = Vec::new();
        let mut torn_tail = None;
        let mut good_len = 0u64;
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        for (i, raw) in lines.iter().enumerate() {
            let last = i + 1 == lines.len();
            let expect_seq = match records.last() {
                None => None,
                Some((s, _)) => Some(s.checked_add(1).ok_or_else(|| JournalError::Corrupt {
                    path: path.display().to_string(),
                    line: i + 1,
                    problem: format!("a record follows record {s}, the largest number there is"),
                })?),
            };
            match parse_line(raw, expect_seq) {
                Ok(r) => {
                    records.push(r);
                    good_len += raw.len() as u64;
                }
                Err(problem) if last => torn_tail = Some(format!("line {}: {problem}", i + 1)),
                Err(problem) => {
                    return Err(JournalError::Corrupt {
                        path: path.display().to_string(),
                        line: i + 1,
                        problem,
                    });
                }
            }
        }
        Ok(Journal {
            path,
            records,
            torn_tail,
            good_len,
        })
    }

    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.iter().map(|(_, r)| r)
    }

    /// Replays the records into the current upgrade state.
    pub fn state(&self) -> UpgradeState {
        self.records()
            .fold(UpgradeState::Idle, |s, r| s.apply(&r.event))
    }

    /// The highest version floor a commit in the journal raised (`upgrade::floor`).
    pub fn floor(&self) -> Option<Version> {
        self.records()
            .filter_map(|r| match &r.event {
                Event::Committed { floor, .. } => *floor,
                _ => None,
            })
            .max()
    }

    /// Appends one record durably (see the module text), then holds the journal as it
    /// is on disk now, other processes' records included. Kill points before and
    /// after let the power-cut harness stop the process on either side of every
    /// state change.
    pub fn append(&mut self, event: Event) -> Result<(), JournalError> {
        *self = append_at(&self.path, event)?;
        Ok(())
    }

    /// Verify and check records for this manifest's payload and version:
    /// (image SHA-256, file) of each verify, (image SHA-256 if known, file) of each check.
    #[allow(clippy::type_complexity)]
    fn image_records(
        &self,
        manifest: &Manifest,
    ) -> (
        Vec<(String, Option<FileId>)>,
        Vec<(Option<String>, Option<FileId>)>,
    ) {
        let same = |payload: &str, version: &Version| {
            payload.eq_ignore_ascii_case(&manifest.payload.sha256)
                && *version == manifest.firmware.version
        };
        let mut v = Vec::new();
        let mut c = Vec::new();
        for r in self.records() {
            match &r.event {
                Event::Verified {
                    iso_sha256,
                    payload_sha256,
                    version,
                    file,
                } if same(payload_sha256, version) => {
                    v.push((iso_sha256.to_ascii_lowercase(), *file))
                }
                Event::CheckPassed {
                    iso_sha256,
                    payload_sha256,
                    version,
                    file,
                } if same(payload_sha256, version) => {
                    c.push((iso_sha256.as_ref().map(|h| h.to_ascii_lowercase()), *file))
                }
                _ => {}
            }
        }
        (v, c)
    }

    /// Whether verify and the upgrade test passed for an image with this manifest's
    /// payload and version (the cheap check made before anything is written).
    pub fn passed_any(&self, manifest: &Manifest) -> (bool, bool) {
        let (v, c) = self.image_records(manifest);
        (!v.is_empty(), !c.is_empty())
    }

    /// Whether verify and the upgrade test passed for exactly this image: known by
    /// its SHA-256, or as the same unchanged file (`file`).
    pub fn passed_exact(
        &self,
        manifest: &Manifest,
        iso_sha256: Option<&str>,
        file: Option<&FileId>,
    ) -> (bool, bool) {
        let (v, c) = self.image_records(manifest);
        let sha = iso_sha256.map(|h| h.to_ascii_lowercase());
        let verified: Vec<&(String, Option<FileId>)> = v
            .iter()
            .filter(|(h, f)| sha.as_ref() == Some(h) || (file.is_some() && f.as_ref() == file))
            .collect();
        let checked = c.iter().any(|(h, f)| {
            (h.is_some() && (h == &sha || verified.iter().any(|(vh, _)| Some(vh) == h.as_ref())))
                || (file.is_some() && f.as_ref() == file)
                // A check of the very file a matching verify saw.
                || (f.is_some() && verified.iter().any(|(_, vf)| vf == f))
        });
        (!verified.is_empty(), checked)
    }
}

/// Opens the journal for appending with an exclusive lock, on the file that is the
/// journal now (a compaction may have replaced the one opened before the lock came).
fn lock_for_append(path: &std::path::Path) -> std::io::Result<Flock<std::fs::File>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    loop {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o644)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path)?;
        let f =
            Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| std::io::Error::from(e))?;
        let held = f.metadata()?;
        match std::fs::symlink_metadata(path) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => return Ok(f),
            // Replaced or removed while we waited: lock the journal that is there now.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
}

fn append_at(path: &std::path::Path, event: Event) -> Result<Journal, JournalError> {
    let name = event_name(&event);
    killpoint::hit(&format!("journal:{name}:before"));
    let werr = |source| JournalError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut f = lock_for_append(path).map_err(werr)?;
    let mut bytes = Vec::new();
    f.rewind()
        .and_then(|_| f.read_to_end(&mut bytes))
        .map_err(|source| JournalError::Read {
            path: path.display().to_string(),
            source,
        })?;
    let mut journal = Journal::parse(path.to_path_buf(), &bytes)?;
    if let Some(t) = &journal.torn_tail {
        // The torn record never happened; cut it off so the new one starts a line.
        log::warn!("journal: dropping a damaged last record ({t})");
        f.set_len(journal.good_len).map_err(werr)?;
        journal.torn_tail = None;
    }
    let seq = match journal.records.last() {
        None => 1,
        Some((s, _)) => s.checked_add(1).ok_or(JournalError::SequenceExhausted {
            path: path.display().to_string(),
            seq: *s,
        })?,
    };
    let rec = Record {
        time: crate::appliance::console_log::now_rfc3339(),
        event,
    };
    let json = serde_json::to_string(&rec).map_err(|e| werr(std::io::Error::other(e)))?;
    let line = format!("{seq} {} {json}\n", checksum(seq, &json));
    // One write: a reader sees the record whole or (torn by a power cut) as a
    // damaged last line, never interleaved with another appender's.
    let n = f.write(line.as_bytes()).map_err(werr)?;
    if n != line.len() {
        // A short write leaves a torn tail that the next append cuts off.
        return Err(werr(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            format!("only {n} of {} bytes were written", line.len()),
        )));
    }
    f.sync_data().map_err(werr)?;
    journal.good_len += line.len() as u64;
    journal.records.push((seq, rec));
    if journal.records.len() > 2 * KEEP_RECORDS {
        let keep = journal
            .records
            .split_off(journal.records.len() - KEEP_RECORDS);
        journal.records = keep;
        let mut out = String::new();
        for (s, r) in &journal.records {
            let json = serde_json::to_string(r).map_err(|e| werr(std::io::Error::other(e)))?;
            out.push_str(&format!("{s} {} {json}\n", checksum(*s, &json)));
        }
        // Still holding the lock on the old file: waiters re-lock the new one.
        write_atomic(path, out.as_bytes()).map_err(werr)?;
        journal.good_len = out.len() as u64;
    }
    drop(f);
    log::info!("journal: {name}");
    killpoint::hit(&format!("journal:{name}:after"));
    Ok(journal)
}

/// Appends one record to the journal of `root` (for callers that do not keep a
/// [`Journal`] in memory, such as activate across its slot write).
pub fn append(root: &ApplianceRoot, event: Event) -> Result<(), JournalError> {
    append_at(&Journal::path(root), event).map(|_| ())
}

fn parse_line(raw: &[u8], expect_seq: Option<u64>) -> Result<(u64, Record), String> {
    let line = raw
        .strip_suffix(b"\n")
        .ok_or("the record is cut off (no end of line)")?;
    let line = std::str::from_utf8(line).map_err(|_| "the record is not text")?;
    let mut parts = line.splitn(3, ' ');
    let (Some(seq), Some(sum), Some(json)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("the record has fewer than three fields".into());
    };
    let seq: u64 = seq.parse().map_err(|_| format!("bad sequence \"{seq}\""))?;
    if checksum(seq, json) != sum {
        return Err(format!("record {seq} fails its checksum"));
    }
    if let Some(e) = expect_seq
        && seq != e
    {
        return Err(format!("record {seq} where {e} was expected"));
    }
    let rec: Record = serde_json::from_str(json).map_err(|e| format!("record {seq}: {e}"))?;
    Ok((seq, rec))
}

/// The current upgrade state of an appliance root.
pub fn current_state(root: &ApplianceRoot) -> Result<UpgradeState, JournalError> {
    Ok(Journal::open(root)?.state())
}

/// For `verify`: the image file `iso` (whose SHA-256 is `iso_sha256`) matched its
/// published hash and its manifest's payload hash. Call it only when both matched.
pub fn record_verified(
    root: &ApplianceRoot,
    iso: &std::path::Path,
    iso_sha256: &str,
    manifest: &Manifest,
) -> Result<(), JournalError> {
    append(
        root,
        Event::Verified {
            iso_sha256: iso_sha256.to_ascii_lowercase(),
            payload_sha256: manifest.payload.sha256.to_ascii_lowercase(),
            version: manifest.firmware.version,
            file: FileId::of(iso).ok(),
        },
    )
}

/// For `check`: the upgrade test found no blocker for the image file `iso`
/// (`iso_sha256` when the caller knows the image hash; the file identity ties the
/// record to the verified file otherwise).
pub fn record_check_passed(
    root: &ApplianceRoot,
    iso: &std::path::Path,
    iso_sha256: Option<&str>,
    manifest: &Manifest,
) -> Result<(), JournalError> {
    append(
        root,
        Event::CheckPassed {
            iso_sha256: iso_sha256.map(|h| h.to_ascii_lowercase()),
            payload_sha256: manifest.payload.sha256.to_ascii_lowercase(),
            version: manifest.firmware.version,
            file: FileId::of(iso).ok(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            slot: SlotName::B,
            from: SlotName::A,
            version: "7.3.1".parse().unwrap(),
            from_version: Some("7.0.1".parse().unwrap()),
            sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn replay_walks_an_upgrade() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        let mut j = Journal::open(&root).unwrap();
        assert_eq!(j.state(), UpgradeState::Idle);
        j.append(Event::ActivateStarted { target: target() })
            .unwrap();
        j.append(Event::Activated { target: target() }).unwrap();
        j.append(Event::TrialBoot { slot: SlotName::B }).unwrap();
        j.append(Event::StepStarted {
            index: 0,
            name: "a".into(),
            irreversible: false,
        })
        .unwrap();
        j.append(Event::StepDone { index: 0 }).unwrap();
        let j = Journal::open(&root).unwrap();
        assert_eq!(
            j.state(),
            UpgradeState::Trial {
                target: target(),
                steps_done: 1,
                running: None
            }
        );
        assert!(j.state().rollback_possible());
        let mut j = j;
        j.append(Event::PointOfNoReturn {
            index: 1,
            name: "b".into(),
        })
        .unwrap();
        assert!(!j.state().rollback_possible());
    }

    #[test]
    fn torn_tail_is_ignored_and_middle_damage_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        let mut j = Journal::open(&root).unwrap();
        j.append(Event::ActivateStarted { target: target() })
            .unwrap();
        j.append(Event::Activated { target: target() }).unwrap();
        let path = Journal::path(&root);
        let full = std::fs::read(&path).unwrap();
        // Torn last record: ignored, the state is the one before it.
        std::fs::write(&path, &full[..full.len() - 10]).unwrap();
        let j = Journal::open(&root).unwrap();
        assert!(j.torn_tail.is_some());
        assert!(matches!(j.state(), UpgradeState::Activating { .. }));
        // A flipped byte in the first record, with a good one after it: an error.
        let mut bad = full.clone();
        let pos = bad.iter().position(|&b| b == b'{').unwrap() + 5;
        bad[pos] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        let e = Journal::open(&root).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn image_records_round_trip_and_match_by_hash_or_file() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        let iso = d.path().join("fw.iso");
        std::fs::write(&iso, b"image").unwrap();
        let m = crate::image::manifest::Manifest::parse(&format!(
            "[firmware]\nproduct = \"sps\"\nversion = \"7.3.1\"\nkind = \"maintenance\"\n[upgrade]\nfrom = [\"7.0.1\"]\n[payload]\nfile = \"firmware/rootfs.img\"\nsize = 1\nsha256 = \"{}\"\n",
            "ab".repeat(32)
        ))
        .unwrap();
        record_verified(&root, &iso, &"cd".repeat(32), &m).unwrap();
        record_check_passed(&root, &iso, None, &m).unwrap();
        let j = Journal::open(&root).unwrap();
        assert!(j.torn_tail.is_none());
        assert_eq!(j.records().count(), 2);
        assert_eq!(j.passed_any(&m), (true, true));
        let id = FileId::of(&iso).unwrap();
        assert_eq!(j.passed_exact(&m, None, Some(&id)), (true, true));
        assert_eq!(
            j.passed_exact(&m, Some(&"cd".repeat(32)), None),
            (true, true)
        );
        assert_eq!(
            j.passed_exact(&m, Some(&"ee".repeat(32)), None),
            (false, false)
        );
    }

    #[test]
    fn append_adds_one_line_to_the_same_file_and_cuts_a_torn_tail() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        append(&root, Event::ActivateStarted { target: target() }).unwrap();
        let path = Journal::path(&root);
        let ino = std::fs::metadata(&path).unwrap().ino();
        let first = std::fs::read(&path).unwrap();
        // A record torn by a power cut: the next append cuts it off, in place.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"2 0123 {\"time\":").unwrap();
        drop(f);
        append(&root, Event::Activated { target: target() }).unwrap();
        let after = std::fs::read(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().ino(),
            ino,
            "not rewritten"
        );
        assert!(after.starts_with(&first));
        let j = Journal::open(&root).unwrap();
        assert!(j.torn_tail.is_none());
        assert_eq!(
            j.records.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [1, 2]
        );
    }

    #[test]
    fn concurrent_appenders_lose_nothing() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let root = root.clone();
                std::thread::spawn(move || {
                    let mut j = Journal::open(&root).unwrap();
                    for _ in 0..50 {
                        // An old in-memory journal must not overwrite newer records.
                        j.append(Event::TrialBoot { slot: SlotName::B }).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let j = Journal::open(&root).unwrap();
        let seqs: Vec<u64> = j.records.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());
    }

    #[test]
    fn sequence_and_step_numbers_do_not_overflow() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        let rec = Record {
            time: "t".into(),
            event: Event::TrialBoot { slot: SlotName::B },
        };
        let json = serde_json::to_string(&rec).unwrap();
        let line = format!("{} {} {json}\n", u64::MAX, checksum(u64::MAX, &json));
        std::fs::create_dir_all(root.state_dir()).unwrap();
        std::fs::write(Journal::path(&root), &line).unwrap();
        let e = append(&root, Event::TrialBoot { slot: SlotName::B }).unwrap_err();
        assert!(matches!(e, JournalError::SequenceExhausted { .. }), "{e}");
        // A second record after the largest number is damage, not a wrap-around.
        let twice = format!("{line}{line}");
        std::fs::write(Journal::path(&root), twice).unwrap();
        assert!(Journal::open(&root).is_err());
        // A step index at the end of the range is an inconsistent journal.
        let s = UpgradeState::Trial {
            target: target(),
            steps_done: 0,
            running: None,
        }
        .apply(&Event::StepDone { index: usize::MAX });
        assert!(matches!(s, UpgradeState::RecoveryRequired { .. }), "{s:?}");
    }
}
