//! The console in a real terminal: tmux (TESTBED.md) runs the binary on a pty at
//! 80x24, the test types as an operator would and reads the screen back. The demo
//! appliance is built by the binary itself. Waits poll the screen until the text
//! appears or the console has exited (then the test fails showing the screen).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{PATIENCE, bin, require_tool, wait_for};
const EXITED: &str = "CONSOLE-EXITED";

struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `cmd` in a new 80x24 tmux session with its own server.
    fn start(cmd: &str) -> Tmux {
        require_tool("tmux", "tmux");
        static N: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "tui-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let full = format!("{cmd}; echo {EXITED} $?; sleep 100000");
        let st = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-s",
                "s",
                "-x",
                "80",
                "-y",
                "24",
                &full,
            ])
            .status()
            .unwrap_or_else(|e| panic!("tmux is needed for this test (apt-get install tmux): {e}"));
        assert!(st.success(), "tmux new-session failed");
        Tmux { socket }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "s"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let st = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "s"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(st.success());
    }

    /// Sends raw bytes, e.g. a VT100 function key.
    fn bytes(&self, hex: &[&str]) {
        let st = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "s", "-H"])
            .args(hex)
            .status()
            .expect("tmux send-keys -H");
        assert!(st.success());
    }

    /// Polls until the screen shows `text`; fails if the console exits first.
    fn wait_for(&self, text: &str) -> String {
        wait_for(&format!("the screen to show {text:?}"), PATIENCE, || {
            let s = self.screen();
            if s.contains(text) {
                return Ok(s);
            }
            if s.contains(EXITED) && !text.contains(EXITED) {
                panic!("the console exited before showing {text:?}; screen:\n{s}");
            }
            Err(format!("screen:\n{s}"))
        })
    }

    /// Sends a key and waits for the screen to show `text`.
    fn press(&self, key: &str, text: &str) -> String {
        self.keys(&[key]);
        self.wait_for(text)
    }

    /// Kills the terminal: the pty hangs up, as when a serial cable is pulled.
    fn hang_up(&self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.hang_up();
        // tmux leaves its socket file behind: remove it.
        let dir = std::env::var("TMUX_TMPDIR").unwrap_or_else(|_| "/tmp".into());
        let uid = nix::unistd::getuid();
        let _ = std::fs::remove_file(format!("{dir}/tmux-{uid}/{}", self.socket));
    }
}

fn demo_dir(tag: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::Builder::new()
        .prefix(tag)
        .tempdir()
        .expect("temp dir");
    let root = d.path().join("demo");
    let out = Command::new(bin())
        .arg("demo")
        .arg(&root)
        .output()
        .expect("run upgrade-console demo");
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (d, root)
}

fn console_cmd(term: &str, root: &Path) -> String {
    format!(
        "cd {} && TERM={term} {bin} demo {}",
        root.parent().unwrap().display(),
        root.display(),
        bin = bin(),
    )
}

/// Ticks every prerequisite on the wizard's first step.
fn tick_prerequisites(t: &Tmux) {
    t.press("2", "Prerequisites");
    // Space ticks the item under the cursor (and does not move it); Down moves on.
    wait_for(
        "every prerequisite ticked (no \"[ ]\" left)",
        PATIENCE,
        || {
            let s = t.screen();
            if !s.contains("[ ]") {
                return Ok(());
            }
            t.keys(&["Space", "Down"]);
            Err(format!("screen:\n{s}"))
        },
    );
}

/// Status, then the wizard to a verified image and a passed upgrade test.
fn walk_to_passed_test(t: &Tmux) {
    walk_image_to_passed_test(t, "sps-7.3.1.iso");
}

/// The same with the image the console preselected (`demo --fail` picks its image).
fn walk_image_to_passed_test(t: &Tmux, image: &str) {
    let s = t.wait_for("Slot B");
    assert!(s.contains("7.0.1 (7 LTS), booted from slot A"), "{s}");
    tick_prerequisites(t);
    let s = t.press("n", "2 of 10: Image and hash");
    assert!(
        s.contains(&format!("{image}.sha256")),
        "the .sha256 beside the ISO is picked up:\n{s}"
    );
    t.press("n", "3 of 10: Verify image");
    let s = t.press("Enter", "matches the manifest");
    assert!(s.contains("matches the published hash"), "{s}");
    t.press("n", "4 of 10: Upgrade test");
    let s = t.press("Enter", "blocker(s)");
    assert!(s.contains("0 blocker(s)"), "{s}");
}

