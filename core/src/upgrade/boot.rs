//! The boot phase (`boot`, run by init on every boot): which slot booted, whether this
//! is the trial boot of new firmware, phase-1 migration, health check, then commit,
//! roll back or hand over to recovery. It reads the journal and the boot environment
//! to learn where an interrupted upgrade was, so a power cut at any instant ends in
//! a good slot.
//!
//! Ordering rules that make every instant safe:
//! - before the first irreversible step, the boot environment is changed to keep
//!   booting the new slot, then the journal records the point of no return;
//! - a rollback is journalled first, then the boot environment changed;
//! - a commit changes the boot environment first, then journals; a boot that finds
//!   all steps done but no commit simply commits again.
//!
//! The journal is not trusted alone: a booted slot the slot status records as an
//! unproven trial, with no trial in the journal (a lost journal), is rolled back;
//! before the first phase-1 step everything that can be known is checked (the slot
//! status record of the new slot, the staged files, the configuration, the slot
//! device), and when it cannot be trusted the known-good slot boots again.

use crate::appliance::config::Config;
use crate::appliance::durable::write_atomic;
use crate::appliance::root::ApplianceRoot;
use crate::image::manifest::Manifest;
use crate::slots::bootchooser;
use crate::slots::grubenv::{GrubEnv, MAX_TRIES};
use crate::slots::slot_status::{SlotName, SlotRecord, SlotState, SlotStatus, booted_slot};
use crate::state::{Loaded, staged as staged_dir, staged_manifest};
use crate::upgrade::activate::slot_path;
use crate::upgrade::floor;
use crate::upgrade::journal::{Event, Journal, Target, UpgradeState};
use crate::upgrade::killpoint;
use crate::upgrade::progress::{Operation, Outcome, ProgressFile, Reporter};
use crate::upgrade::reboot::Reboot;
use crate::upgrade::steps::{StepLine, run_step};
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum BootOutcome {
    /// An ordinary boot.
    Normal,
    /// The new firmware passed phase 1 and the health check.
    Committed { version: String },
    /// The new firmware failed; the old slot boots again.
    RolledBack { reason: String },
    /// Neither works safely: recovery mode takes over.
    RecoveryRequired { reason: String },
    /// An activation was cut short; the slot it was writing is not armed.
    ActivationInterrupted { reason: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct BootReport {
    pub booted: SlotName,
    pub running_version: Option<String>,
    #[serde(flatten)]
    pub outcome: BootOutcome,
    /// What the operator reads.
    pub message: String,
}

/// The phase-1 checkpoint of the running step.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Phase1Checkpoint {
    sha256: String,
    index: usize,
    checkpoint: String,
}

fn checkpoint_path(root: &ApplianceRoot) -> std::path::PathBuf {
    crate::state::phase1_checkpoint(root)
}

// ---- wiring points for the other branches (the lead connects them at merge) ----

/// The boot log server (SPEC §7) on the configured addresses for the whole boot
/// phase; the handle stops it when dropped. A failure to listen is logged, never fatal.
fn start_log_server(
    root: &ApplianceRoot,
    config: Option<&Config>,
) -> Option<crate::logserver::LogServerHandle> {
    let listen = config.map(|c| c.web.listen.clone()).unwrap_or_default();
    if listen.is_empty() {
        return None;
    }
    match crate::logserver::spawn(root.clone(), listen.clone()) {
        Ok(h) => Some(h),
        Err(e) => {
            log::warn!("boot log server: cannot listen on {listen:?}: {e}");
            None
        }
    }
}

/// Recovery hand-over. The journal and progress.json already say "recovery required"
/// (on every boot until the state is cleared) and `boot` exits 1. Recovery mode is
/// entered here: interfaces up, key-only sshd unless sealed (it outlives this
/// process), the support bundle, recovery.json. On an appliance init then runs
/// `upgrade-console recover`, which supervises sshd and keeps the log server up. A
/// demo or test root in the host's network namespace is kept off the host's
/// network by `recovery::host_guard`.
fn hand_over_to_recovery(root: &ApplianceRoot, config: Option<&Config>, reason: &str) {
    log::error!("RECOVERY REQUIRED: {reason}; recovery mode takes over");
    let Some(config) = config else {
        log::error!(
            "recovery: the configuration did not load, so interfaces cannot be brought up; fix appliance.toml and run `upgrade-console recover`"
        );
        return;
    };
    match crate::recovery::enter(root, config, reason) {
        Ok(report) => {
            for line in crate::recovery::render_text(&report).lines() {
                log::info!("recovery: {line}");
            }
        }
        Err(e) => {
            log::error!("recovery could not be entered: {e:#}; run `upgrade-console recover`")
        }
    }
}

// ---------------------------------------------------------------------------------

struct Ctx<'a> {
    root: &'a ApplianceRoot,
    config: Option<Config>,
    booted: SlotName,
    journal: Journal,
    reboot: &'a dyn Reboot,
    progress: Reporter<'static>,
}

