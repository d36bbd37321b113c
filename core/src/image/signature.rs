//! The vendor's signature over the manifest (minisign format: Ed25519 over the
//! BLAKE2b-512 of the manifest, "prehashed"), checked against the running firmware's
//! trust anchors. The manifest carries the payload's SHA-256, so a good signature
//! vouches for the payload as well; the trusted comment (signed too) names product
//! and version and must match the manifest, so a signature cannot be moved to
//! another release's manifest.
//!
//! Where: `firmware/manifest.toml.minisig` inside the image, else `<image>.minisig`
//! beside it (a signature over the same manifest bytes, made with
//! `minisign -S -m manifest.toml -x fw.iso.minisig`). Legacy (non-prehashed)
//! signatures are refused: minisign has made prehashed ones by default since 0.8,
//! and one form keeps the check simple.

use crate::image::iso::{FirmwareImage, IsoError};
use crate::image::manifest::Manifest;
use crate::image::trust::{KeyId, TrustError, TrustStore, key_id_of_base64};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The signature's path inside the image.
pub const SIGNATURE_IN_IMAGE: &str = "firmware/manifest.toml.minisig";
/// Largest signature file read (a real one is about 300 bytes).
const MAX_SIGNATURE_BYTES: usize = 4096;

/// Who signed an image, for `verify`, the console and the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// The key id as minisign prints it.
    pub key_id: String,
    /// The trusted key's name (its key file's comment).
    pub name: String,
    /// The trusted comment the signature carries.
    pub trusted_comment: String,
    /// Where the signature was: `firmware/manifest.toml.minisig` or the detached file.
    pub signature: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "migration program \"firmware/{program}\" {problem}: the signature does not cover it; do not install this image: download it again"
    )]
    ProgramNotCovered { program: String, problem: String },
    #[error(
        "the image is not signed: it has no {SIGNATURE_IN_IMAGE} and there is no \"{}\" beside it; only images signed by the vendor are installed: download the signed image from the vendor",
        detached.display()
    )]
    Unsigned { detached: PathBuf },
    #[error(
        "the signature {source_name} is not a minisign signature ({why}); download the image (and its .minisig) again"
    )]
    Malformed { source_name: String, why: String },
    #[error(
        "no trusted key is installed: \"{}\" has no usable *.pub file{skipped}, so every image is refused; the running firmware's public keys (minisign format) belong there: restore them from the firmware or contact support",
        dir.display()
    )]
    NoTrustedKeys { dir: PathBuf, skipped: String },
    #[error(
        "the image is signed by an unknown key {key_id}; this firmware trusts {trusted}: download the image from the vendor, or install the firmware that brings this key first"
    )]
    UnknownKey { key_id: String, trusted: String },
    #[error(
        "the image is signed by key {key_id} ({name}), which is revoked (\"{}\"); images signed with it are never installed: download a current release signed by a valid key",
        list.display()
    )]
    RevokedKey {
        key_id: String,
        name: String,
        list: PathBuf,
    },
    #[error(
        "the signature ({source_name}) is in minisign's legacy mode (not prehashed); ask the vendor for a prehashed signature (minisign 0.8 or later makes them by default)"
    )]
    Legacy { source_name: String },
    #[error(
        "the signature by key {key_id} ({name}) does not cover this manifest: the manifest or the signature's trusted comment was changed after signing, or the signature belongs to another image; do not install it: download the image again"
    )]
    NotCovered { key_id: String, name: String },
    #[error(
        "the signature's trusted comment \"{comment}\" does not match the manifest (product {product}, version {version}); it must read \"product={product} version={version}\": the signature belongs to another release: download the image again"
    )]
    CommentMismatch {
        comment: String,
        product: String,
        version: String,
    },
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Iso(#[from] IsoError),
    #[error("cannot read the signature \"{}\": {source}; check its permissions", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The trusted comment a release's signature carries.
pub fn trusted_comment_for(manifest: &Manifest) -> String {
    format!(
        "product={} version={}",
        manifest.firmware.product, manifest.firmware.version
    )
}

/// Whether a trusted comment names this manifest's product and version (each once;
/// other `key=value` words, such as a timestamp, may follow).
fn comment_matches(comment: &str, manifest: &Manifest) -> bool {
    let (mut product, mut version) = (Vec::new(), Vec::new());
    for word in comment.split_whitespace() {
        if let Some(p) = word.strip_prefix("product=") {
            product.push(p);
        } else if let Some(v) = word.strip_prefix("version=") {
            version.push(v);
        }
    }
    let want_version = manifest.firmware.version.to_string();
    product == [manifest.firmware.product.as_str()] && version == [want_version.as_str()]
}

/// The detached signature's path: `<image>.minisig`.
pub fn detached_path(image: &Path) -> PathBuf {
    let mut s = image.as_os_str().to_owned();
    s.push(".minisig");
    PathBuf::from(s)
}

/// Finds the image's signature: inside it first, else beside it. Returns the text
/// and where it was.
pub fn find_signature(image: &FirmwareImage) -> Result<(String, String), SignatureError> {
    if let Some(bytes) = image.read_small_file(SIGNATURE_IN_IMAGE)? {
        return Ok((
            text_of(bytes, SIGNATURE_IN_IMAGE)?,
            SIGNATURE_IN_IMAGE.into(),
        ));
    }
    let detached = detached_path(&image.path);
    match std::fs::read(&detached) {
        Ok(bytes) => {
            let name = detached.display().to_string();
            Ok((text_of(bytes, &name)?, name))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(SignatureError::Unsigned { detached })
        }
        Err(source) => Err(SignatureError::Read {
            path: detached,
            source,
        }),
    }
}

fn text_of(bytes: Vec<u8>, name: &str) -> Result<String, SignatureError> {
    let malformed = |why: &str| SignatureError::Malformed {
        source_name: name.to_string(),
        why: why.to_string(),
    };
    if bytes.len() > MAX_SIGNATURE_BYTES {
        return Err(malformed("it is larger than 4 KiB"));
    }
    String::from_utf8(bytes).map_err(|_| malformed("it is not text"))
}

/// Checks an opened image's signature against the trust anchors.
pub fn check_image(store: &TrustStore, image: &FirmwareImage) -> Result<Signer, SignatureError> {
    if store.usable().is_empty() {
        return Err(no_keys(store));
    }
    let (text, source_name) = find_signature(image)?;
    let signer = check_manifest(
        store,
        image.manifest_text.as_bytes(),
        &image.manifest,
        &text,
        &source_name,
    )?;
    // The programs phase 1 and phase 2 run are in the image beside the manifest:
    // each must carry the hash the signed manifest gives it.
    for file in &image.migrations {
        program_covered(&image.manifest, &file.path, &image.read_migration(file)?)?;
    }
    Ok(signer)
}

/// Whether a migration program (its path under `firmware/migrations/` and its bytes)
/// has the SHA-256 the signed manifest lists for it.
pub fn program_covered(
    manifest: &Manifest,
    path: &str,
    bytes: &[u8],
) -> Result<(), SignatureError> {
    use sha2::Digest;
    let program = format!("migrations/{path}");
    let problem = match manifest.programs.get(&program) {
        None => "is not listed in the manifest's [programs]".to_string(),
        Some(want) if !want.eq_ignore_ascii_case(&hex::encode(sha2::Sha256::digest(bytes))) => {
            "does not have the SHA-256 the manifest lists".to_string()
        }
        Some(_) => return Ok(()),
    };
    Err(SignatureError::ProgramNotCovered { program, problem })
}

fn no_keys(store: &TrustStore) -> SignatureError {
    SignatureError::NoTrustedKeys {
        dir: store.dir.clone(),
        skipped: if store.skipped.is_empty() {
            String::new()
        } else {
            format!(" (unusable: {})", store.skipped.join("; "))
        },
    }
}

/// Checks a signature over the exact manifest bytes: key known and not revoked,
/// prehashed, the signature and its trusted comment genuine, the comment naming
/// this manifest's product and version.
pub fn check_manifest(
    store: &TrustStore,
    manifest_bytes: &[u8],
    manifest: &Manifest,
    signature_text: &str,
    source_name: &str,
) -> Result<Signer, SignatureError> {
    let malformed = |why: String| SignatureError::Malformed {
        source_name: source_name.to_string(),
        why,
    };
    let sig =
        minisign_verify::Signature::decode(signature_text).map_err(|e| malformed(e.to_string()))?;
    let id: KeyId = signature_text
        .lines()
        .nth(1)
        .and_then(key_id_of_base64)
        .ok_or_else(|| malformed("no key id".into()))?;
    if store.usable().is_empty() {
        return Err(no_keys(store));
    }
    let key = store.key(id);
    if store.revoked.contains(&id) {
        return Err(SignatureError::RevokedKey {
            key_id: id.to_string(),
            name: key
                .map(|k| k.name.clone())
                .unwrap_or_else(|| "not installed".into()),
            list: store.revoked_file.clone(),
        });
    }
    let Some(key) = key else {
        return Err(SignatureError::UnknownKey {
            key_id: id.to_string(),
            trusted: store.usable().join(", "),
        });
    };
    match key.key.verify(manifest_bytes, &sig, false) {
        Ok(()) => {}
        Err(minisign_verify::Error::UnexpectedAlgorithm) => {
            return Err(SignatureError::Legacy {
                source_name: source_name.to_string(),
            });
        }
        Err(_) => {
            return Err(SignatureError::NotCovered {
                key_id: id.to_string(),
                name: key.name.clone(),
            });
        }
    }
    let comment = sig.trusted_comment().to_string();
    if !comment_matches(&comment, manifest) {
        return Err(SignatureError::CommentMismatch {
            comment: comment.chars().take(120).collect(),
            product: manifest.firmware.product.clone(),
            version: manifest.firmware.version.to_string(),
        });
    }
    Ok(Signer {
        key_id: id.to_string(),
        name: key.name.clone(),
        trusted_comment: comment,
        signature: source_name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appliance::root::ApplianceRoot;
    use crate::image::trust::{revoked_keys_file, trusted_keys_dir};
    use base64ct::{Base64, Encoding};

    const MANIFEST: &str = "[firmware]\nproduct = \"sps\"\nversion = \"7.3.1\"\nkind = \"maintenance\"\n\n[upgrade]\nfrom = [\"7.0.1\"]\n\n[payload]\nfile = \"firmware/rootfs.img\"\nsize = 4096\nsha256 = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"\n";

    struct Key {
        pk: minisign::PublicKey,
        sk: minisign::SecretKey,
    }

    fn key() -> Key {
        let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        Key {
            pk: kp.pk,
            sk: kp.sk,
        }
    }

    fn sign(k: &Key, bytes: &[u8], comment: &str) -> String {
        minisign::sign(Some(&k.pk), &k.sk, bytes, Some(comment), None)
            .unwrap()
            .into_string()
    }

    fn trust(root: &ApplianceRoot, k: &Key, name: &str) {
        let dir = trusted_keys_dir(root);
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!("untrusted comment: {name}\n{}\n", k.pk.to_base64());
        std::fs::write(dir.join(format!("{name}.pub")), text).unwrap();
    }

    fn check(root: &ApplianceRoot, bytes: &[u8], sig: &str) -> Result<Signer, SignatureError> {
        let store = TrustStore::load(root).unwrap();
        let text = std::str::from_utf8(bytes).map_err(|_| SignatureError::NotCovered {
            key_id: String::new(),
            name: String::new(),
        })?;
        let m = Manifest::parse(text).map_err(|_| SignatureError::NotCovered {
            key_id: String::new(),
            name: String::new(),
        })?;
        check_manifest(&store, bytes, &m, sig, "test.minisig")
    }

    #[test]
    fn a_good_signature_names_its_signer() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        let k = key();
        trust(&root, &k, "release-2026");
        let sig = sign(&k, MANIFEST.as_bytes(), "product=sps version=7.3.1");
        let s = check(&root, MANIFEST.as_bytes(), &sig).unwrap();
        assert_eq!(s.name, "release-2026");
        assert_eq!(s.key_id.len(), 16);
    }

    #[test]
    fn every_refusal_says_which() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        let k = key();
        let sig = sign(&k, MANIFEST.as_bytes(), "product=sps version=7.3.1");
        // No trust anchors at all.
        let e = check(&root, MANIFEST.as_bytes(), &sig).unwrap_err();
        assert!(matches!(e, SignatureError::NoTrustedKeys { .. }), "{e}");
        assert!(e.to_string().contains("trusted-keys"), "{e}");
        trust(&root, &k, "release");
        // Unknown key.
        let other = key();
        let e = check(
            &root,
            MANIFEST.as_bytes(),
            &sign(&other, MANIFEST.as_bytes(), "product=sps version=7.3.1"),
        )
        .unwrap_err();
        assert!(matches!(e, SignatureError::UnknownKey { .. }), "{e}");
        // Comment for another release.
        let e = check(
            &root,
            MANIFEST.as_bytes(),
            &sign(&k, MANIFEST.as_bytes(), "product=sps version=7.0.1"),
        )
        .unwrap_err();
        assert!(matches!(e, SignatureError::CommentMismatch { .. }), "{e}");
        let e = check(
            &root,
            MANIFEST.as_bytes(),
            &sign(&k, MANIFEST.as_bytes(), "timestamp:1"),
        )
        .unwrap_err();
        assert!(matches!(e, SignatureError::CommentMismatch { .. }), "{e}");
        // The trusted comment edited after signing.
        let edited = sig.replace("version=7.3.1", "version=7.3.1 x=1");
        let e = check(&root, MANIFEST.as_bytes(), &edited).unwrap_err();
        assert!(matches!(e, SignatureError::NotCovered { .. }), "{e}");
        // Garbage.
        let e = check(&root, MANIFEST.as_bytes(), "hello").unwrap_err();
        assert!(matches!(e, SignatureError::Malformed { .. }), "{e}");
        // Revoked (still installed as trusted: revocation wins).
        let id = key_id_of_base64(sig.lines().nth(1).unwrap()).unwrap();
        std::fs::write(revoked_keys_file(&root), format!("{id}\n")).unwrap();
        // The only key revoked: nothing is usable.
        let e = check(&root, MANIFEST.as_bytes(), &sig).unwrap_err();
        assert!(matches!(e, SignatureError::NoTrustedKeys { .. }), "{e}");
        trust(&root, &other, "other");
        let e = check(&root, MANIFEST.as_bytes(), &sig).unwrap_err();
        assert!(matches!(e, SignatureError::RevokedKey { .. }), "{e}");
    }

    #[test]
    fn a_manifest_flipped_anywhere_after_signing_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        let k = key();
        trust(&root, &k, "release");
        let sig = sign(&k, MANIFEST.as_bytes(), "product=sps version=7.3.1");
        for i in 0..MANIFEST.len() {
            for bit in [0x01u8, 0x20] {
                let mut b = MANIFEST.as_bytes().to_vec();
                b[i] ^= bit;
                assert!(
                    check(&root, &b, &sig).is_err(),
                    "byte {i} ^ {bit:#x} accepted"
                );
            }
        }
    }

    #[test]
    fn a_legacy_signature_is_refused_by_name() {
        // Minisign's legacy form differs in its algorithm bytes ("Ed" not "ED"); a
        // re-encoded prehashed signature stands in for one (its key id is kept).
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        let k = key();
        trust(&root, &k, "release");
        let sig = sign(&k, MANIFEST.as_bytes(), "product=sps version=7.3.1");
        let mut lines: Vec<String> = sig.lines().map(String::from).collect();
        let mut bin = Base64::decode_vec(&lines[1]).unwrap();
        bin[1] = b'd';
        lines[1] = Base64::encode_string(&bin);
        let e = check(&root, MANIFEST.as_bytes(), &(lines.join("\n") + "\n")).unwrap_err();
        assert!(matches!(e, SignatureError::Legacy { .. }), "{e}");
    }
}
