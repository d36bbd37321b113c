//! Firmware ISO images, read in user space (the appliance kernel may have no iso9660
//! driver): the manifest, and where the payload lies in the image as byte ranges, so
//! the whole image and the payload can be hashed in one read and the payload
//! streamed into a slot. Images are untrusted: every size and offset is checked
//! against the file before it is used.

use crate::image::manifest::{MAX_MANIFEST_BYTES, Manifest, ManifestError, is_safe_relative_path};
use hadris_iso::read::IsoImage;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub const MANIFEST_PATH: &str = "firmware/manifest.toml";
const SECTOR: u64 = 2048;
/// Largest file extracted from an image into memory (migration programs, manifest).
pub const MAX_SMALL_FILE: u64 = 64 << 20;
/// Where the migration programs lie in an image.
pub const MIGRATIONS_DIR: &str = "firmware/migrations";
/// Bounds of the walk over an image's directory tree when it is opened: deeper or
/// larger trees are not firmware images, and a hostile one must not run us out of
/// time or memory.
pub const MAX_DEPTH: usize = 32;
pub const MAX_ENTRIES: usize = 100_000;
/// All migration programs together (they are staged on the appliance's disk).
pub const MAX_MIGRATIONS_BYTES: u64 = 256 << 20;

/// A contiguous byte range of the image file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub offset: u64,
    pub len: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    // The cause is part of the text and deliberately not a `source`: `{e:#}` would
    // print it twice.
    #[error("cannot read \"{path}\": {error}; check the path and permissions")]
    Io { path: PathBuf, error: io::Error },
    #[error("\"{path}\" is not an ISO9660 image ({why}); download the firmware ISO again")]
    NotIso { path: PathBuf, why: String },
    #[error(
        "\"{path}\" is truncated: it declares {declared} bytes but the file has {actual}; the download is incomplete: download it again"
    )]
    Truncated {
        path: PathBuf,
        declared: u64,
        actual: u64,
    },
    #[error("\"{path}\" has no {MANIFEST_PATH}: it is not a firmware image for this console")]
    NoManifest { path: PathBuf },
    #[error("\"{path}\": {error}")]
    Manifest { path: PathBuf, error: ManifestError },
    #[error(
        "\"{path}\": the manifest names payload \"{file}\" but the image has no such file; download the image again"
    )]
    NoPayload { path: PathBuf, file: String },
    #[error(
        "\"{path}\": payload \"{file}\" is {actual} bytes but the manifest says {declared}; the image is damaged: download it again"
    )]
    PayloadSize {
        path: PathBuf,
        file: String,
        declared: u64,
        actual: u64,
    },
    #[error("\"{path}\" is damaged: {why}; download the firmware ISO again")]
    Damaged { path: PathBuf, why: String },
    #[error(
        "\"{path}\": {what} lies outside the image (bytes {start}..{end} of {size}); the image is damaged: download it again"
    )]
    OutOfBounds {
        path: PathBuf,
        what: String,
        start: u64,
        end: u64,
        size: u64,
    },
}

/// An opened firmware image: its manifest and where the payload lies.
#[derive(Debug, Clone)]
pub struct FirmwareImage {
    pub path: PathBuf,
    /// Size of the image file in bytes.
    pub size: u64,
    pub manifest: Manifest,
    pub manifest_text: String,
    /// The payload's byte ranges in the image, in payload order.
    pub payload: Vec<ByteRange>,
    /// Every file under `firmware/migrations/`, found by a walk that visited each
    /// directory once, with its path under that directory and where it lies.
    pub migrations: Vec<MigrationFile>,
}

/// A migration program of an image, checked when the image was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    /// Path under `firmware/migrations/`, a safe relative path.
    pub path: String,
    pub ranges: Vec<ByteRange>,
    pub size: u64,
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> IsoError + '_ {
    move |error| IsoError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Checks the primary volume descriptor ourselves before handing the image to the
