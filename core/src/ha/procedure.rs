//! The HA pair's upgrade, run on the primary, as a resumable state machine. Each step
//! is recorded in the journal when it is done (`Event::HaStepDone`), so a console that
//! goes away or a primary that reboots continues where it was: the state is only what
//! the journal says, and every step first looks at the world (IPMI power, the other
//! node's state, this node's journal) so that repeating it after a crash does no harm.
//!
//! The order, from the vendor guides: upgrade test on the primary; the firmware synced
//! to the secondary over the HA link (it verifies, tests and arms it itself); the
//! secondary powered off, and not on again until the primary runs the new firmware;
//! support bundle; the primary activated and rebooted; its boot phase commits; the
//! secondary powered on through IPMI, boots the new firmware and syncs; "activate
//! slave": the roles swap; both nodes show the same Current and After reboot.

use crate::appliance::config::{Config, HaRole};
use crate::appliance::root::ApplianceRoot;
use crate::ha::ipmi::{Ipmi, IpmiError, Power};
use crate::ha::link::{Link, LinkError};
use crate::ha::node::NodeState;
use crate::image::hash_forms::Sha256;
use crate::image::version::Version;
use crate::upgrade::journal::{Event, Journal, UpgradeState};
use crate::upgrade::killpoint;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HaStep {
    UpgradeTest,
    SyncToSecondary,
    SecondaryOff,
    SupportBundle,
    ActivatePrimary,
    RebootPrimary,
    SecondaryOn,
    SecondarySynced,
    SwapRoles,
    VersionsEqual,
}

pub const STEPS: [HaStep; 10] = [
    HaStep::UpgradeTest,
    HaStep::SyncToSecondary,
    HaStep::SecondaryOff,
    HaStep::SupportBundle,
    HaStep::ActivatePrimary,
    HaStep::RebootPrimary,
    HaStep::SecondaryOn,
    HaStep::SecondarySynced,
    HaStep::SwapRoles,
    HaStep::VersionsEqual,
];

impl HaStep {
    pub fn name(self) -> &'static str {
        match self {
            HaStep::UpgradeTest => "upgrade-test",
            HaStep::SyncToSecondary => "sync-to-secondary",
            HaStep::SecondaryOff => "secondary-off",
            HaStep::SupportBundle => "support-bundle",
            HaStep::ActivatePrimary => "activate-primary",
            HaStep::RebootPrimary => "reboot-primary",
            HaStep::SecondaryOn => "secondary-on",
            HaStep::SecondarySynced => "secondary-synced",
            HaStep::SwapRoles => "swap-roles",
            HaStep::VersionsEqual => "versions-equal",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            HaStep::UpgradeTest => "Upgrade test on the primary",
            HaStep::SyncToSecondary => "Firmware to the secondary over the HA link",
            HaStep::SecondaryOff => "Power the secondary off (IPMI)",
            HaStep::SupportBundle => "Support bundle of the primary",
            HaStep::ActivatePrimary => "Activate the firmware on the primary",
            HaStep::RebootPrimary => "Reboot the primary; its boot phase commits",
            HaStep::SecondaryOn => "Power the secondary on (IPMI)",
            HaStep::SecondarySynced => "Secondary boots the new firmware and syncs",
            HaStep::SwapRoles => "Activate slave: swap the roles",
            HaStep::VersionsEqual => "Current and After reboot equal on both nodes",
        }
    }

    /// What the step changes that cannot be taken back, said before it runs.
    pub fn cannot_undo(self) -> &'static str {
        match self {
            HaStep::UpgradeTest | HaStep::SupportBundle | HaStep::VersionsEqual => {
                "nothing: it only reads"
            }
            HaStep::SyncToSecondary => {
                "nothing on the running firmware: the secondary writes its inactive slot and arms it for its next boot"
            }
            HaStep::SecondaryOff => {
                "the pair runs on the primary alone until the secondary is powered on again"
            }
            HaStep::ActivatePrimary => {
                "nothing on the running firmware: the primary's inactive slot is written and armed"
            }
            HaStep::RebootPrimary => {
                "the primary's service stops until it is up again; once an irreversible migration step runs, there is no way back to the old firmware"
            }
            HaStep::SecondaryOn => {
                "the secondary boots the new firmware; once its migration passes the point of no return it cannot go back"
            }
            HaStep::SecondarySynced => "nothing: it waits",
            HaStep::SwapRoles => {
                "the secondary becomes the primary and serves; this node becomes the secondary"
            }
        }
    }

    /// Whether the secondary may be powered on once this step is done: not from its
    /// shutdown until the primary runs the new firmware committed (the reboot step
    /// is done only then).
    pub fn secondary_may_power_on(self) -> bool {
        !matches!(
            self,
            HaStep::SecondaryOff | HaStep::SupportBundle | HaStep::ActivatePrimary
        )
    }

    /// Steps that change power or roles, or reboot: asked before, on every front end.
    pub fn needs_confirmation(self) -> bool {
        matches!(
            self,
            HaStep::SecondaryOff | HaStep::RebootPrimary | HaStep::SecondaryOn | HaStep::SwapRoles
        )
    }

    pub fn parse(s: &str) -> Option<HaStep> {
        STEPS.iter().copied().find(|x| x.name() == s)
    }
}

