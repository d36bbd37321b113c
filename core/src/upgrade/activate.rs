//! Activation (SPEC §5): the new firmware goes into the inactive slot and is armed to
//! boot once. Order matters for power cuts: journal the start, disarm the slot, write
//! while hashing, fsync, read back with the page cache bypassed, compare, record the
//! slot status, stage the manifest and migrations, journal "activated", and only then
//! change the boot selection. The booted slot is never written.

use crate::appliance::config::Config;
use crate::appliance::durable::write_atomic;
use crate::appliance::root::ApplianceRoot;
use crate::image::iso::{FirmwareImage, IsoError};
use crate::image::manifest::Manifest;
use crate::slots::bootchooser;
use crate::slots::grubenv::GrubEnvError;
use crate::slots::slot_io::{self, SlotDevice, SlotIoError};
use crate::slots::slot_status::{
    SlotName, SlotRecord, SlotState, SlotStatus, SlotStatusError, booted_slot,
};
use crate::upgrade::journal::{self, Event, FileId, Journal, JournalError, Target, UpgradeState};
use crate::upgrade::killpoint;
use crate::upgrade::progress::{Observer, Operation, Outcome, ProgressFile, Reporter};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    #[error(transparent)]
    Iso(#[from] IsoError),
    #[error(transparent)]
    Slot(#[from] SlotIoError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    GrubEnv(#[from] GrubEnvError),
    #[error(transparent)]
    SlotStatus(#[from] SlotStatusError),
    #[error("cannot write \"{path}\": {source}")]
    Stage {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
    /// The answer is no (exit 1); the message says why and what to do.
    #[error("{0}")]
    Refused(String),
}

impl ActivateError {
    /// Exit 1 for a refusal, 2 for anything that stopped activate from running.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ActivateError::Refused(_) | ActivateError::Slot(SlotIoError::SameDevice { .. })
        )
    }
}

/// What activation will do, worked out before anything is written.
#[derive(Debug, Clone)]
pub struct Plan {
    pub image: FirmwareImage,
    pub booted: SlotName,
    pub target: Target,
    pub device: SlotDevice,
}

impl Plan {
    /// What the operator confirms.
    pub fn describe(&self) -> String {
        format!(
            "Write firmware {} ({} bytes) to slot {} \"{}\" (running: slot {}, firmware {}), then boot it once after the next reboot. The old firmware stays in slot {} until the new one is committed.",
            self.target.version,
            self.image.manifest.payload.size,
            self.target.slot,
            self.device.path.display(),
            self.booted,
            self.target
                .from_version
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "unknown".into()),
            self.booted
        )
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub slot: SlotName,
    pub version: String,
    pub sha256: String,
    pub bytes: u64,
    pub direct_write: bool,
    pub direct_read: bool,
    /// Writing and reading back (they overlap segment by segment).
    pub seconds: f64,
}

/// The directory holding an image's manifest and migrations for the boot phase.
pub fn staged_dir(root: &ApplianceRoot, sha256: &str) -> PathBuf {
    crate::state::staged(root, sha256)
}

/// Loads a staged manifest (the one the boot phase and phase 2 follow).
pub fn staged_manifest(
    root: &ApplianceRoot,
    sha256: &str,
) -> Result<Manifest, crate::state::StagedManifestError> {
    crate::state::staged_manifest(root, sha256)
}

/// The slot device a slot name is configured as.
pub fn slot_path(root: &ApplianceRoot, config: &Config, slot: SlotName) -> PathBuf {
    root.resolve(match slot {
        SlotName::A => &config.slots.a,
        SlotName::B => &config.slots.b,
    })
}

/// Every check that needs no writing: image, product, journal state, verify and
/// upgrade-test records, slot identity and size.
pub fn prepare(root: &ApplianceRoot, config: &Config, iso: &Path) -> Result<Plan, ActivateError> {
    let image = FirmwareImage::open(iso)?;
    let m = &image.manifest;
    if m.firmware.product != config.appliance.product {
        return Err(ActivateError::Refused(format!(
            "the image is firmware for \"{}\" but this appliance is \"{}\"; download the firmware for your product",
            m.firmware.product, config.appliance.product
        )));
    }
    // Authenticity and the floor before anything else about the image is trusted.
    let store = crate::image::trust::TrustStore::load(root)
        .map_err(|e| ActivateError::Refused(e.to_string()))?;
    let signer = crate::image::signature::check_image(&store, &image)
        .map_err(|e| ActivateError::Refused(format!("\"{}\": {e}", iso.display())))?;
    log::info!(
        "activate {}: signed by key {} ({})",
        iso.display(),
        signer.key_id,
        signer.name
    );
    let floor =
        crate::upgrade::floor::current(root).map_err(|e| ActivateError::Refused(e.to_string()))?;
    if let Some(why) = crate::upgrade::floor::refusal(floor, m) {
        return Err(ActivateError::Refused(why));
    }
    let journal = Journal::open(root)?;
    match journal.state() {
        UpgradeState::Trial { .. } | UpgradeState::PointOfNoReturn { .. } => {
            return Err(ActivateError::Refused(
                "the boot phase of the previous upgrade has not finished; reboot so it can complete or roll back, then try again".into(),
            ));
        }
        UpgradeState::RecoveryRequired { reason, .. } => {
            return Err(ActivateError::Refused(format!(
                "the appliance needs recovery ({reason}); create a support bundle and contact support before activating firmware"
            )));
        }
        UpgradeState::Committed { .. } => {
            if let Some(p2) = crate::upgrade::phase2::phase2_summary(root).filter(|p| !p.done) {
                return Err(ActivateError::Refused(format!(
                    "{}; let phase 2 finish (`upgrade-console phase2`, progress in `status`) before activating another firmware",
                    p2.message
                )));
            }
        }
        _ => {}
    }
    let (verified, checked) = journal.passed_any(m);
    if !verified || !checked {
        let missing = match (verified, checked) {
            (false, false) => "verify and check have",
            (false, true) => "verify has",
            _ => "check (the upgrade test) has",
        };
        return Err(ActivateError::Refused(format!(
            "{missing} not passed for firmware {} (payload {}); run `{cmd} verify {}` and `{cmd} check {}` first",
            m.firmware.version,
            &m.payload.sha256[..12],
            iso.display(),
            iso.display(),
            cmd = root.command()
        )));
    }
    // Every program the steps run must be in the image before the slot is touched.
    if let Some(step) = m
        .phase1
        .iter()
        .chain(m.phase2.iter())
        .find(|s| !image.has_program(&s.command[0]))
    {
        return Err(ActivateError::Refused(format!(
            "migration step \"{}\" runs \"{}\", which the image does not contain under firmware/; the image is damaged: download it again",
            step.name, step.command[0]
        )));
    }
    let booted = booted_slot(root);
    let (a, b) = slot_io::identify_pair(
        &slot_path(root, config, SlotName::A),
        &slot_path(root, config, SlotName::B),
    )?;
    let device = if booted == SlotName::A { b } else { a };
    device
        .check_writable(m.payload.size.div_ceil(slot_io::ALIGN as u64) * slot_io::ALIGN as u64)?;
    let status = SlotStatus::load(root)?;
    let target = Target {
        slot: booted.other(),
        from: booted,
        version: m.firmware.version,
        from_version: status.get(booted).version,
        sha256: m.payload.sha256.to_ascii_lowercase(),
    };
    Ok(Plan {
        image,
        booted,
        target,
        device,
    })
}

/// Activation's steps and their weights: the slot write and its read-back take nearly
/// all the time; staging and arming are a few small files.
const STEPS: [(&str, u64); 4] = [
    ("write", 48),
    ("read-back", 48),
    ("staging", 3),
    ("arming", 1),
];

fn weight(step: &str) -> u64 {
    STEPS
        .iter()
        .find(|(n, _)| *n == step)
        .map_or(0, |(_, w)| *w)
}

fn set_slot(root: &ApplianceRoot, slot: SlotName, rec: SlotRecord) -> Result<(), ActivateError> {
    let mut st = SlotStatus::load(root)?;
    st.slots.insert(slot, rec);
    st.save(root)?;
    killpoint::hit("slot-status");
    Ok(())
}

fn fail(
    root: &ApplianceRoot,
    progress: &mut Reporter,
    slot: SlotName,
    reason: String,
) -> Result<ActivateError, ActivateError> {
    log::error!("activate: {reason}");
    set_slot(
        root,
        slot,
        SlotRecord {
            state: SlotState::Bad,
            changed: Some(crate::appliance::console_log::now_rfc3339()),
            ..SlotRecord::empty()
        },
    )?;
    journal::append(
        root,
        Event::ActivationFailed {
            slot,
            reason: reason.clone(),
        },
    )?;
    progress.finish(Outcome::Failed, &reason);
    Ok(ActivateError::Refused(reason))
}

fn lock_path(root: &ApplianceRoot) -> PathBuf {
    crate::state::activate_lock(root)
}

/// Whether an activation is writing a slot right now (for the console: a journal
/// that says "activating" with no activation running means it was interrupted).
pub fn activation_running(root: &ApplianceRoot) -> bool {
    let Ok(f) = std::fs::File::open(lock_path(root)) else {
        return false;
    };
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockSharedNonblock).is_err()
}

