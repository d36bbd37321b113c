//! The appliance root: every file the console reads or writes lives under it, so the
//! same code serves a real appliance (`/`) and a demo or test directory.

use std::path::{Component, Path, PathBuf};

/// Paths of the appliance, all resolved under one root directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplianceRoot {
    dir: PathBuf,
}

impl ApplianceRoot {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The root directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether this is the real system root (then reboot, mount and network act on the machine).
    pub fn is_system_root(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// Resolves a path from the configuration or the spec under the root. Absolute
    /// paths are taken as relative to the root, so `/dev/x` becomes `ROOT/dev/x`.
    pub fn resolve(&self, rel: impl AsRef<Path>) -> PathBuf {
        let mut out = self.dir.clone();
        for c in rel.as_ref().components() {
            match c {
                Component::Normal(p) => out.push(p),
                Component::ParentDir => {
                    out.push("..");
                }
                Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            }
        }
        out
    }

    pub fn config_file(&self) -> PathBuf {
        self.resolve("etc/appliance/appliance.toml")
    }
    pub fn support_keys(&self) -> PathBuf {
        self.resolve("etc/appliance/support_keys")
    }
    pub fn grubenv(&self) -> PathBuf {
        self.resolve("boot/grub/grubenv")
    }
    pub fn cmdline(&self) -> PathBuf {
        self.resolve("proc/cmdline")
    }
    /// Journal, slot status, staged manifests, phase-2 checkpoint: the files in it
    /// are named by `crate::state`.
    pub fn state_dir(&self) -> PathBuf {
        self.resolve("var/lib/upgrade-console")
    }
    /// The console log (also what the boot log server shows).
    pub fn log_dir(&self) -> PathBuf {
        self.resolve("var/log/upgrade-console")
    }
    pub fn log_file(&self) -> PathBuf {
        self.log_dir().join("console.log")
    }
    pub fn crash_dir(&self) -> PathBuf {
        self.resolve("var/crash")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths_stay_under_the_root() {
        let r = ApplianceRoot::new("/tmp/appl");
        assert_eq!(r.resolve("/dev/sda2"), PathBuf::from("/tmp/appl/dev/sda2"));
        assert_eq!(
            r.config_file(),
            PathBuf::from("/tmp/appl/etc/appliance/appliance.toml")
        );
        let sys = ApplianceRoot::new("/");
        assert_eq!(sys.resolve("/dev/sda2"), PathBuf::from("/dev/sda2"));
        assert!(sys.is_system_root());
    }
}
