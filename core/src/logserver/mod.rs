//! The boot log server (SPEC §7): read-only HTTP/1.1 on the configured listen
//! addresses during the boot phase and in recovery. `/` follows the console log live
//! (server-sent events from `/events`, and a refreshing page without JavaScript),
//! `/log.txt` is the raw log, `/status.json` the operation's progress, `/bundle` the
//! support bundle in recovery only. Nothing else. Secrets from appliance.toml are
//! scrubbed from everything served; when they cannot be known, nothing that could hold
//! one is served (503) until appliance.toml is fixed.
//!
//! Bounded in memory per connection and in total, whatever clients do: one thread per
//! connection with a small stack, in separate pools (heads being read, page requests,
//! SSE viewers, refusals) and a cap per source address; every response streamed
//! through fixed buffers under one deadline; the SSE feed capped in bytes.
//! `http` parses heads, `lines` reads capped lines, `feed` keeps the secrets and the
//! live feed, `respond` writes the answers.

mod feed;
pub mod http;
pub mod lines;
mod respond;

use crate::appliance::root::ApplianceRoot;
use crate::support::secrets::Secrets;
use feed::{Feed, SecretsState, Tailer};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use http::{HeadError, MAX_HEADER_BYTES, parse_head};

/// SSE viewers at once (their own pool: they never lock out page requests).
pub const MAX_VIEWERS: usize = 256;
/// Page, log, status and bundle requests being answered at once.
pub const MAX_PAGES: usize = 128;
/// Connections at once from one source address (an IPv6 /64 counts as one).
pub const MAX_PER_SOURCE: usize = 32;
/// The whole request head must arrive within this time (slow clients are closed).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Connection threads do little; small stacks keep hundreds of them cheap.
const CONN_STACK: usize = 128 * 1024;

/// Every bound the server keeps; [`Limits::default`] is what the appliance runs with.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections whose request head is still being read.
    pub max_pending: usize,
    pub max_pages: usize,
    pub max_viewers: usize,
    pub max_per_source: usize,
    /// Refusals (503 after reading the head) being sent at once; past this a
    /// connection is closed at once.
    pub max_refusing: usize,
    pub head_timeout: Duration,
    /// How long a refused client has to send its head before the 503.
    pub refuse_drain: Duration,
    /// The least time a whole response may take...
    pub response_deadline: Duration,
    /// ...more for large ones, at this rate in bytes per second.
    pub min_rate: u64,
    /// An SSE viewer that accepts no bytes for this long is dropped.
    pub viewer_stall: Duration,
    /// SSE comment sent when nothing happened for this long (keeps NATs open).
    pub keepalive: Duration,
    /// The live feed's size; a viewer whose unsent lines drop out of it is closed.
    pub feed_bytes: usize,
    /// The page and /log.txt show at most this much of the log's tail.
    pub max_log_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pending: 128,
            max_pages: MAX_PAGES,
            max_viewers: MAX_VIEWERS,
            max_per_source: MAX_PER_SOURCE,
            max_refusing: 32,
            head_timeout: HEADER_TIMEOUT,
            refuse_drain: Duration::from_secs(1),
            response_deadline: Duration::from_secs(60),
            min_rate: 128 * 1024,
            viewer_stall: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
            feed_bytes: 256 * 1024,
            max_log_bytes: 8 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The deadline of a whole response of `len` bytes.
    fn deadline_for(&self, len: u64) -> Duration {
        let at_rate = Duration::from_secs(len / self.min_rate.max(1));
        self.response_deadline.max(at_rate)
    }
}

/// Which count a connection holds a place in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    Pending,
    Pages,
    Viewers,
    Refusing,
}

pub(crate) struct Shared {
    root: ApplianceRoot,
    limits: Limits,
    secrets: Mutex<SecretsState>,
    tailer_alive: AtomicBool,
    feed: Mutex<Feed>,
    wake: Condvar,
    stop: AtomicBool,
    pending: AtomicUsize,
    pages: AtomicUsize,
    viewers: AtomicUsize,
    refusing: AtomicUsize,
    sources: Mutex<HashMap<IpAddr, usize>>,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
}

