//! The boot log server over raw TCP on loopback: only its paths, no traversal,
//! bounded headers, slow clients harmless to other viewers, live lines over SSE,
//! secrets scrubbed, /bundle only in recovery (the pools and caps under attack:
//! logserver_hostile).

use crate::support::{PATIENCE, read_until_closed, wait_for};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::logserver::{self, LogServerHandle};

const SECRET: &str = "ldap-S3cret-value-99";

fn setup() -> (
    tempfile::TempDir,
    ApplianceRoot,
    LogServerHandle,
    SocketAddr,
) {
    let d = tempfile::tempdir().unwrap();
    let root = ApplianceRoot::new(d.path());
    std::fs::create_dir_all(root.config_file().parent().unwrap()).unwrap();
    std::fs::write(
        root.config_file(),
        format!("[appliance]\nhostname = \"t\"\n[product]\nldap_bind_password = \"{SECRET}\"\n"),
    )
    .unwrap();
    std::fs::create_dir_all(root.log_dir()).unwrap();
    std::fs::write(
        root.log_file(),
        format!(
            "2026-01-01T00:00:00Z INFO  first line\n2026-01-01T00:00:01Z INFO  bind pw {SECRET}\n"
        ),
    )
    .unwrap();
    let h = logserver::spawn(root.clone(), vec!["127.0.0.1:0".parse().unwrap()]).unwrap();
    let a = h.local_addrs()[0];
    (d, root, h, a)
}

/// Sends raw bytes, returns everything the server answered until it closed.
fn raw(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(req).unwrap();
    let out = read_until_closed(&mut s, "the log server's answer");
    String::from_utf8_lossy(&out).into_owned()
}

fn get(addr: SocketAddr, path: &str) -> String {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

#[test]
fn only_its_paths_and_no_traversal() {
    let (_d, _root, _h, a) = setup();
    for p in [
        "/../etc/passwd",
        "/%2e%2e/",
        "/%2e%2e/%2e%2e/etc/passwd",
        "//etc/passwd",
        "/log.txt/../../../etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "/etc/passwd",
        "/bundle",
        "/index.html/",
    ] {
        let r = get(a, p);
        assert!(r.starts_with("HTTP/1.1 404"), "{p}: {r}");
        assert!(!r.contains("root:"), "{p} leaked a file: {r}");
    }
    let r = raw(a, b"GET ../../etc/passwd HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = raw(a, b"POST /log.txt HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
    let r = raw(a, b"HEAD /log.txt HTTP/1.1\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 200") && !r.contains("first line"),
        "{r}"
    );
}

#[test]
fn log_status_and_page_scrub_secrets() {
    let (_d, root, _h, a) = setup();
    let log = get(a, "/log.txt");
    assert!(log.starts_with("HTTP/1.1 200"), "{log}");
    assert!(
        log.contains("first line") && log.contains("bind pw <redacted>"),
        "{log}"
    );
    assert!(!log.contains(SECRET));
    let page = get(a, "/");
    assert!(
        page.contains("text/html") && page.contains("first line"),
        "{page}"
    );
    assert!(
        page.contains("<noscript><meta http-equiv=\"refresh\""),
        "{page}"
    );
    assert!(page.contains("EventSource('/events"), "{page}");
    assert!(!page.contains(SECRET));
    let mut p = upgrade_core::upgrade::progress::Progress {
        operation: upgrade_core::upgrade::progress::Operation::Boot,
        stage: "phase1".into(),
        fraction: 0.5,
        rollback_possible: false,
        do_not_power_off: true,
        message: format!("migrating with {SECRET}"),
        ..upgrade_core::upgrade::progress::Progress::new(
            upgrade_core::upgrade::progress::Operation::Boot,
        )
    };
    p.save(&root).unwrap();
    let s = get(a, "/status.json");
    let body = s.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["operation"], "boot");
    assert_eq!(v["stage"], "phase1");
    assert_eq!(v["fraction"], 0.5);
    assert_eq!(v["rollback_possible"], false);
    assert_eq!(v["do_not_power_off"], true);
    assert_eq!(v["message"], "migrating with <redacted>");
}

#[test]
fn oversized_headers_get_431_or_close() {
    let (_d, _root, _h, a) = setup();
    let mut req = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..400 {
        req.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(40)).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let mut s = TcpStream::connect(a).unwrap();
    // The server may close before reading everything; a reset is also a refusal.
    let _ = s.write_all(&req);
    let out = read_until_closed(&mut s, "the log server's refusal of a huge head");
    let r = String::from_utf8_lossy(&out);
    assert!(r.is_empty() || r.starts_with("HTTP/1.1 431"), "{r}");
    // The server is still fine.
    assert!(get(a, "/log.txt").starts_with("HTTP/1.1 200"));
}

