//! The virtual appliance under qemu (scripts/appliance-image.sh): the disk image built
//! once per test run with this build of upgrade-console, each test booting its own
//! copy with the serial console on a unix socket it reads and types into.

use super::{PATIENCE, bin, require_tool, wait_for};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A boot under TCG (GRUB, the kernel, the initramfs, the slot's init) takes about
/// 10-20 s here; the deadline only stops a hang.
pub const BOOT: Duration = Duration::from_secs(300);

/// The disk image this test run boots (built once, then copied per test).
pub fn image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        for (tool, package) in [
            ("qemu-system-x86_64", "qemu-system-x86"),
            ("grub-mkimage", "grub-common"),
            ("sgdisk", "gdisk"),
            ("busybox", "busybox-static"),
            ("minisign", "minisign"),
            ("sshd", "openssh-server"),
            ("b3sum", "b3sum"),
        ] {
            require_tool(tool, package);
        }
        assert!(
            Path::new("/usr/lib/grub/i386-pc/boot.img").is_file(),
            "the virtual appliance needs GRUB's i386-pc images: apt-get install -y grub-pc-bin"
        );
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = repo.join("target/appliance-test");
        let o = Command::new("bash")
            .arg(repo.join("scripts/appliance-image.sh"))
            .arg(&out)
            .env("BIN", bin())
            .output()
            .expect("run scripts/appliance-image.sh");
        assert!(
            o.status.success(),
            "scripts/appliance-image.sh failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        out.join("disk.img")
    })
}

/// The support key made with the image (its public half is in support_keys).
pub fn support_key() -> PathBuf {
    image()
        .parent()
        .expect("image directory")
        .join("keys/support")
}

/// One running virtual appliance; qemu is killed when it is dropped.
pub struct Vm {
    pub dir: tempfile::TempDir,
    pub disk: PathBuf,
    qemu: Option<Child>,
    serial: Option<UnixStream>,
    /// Everything the guest wrote on its serial line since boot.
    seen: Arc<Mutex<Vec<u8>>>,
    /// The 80x24 vt100 terminal on the other end of the line.
    screen: Arc<Mutex<vt100::Parser>>,
    /// With a NIC whose port 22 is forwarded to this host port.
    pub ssh_port: Option<u16>,
    /// The host port forwarded to the boot log server (port 80), with ssh_port.
    pub web_port: Option<u16>,
}

impl Vm {
    /// A fresh copy of the appliance's disk, not started yet.
    pub fn new() -> Vm {
        let dir = tempfile::tempdir().expect("temp dir");
        let disk = dir.path().join("disk.img");
        // cp keeps the image sparse; it is ~300 MB apparent, a few tens written.
        let st = Command::new("cp")
            .args(["--sparse=always"])
            .arg(image())
            .arg(&disk)
            .status()
            .expect("cp");
        assert!(st.success(), "copying the appliance disk failed");
        Vm {
            dir,
            disk,
            qemu: None,
            serial: None,
            seen: Arc::new(Mutex::new(Vec::new())),
            screen: Arc::new(Mutex::new(vt100::Parser::new(24, 80, 0))),
            ssh_port: None,
            web_port: None,
        }
    }

