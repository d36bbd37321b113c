//! The `reboot` command: reboots into the slot the boot environment chooses. On a demo
//! or test root it does what the firmware and init would: picks the slot, writes
//! proc/cmdline, runs `boot` — so a whole upgrade runs from the command line.
use crate::cli::{Ctx, Exit};
use upgrade_core::slots::grubenv::GrubEnv;
use upgrade_core::upgrade::reboot::{MachineReboot, Reboot, is_simulated};
use upgrade_core::upgrade::simulate::SimulatedReboot;

pub fn run(ctx: &Ctx) -> anyhow::Result<Exit> {
    // On a terminal the boot phase's log shows as it runs (phase-1 steps and their output).
    let echo = std::io::IsTerminal::is_terminal(&std::io::stderr());
    upgrade_core::appliance::console_log::init(&ctx.root, echo);
    if upgrade_core::upgrade::activate::activation_running(&ctx.root) {
        crate::errln!(
            "upgrade-console: reboot: an activation is writing a slot right now; wait for it to finish"
        );
        return Ok(Exit::Refused);
    }
    if let Ok(env) = GrubEnv::load(&ctx.root.grubenv()) {
        let next = env.next_boot();
        log::info!("reboot: the next boot is slot {next}");
        if !ctx.json {
            crate::outln!("Rebooting into slot {next}.");
        }
    }
    if is_simulated(&ctx.root) {
        // The boots run here: show their progress as `boot` does.
        let (ascii, json) = (ctx.ascii, ctx.json);
        let follower = crate::progress_follow::follow(&ctx.root, move || {
            crate::progress_view::CliProgress::beside_log(ascii, json, echo)
        });
        let reports = SimulatedReboot::default().power_up(&ctx.root);
        follower.finish();
        crate::commands::boot::print_reports(ctx, &reports?)
    } else {
        MachineReboot.reboot(&ctx.root)?;
        Ok(Exit::Success)
    }
}