/// Carries out a prepared plan. The slot is written only after `prepare` passed and
/// the operator confirmed.
pub fn run(root: &ApplianceRoot, plan: &Plan, chunk: usize) -> Result<Report, ActivateError> {
    run_observed(root, plan, chunk, Vec::new())
}

/// `run`, with progress shown to `observers` besides progress.json.
pub fn run_observed<'a>(
    root: &ApplianceRoot,
    plan: &Plan,
    chunk: usize,
    observers: Vec<Box<dyn Observer + 'a>>,
) -> Result<Report, ActivateError> {
    let lp = lock_path(root);
    let lf =
        crate::appliance::safe_open::open_lock(&lp).map_err(|source| ActivateError::Stage {
            path: lp.display().to_string(),
            source,
        })?;
    let _lock =
        nix::fcntl::Flock::lock(lf, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|_| {
            ActivateError::Refused(
                "another activation is writing a slot right now; wait for it to finish".into(),
            )
        })?;
    // Only the holder of the lock may write progress.json: a refused second activate
    // must not overwrite the running one's progress.
    let mut progress = Reporter::new(Operation::Activate, STEPS.iter().map(|(_, w)| w).sum())
        .with(ProgressFile::new(root));
    for o in observers {
        progress.add(o);
    }
    let result = write_and_arm(root, plan, chunk, &mut progress);
    if let Err(e) = &result
        && progress.record().outcome.is_none()
    {
        progress.finish(Outcome::Failed, &e.to_string());
    }
    result
}

