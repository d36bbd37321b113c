//! The live state of the running operation (activate, boot phase, phase 2, recovery),
//! in `var/lib/upgrade-console/progress.json`. The process doing the work writes it;
//! the console, the boot log server and `status` read it. Because the work and its
//! readers only meet in this file, a console that goes away (serial line hung up)
//! never stops the work, and a new console picks up where the old one was.

use crate::appliance::durable::write_atomic;
use crate::appliance::root::ApplianceRoot;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Progress {
    /// "activate", "boot", "phase2", "recover".
    pub operation: String,
    /// Coarse stage within the operation, e.g. "write", "read-back", "phase1", "commit".
    pub stage: String,
    /// The named step running now (a migration step's name, say).
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
    /// Set when the operation ended: "done", "failed", "rolled-back", "recovery".
    #[serde(default)]
    pub outcome: Option<String>,
}

impl Progress {
    pub fn path(root: &ApplianceRoot) -> PathBuf {
        root.state_dir().join("progress.json")
    }

    /// The last written progress, if any (a damaged file reads as none).
    pub fn load(root: &ApplianceRoot) -> Option<Progress> {
        let text = std::fs::read_to_string(Self::path(root)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes this progress atomically, stamping the time and pid.
    pub fn save(&mut self, root: &ApplianceRoot) -> std::io::Result<()> {
        self.updated = crate::appliance::console_log::now_rfc3339();
        self.pid = std::process::id();
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        write_atomic(&Self::path(root), &bytes)
    }
}