impl Shared {
    fn counter(&self, p: Pool) -> &AtomicUsize {
        match p {
            Pool::Pending => &self.pending,
            Pool::Pages => &self.pages,
            Pool::Viewers => &self.viewers,
            Pool::Refusing => &self.refusing,
        }
    }

    fn max(&self, p: Pool) -> usize {
        match p {
            Pool::Pending => self.limits.max_pending,
            Pool::Pages => self.limits.max_pages,
            Pool::Viewers => self.limits.max_viewers,
            Pool::Refusing => self.limits.max_refusing,
        }
    }

    /// The secrets to scrub with, or why there are none. A poisoned lock or a dead
    /// tailer count as "unknown": the server fails closed.
    fn secrets(&self) -> Result<Arc<Secrets>, Arc<str>> {
        if !self.tailer_alive.load(Ordering::SeqCst) {
            return Err(
                "the boot log server's log follower stopped; restart the server \
                        (`upgrade-console serve-log` or recovery)"
                    .into(),
            );
        }
        match self.secrets.lock() {
            Ok(s) => s.clone(),
            Err(_) => Err(
                "the boot log server's secrets are in an unknown state; restart \
                           the server"
                    .into(),
            ),
        }
    }

    fn set_secrets(&self, s: SecretsState) {
        match self.secrets.lock() {
            Ok(mut g) => *g = s,
            Err(p) => {
                // Whatever poisoned it, the new state is the truth now.
                let mut g = p.into_inner();
                *g = s;
                self.secrets.clear_poison();
            }
        }
        self.wake.notify_all();
    }
}

/// A place in a pool, given back when dropped.
struct Place {
    shared: Arc<Shared>,
    pool: Pool,
}

impl Place {
    fn take(shared: &Arc<Shared>, pool: Pool) -> Option<Place> {
        let max = shared.max(pool);
        shared
            .counter(pool)
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Place {
                shared: shared.clone(),
                pool,
            })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.shared
            .counter(self.pool)
            .fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection counted against its source address.
struct SourcePlace {
    shared: Arc<Shared>,
    key: IpAddr,
}

/// IPv4 addresses count one by one; IPv6 by /64, what one host usually gets.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl SourcePlace {
    fn take(shared: &Arc<Shared>, ip: IpAddr) -> Option<SourcePlace> {
        let key = source_key(ip);
        let mut m = shared.sources.lock().ok()?;
        let n = m.entry(key).or_insert(0);
        if *n >= shared.limits.max_per_source {
            return None;
        }
        *n += 1;
        Some(SourcePlace {
            shared: shared.clone(),
            key,
        })
    }
}

impl Drop for SourcePlace {
    fn drop(&mut self) {
        if let Ok(mut m) = self.shared.sources.lock()
            && let Some(n) = m.get_mut(&self.key)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// A socket registered so `stop` can close it.
struct Registered {
    shared: Arc<Shared>,
    id: u64,
}

impl Registered {
    fn new(shared: &Arc<Shared>, stream: &TcpStream) -> Registered {
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone()
            && let Ok(mut c) = shared.conns.lock()
        {
            c.insert(id, clone);
        }
        Registered {
            shared: shared.clone(),
            id,
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut c) = self.shared.conns.lock() {
            c.remove(&self.id);
        }
    }
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

    /// Connections open now: heads being read, pages being sent, SSE viewers.
    pub fn active_connections(&self) -> usize {
        let s = &self.shared;
        s.pending.load(Ordering::SeqCst)
            + s.pages.load(Ordering::SeqCst)
            + s.viewers.load(Ordering::SeqCst)
    }

    /// SSE viewers connected now.
    pub fn viewers(&self) -> usize {
        self.shared.viewers.load(Ordering::SeqCst)
    }

    /// Why nothing that could hold a secret is served now, if so.
    pub fn unavailable(&self) -> Option<String> {
        self.shared.secrets().err().map(|e| e.to_string())
    }

    /// Stops accepting, closes every connection and waits for the server threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        if let Ok(conns) = self.shared.conns.lock() {
            for s in conns.values() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // Connection threads see the closed sockets and the stop flag at once.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while self.active_connections() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for LogServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the log server for `root` on every address of `listen` with the default
/// [`Limits`]. Addresses that cannot be bound are logged and listed in
/// [`LogServerHandle::failed`]; it is an error only when none can be.
pub fn spawn(root: ApplianceRoot, listen: Vec<SocketAddr>) -> io::Result<LogServerHandle> {
    spawn_with(root, listen, Limits::default())
}

/// [`spawn`] with other limits (tests use short deadlines).
pub fn spawn_with(
    root: ApplianceRoot,
    listen: Vec<SocketAddr>,
    limits: Limits,
) -> io::Result<LogServerHandle> {
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
        secrets: Mutex::new(Err("the boot log server is starting".into())),
        root,
        limits,
        tailer_alive: AtomicBool::new(true),
        feed: Mutex::new(Feed::default()),
        wake: Condvar::new(),
        stop: AtomicBool::new(false),
        pending: AtomicUsize::new(0),
        pages: AtomicUsize::new(0),
        viewers: AtomicUsize::new(0),
        refusing: AtomicUsize::new(0),
        sources: Mutex::new(HashMap::new()),
        conns: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
    });
    // Load the secrets and fill the feed once before accepting, so the first page
    // is complete.
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
            while let Ok((stream, peer)) = l.accept() {
                admit(shared, stream, peer);
            }
        }
    }
}

