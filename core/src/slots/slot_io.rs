//! Slot devices and image files: identifying them (so two slots that are one device
//! are refused), streaming a payload into one while hashing it, and reading it back
//! with the page cache bypassed (O_DIRECT; POSIX_FADV_DONTNEED where a filesystem
//! refuses O_DIRECT, e.g. tmpfs). Reading, hashing and writing overlap on threads
//! and page-aligned buffers, so a slot write costs little more than the disk time.

use crate::image::iso::ByteRange;
use crate::slots::slot_status::SlotName;
use crate::upgrade::killpoint;
use nix::fcntl::{OFlag, PosixFadviseAdvice, posix_fadvise};
use nix::sys::stat::Mode;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

/// Alignment O_DIRECT needs (covers 512- and 4096-byte sectors).
pub const ALIGN: usize = 4096;
/// Bytes per write/read request.
pub const CHUNK: usize = 4 << 20;
/// Buffers in flight per pipeline.
const DEPTH: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum SlotIoError {
    #[error("slot {slot} \"{path}\" cannot be used: {source}; check [slots] in appliance.toml")]
    Open {
        slot: SlotName,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "slots A \"{a}\" and B \"{b}\" are the same {what}; writing one would destroy the running firmware: give each slot its own partition in [slots]"
    )]
    SameDevice { a: String, b: String, what: String },
    #[error("slot {slot} \"{path}\" is {what}, not a block device or image file")]
    NotASlot {
        slot: SlotName,
        path: String,
        what: String,
    },
    #[error(
        "slot {slot} \"{path}\" is mounted at \"{mountpoint}\"; it is in use and must not be written"
    )]
    Mounted {
        slot: SlotName,
        path: String,
        mountpoint: String,
    },
    #[error(
        "slot {slot} \"{path}\" holds {size} bytes but the payload needs {needed}; the partition is too small for this firmware"
    )]
    TooSmall {
        slot: SlotName,
        path: String,
        size: u64,
        needed: u64,
    },
    #[error("writing slot {slot} \"{path}\" failed at byte {offset}: {source}")]
    Write {
        slot: SlotName,
        path: String,
        offset: u64,
        source: std::io::Error,
    },
    #[error("reading \"{path}\" failed at byte {offset}: {source}")]
    Read {
        path: String,
        offset: u64,
        source: std::io::Error,
    },
}

/// One slot as configured and as found on the system.
#[derive(Debug, Clone)]
pub struct SlotDevice {
    pub slot: SlotName,
    /// As configured, resolved under the root.
    pub path: PathBuf,
    /// With every symlink followed.
    pub canonical: PathBuf,
    pub block: bool,
    /// Device number for block devices, (st_dev, st_ino) identity for files.
    identity: (u64, u64),
    /// Capacity of a block device (files grow).
    pub capacity: Option<u64>,
}

impl SlotDevice {
    pub fn identify(slot: SlotName, path: &Path) -> Result<SlotDevice, SlotIoError> {
        let err = |source| SlotIoError::Open {
            slot,
            path: path.display().to_string(),
            source,
        };
        let canonical = std::fs::canonicalize(path).map_err(err)?;
        let meta = std::fs::metadata(&canonical).map_err(err)?;
        let ft = meta.file_type();
        let (block, identity, capacity) = if ft.is_block_device() {
            let mut f = File::open(&canonical).map_err(err)?;
            let size = f.seek(SeekFrom::End(0)).map_err(err)?;
            (true, (meta.rdev(), 0), Some(size))
        } else if ft.is_file() {
            (false, (meta.dev(), meta.ino()), None)
        } else {
            return Err(SlotIoError::NotASlot {
                slot,
                path: path.display().to_string(),
                what: if ft.is_dir() {
                    "a directory".into()
                } else {
                    "a special file".into()
                },
            });
        };
        Ok(SlotDevice {
            slot,
            path: path.to_path_buf(),
            canonical,
            block,
            identity,
            capacity,
        })
    }

