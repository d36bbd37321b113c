//! The firmware and init of a demo or test root: each power-up picks a slot as
//! `recovery/grub.cfg` does, writes `proc/cmdline` and runs the boot phase, so a
//! whole upgrade runs from the command line. Kept apart from `reboot` so that the
//! boot phase (which reboots) and the simulation (which boots) do not depend on
//! each other.

use crate::appliance::root::ApplianceRoot;
use crate::slots::grubenv::GrubEnvError;
use crate::upgrade::boot::BootError;
use crate::upgrade::boot::{self, BootReport};
use crate::upgrade::reboot::{Reboot, RebootError, firmware_select, write_cmdline};
use std::cell::Cell;

/// The firmware and init of a demo or test root: each power-up picks a slot, writes
/// `proc/cmdline` and runs the boot phase; a reboot asked for during a boot phase
/// becomes the next power-up.
#[derive(Default)]
pub struct SimulatedReboot {
    pending: Cell<bool>,
}

/// Why a simulated power-up stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error(transparent)]
    BootEnv(#[from] GrubEnvError),
    #[error(transparent)]
    Cmdline(#[from] std::io::Error),
    #[error(transparent)]
    Boot(#[from] BootError),
    #[error("{MAX_BOOTS} boots in a row: the appliance is in a boot loop")]
    BootLoop,
}

/// Boots in a row before the simulation calls it a boot loop.
const MAX_BOOTS: usize = 8;

impl Reboot for SimulatedReboot {
    fn reboot(&self, _root: &ApplianceRoot) -> Result<(), RebootError> {
        self.pending.set(true);
        Ok(())
    }
}

impl SimulatedReboot {
    /// Powers the appliance up, and again for every reboot a boot phase asks for.
    /// Returns one report per boot.
    pub fn power_up(&self, root: &ApplianceRoot) -> Result<Vec<BootReport>, SimulateError> {
        self.boots(root, true)
    }

    /// Runs the boot phase for the slot already in `proc/cmdline` (init's part
    /// only), then any reboot it asks for.
    pub fn boot_now(&self, root: &ApplianceRoot) -> Result<Vec<BootReport>, SimulateError> {
        self.boots(root, false)
    }

    fn boots(
        &self,
        root: &ApplianceRoot,
        mut select: bool,
    ) -> Result<Vec<BootReport>, SimulateError> {
        let mut out = Vec::new();
        loop {
            if select {
                let slot = firmware_select(root)?;
                log::info!("power-up: the boot loader chose slot {slot}");
                write_cmdline(root, slot)?;
            }
            select = true;
            out.push(boot::run(root, self)?);
            if !self.pending.replace(false) {
                return Ok(out);
            }
            if out.len() >= MAX_BOOTS {
                return Err(SimulateError::BootLoop);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boot_loop_says_how_many_boots() {
        assert_eq!(
            SimulateError::BootLoop.to_string(),
            "8 boots in a row: the appliance is in a boot loop"
        );
    }
}
