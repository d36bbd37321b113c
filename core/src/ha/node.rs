//! What one node of the pair says about itself over the HA link (and what `ha status`
//! shows for this node): role, the firmware it runs ("Current"), the firmware it boots
//! next ("After reboot"), its upgrade state, the HA daemon's health and the hardware.

use crate::appliance::config::{Config, HaRole};
use crate::appliance::root::ApplianceRoot;
use crate::image::version::Version;
use crate::slots::grubenv::GrubEnv;
use crate::slots::slot_status::{SlotStatus, booted_slot};
use serde::{Deserialize, Serialize};

/// The version of the document the link sends (a peer on another firmware may send
/// another; fields are only ever added).
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    pub schema: u32,
    pub hostname: String,
    pub product: String,
    pub role: Option<HaRole>,
    /// The firmware running now.
    pub current: Option<Version>,
    /// The firmware the next boot starts (the armed slot, else the running one).
    pub after_reboot: Option<Version>,
    /// The upgrade state from the node's journal, in one line.
    pub upgrade: String,
    /// Whether the last trial boot was rolled back (the journal's state).
    pub rolled_back: bool,
    /// The HA daemon's state ("ok", "degraded", "syncing", or "unknown: why").
    pub health: String,
    /// The hardware type (DMI product name), "unknown" when it cannot be read.
    pub hardware: String,
    pub sealed: bool,
}

impl NodeState {
    pub fn healthy(&self) -> bool {
        self.health == "ok"
    }
}

/// The hardware type: the DMI product name under the root.
pub fn hardware(root: &ApplianceRoot) -> String {
    std::fs::read_to_string(root.resolve("sys/class/dmi/id/product_name"))
        .ok()
        .map(|s| s.trim().chars().take(80).collect::<String>())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The HA daemon's state from `ha.status_file`.
pub fn health(root: &ApplianceRoot, config: &Config) -> String {
    let Some(file) = config.ha.as_ref().and_then(|h| h.status_file.as_ref()) else {
        return "unknown: ha.status_file is not set".into();
    };
    let bytes = match std::fs::read(root.resolve(file)) {
        Ok(b) => b,
        Err(e) => return format!("unknown: {file}: {e}"),
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) => match v.get("state").and_then(|s| s.as_str()) {
            Some(s) if s.len() <= 40 && s.chars().all(|c| c.is_ascii_graphic()) => s.into(),
            _ => format!("unknown: {file} has no \"state\""),
        },
        Err(e) => format!("unknown: {file} is not JSON: {e}"),
    }
}

/// Gathers this node's state.
pub fn gather(root: &ApplianceRoot, config: &Config) -> NodeState {
    let slots = SlotStatus::load(root).ok();
    let booted = booted_slot(root);
    let current = slots.as_ref().and_then(|s| s.get(booted).version);
    let next = GrubEnv::load(&root.grubenv())
        .map(|e| e.next_boot())
        .unwrap_or(booted);
    let after_reboot = slots.as_ref().and_then(|s| s.get(next).version).or(current);
    let (upgrade, rolled_back) = match crate::upgrade::journal::Journal::open(root) {
        Ok(j) => {
            let st = j.state();
            (
                st.describe(),
                matches!(st, crate::upgrade::journal::UpgradeState::RolledBack { .. }),
            )
        }
        Err(e) => (format!("damaged journal: {e}"), false),
    };
    NodeState {
        schema: SCHEMA,
        hostname: config.appliance.hostname.clone(),
        product: config.appliance.product.clone(),
        role: config.ha.as_ref().map(|h| h.role),
        current,
        after_reboot,
        upgrade,
        rolled_back,
        health: health(root, config),
        hardware: hardware(root),
        sealed: config.appliance.sealed,
    }
}
