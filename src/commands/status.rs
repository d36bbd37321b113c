//! `status`: the appliance at a glance, as text or JSON.

use crate::cli::{Ctx, Exit};
use upgrade_core::appliance::config::Config;
use upgrade_core::report::status::{gather, render_text};

pub fn run(ctx: &Ctx) -> anyhow::Result<Exit> {
    let config = Config::load(&ctx.root)?;
    let report = gather(&ctx.root, &config)?;
    if ctx.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::out!("{}", render_text(&report));
    }
    // A damaged state is not a healthy status, whatever else the report shows.
    if report.state_damaged.is_some() {
        return Ok(Exit::CannotRun);
    }
    Ok(Exit::Success)
}