impl std::fmt::Display for HaStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The procedure as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HaProgress {
    pub version: Version,
    pub iso_sha256: String,
    pub payload_sha256: String,
    pub iso: String,
    pub peer: String,
    pub done: Vec<HaStep>,
    /// The last stop: at which step, and why.
    pub stopped: Option<(HaStep, String)>,
    /// The procedure was given up (`ha abandon`) before anything irreversible.
    pub abandoned: bool,
}

impl HaProgress {
    pub fn next(&self) -> Option<HaStep> {
        STEPS.iter().copied().find(|s| !self.done.contains(s))
    }

    pub fn finished(&self) -> bool {
        self.next().is_none()
    }

    /// Whether the secondary may be powered on now, by hand.
    pub fn secondary_may_power_on(&self) -> bool {
        self.done
            .iter()
            .copied()
            .max()
            .is_none_or(|s| s.secondary_may_power_on())
    }
}

/// The last HA procedure in the journal (finished or not), if any.
pub fn progress(journal: &Journal) -> Option<HaProgress> {
    let mut p: Option<HaProgress> = None;
    for r in journal.records() {
        match &r.event {
            Event::HaStarted {
                version,
                iso_sha256,
                payload_sha256,
                iso,
                peer,
            } => {
                p = Some(HaProgress {
                    version: *version,
                    iso_sha256: iso_sha256.clone(),
                    payload_sha256: payload_sha256.clone(),
                    iso: iso.clone(),
                    peer: peer.clone(),
                    done: vec![],
                    stopped: None,
                    abandoned: false,
                })
            }
            Event::HaStepDone { step } => {
                if let Some(p) = p.as_mut()
                    && !p.done.contains(step)
                {
                    p.done.push(*step);
                    p.stopped = None;
                }
            }
            Event::HaStopped { step, reason } => {
                if let Some(p) = p.as_mut() {
                    p.stopped = Some((*step, reason.clone()));
                }
            }
            Event::HaAbandoned { .. } => {
                if let Some(p) = p.as_mut() {
                    p.abandoned = true;
                }
            }
            _ => {}
        }
    }
    p
}

#[derive(Debug, thiserror::Error)]
pub enum HaError {
    #[error("{0}")]
    Config(String),
    /// A precondition or a step said no; nothing more was changed.
    #[error("{step}: {reason}")]
    Stopped { step: HaStep, reason: String },
    /// The operator said no at a confirmation.
    #[error("{0}: not confirmed; nothing was changed by this step")]
    NotConfirmed(HaStep),
    #[error("the journal: {0}")]
    Journal(#[from] crate::upgrade::journal::JournalError),
}

impl HaError {
    pub fn is_refusal(&self) -> bool {
        !matches!(self, HaError::Journal(_))
    }
}

/// What a front end sees of the procedure while it runs.
pub trait HaObserver {
    /// A step begins; `safety` says what cannot be undone and about the secondary.
    fn step(&mut self, step: HaStep, index: usize, safety: &str);
    fn note(&mut self, message: &str);
    fn progress(&mut self, _done: u64, _total: u64) {}
    /// Asked before power and role changes and the reboot; false stops the procedure.
    fn confirm(&mut self, step: HaStep, question: &str) -> bool;
}

/// How the procedure is started.
pub struct Start<'a> {
    /// The image, with its published hash; None resumes the recorded procedure.
    pub image: Option<(&'a Path, Sha256)>,
    /// Stop after one step (the console runs the procedure step by step).
    pub one_step: bool,
}

/// Figures of one run, for the report and the benchmark.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    pub ipmi_calls: Vec<(String, f64)>,
    pub link_image_bytes: Option<u64>,
    pub link_seconds: Option<f64>,
    pub steps: Vec<(String, f64)>,
}

/// What the procedure reached.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub progress: HaProgress,
    pub figures: Figures,
    /// The primary is rebooting into the new firmware (a real machine): the procedure
    /// continues after the boot.
    pub rebooting: bool,
}

struct Run<'a> {
    root: &'a ApplianceRoot,
    config: Config,
    ipmi: Ipmi,
    link: Link,
    obs: &'a mut dyn HaObserver,
    figures: Figures,
    target: HaProgress,
}