/// Why the boot phase stopped before deciding the boot's outcome.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("the boot phase is already running ({0})")]
    AlreadyRunning(nix::errno::Errno),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Journal(#[from] crate::upgrade::journal::JournalError),
    #[error(transparent)]
    GrubEnv(#[from] crate::slots::grubenv::GrubEnvError),
    #[error(transparent)]
    SlotStatus(#[from] crate::slots::slot_status::SlotStatusError),
    #[error(transparent)]
    Reboot(#[from] crate::upgrade::reboot::RebootError),
}

/// Runs the boot phase for the slot named in `proc/cmdline`.
pub fn run(root: &ApplianceRoot, reboot: &dyn Reboot) -> Result<BootReport, BootError> {
    // One boot phase at a time (init restarting it must not run phase 1 twice).
    std::fs::create_dir_all(root.state_dir())?;
    let lock_file = crate::appliance::safe_open::open_lock(&crate::state::boot_lock(root))?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| BootError::AlreadyRunning(e))?;
    let booted = booted_slot(root);
    let config = match Config::load(root) {
        Ok(c) => Some(c),
        Err(e) => {
            log::error!("boot: {e}");
            None
        }
    };
    // A recovery sshd from an earlier boot must not outlive the box being sealed.
    if let Some(pid) = crate::recovery::enforce_sealed(root) {
        log::warn!("boot: the appliance is sealed: stopped the recovery sshd (pid {pid})");
    }
    let _log_server = start_log_server(root, config.as_ref());
    log::info!("boot: booted from slot {booted}");
    let journal = match Journal::open(root) {
        Ok(j) => j,
        Err(e) => {
            // The state cannot be trusted: change nothing, ask for help.
            let reason = e.to_string();
            let mut progress = boot_progress(root);
            progress.set_safety(false, false);
            progress.finish_in("recovery", Outcome::Recovery, &reason);
            hand_over_to_recovery(root, config.as_ref(), &reason);
            return Ok(report(
                root,
                booted,
                BootOutcome::RecoveryRequired { reason },
            ));
        }
    };
    if let Some(t) = &journal.torn_tail {
        log::warn!("boot: the last journal record is damaged and ignored ({t})");
    }
    let mut ctx = Ctx {
        root,
        config,
        booted,
        journal,
        reboot,
        progress: boot_progress(root),
    };
    let state = ctx.journal.state();
    log::info!("boot: upgrade state: {}", state.describe());
    // A power cut right after the commit record may have left the floor file and
    // the new firmware's trust anchors unwritten: both are idempotent, so every
    // boot of the committed slot makes sure of them.
    if let UpgradeState::Committed { slot, sha256, .. } = &state
        && *slot == booted
        && let Ok(m) = staged_manifest(root, sha256)
    {
        if let Err(e) = floor::raise(root, floor::floor_of(&m), m.firmware.version) {
            log::warn!("boot: {e} (the journal keeps the floor)");
        }
        if let Err(e) = crate::image::trust::install_from_manifest(root, &m) {
            log::error!("boot: {e}");
        }
    }
    let outcome = match state {
        UpgradeState::Activated { target } if target.slot == booted => {
            ctx.journal.append(Event::TrialBoot { slot: booted })?;
            ctx.trial(&target, 0, false)?
        }
        UpgradeState::Trial {
            target, steps_done, ..
        } if target.slot == booted => ctx.trial(&target, steps_done, false)?,
        UpgradeState::PointOfNoReturn {
            target, steps_done, ..
        } if target.slot == booted => ctx.trial(&target, steps_done, true)?,
        UpgradeState::Activated { target } => {
            let env = load_env(root, booted);
            if env.ok(target.slot) && env.tries(target.slot) >= MAX_TRIES {
                ctx.rolled_back_here(
                    &target,
                    format!(
                        "the trial boot of firmware {} on slot {} did not come up",
                        target.version, target.slot
                    ),
                )?
            } else if !env.ok(target.slot) {
                ctx.interrupted(
                    &target,
                    "the activation was cut short before the slot was armed",
                )?
            } else {
                // Armed and not tried yet (the boot loader was told otherwise): keep it.
                ctx.normal(&env)?;
                BootOutcome::Normal
            }
        }
        UpgradeState::Trial { target, .. } => ctx.rolled_back_here(
            &target,
            format!(
                "the trial boot of firmware {} on slot {} was interrupted during phase 1",
                target.version, target.slot
            ),
        )?,
        UpgradeState::PointOfNoReturn { target, .. } => {
            let reason = format!(
                "firmware {} on slot {} stopped booting after an irreversible migration step began; the old firmware on slot {} cannot use the migrated data",
                target.version, target.slot, booted
            );
            ctx.recovery(Some(&target), reason, false)?
        }
        UpgradeState::Activating { target, .. } => ctx.interrupted(
            &target,
            "the activation was cut short while writing the slot",
        )?,
        UpgradeState::Committed { slot, version, .. } if slot != booted => {
            let reason = format!(
                "the committed firmware {version} on slot {slot} failed to boot {MAX_TRIES} times; the appliance fell back to slot {booted}"
            );
            ctx.recovery(None, reason, false)?
        }
        UpgradeState::RecoveryRequired { reason, .. } => {
            let env = load_env(root, booted);
            ctx.normal(&env)?;
            ctx.progress.set_safety(false, false);
            ctx.progress
                .finish_in("recovery", Outcome::Recovery, &reason);
            hand_over_to_recovery(root, ctx.config.as_ref(), &reason);
            BootOutcome::RecoveryRequired { reason }
        }
        UpgradeState::Idle
        | UpgradeState::Committed { .. }
        | UpgradeState::RolledBack { .. }
        | UpgradeState::ActivationFailed { .. } => {
            if let Some(t) = unproven_trial(root, booted) {
                // The journal knows no trial of this slot, yet the slot status says
                // it is one (the journal was lost): it must not become permanent.
                let reason = format!(
                    "slot {booted} holds firmware {} on trial, but the upgrade journal records no trial boot of it (was the journal lost?); the upgrade state cannot be trusted",
                    t.version
                );
                let env = load_env(root, booted);
                if env.order().first() == Some(&booted) && env.tries(booted) < MAX_TRIES {
                    // Not the single attempt a trial is armed with: the boot
                    // environment was set to keep this slot, as it is at the point of
                    // no return. The old firmware may not fit the data any more.
                    ctx.recovery(
                        Some(&t),
                        format!(
                            "{reason}, and the boot environment keeps slot {booted} as if an irreversible migration step had begun"
                        ),
                        true,
                    )?
                } else {
                    ctx.failed(&t, false, reason)?
                }
            } else if let Some(reason) = records_lost_on_last_attempt(root, &state, booted) {
                // Rolling back could boot old firmware on migrated data, committing
                // could make an unproven trial permanent: ask for help instead.
                ctx.recovery(None, reason, false)?
            } else {
                let mut env = load_env(root, booted);
                if let UpgradeState::RolledBack { slot, .. }
                | UpgradeState::ActivationFailed { slot, .. } = &state
                    && *slot != booted
                    && env.ok(*slot)
                {
                    bootchooser::mark_bad(&mut env, *slot);
                }
                ctx.normal(&env)?;
                BootOutcome::Normal
            }
        }
    };
    if !matches!(outcome, BootOutcome::RecoveryRequired { .. })
        && let Err(e) = crate::state::recovery::clear(root)
    {
        log::error!("boot: cannot remove the recovery report: {e}");
    }
    let r = report(root, booted, outcome);
    log::info!("boot: {}", r.message);
    Ok(r)
}

/// Why the boot cannot be trusted when the journal records no upgrade, the slot
/// status cannot be read, and the boot loader is on its last attempt of the booted
/// slot: that is what a trial boot looks like, and also a committed slot that needed
/// every attempt. Without either record the two cannot be told apart.
fn records_lost_on_last_attempt(
    root: &ApplianceRoot,
    state: &UpgradeState,
    booted: SlotName,
) -> Option<String> {
    if !matches!(state, UpgradeState::Idle) {
        return None;
    }
    let status = match SlotStatus::read(root) {
        Loaded::Present(_) => return None,
        Loaded::Missing => "missing".to_string(),
        Loaded::Damaged(why) => format!("damaged ({why})"),
    };
    let env = GrubEnv::load(&root.grubenv()).ok()?;
    if env.tries(booted) < MAX_TRIES || !env.ok(booted.other()) {
        return None;
    }
    Some(format!(
        "slot {booted} booted on the boot loader's last attempt, the upgrade journal records no upgrade and the slot status is {status}: a trial boot of new firmware and a committed slot cannot be told apart (were the state files lost?); neither rolled back nor committed"
    ))
}

/// The booted slot as the slot status records it, when that record says the slot is
/// an unproven trial (or still being written). The upgrade it belongs to, rebuilt
/// from the records, for the rollback.
fn unproven_trial(root: &ApplianceRoot, booted: SlotName) -> Option<Target> {
    let Loaded::Present(st) = SlotStatus::read(root) else {
        return None;
    };
    let rec = st.get(booted);
    if !matches!(rec.state, SlotState::Trial | SlotState::Writing) {
        return None;
    }
    Some(Target {
        slot: booted,
        from: booted.other(),
        version: rec.version?,
        from_version: st.get(booted.other()).version,
        sha256: rec.sha256.unwrap_or_default(),
    })
}

fn report(root: &ApplianceRoot, booted: SlotName, outcome: BootOutcome) -> BootReport {
    let running = SlotStatus::load(root)
        .ok()
        .and_then(|s| s.get(booted).version)
        .map(|v| v.to_string());
    let message = match &outcome {
        BootOutcome::Committed { version } => format!(
            "firmware {version} is running and committed; slot {} keeps the previous firmware as a fallback; phase 2 (the `phase2` service) finishes the migration in the background",
            booted.other()
        ),
        BootOutcome::RolledBack { reason } => match crate::upgrade::journal::current_state(root) {
            Ok(UpgradeState::RolledBack { slot, to, .. }) if slot == booted => format!(
                "{reason}; rolling back: slot {to} (firmware {}) boots again",
                SlotStatus::load(root)
                    .ok()
                    .and_then(|s| s.get(to).version)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "(unknown)".into())
            ),
            _ => after_boot_message(root).unwrap_or_else(|| reason.clone()),
        },
        _ => after_boot_message(root).unwrap_or_else(|| {
            format!(
                "running firmware {} from slot {booted}",
                running.as_deref().unwrap_or("(unknown)")
            )
        }),
    };
    BootReport {
        booted,
        running_version: running,
        outcome,
        message,
    }
}

/// After boot: whether the running firmware is the one the last upgrade installed,
/// and if not, what happened and what to do. For `status` and the console.
pub fn after_boot_message(root: &ApplianceRoot) -> Option<String> {
    let state = crate::upgrade::journal::current_state(root).ok()?;
    let booted = booted_slot(root);
    let running = SlotStatus::load(root).ok()?.get(booted).version;
    let running_s = running
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_else(|| "(unknown)".into());
    match state {
        UpgradeState::RolledBack {
            version, reason, ..
        } => Some(format!(
            "The upgrade{} was rolled back: {reason}. The appliance runs firmware {running_s} from slot {booted}. Create a support bundle (`upgrade-console bundle`) and send it to support before trying again.",
            version.map(|v| format!(" to {v}")).unwrap_or_default()
        )),
        UpgradeState::Committed { version, .. } if Some(&version) == running.as_ref() => {
            Some(format!("firmware {version} is running and committed"))
        }
        UpgradeState::Committed { version, .. } => Some(format!(
            "The upgrade to {version} did not take: the appliance runs {running_s} from slot {booted}. Create a support bundle (`upgrade-console bundle`) and contact support."
        )),
        UpgradeState::RecoveryRequired { reason, .. } => Some(format!(
            "Recovery required: {reason}. Recovery mode gives support access; a support bundle is ready with `upgrade-console bundle`."
        )),
        UpgradeState::ActivationFailed { reason, .. } => Some(format!(
            "The last activation did not finish ({reason}); the appliance runs {running_s}. Activate the firmware again when ready."
        )),
        _ => None,
    }
}

/// The boot environment; a damaged or missing one is rebuilt around the booted slot
/// (the slot that just came up is certainly bootable).
fn load_env(root: &ApplianceRoot, booted: SlotName) -> GrubEnv {
    match GrubEnv::load(&root.grubenv()) {
        Ok(e) => e,
        Err(e) => {
            log::warn!("boot: {e}; rebuilding it for slot {booted}");
            let mut env = bootchooser::initial(booted);
            if let Loaded::Present(st) = SlotStatus::read(root)
                && st.get(booted.other()).state == SlotState::Good
            {
                // The other slot stays a fallback, after the booted one.
                bootchooser::mark_good(&mut env, booted.other());
            }
            env
        }
    }
}

/// The boot phase's top-level steps (of 100): phase 1 takes nearly all the time, the
/// health check and the commit or rollback a moment each. Phase 1's own steps share
/// its span by the manifest's weights.
const PHASE1_WEIGHT: u64 = 96;
const HEALTH_WEIGHT: u64 = 2;
const COMMIT_WEIGHT: u64 = 2;

fn boot_progress(root: &ApplianceRoot) -> Reporter<'static> {
    Reporter::new(
        Operation::Boot,
        PHASE1_WEIGHT + HEALTH_WEIGHT + COMMIT_WEIGHT,
    )
    .with(ProgressFile::new(root))
}

