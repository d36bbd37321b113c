//! The boot log server (SPEC §7): read-only HTTP/1.1 on the configured listen
//! addresses during the boot phase and in recovery. `/` follows the console log live
//! (server-sent events from `/events`, and a refreshing page without JavaScript),
//! `/log.txt` is the raw log, `/status.json` the operation's progress, `/bundle` the
//! support bundle in recovery only. Nothing else. Secrets from appliance.toml are
//! scrubbed from everything served. Bounded: connections, header bytes, header time.
//!
//! Plain std::net with one thread per connection (small stacks, capped count): one
//! tailer thread polls the log every few milliseconds and wakes every live viewer.

use crate::appliance::root::ApplianceRoot;
use crate::support::secrets::Secrets;
use crate::upgrade::progress::Progress;
use std::collections::VecDeque;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// At most this many connections at once; more get 503 and are closed.
pub const MAX_CONNECTIONS: usize = 256;
/// Request line and headers together; more gets 431.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// The whole request head must arrive within this time (slow clients are closed).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the tailer looks at the log.
const POLL: Duration = Duration::from_millis(10);
/// Lines kept in memory for viewers that fall behind or connect late.
const RING_LINES: usize = 5000;
/// The page and /log.txt show at most this much of the log's tail.
const MAX_LOG_BYTES: u64 = 8 * 1024 * 1024;
/// SSE comment sent when nothing happened for this long (keeps proxies and NATs open).
const KEEPALIVE: Duration = Duration::from_secs(15);
/// A viewer that accepts no bytes for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connection threads do little; small stacks keep 200 viewers cheap.
const CONN_STACK: usize = 128 * 1024;

/// One complete line of the log: its end offset in the file, and its scrubbed text.
#[derive(Clone)]
struct Line {
    end: u64,
    text: Arc<str>,
}

#[derive(Default)]
struct FeedState {
    lines: VecDeque<Line>,
    /// Offset in the file just past the last complete line read.
    end: u64,
    /// Bumped when the log was truncated or replaced: viewers start over.
    epoch: u64,
    /// The status as JSON, and a counter bumped when it changes.
    status: String,
    status_gen: u64,
}

struct Shared {
    root: ApplianceRoot,
    secrets: Mutex<Secrets>,
    feed: Mutex<FeedState>,
    wake: Condvar,
    stop: AtomicBool,
    active: AtomicUsize,
    conns: Mutex<Vec<(u64, TcpStream)>>,
    next_id: AtomicUsize,
}

/// A running log server; stops when dropped or on [`LogServerHandle::stop`].
pub struct LogServerHandle {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
    failed: Vec<(SocketAddr, String)>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for LogServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogServerHandle")
            .field("addrs", &self.addrs)
            .field("failed", &self.failed)
            .finish()
    }
}

impl LogServerHandle {
    /// The addresses actually listened on (with the real port when 0 was asked).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Addresses that could not be bound, with why.
    pub fn failed(&self) -> &[(SocketAddr, String)] {
        &self.failed
    }

