//! The console log read a line at a time through fixed buffers, each line capped in
//! bytes: a longer line (or a log with no line break at all) is cut and marked, the
//! rest of it skipped unread into memory. Scrubbing of a cut line looks past the cut
//! so a secret straddling it is removed whole, never shown in part.

use crate::support::secrets::Secrets;
use std::io::{self, Read};

/// A line shows at most this many bytes of the log.
pub const LINE_CAP: usize = 8 * 1024;
/// Read past the cut so a secret up to this long that straddles it is still seen.
const LOOKAHEAD: usize = 4 * 1024;
/// The most a line holds in memory.
const HELD: usize = LINE_CAP + LOOKAHEAD;
/// What ends a line that was cut.
pub const CUT_MARK: &str = " [… line cut: longer than 8 KiB]";
const READ_BUF: usize = 16 * 1024;

/// One line as read: where it lies in the file and whether it was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    /// Just past its line break (or past what was read of a cut line).
    pub end: u64,
    pub cut: bool,
}

/// Splits a byte stream into capped lines; keeps its place between calls, so the
/// tailer can feed it a growing file.
pub struct LineReader {
    buf: Box<[u8]>,
    lo: usize,
    hi: usize,
    /// File offset of `buf[hi]`: the next byte to read.
    offset: u64,
    line: Vec<u8>,
    line_start: u64,
    /// Inside a line already cut (or the partial first line of a tail): drop bytes
    /// until the next line break.
    skipping: bool,
    /// `line` was given out by the last `next`: clear it before reading on.
    given: bool,
}

impl LineReader {
    /// A reader positioned at `offset`; `mid_line` when that is not a line start
    /// (the partial first line is skipped, so no secret is shown in part).
    pub fn new(offset: u64, mid_line: bool) -> Self {
        LineReader {
            buf: vec![0u8; READ_BUF].into_boxed_slice(),
            lo: 0,
            hi: 0,
            offset,
            line: Vec::new(),
            line_start: offset,
            skipping: mid_line,
            given: false,
        }
    }

    /// The file offset up to which bytes were taken from the source.
    pub fn read_to(&self) -> u64 {
        self.offset
    }

    /// Where the line in progress starts (everything before it was given out).
    pub fn line_start(&self) -> u64 {
        self.line_start
    }

    /// Whether bytes are being dropped until a line break.
    pub fn skipping(&self) -> bool {
        self.skipping
    }

    /// The bytes of the line the last `next` returned (without its line break or CR).
    pub fn line(&self) -> &[u8] {
        let l = &self.line[..];
        l.strip_suffix(b"\r").unwrap_or(l)
    }

    /// The next line, reading from `src` while the file offset is below `limit`.
    /// `None`: no complete line before `limit` (a partial one is kept for later).
    pub fn next(&mut self, src: &mut impl Read, limit: u64) -> io::Result<Option<Span>> {
        if self.given {
            self.line.clear();
            self.given = false;
        }
        loop {
            if self.lo == self.hi {
                if self.offset >= limit {
                    return Ok(None);
                }
                let want = (limit - self.offset).min(self.buf.len() as u64) as usize;
                let n = loop {
                    match src.read(&mut self.buf[..want]) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        r => break r?,
                    }
                };
                if n == 0 {
                    return Ok(None);
                }
                self.lo = 0;
                self.hi = n;
                self.offset += n as u64;
            }
            let base = self.offset - (self.hi - self.lo) as u64;
            let chunk = &self.buf[self.lo..self.hi];
            let nl = chunk.iter().position(|b| *b == b'\n');
            if self.skipping {
                match nl {
                    Some(i) => {
                        self.skipping = false;
                        self.lo += i + 1;
                        self.line_start = base + i as u64 + 1;
                    }
                    None => {
                        self.lo = self.hi;
                        self.line_start = self.offset;
                    }
                }
                continue;
            }
            let room = HELD - self.line.len();
            match nl {
                Some(i) if i <= room => {
                    self.line.extend_from_slice(&chunk[..i]);
                    self.lo += i + 1;
                    let end = base + i as u64 + 1;
                    return Ok(Some(self.finish(end, false)));
                }
                _ => {
                    let take = room.min(chunk.len());
                    self.line.extend_from_slice(&chunk[..take]);
                    self.lo += take;
                    if self.line.len() >= HELD {
                        let end = base + take as u64;
                        self.skipping = true;
                        return Ok(Some(self.finish(end, true)));
                    }
                }
            }
        }
    }

    fn finish(&mut self, end: u64, cut: bool) -> Span {
        let span = Span {
            start: self.line_start,
            end,
            cut,
        };
        self.line_start = end;
        self.given = true;
        span
    }
}