    /// Where a block device is mounted, if it is (from /proc/self/mountinfo).
    pub fn mountpoint(&self) -> Option<String> {
        if !self.block {
            return None;
        }
        let (major, minor) = (
            nix::sys::stat::major(self.identity.0),
            nix::sys::stat::minor(self.identity.0),
        );
        let want = format!("{major}:{minor}");
        let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        info.lines().find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(2) == Some(&want.as_str())).then(|| f.get(4).unwrap_or(&"?").to_string())
        })
    }

    /// Refuses to go on unless this slot can take `size` bytes now.
    pub fn check_writable(&self, size: u64) -> Result<(), SlotIoError> {
        if let Some(m) = self.mountpoint() {
            return Err(SlotIoError::Mounted {
                slot: self.slot,
                path: self.path.display().to_string(),
                mountpoint: m,
            });
        }
        if let Some(cap) = self.capacity
            && cap < size
        {
            return Err(SlotIoError::TooSmall {
                slot: self.slot,
                path: self.path.display().to_string(),
                size: cap,
                needed: size,
            });
        }
        Ok(())
    }
}

/// Identifies both slots and refuses a configuration where they are one device or file.
pub fn identify_pair(a: &Path, b: &Path) -> Result<(SlotDevice, SlotDevice), SlotIoError> {
    let da = SlotDevice::identify(SlotName::A, a)?;
    let db = SlotDevice::identify(SlotName::B, b)?;
    if da.block == db.block && da.identity == db.identity {
        return Err(SlotIoError::SameDevice {
            a: a.display().to_string(),
            b: b.display().to_string(),
            what: if da.block { "device" } else { "file" }.into(),
        });
    }
    Ok((da, db))
}

/// A page-aligned buffer carved out of a slightly larger Vec (safe code only).
pub struct AlignedBuf {
    vec: Vec<u8>,
    off: usize,
    cap: usize,
}

impl AlignedBuf {
    pub fn new(cap: usize) -> AlignedBuf {
        let vec = vec![0u8; cap + ALIGN];
        let off = vec.as_ptr().align_offset(ALIGN);
        AlignedBuf { vec, off, cap }
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.vec[self.off..self.off + self.cap]
    }
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.vec[self.off..self.off + self.cap]
    }
}

/// A buffer that goes back to its pool when the last user drops it.
struct Pooled {
    buf: Option<AlignedBuf>,
    home: SyncSender<AlignedBuf>,
    len: usize,
}

impl Pooled {
    fn data(&self) -> &[u8] {
        self.buf
            .as_ref()
            .map(|b| &b.as_slice()[..self.len])
            .unwrap_or(&[])
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            let _ = self.home.try_send(b);
        }
    }
}

fn pool(n: usize, cap: usize) -> (SyncSender<AlignedBuf>, Receiver<AlignedBuf>) {
    let (tx, rx) = sync_channel(n);
    for _ in 0..n {
        let _ = tx.send(AlignedBuf::new(cap));
    }
    (tx, rx)
}

fn open_flags(path: &Path, flags: OFlag) -> std::io::Result<File> {
    let fd = nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(std::io::Error::from)?;
    Ok(File::from(fd))
}

/// Opens for writing with O_DIRECT if the filesystem allows it.
fn open_write(dev: &SlotDevice) -> std::io::Result<(File, Option<File>)> {
    let mut flags = OFlag::O_WRONLY;
    if !dev.block {
        flags |= OFlag::O_CREAT;
    }
    let buffered = open_flags(&dev.canonical, flags)?;
    let direct = open_flags(&dev.canonical, flags | OFlag::O_DIRECT).ok();
    Ok((buffered, direct))
}