    /// Connections open now.
    pub fn active_connections(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// Stops accepting, closes every connection and waits for the server threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        if let Ok(conns) = self.shared.conns.lock() {
            for (_, s) in conns.iter() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // Connection threads see the closed sockets and the stop flag at once.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for LogServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the log server for `root` on every address of `listen`. Addresses that
/// cannot be bound are logged and listed in [`LogServerHandle::failed`]; it is an
/// error only when none can be.
pub fn spawn(root: ApplianceRoot, listen: Vec<SocketAddr>) -> io::Result<LogServerHandle> {
    if listen.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no listen address for the boot log server (set [web] listen in appliance.toml)",
        ));
    }
    let mut listeners = Vec::new();
    let mut failed = Vec::new();
    let mut in_use = 0;
    for a in &listen {
        match TcpListener::bind(a).and_then(|l| l.set_nonblocking(true).map(|_| l)) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                if e.kind() == io::ErrorKind::AddrInUse {
                    in_use += 1;
                }
                log::warn!("boot log server cannot listen on {a}: {e}");
                failed.push((*a, e.to_string()));
            }
        }
    }
    if listeners.is_empty() {
        let why: Vec<String> = failed.iter().map(|(a, e)| format!("{a}: {e}")).collect();
        // All in use: most likely the boot phase's own server, which recovery keeps.
        let kind = if in_use == failed.len() {
            io::ErrorKind::AddrInUse
        } else {
            io::ErrorKind::AddrNotAvailable
        };
        return Err(io::Error::new(
            kind,
            format!(
                "the boot log server could not listen anywhere ({})",
                why.join("; ")
            ),
        ));
    }
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let shared = Arc::new(Shared {
        secrets: Mutex::new(Secrets::load(&root).unwrap_or_default()),
        root,
        feed: Mutex::new(FeedState::default()),
        wake: Condvar::new(),
        stop: AtomicBool::new(false),
        active: AtomicUsize::new(0),
        conns: Mutex::new(Vec::new()),
        next_id: AtomicUsize::new(1),
    });
    // Fill the feed once before accepting, so the first page is complete.
    let mut tail = Tailer::default();
    tail.step(&shared);
    let s1 = shared.clone();
    let tailer = std::thread::Builder::new()
        .name("logserver-tail".into())
        .spawn(move || tail.run(&s1))?;
    let s2 = shared.clone();
    let acceptor = std::thread::Builder::new()
        .name("logserver-accept".into())
        .spawn(move || accept_loop(&s2, listeners))?;
    for a in &addrs {
        log::info!("boot log server listening on http://{a}/");
    }
    Ok(LogServerHandle {
        shared,
        addrs,
        failed,
        threads: vec![tailer, acceptor],
    })
}

/// Follows the log file and the progress file, feeding viewers.
#[derive(Default)]
struct Tailer {
    ino: u64,
    partial: Vec<u8>,
    progress_stamp: Option<(std::time::SystemTime, u64)>,
    config_stamp: Option<std::time::SystemTime>,
    last_status_check: Option<Instant>,
}

impl Tailer {
    fn run(mut self, shared: &Shared) {
        while !shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(POLL);
            self.step(shared);
        }
    }

    fn step(&mut self, shared: &Shared) {
        let now = Instant::now();
        let check_status = self
            .last_status_check
            .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(100));
        if check_status {
            self.last_status_check = Some(now);
            self.refresh_config(shared);
            self.refresh_status(shared);
        }
        self.read_log(shared);
    }

    /// Reloads the secrets when appliance.toml changes.
    fn refresh_config(&mut self, shared: &Shared) {
        let m = std::fs::metadata(shared.root.config_file())
            .and_then(|m| m.modified())
            .ok();
        if m != self.config_stamp {
            self.config_stamp = m;
            if let Ok(mut s) = shared.secrets.lock() {
                *s = Secrets::load(&shared.root).unwrap_or_default();
            }
        }
    }

    fn refresh_status(&mut self, shared: &Shared) {
        let stamp = std::fs::metadata(Progress::path(&shared.root))
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp == self.progress_stamp && self.progress_stamp.is_some() {
            return;
        }
        self.progress_stamp = stamp;
        let json = status_json(shared);
        if let Ok(mut f) = shared.feed.lock()
            && f.status != json
        {
            f.status = json;
            f.status_gen += 1;
            drop(f);
            shared.wake.notify_all();
        }
    }

    fn read_log(&mut self, shared: &Shared) {
        use std::os::unix::fs::MetadataExt;
        let path = shared.root.log_file();
        let Ok(meta) = std::fs::metadata(&path) else {
            return;
        };
        let Ok(mut feed) = shared.feed.lock() else {
            return;
        };
        let replaced = self.ino != 0 && meta.ino() != self.ino;
        let read_to = feed.end + self.partial.len() as u64;
        if replaced || meta.len() < read_to {
            // Truncated or rotated: start over from the beginning of the new file.
            feed.lines.clear();
            feed.end = 0;
            feed.epoch += 1;
            self.partial.clear();
        }
        self.ino = meta.ino();
        let read_to = feed.end + self.partial.len() as u64;
        if meta.len() == read_to {
            return;
        }
        let Ok(mut f) = std::fs::File::open(&path) else {
            return;
        };
        // A late start on a huge log: only its tail matters.
        let start = read_to.max(meta.len().saturating_sub(MAX_LOG_BYTES));
        if start > read_to {
            self.partial.clear();
            feed.end = start;
        }
        if f.seek(SeekFrom::Start(start)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if f.take(MAX_LOG_BYTES).read_to_end(&mut buf).is_err() {
            return;
        }
        self.partial.extend_from_slice(&buf);
        let Some(last_nl) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        let complete: Vec<u8> = self.partial.drain(..=last_nl).collect();
        let secrets = shared.secrets.lock().map(|s| s.clone()).unwrap_or_default();
        let mut end = feed.end;
        for raw in complete.split_inclusive(|b| *b == b'\n') {
            end += raw.len() as u64;
            let text = String::from_utf8_lossy(raw.strip_suffix(b"\n").unwrap_or(raw));
            let text = secrets.scrub_str(text.trim_end_matches('\r'));
            feed.lines.push_back(Line {
                end,
                text: text.into(),
            });
            if feed.lines.len() > RING_LINES {
                feed.lines.pop_front();
            }
        }
        feed.end = end;
        drop(feed);
        shared.wake.notify_all();
    }
}