fn write_and_arm(
    root: &ApplianceRoot,
    plan: &Plan,
    chunk: usize,
    progress: &mut Reporter,
) -> Result<Report, ActivateError> {
    let t = &plan.target;
    let m = &plan.image.manifest;
    let size = m.payload.size;
    // No Journal is held across the slot write: verify and check may record while
    // it runs, and each append below reads the journal as it is on disk then.
    log::info!("activate: {}", plan.describe());

    // 1. Intent, then disarm the slot: its old contents are about to go.
    journal::append(root, Event::ActivateStarted { target: t.clone() })?;
    // A new activation starts phase 1 from scratch.
    let _ = crate::state::remove(&crate::state::phase1_checkpoint(root));
    let env_path = root.grubenv();
    let mut env =
        bootchooser::load(&env_path)?.unwrap_or_else(|| bootchooser::initial(plan.booted));
    bootchooser::disarm(&mut env, t.slot, plan.booted);
    bootchooser::save(&env, &env_path)?;
    killpoint::hit("grubenv:disarm");
    set_slot(
        root,
        t.slot,
        SlotRecord {
            state: SlotState::Writing,
            version: Some(t.version),
            product: Some(m.firmware.product.clone()),
            sha256: Some(t.sha256.clone()),
            size: Some(size),
            changed: Some(crate::appliance::console_log::now_rfc3339()),
        },
    )?;

    // 2. Write while hashing, fsync. The whole image is hashed too unless it is the
    //    very file verify and check passed, unchanged since.
    let file_before = FileId::of(&plan.image.path).ok();
    let known_file = {
        let j = Journal::open(root)?;
        file_before.filter(|f| j.passed_exact(m, None, Some(f)) == (true, true))
    };
    progress.begin_step("write", weight("write"), 1);
    progress.set_message(&format!("writing slot {}", t.slot));
    let started = Instant::now();
    let mut written_at = None;
    let report = match slot_io::write_payload(
        &plan.image.path,
        &plan.image.payload,
        &plan.device,
        chunk,
        known_file.is_none(),
        &mut |w, v| {
            // The read-back trails the write; its step begins when the write is done.
            if w >= size && written_at.is_none() {
                written_at = Some(started.elapsed().as_secs_f64());
                progress.end_step();
                progress.begin_step("read-back", weight("read-back"), 1);
            }
            let (done, msg) = if written_at.is_none() {
                (w, format!("slot {}: written {w} of {size} bytes", t.slot))
            } else {
                (v, format!("slot {}: read back {v} of {size} bytes", t.slot))
            };
            progress.update(done as f64 / size.max(1) as f64, &msg);
        },
    ) {
        Ok(r) => r,
        // The slot may hold part of the image: record it bad, never leave "writing".
        Err(e) => {
            fail(root, progress, t.slot, e.to_string())?;
            return Err(e.into());
        }
    };
    if written_at.is_none() {
        progress.end_step();
        progress.begin_step("read-back", weight("read-back"), 1);
    }
    progress.end_step();
    let seconds = started.elapsed().as_secs_f64();
    log::info!(
        "activate: wrote {} bytes to slot {} in {:.2} s and had read them back after {:.2} s (O_DIRECT write {}, read {})",
        report.written,
        t.slot,
        written_at.unwrap_or(seconds),
        seconds,
        report.direct,
        report.direct_read
    );
    if hex::encode(report.payload_sha256) != t.sha256 {
        return Err(fail(
            root,
            progress,
            t.slot,
            format!(
                "the payload read from the image has SHA-256 {} but the manifest says {}; the image is damaged: download it again",
                hex::encode(report.payload_sha256),
                t.sha256
            ),
        )?);
    }
    // 3. What the slot gave back, past the page cache, after fsync.
    if hex::encode(report.read_back_sha256) != t.sha256 {
        return Err(fail(
            root,
            progress,
            t.slot,
            format!(
                "slot {} reads back with SHA-256 {} instead of {}; the disk did not store what was written: check the disk, then activate again",
                t.slot,
                hex::encode(report.read_back_sha256),
                t.sha256
            ),
        )?);
    }
    // 4. The exact image must be the one verify and check passed.
    let exact = match (known_file, report.source_sha256) {
        (Some(before), _) => {
            let now = FileId::of(&plan.image.path).ok();
            (now == Some(before)).then_some(()).ok_or_else(|| {
                "the image file changed while it was being written to the slot; run verify and check on it again".to_string()
            })
        }
        (None, Some(sha)) => {
            let iso_sha = hex::encode(sha);
            (Journal::open(root)?.passed_exact(m, Some(&iso_sha), None) == (true, true))
                .then_some(())
                .ok_or_else(|| format!(
                    "the image read during activation has SHA-256 {iso_sha}, which verify and check have not both passed (was the file replaced?); run verify and check on it again"
                ))
        }
        (None, None) => Err("the image was not hashed".to_string()),
    };
    if let Err(reason) = exact {
        return Err(fail(root, progress, t.slot, reason)?);
    }
    journal::append(
        root,
        Event::SlotWritten {
            slot: t.slot,
            sha256: t.sha256.clone(),
        },
    )?;
    set_slot(
        root,
        t.slot,
        SlotRecord {
            state: SlotState::Trial,
            version: Some(t.version),
            product: Some(m.firmware.product.clone()),
            sha256: Some(t.sha256.clone()),
            size: Some(size),
            changed: Some(crate::appliance::console_log::now_rfc3339()),
        },
    )?;

    // 5. Stage the manifest and migrations for the boot phase and phase 2.
    progress.begin_step("staging", weight("staging"), 1);
    progress.set_message("staging migrations");
    if let Err(e) = stage(root, &plan.image, &t.sha256) {
        // Not armed, and marked bad: a half-staged upgrade must never boot.
        let _ = std::fs::remove_dir_all(staged_dir(root, &t.sha256));
        fail(
            root,
            progress,
            t.slot,
            format!("staging the migrations failed: {e}"),
        )?;
        return Err(e);
    }
    progress.end_step();
    killpoint::hit("staged");

    // 6. Journal, then arm: the new slot boots once; the old one is the fallback.
    progress.begin_step("arming", weight("arming"), 1);
    journal::append(root, Event::Activated { target: t.clone() })?;
    let mut env = crate::slots::grubenv::GrubEnv::load(&env_path)?;
    bootchooser::arm_trial(&mut env, t.slot);
    bootchooser::save(&env, &env_path)?;
    killpoint::hit("grubenv:arm");
    progress.finish(
        Outcome::Done,
        &format!(
            "firmware {} boots once from slot {} after the next reboot",
            t.version, t.slot
        ),
    );
    log::info!(
        "activate: slot {} armed with firmware {}; reboot to start it",
        t.slot,
        t.version
    );
    Ok(Report {
        slot: t.slot,
        version: t.version.to_string(),
        sha256: t.sha256.clone(),
        bytes: report.written,
        direct_write: report.direct,
        direct_read: report.direct_read,
        seconds,
    })
}

