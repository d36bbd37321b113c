//! Phase 2 (`phase2`, run as a background service after a commit): the committed
//! firmware's phase-2 migration steps (newest data first is each step's own
//! business), resumable. Each `{"checkpoint": ".."}` a step prints is saved durably
//! in `var/lib/upgrade-console/phase2.json` before the step goes on; after a kill or
//! a reboot the unfinished step is run again with `UPGRADE_CONSOLE_CHECKPOINT` set to
//! the last checkpoint. Until phase 2 is done, search over older data is incomplete.

use crate::appliance::root::ApplianceRoot;
use crate::state::{staged as staged_dir, staged_manifest};
use crate::upgrade::journal::UpgradeState;
use crate::upgrade::killpoint;
use crate::upgrade::progress::{Observer, Operation, Outcome, ProgressFile, Reporter};
use crate::upgrade::steps::{StepLine, run_step};
use serde::{Deserialize, Serialize};

/// The saved state of phase 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase2State {
    /// Payload SHA-256 of the firmware whose phase 2 this is.
    pub sha256: String,
    pub version: String,
    pub steps: usize,
    /// The step running or next to run (== steps when done).
    pub step: usize,
    #[serde(default)]
    pub step_name: String,
    /// 0.0 ..= 1.0 over all steps, by weight.
    pub fraction: f64,
    /// The last checkpoint of the unfinished step.
    #[serde(default)]
    pub checkpoint: Option<String>,
    pub done: bool,
    #[serde(default)]
    pub failed: Option<String>,
    #[serde(default)]
    pub updated: String,
}

/// What `status` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase2Summary {
    pub version: String,
    pub step: usize,
    pub steps: usize,
    pub step_name: String,
    pub fraction: f64,
    pub done: bool,
    pub failed: Option<String>,
    /// One line: progress and, until done, that search is incomplete.
    pub message: String,
}

fn state_path(root: &ApplianceRoot) -> std::path::PathBuf {
    crate::state::phase2(root)
}

fn load(root: &ApplianceRoot) -> crate::state::Loaded<Phase2State> {
    crate::state::read_json(&state_path(root))
}

fn save(root: &ApplianceRoot, st: &mut Phase2State) -> std::io::Result<()> {
    st.updated = crate::appliance::console_log::now_rfc3339();
    crate::state::write_json(&state_path(root), st)
}

