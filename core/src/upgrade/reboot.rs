//! Rebooting, behind one small trait: the real one restarts the machine; the one for
//! demo and test roots does what the firmware and init would do next on the same
//! root — picks the slot from the boot environment as `recovery/grub.cfg` does,
//! writes `proc/cmdline`, runs the boot phase — so a whole upgrade runs from the
//! command line.

use crate::appliance::root::ApplianceRoot;
use crate::slots::grubenv::{GrubEnv, GrubEnvError};
use crate::slots::slot_status::SlotName;
use crate::upgrade::boot::{self, BootReport};
use std::cell::Cell;

pub trait Reboot {
    /// Restarts into the slot the boot environment chooses. The real implementation
    /// does not return; the simulated one returns and runs the next boot later.
    fn reboot(&self, root: &ApplianceRoot) -> anyhow::Result<()>;
}

/// Reboots the machine (the appliance root is `/`).
pub struct MachineReboot;

impl Reboot for MachineReboot {
    fn reboot(&self, _root: &ApplianceRoot) -> anyhow::Result<()> {
        log::info!("rebooting the machine");
        log::logger().flush();
        nix::unistd::sync();
        let e = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_AUTOBOOT);
        anyhow::bail!("the reboot system call failed: {e:?}; reboot the appliance by hand")
    }
}

/// The firmware and init of a demo or test root: each power-up picks a slot, writes
/// `proc/cmdline` and runs the boot phase; a reboot asked for during a boot phase
/// becomes the next power-up.
#[derive(Default)]
pub struct SimulatedReboot {
    pending: Cell<bool>,
}

/// Boots in a row before the simulation calls it a boot loop.
const MAX_BOOTS: usize = 8;

impl Reboot for SimulatedReboot {
    fn reboot(&self, _root: &ApplianceRoot) -> anyhow::Result<()> {
        self.pending.set(true);
        Ok(())
    }
}

impl SimulatedReboot {
    /// Powers the appliance up, and again for every reboot a boot phase asks for.
    /// Returns one report per boot.
    pub fn power_up(&self, root: &ApplianceRoot) -> anyhow::Result<Vec<BootReport>> {
        self.boots(root, true)
    }

    /// Runs the boot phase for the slot already in `proc/cmdline` (init's part
    /// only), then any reboot it asks for.
    pub fn boot_now(&self, root: &ApplianceRoot) -> anyhow::Result<Vec<BootReport>> {
        self.boots(root, false)
    }

    fn boots(&self, root: &ApplianceRoot, mut select: bool) -> anyhow::Result<Vec<BootReport>> {
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
                anyhow::bail!("{MAX_BOOTS} boots in a row: the appliance is in a boot loop");
            }
        }
    }
}

/// What GRUB does with `recovery/grub.cfg`: load the environment (defaults when it is
/// missing or damaged), choose, save the counted attempt.
pub fn firmware_select(root: &ApplianceRoot) -> anyhow::Result<SlotName> {
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