#[test]
fn console_walks_status_wizard_verify_and_check() {
    let (_d, root) = demo_dir("tui-walk");
    let t = Tmux::start(&console_cmd("xterm-256color", &root));
    walk_to_passed_test(&t);
    // A blocked image: back to the image list, the 8.1 image is refused by the test.
    t.keys(&["p", "p"]);
    t.wait_for("2 of 10: Image and hash");
    t.keys(&["Down"]);
    t.wait_for("sps-8.1.iso.sha256");
    t.press("n", "3 of 10");
    t.press("Enter", "matches the manifest");
    t.press("n", "4 of 10");
    let s = t.press("Enter", "blocker(s)");
    assert!(!s.contains("│0 blocker(s)"), "{s}");
    assert!(
        s.contains("BLOCKER upgrade-path") && s.contains("Upgrade to 8 LTS"),
        "{s}"
    );
    t.keys(&["n"]);
    t.wait_for("fix them, then run the test again");
    // Every screen answers its key; Ctrl-L repaints.
    t.press("4", "Log: var/log/upgrade-console/console.log");
    t.wait_for("upgrade test");
    t.press("3", "Not in recovery mode");
    t.press("5", "not part of a central cluster");
    t.press("?", "Help: every key");
    t.keys(&["C-l"]);
    t.wait_for("Help: every key");
    t.press("1", "Slot A");
    let s = t.press("q", EXITED);
    assert!(s.contains(&format!("{EXITED} 0")), "{s}");
}

#[test]
fn vt100_gets_ascii_and_function_keys_in_vt100_form() {
    let (_d, root) = demo_dir("tui-vt100");
    let t = Tmux::start(&console_cmd("vt100", &root));
    let s = t.wait_for("Slot B");
    assert!(s.contains("+ Status ---"), "ASCII borders on vt100:\n{s}");
    assert!(s.is_ascii(), "nothing but ASCII on vt100:\n{s}");
    // PF1 as a VT100 sends it: ESC O P.
    t.bytes(&["1b", "4f", "50"]);
    t.wait_for("Help: every key");
    t.press("1", "Slot B");
    // F1 in the Linux console's form: ESC [ [ A.
    t.bytes(&["1b", "5b", "5b", "41"]);
    t.wait_for("Help: every key");
    assert!(t.screen().contains("TERM=vt100"), "{}", t.screen());
    t.press("q", EXITED);
}

#[test]
fn broken_theme_file_is_reported_and_the_default_used() {
    let (d, root) = demo_dir("tui-theme");
    let theme = d.path().join("broken.toml");
    std::fs::write(&theme, "[styles]\nerror = { fg = \"blurple\" }\n").unwrap();
    let cmd = format!(
        "cd {} && TERM=xterm-256color {bin} --theme {} demo {}",
        d.path().display(),
        theme.display(),
        root.display(),
        bin = bin(),
    );
    let t = Tmux::start(&cmd);
    let s = t.wait_for("the default theme is used");
    assert!(s.contains("\"blurple\""), "{s}");
    t.press("?", "theme default");
    t.press("q", EXITED);
}

