//! Free space on each filesystem the upgrade writes to, from statvfs: the space an
//! unprivileged writer has (f_bavail) against the filesystem's whole size, as
//! `df` shows it. The guides require at least 10 % free before an upgrade.

use crate::appliance::config::{Config, Platform};
use crate::appliance::root::ApplianceRoot;
use crate::check::finding::Finding;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const RULE: &str = "free-space";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FsSpace {
    /// The configured path (as written in appliance.toml).
    pub path: String,
    /// Where it was measured (resolved under the root; the nearest existing directory).
    pub measured_at: PathBuf,
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub free_percent: f64,
    /// statvfs filesystem id, to count each filesystem once.
    #[serde(skip)]
    pub fsid: u64,
}

/// Measures one path: the nearest existing ancestor is used, so a state directory
/// that does not exist yet is measured on the filesystem it will be created on.
pub fn measure(path: &Path) -> std::io::Result<(PathBuf, nix::sys::statvfs::Statvfs)> {
    let mut p = path.to_path_buf();
    loop {
        match nix::sys::statvfs::statvfs(&p) {
            Ok(s) => return Ok((p, s)),
            Err(nix::errno::Errno::ENOENT) if p.pop() => continue,
            Err(e) => return Err(std::io::Error::from(e)),
        }
    }
}

/// Free space of every distinct filesystem named in `[storage] paths`.
pub fn filesystems(root: &ApplianceRoot, config: &Config) -> std::io::Result<Vec<FsSpace>> {
    let mut out: Vec<FsSpace> = Vec::new();
    for p in &config.storage.paths {
        let (at, s) = measure(&root.resolve(p))?;
        let fsid = s.filesystem_id();
        if out
            .iter()
            .any(|f| f.fsid == fsid && f.total_bytes == s.blocks() * s.fragment_size())
        {
            continue;
        }
        let frsize = s.fragment_size();
        let total = s.blocks() * frsize;
        let avail = s.blocks_available() * frsize;
        out.push(FsSpace {
            path: p.clone(),
            measured_at: at,
            total_bytes: total,
            available_bytes: avail,
            free_percent: if total == 0 {
                0.0
            } else {
                avail as f64 * 100.0 / total as f64
            },
            fsid,
        });
    }
    Ok(out)
}

pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A blocker for each filesystem below `min_percent` free, with the guides' remedies.
pub fn check_free_space(spaces: &[FsSpace], min_percent: u8, platform: Platform) -> Vec<Finding> {
    spaces
        .iter()
        .filter(|s| s.free_percent < min_percent as f64)
        .map(|s| {
            let need = (s.total_bytes as f64 * min_percent as f64 / 100.0) as u64;
            let short = need.saturating_sub(s.available_bytes);
            let mut fix = format!(
                "Free at least {} more: archive old sessions with an archive policy (keeps the data), or shorten how long session metadata is kept (deletes it)",
                human(short)
            );
            if platform == Platform::Virtual {
                fix.push_str(", or enlarge the virtual disk");
            }
            fix.push('.');
            Finding::blocker(RULE, format!("only {:.1} % free on {}, the upgrade needs at least {min_percent} %", s.free_percent, s.path))
                .value(format!("{} of {} free ({:.1} %)", human(s.available_bytes), human(s.total_bytes), s.free_percent))
                .at(s.measured_at.display().to_string())
                .fix(fix)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocker_below_minimum_only() {
        let fs = |pct: f64| FsSpace {
            path: "/".into(),
            measured_at: "/".into(),
            total_bytes: 1000,
            available_bytes: (pct * 10.0) as u64,
            free_percent: pct,
            fsid: 1,
        };
        assert!(check_free_space(&[fs(10.0)], 10, Platform::Physical).is_empty());
        let f = check_free_space(&[fs(9.9)], 10, Platform::Virtual);
        assert_eq!(f.len(), 1);
        assert!(f[0].fix.contains("virtual disk"), "{}", f[0].fix);
        assert!(f[0].message.contains("9.9 %"));
    }

    #[test]
    fn measures_the_nearest_existing_directory() {
        let d = tempfile::tempdir().unwrap();
        let (at, s) = measure(&d.path().join("not/yet")).unwrap();
        assert_eq!(at, d.path());
        assert!(s.blocks() > 0);
    }
}
