//! `verify ISO`: the vendor's signature over the manifest (who signed it), the
//! published SHA-256 of the image, and the payload hash inside it.

use crate::cli::{Ctx, Exit, VerifyArgs};
use anyhow::bail;
use upgrade_core::image::hash_forms::{parse_expected, read_hash_file, sidecar_path};
use upgrade_core::image::verify::verify_image;
use upgrade_core::upgrade::progress::{Operation, Outcome, Reporter};

pub fn run(ctx: &Ctx, args: &VerifyArgs) -> anyhow::Result<Exit> {
    upgrade_core::appliance::console_log::init(&ctx.root, false);
    let name = args
        .iso
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    // A missing image is the first thing to say, before any talk of hashes.
    if let Err(e) = std::fs::metadata(&args.iso) {
        bail!(
            "cannot read the image \"{}\": {e}; check the path to the firmware ISO",
            args.iso.display()
        );
    }
    let (expected, source) = if let Some(text) = &args.sha256 {
        (
            parse_expected(text, name.as_deref())?,
            "--sha256".to_string(),
        )
    } else if let Some(file) = &args.sha256_file {
        (
            read_hash_file(file, name.as_deref())?,
            file.display().to_string(),
        )
    } else if let Some(side) = sidecar_path(&args.iso) {
        (
            read_hash_file(&side, name.as_deref())?,
            side.display().to_string(),
        )
    } else {
        bail!(
            "no expected hash for \"{}\": pass --sha256 HASH (as shown on the downloads page) or --sha256-file FILE, or put {}.sha256 beside it",
            args.iso.display(),
            args.iso.display()
        );
    };
    log::info!(
        "verify {}: expected SHA-256 from {source}",
        args.iso.display()
    );
    let mut progress = Reporter::new(Operation::Verify, 1).with(
        crate::progress_view::CliProgress::for_stderr(ctx.ascii, ctx.json),
    );
    progress.begin_step("hash", 1, 1);
    let verified = verify_image(&ctx.root, &args.iso, &expected, &mut |done, total| {
        let f = if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        };
        progress.update(f, &format!("{} of {} MiB", done >> 20, total >> 20));
    });
    let (image, report) = match verified {
        Ok(v) => {
            progress.finish(Outcome::Done, "image and payload hashed");
            v
        }
        Err(e) => {
            progress.finish(Outcome::Failed, "cannot hash the image");
            return Err(
                anyhow::Error::from(e).context(format!("cannot verify \"{}\"", args.iso.display()))
            );
        }
    };
    let (payload_has, payload_manifest) = report.payload_digests();
    let algorithm = report.payload_algorithm.name();
    log::info!(
        "verify {}: image {} (expected {}), payload {algorithm} {payload_has} (manifest {payload_manifest})",
        report.image,
        report.image_sha256,
        report.expected_sha256,
    );
    match (&report.signer, &report.signature_error) {
        (Some(s), None) => log::info!(
            "verify {}: signed by key {} ({}), trusted comment \"{}\"",
            report.image,
            s.key_id,
            s.name,
            s.trusted_comment
        ),
        (_, e) => log::warn!(
            "verify {}: signature refused: {}",
            report.image,
            e.as_deref().unwrap_or("not checked")
        ),
    }
    if ctx.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::outln!(
            "Image    {} ({} {})",
            report.image,
            report.product,
            report.version
        );
        match (&report.signer, &report.signature_error) {
            (Some(s), None) => crate::outln!(
                "Signer   key {} ({})  OK ({})",
                s.key_id,
                s.name,
                s.signature
            ),
            (_, e) => {
                crate::outln!("Signer   REFUSED");
                crate::outln!(
                    "  {}",
                    e.as_deref().unwrap_or("the signature was not checked")
                );
            }
        }
        if report.image_ok {
            crate::outln!("SHA-256  {}  OK (matches {source})", report.image_sha256);
        } else {
            crate::outln!("SHA-256  MISMATCH");
            crate::outln!("  image has  {}", report.image_sha256);
            crate::outln!("  expected   {}  (from {source})", report.expected_sha256);
            crate::outln!(
                "  The image is damaged or not the one published: download it again and compare with the downloads page."
            );
        }
        if report.payload_ok {
            crate::outln!(
                "Payload  {payload_has}  OK ({}, {algorithm})",
                report.payload_file
            );
        } else {
            crate::outln!("Payload  MISMATCH ({}, {algorithm})", report.payload_file);
            crate::outln!("  payload has {payload_has}");
            crate::outln!("  manifest    {payload_manifest}");
            crate::outln!(
                "  The image's contents do not match its own manifest: do not install it; download it again or contact support."
            );
        }
    }
    // On an appliance root, activation later finds this result in the journal.
    if report.ok()
        && ctx.root.config_file().is_file()
        && let Err(e) = upgrade_core::upgrade::journal::record_verified(
            &ctx.root,
            &args.iso,
            &report.image_sha256,
            &image.manifest,
        )
    {
        log::warn!("verify passed but could not be recorded in the journal: {e}");
        crate::errln!(
            "warning: the result could not be recorded in the journal ({e}); activate refuses until a verify is recorded: run verify again"
        );
    }
    Ok(if report.ok() {
        Exit::Success
    } else {
        Exit::Refused
    })
}
