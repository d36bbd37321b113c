//! The upgrade test (the guides' "Test" button): before anything is written, does the
//! new firmware accept this appliance? Product, upgrade path, free space, licence,
//! prerequisites, and the configuration rules the image carries.

pub mod error;
pub mod finding;
pub mod prerequisites;
pub mod rules;
pub mod space;
pub mod upgrade_path;

use crate::appliance::config::Config;
use crate::appliance::root::ApplianceRoot;
use crate::check::finding::{Finding, Report};
use crate::image::iso::FirmwareImage;
use crate::image::version::Version;
use crate::slots::slot_status::{SlotStatus, booted_slot};

/// Runs every check of the upgrade test against an opened image.
pub fn upgrade_test(
    root: &ApplianceRoot,
    config: &Config,
    image: &FirmwareImage,
) -> Result<Report, error::CheckError> {
    let m = &image.manifest;
    let target = m.firmware.version;
    let mut report = Report::default();

    // Product.
    let product = if m.firmware.product == config.appliance.product {
        vec![]
    } else {
        vec![
            Finding::blocker(
                "product",
                format!(
                    "the image is firmware for \"{}\", this appliance is \"{}\"",
                    m.firmware.product, config.appliance.product
                ),
            )
            .value(&m.firmware.product)
            .at("firmware/manifest.toml: firmware.product")
            .fix(format!(
                "Download the {} firmware image.",
                config.appliance.product
            )),
        ]
    };
    report.push(
        "product",
        format!("image for {}", m.firmware.product),
        product,
    );

    // Authenticity: the vendor's signature, checked against the running firmware's
    // trust anchors, and the version floor (no replay of an older release).
    let (summary, findings) = match crate::image::trust::TrustStore::load(root)
        .map_err(Into::into)
        .and_then(|store| crate::image::signature::check_image(&store, image))
    {
        Ok(s) => (format!("signed by key {} ({})", s.key_id, s.name), vec![]),
        Err(e) => (
            "not authentic".to_string(),
            vec![
                Finding::blocker("signature", e.to_string())
                    .value(image.path.display().to_string())
                    .at(crate::image::signature::SIGNATURE_IN_IMAGE)
                    .fix("Install only firmware signed by the vendor: download the image (and its .minisig) from the vendor again."),
            ],
        ),
    };
    report.push("signature", summary, findings);
    let (summary, findings) = match crate::upgrade::floor::current(root) {
        Ok(floor) => match crate::upgrade::floor::refusal(floor, m) {
            None => (
                match floor {
                    Some(f) => format!("version floor {f}, image {target}"),
                    None => "no version floor yet".to_string(),
                },
                vec![],
            ),
            Some(why) => (
                format!("image {target} is below the version floor"),
                vec![
                    Finding::blocker("version-floor", why)
                        .value(target.to_string())
                        .at(crate::state::floor(root).display().to_string())
                        .fix("Download the current release; older releases are refused once a newer one was committed."),
                ],
            ),
        },
        Err(e) => (
            "version floor unknown".to_string(),
            vec![
                Finding::blocker("version-floor", e.to_string())
                    .value("unknown")
                    .at(crate::state::floor(root).display().to_string())
                    .fix("Create a support bundle and contact support."),
            ],
        ),
    };
    report.push("version-floor", summary, findings);

    // Upgrade path.
    let slots = SlotStatus::load(root)?;
    let booted = booted_slot(root);
    let current = slots.get(booted).version;
    let (summary, findings) = match current {
        Some(cur) => match upgrade_path::check_path(cur, target, &m.upgrade) {
            Ok(()) => (format!("{cur} -> {target} is a supported upgrade path"), vec![]),
            Err(f) => (format!("{cur} -> {target}"), vec![*f]),
        },
        None => (
            "running version unknown".to_string(),
            vec![Finding::blocker(upgrade_path::RULE, format!("slot {booted} (booted) has no recorded firmware version"))
                .value("none")
                .at(crate::state::slot_status(root).display().to_string())
                .fix("Restore the slot status file from a backup or contact support; the path cannot be checked without it.")],
        ),
    };
    report.push(upgrade_path::RULE, summary, findings);

    // Free space.
    let spaces = space::filesystems(root, config)?;
    let min = m.upgrade.min_free_percent;
    let lowest = spaces
        .iter()
        .map(|s| s.free_percent)
        .fold(f64::INFINITY, f64::min);
    report.push(
        space::RULE,
        format!(
            "{} filesystem(s), lowest {:.1} % free, needs {min} %",
            spaces.len(),
            lowest
        ),
        space::check_free_space(&spaces, min, config.appliance.platform),
    );

    // Licence.
    report.push(
        "licence",
        licence_summary(config, m.upgrade.licence_lts),
        licence_findings(config, current, target, m.upgrade.licence_lts),
    );

    // Prerequisites the console can check.
    report.push(
        "prerequisites",
        "HA access, platform".to_string(),
        prerequisites::findings(config),
    );

    // The configuration rules the image carries (src/rules).
    let input = crate::check::rules::RuleInput {
        root,
        config,
        manifest: m,
        current,
    };
    report.checks.extend(crate::check::rules::evaluate(&input)?);

    Ok(report)
}

