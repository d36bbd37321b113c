//! The trust anchors of the running firmware: the vendor's minisign public keys and
//! the revoked-keys list, shipped in the slot's own files under
//! `usr/share/upgrade-console/` (never in the editable configuration), read through
//! one typed reader. A newer firmware brings its own keys and revocations; on a demo
//! or test root, where both slots share one directory, the manifest's `[trust]`
//! section is installed there at commit ([`install_from_manifest`]).

use crate::appliance::durable::write_atomic;
use crate::appliance::root::ApplianceRoot;
use crate::image::manifest::Manifest;
use base64ct::{Base64, Encoding};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where the running firmware keeps its trust anchors, relative to the root.
pub const TRUST_DIR: &str = "usr/share/upgrade-console";
/// Largest key or revocation file read (a real one is a few hundred bytes).
const MAX_TRUST_FILE: u64 = 64 << 10;
const MAX_KEYS: usize = 256;

/// The directory of trusted public keys (`*.pub`, minisign format).
pub fn trusted_keys_dir(root: &ApplianceRoot) -> PathBuf {
    root.resolve(TRUST_DIR).join("trusted-keys")
}

/// The revoked-keys list: one key id a line (16 hex digits, as minisign prints
/// them), `#` starts a comment.
pub fn revoked_keys_file(root: &ApplianceRoot) -> PathBuf {
    root.resolve(TRUST_DIR).join("revoked-keys")
}

/// A minisign key id: 8 bytes, shown as minisign shows it (16 upper-case hex
/// digits of the little-endian number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl std::str::FromStr for KeyId {
    type Err = ();
    fn from_str(s: &str) -> Result<KeyId, ()> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(());
        }
        u64::from_str_radix(s, 16)
            .map(|n| KeyId(n.to_le_bytes()))
            .map_err(|_| ())
    }
}

/// The key id inside a minisign key or signature line (base64: 2 bytes of
/// algorithm, then the 8-byte key id).
pub fn key_id_of_base64(line: &str) -> Option<KeyId> {
    let bin = Base64::decode_vec(line.trim()).ok()?;
    let id: [u8; 8] = bin.get(2..10)?.try_into().ok()?;
    Some(KeyId(id))
}

/// One trusted public key.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub id: KeyId,
    /// The key file's comment line (minisign's "untrusted comment"): the key's name.
    pub name: String,
    pub file: PathBuf,
    pub key: minisign_verify::PublicKey,
}

/// The trust anchors as read from the running firmware's files.
#[derive(Debug, Clone)]
pub struct TrustStore {
    pub dir: PathBuf,
    pub keys: Vec<TrustedKey>,
    pub revoked: BTreeSet<KeyId>,
    pub revoked_file: PathBuf,
    /// Key files that could not be used (each skipped, so it is trusted for nothing).
    pub skipped: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(
        "cannot read the trust anchors \"{}\": {source}; the running firmware's files are damaged: create a support bundle and contact support",
        path.display()
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the revoked-keys list \"{}\" line {line} has \"{value}\", which is not a key id (16 hexadecimal digits); no image can be trusted while the list is unreadable: create a support bundle and contact support",
        path.display()
    )]
    BadRevoked {
        path: PathBuf,
        line: usize,
        value: String,
    },
    #[error("cannot install the trust anchors of the new firmware into \"{}\": {source}", path.display())]
    Install {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn read_bounded(path: &Path) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    f.take(MAX_TRUST_FILE).read_to_string(&mut text)?;
    Ok(Some(text))
}

/// Parses one minisign public key file's text.
pub fn parse_key(file: &Path, text: &str) -> Result<TrustedKey, String> {
    let mut lines = text.lines();
    let comment = lines.next().unwrap_or_default();
    let name = comment
        .strip_prefix("untrusted comment:")
        .ok_or("its first line is not \"untrusted comment: NAME\"")?
        .trim()
        .to_string();
    let b64 = lines.next().ok_or("it has no key line")?;
    let key = minisign_verify::PublicKey::from_base64(b64.trim())
        .map_err(|e| format!("it is not a minisign public key ({e})"))?;
    let id = key_id_of_base64(b64).ok_or("its key line is too short")?;
    Ok(TrustedKey {
        id,
        name,
        file: file.to_path_buf(),
        key,
    })
}

fn parse_revoked(path: &Path, text: &str) -> Result<BTreeSet<KeyId>, TrustError> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let value = line.split('#').next().unwrap_or_default().trim();
        if value.is_empty() {
            continue;
        }
        let id = value.parse().map_err(|()| TrustError::BadRevoked {
            path: path.to_path_buf(),
            line: i + 1,
            value: value.chars().take(80).collect(),
        })?;
        out.insert(id);
    }
    Ok(out)
}

