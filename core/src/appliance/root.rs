//! The appliance root: every file the console reads or writes lives under it, so the
//! same code serves a real appliance (`/`) and a demo or test directory.

use std::path::{Component, Path, PathBuf};

/// Paths of the appliance, all resolved under one root directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplianceRoot {
    dir: PathBuf,
}

/// Whether a configured path climbs above the root with `..` (as `/../outside/x`
/// does), read lexically as [`ApplianceRoot::resolve`] reads it.
pub fn leaves_root(rel: impl AsRef<Path>) -> bool {
    let mut depth = 0usize;
    for c in rel.as_ref().components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir if depth == 0 => return true,
            Component::ParentDir => depth -= 1,
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
        }
    }
    false
}

impl ApplianceRoot {
    /// A relative root is made absolute here, once, against the working directory:
    /// steps run with the root as their working directory and would otherwise find
    /// `demo-appliance/var/...` under `demo-appliance/` (issue 9, defect 1).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let dir = if dir.is_absolute() {
            dir
        } else {
            // Only fails when the working directory is gone; then the path as given is
            // all there is, and every open reports it.
            std::path::absolute(&dir).unwrap_or(dir)
        };
        Self { dir }
    }

    /// How an operator names this appliance on the command line, for suggested
    /// commands: `upgrade-console` on `/`, else with `--root DIR` (quoted if needed).
    pub fn command(&self) -> String {
        if self.is_system_root() {
            return "upgrade-console".into();
        }
        let dir = self.dir.display().to_string();
        let plain = dir
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c));
        if plain {
            format!("upgrade-console --root {dir}")
        } else {
            format!("upgrade-console --root '{}'", dir.replace('\'', r"'\''"))
        }
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
    /// paths are taken as relative to the root, so `/dev/x` becomes `ROOT/dev/x`, and
    /// `..` stops at the root as it does in a chroot: `/../x` is `ROOT/x`, never a
    /// sibling of the root (configuration loading refuses such paths first).
    pub fn resolve(&self, rel: impl AsRef<Path>) -> PathBuf {
        let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
        for c in rel.as_ref().components() {
            match c {
                Component::Normal(p) => parts.push(p),
                Component::ParentDir => {
                    parts.pop();
                }
                Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            }
        }
        let mut out = self.dir.clone();
        out.extend(parts);
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

    /// The directories the console writes into, each checked by [`Self::escape`].
    fn written_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.state_dir(), self.log_dir(), self.crash_dir()];
        dirs.extend(self.grubenv().parent().map(Path::to_path_buf));
        dirs.extend(self.cmdline().parent().map(Path::to_path_buf));
        dirs
    }

    /// Why writing under this root could land outside it: a directory on the way to
    /// what the console writes (state, logs, crash reports, the boot environment) is a
    /// symbolic link whose target is not inside the root. Files themselves are never
    /// followed through links (`safe_open`); this covers the directories above them.
    /// `None` on the system root, where every path is inside.
    pub fn escape(&self) -> Option<String> {
        if self.is_system_root() {
            return None;
        }
        let root = std::fs::canonicalize(&self.dir).ok()?;
        for dir in self.written_dirs() {
            let Ok(rel) = dir.strip_prefix(&self.dir) else {
                continue;
            };
            let mut at = self.dir.clone();
            for c in rel.components() {
                at.push(c);
                let Ok(meta) = std::fs::symlink_metadata(&at) else {
                    break;
                };
                if !meta.file_type().is_symlink() {
                    continue;
                }
                // A link inside the root to elsewhere inside it is layout, not escape;
                // a dangling one would be created outside by create_dir_all.
                let inside = std::fs::canonicalize(&at).is_ok_and(|t| t.starts_with(&root));
                if !inside {
                    let target = std::fs::read_link(&at)
                        .map(|t| t.display().to_string())
                        .unwrap_or_else(|_| "?".into());
                    return Some(format!(
                        "\"{}\" is a symbolic link to \"{target}\", outside the appliance root \"{}\": nothing is written outside --root; replace the link with a directory",
                        at.display(),
                        self.dir.display()
                    ));
                }
            }
        }
        None
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

    #[test]
    fn dot_dot_stops_at_the_root() {
        let r = ApplianceRoot::new("/tmp/appl");
        assert_eq!(
            r.resolve("/../outside/slotB.img"),
            PathBuf::from("/tmp/appl/outside/slotB.img")
        );
        assert_eq!(r.resolve("dev/../x"), PathBuf::from("/tmp/appl/x"));
        assert!(leaves_root("/../outside/slotB.img"));
        assert!(leaves_root("a/../../b"));
        assert!(!leaves_root("/dev/disk/../sda2"));
    }

    #[test]
    fn suggested_commands_name_the_root() {
        assert_eq!(ApplianceRoot::new("/").command(), "upgrade-console");
        assert_eq!(
            ApplianceRoot::new("/srv/a").command(),
            "upgrade-console --root /srv/a"
        );
        assert_eq!(
            ApplianceRoot::new("/srv/my box").command(),
            "upgrade-console --root '/srv/my box'"
        );
    }

    #[test]
    fn a_relative_root_is_made_absolute_once() {
        let r = ApplianceRoot::new("demo-appliance");
        assert!(r.dir().is_absolute(), "{}", r.dir().display());
        assert_eq!(
            r.dir(),
            std::env::current_dir().unwrap().join("demo-appliance")
        );
    }
}