/// What a slot write did.
#[derive(Debug, Clone)]
pub struct WriteReport {
    pub written: u64,
    /// SHA-256 of the payload bytes as they were written.
    pub payload_sha256: [u8; 32],
    /// SHA-256 of the whole source file (the ISO), read in the same pass, when asked for.
    pub source_sha256: Option<[u8; 32]>,
    pub direct: bool,
    /// SHA-256 of the slot read back (after fsync, page cache bypassed), `written` bytes.
    pub read_back_sha256: [u8; 32],
    pub read_back: u64,
    pub direct_read: bool,
}

/// Chunks per fsync-and-read-back segment (256 MiB with 4 MiB chunks).
const SEGMENT_CHUNKS: u64 = 64;

struct Piece {
    buf: Pooled,
    /// Offset in the payload, for pieces that belong to it.
    payload_at: Option<u64>,
}

/// The source file in file order, with which parts are payload.
fn plan(size: u64, payload: &[ByteRange]) -> Vec<(u64, u64, bool)> {
    let mut out = Vec::new();
    if ascending_plan(payload) {
        let mut pos = 0;
        for r in payload {
            if r.offset > pos {
                out.push((pos, r.offset - pos, false));
            }
            out.push((r.offset, r.len, true));
            pos = r.offset + r.len;
        }
        if size > pos {
            out.push((pos, size - pos, false));
        }
    } else {
        // Unusual layout: hash the whole file, then take the payload ranges in order
        // (the source hash is then over the file order, as `verify` computes it).
        out.push((0, size, false));
        for r in payload {
            out.push((r.offset, r.len, true));
        }
    }
    out
}