fn stop(step: HaStep, reason: impl Into<String>) -> HaError {
    HaError::Stopped {
        step,
        reason: reason.into(),
    }
}

pub fn ipmi_for(root: &ApplianceRoot, config: &Config) -> Result<Ipmi, HaError> {
    let ha = config.ha.as_ref().ok_or_else(|| {
        HaError::Config(format!(
            "this node is not part of an HA pair: there is no [ha] section in \"{}\"",
            root.config_file().display()
        ))
    })?;
    let bmc = ha.bmc.as_ref().ok_or_else(|| {
        HaError::Config(format!(
            "ha.bmc is not set in \"{}\": the secondary can only be powered on again through its IPMI interface; set ha.bmc (host, user, password_file)",
            root.config_file().display()
        ))
    })?;
    Ipmi::from_config(root, bmc).map_err(|e| HaError::Config(e.to_string()))
}

/// Runs (or resumes) the HA upgrade on this node, the primary.
pub fn run(
    root: &ApplianceRoot,
    start: Start<'_>,
    obs: &mut dyn HaObserver,
) -> Result<Outcome, HaError> {
    let config = Config::load(root).map_err(|e| HaError::Config(e.to_string()))?;
    let ha = config.ha.clone().ok_or_else(|| {
        HaError::Config(format!(
            "this node is not part of an HA pair: there is no [ha] section in \"{}\"",
            root.config_file().display()
        ))
    })?;
    let ipmi = ipmi_for(root, &config)?;
    let link = Link::new(root, &ha).map_err(|e| HaError::Config(e.to_string()))?;
    let journal = Journal::open(root)?;
    let recorded = progress(&journal).filter(|p| !p.finished() && !p.abandoned);
    let target = match (recorded, start.image) {
        (Some(p), None) => p,
        (Some(p), Some((iso, sha))) => {
            if hex::encode(sha) != p.iso_sha256 {
                return Err(HaError::Config(format!(
                    "an HA upgrade to firmware {} (image {}) is under way, next step \"{}\"; finish it first with `{} ha upgrade` (no image), or give it up with `ha abandon` if the secondary has not been powered off yet",
                    p.version,
                    p.iso,
                    p.next().map(|s| s.name()).unwrap_or("none"),
                    root.command()
                )));
            }
            HaProgress {
                iso: iso
                    .canonicalize()
                    .unwrap_or_else(|_| iso.to_path_buf())
                    .display()
                    .to_string(),
                ..p
            }
        }
        (None, None) => {
            return Err(HaError::Config(format!(
                "no HA upgrade is under way: start one with `{} ha upgrade ISO`",
                root.command()
            )));
        }
        (None, Some((iso, sha))) => {
            if ha.role != HaRole::Primary {
                return Err(HaError::Config(format!(
                    "this node is the secondary (ha.role in \"{}\"); run the HA upgrade on the primary, {}",
                    root.config_file().display(),
                    ha.peer
                )));
            }
            let image = crate::image::iso::FirmwareImage::open(iso)
                .map_err(|e| HaError::Config(e.to_string()))?;
            let m = &image.manifest;
            // Recorded absolute: a resume may run from another directory.
            let iso = iso.canonicalize().unwrap_or_else(|_| iso.to_path_buf());
            let p = HaProgress {
                version: m.firmware.version,
                iso_sha256: hex::encode(sha),
                payload_sha256: m.payload.sha256.to_ascii_lowercase(),
                iso: iso.display().to_string(),
                peer: ha.peer.to_string(),
                done: vec![],
                stopped: None,
                abandoned: false,
            };
            // Nothing is recorded before the preconditions hold.
            let mut r = Run {
                root,
                config: config.clone(),
                ipmi,
                link,
                obs,
                figures: Figures::default(),
                target: p.clone(),
            };
            r.preconditions()?;
            crate::upgrade::journal::append(
                root,
                Event::HaStarted {
                    version: p.version,
                    iso_sha256: p.iso_sha256.clone(),
                    payload_sha256: p.payload_sha256.clone(),
                    iso: p.iso.clone(),
                    peer: p.peer.clone(),
                },
            )?;
            killpoint::hit("ha-started");
            return r.go(start.one_step);
        }
    };
    let r = Run {
        root,
        config,
        ipmi,
        link,
        obs,
        figures: Figures::default(),
        target,
    };
    r.go(start.one_step)
}