impl TrustStore {
    /// Reads the trusted keys and the revoked-keys list of the running firmware. A
    /// missing directory is no trusted key (every image is then refused); a damaged
    /// key file is skipped (it trusts nothing); a damaged revoked list is an error,
    /// because reading it wrongly would trust a revoked key.
    pub fn load(root: &ApplianceRoot) -> Result<TrustStore, TrustError> {
        let dir = trusted_keys_dir(root);
        let read_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TrustError::Read { path, source }
        };
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        match std::fs::read_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(read_err(&dir)(e)),
            Ok(entries) => {
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "pub"))
                    .collect();
                files.sort();
                for file in files.into_iter().take(MAX_KEYS) {
                    match read_bounded(&file) {
                        Ok(Some(text)) => match parse_key(&file, &text) {
                            Ok(k) => keys.push(k),
                            Err(why) => skipped.push(format!("\"{}\": {why}", file.display())),
                        },
                        Ok(None) => {}
                        Err(e) => skipped.push(format!("\"{}\": {e}", file.display())),
                    }
                }
            }
        }
        let revoked_path = revoked_keys_file(root);
        let revoked = match read_bounded(&revoked_path).map_err(read_err(&revoked_path))? {
            Some(text) => parse_revoked(&revoked_path, &text)?,
            None => BTreeSet::new(),
        };
        Ok(TrustStore {
            dir,
            keys,
            revoked,
            revoked_file: revoked_path,
            skipped,
        })
    }

    pub fn key(&self, id: KeyId) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The keys that are trusted and not revoked, as "ID (name)".
    pub fn usable(&self) -> Vec<String> {
        self.keys
            .iter()
            .filter(|k| !self.revoked.contains(&k.id))
            .map(|k| format!("{} ({})", k.id, k.name))
            .collect()
    }
}

/// Installs the keys and revocations a committed firmware's manifest brings, for the
/// boots after it: new keys as `ID.pub`, revocations added to the list (never
/// removed). Idempotent, each file written atomically.
pub fn install_from_manifest(root: &ApplianceRoot, manifest: &Manifest) -> Result<(), TrustError> {
    let Some(trust) = &manifest.trust else {
        return Ok(());
    };
    let dir = trusted_keys_dir(root);
    for k in &trust.keys {
        // Validated when the manifest was parsed.
        let Some(id) = key_id_of_base64(&k.key) else {
            continue;
        };
        let path = dir.join(format!("{id}.pub"));
        let text = format!("untrusted comment: {}\n{}\n", k.name, k.key.trim());
        if read_bounded(&path).ok().flatten().as_deref() != Some(text.as_str()) {
            write_atomic(&path, text.as_bytes())
                .map_err(|source| TrustError::Install { path, source })?;
        }
    }
    if !trust.revoked.is_empty() {
        let path = revoked_keys_file(root);
        let old = read_bounded(&path)
            .map_err(|source| TrustError::Read {
                path: path.clone(),
                source,
            })?
            .unwrap_or_default();
        let have = parse_revoked(&path, &old)?;
        let mut text = old.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        for id in &trust.revoked {
            if let Ok(id) = id.parse::<KeyId>()
                && !have.contains(&id)
            {
                text.push_str(&format!(
                    "{id}  # revoked by firmware {}\n",
                    manifest.firmware.version
                ));
            }
        }
        if text != old {
            write_atomic(&path, text.as_bytes())
                .map_err(|source| TrustError::Install { path, source })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUB: &str = "untrusted comment: minisign public key 9C6E2F81504CFE27\nRWQn/kxQgS9unIk5LdZKgh8xG2wf5jcGbXaBK/s807oQxdZKosmWxb7+\n";

    #[test]
    fn key_ids_read_as_minisign_prints_them() {
        let k = parse_key(Path::new("k.pub"), PUB).unwrap();
        assert_eq!(k.id.to_string(), "9C6E2F81504CFE27");
        assert_eq!(k.name, "minisign public key 9C6E2F81504CFE27");
        assert_eq!("9C6E2F81504CFE27".parse::<KeyId>(), Ok(k.id));
        assert!("9C6E2F81504CFE2".parse::<KeyId>().is_err());
    }

    #[test]
    fn a_missing_directory_trusts_nothing_and_a_bad_revoked_line_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        let s = TrustStore::load(&root).unwrap();
        assert!(s.keys.is_empty() && s.revoked.is_empty());
        std::fs::create_dir_all(trusted_keys_dir(&root)).unwrap();
        std::fs::write(trusted_keys_dir(&root).join("a.pub"), PUB).unwrap();
        std::fs::write(trusted_keys_dir(&root).join("bad.pub"), "junk").unwrap();
        std::fs::write(
            revoked_keys_file(&root),
            "# old keys\n9C6E2F81504CFE27  # leaked\n",
        )
        .unwrap();
        let s = TrustStore::load(&root).unwrap();
        assert_eq!(s.keys.len(), 1);
        assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
        assert!(s.revoked.contains(&s.keys[0].id));
        assert!(s.usable().is_empty());
        std::fs::write(revoked_keys_file(&root), "9C6E\n").unwrap();
        let e = TrustStore::load(&root).unwrap_err().to_string();
        assert!(e.contains("line 1 has \"9C6E\""), "{e}");
    }
}
