//! The demo vendor's signing: a minisign key pair made when the demo is built (no
//! private key is ever committed or kept), its public key installed as the demo
//! appliance's trust anchor, the images' manifests signed with it, and a second,
//! untrusted key for the image that shows an unknown signer being refused.

use std::path::PathBuf;
use upgrade_core::appliance::durable::write_atomic;
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::image::trust::trusted_keys_dir;

pub const DEMO_KEY_NAME: &str = "demo vendor key, made at demo time";
/// A signed image whose manifest was changed after signing (its payload swapped).
pub const TAMPERED_IMAGE: &str = "untrusted/sps-7.3.1-tampered-manifest.iso";
pub const TAMPERED_PURPOSE: &str =
    "verify refuses: the manifest was changed after signing (payload swapped)";
/// An image signed by a key the appliance does not trust.
pub const UNKNOWN_KEY_IMAGE: &str = "untrusted/sps-7.3.1-unknown-key.iso";
pub const UNKNOWN_KEY_PURPOSE: &str =
    "verify refuses: signed by a key this firmware does not trust";

/// The demo's trust anchor file.
pub fn demo_key_file(root: &ApplianceRoot) -> PathBuf {
    trusted_keys_dir(root).join("demo-vendor.pub")
}

/// A key pair that lives only as long as the demo build.
pub struct DemoKey {
    name: String,
    pk: minisign::PublicKey,
    sk: minisign::SecretKey,
}

impl DemoKey {
    pub fn generate(name: &str) -> anyhow::Result<DemoKey> {
        let kp = minisign::KeyPair::generate_unencrypted_keypair()
            .map_err(|e| anyhow::anyhow!("cannot make the demo's signing key: {e}"))?;
        Ok(DemoKey {
            name: name.to_string(),
            pk: kp.pk,
            sk: kp.sk,
        })
    }

    /// Installs the public key as the running firmware's trust anchor.
    pub fn install(&self, root: &ApplianceRoot) -> anyhow::Result<()> {
        let text = format!(
            "untrusted comment: {}\n{}\n",
            self.name,
            self.pk.to_base64()
        );
        write_atomic(&demo_key_file(root), text.as_bytes())?;
        Ok(())
    }

    /// A minisign signature (prehashed) over the manifest, its trusted comment
    /// naming product and version as the appliance requires.
    pub fn sign_manifest(&self, manifest: &str, version: &str) -> anyhow::Result<String> {
        let comment = format!("product=sps version={version}");
        let sig = minisign::sign(
            Some(&self.pk),
            &self.sk,
            manifest.as_bytes(),
            Some(&comment),
            Some(&format!("signature from {}", self.name)),
        )
        .map_err(|e| anyhow::anyhow!("cannot sign the demo manifest: {e}"))?;
        Ok(sig.into_string())
    }
}
