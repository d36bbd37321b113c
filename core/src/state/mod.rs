//! Every file under `var/lib/upgrade-console`: one path each (no other module spells
//! these names), one reader that validates and says Missing or Damaged explicitly,
//! one writer through the durable helper. The records' types live beside their
//! owners (the journal's events in `upgrade::journal`, slot records in
//! `slots::slot_status`, phase 2 in `upgrade::phase2`, progress in
//! `upgrade::progress`); recovery.json's type lives here, in [`recovery`].

pub mod recovery;

use crate::appliance::durable::write_atomic;
use crate::appliance::root::ApplianceRoot;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// The upgrade journal (append-only, see `upgrade::journal`).
pub fn journal(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("journal.log")
}
/// What each slot holds (`slots::slot_status`).
pub fn slot_status(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("slot-status.json")
}
/// Present only while the appliance is in recovery mode ([`recovery`]).
pub fn recovery(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("recovery.json")
}
/// The last checkpoint of the running phase-1 step.
pub fn phase1_checkpoint(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("phase1-checkpoint.json")
}
/// Phase 2's progress and checkpoint (`upgrade::phase2`).
pub fn phase2(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("phase2.json")
}
/// The running operation's progress (`upgrade::progress`).
pub fn progress(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("progress.json")
}
/// The version floor (`upgrade::floor`): only rises, raised at every commit.
pub fn floor(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("floor.json")
}
/// Where activate stages each image's manifest and migrations.
pub fn staged_root(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("staged")
}
/// One image's staged files, named by its payload SHA-256.
pub fn staged(root: &ApplianceRoot, sha256: &str) -> PathBuf {
    staged_root(root).join(sha256)
}
/// Why an image's staged manifest cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum StagedManifestError {
    #[error("cannot read the staged manifest \"{}\": {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] crate::image::manifest::ManifestError),
}

/// An image's staged manifest (the one the boot phase and phase 2 follow).
pub fn staged_manifest(
    root: &ApplianceRoot,
    sha256: &str,
) -> Result<crate::image::manifest::Manifest, StagedManifestError> {
    let path = staged(root, sha256).join("manifest.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|source| StagedManifestError::Read { path, source })?;
    Ok(crate::image::manifest::Manifest::parse(&text)?)
}

/// Held (flock) by the activation writing a slot.
pub fn activate_lock(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("activate.lock")
}
/// Held (flock) by the running phase 2.
pub fn phase2_lock(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("phase2.lock")
}
/// Held (flock) while a support bundle is made under the state directory.
pub fn bundle_lock(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("bundle.lock")
}
/// Held (flock) by the running boot phase.
pub fn boot_lock(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("boot.lock")
}

/// A state file as read: never a silent default.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded<T> {
    Present(T),
    Missing,
    /// The file is there but cannot be used; the text says what is wrong with it.
    Damaged(String),
}

impl<T> Loaded<T> {
    pub fn present(self) -> Option<T> {
        match self {
            Loaded::Present(t) => Some(t),
            _ => None,
        }
    }

    /// The record, borrowed, when there is one.
    pub fn as_present(&self) -> Option<&T> {
        match self {
            Loaded::Present(t) => Some(t),
            _ => None,
        }
    }

    /// Why the file could not be used, if it is damaged.
    pub fn damaged(&self) -> Option<&str> {
        match self {
            Loaded::Damaged(why) => Some(why),
            _ => None,
        }
    }

    /// What is wrong, for a message: `None` when the record is present.
    pub fn problem(&self, path: &Path) -> Option<String> {
        match self {
            Loaded::Present(_) => None,
            Loaded::Missing => Some(format!("\"{}\" is missing", path.display())),
            Loaded::Damaged(why) => Some(format!("\"{}\" is damaged ({why})", path.display())),
        }
    }
}

/// Reads and validates a JSON record. An empty file is damaged, not missing: a
/// record that was written is never empty.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Loaded<T> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
        Err(e) => return Loaded::Damaged(format!("cannot read it: {e}")),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Loaded::Damaged("it is empty".into());
    }
    match serde_json::from_slice(&bytes) {
        Ok(t) => Loaded::Present(t),
        Err(e) => Loaded::Damaged(e.to_string()),
    }
}

/// Writes a JSON record atomically and durably (temp file, fsync, rename, fsync dir).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Removes a state file; one that is already gone is fine.
pub fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_says_missing_empty_and_damaged() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        assert_eq!(read_json::<u32>(&p), Loaded::Missing);
        std::fs::write(&p, b"\n").unwrap();
        assert_eq!(read_json::<u32>(&p), Loaded::Damaged("it is empty".into()));
        std::fs::write(&p, b"{").unwrap();
        assert!(matches!(read_json::<u32>(&p), Loaded::Damaged(_)));
        write_json(&p, &7u32).unwrap();
        assert_eq!(read_json::<u32>(&p), Loaded::Present(7));
        remove(&p).unwrap();
        remove(&p).unwrap();
        assert_eq!(read_json::<u32>(&p), Loaded::Missing);
    }

    #[test]
    fn a_missing_staged_manifest_is_named_in_quotes() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        let e = staged_manifest(&root, "abc").unwrap_err();
        let path = staged(&root, "abc").join("manifest.toml");
        assert!(matches!(e, StagedManifestError::Read { .. }), "{e:?}");
        assert!(
            e.to_string().starts_with(&format!(
                "cannot read the staged manifest \"{}\": ",
                path.display()
            )),
            "{e}"
        );
    }
}