/// ISO reader: magic, block size, and the declared volume size against the file.
fn precheck(path: &Path, file: &mut File, size: u64) -> Result<(), IsoError> {
    let not_iso = |why: &str| IsoError::NotIso {
        path: path.to_path_buf(),
        why: why.to_string(),
    };
    if size < 17 * SECTOR {
        return Err(not_iso(&format!(
            "only {size} bytes, too small for a volume descriptor"
        )));
    }
    let mut pvd = [0u8; 2048];
    file.seek(SeekFrom::Start(16 * SECTOR))
        .map_err(io_err(path))?;
    file.read_exact(&mut pvd).map_err(io_err(path))?;
    if &pvd[1..6] != b"CD001" || pvd[0] != 1 {
        return Err(not_iso("no primary volume descriptor at sector 16"));
    }
    let blocks = u32::from_le_bytes([pvd[80], pvd[81], pvd[82], pvd[83]]) as u64;
    let block_size = u16::from_le_bytes([pvd[128], pvd[129]]) as u64;
    if block_size != SECTOR {
        return Err(not_iso(&format!(
            "logical block size {block_size}, expected 2048"
        )));
    }
    let path_table = u32::from_le_bytes([pvd[132], pvd[133], pvd[134], pvd[135]]) as u64;
    if path_table > 16 << 20 {
        return Err(not_iso(&format!("path table of {path_table} bytes")));
    }
    let declared = blocks * block_size;
    if declared > size {
        return Err(IsoError::Truncated {
            path: path.to_path_buf(),
            declared,
            actual: size,
        });
    }
    Ok(())
}

type Reader = IsoImage<BufReader<File>>;

/// Runs a reader call, turning a panic inside the ISO library into an error: a
/// hostile image must never take the console down.
fn guarded<T, E: std::fmt::Display>(
    path: &Path,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, IsoError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(IsoError::NotIso {
            path: path.to_path_buf(),
            why: e.to_string(),
        }),
        Err(_) => Err(IsoError::NotIso {
            path: path.to_path_buf(),
            why: "malformed directory structure".into(),
        }),
    }
}

impl FirmwareImage {
    /// Opens an image, reads and validates its manifest, and locates the payload.
    pub fn open(path: &Path) -> Result<FirmwareImage, IsoError> {
        let mut file = File::open(path).map_err(io_err(path))?;
        let size = file.metadata().map_err(io_err(path))?.len();
        precheck(path, &mut file, size)?;
        let iso: Reader = guarded(path, || IsoImage::open(BufReader::new(file)))?;

        let entry = guarded(path, || iso.find_path(MANIFEST_PATH))?.ok_or_else(|| {
            IsoError::NoManifest {
                path: path.to_path_buf(),
            }
        })?;
        let ranges = ranges_of(path, &entry, size, MANIFEST_PATH)?;
        let total: u64 = ranges.iter().map(|r| r.len).sum();
        if total > MAX_MANIFEST_BYTES {
            return Err(IsoError::Manifest {
                path: path.to_path_buf(),
                error: ManifestError::Invalid {
                    key: "(file)".into(),
                    value: format!("{total} bytes"),
                    problem: "is larger than 1 MiB".into(),
                },
            });
        }
        let bytes = read_ranges(path, &ranges)?;
        let manifest_text = String::from_utf8(bytes).map_err(|_| IsoError::Manifest {
            path: path.to_path_buf(),
            error: ManifestError::Syntax("it is not UTF-8 text".into()),
        })?;
        let manifest = Manifest::parse(&manifest_text).map_err(|error| IsoError::Manifest {
            path: path.to_path_buf(),
            error,
        })?;

        let file_name = manifest.payload.file.clone();
        let entry =
            guarded(path, || iso.find_path(&file_name))?.ok_or_else(|| IsoError::NoPayload {
                path: path.to_path_buf(),
                file: file_name.clone(),
            })?;
        if entry.is_directory() {
            return Err(IsoError::NoPayload {
                path: path.to_path_buf(),
                file: file_name,
            });
        }
        let payload = ranges_of(path, &entry, size, &file_name)?;
        let actual: u64 = payload.iter().map(|r| r.len).sum();
        if actual != manifest.payload.size {
            return Err(IsoError::PayloadSize {
                path: path.to_path_buf(),
                file: file_name,
                declared: manifest.payload.size,
                actual,
            });
        }
        // The whole tree, before anyone relies on the image: activation must not
        // find a loop or an unreadable program after it has written the slot.
        let tree = walk_tree(path, &iso, size)?;
        let migrations = migrations_of(path, tree, MIGRATIONS_DIR)?;
        Ok(FirmwareImage {
            path: path.to_path_buf(),
            size,
            manifest,
            manifest_text,
            payload,
            migrations,
        })
    }

    /// Reads one migration program found when the image was opened.
    pub fn read_migration(&self, file: &MigrationFile) -> Result<Vec<u8>, IsoError> {
        read_ranges(&self.path, &file.ranges)
    }

