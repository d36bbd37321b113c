//! The one way state reaches the disk: write a temporary file, fsync it, rename it over
//! the target, fsync the directory. A crash leaves either the old or the new file.

use crate::appliance::safe_open::create_temp;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Atomically and durably replaces `path` with `bytes` (creating parent directories).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    // Exclusive and unpredictable: a link planted under a guessable name would make
    // us write through it.
    let (mut f, tmp) = create_temp(dir, &format!(".{}", name.to_string_lossy()), 0o644)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    drop(f);
    // rename replaces a link at `path` itself; it never writes through one.
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Makes a directory's entries (creations, renames) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_contents_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/state.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
