//! The `boot` command, run by init on every boot: the boot phase for the slot that
//! booted (on a demo or test root, a reboot it asks for runs the next boot here).
//! Its progress is shown on stderr as lines (JSON lines with --json) beside the log.
use crate::cli::{Ctx, Exit};
use upgrade_core::upgrade::boot::{BootOutcome, BootReport};
use upgrade_core::upgrade::reboot::{MachineReboot, is_simulated};
use upgrade_core::upgrade::simulate::SimulatedReboot;

pub fn run(ctx: &Ctx) -> anyhow::Result<Exit> {
    upgrade_core::appliance::console_log::init(&ctx.root, true);
    let (ascii, json) = (ctx.ascii, ctx.json);
    let follower = crate::progress_follow::follow(&ctx.root, move || {
        crate::progress_view::CliProgress::beside_log(ascii, json, true)
    });
    let reports = if is_simulated(&ctx.root) {
        SimulatedReboot::default()
            .boot_now(&ctx.root)
            .map_err(anyhow::Error::from)
    } else {
        upgrade_core::upgrade::boot::run(&ctx.root, &MachineReboot)
            .map(|r| vec![r])
            .map_err(anyhow::Error::from)
    };
    follower.finish();
    print_reports(ctx, &reports?)
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