fn status_json(shared: &Shared) -> String {
    let recovery = crate::state::recovery::active(&shared.root);
    let read = Progress::read(&shared.root);
    let v = match read.as_present() {
        Some(p) => serde_json::json!({
            "operation": p.operation,
            "stage": p.stage,
            "step": p.step,
            "fraction": p.fraction,
            "rollback_possible": p.rollback_possible,
            "do_not_power_off": p.do_not_power_off,
            "message": p.message,
            "outcome": p.outcome,
            "updated": p.updated,
            "recovery": recovery,
        }),
        None => serde_json::json!({
            "operation": null,
            "stage": null,
            "fraction": null,
            "rollback_possible": null,
            "do_not_power_off": false,
            "message": read.damaged().unwrap_or("no operation has run"),
            "outcome": null,
            "recovery": recovery,
            "damaged": read.damaged().is_some(),
        }),
    };
    let text = serde_json::to_string(&v).unwrap_or_else(|_| "{}".into());
    shared
        .secrets
        .lock()
        .map(|s| s.scrub_str(&text))
        .unwrap_or(text)
}

/// var/lib/upgrade-console/recovery.json: present only in recovery mode.
pub fn recovery_file(root: &ApplianceRoot) -> std::path::PathBuf {
    crate::state::recovery(root)
}

fn accept_loop(shared: &Arc<Shared>, listeners: Vec<TcpListener>) {
    use nix::poll::{PollFd, PollFlags, poll};
    while !shared.stop.load(Ordering::SeqCst) {
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd> = listeners
                .iter()
                .map(|l| PollFd::new(l.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, 100u16) {
                Ok(0) => continue,
                Ok(_) => fds
                    .iter()
                    .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                    .collect(),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    log::error!("boot log server: poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            }
        };
        for (l, r) in listeners.iter().zip(ready) {
            if !r {
                continue;
            }
            // Drain every pending connection on this listener.
            while let Ok((stream, _peer)) = l.accept() {
                admit(shared, stream);
            }
        }
    }
}

fn admit(shared: &Arc<Shared>, stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    if shared.active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
        // Never block the acceptor on a full client: one try, then close.
        let _ = stream.set_write_timeout(Some(Duration::from_millis(50)));
        let mut s = stream;
        let _ = respond(
            &mut s,
            503,
            "text/plain; charset=utf-8",
            b"too many viewers, try again shortly\n",
            false,
            &[("Retry-After", "5")],
        );
        return;
    }
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst) as u64;
    if let Ok(clone) = stream.try_clone()
        && let Ok(mut c) = shared.conns.lock()
    {
        c.push((id, clone));
    }
    shared.active.fetch_add(1, Ordering::SeqCst);
    let s = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("logserver-conn".into())
        .stack_size(CONN_STACK)
        .spawn(move || {
            let _guard = ConnGuard { shared: &s, id };
            let _ = serve(&s, stream);
        });
    if spawned.is_err() {
        shared.active.fetch_sub(1, Ordering::SeqCst);
        forget_conn(shared, id);
    }
}

