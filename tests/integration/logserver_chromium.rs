//! Headless Chromium on the support side loads the boot log page that recovery
//! serves in the appliance namespace: the page shows the log and the status, a line
//! appended after the page loaded appears in it live (server-sent events), and the
//! page as loaded holds the log inline with a no-JavaScript refresh.
//!
//! Why the DevTools pipe and not `--virtual-time-budget --dump-dom`: virtual time only
//! advances while no fetch is pending, and a live EventSource is always pending, so
//! that dump never comes. Chromium's `--remote-debugging-pipe` (NUL-separated JSON on
//! fds 3 and 4, wired to two FIFOs here) lets the test read the DOM after the append.

use crate::support::recovery::*;
use crate::support::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

struct Cdp {
    tx: std::fs::File,
    /// DevTools messages, read by a thread so every wait for one has a deadline.
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    next: u64,
    session: Option<String>,
}

impl Cdp {
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.tx.write_all(&bytes).unwrap();
        self.tx.flush().unwrap();
        let rx = &self.rx;
        wait_for(&format!("chromium's answer to {method}"), PATIENCE, || {
            let buf = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(b) => b,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err("no message".into());
                }
                Err(_) => panic!("chromium closed the DevTools pipe"),
            };
            let v: Value = serde_json::from_slice(&buf).unwrap();
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                Ok(v["result"].clone())
            } else {
                Err(format!("other message: {v}"))
            }
        })
    }

    fn eval(&mut self, expr: &str) -> String {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true }),
        );
        r["result"]["value"].as_str().unwrap_or("").to_string()
    }
}

#[test]
fn chromium_follows_the_log_live_from_the_support_side() {
    require_tool("chromium", "chromium");
    require_tool("mkfifo", "coreutils");
    let mut lab = lab(true);
    lab.start_recover();
    let url = format!("http://{APPL_ETH1}:{WEB_PORT}/");

    // The page as loaded: the log inline (what a browser without JavaScript shows,
    // with a refresh so it still follows). Plain --dump-dom dumps at the load event.
    let profile = tempfile::tempdir().unwrap();
    let o = lab.in_support(
        &[
            &["chromium"],
            FLAGS,
            &[
                &format!("--user-data-dir={}", profile.path().display()),
                "--dump-dom",
                &url,
            ],
        ]
        .concat(),
    );
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(
        dom.contains("entering recovery mode"),
        "no-JS page lacks the log: {dom} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(dom.contains("http-equiv=\"refresh\""), "{dom}");
    assert!(dom.contains("recover"), "status missing: {dom}");
    assert!(!dom.contains(LDAP_SECRET) && !dom.contains(BMC_SECRET));

    // With JavaScript, through the DevTools pipe.
    let fifo_in = lab.dir.path().join("cdp-in");
    let fifo_out = lab.dir.path().join("cdp-out");
    for f in [&fifo_in, &fifo_out] {
        ok(Command::new("mkfifo").arg(f));
    }
    let profile = tempfile::tempdir().unwrap();
    let cmd = format!(
        "exec chromium {} --user-data-dir={} --remote-debugging-pipe about:blank 3<{} 4>{}",
        FLAGS.join(" "),
        profile.path().display(),
        fifo_in.display(),
        fifo_out.display()
    );
    let child = Command::new("ip")
        .args(["netns", "exec", &lab.sup.0, "bash", "-c", &cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _browser = Proc(Some(child));
    // Non-blocking opens, so a browser that never starts fails the wait rather than
    // hanging it: our reader first (it opens at once), then our writer, which opens
    // once bash has opened its fd 3 for reading.
    use std::os::unix::fs::OpenOptionsExt;
    let rx_file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo_out)
        .unwrap();
    let tx = wait_for("chromium to open its DevTools pipe", PATIENCE, || {
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo_in)
            .map_err(|e| format!("open {}: {e}", fifo_in.display()))
    });
    for f in [&rx_file, &tx] {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        let flags = OFlag::from_bits_truncate(fcntl(f, FcntlArg::F_GETFL).expect("F_GETFL"));
        fcntl(f, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK)).expect("F_SETFL");
    }
    let (msg_tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(rx_file);
        let mut started = false;
        loop {
            let mut buf = Vec::new();
            match r.read_until(0, &mut buf) {
                // Before chromium opens its end, a read sees no writer: wait for one.
                Ok(0) if buf.is_empty() && !started => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Ok(0) => return,
                Ok(_) => {
                    started = true;
                    if buf.last() == Some(&0) {
                        buf.pop();
                    }
                    if msg_tx.send(buf).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    let mut cdp = Cdp {
        tx,
        rx,
        next: 0,
        session: None,
    };
    let target = cdp.call("Target.createTarget", json!({ "url": url }));
    let tid = target["targetId"].as_str().unwrap().to_string();
    let att = cdp.call(
        "Target.attachToTarget",
        json!({ "targetId": tid, "flatten": true }),
    );
    cdp.session = Some(att["sessionId"].as_str().unwrap().to_string());

    let log_text = "(document.getElementById('log')||{textContent:''}).textContent";
    wait_for(
        "the page's log to show \"recovery ready\"",
        PATIENCE,
        || {
            let t = cdp.eval(log_text);
            if t.contains("recovery ready") {
                assert!(!t.contains(LDAP_SECRET));
                Ok(())
            } else {
                Err(format!("log: {t:?}"))
            }
        },
    );
    let status = cdp.eval("document.getElementById('status').textContent");
    assert!(
        status.contains("recover") && status.contains("sealed: no SSH"),
        "{status}"
    );
    // No pause for the EventSource to connect: it asks for the log from the page's
    // end offset (data-end), so a line appended before it connects still comes, once.
    let live = format!("2026-11-23T00:00:00Z INFO  live line for the browser {LDAP_SECRET}");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(lab.root.join("var/log/upgrade-console/console.log"))
        .unwrap();
    writeln!(f, "{live}").unwrap();
    drop(f);
    wait_for("the live line to reach the page's log", PATIENCE, || {
        let t = cdp.eval(log_text);
        if t.contains("live line for the browser") {
            assert!(t.contains("live line for the browser <redacted>"), "{t}");
            assert!(!t.contains(LDAP_SECRET));
            // Exactly once: the page's inline log and the stream do not overlap.
            assert_eq!(t.matches("live line for the browser").count(), 1);
            assert_eq!(t.matches("recovery ready").count(), 1, "{t}");
            Ok(())
        } else {
            Err(format!("log: {t:?}"))
        }
    });
    let _ = cdp.call("Browser.close", json!({}));
}
