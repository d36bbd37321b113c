//! `cluster plan [ISO]`: the order in which the central cluster's nodes must be upgraded.

use crate::cli::{ClusterArgs, ClusterCommand, Ctx, Exit};
use upgrade_core::appliance::config::Config;
use upgrade_core::image::iso::FirmwareImage;
use upgrade_core::report::cluster::{plan, render_text};
use upgrade_core::slots::slot_status::running_version;

pub fn run(ctx: &Ctx, args: &ClusterArgs) -> anyhow::Result<Exit> {
    let ClusterCommand::Plan { iso } = &args.command;
    let config = Config::load(&ctx.root)?;
    let target = match iso {
        Some(p) => Some(FirmwareImage::open(p)?.manifest.firmware.version),
        None => None,
    };
    let Some(p) = plan(&config, running_version(&ctx.root)?, target) else {
        if ctx.json {
            crate::outln!("null");
        } else {
            crate::outln!(
                "This appliance is not in a central cluster ([cluster] is not configured): upgrade it on its own."
            );
        }
        return Ok(Exit::Success);
    };
    if ctx.json {
        crate::outln!("{}", serde_json::to_string_pretty(&p)?);
    } else {
        crate::out!("{}", render_text(&p));
    }
    Ok(Exit::Success)
}
