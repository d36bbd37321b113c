//! The `activate ISO` command: shows what will happen, asks for confirmation on a
//! terminal (`--yes` for automation; neither: exit 2), then writes, verifies and arms,
//! drawing its progress on stderr (a bar on a terminal, lines otherwise).
use crate::cli::{ActivateArgs, Ctx, Exit};
use std::io::{BufRead, IsTerminal};
use upgrade_core::appliance::config::Config;
use upgrade_core::upgrade::activate::{self, ActivateError};

pub fn run(ctx: &Ctx, args: &ActivateArgs) -> anyhow::Result<Exit> {
    upgrade_core::appliance::console_log::init(&ctx.root, false);
    let config = Config::load(&ctx.root)?;
    let plan = match activate::prepare(&ctx.root, &config, &args.iso) {
        Ok(p) => p,
        Err(e) => return Ok(refusal(ctx, e)),
    };
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            crate::errln!(
                "upgrade-console: activate writes slot {} and needs confirmation: run it on a terminal, or pass --yes",
                plan.target.slot
            );
            return Ok(Exit::CannotRun);
        }
        crate::outln!("{}", plan.describe());
        crate::out!("Type \"yes\" to write slot {}: ", plan.target.slot);
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            crate::outln!("Nothing was written.");
            return Ok(Exit::Refused);
        }
    }
    let view = crate::progress_view::CliProgress::for_stderr(ctx.ascii, ctx.json);
    match activate::run_observed(
        &ctx.root,
        &plan,
        upgrade_core::upgrade::killpoint::chunk_override()
            .unwrap_or(upgrade_core::slots::slot_io::CHUNK),
        vec![Box::new(view)],
    ) {
        Ok(r) => {
            if ctx.json {
                crate::outln!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                crate::outln!(
                    "Slot {} holds firmware {} ({} bytes written, read back and verified in {:.1} s).",
                    r.slot,
                    r.version,
                    r.bytes,
                    r.seconds
                );
                crate::outln!(
                    "After reboot: firmware {} boots once from slot {}; if it fails, slot {} boots again.",
                    r.version,
                    r.slot,
                    r.slot.other()
                );
                crate::outln!("Reboot with `{} reboot` when ready.", ctx.root.command());
            }
            Ok(Exit::Success)
        }
        Err(e) => Ok(refusal(ctx, e)),
    }
}

fn refusal(ctx: &Ctx, e: ActivateError) -> Exit {
    log::error!("activate: {e}");
    if ctx.json {
        crate::outln!("{}", serde_json::json!({ "error": e.to_string() }));
    }
    crate::errln!("upgrade-console: activate: {e}");
    if e.is_refusal() {
        Exit::Refused
    } else {
        Exit::CannotRun
    }
}