#[test]
fn slow_clients_do_not_block_other_viewers_and_are_closed() {
    let (_d, _root, h, a) = setup();
    // Ten slowloris clients dribbling their request head one byte at a time.
    let mut slow = Vec::new();
    for _ in 0..10 {
        let addr = a;
        slow.push(std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            // A server that never closes would hold this read: the deadline ends it.
            s.set_read_timeout(Some(PATIENCE)).unwrap();
            // Twice the header timeout at 200 ms a byte, so the server closes first.
            let head = format!("GET / HTTP/1.1\r\nX-Slow: {}", "a".repeat(60));
            let mut sent = 0;
            for b in head.as_bytes() {
                if s.write_all(&[*b]).is_err() {
                    break;
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            let mut out = Vec::new();
            let read = s.read_to_end(&mut out);
            (sent, head.len(), read.map_err(|e| e.kind()), out)
        }));
    }
    wait_for("ten slow clients connected", PATIENCE, || {
        let n = h.active_connections();
        if n >= 10 {
            Ok(())
        } else {
            Err(format!("{n} active connections"))
        }
    });
    // Meanwhile a normal viewer is served at once, many times.
    for _ in 0..20 {
        assert!(get(a, "/log.txt").contains("first line"));
    }
    for t in slow {
        let (sent, len, read, out) = t.join().unwrap();
        // Closed by the server (header timeout) before the head was complete: the
        // client's writes failed part way, and it got no answer.
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
        assert!(
            sent < len,
            "the server let a slow client send its whole {len}-byte head"
        );
        // A reset is a close too; only the read deadline means the server held on.
        assert!(
            !matches!(
                read,
                Err(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
            ),
            "the server did not close a slow client within {PATIENCE:?}"
        );
    }
}

/// Reads SSE lines until one contains `needle`.
fn read_until(r: &mut BufReader<TcpStream>, needle: &str) -> String {
    let mut seen = String::new();
    // The deadline only stops a hang: a stream that never sends the line fails here.
    r.get_ref().set_read_timeout(Some(PATIENCE)).unwrap();
    loop {
        let mut l = String::new();
        let n = r.read_line(&mut l).unwrap_or_else(|e| {
            panic!("waited {PATIENCE:?} for {needle:?} on the stream ({e}); got: {seen}")
        });
        assert!(n > 0, "stream closed before {needle:?}; got: {seen}");
        seen.push_str(&l);
        if l.contains(needle) {
            return seen;
        }
    }
}

#[test]
fn a_new_line_reaches_an_sse_viewer() {
    let (_d, root, _h, a) = setup();
    let mut s = TcpStream::connect(a).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let head = read_until(&mut r, "bind pw");
    assert!(head.contains("text/event-stream"), "{head}");
    assert!(
        head.contains("first line") && !head.contains(SECRET),
        "{head}"
    );
    let t = Instant::now();
    append(
        &root.log_file(),
        &format!("2026-01-01T00:00:02Z INFO  live line {SECRET}"),
    );
    let got = read_until(&mut r, "live line");
    eprintln!("line reached the viewer in {:?}", t.elapsed());
    assert!(
        got.contains("data: 2026-01-01T00:00:02Z INFO  live line <redacted>"),
        "{got}"
    );

    // Resuming from an offset gets only what came after it.
    let mut s = TcpStream::connect(a).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nLast-Event-ID: 40\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let seen = read_until(&mut r, "live line");
    assert!(
        !seen.contains("first line") && seen.contains("bind pw"),
        "{seen}"
    );
}

#[test]
fn bundle_only_in_recovery_and_stop_closes_viewers() {
    let (_d, root, h, a) = setup();
    assert!(get(a, "/bundle").starts_with("HTTP/1.1 404"));
    std::fs::create_dir_all(root.state_dir()).unwrap();
    std::fs::write(root.state_dir().join("recovery.json"), "{}").unwrap();
    let r = raw(a, b"GET /bundle HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200"), "{}", &r[..r.len().min(300)]);
    assert!(r.contains("application/zip") && r.contains("PK"));
    let mut s = TcpStream::connect(a).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    read_until(&mut r, "first line");
    h.stop();
    read_until_closed(r.get_mut(), "the stopped server to close the viewer");
    assert!(TcpStream::connect(a).is_err(), "still listening after stop");
}

#[test]
fn a_second_server_on_the_same_address_says_in_use() {
    let (_d, root, _h, a) = setup();
    let e = logserver::spawn(root, vec![a]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    assert!(e.to_string().contains(&a.to_string()), "{e}");
}
