//! Signing for tests that build their own firmware images: one minisign key pair per
//! test process, made with the real minisign CLI (Debian package `minisign`), its
//! public key installed as a test root's trust anchor, manifests signed with it.

use super::require_tool;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::image::trust::trusted_keys_dir;

pub const TEST_KEY_NAME: &str = "upgrade-console test vendor key";

/// A key pair made by `minisign -G -W` (no password) in its own directory.
pub struct TestKey {
    pub dir: PathBuf,
    pub public: PathBuf,
    pub secret: PathBuf,
}

impl TestKey {
    /// A new key pair in `dir` (created), named `name` in its public key's comment.
    pub fn generate(dir: &Path, name: &str) -> TestKey {
        require_tool("minisign", "minisign");
        std::fs::create_dir_all(dir).unwrap();
        let (public, secret) = (dir.join("key.pub"), dir.join("key.sec"));
        let o = Command::new("minisign")
            .args(["-G", "-W", "-f", "-p"])
            .arg(&public)
            .arg("-s")
            .arg(&secret)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "minisign -G: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // The comment line is not signed: it names the key for people.
        let text = std::fs::read_to_string(&public).unwrap();
        let key_line = text.lines().nth(1).unwrap().to_string();
        std::fs::write(&public, format!("untrusted comment: {name}\n{key_line}\n")).unwrap();
        TestKey {
            dir: dir.to_path_buf(),
            public,
            secret,
        }
    }

    /// The key line (base64) of the public key.
    pub fn key_line(&self) -> String {
        std::fs::read_to_string(&self.public)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_string()
    }

    /// The key id as minisign prints it.
    pub fn id(&self) -> String {
        upgrade_core::image::trust::key_id_of_base64(&self.key_line())
            .unwrap()
            .to_string()
    }

    /// Installs the public key as a trust anchor of the appliance at `root`.
    pub fn trust(&self, root: &Path, file_name: &str) {
        let dir = trusted_keys_dir(&ApplianceRoot::new(root));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&self.public, dir.join(file_name)).unwrap();
    }

    /// Signs `file` with `minisign -S`, writing the signature to `out`.
    pub fn sign(&self, file: &Path, out: &Path, trusted_comment: &str) {
        let o = Command::new("minisign")
            .arg("-S")
            .arg("-s")
            .arg(&self.secret)
            .arg("-m")
            .arg(file)
            .arg("-x")
            .arg(out)
            .args(["-t", trusted_comment])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "minisign -S: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// The vendor key of this test process (made once).
pub fn vendor_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("upgrade-console-test-key-{}", std::process::id()));
        TestKey::generate(&dir, TEST_KEY_NAME)
    })
}

/// Installs the vendor key as the trust anchor of the appliance at `root`.
pub fn trust_vendor_key(root: &Path) {
    vendor_key().trust(root, "test-vendor.pub");
}

/// Signs a manifest file as the vendor does, beside it (`manifest.toml.minisig`).
pub fn sign_manifest(manifest: &Path, product: &str, version: &str) {
    let mut out = manifest.as_os_str().to_owned();
    out.push(".minisig");
    vendor_key().sign(
        manifest,
        Path::new(&out),
        &format!("product={product} version={version}"),
    );
}

/// The vendor's signature (file contents) over `manifest`, for images built as a
/// list of files: add it as `firmware/manifest.toml.minisig`.
pub fn signature_for(manifest: &[u8], product: &str, version: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("manifest.toml");
    std::fs::write(&m, manifest).unwrap();
    sign_manifest(&m, product, version);
    std::fs::read(dir.path().join("manifest.toml.minisig")).unwrap()
}