/// Why phase 2 stopped; the service manager runs it again, and it resumes.
#[derive(Debug, thiserror::Error)]
pub enum Phase2Error {
    #[error("phase 2 is already running ({0})")]
    AlreadyRunning(nix::errno::Errno),
    #[error("phase 2: {0}; run `upgrade-console phase2` again to resume")]
    StepFailed(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Journal(#[from] crate::upgrade::journal::JournalError),
    #[error(transparent)]
    StagedManifest(#[from] crate::state::StagedManifestError),
}

/// The phase-2 state of the committed firmware, fresh when it has not started.
fn current(
    root: &ApplianceRoot,
) -> Result<Option<(Phase2State, crate::image::manifest::Manifest)>, Phase2Error> {
    let UpgradeState::Committed {
        version, sha256, ..
    } = crate::upgrade::journal::current_state(root)?
    else {
        return Ok(None);
    };
    let manifest = staged_manifest(root, &sha256)?;
    let loaded = load(root);
    if let crate::state::Loaded::Damaged(why) = &loaded {
        // Phase-2 steps resume from a checkpoint or start over; without a readable
        // state they start over, and the log says why.
        log::warn!(
            "phase 2: \"{}\" is damaged ({why}); phase 2 starts again from its first step",
            state_path(root).display()
        );
    }
    let st = match loaded.present() {
        Some(s) if s.sha256 == sha256 => s,
        _ => Phase2State {
            sha256,
            version: version.to_string(),
            steps: manifest.phase2.len(),
            step: 0,
            step_name: manifest
                .phase2
                .first()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            fraction: if manifest.phase2.is_empty() { 1.0 } else { 0.0 },
            checkpoint: None,
            done: manifest.phase2.is_empty(),
            failed: None,
            updated: String::new(),
        },
    };
    Ok(Some((st, manifest)))
}

/// For `status`: phase 2 of the committed firmware, if it has any steps.
pub fn phase2_summary(root: &ApplianceRoot) -> Option<Phase2Summary> {
    let (st, m) = current(root).ok().flatten()?;
    if m.phase2.is_empty() {
        return None;
    }
    let message = if st.done {
        format!("phase 2 of firmware {} is done", st.version)
    } else if let Some(f) = &st.failed {
        format!(
            "phase 2 of firmware {} stopped: {f}; search is incomplete until phase 2 is done (it resumes when the phase2 service restarts)",
            st.version
        )
    } else {
        format!(
            "phase 2 of firmware {}: step {} of {} ({}), {:.0} % done; search is incomplete until phase 2 is done",
            st.version,
            (st.step + 1).min(st.steps),
            st.steps,
            st.step_name,
            st.fraction * 100.0
        )
    };
    Some(Phase2Summary {
        version: st.version,
        step: st.step,
        steps: st.steps,
        step_name: st.step_name,
        fraction: st.fraction,
        done: st.done,
        failed: st.failed,
        message,
    })
}

/// Runs (or resumes) phase 2. Returns the summary; an error when a step failed
/// (the service manager restarts it, and it resumes from the last checkpoint).
pub fn run(root: &ApplianceRoot) -> Result<Option<Phase2Summary>, Phase2Error> {
    run_observed(root, Vec::new())
}

/// `run`, with progress shown to `observers` besides progress.json.
pub fn run_observed(
    root: &ApplianceRoot,
    observers: Vec<Box<dyn Observer + '_>>,
) -> Result<Option<Phase2Summary>, Phase2Error> {
    std::fs::create_dir_all(root.state_dir())?;
    let lock_file = crate::appliance::safe_open::open_lock(&crate::state::phase2_lock(root))?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| Phase2Error::AlreadyRunning(e))?;
    let Some((mut st, manifest)) = current(root)? else {
        log::info!("phase 2: no committed upgrade; nothing to do");
        return Ok(None);
    };
    // A firmware without background migration is done from the start; its first run
    // still records that (phase2.json and a finished progress record), so every
    // console, whichever started it, can say phase 2 is over.
    let nothing_recorded = manifest.phase2.is_empty() && st.updated.is_empty();
    if st.done && !nothing_recorded {
        return Ok(phase2_summary(root));
    }
    st.failed = None;
    let staged = staged_dir(root, &st.sha256);
    let steps = &manifest.phase2;
    let total: f64 = steps.iter().map(|s| s.weight as f64).sum::<f64>().max(1.0);
    // One stage, "phase2", whose steps share it by the manifest's weights; a resumed
    // phase 2 starts where its finished steps end.
    let mut progress = Reporter::new(Operation::Phase2, 1).with(ProgressFile::new(root));
    for o in observers {
        progress.add(o);
    }
    progress.set_safety(false, false);
    progress.begin_step("phase2", 1, steps.iter().map(|s| u64::from(s.weight)).sum());
    progress.skip(
        steps
            .iter()
            .take(st.step)
            .map(|s| u64::from(s.weight))
            .sum(),
    );
    for (k, step) in steps.iter().enumerate().skip(st.step) {
        let base = steps.iter().take(k).map(|s| s.weight as f64).sum::<f64>() / total;
        let span = step.weight as f64 / total;
        st.step = k;
        st.step_name = step.name.clone();
        st.fraction = base;
        save(root, &mut st)?;
        log::info!(
            "phase 2: step {} of {}: {}{}",
            k + 1,
            steps.len(),
            step.name,
            st.checkpoint
                .as_ref()
                .map(|c| format!(" (resuming from checkpoint \"{c}\")"))
                .unwrap_or_default()
        );
        let checkpoint = st.checkpoint.clone();
        progress.begin_step(&step.name, u64::from(step.weight), 1);
        let mut save_err = None;
        let outcome = run_step(
            root,
            &staged,
            step,
            checkpoint.as_deref(),
            &mut |line| match line {
                StepLine::Progress { fraction, text } => {
                    st.fraction = base + span * fraction;
                    let m = text.unwrap_or_else(|| format!("phase 2: {}", step.name));
                    progress.update(fraction, &m);
                }
                StepLine::Checkpoint(c) => {
                    st.checkpoint = Some(c);
                    if let Err(e) = save(root, &mut st) {
                        save_err = Some(e);
                    }
                    killpoint::hit("phase2:checkpoint");
                }
                StepLine::Log(l) | StepLine::Other(l) => log::info!("[{}] {l}", step.name),
            },
        );
        if let Some(e) = save_err {
            log::error!("phase 2: cannot save the checkpoint: {e}");
        }
        let failure = match outcome {
            Ok(o) if o.success => None,
            Ok(o) => Some(format!("step \"{}\" failed ({})", step.name, o.status)),
            Err(e) => Some(format!("step \"{}\" could not run: {e}", step.name)),
        };
        if let Some(f) = failure {
            log::error!("phase 2: {f}");
            st.failed = Some(f.clone());
            save(root, &mut st)?;
            progress.finish(Outcome::Failed, &f);
            return Err(Phase2Error::StepFailed(f));
        }
        st.step = k + 1;
        st.checkpoint = None;
        st.fraction = base + span;
        save(root, &mut st)?;
        killpoint::hit("phase2:step-done");
        progress.end_step();
    }
    st.done = true;
    st.fraction = 1.0;
    save(root, &mut st)?;
    progress.finish(
        Outcome::Done,
        if steps.is_empty() {
            "phase 2 done: this firmware has no background migration"
        } else {
            "phase 2 done"
        },
    );
    log::info!("phase 2: done");
    Ok(phase2_summary(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_says_how_to_resume() {
        let e = Phase2Error::StepFailed("step \"db\" failed (exit status: 3)".into());
        assert_eq!(
            e.to_string(),
            "phase 2: step \"db\" failed (exit status: 3); run `upgrade-console phase2` again to resume"
        );
        assert_eq!(
            Phase2Error::AlreadyRunning(nix::errno::Errno::EWOULDBLOCK).to_string(),
            "phase 2 is already running (EAGAIN: Try again)"
        );
    }
}