    /// Whether a step command (relative to `firmware/`, as the manifest writes it,
    /// e.g. `migrations/step.sh`) names a migration program of this image.
    pub fn has_program(&self, command: &str) -> bool {
        command
            .strip_prefix("migrations/")
            .is_some_and(|rel| self.migrations.iter().any(|m| m.path == rel))
    }

    /// A reader over the payload bytes, in order.
    pub fn payload_reader(&self) -> Result<RangesReader, IsoError> {
        RangesReader::open(&self.path, self.payload.clone())
    }

    /// Reads a small file of the image (a migration program, say), bounded in size.
    pub fn read_small_file(&self, iso_path: &str) -> Result<Option<Vec<u8>>, IsoError> {
        let file = File::open(&self.path).map_err(io_err(&self.path))?;
        let iso: Reader = guarded(&self.path, || IsoImage::open(BufReader::new(file)))?;
        let Some(entry) = guarded(&self.path, || iso.find_path(iso_path))? else {
            return Ok(None);
        };
        if entry.is_directory() {
            return Ok(None);
        }
        let ranges = ranges_of(&self.path, &entry, self.size, iso_path)?;
        let total: u64 = ranges.iter().map(|r| r.len).sum();
        if total > MAX_SMALL_FILE {
            return Err(IsoError::OutOfBounds {
                path: self.path.clone(),
                what: format!(
                    "\"{iso_path}\" ({total} bytes, over the {MAX_SMALL_FILE}-byte limit)"
                ),
                start: 0,
                end: total,
                size: MAX_SMALL_FILE,
            });
        }
        read_ranges(&self.path, &ranges).map(Some)
    }

    /// Lists the files under a directory of the image (recursively), as relative
    /// paths under it. Names that are not safe relative paths are refused.
    pub fn list_files(&self, dir: &str) -> Result<Vec<String>, IsoError> {
        let file = File::open(&self.path).map_err(io_err(&self.path))?;
        let iso: Reader = guarded(&self.path, || IsoImage::open(BufReader::new(file)))?;
        let tree = walk_tree(&self.path, &iso, self.size)?;
        Ok(migrations_of(&self.path, tree, dir)?
            .into_iter()
            .map(|m| m.path)
            .collect())
    }
}

/// A file found by [`walk_tree`]: its path from the image root and where it lies.
struct TreeFile {
    path: String,
    ranges: Vec<ByteRange>,
}

/// Walks the image's whole directory tree once: each directory is entered once (a
/// directory record pointing at a directory already seen, such as its own parent,
/// makes a loop and is refused), nesting and entry count are bounded, and every
/// file's extents must lie in the image.
fn walk_tree(path: &Path, iso: &Reader, size: u64) -> Result<Vec<TreeFile>, IsoError> {
    let damaged = |why: String| IsoError::Damaged {
        path: path.to_path_buf(),
        why,
    };
    let root = iso.root_dir().dir_ref();
    let mut seen = std::collections::HashSet::from([root.extent.0]);
    let mut stack = vec![(String::new(), root, 0usize)];
    let mut entries = 0usize;
    let mut files = Vec::new();
    while let Some((prefix, dir, depth)) = stack.pop() {
        let children: Vec<_> = guarded(path, || {
            iso.open_dir(dir).entries().collect::<Result<Vec<_>, _>>()
        })?;
        for c in children {
            if c.is_special() {
                continue;
            }
            entries += 1;
            if entries > MAX_ENTRIES {
                return Err(damaged(format!(
                    "it holds more than {MAX_ENTRIES} files and directories"
                )));
            }
            let name = c.display_name().to_string();
            let name = name
                .rsplit_once(';')
                .map(|(b, _)| b.to_string())
                .unwrap_or(name);
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if !c.is_directory() {
                files.push(TreeFile {
                    ranges: ranges_of(path, &c, size, &rel)?,
                    path: rel,
                });
                continue;
            }
            if depth + 1 > MAX_DEPTH {
                return Err(damaged(format!(
                    "directories are nested more than {MAX_DEPTH} deep at \"{}\"",
                    rel.escape_default()
                )));
            }
            let d = guarded(path, || c.as_dir_ref(iso))?;
            let end = (d.extent.0 as u64)
                .saturating_mul(SECTOR)
                .saturating_add(d.size as u64);
            if end > size {
                return Err(IsoError::OutOfBounds {
                    path: path.to_path_buf(),
                    what: format!("directory \"{}\"", rel.escape_default()),
                    start: d.extent.0 as u64 * SECTOR,
                    end,
                    size,
                });
            }
            if !seen.insert(d.extent.0) {
                return Err(damaged(format!(
                    "its directory tree loops: \"{}\" is a directory already seen (sector {})",
                    rel.escape_default(),
                    d.extent.0
                )));
            }
            stack.push((rel, d, depth + 1));
        }
    }
    Ok(files)
}

