//! Verification of a firmware image: the SHA-256 of the whole ISO against the hash the
//! operator got from the downloads page, and the payload's SHA-256 against the
//! manifest inside the image — both from one read of the file.

use crate::image::hash_forms::{Sha256, hashes_equal};
use crate::image::image_hash::{ImageDigests, hash_image};
use crate::image::iso::{FirmwareImage, IsoError};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub image: String,
    pub product: String,
    pub version: String,
    pub image_sha256: String,
    pub expected_sha256: String,
    pub image_ok: bool,
    pub payload_file: String,
    pub payload_sha256: String,
    pub payload_expected_sha256: String,
    pub payload_ok: bool,
    pub bytes: u64,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.image_ok && self.payload_ok
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Image(#[from] IsoError),
    #[error(
        "reading \"{path}\" failed after {done} bytes: {source}; check the disk and download the image again"
    )]
    Read {
        path: String,
        done: u64,
        source: std::io::Error,
    },
}

/// Opens the image, hashes it once, and compares both digests.
pub fn verify_image(
    path: &Path,
    expected: &Sha256,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(FirmwareImage, VerifyReport), VerifyError> {
    let image = FirmwareImage::open(path)?;
    let mut done = 0;
    let digests: ImageDigests = hash_image(path, &image.payload, &mut |d, t| {
        done = d;
        progress(d, t)
    })
    .map_err(|source| VerifyError::Read {
        path: path.display().to_string(),
        done,
        source,
    })?;
    let payload_expected = image.manifest.payload_sha256();
    let report = VerifyReport {
        image: path.display().to_string(),
        product: image.manifest.firmware.product.clone(),
        version: image.manifest.firmware.version.to_string(),
        image_sha256: hex::encode(digests.image),
        expected_sha256: hex::encode(expected),
        image_ok: hashes_equal(&digests.image, expected),
        payload_file: image.manifest.payload.file.clone(),
        payload_sha256: hex::encode(digests.payload),
        payload_expected_sha256: hex::encode(payload_expected),
        payload_ok: hashes_equal(&digests.payload, &payload_expected),
        bytes: digests.bytes,
    };
    Ok((image, report))
}
