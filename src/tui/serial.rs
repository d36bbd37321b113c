//! Serial-line detection and sizing. An appliance console is often a serial line or
//! IPMI serial-over-LAN at 115200 baud that shows no colour and mangles Unicode:
//! detect it (kernel `console=`, the tty's name, TERM), start in ASCII and mono
//! there, and learn the screen size when the line reports 0x0.

use std::io::Write;

/// What the console knows about the terminal it draws on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalKind {
    /// A serial line (or something that behaves like one): ASCII, mono, few bytes.
    pub serial: bool,
    /// Draw with ASCII only.
    pub ascii: bool,
    /// No colour.
    pub mono: bool,
    /// Why, for the log and the status line ("tty /dev/ttyS0").
    pub reason: String,
}

/// TERM values that mean an old or minimal terminal: ASCII and monochrome.
const PLAIN_TERMS: &[&str] = &["vt100", "vt102", "vt220", "vt320", "linux", "dumb"];

/// Whether a device name (with or without /dev/) is a serial-style console:
/// ttyS* (PC UART), ttyAMA* (ARM PL011), hvc* (hypervisor console), ttyUSB*.
pub fn is_serial_device(name: &str) -> bool {
    let base = name.trim_start_matches("/dev/");
    ["ttyS", "ttyAMA", "hvc", "ttyUSB", "ttymxc", "ttySC"]
        .iter()
        .any(|p| {
            base.strip_prefix(p)
                .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()))
        })
}

/// The kernel's system console from a command line: the last `console=` wins, as
/// for the kernel; options after the comma (baud rate) are dropped.
pub fn kernel_console(cmdline: &str) -> Option<String> {
    cmdline
        .split_whitespace()
        .rev()
        .find_map(|w| w.strip_prefix("console="))
        .map(|v| v.split(',').next().unwrap_or(v).to_string())
}

/// Decides how to draw from the kernel command line (under the root), the name of
/// the tty the console runs on, and TERM.
pub fn detect(cmdline: Option<&str>, tty: Option<&str>, term: Option<&str>) -> TerminalKind {
    let kconsole = cmdline.and_then(kernel_console);
    let tty_base = tty.map(|t| t.trim_start_matches("/dev/").to_string());
    let mut reasons = Vec::new();
    let mut serial = false;
    if let Some(t) = &tty_base
        && is_serial_device(t)
    {
        serial = true;
        reasons.push(format!("tty /dev/{t}"));
    }
    // On /dev/console (init) or with no tty name, the kernel console decides; a
    // pseudo-terminal or a VGA virtual console is what it says it is.
    let tty_says_nothing = match &tty_base {
        None => true,
        Some(t) => t == "console",
    };
    if let Some(k) = &kconsole
        && is_serial_device(k)
        && tty_says_nothing
    {
        serial = true;
        reasons.push(format!("console={k} on the kernel command line"));
    }
    let plain_term = term.is_some_and(|t| PLAIN_TERMS.contains(&t.trim()));
    if plain_term {
        reasons.push(format!("TERM={}", term.unwrap_or_default()));
    }
    let plain = serial || plain_term || term.is_none_or(|t| t.trim().is_empty());
    if term.is_none_or(|t| t.trim().is_empty()) {
        reasons.push("TERM unset".into());
    }
    TerminalKind {
        serial,
        ascii: plain,
        mono: plain,
        reason: reasons.join(", "),
    }
}

/// Detects from the running process: `proc/cmdline` under the root, stdin's tty name, TERM.
pub fn detect_here(root: &upgrade_core::appliance::root::ApplianceRoot) -> TerminalKind {
    let cmdline = std::fs::read_to_string(root.cmdline()).ok();
    let tty = nix::unistd::ttyname(std::io::stdin())
        .ok()
        .map(|p| p.display().to_string());
    let term = std::env::var("TERM").ok();
    detect(cmdline.as_deref(), tty.as_deref(), term.as_deref())
}

/// The fallback size when a line reports 0x0 and does not answer a position report.
pub const FALLBACK_SIZE: (u16, u16) = (80, 24);

/// The size to draw at: the tty's own size when it has one; when it reports 0x0
/// (serial lines do), move the cursor far bottom-right and ask where it ended up
/// (ESC[999;999H ESC[6n); when that gets no answer, 80x24. Needs raw mode.
pub fn learn_size(reported: Option<(u16, u16)>) -> (u16, u16) {
    if let Some((c, r)) = reported
        && c > 0
        && r > 0
    {
        return (c, r);
    }
    let mut out = std::io::stdout();
    // Save the cursor, jump far away, then ask; crossterm reads and parses the answer.
    let asked = out
        .write_all(b"\x1b7\x1b[999;999H")
        .and_then(|_| out.flush())
        .is_ok();
    let answer = if asked {
        crossterm::cursor::position().ok()
    } else {
        None
    };
    let _ = out.write_all(b"\x1b8");
    let _ = out.flush();
    match answer {
        Some((col, row)) if col > 0 && row > 0 => (col + 1, row + 1),
        _ => FALLBACK_SIZE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_tty_names() {
        for t in [
            "ttyS0",
            "/dev/ttyS1",
            "ttyAMA0",
            "hvc0",
            "/dev/hvc1",
            "ttyUSB0",
        ] {
            assert!(is_serial_device(t), "{t}");
        }
        for t in [
            "tty1",
            "pts/3",
            "/dev/pts/0",
            "console",
            "ttySomething",
            "tty",
        ] {
            assert!(!is_serial_device(t), "{t}");
        }
    }

    #[test]
    fn the_last_console_argument_is_the_kernel_console() {
        assert_eq!(
            kernel_console("quiet console=tty0 console=ttyS0,115200n8"),
            Some("ttyS0".into())
        );
        assert_eq!(kernel_console("quiet"), None);
    }

    #[test]
    fn serial_tty_means_ascii_and_mono() {
        let k = detect(None, Some("/dev/ttyS0"), Some("xterm-256color"));
        assert!(k.serial && k.ascii && k.mono, "{k:?}");
        assert!(k.reason.contains("ttyS0"));
    }

    #[test]
    fn kernel_console_counts_on_dev_console_or_without_a_tty() {
        let cmd = Some("root=/dev/sda2 console=ttyS1,115200");
        assert!(detect(cmd, Some("/dev/console"), Some("xterm")).serial);
        assert!(detect(cmd, None, Some("xterm")).serial);
        // The operator is on the VGA console or over a pty: not the serial line.
        let k = detect(cmd, Some("/dev/tty1"), Some("xterm-256color"));
        assert!(!k.serial && !k.ascii, "{k:?}");
        assert!(!detect(Some("console=tty0"), None, Some("xterm")).serial);
    }

    #[test]
    fn plain_terms_mean_ascii_and_mono() {
        for t in ["vt100", "vt220", "linux", "dumb"] {
            let k = detect(None, Some("/dev/pts/1"), Some(t));
            assert!(!k.serial && k.ascii && k.mono, "{t}: {k:?}");
        }
        let k = detect(None, Some("/dev/pts/1"), Some("xterm-256color"));
        assert!(!k.ascii && !k.mono);
        assert!(detect(None, Some("/dev/pts/1"), None).ascii, "TERM unset");
    }

    #[test]
    fn a_reported_size_is_used_as_is() {
        assert_eq!(learn_size(Some((100, 30))), (100, 30));
    }
}