    /// Powers the appliance on: qemu with TCG, the disk opened without the host's cache
    /// (a SIGKILL then loses what the guest had not flushed, as a power cut does), the
    /// serial line on a socket. `reboots`: let the guest restart (GRUB fallback);
    /// otherwise a reboot powers it off.
    pub fn start(&mut self, reboots: bool) {
        let sock = self.dir.path().join("serial.sock");
        let _ = std::fs::remove_file(&sock);
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-accel", "tcg", "-m", "512", "-nographic"])
            .args(["-monitor", "none", "-display", "none"])
            .arg("-drive")
            .arg(format!(
                "file={},format=raw,if=virtio,cache=none",
                self.disk.display()
            ))
            .arg("-chardev")
            .arg(format!(
                "socket,id=ser0,path={},server=on,wait=on",
                sock.display()
            ))
            .args(["-serial", "chardev:ser0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if !reboots {
            cmd.arg("-no-reboot");
        }
        match self.ssh_port {
            // qemu's user network: the appliance's eth0 at 10.0.2.15, its port 22 on
            // the host's loopback.
            Some(port) => {
                let web = self
                    .web_port
                    .map(|w| format!(",hostfwd=tcp:127.0.0.1:{w}-:80"))
                    .unwrap_or_default();
                cmd.arg("-netdev")
                    .arg(format!("user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22{web}"))
                    .args(["-device", "virtio-net-pci,netdev=n0"]);
            }
            None => {
                cmd.args(["-net", "none"]);
            }
        }
        self.qemu = Some(cmd.spawn().expect("start qemu-system-x86_64"));
        // qemu waits for this connection before it starts the machine.
        self.attach();
    }

    /// Connects a terminal to the serial line (a fresh 80x24 screen).
    fn attach(&mut self) {
        let sock = self.dir.path().join("serial.sock");
        let stream = wait_for("qemu's serial socket", PATIENCE, || {
            UnixStream::connect(&sock).map_err(|e| e.to_string())
        });
        *self.screen.lock().expect("screen") = vt100::Parser::new(24, 80, 0);
        let mut reader = stream.try_clone().expect("clone serial stream");
        let mut answer = stream.try_clone().expect("clone serial stream");
        let seen = self.seen.clone();
        let screen = self.screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .expect("serial buffer")
                    .extend_from_slice(&buf[..n]);
                let mut p = screen.lock().expect("screen");
                p.process(&buf[..n]);
                // The terminal's side of a cursor report: how the console learns the
                // size of a serial line (24x80 here, as the parser clamps it).
                if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                    let (row, col) = p.screen().cursor_position();
                    let _ = answer.write_all(format!("\x1b[{};{}R", row + 1, col + 1).as_bytes());
                }
            }
        });
        self.serial = Some(stream);
    }

    /// Bytes the guest has written to the serial line so far.
    pub fn bytes(&self) -> usize {
        self.seen.lock().expect("serial buffer").len()
    }

    /// The serial output so far, as text (control bytes kept).
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().expect("serial buffer")).into_owned()
    }

    /// Waits until the serial line has shown `text` (after `from` bytes).
    pub fn wait_text(&self, text: &str, deadline: Duration) {
        wait_for(&format!("{text:?} on the serial console"), deadline, || {
            let out = self.output();
            if out.contains(text) {
                Ok(())
            } else {
                // The whole line so far goes to a file; the message shows its end.
                let log =
                    std::env::temp_dir().join(format!("vm-serial-{}.log", std::process::id()));
                let _ = std::fs::write(&log, &out);
                let tail: String = out
                    .chars()
                    .rev()
                    .take(400)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                Err(format!("(all of it in {}) ...{tail}", log.display()))
            }
        })
    }

    /// What the terminal on the serial line shows now.
    pub fn screen(&self) -> String {
        self.screen.lock().expect("screen").screen().contents()
    }

    /// Waits until the terminal shows `text`; returns the screen.
    /// Waits until every one of `texts` is on the screen at once (a frame arrives in
    /// pieces on a 115200-baud line: its first line is no promise of its last).
    pub fn wait_screen_all(&self, texts: &[&str], deadline: Duration) -> String {
        wait_for(
            &format!("{texts:?} on the serial console's screen"),
            deadline,
            || {
                let s = self.screen();
                if texts.iter().all(|t| s.contains(t)) {
                    Ok(s)
                } else {
                    Err(format!("screen:\n{s}"))
                }
            },
        )
    }

    pub fn wait_screen(&self, text: &str, deadline: Duration) -> String {
        wait_for(
            &format!("{text:?} on the serial console's screen"),
            deadline,
            || {
                let s = self.screen();
                if s.contains(text) {
                    Ok(s)
                } else {
                    Err(format!("screen:\n{s}"))
                }
            },
        )
    }

    /// Types `keys` and waits for `text` on the screen.
    pub fn press(&mut self, keys: &[u8], text: &str) -> String {
        self.send(keys);
        self.wait_screen(text, BOOT)
    }

    /// Types on the serial line.
    pub fn send(&mut self, bytes: &[u8]) {
        let s = self.serial.as_mut().expect("the appliance is running");
        s.write_all(bytes).expect("write to the serial line");
    }

    /// Waits until qemu has exited (the guest powered off or rebooted with -no-reboot).
    pub fn wait_exit(&mut self, deadline: Duration) {
        let q = self.qemu.as_mut().expect("started");
        wait_for("qemu to exit", deadline, || match q.try_wait() {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("still running".into()),
            Err(e) => Err(e.to_string()),
        });
    }

    /// The serial line hangs up (an IPMI serial-over-LAN session drops): the
    /// terminal goes away; the appliance is not told.
    pub fn hang_up(&mut self) {
        if let Some(s) = self.serial.take() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// A new terminal on the line after a hang-up; Ctrl-L asks the console to redraw.
    pub fn reconnect(&mut self) {
        self.attach();
        self.send(b"\x0c");
    }

    /// Pulls the plug: SIGKILL, nothing flushed.
    pub fn power_cut(&mut self) {
        if let Some(mut q) = self.qemu.take() {
            let _ = q.kill();
            let _ = q.wait();
        }
        self.serial = None;
    }

    /// A file of the data partition (5), read through the filesystem with debugfs.
    pub fn data_file(&self, path: &str) -> String {
        self.with_partition(5, false, |part| {
            let o = Command::new("debugfs")
                .args(["-R", &format!("cat {path}")])
                .arg(part)
                .output()
                .expect("debugfs");
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
    }

    /// Replaces a file of the data partition (the appliance powered off).
    pub fn set_data_file(&self, path: &str, text: &str) {
        let local = self.dir.path().join("data-file");
        std::fs::write(&local, text).expect("write the new file");
        self.with_partition(5, true, |part| {
            for req in [
                format!("rm {path}"),
                format!("write {} {path}", local.display()),
            ] {
                let o = Command::new("debugfs")
                    .args(["-w", "-R", &req])
                    .arg(part)
                    .output()
                    .expect("debugfs -w");
                assert!(
                    o.status.success(),
                    "debugfs {req}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        });
    }

    /// The boot partition (2) as a file of its own, read through `f` with debugfs, and
    /// written back when `write` (the appliance powered off).
    fn with_boot_fs<T>(&self, write: bool, f: impl FnOnce(&Path) -> T) -> T {
        self.with_partition(2, write, f)
    }

    /// Partition `n` as a file of its own for `f`, written back when `write`.
    fn with_partition<T>(&self, n: u32, write: bool, f: impl FnOnce(&Path) -> T) -> T {
        let info = Command::new("sgdisk")
            .args(["-i", &n.to_string()])
            .arg(&self.disk)
            .output()
            .expect("sgdisk -i 2");
        let text = String::from_utf8_lossy(&info.stdout);
        let field = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("sgdisk -i {n} gave no {name}: {text}"))
        };
        let (first, last) = (field("First sector: "), field("Last sector: "));
        let part = self.dir.path().join(format!("part{n}.img"));
        let dd = |args: Vec<String>| {
            let st = Command::new("dd")
                .args(args)
                .arg("status=none")
                .status()
                .expect("dd");
            assert!(st.success(), "dd failed");
        };
        dd(vec![
            format!("if={}", self.disk.display()),
            format!("of={}", part.display()),
            "bs=512".into(),
            format!("skip={first}"),
            format!("count={}", last - first + 1),
        ]);
        let v = f(&part);
        if write {
            dd(vec![
                format!("if={}", part.display()),
                format!("of={}", self.disk.display()),
                "bs=512".into(),
                format!("seek={first}"),
                "conv=notrunc".into(),
            ]);
        }
        v
    }

    /// The GRUB environment as it is on the disk now (boot/grub/grubenv on the boot
    /// partition, read through the filesystem as GRUB reads it).
    pub fn grubenv(&self) -> String {
        self.with_boot_fs(false, |part| {
            let o = Command::new("debugfs")
                .args(["-R", "cat /boot/grub/grubenv"])
                .arg(part)
                .output()
                .expect("debugfs");
            String::from_utf8_lossy(&o.stdout)
                .trim_end_matches('#')
                .to_string()
        })
    }

    /// Replaces the GRUB environment on the disk (powered off), as `grub-editenv`
    /// would on the running appliance.
    pub fn set_grubenv(&self, vars: &[(&str, &str)]) {
        let mut env = upgrade_core::slots::grubenv::GrubEnv::default();
        for (k, v) in vars {
            env.set(k, v).expect("grubenv variable");
        }
        let local = self.dir.path().join("grubenv");
        std::fs::write(&local, env.to_bytes().expect("grubenv block")).expect("write grubenv");
        self.with_boot_fs(true, |part| {
            for req in [
                "rm /boot/grub/grubenv".to_string(),
                format!("write {} /boot/grub/grubenv", local.display()),
            ] {
                let o = Command::new("debugfs")
                    .args(["-w", "-R", &req])
                    .arg(part)
                    .output()
                    .expect("debugfs -w");
                assert!(
                    o.status.success(),
                    "debugfs {req}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        });
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.power_cut();
    }
}