fn forget_conn(shared: &Shared, id: u64) {
    if let Ok(mut c) = shared.conns.lock() {
        c.retain(|(i, _)| *i != id);
    }
}

struct ConnGuard<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        forget_conn(self.shared, self.id);
        self.shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A parsed request head.
struct Request {
    method: String,
    path: String,
    query: String,
    last_event_id: Option<String>,
}

enum HeadError {
    TooLarge,
    Bad,
    Closed,
}

/// Reads the request head within [`HEADER_TIMEOUT`] and [`MAX_HEADER_BYTES`].
fn read_head(stream: &mut TcpStream) -> Result<Request, HeadError> {
    let deadline = Instant::now() + HEADER_TIMEOUT;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let end = loop {
        if let Some(i) = find_head_end(&buf) {
            break i;
        }
        if buf.len() > MAX_HEADER_BYTES {
            return Err(HeadError::TooLarge);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeadError::Closed);
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            return Err(HeadError::Closed);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(HeadError::Closed),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(HeadError::Closed),
        }
    };
    if end > MAX_HEADER_BYTES {
        return Err(HeadError::TooLarge);
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| HeadError::Bad)?;
    let mut lines = head.split('\n').map(|l| l.trim_end_matches('\r'));
    let first = lines.next().ok_or(HeadError::Bad)?;
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Bad);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(HeadError::Bad);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut last_event_id = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':')
            && k.trim().eq_ignore_ascii_case("last-event-id")
        {
            last_event_id = Some(v.trim().to_string());
        }
    }
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        last_event_id,
    })
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some(i + 4);
    }
    buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2)
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn respond(
    s: &mut TcpStream,
    code: u16,
    ctype: &str,
    body: &[u8],
    head_only: bool,
    extra: &[(&str, &str)],
) -> io::Result<()> {
    let mut h = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Connection: close\r\n",
        reason(code),
        body.len()
    );
    for (k, v) in extra {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    let mut out = h.into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    s.write_all(&out)?;
    s.flush()
}

fn serve(shared: &Shared, mut stream: TcpStream) -> io::Result<()> {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let req = match read_head(&mut stream) {
        Ok(r) => r,
        Err(HeadError::TooLarge) => {
            return respond(
                &mut stream,
                431,
                "text/plain; charset=utf-8",
                b"request headers too large\n",
                false,
                &[],
            );
        }
        Err(HeadError::Bad) => {
            return respond(
                &mut stream,
                400,
                "text/plain; charset=utf-8",
                b"bad request\n",
                false,
                &[],
            );
        }
        Err(HeadError::Closed) => return Ok(()),
    };
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        return respond(
            &mut stream,
            405,
            "text/plain; charset=utf-8",
            b"read-only: GET and HEAD only\n",
            false,
            &[("Allow", "GET, HEAD")],
        );
    }
    let text = "text/plain; charset=utf-8";
    match req.path.as_str() {
        "/" | "/index.html" => {
            let page = page(shared);
            respond(
                &mut stream,
                200,
                "text/html; charset=utf-8",
                page.as_bytes(),
                head_only,
                &[],
            )
        }
        "/log.txt" => {
            let (log, _) = log_snapshot(shared);
            respond(&mut stream, 200, text, log.as_bytes(), head_only, &[])
        }
        "/status.json" => {
            let s = status_json(shared);
            respond(
                &mut stream,
                200,
                "application/json",
                s.as_bytes(),
                head_only,
                &[],
            )
        }
        "/events" => events(shared, stream, &req, head_only),
        "/bundle" if crate::state::recovery::active(&shared.root) => {
            bundle(shared, &mut stream, head_only)
        }
        _ => respond(&mut stream, 404, text, b"not found\n", head_only, &[]),
    }
}