fn licence_summary(config: &Config, need: Option<u32>) -> String {
    match (config.licence.lts, need) {
        (Some(h), Some(n)) => format!("licence covers {h} LTS, firmware needs {n} LTS"),
        (None, Some(n)) => format!("no licence line configured, firmware needs {n} LTS"),
        (_, None) => "the image needs no particular licence".into(),
    }
}

/// The licence must cover the image's LTS line; crossing into a new LTS line, the
/// guides say to upgrade with the current licence and update it right after.
pub fn licence_findings(
    config: &Config,
    current: Option<Version>,
    target: Version,
    need: Option<u32>,
) -> Vec<Finding> {
    let Some(need) = need else { return vec![] };
    let have = config.licence.lts;
    let at = "etc/appliance/appliance.toml: licence.lts";
    match have {
        Some(h) if h >= need => vec![],
        Some(h) if current.is_some_and(|c| c.major < target.major) && h + 1 >= need => vec![Finding::warning(
            "licence",
            format!("{target} needs a licence for {need} LTS; the licence covers {h} LTS"),
        )
        .value(h)
        .at(at)
        .fix(format!("Upgrade with the current licence, then install a licence for {need} LTS right after (request it from licensing now)."))],
        Some(h) => vec![Finding::blocker("licence", format!("the licence covers {h} LTS but {target} needs {need} LTS"))
            .value(h)
            .at(at)
            .fix(format!("Request a licence key for {need} LTS from licensing and install it before the upgrade."))],
        None => vec![Finding::blocker("licence", format!("no licence line is configured; {target} needs {need} LTS"))
            .value("none")
            .at(at)
            .fix(format!("Set licence.lts to the LTS line your licence covers (it must be at least {need})."))],
    }
}

/// Renders a report for an 80-column terminal: one line per check, each finding
/// with its value, location and fix indented below it.
pub fn render_text(report: &Report, title: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{title}\n");
    let wrap = |text: &str, first: &str, rest: &str| {
        let opts = textwrap::Options::new(80)
            .initial_indent(first)
            .subsequent_indent(rest);
        textwrap::fill(text, opts)
    };
    for c in &report.checks {
        let status = match c.findings.iter().map(|f| f.severity).min() {
            None => "ok",
            Some(crate::check::finding::Severity::Blocker) => "BLOCKER",
            Some(crate::check::finding::Severity::Warning) => "WARNING",
        };
        let _ = writeln!(
            out,
            "{}",
            wrap(
                &c.summary,
                &format!("{status:<8} {:<16} ", c.check),
                &" ".repeat(26)
            )
        );
        for f in &c.findings {
            let _ = writeln!(
                out,
                "{}",
                wrap(
                    &f.message,
                    &format!("  {:<7} ", f.severity.to_string().to_lowercase()),
                    "          "
                )
            );
            if !f.value.is_empty() {
                let _ = writeln!(
                    out,
                    "{}",
                    wrap(&f.value, "          value: ", "                 ")
                );
            }
            if !f.location.is_empty() {
                let _ = writeln!(
                    out,
                    "{}",
                    wrap(&f.location, "          where: ", "                 ")
                );
            }
            if !f.fix.is_empty() {
                let _ = writeln!(
                    out,
                    "{}",
                    wrap(&f.fix, "          fix:   ", "                 ")
                );
            }
        }
    }
    let (b, w) = (report.blockers(), report.warnings());
    let verdict = if b == 0 {
        format!("PASSED: {w} warning(s). The image can be activated.")
    } else {
        format!(
            "FAILED: {b} blocker(s), {w} warning(s). Fix the blockers, then run the test again."
        )
    };
    let _ = writeln!(out, "\n{verdict}");
    out
}