impl Ctx<'_> {
    fn save_env(&self, env: &GrubEnv, point: &str) -> Result<(), BootError> {
        env.save(&self.root.grubenv())?;
        killpoint::hit(point);
        Ok(())
    }

    /// Changes one slot's record. A missing or damaged slot status is left as it is
    /// (support needs to see it; rewriting it from nothing would invent the rest).
    fn set_slot(&self, slot: SlotName, f: impl FnOnce(&mut SlotRecord)) -> Result<(), BootError> {
        let mut st = match SlotStatus::read(self.root) {
            Loaded::Present(st) => st,
            other => {
                let why = other
                    .problem(&crate::state::slot_status(self.root))
                    .unwrap_or_default();
                log::warn!("boot: slot {slot} not recorded: the slot status {why}");
                return Ok(());
            }
        };
        let mut rec = st.get(slot);
        f(&mut rec);
        rec.changed = Some(crate::appliance::console_log::now_rfc3339());
        st.slots.insert(slot, rec);
        st.save(self.root)?;
        killpoint::hit("slot-status");
        Ok(())
    }

    /// An ordinary boot: the booted slot came up, so its attempts start again.
    fn normal(&self, env: &GrubEnv) -> Result<(), BootError> {
        let mut env = env.clone();
        bootchooser::mark_good(&mut env, self.booted);
        if Some(&env) != GrubEnv::load(&self.root.grubenv()).ok().as_ref() {
            self.save_env(&env, "grubenv:normal")?;
        }
        Ok(())
    }

    /// The trial boot of `t` (or its resumption after a power cut).
    fn trial(
        &mut self,
        t: &Target,
        steps_done: usize,
        mut ponr: bool,
    ) -> Result<BootOutcome, BootError> {
        let manifest = match staged_manifest(self.root, &t.sha256) {
            Ok(m) => m,
            Err(e) => return self.failed(t, ponr, format!("{e:#}")),
        };
        let staged = staged_dir(self.root, &t.sha256);
        if !ponr && let Err(reason) = self.before_phase1(t) {
            return self.failed(
                t,
                false,
                format!("before phase 1, with nothing changed yet: {reason}"),
            );
        }
        let steps = &manifest.phase1;
        let total: u64 = steps.iter().map(|s| u64::from(s.weight)).sum();
        // The log line comes before the progress record: a viewer that sees "phase1" in
        // /status.json finds the trial boot in /log.txt too.
        log::info!(
            "boot: trial boot of firmware {} on slot {}: {} phase-1 step(s), {} done",
            t.version,
            t.slot,
            steps.len(),
            steps_done
        );
        self.progress.set_safety(!ponr, true);
        self.progress.begin_step("phase1", PHASE1_WEIGHT, total);
        // A resumed phase 1 starts where the finished steps end.
        self.progress.skip(
            steps
                .iter()
                .take(steps_done)
                .map(|s| u64::from(s.weight))
                .sum(),
        );
        for (k, step) in steps.iter().enumerate().skip(steps_done) {
            if step.irreversible && !ponr {
                let mut env = load_env(self.root, self.booted);
                bootchooser::mark_active(&mut env, t.slot);
                self.save_env(&env, "grubenv:point-of-no-return")?;
                self.journal.append(Event::PointOfNoReturn {
                    index: k,
                    name: step.name.clone(),
                })?;
                ponr = true;
                self.progress.set_safety(false, true);
                log::warn!(
                    "boot: step \"{}\" is irreversible: from here on there is no rollback",
                    step.name
                );
            }
            log::info!(
                "phase 1: step {} of {}: {}{}",
                k + 1,
                steps.len(),
                step.name,
                if ponr {
                    " (no rollback from here on)"
                } else {
                    ""
                }
            );
            self.journal.append(Event::StepStarted {
                index: k,
                name: step.name.clone(),
                irreversible: step.irreversible,
            })?;
            let cp = match crate::state::read_json::<Phase1Checkpoint>(&checkpoint_path(self.root))
            {
                Loaded::Present(c) => Some(c),
                Loaded::Missing => None,
                Loaded::Damaged(why) => {
                    // The step is run as if it had not begun: steps start over safely
                    // without a checkpoint, and the log keeps why.
                    log::warn!(
                        "[{}] the phase-1 checkpoint is damaged ({why}); the step starts from its beginning",
                        step.name
                    );
                    None
                }
            }
            .filter(|c| c.sha256 == t.sha256 && c.index == k)
            .map(|c| c.checkpoint);
            let msg = format!("phase 1: {} - do not power off", step.name);
            self.progress
                .begin_step(&step.name, u64::from(step.weight), 1);
            self.progress.set_message(&msg);
            let progress = &mut self.progress;
            let mut last_logged = Instant::now();
            let root = self.root;
            let sha = t.sha256.clone();
            let name = step.name.clone();
            let outcome = run_step(
                self.root,
                &staged,
                step,
                cp.as_deref(),
                &mut |line| match line {
                    StepLine::Progress { fraction, text } => {
                        // The log gets a progress line about once a second.
                        if last_logged.elapsed().as_millis() >= 1000 || fraction >= 1.0 {
                            last_logged = Instant::now();
                            log::info!(
                                "[{name}] {:.0} % {}",
                                fraction * 100.0,
                                text.as_deref().unwrap_or("")
                            );
                        }
                        let m = text.unwrap_or_else(|| msg.clone());
                        progress.update(fraction, &m);
                    }
                    StepLine::Checkpoint(c) => {
                        let rec = Phase1Checkpoint {
                            sha256: sha.clone(),
                            index: k,
                            checkpoint: c,
                        };
                        if let Err(e) = crate::state::write_json(&checkpoint_path(root), &rec) {
                            log::error!("[{name}] cannot save checkpoint: {e}");
                        }
                        killpoint::hit("phase1:checkpoint");
                    }
                    StepLine::Log(l) | StepLine::Other(l) => log::info!("[{name}] {l}"),
                },
            );
            match outcome {
                Ok(o) if o.success => {}
                Ok(o) => {
                    let reason = format!("phase-1 step \"{}\" failed ({})", step.name, o.status);
                    return self.failed(t, ponr, reason);
                }
                Err(e) => {
                    let reason = format!("phase-1 step \"{}\" could not run: {e}", step.name);
                    return self.failed(t, ponr, reason);
                }
            }
            self.journal.append(Event::StepDone { index: k })?;
            self.progress.end_step();
        }
        self.progress.end_step();
        self.progress.begin_step("health", HEALTH_WEIGHT, 1);
        self.progress.set_message("health check");
        if let Err(reason) = self.health(t) {
            return self.failed(t, ponr, format!("health check failed: {reason}"));
        }
        self.commit(t, &manifest)
    }

    /// What can be known before anything irreversible runs: the slot status is
    /// readable and records the new slot as this firmware on trial, the staged files
    /// are complete, the configuration loads, the slot device is there.
    fn before_phase1(&self, t: &Target) -> Result<(), String> {
        let path = crate::state::slot_status(self.root);
        let st = match SlotStatus::read(self.root) {
            Loaded::Present(st) => st,
            other => {
                return Err(format!(
                    "the slot status {}",
                    other.problem(&path).unwrap_or_default()
                ));
            }
        };
        let rec = st.get(t.slot);
        if rec.sha256.as_deref() != Some(t.sha256.as_str())
            || rec.version.as_ref() != Some(&t.version)
        {
            return Err(format!(
                "the slot status \"{}\" records slot {} as holding {}, not firmware {} (payload {})",
                path.display(),
                t.slot,
                rec.version
                    .map(|v| format!("firmware {v}"))
                    .unwrap_or_else(|| "nothing known".into()),
                t.version,
                t.sha256.get(..12).unwrap_or(&t.sha256)
            ));
        }
        let complete = staged_dir(self.root, &t.sha256).join("complete");
        if !complete.is_file() {
            return Err(format!(
                "the staged migrations are incomplete (\"{}\" is missing); activate the firmware again",
                complete.display()
            ));
        }
        let config = Config::load(self.root).map_err(|e| e.to_string())?;
        let dev = slot_path(self.root, &config, t.slot);
        std::fs::File::open(&dev).map_err(|e| format!("slot device \"{}\": {e}", dev.display()))?;
        crate::ha::guard::secondary_may_boot(self.root, &config, t.version)?;
        Ok(())
    }

    /// Checks that the new firmware can run the appliance before committing it.
    fn health(&self, t: &Target) -> Result<(), String> {
        let config = Config::load(self.root).map_err(|e| e.to_string())?;
        let st = SlotStatus::load(self.root).map_err(|e| e.to_string())?;
        let rec = st.get(t.slot);
        if rec.sha256.as_deref() != Some(t.sha256.as_str())
            || rec.version.as_ref() != Some(&t.version)
        {
            return Err(format!(
                "slot {} is recorded as holding {:?}, not firmware {}",
                t.slot, rec.version, t.version
            ));
        }
        let dev = slot_path(self.root, &config, t.slot);
        std::fs::File::open(&dev).map_err(|e| format!("slot device \"{}\": {e}", dev.display()))?;
        let probe = self.root.state_dir().join(".health-probe");
        write_atomic(&probe, b"ok").map_err(|e| format!("state directory not writable: {e}"))?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }

    fn commit(&mut self, t: &Target, manifest: &Manifest) -> Result<BootOutcome, BootError> {
        let mut env = load_env(self.root, self.booted);
        bootchooser::commit(&mut env, t.slot, t.from);
        self.save_env(&env, "grubenv:commit")?;
        self.set_slot(t.slot, |r| r.state = SlotState::Good)?;
        // Phase 2 of this firmware starts from the beginning once committed.
        let _ = crate::state::remove(&crate::state::phase2(self.root));
        self.journal.append(Event::Committed {
            slot: t.slot,
            version: t.version,
            sha256: t.sha256.clone(),
            floor: Some(floor::floor_of(manifest)),
        })?;
        // The journal record above already holds the floor; the file keeps it past
        // the journal's compaction, the trust anchors serve the boots after this one.
        if let Err(e) = floor::raise(self.root, floor::floor_of(manifest), t.version) {
            log::warn!("boot: {e} (the journal keeps the floor)");
        }
        if let Err(e) = crate::image::trust::install_from_manifest(self.root, manifest) {
            log::error!("boot: {e}");
        }
        let _ = crate::state::remove(&checkpoint_path(self.root));
        // Staged files of other images are no longer needed.
        if let Ok(dirs) = std::fs::read_dir(crate::state::staged_root(self.root)) {
            for d in dirs.flatten() {
                if d.file_name() != t.sha256.as_str() {
                    let _ = std::fs::remove_dir_all(d.path());
                }
            }
        }
        self.progress.set_safety(false, false);
        self.progress.finish_in(
            "commit",
            Outcome::Done,
            &format!("firmware {} committed", t.version),
        );
        log::info!("boot: firmware {} on slot {} committed", t.version, t.slot);
        Ok(BootOutcome::Committed {
            version: t.version.to_string(),
        })
    }

    /// A failure during the trial boot: roll back if the old slot can take over and
    /// no irreversible step began, else recovery.
    fn failed(&mut self, t: &Target, ponr: bool, reason: String) -> Result<BootOutcome, BootError> {
        log::error!("boot: {reason}");
        if ponr {
            return self.recovery(
                Some(t),
                format!("{reason}, after an irreversible migration step began"),
                true,
            );
        }
        let env = load_env(self.root, self.booted);
        // A slot status that cannot be read says nothing against the old slot: the
        // boot environment alone decides then.
        let old_unusable = SlotStatus::read(self.root)
            .present()
            .is_some_and(|st| matches!(st.get(t.from).state, SlotState::Bad | SlotState::Writing));
        if !env.ok(t.from) || old_unusable {
            return self.recovery(
                Some(t),
                format!("{reason}, and the old slot {} is not bootable", t.from),
                true,
            );
        }
        self.journal.append(Event::RolledBack {
            slot: t.slot,
            to: t.from,
            reason: reason.clone(),
        })?;
        let mut env = env;
        bootchooser::rollback(&mut env, t.slot, t.from);
        self.save_env(&env, "grubenv:rollback")?;
        self.set_slot(t.slot, |r| r.state = SlotState::Bad)?;
        self.progress.set_safety(true, false);
        self.progress.finish_in(
            "rollback",
            Outcome::RolledBack,
            &format!("{reason}; rolling back to slot {}", t.from),
        );
        log::warn!("boot: rolling back to slot {}: rebooting", t.from);
        self.reboot.reboot(self.root)?;
        Ok(BootOutcome::RolledBack { reason })
    }

    /// Running on the old slot after the new one's trial failed: record the rollback.
    fn rolled_back_here(&mut self, t: &Target, reason: String) -> Result<BootOutcome, BootError> {
        log::warn!("boot: {reason}; staying on slot {}", self.booted);
        self.journal.append(Event::RolledBack {
            slot: t.slot,
            to: self.booted,
            reason: reason.clone(),
        })?;
        let mut env = load_env(self.root, self.booted);
        bootchooser::rollback(&mut env, t.slot, self.booted);
        self.normal(&env)?;
        self.set_slot(t.slot, |r| r.state = SlotState::Bad)?;
        self.progress.set_safety(true, false);
        self.progress
            .finish_in("rollback", Outcome::RolledBack, &reason);
        Ok(BootOutcome::RolledBack { reason })
    }

    fn interrupted(&mut self, t: &Target, why: &str) -> Result<BootOutcome, BootError> {
        let reason = format!("{why}; activate firmware {} again", t.version);
        log::warn!("boot: {reason}");
        self.journal.append(Event::ActivationFailed {
            slot: t.slot,
            reason: reason.clone(),
        })?;
        let mut env = load_env(self.root, self.booted);
        bootchooser::disarm(&mut env, t.slot, self.booted);
        self.normal(&env)?;
        self.set_slot(t.slot, |r| {
            if r.state != SlotState::Good {
                r.state = SlotState::Bad;
            }
        })?;
        Ok(BootOutcome::ActivationInterrupted { reason })
    }

    /// Rollback is impossible: keep booting this slot and hand over to recovery.
    fn recovery(
        &mut self,
        t: Option<&Target>,
        reason: String,
        keep_booted: bool,
    ) -> Result<BootOutcome, BootError> {
        self.journal.append(Event::RecoveryRequired {
            reason: reason.clone(),
        })?;
        let mut env = load_env(self.root, self.booted);
        if keep_booted {
            // Keep booting this slot: it is the one the migrated data belongs to.
            bootchooser::mark_active(&mut env, self.booted);
        }
        self.normal(&env)?;
        if let Some(t) = t {
            log::error!(
                "boot: upgrade to {} on slot {} needs recovery",
                t.version,
                t.slot
            );
        }
        self.progress.set_safety(false, false);
        self.progress
            .finish_in("recovery", Outcome::Recovery, &reason);
        hand_over_to_recovery(self.root, self.config.as_ref(), &reason);
        Ok(BootOutcome::RecoveryRequired { reason })
    }
}