/// The scrubbed log up to its last complete line, and that line's end offset.
fn log_snapshot(shared: &Shared) -> (String, u64) {
    let path = shared.root.log_file();
    let Ok(mut f) = std::fs::File::open(&path) else {
        return (String::new(), 0);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(MAX_LOG_BYTES);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.take(len - start).read_to_end(&mut buf).is_err()
    {
        return (String::new(), 0);
    }
    let cut = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    buf.truncate(cut);
    let mut from = 0;
    if start > 0 {
        // Skip the first, partial line of a cut log.
        from = buf
            .iter()
            .position(|b| *b == b'\n')
            .map_or(buf.len(), |i| i + 1);
    }
    let text = String::from_utf8_lossy(&buf[from..]).into_owned();
    let secrets = shared.secrets.lock().map(|s| s.clone()).unwrap_or_default();
    (secrets.scrub_str(&text), start + cut as u64)
}

fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn status_line(status_json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(status_json).unwrap_or_default();
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let mut out = String::new();
    if v.get("operation").is_some_and(|o| !o.is_null()) {
        out.push_str(&format!("{} · {}", s("operation"), s("stage")));
        if let Some(f) = v.get("fraction").and_then(|f| f.as_f64()) {
            out.push_str(&format!(" · {:.0}%", f * 100.0));
        }
        if let Some(o) = v.get("outcome").and_then(|o| o.as_str()) {
            out.push_str(&format!(" · outcome: {o}"));
        }
        match v.get("rollback_possible").and_then(|r| r.as_bool()) {
            Some(true) => out.push_str(" · rollback possible"),
            Some(false) => out.push_str(" · rollback no longer possible"),
            None => {}
        }
        if v.get("do_not_power_off").and_then(|r| r.as_bool()) == Some(true) {
            out.push_str(" · DO NOT POWER OFF");
        }
    }
    let m = s("message");
    if !m.is_empty() {
        if !out.is_empty() {
            out.push_str(" — ");
        }
        out.push_str(&m);
    }
    out
}

const SCRIPT: &str = r#"
(function () {
  var pre = document.getElementById('log');
  var st = document.getElementById('status');
  var from = pre.getAttribute('data-end');
  var es = new EventSource('/events?from=' + from);
  es.onmessage = function (e) {
    pre.appendChild(document.createTextNode(e.data + '\n'));
    window.scrollTo(0, document.body.scrollHeight);
  };
  es.addEventListener('status', function (e) {
    try { st.textContent = JSON.parse(e.data).line; } catch (x) {}
  });
  es.addEventListener('reset', function () { pre.textContent = ''; });
})();
"#;

fn page(shared: &Shared) -> String {
    let (log, end) = log_snapshot(shared);
    let status = status_line(&status_json(shared));
    let recovery = crate::state::recovery::active(&shared.root);
    let bundle = if recovery {
        r#" · <a href="/bundle">support bundle</a>"#
    } else {
        ""
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>upgrade-console boot log</title>
<noscript><meta http-equiv="refresh" content="5"></noscript>
<style>body{{font-family:monospace;margin:1em;background:#111;color:#ddd}}
#status{{font-weight:bold;color:#fc6}}pre{{white-space:pre-wrap}}a{{color:#8cf}}</style>
</head><body>
<div>upgrade-console · <a href="/log.txt">raw log</a> · <a href="/status.json">status</a>{bundle}</div>
<p id="status">{status}</p>
<noscript><p>Without JavaScript this page reloads every 5 seconds.</p></noscript>
<pre id="log" data-end="{end}">{log}</pre>
<script>{SCRIPT}</script>
</body></html>
"#,
        status = html_escape(&status),
        log = html_escape(&log),
    )
}

fn sse_data(out: &mut Vec<u8>, event: Option<&str>, id: Option<u64>, data: &str) {
    if let Some(e) = event {
        out.extend_from_slice(format!("event: {e}\n").as_bytes());
    }
    if let Some(i) = id {
        out.extend_from_slice(format!("id: {i}\n").as_bytes());
    }
    for l in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// `/events`: every log line after `from` (or Last-Event-ID) as a message, and the
/// status as `status` events, until the viewer goes away or the server stops.
fn events(shared: &Shared, mut s: TcpStream, req: &Request, head_only: bool) -> io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
                Connection: close\r\n\r\n";
    s.write_all(head.as_bytes())?;
    if head_only {
        return Ok(());
    }
    let from: Option<u64> = req
        .last_event_id
        .as_deref()
        .and_then(|v| v.parse().ok())
        .or_else(|| {
            req.query
                .split('&')
                .find_map(|kv| kv.strip_prefix("from="))
                .and_then(|v| v.parse().ok())
        });
    let mut out = Vec::new();
    out.extend_from_slice(b"retry: 1000\n\n");
    let (mut pos, mut epoch, mut status_gen) = {
        let f = shared
            .feed
            .lock()
            .map_err(|_| io::Error::other("feed lock poisoned"))?;
        (from.unwrap_or(0), f.epoch, u64::MAX)
    };
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        {
            let mut f = shared
                .feed
                .lock()
                .map_err(|_| io::Error::other("feed lock poisoned"))?;
            let unchanged =
                |f: &FeedState| f.epoch == epoch && f.end <= pos && f.status_gen == status_gen;
            if unchanged(&f) && out.is_empty() {
                let (g, t) = shared
                    .wake
                    .wait_timeout_while(f, KEEPALIVE, |f| {
                        unchanged(f) && !shared.stop.load(Ordering::SeqCst)
                    })
                    .map_err(|_| io::Error::other("feed lock poisoned"))?;
                f = g;
                if t.timed_out() {
                    out.extend_from_slice(b": keep-alive\n\n");
                }
            }
            if f.epoch != epoch {
                epoch = f.epoch;
                pos = 0;
                sse_data(&mut out, Some("reset"), None, "");
            }
            if f.end < pos {
                pos = 0;
            }
            for l in f.lines.iter().filter(|l| l.end > pos) {
                sse_data(&mut out, None, Some(l.end), &l.text);
            }
            pos = pos.max(f.end);
            if f.status_gen != status_gen {
                status_gen = f.status_gen;
                let line = status_line(&f.status);
                let data = serde_json::json!({ "line": line, "status":
                    serde_json::from_str::<serde_json::Value>(&f.status).unwrap_or_default() });
                sse_data(&mut out, Some("status"), None, &data.to_string());
            }
        }
        if !out.is_empty() {
            s.write_all(&out)?;
            out.clear();
        }
    }
}

fn bundle(shared: &Shared, s: &mut TcpStream, head_only: bool) -> io::Result<()> {
    let root = shared.root.clone();
    // Bundle writing needs a full-size stack; connection threads are small.
    let made = std::thread::spawn(move || {
        crate::support::bundle::recovery_bundle(&root).map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "bundle thread panicked".to_string())
    .and_then(|r| r);
    let path = match made {
        Ok(p) => p,
        Err(e) => {
            log::error!("boot log server: cannot make a bundle: {e}");
            return respond(
                s,
                500,
                "text/plain; charset=utf-8",
                b"cannot make the support bundle; see the log\n",
                head_only,
                &[],
            );
        }
    };
    let bytes = std::fs::read(&path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "support.zip".into());
    let disp = format!("attachment; filename=\"{}\"", name.replace('"', ""));
    respond(
        s,
        200,
        "application/zip",
        &bytes,
        head_only,
        &[("Content-Disposition", &disp)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_and_escape() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nx"), Some(18));
        assert_eq!(html_escape("<a&b>"), "&lt;a&amp;b&gt;");
        let mut o = Vec::new();
        sse_data(&mut o, None, Some(5), "x");
        assert_eq!(o, b"id: 5\ndata: x\n\n");
    }
}
