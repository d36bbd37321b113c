//! The two root slots, which one booted, and what each holds (version, payload hash,
//! state), recorded in `var/lib/upgrade-console/slot-status.json`.

use crate::appliance::root::ApplianceRoot;
use crate::image::version::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SlotName {
    A,
    B,
}

impl SlotName {
    pub fn other(self) -> SlotName {
        match self {
            SlotName::A => SlotName::B,
            SlotName::B => SlotName::A,
        }
    }
    pub fn parse(s: &str) -> Option<SlotName> {
        match s {
            "A" | "a" => Some(SlotName::A),
            "B" | "b" => Some(SlotName::B),
            _ => None,
        }
    }
}

impl fmt::Display for SlotName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SlotName::A => "A",
            SlotName::B => "B",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlotState {
    /// Nothing installed, or the contents are unknown.
    Empty,
    /// A payload is being written; the slot must not be booted.
    Writing,
    /// Written and verified; boots once on trial.
    Trial,
    /// Committed: boots normally and is a fallback.
    Good,
    /// Failed its trial or verification.
    Bad,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub state: SlotState,
    #[serde(default)]
    pub version: Option<Version>,
    #[serde(default)]
    pub product: Option<String>,
    /// SHA-256 of the payload in the slot, lower-case hex.
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    /// RFC 3339 time of the last change.
    #[serde(default)]
    pub changed: Option<String>,
}

impl SlotRecord {
    pub fn empty() -> Self {
        SlotRecord {
            state: SlotState::Empty,
            version: None,
            product: None,
            sha256: None,
            size: None,
            changed: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SlotStatus {
    pub slots: BTreeMap<SlotName, SlotRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum SlotStatusError {
    #[error("cannot read slot status \"{path}\": {source}; run the console with the right --root")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "slot status \"{path}\" is damaged ({problem}); restore it from a backup or reinstall the slot record"
    )]
    Corrupt { path: String, problem: String },
    #[error("cannot write slot status \"{path}\": {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl SlotStatus {
    /// The slot status as recorded, or explicitly missing or damaged. The boot phase
    /// decides with this; it never takes a default for a record it cannot read.
    pub fn read(root: &ApplianceRoot) -> crate::state::Loaded<SlotStatus> {
        crate::state::read_json(&crate::state::slot_status(root))
    }

    /// For display and for activation: a missing file is an appliance with nothing
    /// recorded yet (every slot empty); a damaged one is an error.
    pub fn load(root: &ApplianceRoot) -> Result<SlotStatus, SlotStatusError> {
        let path = crate::state::slot_status(root);
        match Self::read(root) {
            crate::state::Loaded::Present(st) => Ok(st),
            crate::state::Loaded::Missing => Ok(SlotStatus::default()),
            crate::state::Loaded::Damaged(problem) => Err(SlotStatusError::Corrupt {
                path: path.display().to_string(),
                problem,
            }),
        }
    }

    pub fn save(&self, root: &ApplianceRoot) -> Result<(), SlotStatusError> {
        let path = crate::state::slot_status(root);
        crate::state::write_json(&path, self).map_err(|source| SlotStatusError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn get(&self, slot: SlotName) -> SlotRecord {
        self.slots
            .get(&slot)
            .cloned()
            .unwrap_or_else(SlotRecord::empty)
    }
}

/// The slot the running system booted from: `upgrade_console.slot=A|B` on the kernel
/// command line (`proc/cmdline` under the root). Without it, slot A.
pub fn booted_slot(root: &ApplianceRoot) -> SlotName {
    std::fs::read_to_string(root.cmdline())
        .ok()
        .and_then(|c| booted_slot_from_cmdline(&c))
        .unwrap_or(SlotName::A)
}

pub fn booted_slot_from_cmdline(cmdline: &str) -> Option<SlotName> {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("upgrade_console.slot="))
        .and_then(SlotName::parse)
}

/// The version of the running firmware (the booted slot's record).
pub fn running_version(root: &ApplianceRoot) -> Result<Option<Version>, SlotStatusError> {
    let st = SlotStatus::load(root)?;
    Ok(st.get(booted_slot(root)).version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_names_the_booted_slot() {
        assert_eq!(
            booted_slot_from_cmdline(
                "BOOT_IMAGE=/vmlinuz quiet upgrade_console.slot=B console=ttyS0"
            ),
            Some(SlotName::B)
        );
        assert_eq!(booted_slot_from_cmdline("quiet"), None);
    }

    #[test]
    fn round_trips() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        let mut st = SlotStatus::default();
        st.slots.insert(
            SlotName::A,
            SlotRecord {
                state: SlotState::Good,
                version: Some("7.0.1".parse().unwrap()),
                ..SlotRecord::empty()
            },
        );
        st.save(&root).unwrap();
        assert_eq!(SlotStatus::load(&root).unwrap(), st);
        assert_eq!(
            running_version(&root).unwrap(),
            Some("7.0.1".parse().unwrap())
        );
    }
}
