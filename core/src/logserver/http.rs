//! HTTP/1.x for the boot log server: the request head parsed by httparse and refused
//! when anything about it is ambiguous, read within a size and a time bound; answers
//! written under one deadline for the whole response, then a lingering close so the
//! client reads the answer instead of a reset.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Request line and headers together; more gets 431.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Headers counted, not just bytes: httparse needs a fixed array.
const MAX_HEADERS: usize = 48;

/// The two methods the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// The one thing a request names: a fixed path (the query decides nothing but the
/// SSE resume offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Page,
    LogTxt,
    Status,
    Events,
    Bundle,
    NotFound,
}

/// A request head the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: Method,
    pub route: Route,
    /// Where an SSE viewer resumes: Last-Event-ID, else `?from=N`.
    pub resume_from: Option<u64>,
}

/// Why a head was refused; each maps to one status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// More bytes are needed (the head is not complete yet).
    #[error("incomplete request head")]
    Incomplete,
    #[error("request head larger than {MAX_HEADER_BYTES} bytes or {MAX_HEADERS} headers")]
    TooLarge,
    #[error("malformed or ambiguous request: {0}")]
    Bad(&'static str),
    #[error("HTTP version not supported (HTTP/1.0 and HTTP/1.1 only)")]
    Version,
    #[error("method not allowed: {0:?} (GET and HEAD only)")]
    Method(String),
}

impl HeadError {
    /// The status code this refusal is answered with.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::Incomplete | HeadError::Bad(_) => 400,
            HeadError::TooLarge => 431,
            HeadError::Version => 505,
            HeadError::Method(_) => 405,
        }
    }
}

/// Parses one request head from the start of `buf` (bytes after it are ignored: the
/// connection closes after one answer). Everything the server could read two ways is
/// refused: duplicate Content-Length, Transfer-Encoding with or without Content-Length
/// on a request that may not have a body, any body on GET/HEAD, versions other than
/// 1.0 and 1.1, targets that are not a plain absolute path.
pub fn parse_head(buf: &[u8]) -> Result<Head, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(buf).map_err(|e| match e {
        httparse::Error::Version => HeadError::Version,
        httparse::Error::TooManyHeaders => HeadError::TooLarge,
        httparse::Error::HeaderName => HeadError::Bad("invalid header name"),
        httparse::Error::HeaderValue => HeadError::Bad("invalid header value"),
        httparse::Error::NewLine => HeadError::Bad("invalid line ending"),
        httparse::Error::Status | httparse::Error::Token => HeadError::Bad("invalid request line"),
    })?;
    let len = match status {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => {
            return Err(if buf.len() > MAX_HEADER_BYTES {
                HeadError::TooLarge
            } else {
                HeadError::Incomplete
            });
        }
    };
    if len > MAX_HEADER_BYTES {
        return Err(HeadError::TooLarge);
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(HeadError::Bad("no request line"));
    };
    // Message framing first: a head that could be read two ways is refused whatever
    // its method, so no proxy in front can disagree with us about where it ends.
    let mut content_length: Option<&[u8]> = None;
    let mut transfer_encoding = false;
    let mut last_event_id: Option<&[u8]> = None;
    let mut host = false;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            if content_length.is_some() {
                return Err(HeadError::Bad("duplicate Content-Length"));
            }
            content_length = Some(h.value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("host") {
            if host {
                return Err(HeadError::Bad("duplicate Host"));
            }
            host = true;
        } else if name.eq_ignore_ascii_case("last-event-id") {
            if last_event_id.is_some() {
                return Err(HeadError::Bad("duplicate Last-Event-ID"));
            }
            last_event_id = Some(h.value);
        }
    }
    if transfer_encoding && content_length.is_some() {
        return Err(HeadError::Bad(
            "Transfer-Encoding together with Content-Length",
        ));
    }
    let body_len = match content_length {
        None => 0,
        Some(v) => {
            let v = v.trim_ascii();
            if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
                return Err(HeadError::Bad("invalid Content-Length"));
            }
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(HeadError::Bad("invalid Content-Length"))?
        }
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        other => {
            let shown: String = other.chars().take(32).collect();
            return Err(HeadError::Method(shown));
        }
    };
    if transfer_encoding || body_len > 0 {
        return Err(HeadError::Bad("a body on GET or HEAD"));
    }
    if !target.starts_with('/') || target.contains('#') {
        return Err(HeadError::Bad("request target is not an absolute path"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let route = match path {
        "/" | "/index.html" => Route::Page,
        "/log.txt" => Route::LogTxt,
        "/status.json" => Route::Status,
        "/events" => Route::Events,
        "/bundle" => Route::Bundle,
        _ => Route::NotFound,
    };
    let number = |v: &[u8]| -> Option<u64> {
        let v = v.trim_ascii();
        if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(v).ok()?.parse().ok()
    };
    let resume_from = last_event_id.and_then(number).or_else(|| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix("from="))
            .and_then(|v| number(v.as_bytes()))
    });
    Ok(Head {
        method,
        route,
        resume_from,
    })
}

/// How reading a head ended when it did not give one.
#[derive(Debug)]
pub enum ReadHeadError {
    /// Refused: answer with this status.
    Refused(HeadError),
    /// The client went away or ran out of time: nothing to answer.
    Gone,
}