/// A line made safe to show: its secrets removed and, when longer than [`LINE_CAP`],
/// cut there and marked. Of a long line only what is the same whether or not the bytes
/// past the cut are scrubbed along is shown, so a secret that straddles the cut (and
/// is shorter than the look-ahead) is never shown in part.
pub fn scrub_line(secrets: &Secrets, raw: &[u8], cut: bool) -> String {
    if raw.len() <= LINE_CAP && !cut {
        return String::from_utf8_lossy(&secrets.scrub(raw)).into_owned();
    }
    let whole = secrets.scrub(raw);
    let head = secrets.scrub(&raw[..raw.len().min(LINE_CAP)]);
    let same = whole
        .iter()
        .zip(head.iter())
        .take_while(|(a, b)| a == b)
        .count()
        .min(LINE_CAP);
    let mut text = String::from_utf8_lossy(&whole[..same]).into_owned();
    text.push_str(CUT_MARK);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(data: &[u8], start: u64, mid: bool) -> Vec<(Span, Vec<u8>)> {
        let mut r = LineReader::new(start, mid);
        let mut src = &data[start as usize..];
        let mut out = Vec::new();
        while let Some(s) = r.next(&mut src, data.len() as u64).unwrap() {
            out.push((s, r.line().to_vec()));
        }
        out
    }

    #[test]
    fn lines_are_split_capped_and_placed() {
        let data = b"one\r\ntwo\nthree";
        let l = lines(data, 0, false);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].1, b"one");
        assert_eq!(
            l[0].0,
            Span {
                start: 0,
                end: 5,
                cut: false
            }
        );
        assert_eq!((l[1].0.start, l[1].0.end), (5, 9));
        // A tail that starts mid-line drops that partial line.
        let l = lines(data, 2, true);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].1, b"two");
        // A long line is cut; the next line still comes.
        let mut big = vec![b'x'; 100_000];
        big.extend_from_slice(b"\nafter\n");
        let l = lines(&big, 0, false);
        assert_eq!(l.len(), 2);
        assert!(l[0].0.cut && l[0].1.len() == HELD);
        assert_eq!(l[1].1, b"after");
        assert_eq!(l[1].0.end, big.len() as u64);
        // No line break at all: cut once, the rest skipped.
        let l = lines(&vec![b'y'; 50_000], 0, false);
        assert_eq!(l.len(), 1);
        assert!(l[0].0.cut);
    }

    #[test]
    fn a_secret_straddling_the_cut_is_not_shown_in_part() {
        let d = tempfile::tempdir().unwrap();
        let root = crate::appliance::root::ApplianceRoot::new(d.path());
        std::fs::create_dir_all(root.config_file().parent().unwrap()).unwrap();
        let secret = "Zq9-straddling-secret-value-Zq9";
        std::fs::write(
            root.config_file(),
            format!("[product]\nldap_bind_password = \"{secret}\"\n"),
        )
        .unwrap();
        let s = Secrets::load(&root).unwrap();
        let mut raw = vec![b'a'; LINE_CAP - 10];
        raw.extend_from_slice(secret.as_bytes());
        raw.extend_from_slice(&[b'b'; 5000]);
        let shown = scrub_line(&s, &raw[..HELD], true);
        assert!(shown.ends_with(CUT_MARK), "{}", &shown[shown.len() - 60..]);
        assert!(!shown.contains("Zq9"), "part of the secret shown");
        let short = scrub_line(&s, format!("pw {secret}").as_bytes(), false);
        assert_eq!(short, "pw <redacted>");
    }
}