/// A new connection gets a place for its head if its source and the head pool have
/// room; otherwise it is refused with a 503 after its head was read.
fn admit(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let Some(source) = SourcePlace::take(shared, peer.ip()) else {
        refuse(
            shared,
            stream,
            "too many connections from your address; close some and try again\n",
        );
        return;
    };
    let Some(pending) = Place::take(shared, Pool::Pending) else {
        refuse(
            shared,
            stream,
            "too many connections at once; try again shortly\n",
        );
        return;
    };
    let s = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("logserver-conn".into())
        .stack_size(CONN_STACK)
        .spawn(move || {
            let _source = source;
            let mut stream = stream;
            let _reg = Registered::new(&s, &stream);
            respond::serve(&s, &mut stream, pending);
        });
    if let Err(e) = spawned {
        log::warn!("boot log server: cannot start a connection thread: {e}");
    }
}

/// Answers 503 after reading the client's head for a moment, in a bounded pool of
/// its own; when that pool is full too, the connection is just closed.
fn refuse(shared: &Arc<Shared>, stream: TcpStream, why: &'static str) {
    let Some(place) = Place::take(shared, Pool::Refusing) else {
        return;
    };
    let s = shared.clone();
    let _ = std::thread::Builder::new()
        .name("logserver-refuse".into())
        .stack_size(CONN_STACK)
        .spawn(move || {
            let _place = place;
            let mut stream = stream;
            let _reg = Registered::new(&s, &stream);
            respond::refuse(&s, &mut stream, why);
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(a: SocketAddr) -> String {
        let mut s = TcpStream::connect(a).unwrap();
        s.write_all(b"GET /log.txt HTTP/1.1\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn a_poisoned_secrets_lock_or_a_dead_tailer_fails_closed() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        std::fs::create_dir_all(root.log_dir()).unwrap();
        std::fs::write(root.log_file(), "a line\n").unwrap();
        let h = spawn(root, vec!["127.0.0.1:0".parse().unwrap()]).unwrap();
        let a = h.local_addrs()[0];
        assert!(get(a).starts_with("HTTP/1.1 200"));
        // A panic while holding the secrets lock: never "serve unscrubbed".
        let s = h.shared.clone();
        let _ = std::thread::spawn(move || {
            let _g = s.secrets.lock();
            panic!("poison the secrets lock");
        })
        .join();
        let r = get(a);
        assert!(
            r.starts_with("HTTP/1.1 503") && !r.contains("a line"),
            "{r}"
        );
        assert!(h.unavailable().is_some());
        // The tailer gone: the feed is kept by nobody, so nothing is served.
        h.shared.set_secrets(Ok(Arc::new(Secrets::default())));
        assert!(get(a).starts_with("HTTP/1.1 200"));
        h.shared.tailer_alive.store(false, Ordering::SeqCst);
        let r = get(a);
        assert!(
            r.starts_with("HTTP/1.1 503") && r.contains("restart"),
            "{r}"
        );
    }
}