impl Run<'_> {
    fn iso(&self) -> PathBuf {
        PathBuf::from(&self.target.iso)
    }

    fn done(&mut self, step: HaStep) -> Result<(), HaError> {
        crate::upgrade::journal::append(self.root, Event::HaStepDone { step })?;
        self.target.done.push(step);
        self.target.stopped = None;
        killpoint::hit("ha-step");
        Ok(())
    }

    fn record_stop(&mut self, err: &HaError) {
        if let HaError::Stopped { step, reason } = err {
            log::error!("ha upgrade: {step}: {reason}");
            let _ = crate::upgrade::journal::append(
                self.root,
                Event::HaStopped {
                    step: *step,
                    reason: reason.clone(),
                },
            );
            self.target.stopped = Some((*step, reason.clone()));
        }
    }

    fn power(&mut self, step: HaStep) -> Result<Power, HaError> {
        let t = self.ipmi.power_status().map_err(|e| ipmi_stop(step, e))?;
        self.figures
            .ipmi_calls
            .push(("power status".into(), t.elapsed.as_secs_f64()));
        Ok(t.value)
    }

    fn peer(&self, step: HaStep) -> Result<NodeState, HaError> {
        self.link.state().map_err(|e| link_stop(step, e))
    }

    /// What must hold before anything is changed: IPMI answers with the configured
    /// credentials, the other node answers on the link as the healthy secondary on
    /// the same hardware and firmware as this node, and this node is healthy.
    fn preconditions(&mut self) -> Result<(), HaError> {
        let step = HaStep::UpgradeTest;
        let power = self.power(step)?;
        if power != Power::On {
            return Err(stop(
                step,
                format!(
                    "IPMI ({}) says the secondary is powered off; power it on and let it sync before the upgrade",
                    self.ipmi.target()
                ),
            ));
        }
        let me = crate::ha::node::gather(self.root, &self.config);
        let peer = self.peer(step)?;
        check_pair(&me, &peer).map_err(|why| stop(step, why))
    }

    fn go(mut self, one_step: bool) -> Result<Outcome, HaError> {
        let mut rebooting = false;
        while let Some(step) = self.target.next() {
            let index = STEPS.iter().position(|s| *s == step).unwrap_or(0);
            let safety = format!(
                "cannot be undone: {}; the secondary {} be powered on after this step",
                step.cannot_undo(),
                if step.secondary_may_power_on() {
                    "may"
                } else {
                    "must NOT"
                }
            );
            self.obs.step(step, index, &safety);
            let started = Instant::now();
            killpoint::hit(&format!("ha-before-{}", step.name()));
            let r = self.one(step);
            match r {
                Ok(StepEnd::Done) => {
                    self.figures
                        .steps
                        .push((step.name().into(), started.elapsed().as_secs_f64()));
                    self.done(step)?;
                }
                Ok(StepEnd::Rebooting) => {
                    rebooting = true;
                    break;
                }
                Err(e) => {
                    self.record_stop(&e);
                    return Err(e);
                }
            }
            if one_step {
                break;
            }
        }
        Ok(Outcome {
            progress: self.target.clone(),
            figures: self.figures,
            rebooting,
        })
    }

    fn confirm(&mut self, step: HaStep, question: String) -> Result<(), HaError> {
        if self.obs.confirm(step, &question) {
            Ok(())
        } else {
            Err(HaError::NotConfirmed(step))
        }
    }

    fn one(&mut self, step: HaStep) -> Result<StepEnd, HaError> {
        let v = self.target.version;
        match step {
            HaStep::UpgradeTest => self.upgrade_test(),
            HaStep::SyncToSecondary => self.sync(),
            HaStep::SecondaryOff => self.secondary_off(),
            HaStep::SupportBundle => {
                let path = crate::support::bundle::write_bundle(self.root, None)
                    .map_err(|e| stop(step, e.to_string()))?;
                self.obs.note(&format!(
                    "support bundle of the primary: {}",
                    path.display()
                ));
                Ok(StepEnd::Done)
            }
            HaStep::ActivatePrimary => self.activate(),
            HaStep::RebootPrimary => self.reboot(),
            HaStep::SecondaryOn => {
                if self.power(step)? == Power::On {
                    self.obs.note("the secondary is already powered on");
                    return Ok(StepEnd::Done);
                }
                self.confirm(
                    step,
                    format!(
                        "The primary runs firmware {v}. Power the secondary on through IPMI ({})? It boots firmware {v} and syncs.",
                        self.ipmi.target()
                    ),
                )?;
                let t = self.ipmi.power_on().map_err(|e| ipmi_stop(step, e))?;
                self.figures
                    .ipmi_calls
                    .push(("power on".into(), t.elapsed.as_secs_f64()));
                Ok(StepEnd::Done)
            }
            HaStep::SecondarySynced => self.secondary_synced(),
            HaStep::SwapRoles => self.swap_roles(),
            HaStep::VersionsEqual => {
                let me = crate::ha::node::gather(self.root, &self.config);
                let peer = self.peer(step)?;
                for n in [&me, &peer] {
                    if n.current != Some(v) || n.after_reboot != Some(v) {
                        return Err(stop(
                            step,
                            format!(
                                "{} shows Current {} and After reboot {}, not {v} for both",
                                n.hostname,
                                show(n.current),
                                show(n.after_reboot)
                            ),
                        ));
                    }
                }
                self.obs.note(&format!(
                    "both nodes run firmware {v} (Current and After reboot); {} is the primary now",
                    peer.hostname
                ));
                self.obs.note("Now upgrade the Safeguard Desktop Player installations, the external indexers and the plugins to the versions for this firmware.");
                Ok(StepEnd::Done)
            }
        }
    }

    fn upgrade_test(&mut self) -> Result<StepEnd, HaError> {
        let step = HaStep::UpgradeTest;
        let iso = self.iso();
        let expected: Sha256 = hex::decode(&self.target.iso_sha256)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| stop(step, "the recorded image hash is damaged"))?;
        let obs = &mut *self.obs;
        let (image, report) =
            crate::image::verify::verify_image(self.root, &iso, &expected, &mut |d, t| {
                obs.progress(d, t)
            })
            .map_err(|e| stop(step, e.to_string()))?;
        if !report.ok() {
            let why = if !report.image_ok {
                format!(
                    "the image's SHA-256 is {}, not the published {}; download it again",
                    report.image_sha256, report.expected_sha256
                )
            } else if !report.payload_ok {
                "the payload inside the image does not match its manifest; the image is damaged: download it again".into()
            } else {
                format!(
                    "the vendor signature was refused: {}",
                    report.signature_error.unwrap_or_default()
                )
            };
            return Err(stop(step, why));
        }
        crate::upgrade::journal::record_verified(
            self.root,
            &iso,
            &report.image_sha256,
            &image.manifest,
        )?;
        let test = crate::check::upgrade_test(self.root, &self.config, &image)
            .map_err(|e| stop(step, e.to_string()))?;
        if !test.passed() {
            let list: Vec<String> = test
                .findings()
                .filter(|f| f.severity == crate::check::finding::Severity::Blocker)
                .map(|f| format!("{}: {} ({})", f.rule, f.message, f.fix))
                .collect();
            return Err(stop(
                step,
                format!(
                    "the upgrade test found {} blocker(s): {}",
                    list.len(),
                    list.join("; ")
                ),
            ));
        }
        crate::upgrade::journal::record_check_passed(
            self.root,
            &iso,
            Some(&report.image_sha256),
            &image.manifest,
        )?;
        self.obs.note(&format!(
            "upgrade test passed for firmware {} ({} warning(s))",
            image.manifest.firmware.version,
            test.warnings()
        ));
        Ok(StepEnd::Done)
    }

    fn sync(&mut self) -> Result<StepEnd, HaError> {
        let step = HaStep::SyncToSecondary;
        let v = self.target.version;
        let peer = self.peer(step)?;
        if peer.after_reboot == Some(v) && peer.current != Some(v) {
            self.obs
                .note("the secondary already holds the new firmware for its next boot");
            return Ok(StepEnd::Done);
        }
        let iso = self.iso();
        let size = std::fs::metadata(&iso).map(|m| m.len()).unwrap_or(0);
        let ha = self
            .config
            .ha
            .as_ref()
            .map(|h| h.sync_timeout_s)
            .unwrap_or(60);
        // The guides' 60 s is for the sync itself; a big image on a slow link gets
        // its transfer time (at 10 MB/s) on top.
        let limit = Duration::from_secs(ha + size / 10_000_000);
        let obs = &mut *self.obs;
        let t = self
            .link
            .send_image(&iso, &self.target.iso_sha256, limit, &mut |d, t| {
                obs.progress(d, t)
            })
            .map_err(|e| link_stop(step, e))?;
        self.figures.link_image_bytes = Some(t.image_bytes);
        self.figures.link_seconds = Some(t.seconds);
        if t.received.version != v || t.received.state.after_reboot != Some(v) {
            return Err(stop(
                step,
                format!(
                    "the secondary received the image but shows After reboot {}, not {v}",
                    show(t.received.state.after_reboot)
                ),
            ));
        }
        self.obs.note(&format!(
            "the secondary verified firmware {v} and armed slot {} ({} bytes in {:.1} s)",
            t.received.slot, t.image_bytes, t.seconds
        ));
        Ok(StepEnd::Done)
    }

    fn secondary_off(&mut self) -> Result<StepEnd, HaError> {
        let step = HaStep::SecondaryOff;
        if self.power(step)? == Power::Off {
            self.obs.note("the secondary is already powered off");
            return Ok(StepEnd::Done);
        }
        self.confirm(
            step,
            format!(
                "Shut the secondary down through IPMI ({})? Do NOT power it on again until this procedure says so.",
                self.ipmi.target()
            ),
        )?;
        let t = self.ipmi.soft_shutdown().map_err(|e| ipmi_stop(step, e))?;
        self.figures
            .ipmi_calls
            .push(("power soft".into(), t.elapsed.as_secs_f64()));
        let limit = Duration::from_secs(
            self.config
                .ha
                .as_ref()
                .map(|h| h.power_timeout_s)
                .unwrap_or(300),
        );
        if self.wait_power(step, Power::Off, limit)? {
            return Ok(StepEnd::Done);
        }
        self.obs.note(&format!(
            "the secondary did not shut down within {} s: cutting its power",
            limit.as_secs()
        ));
        let t = self.ipmi.power_off().map_err(|e| ipmi_stop(step, e))?;
        self.figures
            .ipmi_calls
            .push(("power off".into(), t.elapsed.as_secs_f64()));
        if self.wait_power(step, Power::Off, Duration::from_secs(30))? {
            return Ok(StepEnd::Done);
        }
        Err(stop(
            step,
            format!(
                "IPMI ({}) still reports the secondary powered on; power it off at the machine and run the procedure again",
                self.ipmi.target()
            ),
        ))
    }

    fn wait_power(&mut self, step: HaStep, want: Power, limit: Duration) -> Result<bool, HaError> {
        let deadline = Instant::now() + limit;
        loop {
            if self.power(step)? == want {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn activate(&mut self) -> Result<StepEnd, HaError> {
        let step = HaStep::ActivatePrimary;
        let state = crate::upgrade::journal::current_state(self.root)?;
        match &state {
            UpgradeState::Activated { target } if target.sha256 == self.target.payload_sha256 => {
                self.obs.note("the primary's new slot is already armed");
                return Ok(StepEnd::Done);
            }
            UpgradeState::Committed { sha256, .. } if *sha256 == self.target.payload_sha256 => {
                return Ok(StepEnd::Done);
            }
            _ => {}
        }
        let plan = crate::upgrade::activate::prepare(self.root, &self.config, &self.iso())
            .map_err(|e| stop(step, e.to_string()))?;
        self.obs.note(&plan.describe());
        let r = crate::upgrade::activate::run(self.root, &plan, crate::slots::slot_io::CHUNK)
            .map_err(|e| stop(step, e.to_string()))?;
        self.obs.note(&format!(
            "slot {} holds firmware {}, read back and verified; it boots once after the reboot",
            r.slot, r.version
        ));
        Ok(StepEnd::Done)
    }

    fn reboot(&mut self) -> Result<StepEnd, HaError> {
        let step = HaStep::RebootPrimary;
        let v = self.target.version;
        let state = crate::upgrade::journal::current_state(self.root)?;
        match state {
            UpgradeState::Committed {
                version, sha256, ..
            } if version == v && sha256 == self.target.payload_sha256 => {
                self.obs
                    .note(&format!("the primary runs firmware {v}, committed"));
                Ok(StepEnd::Done)
            }
            UpgradeState::RolledBack { reason, to, .. } => Err(stop(
                step,
                format!(
                    "the primary's boot of firmware {v} failed and it rolled back to slot {to} ({reason}). LEAVE THE SECONDARY POWERED OFF for now: it holds firmware {v} for its next boot. To bring the pair back on the old firmware, run `{} ha restore`: it powers the secondary on, whose boot phase sees that its primary runs the old firmware and rolls back too. Create a support bundle and contact support.",
                    self.root.command()
                ),
            )),
            UpgradeState::Activated { target } if target.sha256 == self.target.payload_sha256 => {
                self.confirm(
                    step,
                    format!(
                        "Reboot the primary into firmware {v} now? Its service stops during the boot phase (phase 1 can take 10-20 minutes); do not power it off meanwhile."
                    ),
                )?;
                if crate::upgrade::reboot::is_simulated(self.root) {
                    self.obs.note("rebooting (simulated: the boot runs here)");
                    crate::upgrade::simulate::SimulatedReboot::default()
                        .power_up(self.root)
                        .map_err(|e| stop(step, e.to_string()))?;
                    // Judge what the boot left.
                    return self.reboot();
                }
                self.obs.note(
                    "rebooting; after the boot, run `ha upgrade` again (the console offers it) to go on",
                );
                use crate::upgrade::reboot::Reboot;
                crate::upgrade::reboot::MachineReboot
                    .reboot(self.root)
                    .map_err(|e| stop(step, e.to_string()))?;
                Ok(StepEnd::Rebooting)
            }
            UpgradeState::Trial { .. } | UpgradeState::PointOfNoReturn { .. } => Err(stop(
                step,
                "the boot phase of the new firmware has not finished; let it finish, then run the HA upgrade again",
            )),
            other => Err(stop(
                step,
                format!(
                    "the primary is not armed with firmware {v}: {}; run the HA upgrade again from activation after support has looked at it",
                    other.describe()
                ),
            )),
        }
    }

    fn secondary_synced(&mut self) -> Result<StepEnd, HaError> {
        let step = HaStep::SecondarySynced;
        let v = self.target.version;
        let limit = Duration::from_secs(
            self.config
                .ha
                .as_ref()
                .map(|h| h.boot_timeout_s)
                .unwrap_or(3600),
        );
        let deadline = Instant::now() + limit;
        let mut last;
        let mut said = String::new();
        loop {
            match self.link.state() {
                Ok(p) => {
                    if p.current == Some(v) && p.healthy() {
                        self.obs.note(&format!(
                            "the secondary runs firmware {v} and the pair is in sync"
                        ));
                        return Ok(StepEnd::Done);
                    }
                    if p.current != Some(v) && p.rolled_back {
                        return Err(stop(
                            step,
                            format!(
                                "the secondary did not boot firmware {v}: it rolled back to {} ({}). The primary runs {v} and keeps its role; the pair runs different versions. Create a support bundle on the secondary and contact support; the HA upgrade goes on from here once the secondary holds {v} again",
                                show(p.current),
                                p.upgrade
                            ),
                        ));
                    }
                    last = format!(
                        "the secondary answers: Current {}, HA state {}",
                        show(p.current),
                        p.health
                    );
                }
                Err(e @ LinkError::Auth { .. }) => return Err(link_stop(step, e)),
                Err(e) => last = e.to_string(),
            }
            if last != said {
                self.obs.note(&last);
                said = last.clone();
            }
            if Instant::now() >= deadline {
                return Err(stop(
                    step,
                    format!(
                        "the secondary did not run firmware {v} in sync within {} s ({last}); check its console, then run the HA upgrade again to go on waiting",
                        limit.as_secs()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn swap_roles(&mut self) -> Result<StepEnd, HaError> {
        let step = HaStep::SwapRoles;
        let peer = self.peer(step)?;
        let mine = self.config.ha.as_ref().map(|h| h.role);
        if peer.role == Some(HaRole::Primary) && mine == Some(HaRole::Secondary) {
            return Ok(StepEnd::Done);
        }
        if peer.role != Some(HaRole::Primary) {
            self.confirm(
                step,
                format!(
                    "Activate slave: make {} the primary and this node ({}) the secondary?",
                    peer.hostname, self.config.appliance.hostname
                ),
            )?;
            let after = self
                .link
                .set_role(HaRole::Primary)
                .map_err(|e| link_stop(step, e))?;
            if after.role != Some(HaRole::Primary) {
                return Err(stop(step, "the secondary did not take the primary role"));
            }
        }
        killpoint::hit("ha-swap-half");
        crate::ha::role::set(self.root, HaRole::Secondary).map_err(|e| stop(step, e))?;
        self.config = Config::load(self.root).map_err(|e| HaError::Config(e.to_string()))?;
        self.obs.note(&format!(
            "{} is the primary now; this node is the secondary",
            peer.hostname
        ));
        Ok(StepEnd::Done)
    }
}

enum StepEnd {
    Done,
    Rebooting,
}

fn show(v: Option<Version>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "unknown".into())
}

fn ipmi_stop(step: HaStep, e: IpmiError) -> HaError {
    stop(
        step,
        format!("IPMI: {e}; nothing was changed by this step: fix it and run the HA upgrade again"),
    )
}

fn link_stop(step: HaStep, e: LinkError) -> HaError {
    stop(
        step,
        format!("{e}; run the HA upgrade again once the link works"),
    )
}

/// The pair may be upgraded: both healthy, same product, hardware and firmware, the
/// other node is the secondary and in no upgrade of its own.
pub fn check_pair(me: &NodeState, peer: &NodeState) -> Result<(), String> {
    if peer.role != Some(HaRole::Secondary) {
        return Err(format!(
            "the other node ({}) has role {}, not secondary; the pair's roles are inconsistent: fix ha.role",
            peer.hostname,
            peer.role.map(crate::ha::link::role_name).unwrap_or("none")
        ));
    }
    if peer.product != me.product {
        return Err(format!(
            "the other node is a \"{}\" appliance, this one \"{}\"",
            peer.product, me.product
        ));
    }
    if me.hardware == "unknown" || peer.hardware != me.hardware {
        return Err(format!(
            "the nodes are not the same hardware type (this node: {}, the other: {}); an HA pair must be two of the same model",
            me.hardware, peer.hardware
        ));
    }
    for (who, n) in [("this node", me), ("the other node", peer)] {
        if !n.healthy() {
            return Err(format!(
                "the HA state on {who} ({}) is \"{}\", not ok: bring the pair back to a healthy, synchronised state first",
                n.hostname, n.health
            ));
        }
    }
    if peer.current != me.current {
        return Err(format!(
            "the nodes run different firmware (this node {}, the other {}); bring the secondary to this node's firmware first",
            show(me.current),
            show(peer.current)
        ));
    }
    if peer.after_reboot != peer.current || me.after_reboot != me.current {
        return Err(format!(
            "a firmware is already armed for the next boot (this node: {}, the other: {}); finish or cancel that activation first",
            show(me.after_reboot),
            show(peer.after_reboot)
        ));
    }
    if peer.sealed {
        return Err(
            "the other node is sealed: its HA link (SSH) stays off; unseal it for the upgrade"
                .into(),
        );
    }
    Ok(())
}

/// `ha restore`: after the primary rolled back, brings the pair back on the old
/// firmware: powers the secondary on (its boot phase declines the new firmware, as
/// its primary runs the old one) and waits until it answers on the old firmware.
pub fn restore(root: &ApplianceRoot, obs: &mut dyn HaObserver) -> Result<NodeState, HaError> {
    let config = Config::load(root).map_err(|e| HaError::Config(e.to_string()))?;
    let ha = config
        .ha
        .clone()
        .ok_or_else(|| HaError::Config("this node has no [ha] section".into()))?;
    let journal = Journal::open(root)?;
    let p = progress(&journal).filter(|p| !p.finished() && !p.abandoned);
    let step = HaStep::SecondaryOn;
    let Some(p) = p else {
        return Err(HaError::Config(
            "no HA upgrade is under way: nothing to restore".into(),
        ));
    };
    if !matches!(journal.state(), UpgradeState::RolledBack { .. }) {
        return Err(HaError::Config(format!(
            "the primary did not roll back ({}); `ha restore` is only for a primary that rolled back: go on with `ha upgrade`",
            journal.state().describe()
        )));
    }
    let ipmi = ipmi_for(root, &config)?;
    let link = Link::new(root, &ha).map_err(|e| HaError::Config(e.to_string()))?;
    let me = crate::ha::node::gather(root, &config);
    if ipmi.power_status().map_err(|e| ipmi_stop(step, e))?.value == Power::Off {
        if !obs.confirm(
            step,
            &format!(
                "Power the secondary on? It is armed with firmware {} but its primary runs {}: its boot phase rolls back to {} before changing anything.",
                p.version,
                show(me.current),
                show(me.current)
            ),
        ) {
            return Err(HaError::NotConfirmed(step));
        }
        ipmi.power_on().map_err(|e| ipmi_stop(step, e))?;
    }
    let deadline = Instant::now() + Duration::from_secs(ha.boot_timeout_s);
    loop {
        if let Ok(peer) = link.state()
            && peer.current == me.current
            && peer.after_reboot == me.current
        {
            crate::upgrade::journal::append(
                root,
                Event::HaAbandoned {
                    reason: format!(
                        "the primary rolled back; the pair is back on firmware {}",
                        show(me.current)
                    ),
                },
            )?;
            obs.note(&format!(
                "the pair is back on firmware {} on both nodes; the HA upgrade is closed",
                show(me.current)
            ));
            return Ok(peer);
        }
        if Instant::now() >= deadline {
            return Err(stop(
                step,
                format!(
                    "the secondary did not come back on firmware {} within {} s; check its console",
                    show(me.current),
                    ha.boot_timeout_s
                ),
            ));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `ha abandon`: gives up an HA upgrade that has not yet powered the secondary off
/// (before that, nothing of it changes the running pair).
pub fn abandon(root: &ApplianceRoot) -> Result<HaProgress, HaError> {
    let journal = Journal::open(root)?;
    let Some(p) = progress(&journal).filter(|p| !p.finished() && !p.abandoned) else {
        return Err(HaError::Config("no HA upgrade is under way".into()));
    };
    if p.done.contains(&HaStep::SecondaryOff) {
        return Err(HaError::Config(format!(
            "the secondary was powered off for this upgrade (next step \"{}\"): it can no longer be given up; go on with `ha upgrade`",
            p.next().map(|s| s.name()).unwrap_or("none")
        )));
    }
    crate::upgrade::journal::append(
        root,
        Event::HaAbandoned {
            reason: "given up by the operator before the secondary was powered off".into(),
        },
    )?;
    Ok(p)
}
