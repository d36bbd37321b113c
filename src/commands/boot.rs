//! The `boot` command, run by init on every boot: the boot phase for the slot that
//! booted (on a demo or test root, a reboot it asks for runs the next boot here).
use crate::cli::{Ctx, Exit};
use upgrade_core::upgrade::boot::{BootOutcome, BootReport};
use upgrade_core::upgrade::reboot::{MachineReboot, is_simulated};
use upgrade_core::upgrade::simulate::SimulatedReboot;

pub fn run(ctx: &Ctx) -> anyhow::Result<Exit> {
    upgrade_core::appliance::console_log::init(&ctx.root, true);
    let reports = if is_simulated(&ctx.root) {
        SimulatedReboot::default().boot_now(&ctx.root)?
    } else {
        vec![upgrade_core::upgrade::boot::run(&ctx.root, &MachineReboot)?]
    };
    print_reports(ctx, &reports)
}

/// Prints boot reports; exit 1 when any boot rolled back or needs recovery.
pub fn print_reports(ctx: &Ctx, reports: &[BootReport]) -> anyhow::Result<Exit> {
    if ctx.json {
        crate::outln!("{}", serde_json::to_string_pretty(reports)?);
    } else {
        for r in reports {
            crate::outln!("boot from slot {}: {}", r.booted, r.message);
        }
    }
    let bad = reports.iter().any(|r| {
        matches!(
            r.outcome,
            BootOutcome::RolledBack { .. } | BootOutcome::RecoveryRequired { .. }
        )
    });
    Ok(if bad { Exit::Refused } else { Exit::Success })
}
