//! Rebooting, behind one small trait: the real one restarts the machine; the one for
//! demo and test roots (`upgrade::simulate`) does what the firmware and init would do
//! next on the same root. Here also what that firmware does: pick the slot from the
//! boot environment as `recovery/grub.cfg` does, and write `proc/cmdline`.

use crate::appliance::root::ApplianceRoot;
use crate::slots::grubenv::{GrubEnv, GrubEnvError};
use crate::slots::slot_status::SlotName;

/// Why a reboot did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RebootError {
    #[error("the reboot system call failed: {0:?}; reboot the appliance by hand")]
    SystemCall(nix::Error),
}

pub trait Reboot {
    /// Restarts into the slot the boot environment chooses. The real implementation
    /// does not return; the simulated one returns and runs the next boot later.
    fn reboot(&self, root: &ApplianceRoot) -> Result<(), RebootError>;
}

/// Reboots the machine (the appliance root is `/`).
pub struct MachineReboot;

impl Reboot for MachineReboot {
    fn reboot(&self, _root: &ApplianceRoot) -> Result<(), RebootError> {
        log::info!("rebooting the machine");
        log::logger().flush();
        nix::unistd::sync();
        // reboot(2) returns only on failure.
        let Err(e) = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_AUTOBOOT);
        Err(RebootError::SystemCall(e))
    }
}

/// What GRUB does with `recovery/grub.cfg`: load the environment (defaults when it is
/// missing or damaged), choose, save the counted attempt.
pub fn firmware_select(root: &ApplianceRoot) -> Result<SlotName, GrubEnvError> {
    let path = root.grubenv();
    match GrubEnv::load(&path) {
        Ok(mut env) => {
            let slot = env.select_boot();
            env.save(&path)?;
            Ok(slot)
        }
        Err(GrubEnvError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            // GRUB's defaults; save_env cannot create the file.
            Ok(SlotName::A)
        }
        Err(e) => {
            log::warn!("power-up: {e}; the boot loader falls back to its defaults");
            Ok(SlotName::A)
        }
    }
}

/// Writes `proc/cmdline` naming the slot, keeping the other words.
pub fn write_cmdline(root: &ApplianceRoot, slot: SlotName) -> std::io::Result<()> {
    let old = std::fs::read_to_string(root.cmdline()).unwrap_or_default();
    let mut words: Vec<String> = old
        .split_whitespace()
        .filter(|w| !w.starts_with("upgrade_console.slot="))
        .map(String::from)
        .collect();
    words.push(format!("upgrade_console.slot={slot}"));
    crate::appliance::durable::write_atomic(
        &root.cmdline(),
        format!("{}\n", words.join(" ")).as_bytes(),
    )
}

/// The reboot for a root: the machine for `/`, the simulation otherwise.
pub fn is_simulated(root: &ApplianceRoot) -> bool {
    !root.is_system_root()
}
