//! `bundle [-o FILE]`: writes the support bundle and prints where it went.

use crate::cli::{BundleArgs, Ctx, Exit};

pub fn run(ctx: &Ctx, args: &BundleArgs) -> anyhow::Result<Exit> {
    upgrade_core::appliance::console_log::init(&ctx.root, false);
    let path = upgrade_core::support::bundle::write_bundle(&ctx.root, args.output.as_deref())?;
    if ctx.json {
        crate::outln!("{}", serde_json::json!({ "bundle": path }));
    } else {
        crate::outln!("Support bundle written: {}", path.display());
    }
    Ok(Exit::Success)
}