/// The whole demo upgrade typed as an operator would, to the committed state.
/// Needs the activate, reboot/boot and bundle commands (branches boot and recovery).
#[test]
fn full_demo_upgrade_to_the_committed_state() {
    let (_d, root) = demo_dir("tui-e2e");
    let t = Tmux::start(&console_cmd("xterm-256color", &root));
    walk_to_passed_test(&t);
    t.press("n", "5 of 10: Support bundle");
    t.press("b", "Bundle written");
    t.press("n", "6 of 10: Activate");
    let s = t.press("a", "Activate?");
    assert!(s.contains("Write 7.3.1 to slot B"), "{s}");
    t.keys(&["y"]);
    let s = t.wait_for("7 of 10: Reboot");
    assert!(
        s.contains("After this upgrade there is no downgrade"),
        "{s}"
    );
    let s = t.press("r", "Reboot into the new firmware?");
    assert!(s.contains("NO DOWNGRADE"), "{s}");
    t.keys(&["y"]);
    let s = t.wait_for("9 of 10: Version check");
    let s = if s.contains("committed") {
        s
    } else {
        t.wait_for("The upgrade is committed")
    };
    assert!(s.contains("Running  7.3.1"), "{s}");
    let s = t.press("n", "10 of 10: Reminders");
    assert!(s.contains("Desktop player"), "{s}");
    let status =
        std::fs::read_to_string(root.join("var/lib/upgrade-console/slot-status.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["slots"]["B"]["state"], "good", "{status}");
    assert_eq!(v["slots"]["B"]["version"], "7.3.1", "{status}");
    t.press("q", EXITED);
}

/// The terminal dies mid-activation (SIGHUP): the activation, a detached process,
/// completes anyway; a new console shows it done.
#[test]
fn hang_up_mid_activation_does_not_stop_it() {
    let (_d, root) = demo_dir("tui-hup");
    let t = Tmux::start(&console_cmd("xterm-256color", &root));
    walk_to_passed_test(&t);
    t.press("n", "5 of 10");
    t.press("n", "6 of 10: Activate");
    t.press("a", "Activate?");
    t.keys(&["y"]);
    t.wait_for("activation of");
    let progress = root.join("var/lib/upgrade-console/progress.json");
    let pid = wait_for("progress.json of a running activation", PATIENCE, || {
        let raw = std::fs::read_to_string(&progress).unwrap_or_default();
        if let Some(p) = serde_json::from_str::<serde_json::Value>(&raw)
            .ok()
            .filter(|v| v["operation"] == "activate")
        {
            assert!(
                p["outcome"].is_null(),
                "the activation ended before the hang-up: {p}"
            );
            return Ok(p["pid"].as_u64().unwrap_or(0));
        }
        Err(format!("progress.json: {raw:?}"))
    });
    t.hang_up();
    // The worker outlives the terminal: wait for it to end.
    wait_for(
        &format!("the activation worker (pid {pid}) to end"),
        PATIENCE,
        || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if !Path::new(&format!("/proc/{pid}")).exists() || stat.contains(") Z") {
                Ok(())
            } else {
                Err(format!("/proc/{pid}/stat: {stat}"))
            }
        },
    );
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&progress).unwrap()).unwrap();
    assert_eq!(p["outcome"], "done", "the activation completed: {p}");
    let status =
        std::fs::read_to_string(root.join("var/lib/upgrade-console/slot-status.json")).unwrap();
    assert!(
        status.contains("trial") || status.contains("\"good\""),
        "{status}"
    );
    let log = std::fs::read_to_string(root.join("var/log/upgrade-console/console.log")).unwrap();
    assert!(
        log.contains("the terminal went away") || log.contains("activation"),
        "{log}"
    );
    // A new console finds the finished activation and offers the reboot.
    let t2 = Tmux::start(&console_cmd("xterm-256color", &root));
    t2.press("2", "7 of 10: Reboot");
    t2.press("q", EXITED);
}

/// The published hash pasted as Windows `certutil -hashfile` prints it (three lines,
/// bytes separated by spaces): on vt100 the lines arrive as typed keys, on xterm as
/// one bracketed paste. Either way the hash is taken and the trailing line does nothing.
#[test]
fn certutil_output_pasted_as_the_hash() {
    let (_d, root) = demo_dir("tui-paste");
    let digest = std::fs::read_to_string(root.join("images/sps-7.3.1.iso.sha256")).unwrap();
    let hex = digest.split_whitespace().next().unwrap().to_string();
    let spaced: Vec<&str> = (0..32).map(|i| &hex[i * 2..i * 2 + 2]).collect();
    let hash_line = spaced.join(" ");
    for term in ["vt100", "xterm-256color"] {
        let t = Tmux::start(&console_cmd(term, &root));
        t.wait_for("Slot B");
        tick_prerequisites(&t);
        t.press("n", "2 of 10");
        t.press("e", "Type or paste the published SHA-256");
        let text = format!(
            "SHA256 hash of sps-7.3.1.iso:\r{hash_line}\rCertUtil: -hashfile command completed successfully.\r"
        );
        if term == "vt100" {
            // No bracketed paste on a VT100: the text arrives as keys, all at once.
            let st = Command::new("tmux")
                .args(["-L", &t.socket, "send-keys", "-t", "s", "-l", &text])
                .status()
                .unwrap();
            assert!(st.success());
        } else {
            let st = Command::new("tmux")
                .args(["-L", &t.socket, "set-buffer", &text])
                .status()
                .unwrap();
            assert!(st.success());
            let st = Command::new("tmux")
                .args(["-L", &t.socket, "paste-buffer", "-p", "-t", "s"])
                .status()
                .unwrap();
            assert!(st.success());
        }
        let s = t.wait_for("from typed");
        assert!(s.contains("2 of 10: Image and hash"), "{term}: {s}");
        assert!(s.contains(&hex[..32]), "{term}: {s}");
        // The console ignores keys that follow a pasted hash within its paste guard
        // (50 ms, renewed by each ignored key): an operator's next key comes later.
        std::thread::sleep(std::time::Duration::from_millis(300));
        t.press("q", EXITED);
    }
}

