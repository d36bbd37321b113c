//! Opening the files we write under the appliance root without being led out of it:
//! the last path component is never followed if it is a symbolic link (a planted
//! link would otherwise redirect a log line, a lock or a state file anywhere), temp
//! files are created exclusively under unpredictable names, and every descriptor is
//! close-on-exec (std sets O_CLOEXEC on every open) so steps we start do not inherit it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    options.custom_flags(libc::O_NOFOLLOW)
}

/// Turns the kernel's answer to O_NOFOLLOW on a link into a message that names the
/// file and the fix; other errors pass through with the path added.
fn explain(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "\"{}\" is a symbolic link, and files the console writes are never followed through links (one could point outside the appliance root); remove the link and try again",
                path.display()
            ),
        )
    } else {
        io::Error::new(e.kind(), format!("\"{}\": {e}", path.display()))
    }
}

/// Opens (creating it if needed) a file to append to, such as the console log.
pub fn open_append(path: &Path) -> io::Result<File> {
    no_follow(OpenOptions::new().create(true).append(true).mode(0o640))
        .open(path)
        .map_err(|e| explain(path, e))
}

/// Creates or empties a file to write from the start, such as a child's captured
/// error output.
pub fn create_truncate(path: &Path) -> io::Result<File> {
    no_follow(
        OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o640),
    )
    .open(path)
    .map_err(|e| explain(path, e))
}

/// Opens (creating it and its directory if needed) a lock file for `flock`; its
/// contents are never read or written.
pub fn open_lock(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| explain(dir, e))?;
    }
    no_follow(
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600),
    )
    .open(path)
    .map_err(|e| explain(path, e))
}

/// An unpredictable name part: a planted file or link cannot be waiting for it.
fn random_suffix() -> String {
    let mut b = [0u8; 12];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return hex::encode(b);
    }
    // No /dev/urandom (a bare chroot): the standard library's per-process random keys.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", h.finish())
}

/// Creates a new file in `dir` named `{prefix}.{random}.tmp`, exclusively (O_EXCL:
/// an existing file or link of that name is an error, never reused) with `mode`
/// (less the umask). Returns it with its path; the caller renames or removes it.
pub fn create_temp(dir: &Path, prefix: &str, mode: u32) -> io::Result<(File, PathBuf)> {
    let mut last = None;
    for _ in 0..16 {
        let path = dir.join(format!("{prefix}.{}.tmp", random_suffix()));
        match no_follow(OpenOptions::new().write(true).create_new(true).mode(mode)).open(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(explain(&path, e)),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("outside");
        let link = d.path().join("console.log");
        symlink(&target, &link).unwrap();
        let e = open_append(&link).unwrap_err();
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        let lock = d.path().join("boot.lock");
        symlink(&target, &lock).unwrap();
        let e = open_lock(&lock).unwrap_err();
        assert!(e.to_string().contains("remove the link"), "{e}");
        let err = d.path().join("activate.stderr");
        symlink(&target, &err).unwrap();
        assert!(create_truncate(&err).is_err());
        assert!(!target.exists());
    }

    #[test]
    fn temp_names_differ_and_are_exclusive() {
        let d = tempfile::tempdir().unwrap();
        let (_f1, p1) = create_temp(d.path(), ".x", 0o600).unwrap();
        let (_f2, p2) = create_temp(d.path(), ".x", 0o600).unwrap();
        assert_ne!(p1, p2);
        assert!(p1.file_name().unwrap().len() > 20);
    }
}
