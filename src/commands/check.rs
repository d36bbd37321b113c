//! `check ISO`: the upgrade test, one line per finding with its fix; exit 1 on a blocker.

use crate::cli::{CheckArgs, Ctx, Exit};
use anyhow::Context;
use upgrade_core::appliance::config::Config;
use upgrade_core::check::{render_text, upgrade_test};
use upgrade_core::image::iso::FirmwareImage;

pub fn run(ctx: &Ctx, args: &CheckArgs) -> anyhow::Result<Exit> {
    upgrade_core::appliance::console_log::init(&ctx.root, false);
    let config = Config::load(&ctx.root)?;
    let image = FirmwareImage::open(&args.iso)?;
    let report = upgrade_test(&ctx.root, &config, &image)
        .with_context(|| format!("upgrade test of \"{}\"", args.iso.display()))?;
    log::info!(
        "check {}: {} {}: {} blocker(s), {} warning(s)",
        args.iso.display(),
        image.manifest.firmware.product,
        image.manifest.firmware.version,
        report.blockers(),
        report.warnings()
    );
    for f in report.findings() {
        log::info!(
            "check finding: {} {} {}: {} ({})",
            f.severity,
            f.rule,
            f.location,
            f.message,
            f.value
        );
    }
    if ctx.json {
        let out = serde_json::json!({
            "image": args.iso.display().to_string(),
            "product": image.manifest.firmware.product,
            "version": image.manifest.firmware.version,
            "passed": report.passed(),
            "blockers": report.blockers(),
            "warnings": report.warnings(),
            "checks": report.checks,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let title = format!(
            "Upgrade test: {} {} ({})",
            image.manifest.firmware.product,
            image.manifest.firmware.version,
            args.iso.display()
        );
        crate::out!("{}", render_text(&report, &title));
    }
    if report.passed() {
        record_passed(ctx, &image)?;
    }
    Ok(if report.passed() {
        Exit::Success
    } else {
        Exit::Refused
    })
}

/// Records the passed test in the journal for this image file (its identity: device,
/// inode, size, modification time), so activation can rely on it while the file is
/// unchanged.
fn record_passed(ctx: &Ctx, image: &FirmwareImage) -> anyhow::Result<()> {
    upgrade_core::upgrade::journal::record_check_passed(
        &ctx.root,
        &image.path,
        None,
        &image.manifest,
    )?;
    Ok(())
}
