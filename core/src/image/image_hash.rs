//! One read of a firmware image, two SHA-256 digests: the whole file and the payload
//! inside it (a byte range of the same file). A reader thread fills page-aligned
//! buffers; two hasher threads digest them in parallel, so the payload costs no
//! second read and, on two cores, little extra time.

use crate::image::hash_forms::Sha256;
use crate::image::iso::ByteRange;
use sha2::{Digest, Sha256 as Hasher};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

const CHUNK: usize = 2 << 20;
const PAGE: usize = 4096;
const IN_FLIGHT: usize = 8;

/// The digests of one pass over an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageDigests {
    pub image: Sha256,
    pub payload: Sha256,
    pub bytes: u64,
}

/// A page-aligned buffer in safe code: a slightly larger Vec, used from its first
/// page boundary on (aligned buffers keep the kernel's copy on the fast path).
struct Buf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
    /// File offset of the first byte.
    offset: u64,
}

impl Buf {
    fn new() -> Buf {
        let raw = vec![0u8; CHUNK + PAGE];
        let start = raw.as_ptr().align_offset(PAGE).min(PAGE);
        Buf {
            raw,
            start,
            len: 0,
            offset: 0,
        }
    }
    fn space(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + CHUNK]
    }
    fn data(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }
}

/// Hashes the file at `path` and, in the same pass, the bytes of `payload` (ranges in
/// payload order; they must be in ascending file order, as ISO writers lay them out).
/// `progress(done, total)` is called from the calling thread after each chunk.
pub fn hash_image(
    path: &Path,
    payload: &[ByteRange],
    progress: &mut dyn FnMut(u64, u64),
) -> io::Result<ImageDigests> {
    if payload
        .windows(2)
        .any(|w| w[0].offset + w[0].len > w[1].offset)
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "payload extents are not in file order",
        ));
    }
    let mut file = File::open(path)?;
    let total = file.metadata()?.len();
    advise_sequential(&file);

    let (to_image, image_rx) = sync_channel::<Arc<Buf>>(IN_FLIGHT);
    let (to_payload, payload_rx) = sync_channel::<Arc<Buf>>(IN_FLIGHT);
    let (recycle_tx, recycle_rx) = sync_channel::<Arc<Buf>>(IN_FLIGHT * 2 + 2);
    let (done_tx, done_rx) = sync_channel::<u64>(IN_FLIGHT * 2);

    let ranges = payload.to_vec();
    std::thread::scope(|s| -> io::Result<ImageDigests> {
        let recycle_image = recycle_tx.clone();
        let image_worker = s.spawn(move || {
            let mut h = Hasher::new();
            for buf in image_rx {
                h.update(buf.data());
                let end = buf.offset + buf.len as u64;
                let _ = done_tx.send(end);
                let _ = recycle_image.send(buf);
            }
            h.finalize()
        });
        let recycle_payload = recycle_tx;
        let payload_worker = s.spawn(move || {
            let mut h = Hasher::new();
            for buf in payload_rx {
                let (lo, hi) = (buf.offset, buf.offset + buf.len as u64);
                for r in &ranges {
                    let a = r.offset.max(lo);
                    let b = (r.offset + r.len).min(hi);
                    if a < b {
                        h.update(&buf.data()[(a - lo) as usize..(b - lo) as usize]);
                    }
                }
                let _ = recycle_payload.send(buf);
            }
            h.finalize()
        });

        let reader = s.spawn(move || read_all(&mut file, to_image, to_payload, recycle_rx));
        for end in done_rx {
            progress(end, total);
        }
        let bytes = reader
            .join()
            .map_err(|_| io::Error::other("reader thread panicked"))??;
        let image = image_worker
            .join()
            .map_err(|_| io::Error::other("hasher thread panicked"))?;
        let payload = payload_worker
            .join()
            .map_err(|_| io::Error::other("hasher thread panicked"))?;
        Ok(ImageDigests {
            image: image.into(),
            payload: payload.into(),
            bytes,
        })
    })
}

fn read_all(
    file: &mut File,
    to_image: SyncSender<Arc<Buf>>,
    to_payload: SyncSender<Arc<Buf>>,
    recycle: Receiver<Arc<Buf>>,
) -> io::Result<u64> {
    let mut offset = 0u64;
    let mut allocated = 0;
    loop {
        // Reuse a buffer both hashers are done with; allocate only while filling the pipe.
        let mut buf = loop {
            match recycle.try_recv() {
                Ok(b) => {
                    if let Some(b) = Arc::into_inner(b) {
                        break b;
                    }
                }
                Err(_) if allocated < IN_FLIGHT + 2 => {
                    allocated += 1;
                    break Buf::new();
                }
                Err(_) => match recycle.recv() {
                    Ok(b) => {
                        if let Some(b) = Arc::into_inner(b) {
                            break b;
                        }
                    }
                    Err(_) => return Err(io::Error::other("hasher threads stopped")),
                },
            }
        };
        let mut filled = 0;
        while filled < CHUNK {
            match file.read(&mut buf.space()[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(offset);
        }
        buf.len = filled;
        buf.offset = offset;
        offset += filled as u64;
        let buf = Arc::new(buf);
        if to_image.send(buf.clone()).is_err() || to_payload.send(buf).is_err() {
            return Err(io::Error::other("hasher threads stopped"));
        }
    }
}

fn advise_sequential(file: &File) {
    let _ = nix::fcntl::posix_fadvise(
        file,
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_digests_match_separate_hashing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("img");
        let data: Vec<u8> = (0..(CHUNK * 2 + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        std::fs::write(&p, &data).unwrap();
        // Two ranges, the second crossing a chunk boundary.
        let ranges = [
            ByteRange {
                offset: 100,
                len: 5000,
            },
            ByteRange {
                offset: CHUNK as u64 - 10,
                len: CHUNK as u64,
            },
        ];
        let mut calls = 0;
        let got = hash_image(&p, &ranges, &mut |_, _| calls += 1).unwrap();
        let mut payload = Hasher::new();
        for r in &ranges {
            payload.update(&data[r.offset as usize..(r.offset + r.len) as usize]);
        }
        assert_eq!(got.image, <[u8; 32]>::from(Hasher::digest(&data)));
        assert_eq!(got.payload, <[u8; 32]>::from(payload.finalize()));
        assert_eq!(got.bytes, data.len() as u64);
        assert_eq!(calls, 3);
    }
}