fn console_fail_cmd(stage: &str, root: &Path) -> String {
    format!(
        "cd {} && TERM=vt100 {bin} demo --fail {stage} {}",
        root.parent().unwrap().display(),
        root.display(),
        bin = bin(),
    )
}

/// Activate, confirm, reboot, confirm: the boot phase runs.
fn activate_and_reboot(t: &Tmux) {
    t.press("n", "5 of 10: Support bundle");
    t.press("n", "6 of 10: Activate");
    t.press("a", "Activate?");
    t.keys(&["y"]);
    t.wait_for("7 of 10: Reboot");
    t.press("r", "NO DOWNGRADE");
    t.keys(&["y"]);
}

/// Phase 1 fails before the point of no return: the boot phase rolls back and the
/// version check says so and offers the bundle.
#[test]
fn phase1_failure_is_rolled_back_and_said() {
    let (_d, root) = demo_dir("tui-rollback");
    let t = Tmux::start(&console_fail_cmd("phase1", &root));
    walk_image_to_passed_test(&t, "sps-7.3.1-fails-in-phase1.iso");
    activate_and_reboot(&t);
    let s = t.wait_for("rolled back");
    assert!(
        s.contains("9 of 10: Version check") && s.contains("Running  7.0.1"),
        "{s}"
    );
    assert!(s.contains("b support bundle"), "{s}");
    t.press("b", "Bundle:");
    t.press("q", EXITED);
}

/// Phase 1 fails after an irreversible step: recovery mode, and the console shows
/// the recovery screen with the reason and the bundle.
#[test]
fn failure_after_the_point_of_no_return_shows_recovery() {
    let (_d, root) = demo_dir("tui-recovery");
    let t = Tmux::start(&console_fail_cmd("irreversible", &root));
    walk_image_to_passed_test(&t, "sps-7.3.1-fails-after-point-of-no-return.iso");
    activate_and_reboot(&t);
    // The screen shows the mode at once, how the boot phase ended when the console
    // has handled its exit, and recovery's report when recovery has written it:
    // wait for each, not just the title.
    t.wait_for("phase 1 failed after its point of no return: recovery mode");
    let s = t.wait_for("Support bundle ready");
    assert!(s.contains("RECOVERY MODE") && s.contains("Reason:"), "{s}");
    assert!(
        s.contains("phase 1 failed after its point of no return: recovery mode"),
        "{s}"
    );
    t.press("q", EXITED);
}

/// SIGTERM to the console: it leaves through its normal path, so the terminal is
/// back as it was (alternate screen left, cursor shown) and it exits 0.
#[test]
fn sigterm_restores_the_terminal() {
    let (_d, root) = demo_dir("tui-sigterm");
    let t = Tmux::start(&console_cmd("xterm-256color", &root));
    t.wait_for("Slot B");
    let out = Command::new("tmux")
        .args([
            "-L",
            &t.socket,
            "list-panes",
            "-t",
            "s",
            "-F",
            "#{pane_pid}",
        ])
        .output()
        .unwrap();
    let shell: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let ps = Command::new("ps")
        .args(["-o", "pid=", "--ppid", &shell.to_string()])
        .output()
        .expect("ps (procps) lists the console process");
    let pid: i32 = String::from_utf8_lossy(&ps.stdout)
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no console process under the pane's shell {shell}"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let s = t.wait_for(EXITED);
    assert!(s.contains(&format!("{EXITED} 0")), "{s}");
    assert!(
        !s.contains("Slot B"),
        "the console's screen is gone (alternate screen left):\n{s}"
    );
}
