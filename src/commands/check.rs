//! `check ISO`: the upgrade test, one line per finding with its fix; exit 1 on a blocker.

use crate::check::{render_text, upgrade_test};
use crate::cli::{CheckArgs, Ctx, Exit};
use crate::config::Config;
use crate::iso::FirmwareImage;
use anyhow::Context;
use std::io::IsTerminal;

pub fn run(ctx: &Ctx, args: &CheckArgs) -> anyhow::Result<Exit> {
    crate::console_log::init(&ctx.root, false);
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
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let title = format!(
            "Upgrade test: {} {} ({})",
            image.manifest.firmware.product,
            image.manifest.firmware.version,
            args.iso.display()
        );
        print!("{}", render_text(&report, &title));
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

/// Records the passed test in the journal for this exact image, so activation can
/// rely on it. The image's SHA-256 comes from the journal's verify record of the same
/// payload; without one the image is hashed here.
fn record_passed(ctx: &Ctx, image: &FirmwareImage) -> anyhow::Result<()> {
    let m = &image.manifest;
    let journal = crate::journal::Journal::open(&ctx.root)?;
    let verified = journal.records().filter_map(|r| match &r.event {
        crate::journal::Event::Verified {
            iso_sha256,
            payload_sha256,
            version,
        } if payload_sha256.eq_ignore_ascii_case(&m.payload.sha256)
            && *version == m.firmware.version =>
        {
            Some(iso_sha256.clone())
        }
        _ => None,
    });
    let iso_sha256 = match verified.last() {
        Some(h) => h,
        None => {
            let mut bar = crate::image_hash::ProgressPrinter::new(
                "hashing image",
                std::io::stderr().is_terminal(),
            );
            let d = crate::image_hash::hash_image(&image.path, &image.payload, &mut |d, t| {
                bar.update(d, t)
            })?;
            hex::encode(d.image)
        }
    };
    crate::journal::record_check_passed(&ctx.root, &iso_sha256, m)?;
    Ok(())
}
