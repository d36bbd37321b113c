//! Headless Chromium on the support side loads the boot log page that recovery
//! serves in the appliance namespace: the page shows the log and the status, a line
//! appended after the page loaded appears in it live (server-sent events), and the
//! page as loaded holds the log inline with a no-JavaScript refresh.
//!
//! Why the DevTools pipe and not `--virtual-time-budget --dump-dom`: virtual time only
//! advances while no fetch is pending, and a live EventSource is always pending, so
//! that dump never comes. Chromium's `--remote-debugging-pipe` (NUL-separated JSON on
//! fds 3 and 4, wired to two FIFOs here) lets the test read the DOM after the append.

mod recovery_util;
use recovery_util::*;
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
    rx: BufReader<std::fs::File>,
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
        loop {
            let mut buf = Vec::new();
            let n = self.rx.read_until(0, &mut buf).unwrap();
            assert!(n > 0, "chromium closed the DevTools pipe");
            buf.pop();
            let v: Value = serde_json::from_slice(&buf).unwrap();
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
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
    require("chromium", "chromium");
    require("mkfifo", "coreutils");
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
    // Same order as bash opens them: its fd 3 (our writer), then its fd 4 (our reader).
    let tx = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo_in)
        .unwrap();
    let rx = BufReader::new(std::fs::File::open(&fifo_out).unwrap());
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
    loop {
        let t = cdp.eval(log_text);
        if t.contains("recovery ready") {
            assert!(!t.contains(LDAP_SECRET));
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = cdp.eval("document.getElementById('status').textContent");
    assert!(
        status.contains("recover") && status.contains("sealed: no SSH"),
        "{status}"
    );
    // The EventSource is connected once the status event replaced the inline status
    // with the same text; give it a moment, then append.
    std::thread::sleep(Duration::from_millis(1000));
    let live = format!("2026-11-23T00:00:00Z INFO  live line for the browser {LDAP_SECRET}");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(lab.root.join("var/log/upgrade-console/console.log"))
        .unwrap();
    writeln!(f, "{live}").unwrap();
    drop(f);
    loop {
        let t = cdp.eval(log_text);
        if t.contains("live line for the browser") {
            assert!(t.contains("live line for the browser <redacted>"), "{t}");
            assert!(!t.contains(LDAP_SECRET));
            // Exactly once: the page's inline log and the stream do not overlap.
            assert_eq!(t.matches("live line for the browser").count(), 1);
            assert_eq!(t.matches("recovery ready").count(), 1, "{t}");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = cdp.call("Browser.close", json!({}));
}
