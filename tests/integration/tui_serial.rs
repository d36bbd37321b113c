//! The console on a line that reports its size as 0x0, as serial lines do: a real
//! pseudo-terminal with no window size. The console must ask the terminal where the
//! cursor lands after ESC[999;999H (ESC[6n) and draw at the answer; with no
//! answer, it draws at 80x24. Also: a detached worker runs with the terminal gone.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use crate::support::{PATIENCE, bin, wait_for};

fn demo_root(tag: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::Builder::new().prefix(tag).tempdir().unwrap();
    let root = d.path().join("demo");
    let out = Command::new(bin()).arg("demo").arg(&root).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (d, root)
}

struct Line {
    master: std::fs::File,
    rx: Receiver<Vec<u8>>,
    seen: Vec<u8>,
    child: std::process::Child,
}

impl Line {
    /// Starts the console on a pty whose window size is 0x0.
    fn open(root: &Path, term: &str) -> Line {
        let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal (openpty)");
        let slave = std::fs::File::from(pty.slave);
        let child = Command::new(bin())
            .arg("--root")
            .arg(root)
            .env("TERM", term)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .unwrap();
        let master = std::fs::File::from(pty.master);
        let mut reader = master.try_clone().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Line {
            master,
            rx,
            seen: Vec::new(),
            child,
        }
    }

    /// Reads until `needle` has been written by the console.
    fn wait_for(&mut self, needle: &[u8]) {
        let what = format!("the console to write {:?}", String::from_utf8_lossy(needle));
        wait_for(&what, PATIENCE, || {
            if self.seen.windows(needle.len()).any(|w| w == needle) {
                return Ok(());
            }
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(chunk) => self.seen.extend(chunk),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(_) => panic!(
                    "the console ended before writing {:?}; it wrote {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&self.seen)
                ),
            }
            Err(format!(
                "it wrote {:?}",
                String::from_utf8_lossy(&self.seen)
            ))
        });
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    fn quit(mut self) {
        self.send(b"q");
        let child = &mut self.child;
        let st = wait_for("the console to exit after q", PATIENCE, || {
            child
                .try_wait()
                .unwrap()
                .ok_or_else(|| "still running".to_string())
        });
        assert!(st.success(), "{st:?}");
    }
}

#[test]
fn a_zero_size_line_is_measured_with_a_cursor_report() {
    let (_d, root) = demo_root("tui-cpr");
    let mut line = Line::open(&root, "vt100");
    line.wait_for(b"\x1b[999;999H");
    line.wait_for(b"\x1b[6n");
    // The terminal answers: the cursor stopped at row 30, column 100.
    line.send(b"\x1b[30;100R");
    // The key hints go on the last row: row 30.
    line.wait_for(b"\x1b[30H");
    line.wait_for(b"quit");
    line.quit();
}

#[test]
fn a_zero_size_line_that_does_not_answer_gets_80x24() {
    let (_d, root) = demo_root("tui-noanswer");
    let mut line = Line::open(&root, "vt100");
    line.wait_for(b"\x1b[6n");
    // No answer: after crossterm's wait the console assumes 80x24.
    line.wait_for(b"\x1b[24H");
    line.wait_for(b"quit");
    let text = String::from_utf8_lossy(&line.seen).into_owned();
    assert!(!text.contains("\x1b[25H"), "nothing below row 24");
    line.quit();
}

#[test]
fn detach_runs_the_command_in_its_own_session() {
    let (_d, root) = demo_root("tui-detach");
    // `detach` makes itself a session leader, then becomes the command (same pid).
    let out = Command::new(bin())
        .arg("--root")
        .arg(&root)
        .args(["detach", "--", "status", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "7.0.1");
    // And through the console's worker API: the exit status comes back as a message.
    let (tx, rx) = channel();
    let r = upgrade_core::appliance::root::ApplianceRoot::new(&root);
    let run = upgrade_console::tui::worker::spawn_detached(
        Path::new(bin()),
        &r,
        upgrade_console::tui::worker::Op::Bundle,
        vec!["status".into()],
        tx,
    )
    .unwrap();
    assert!(run.pid > 0);
    let msg = wait_for("the worker's exit message", PATIENCE, || {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(m) => Ok(m),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err("no message".into()),
            Err(e) => panic!("the worker dropped its channel: {e}"),
        }
    });
    match msg {
        upgrade_console::tui::app::Msg::ChildExited { code, .. } => assert_eq!(code, Some(0)),
        other => panic!("unexpected {other:?}"),
    }
}