/// Streams `payload` (byte ranges of `source`) into the slot and reads it back.
///
/// Threads: a reader takes the source in order; a hasher hashes the payload (and,
/// with `hash_source`, another the whole source); two writers keep two requests in
/// flight; a syncer fsyncs each finished segment; a verifier reads each segment back
/// only after its fsync, with O_DIRECT (or after dropping its cached pages), and
/// hashes it. Reading back segment k overlaps writing segment k+1, so the two hashes
/// run on two cores. `progress` gets (bytes written, bytes read back).
pub fn write_payload(
    source: &Path,
    payload: &[ByteRange],
    dev: &SlotDevice,
    chunk: usize,
    hash_source: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<WriteReport, SlotIoError> {
    write_payload_with(source, payload, dev, chunk, hash_source, true, progress)
}

/// `write_payload`, with O_DIRECT allowed or not (tests reach the fallback path with
/// it, since this kernel's tmpfs accepts O_DIRECT).
fn write_payload_with(
    source: &Path,
    payload: &[ByteRange],
    dev: &SlotDevice,
    chunk: usize,
    hash_source: bool,
    allow_direct: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<WriteReport, SlotIoError> {
    let chunk = chunk.max(ALIGN) / ALIGN * ALIGN;
    let total: u64 = payload.iter().map(|r| r.len).sum();
    let src_err = |offset, e| SlotIoError::Read {
        path: source.display().to_string(),
        offset,
        source: e,
    };
    let ascending = ascending_plan(payload);
    let mut src = File::open(source).map_err(|e| src_err(0, e))?;
    let size = src.metadata().map_err(|e| src_err(0, e))?.len();
    let werr = |offset, source| SlotIoError::Write {
        slot: dev.slot,
        path: dev.path.display().to_string(),
        offset,
        source,
    };
    let rerr = |offset, source| SlotIoError::Read {
        path: dev.path.display().to_string(),
        offset,
        source,
    };
    let (buffered, mut direct) = open_write(dev).map_err(|e| werr(0, e))?;
    if !allow_direct {
        direct = None;
    }
    if !dev.block {
        // A file slot holds exactly the payload.
        buffered.set_len(total).map_err(|e| werr(0, e))?;
    }
    let used_direct = direct.is_some();
    let back_direct = open_flags(&dev.canonical, OFlag::O_RDONLY | OFlag::O_DIRECT)
        .ok()
        .filter(|_| allow_direct);
    let (back, direct_read) = match back_direct {
        Some(f) => (f, true),
        None => (
            open_flags(&dev.canonical, OFlag::O_RDONLY).map_err(|e| rerr(0, e))?,
            false,
        ),
    };
    let segment = chunk as u64 * SEGMENT_CHUNKS;

    let (home, free) = pool(DEPTH, chunk);
    let (iso_tx, iso_rx) = sync_channel::<Arc<Piece>>(DEPTH);
    let (pay_tx, pay_rx) = sync_channel::<Arc<Piece>>(DEPTH);
    let (wr_tx0, wr_rx0) = sync_channel::<Arc<Piece>>(DEPTH / 2);
    let (wr_tx1, wr_rx1) = sync_channel::<Arc<Piece>>(DEPTH / 2);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<(u64, u64)>();
    let (synced_tx, synced_rx) = std::sync::mpsc::channel::<u64>();
    let written = AtomicU64::new(0);
    let verified = AtomicU64::new(0);

    let result = std::thread::scope(|s| {
        let reader = s.spawn(move || -> Result<(), SlotIoError> {
            for (start, len, is_payload) in plan(size, payload) {
                if !is_payload && !hash_source {
                    continue;
                }
                src.seek(SeekFrom::Start(start))
                    .map_err(|e| src_err(start, e))?;
                let mut pos = 0u64;
                let mut pay_at = payload_offset(payload, start);
                let mut k = 0usize;
                while pos < len {
                    let Ok(mut b) = free.recv() else {
                        return Ok(());
                    };
                    let n = (len - pos).min(chunk as u64) as usize;
                    src.read_exact(&mut b.as_mut_slice()[..n])
                        .map_err(|e| src_err(start + pos, e))?;
                    let piece = Arc::new(Piece {
                        buf: Pooled {
                            buf: Some(b),
                            home: home.clone(),
                            len: n,
                        },
                        payload_at: is_payload.then_some(pay_at),
                    });
                    // With an unusual layout the payload pieces come in a second pass
                    // that the source hash must not see again.
                    if hash_source
                        && (!is_payload || ascending)
                        && iso_tx.send(piece.clone()).is_err()
                    {
                        return Ok(());
                    }
                    if is_payload {
                        let wr = if k.is_multiple_of(2) {
                            &wr_tx0
                        } else {
                            &wr_tx1
                        };
                        k += 1;
                        if pay_tx.send(piece.clone()).is_err() || wr.send(piece).is_err() {
                            return Ok(());
                        }
                        pay_at += n as u64;
                    }
                    pos += n as u64;
                }
            }
            Ok(())
        });
        let iso_hasher = s.spawn(move || {
            let mut h = Sha256::new();
            for p in iso_rx {
                h.update(p.buf.data());
            }
            hash_source.then(|| <[u8; 32]>::from(h.finalize()))
        });
        let pay_hasher = s.spawn(move || {
            let mut h = Sha256::new();
            for p in pay_rx {
                h.update(p.buf.data());
            }
            <[u8; 32]>::from(h.finalize())
        });
        let written_ref = &written;
        let (buffered_ref, direct_ref) = (&buffered, direct.as_ref());
        let write_loop = move |rx: Receiver<Arc<Piece>>,
                               done: std::sync::mpsc::Sender<(u64, u64)>|
              -> Result<(), SlotIoError> {
            for p in rx {
                let at = p.payload_at.unwrap_or(0);
                let data = p.buf.data();
                write_piece(
                    buffered_ref,
                    direct_ref,
                    dev.block,
                    data,
                    at,
                    p.buf.buf.as_ref(),
                )
                .map_err(|e| werr(at, e))?;
                let w =
                    written_ref.fetch_add(data.len() as u64, Ordering::Relaxed) + data.len() as u64;
                killpoint::slot_written(w);
                let _ = done.send((at, data.len() as u64));
            }
            Ok(())
        };
        let done_tx1 = done_tx.clone();
        let writer0 = s.spawn(move || write_loop(wr_rx0, done_tx));
        let writer1 = s.spawn(move || write_loop(wr_rx1, done_tx1));
        // The syncer: once every byte of a segment is written, fsync, then hand the
        // segment to the verifier.
        let syncer = s.spawn(move || -> Result<(), SlotIoError> {
            let mut finished = std::collections::BTreeMap::new();
            let mut prefix = 0u64;
            let mut next = segment.min(total);
            for (at, len) in done_rx {
                finished.insert(at, len);
                while let Some(l) = finished.remove(&prefix) {
                    prefix += l;
                }
                while prefix >= next && next > 0 {
                    let last = next == total;
                    for f in std::iter::once(buffered_ref).chain(direct_ref) {
                        if last { f.sync_all() } else { f.sync_data() }
                            .map_err(|e| werr(next, e))?;
                    }
                    if synced_tx.send(next).is_err() || last {
                        return Ok(());
                    }
                    next = (next + segment).min(total);
                }
            }
            Ok(())
        });
        let verified_ref = &verified;
        let back_ref = &back;
        let verifier = s.spawn(move || -> Result<[u8; 32], SlotIoError> {
            let mut h = Sha256::new();
            let mut buf = AlignedBuf::new(chunk);
            let mut pos = 0u64;
            for end in synced_rx {
                killpoint::hit("before-read-back");
                if !direct_read {
                    posix_fadvise(
                        back_ref,
                        pos as i64,
                        (end - pos) as i64,
                        PosixFadviseAdvice::POSIX_FADV_DONTNEED,
                    )
                    .map_err(|e| rerr(pos, e.into()))?;
                }
                while pos < end {
                    let want = (end - pos).min(chunk as u64) as usize;
                    // O_DIRECT needs whole aligned blocks: read the rounded-up size.
                    let ask = want.div_ceil(ALIGN) * ALIGN;
                    let mut got = 0;
                    while got < want {
                        let n = back_ref
                            .read_at(&mut buf.as_mut_slice()[got..ask], pos + got as u64)
                            .map_err(|e| rerr(pos + got as u64, e))?;
                        if n == 0 {
                            return Err(rerr(
                                pos + got as u64,
                                std::io::Error::new(
                                    std::io::ErrorKind::UnexpectedEof,
                                    "the slot ends before the payload does",
                                ),
                            ));
                        }
                        got += n;
                    }
                    h.update(&buf.as_slice()[..want]);
                    pos += want as u64;
                    verified_ref.store(pos, Ordering::Relaxed);
                }
            }
            Ok(<[u8; 32]>::from(h.finalize()))
        });
        while !verifier.is_finished() {
            progress(
                written.load(Ordering::Relaxed),
                verified.load(Ordering::Relaxed),
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let w0 = writer0.join().unwrap_or_else(|_| Err(werr(0, panicked())));
        let w1 = writer1.join().unwrap_or_else(|_| Err(werr(0, panicked())));
        let sy = syncer.join().unwrap_or_else(|_| Err(werr(0, panicked())));
        let ve = verifier.join().unwrap_or_else(|_| Err(rerr(0, panicked())));
        let r = reader
            .join()
            .unwrap_or_else(|_| Err(src_err(0, panicked())));
        let iso = iso_hasher.join().unwrap_or_default();
        let pay = pay_hasher.join().unwrap_or_default();
        r?;
        w0?;
        w1?;
        sy?;
        let back = ve?;
        Ok((iso, pay, back))
    });
    let (source_sha256, payload_sha256, read_back_sha256) = result?;
    let w = written.load(Ordering::Relaxed);
    let v = verified.load(Ordering::Relaxed);
    progress(w, v);
    if w != total || v != total {
        return Err(werr(
            w.min(v),
            std::io::Error::other(format!("wrote {w} and read back {v} of {total} bytes")),
        ));
    }
    Ok(WriteReport {
        written: w,
        payload_sha256,
        source_sha256,
        direct: used_direct,
        read_back_sha256,
        read_back: v,
        direct_read,
    })
}

fn ascending_plan(payload: &[ByteRange]) -> bool {
    payload
        .windows(2)
        .all(|w| w[0].offset + w[0].len <= w[1].offset)
}

/// Payload offset at which the range starting at file offset `start` begins.
fn payload_offset(payload: &[ByteRange], start: u64) -> u64 {
    let mut acc = 0;
    for r in payload {
        if r.offset == start {
            return acc;
        }
        acc += r.len;
    }
    acc
}

fn panicked() -> std::io::Error {
    std::io::Error::other("a worker thread panicked")
}

/// Writes one piece: O_DIRECT when it is aligned, padding the payload's last
/// partial block with zeros on a block device; buffered otherwise.
fn write_piece(
    buffered: &File,
    direct: Option<&File>,
    block: bool,
    data: &[u8],
    at: u64,
    raw: Option<&AlignedBuf>,
) -> std::io::Result<()> {
    let aligned_start = at.is_multiple_of(ALIGN as u64);
    if let (Some(d), true) = (direct, aligned_start) {
        if data.len().is_multiple_of(ALIGN) {
            return d.write_all_at(data, at);
        }
        if block && let Some(raw) = raw {
            // The pool's buffers are whole chunks; zero the pad after the data.
            let padded = data.len().div_ceil(ALIGN) * ALIGN;
            if padded <= raw.as_slice().len() {
                let mut tmp = AlignedBuf::new(padded);
                tmp.as_mut_slice()[..data.len()].copy_from_slice(data);
                return d.write_all_at(tmp.as_slice(), at);
            }
        }
    }
    buffered.write_all_at(data, at)
}

/// Reads `len` bytes of the slot back, bypassing the page cache, and hashes them.
/// Returns the hash and whether O_DIRECT was used (else the cache was dropped first).
pub fn read_back(
    dev: &SlotDevice,
    len: u64,
    chunk: usize,
    progress: &mut dyn FnMut(u64),
) -> Result<([u8; 32], bool), SlotIoError> {
    let chunk = chunk.max(ALIGN) / ALIGN * ALIGN;
    let path = dev.canonical.clone();
    let rerr = |offset, source| SlotIoError::Read {
        path: dev.path.display().to_string(),
        offset,
        source,
    };
    let (file, direct) = match open_flags(&path, OFlag::O_RDONLY | OFlag::O_DIRECT) {
        Ok(f) => (f, true),
        Err(_) => {
            let f = open_flags(&path, OFlag::O_RDONLY).map_err(|e| rerr(0, e))?;
            posix_fadvise(&f, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED)
                .map_err(|e| rerr(0, e.into()))?;
            (f, false)
        }
    };
    // Two readers, each with its own buffers, keep two requests in flight; the
    // hasher takes their chunks in turn, so in order.
    let file = &file;
    let result = std::thread::scope(|s| {
        let mut rxs = Vec::new();
        let mut readers = Vec::new();
        for r in 0..2u64 {
            let (home, free) = pool(DEPTH / 2, chunk);
            let (tx, rx) = sync_channel::<Pooled>(DEPTH / 2);
            rxs.push(rx);
            readers.push(s.spawn(move || -> Result<(), SlotIoError> {
                let mut at = r * chunk as u64;
                while at < len {
                    let Ok(mut b) = free.recv() else {
                        return Ok(());
                    };
                    let want = (len - at).min(chunk as u64) as usize;
                    // O_DIRECT needs whole aligned blocks: read the rounded-up size.
                    let ask = want.div_ceil(ALIGN) * ALIGN;
                    let mut got = 0;
                    while got < want {
                        let n = file
                            .read_at(&mut b.as_mut_slice()[got..ask], at + got as u64)
                            .map_err(|e| rerr(at + got as u64, e))?;
                        if n == 0 {
                            return Err(rerr(
                                at + got as u64,
                                std::io::Error::new(
                                    std::io::ErrorKind::UnexpectedEof,
                                    "the slot ends before the payload does",
                                ),
                            ));
                        }
                        got += n;
                    }
                    let p = Pooled {
                        buf: Some(b),
                        home: home.clone(),
                        len: want,
                    };
                    if tx.send(p).is_err() {
                        return Ok(());
                    }
                    at += 2 * chunk as u64;
                }
                Ok(())
            }));
        }
        let mut h = Sha256::new();
        let mut seen = 0u64;
        let mut last = std::time::Instant::now();
        let mut turn = 0;
        while seen < len {
            let Ok(p) = rxs[turn].recv() else {
                break;
            };
            turn = 1 - turn;
            h.update(p.data());
            seen += p.len as u64;
            if last.elapsed() > Duration::from_millis(100) {
                progress(seen);
                last = std::time::Instant::now();
            }
        }
        drop(rxs);
        for r in readers {
            r.join().unwrap_or_else(|_| Err(rerr(0, panicked())))?;
        }
        if seen < len {
            return Err(rerr(seen, std::io::Error::other("read-back stopped early")));
        }
        progress(seen);
        Ok(<[u8; 32]>::from(h.finalize()))
    });
    Ok((result?, direct))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_are_aligned() {
        for cap in [4096, 8192, 1 << 20] {
            let b = AlignedBuf::new(cap);
            assert_eq!(b.as_slice().as_ptr() as usize % ALIGN, 0);
            assert_eq!(b.as_slice().len(), cap);
        }
    }

    #[test]
    fn writes_a_file_slot_and_reads_it_back() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src.bin");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let slot = d.path().join("slotB.img");
        std::fs::write(&slot, vec![0xffu8; 5_000_000]).unwrap();
        let other = d.path().join("slotA.img");
        std::fs::write(&other, b"a").unwrap();
        let (_, b) = identify_pair(&other, &slot).unwrap();
        let ranges = [ByteRange {
            offset: 1000,
            len: 2_000_001,
        }];
        let rep = write_payload(&src, &ranges, &b, 1 << 20, true, &mut |_, _| {}).unwrap();
        assert_eq!(
            rep.read_back_sha256,
            Sha256::digest(&data[1000..2_001_001]).as_slice()
        );
        let want: [u8; 32] = Sha256::digest(&data[1000..2_001_001]).into();
        assert_eq!(rep.payload_sha256, want);
        assert_eq!(
            rep.source_sha256,
            Some(<[u8; 32]>::from(Sha256::digest(&data)))
        );
        let rep = write_payload(&src, &ranges, &b, 1 << 20, false, &mut |_, _| {}).unwrap();
        assert_eq!((rep.payload_sha256, rep.source_sha256), (want, None));
        assert_eq!(std::fs::metadata(&slot).unwrap().len(), 2_000_001);
        let (h, _) = read_back(&b, 2_000_001, 1 << 20, &mut |_| {}).unwrap();
        assert_eq!(h, want);
    }

    #[test]
    fn without_o_direct_the_cache_is_dropped_before_reading_back() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src.bin");
        let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let slot = d.path().join("slot.img");
        std::fs::write(&slot, b"").unwrap();
        let dev = SlotDevice::identify(SlotName::B, &slot).unwrap();
        let ranges = [ByteRange {
            offset: 0,
            len: data.len() as u64,
        }];
        let rep = write_payload_with(&src, &ranges, &dev, 64 << 10, false, false, &mut |_, _| {})
            .unwrap();
        assert!(!rep.direct && !rep.direct_read);
        let want: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!((rep.payload_sha256, rep.read_back_sha256), (want, want));
        assert_eq!(std::fs::read(&slot).unwrap(), data);
    }

    #[test]
    fn the_same_file_twice_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.img");
        std::fs::write(&a, b"x").unwrap();
        let link = d.path().join("b.img");
        std::os::unix::fs::symlink(&a, &link).unwrap();
        let e = identify_pair(&a, &link).unwrap_err().to_string();
        assert!(e.contains("same file"), "{e}");
    }
}
