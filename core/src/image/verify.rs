//! Verification of a firmware image: the SHA-256 of the whole ISO against the hash the
//! operator got from the downloads page, and the payload's digest against the
//! manifest inside the image (its BLAKE3 when the manifest carries one, else its
//! SHA-256) — both from one read of the file — and the vendor's
//! signature over that manifest against the running firmware's trust anchors. The
//! signature is what makes the image authentic; the pasted hash stays as a second,
//! independent check.

use crate::appliance::root::ApplianceRoot;
use crate::image::hash_forms::{Sha256, hashes_equal};
use crate::image::image_hash::{ImageDigests, PayloadAlgorithm, hash_image};
use crate::image::iso::{FirmwareImage, IsoError};
use crate::image::signature::{Signer, check_image};
use crate::image::trust::TrustStore;
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
    /// The digest the payload was checked by: its BLAKE3 when the manifest has one.
    pub payload_algorithm: PayloadAlgorithm,
    /// The payload's SHA-256 as read; None when it was checked by BLAKE3 (activate
    /// checks the SHA-256 while it writes the slot).
    pub payload_sha256: Option<String>,
    pub payload_expected_sha256: String,
    pub payload_blake3: Option<String>,
    pub payload_expected_blake3: Option<String>,
    pub payload_ok: bool,
    pub bytes: u64,
    /// Who signed the manifest, when the signature is good.
    pub signer: Option<Signer>,
    /// Why the signature was refused (unsigned, unknown or revoked key, ...).
    pub signature_error: Option<String>,
    /// Time spent reading and hashing the image, and checking the signature.
    pub hash_seconds: f64,
    pub signature_seconds: f64,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.image_ok && self.payload_ok && self.signature_ok()
    }

    pub fn signature_ok(&self) -> bool {
        self.signer.is_some() && self.signature_error.is_none()
    }

    /// The payload's digest as read and as the manifest says, in `payload_algorithm`.
    pub fn payload_digests(&self) -> (&str, &str) {
        match self.payload_algorithm {
            PayloadAlgorithm::Sha256 => (
                self.payload_sha256.as_deref().unwrap_or_default(),
                &self.payload_expected_sha256,
            ),
            PayloadAlgorithm::Blake3 => (
                self.payload_blake3.as_deref().unwrap_or_default(),
                self.payload_expected_blake3.as_deref().unwrap_or_default(),
            ),
        }
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

/// Opens the image, hashes it once, compares both digests, and checks the
/// signature against the trust anchors of the firmware running on `root`.
pub fn verify_image(
    root: &ApplianceRoot,
    path: &Path,
    expected: &Sha256,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(FirmwareImage, VerifyReport), VerifyError> {
    let image = FirmwareImage::open(path)?;
    let started = std::time::Instant::now();
    let mut done = 0;
    let (algorithm, payload_expected) = match image.manifest.payload_blake3() {
        Some(b) => (PayloadAlgorithm::Blake3, b),
        None => (PayloadAlgorithm::Sha256, image.manifest.payload_sha256()),
    };
    let digests: ImageDigests = hash_image(path, &image.payload, algorithm, &mut |d, t| {
        done = d;
        progress(d, t)
    })
    .map_err(|source| VerifyError::Read {
        path: path.display().to_string(),
        done,
        source,
    })?;
    let hash_seconds = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let (signer, signature_error) = match TrustStore::load(root)
        .map_err(Into::into)
        .and_then(|store| check_image(&store, &image))
    {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let signature_seconds = started.elapsed().as_secs_f64();
    let report = VerifyReport {
        image: path.display().to_string(),
        product: image.manifest.firmware.product.clone(),
        version: image.manifest.firmware.version.to_string(),
        image_sha256: hex::encode(digests.image),
        expected_sha256: hex::encode(expected),
        image_ok: hashes_equal(&digests.image, expected),
        payload_file: image.manifest.payload.file.clone(),
        payload_algorithm: algorithm,
        payload_sha256: (algorithm == PayloadAlgorithm::Sha256)
            .then(|| hex::encode(digests.payload)),
        payload_expected_sha256: image.manifest.payload.sha256.to_ascii_lowercase(),
        payload_blake3: (algorithm == PayloadAlgorithm::Blake3)
            .then(|| hex::encode(digests.payload)),
        payload_expected_blake3: image
            .manifest
            .payload
            .blake3
            .as_ref()
            .map(|b| b.to_ascii_lowercase()),
        payload_ok: hashes_equal(&digests.payload, &payload_expected),
        bytes: digests.bytes,
        signer,
        signature_error,
        hash_seconds,
        signature_seconds,
    };
    Ok((image, report))
}