/// The files under `dir` of a walked tree, as paths under it: each a safe relative
/// path, each and all together bounded in size.
fn migrations_of(
    path: &Path,
    tree: Vec<TreeFile>,
    dir: &str,
) -> Result<Vec<MigrationFile>, IsoError> {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    let mut out = Vec::new();
    let mut total = 0u64;
    for f in tree {
        let Some(rel) = f.path.strip_prefix(&prefix) else {
            continue;
        };
        if !is_safe_relative_path(rel) {
            return Err(IsoError::NotIso {
                path: path.to_path_buf(),
                why: format!("unsafe file name \"{}\" under {dir}", rel.escape_default()),
            });
        }
        let len: u64 = f.ranges.iter().map(|r| r.len).sum();
        total = total.saturating_add(len);
        if len > MAX_SMALL_FILE || total > MAX_MIGRATIONS_BYTES {
            return Err(IsoError::Damaged {
                path: path.to_path_buf(),
                why: format!(
                    "\"{}\" is {len} bytes and the files under {dir} {total} so far, over the limits of {MAX_SMALL_FILE} and {MAX_MIGRATIONS_BYTES}",
                    f.path.escape_default()
                ),
            });
        }
        out.push(MigrationFile {
            path: rel.to_string(),
            ranges: f.ranges,
            size: len,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The byte ranges of a file entry, each checked against the image size.
fn ranges_of(
    path: &Path,
    entry: &hadris_iso::read::DirEntry,
    size: u64,
    what: &str,
) -> Result<Vec<ByteRange>, IsoError> {
    let h = entry.header();
    if h.file_unit_size != 0 || h.interleave_gap_size != 0 {
        return Err(IsoError::NotIso {
            path: path.to_path_buf(),
            why: format!("\"{what}\" is stored interleaved, which firmware images never use"),
        });
    }
    let mut out: Vec<ByteRange> = Vec::new();
    for ext in entry.extents() {
        let offset = ext.sector.0 as u64 * SECTOR;
        let len = ext.length as u64;
        let end = offset.saturating_add(len);
        if end > size {
            return Err(IsoError::OutOfBounds {
                path: path.to_path_buf(),
                what: format!("\"{what}\""),
                start: offset,
                end,
                size,
            });
        }
        if len == 0 {
            continue;
        }
        // Adjacent extents (the usual layout of a multi-extent file) merge into one range.
        match out.last_mut() {
            Some(last) if last.offset + last.len == offset => last.len += len,
            _ => out.push(ByteRange { offset, len }),
        }
    }
    Ok(out)
}

fn read_ranges(path: &Path, ranges: &[ByteRange]) -> Result<Vec<u8>, IsoError> {
    let mut out = Vec::new();
    RangesReader::open(path, ranges.to_vec())?
        .read_to_end(&mut out)
        .map_err(io_err(path))?;
    Ok(out)
}

/// Reads a list of byte ranges of a file as one stream.
pub struct RangesReader {
    file: File,
    ranges: std::vec::IntoIter<ByteRange>,
    current: Option<ByteRange>,
}

impl RangesReader {
    pub fn open(path: &Path, ranges: Vec<ByteRange>) -> Result<Self, IsoError> {
        let file = File::open(path).map_err(io_err(path))?;
        Ok(RangesReader {
            file,
            ranges: ranges.into_iter(),
            current: None,
        })
    }
}

impl Read for RangesReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.current {
                Some(r) if r.len > 0 => {
                    self.file.seek(SeekFrom::Start(r.offset))?;
                    let want = buf.len().min(r.len.min(usize::MAX as u64) as usize);
                    let n = self.file.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "image ends inside a file",
                        ));
                    }
                    self.current = Some(ByteRange {
                        offset: r.offset + n as u64,
                        len: r.len - n as u64,
                    });
                    return Ok(n);
                }
                _ => match self.ranges.next() {
                    Some(r) => self.current = Some(r),
                    None => return Ok(0),
                },
            }
        }
    }
}