/// Reads and parses a request head within `timeout` (the whole head, not per read)
/// and [`MAX_HEADER_BYTES`].
pub fn read_head(stream: &mut TcpStream, timeout: Duration) -> Result<Head, ReadHeadError> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        match parse_head(&buf) {
            Ok(h) => return Ok(h),
            Err(HeadError::Incomplete) => {}
            Err(e) => return Err(ReadHeadError::Refused(e)),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(ReadHeadError::Gone);
        }
        // Never read past the cap: a huge head costs us at most the cap.
        let room = (MAX_HEADER_BYTES + 1)
            .saturating_sub(buf.len())
            .min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Err(ReadHeadError::Gone),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ReadHeadError::Gone),
        }
    }
}

/// Reads whatever the client sends until it has sent a blank line, `max` bytes or
/// `timeout` passed; used before a 503 so the client gets the answer, not a reset.
pub fn drain_head(stream: &mut TcpStream, timeout: Duration, max: usize) {
    let deadline = Instant::now() + timeout;
    let mut seen = 0usize;
    let mut tail = [0u8; 4];
    let mut chunk = [0u8; 1024];
    while seen < max {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                seen += n;
                for b in &chunk[..n] {
                    tail = [tail[1], tail[2], tail[3], *b];
                    if tail == *b"\r\n\r\n" || tail[2..] == *b"\n\n" {
                        return;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Closes after an answer: no more writes, then read what the client still sends for
/// a moment, so unread request bytes do not turn the close into a reset that could
/// discard the answer in flight.
pub fn linger_close(stream: &mut TcpStream) {
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut chunk = [0u8; 1024];
    let mut left_bytes = 64 * 1024usize;
    while left_bytes > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => left_bytes = left_bytes.saturating_sub(n),
        }
    }
}

/// Makes the coming close a reset: what the kernel still buffers for this client is
/// dropped, not sent on after the server gave up on it.
pub fn abort(stream: &TcpStream) {
    let hard = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = nix::sys::socket::setsockopt(stream, nix::sys::socket::sockopt::Linger, &hard);
}

pub fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// The head of a response; `len` None means the body ends when the connection closes.
pub fn response_head(code: u16, ctype: &str, len: Option<u64>, extra: &[(&str, &str)]) -> String {
    let mut h = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {ctype}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Connection: close\r\n",
        reason(code)
    );
    if let Some(n) = len {
        h.push_str(&format!("Content-Length: {n}\r\n"));
    }
    for (k, v) in extra {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h
}

/// A socket writer with one deadline for everything written through it: a client
/// that takes a few bytes at a time cannot hold a response open past it.
pub struct DeadlineWriter<'a> {
    stream: &'a mut TcpStream,
    deadline: Instant,
}

impl<'a> DeadlineWriter<'a> {
    pub fn new(stream: &'a mut TcpStream, deadline: Instant) -> Self {
        DeadlineWriter { stream, deadline }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }
}

impl Write for DeadlineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "response deadline passed",
            ));
        }
        self.stream.set_write_timeout(Some(left))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Writes a whole small response (head and body) under `deadline`.
pub fn respond(
    s: &mut TcpStream,
    deadline: Instant,
    code: u16,
    ctype: &str,
    body: &[u8],
    head_only: bool,
    extra: &[(&str, &str)],
) -> io::Result<()> {
    let mut out = response_head(code, ctype, Some(body.len() as u64), extra).into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    DeadlineWriter::new(s, deadline).write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Head, HeadError> {
        parse_head(s.as_bytes())
    }

    #[test]
    fn plain_requests_route_by_path_only() {
        let h = p("GET /log.txt?x=/events HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!((h.method, h.route), (Method::Get, Route::LogTxt));
        let h = p("HEAD / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!((h.method, h.route), (Method::Head, Route::Page));
        let h = p("GET /events?from=42 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!((h.route, h.resume_from), (Route::Events, Some(42)));
        let h = p("GET /events?from=1 HTTP/1.1\r\nLast-Event-ID: 7\r\n\r\n").unwrap();
        assert_eq!(h.resume_from, Some(7));
        let h = p("GET /events?from=-1 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(h.resume_from, None);
        assert_eq!(
            p("GET /etc/passwd HTTP/1.1\r\n\r\n").unwrap().route,
            Route::NotFound
        );
        assert_eq!(
            p("GET //etc/passwd HTTP/1.1\r\n\r\n").unwrap().route,
            Route::NotFound
        );
        let h = p("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(h.route, Route::Page);
    }

    #[test]
    fn ambiguous_heads_are_refused() {
        let cases = [
            (
                "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
                400,
            ),
            ("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400),
            (
                "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                400,
            ),
            (
                "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            ("GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/1.9\r\n\r\n", 505),
            ("GET / HTTP/2.0\r\n\r\n", 505),
            ("GET http://x/ HTTP/1.1\r\n\r\n", 400),
            ("GET * HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400),
            ("PUT / HTTP/1.1\r\n\r\n", 405),
            ("G@T / HTTP/1.1\r\n\r\n", 400),
        ];
        for (req, code) in cases {
            let e = p(req).unwrap_err();
            assert_eq!(e.status(), code, "{req:?}: {e}");
        }
        assert_eq!(p("GET / HTTP/1.1\r\n"), Err(HeadError::Incomplete));
        let big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEADER_BYTES));
        assert_eq!(p(&big), Err(HeadError::TooLarge));
    }
}
