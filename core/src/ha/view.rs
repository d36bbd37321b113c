//! The pair at a glance, for `ha status` and the console's HA screen: both nodes,
//! the other node's power from its BMC, the link, and the HA upgrade if any. Gathered
//! in one call (it talks to the other node and its BMC: a second or two at most).

use crate::appliance::config::Config;
use crate::appliance::root::ApplianceRoot;
use crate::ha::ipmi::Power;
use crate::ha::link::Link;
use crate::ha::node::NodeState;
use crate::ha::procedure::{self, HaProgress};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct PairView {
    pub schema: u32,
    pub this_node: NodeState,
    pub other_node: Option<NodeState>,
    /// Why the other node did not answer on the HA link.
    pub other_node_error: Option<String>,
    /// The other node's power from its BMC.
    pub other_power: Option<Power>,
    pub other_power_error: Option<String>,
    pub upgrade: Option<HaProgress>,
    pub next_step: Option<String>,
    pub secondary_may_power_on: bool,
}

impl PairView {
    /// The HA upgrade under way (not finished, not given up).
    pub fn under_way(&self) -> Option<&HaProgress> {
        self.upgrade
            .as_ref()
            .filter(|p| !p.abandoned && !p.finished())
    }
}

pub fn gather(root: &ApplianceRoot, config: &Config) -> PairView {
    let me = crate::ha::node::gather(root, config);
    let other = Link::from_config(root, config)
        .and_then(|l| l.state())
        .map_err(|e| e.to_string());
    let power = procedure::ipmi_for(root, config)
        .map_err(|e| e.to_string())
        .and_then(|i| i.power_status().map(|t| t.value).map_err(|e| e.to_string()));
    let up = crate::upgrade::journal::Journal::open(root)
        .ok()
        .and_then(|j| procedure::progress(&j));
    PairView {
        schema: 1,
        next_step: up
            .as_ref()
            .filter(|p| !p.abandoned)
            .and_then(|p| p.next())
            .map(|s| s.name().to_string()),
        secondary_may_power_on: up
            .as_ref()
            .filter(|p| !p.abandoned && !p.finished())
            .is_none_or(|p| p.secondary_may_power_on()),
        this_node: me,
        other_node_error: other.as_ref().err().cloned(),
        other_node: other.ok(),
        other_power_error: power.as_ref().err().cloned(),
        other_power: power.ok(),
        upgrade: up,
    }
}