/// Copies the manifest and `firmware/migrations/*` into `staged/<sha>/`, checks that
/// every migration program the manifest names is there, and marks the directory
/// complete last.
fn stage(root: &ApplianceRoot, image: &FirmwareImage, sha: &str) -> Result<(), ActivateError> {
    let dir = staged_dir(root, sha);
    let serr = |p: &Path, source| ActivateError::Stage {
        path: p.display().to_string(),
        source,
    };
    let _ = std::fs::remove_file(dir.join("complete"));
    let mf = dir.join("manifest.toml");
    write_atomic(&mf, image.manifest_text.as_bytes()).map_err(|e| serr(&mf, e))?;
    for file in &image.migrations {
        let bytes = image.read_migration(file)?;
        // Checked again as staged: the image file may have changed since prepare.
        crate::image::signature::program_covered(&image.manifest, &file.path, &bytes)
            .map_err(|e| ActivateError::Refused(e.to_string()))?;
        let out = dir.join("migrations").join(&file.path);
        write_atomic(&out, &bytes).map_err(|e| serr(&out, e))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| serr(&out, e))?;
    }
    let m = &image.manifest;
    for step in m.phase1.iter().chain(m.phase2.iter()) {
        let prog = dir.join(&step.command[0]);
        if !prog.is_file() {
            return Err(ActivateError::Refused(format!(
                "migration step \"{}\" runs \"{}\", which the image does not contain under firmware/; the image is damaged: download it again",
                step.name, step.command[0]
            )));
        }
    }
    let c = dir.join("complete");
    write_atomic(&c, b"").map_err(|e| serr(&c, e))?;
    Ok(())
}
