//! recovery.json: what recovery did (why it was entered, the interfaces, SSH, the
//! support bundle, the log server), for the console, the boot log server, `status`
//! and support. Its lifecycle is the recovery mode's: [`save`] when recovery is
//! entered, [`clear`] when a good boot commits or recovery is left; its presence is
//! what serves /bundle and what makes the console say "in recovery".

use crate::appliance::root::ApplianceRoot;
use crate::state::Loaded;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What recovery did, for the console, the log and `recovery.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryReport {
    /// Why recovery was entered.
    pub reason: String,
    pub entered: String,
    /// Sealed appliance: no SSH, ever.
    pub sealed: bool,
    pub interfaces: Vec<InterfaceResult>,
    /// Every address that is up now ("192.0.2.10/24").
    pub addresses: Vec<String>,
    /// Recovery SSH port, when sshd runs.
    pub ssh_port: Option<u16>,
    /// Addresses sshd listens on.
    pub ssh_listen: Vec<String>,
    /// SHA256 fingerprints of the host keys, as `ssh` shows them on first contact.
    pub host_key_fingerprints: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sshd_pid: Option<u32>,
    /// Why SSH is not available (sealed, or the error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_error: Option<String>,
    pub bundle: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_error: Option<String>,
    /// URLs of the boot log server.
    pub log_server: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_server_error: Option<String>,
}

/// One step of bringing an interface up, and how it went.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InterfaceStep {
    /// "link up", "address 192.0.2.10/24", "default via 192.0.2.1", "route 10.0.0.0/8 via ..".
    pub action: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What recovery did to one configured interface.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InterfaceResult {
    pub name: String,
    pub management: bool,
    /// Every step succeeded.
    pub ok: bool,
    /// The addresses that are now configured on it.
    pub addresses: Vec<String>,
    pub steps: Vec<InterfaceStep>,
}

/// The recovery report, when the appliance is in recovery mode.
pub fn load(root: &ApplianceRoot) -> Loaded<RecoveryReport> {
    crate::state::read_json(&crate::state::recovery(root))
}

/// Records that recovery mode is entered (or what it achieved since).
pub fn save(root: &ApplianceRoot, report: &RecoveryReport) -> std::io::Result<()> {
    crate::state::write_json(&crate::state::recovery(root), report)
}

/// Recovery mode is over: the console stops saying so and /bundle is no longer served.
pub fn clear(root: &ApplianceRoot) -> std::io::Result<()> {
    let path = crate::state::recovery(root);
    if path.exists() {
        log::info!("recovery mode left: removing {}", path.display());
    }
    crate::state::remove(&path)
}

/// Whether recovery.json says the appliance is in recovery mode (present, even if
/// damaged: a half-written report still means recovery was entered).
pub fn active(root: &ApplianceRoot) -> bool {
    !matches!(load(root), Loaded::Missing)
}
