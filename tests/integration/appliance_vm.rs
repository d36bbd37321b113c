//! The virtual appliance (issue 11): a GPT disk that real GRUB boots under qemu with
//! the project's recovery/grub.cfg unchanged, the slot's init running
//! `upgrade-console boot` and the console on the serial line.

use crate::support::vm::{BOOT, Vm};
use crate::support::wait_for;

#[test]
fn grub_boots_slot_a_and_the_console_comes_up_on_the_serial_line() {
    let mut vm = Vm::new();
    vm.start(false);
    // GRUB ran our grub.cfg and chose slot A from the environment: the slot's init
    // names the slot GRUB put on the kernel command line.
    vm.wait_text("appliance: firmware 7.0.1 from slot A", BOOT);
    // The slot's init ran the boot phase, which found the slot on the kernel command
    // line GRUB wrote.
    vm.wait_text("boot from slot A: running firmware 7.0.1 from slot A", BOOT);
    // The console on ttyS0: ASCII frame (a serial line), the running firmware.
    vm.wait_text("Firmware   7.0.1 (7 LTS), booted from slot A", BOOT);
    vm.wait_text("+------", BOOT);
    let out = vm.output();
    assert!(
        !out.contains("cannot read the boot environment"),
        "the boot phase found no GRUB environment where GRUB keeps it:\n{out}"
    );
    // GRUB counted the attempt and the boot phase reset it: slot A is good again.
    vm.power_cut();
    let env = vm.grubenv();
    assert!(env.contains("A_OK=1"), "{env}");
    assert!(
        env.contains("A_TRY=0"),
        "the boot phase did not reset A's attempts: {env}"
    );
}

#[test]
fn grub_falls_back_to_slot_a_when_the_trial_slot_does_not_boot() {
    let mut vm = Vm::new();
    // A trial of slot B armed as activate arms it (one attempt left), but slot B holds
    // no firmware: the initramfs cannot mount it and restarts.
    vm.set_grubenv(&[
        ("ORDER", "B A"),
        ("A_OK", "1"),
        ("A_TRY", "0"),
        ("B_OK", "1"),
        ("B_TRY", "2"),
    ]);
    vm.start(true);
    vm.wait_text("cannot mount slot rootB", BOOT);
    vm.wait_text("restarting so the boot loader tries the other slot", BOOT);
    vm.wait_text("appliance: firmware 7.0.1 from slot A", BOOT);
    vm.wait_text("booted from slot A", BOOT);
    vm.power_cut();
    let env = vm.grubenv();
    // GRUB spent B's last attempt by itself; nothing of ours ran in slot B.
    assert!(env.contains("B_TRY=3"), "{env}");
}

/// Through the full-screen console on the serial line (80x24, vt100), from the
/// status screen to the confirmed reboot into the new firmware: prerequisites, the
/// image (`pick` moves the selection from the preselected sps-7.3.1.iso) and its
/// published hash, verify, upgrade test, bundle, and activate confirmed (the real
/// rootB partition is then written and read back by a detached process).
fn upgrade_until_activate(vm: &mut Vm, pick: &[u8], image: &str) {
    const DOWN: &[u8] = b"\x1b[B";
    vm.wait_screen_all(&["Slot B", "7.0.1 (7 LTS), booted from slot A"], BOOT);
    vm.press(b"2", "1 of 10: Prerequisites");
    vm.wait_screen("[ ] Configuration and data backed up", BOOT);
    wait_for("every prerequisite ticked", BOOT, || {
        let s = vm.screen();
        if !s.contains("[ ]") {
            return Ok(());
        }
        vm.send(b" ");
        vm.send(DOWN);
        std::thread::sleep(std::time::Duration::from_millis(300));
        Err(format!("screen:\n{s}"))
    });
    vm.press(b"n", "2 of 10: Image and hash");
    vm.send(pick);
    vm.wait_screen(&format!("> {image} "), BOOT);
    // The rest of the frame follows on the slow line: the published hash beside it.
    vm.wait_screen(&format!("{image}.sha256"), BOOT);
    vm.press(b"n", "3 of 10: Verify image");
    vm.press(b"\r", "matches the manifest");
    vm.wait_screen("matches the published hash", BOOT);
    vm.press(b"n", "4 of 10: Upgrade test");
    let s = vm.press(b"\r", "blocker(s)");
    assert!(s.contains("0 blocker(s)"), "{s}");
    vm.press(b"n", "5 of 10: Support bundle");
    vm.press(b"b", "Bundle written");
    vm.press(b"n", "6 of 10: Activate");
    vm.press(b"a", "Activate?");
    vm.wait_screen("Write 7.3.1 to slot B", BOOT);
    vm.send(b"y");
}

/// The activation's end, then the confirmed reboot.
fn reboot_when_activated(vm: &mut Vm) {
    vm.wait_screen("7 of 10: Reboot", BOOT);
    vm.press(b"r", "Reboot into the new firmware?");
    vm.send(b"y");
}

/// The whole upgrade 7.0.1 -> 7.3.1 on the serial line: after the real reboot GRUB
/// boots the trial slot, phase 1 runs and commits, and the console started in slot B
/// finds the wizard at the version check.
#[test]
fn the_whole_upgrade_through_the_serial_console() {
    let mut vm = Vm::new();
    vm.start(true);
    upgrade_until_activate(&mut vm, b"", "sps-7.3.1.iso");
    // What the activation's progress costs on the real line: every byte from the
    // confirmation to the reboot step, against its 100 percent.
    let from = vm.bytes();
    let started = std::time::Instant::now();
    vm.wait_screen("7 of 10: Reboot", BOOT);
    let (bytes, secs) = (vm.bytes() - from, started.elapsed().as_secs_f64());
    eprintln!(
        "SERIAL FIGURES: activation on ttyS0: {bytes} bytes in {secs:.1} s, {:.0} bytes per percent of progress",
        bytes as f64 / 100.0
    );
    reboot_when_activated(&mut vm);
    vm.wait_text("appliance: firmware 7.3.1 from slot B", BOOT);
    // The console in slot B finds where the wizard was: the version check.
    vm.wait_screen_all(
        &["The upgrade is committed", "Running  7.3.1", "sps 7.3.1"],
        BOOT,
    );
    // Both consoles (serial and screen) start phase 2; one runs it, the other follows.
    let s = vm.wait_screen("Phase 2 done", BOOT);
    assert!(!s.contains("could not start"), "{s}");
    vm.press(b"1", "booted from slot B");
    vm.power_cut();
    let env = vm.grubenv();
    assert!(env.contains("ORDER=B A"), "{env}");
    assert!(env.contains("B_OK=1"), "{env}");
    assert!(env.contains("B_TRY=0"), "{env}");
}

/// The image whose first phase-1 step fails: the trial in slot B rolls back, the next
/// boot is slot A chosen by GRUB, and the console says the upgrade was rolled back.
#[test]
fn a_phase1_failure_rolls_back_through_grub() {
    let mut vm = Vm::new();
    vm.start(true);
    // Images are listed by name: one up from sps-7.3.1.iso.
    upgrade_until_activate(&mut vm, b"k", "sps-7.3.1-fails-in-phase1.iso");
    reboot_when_activated(&mut vm);
    vm.wait_text("appliance: firmware 7.3.1 from slot B", BOOT);
    vm.wait_text("appliance: firmware 7.0.1 from slot A", BOOT);
    vm.wait_screen_all(&["rolled back", "7.0.1"], BOOT);
    vm.power_cut();
    let env = vm.grubenv();
    assert!(env.contains("ORDER=A B"), "{env}");
    assert!(env.contains("B_OK=0"), "{env}");
}

/// The serial line hangs up while the slot is written (an IPMI serial-over-LAN session
/// drops): the write goes on; a new session finds the console at the reboot step, and
/// the upgrade completes.
#[test]
fn a_hang_up_during_the_slot_write_does_not_stop_it() {
    let mut vm = Vm::new();
    vm.start(true);
    upgrade_until_activate(&mut vm, b"", "sps-7.3.1.iso");
    vm.wait_screen("Runs on if this console closes", BOOT);
    vm.hang_up();
    std::thread::sleep(std::time::Duration::from_secs(5));
    vm.reconnect();
    reboot_when_activated(&mut vm);
    vm.wait_text("appliance: firmware 7.3.1 from slot B", BOOT);
    vm.wait_screen("The upgrade is committed", BOOT);
}

/// Power cuts of the whole machine at random moments of the upgrade (qemu killed with
/// its disk opened cache=none: what the guest had not flushed is lost). After each, the
/// appliance boots again to a console that runs either the old firmware from slot A or
/// the new one from slot B, never neither, with its configuration intact.
/// POWERCUT_TRIALS (default 2) trials; POWERCUT_SEED to repeat a run. Prints a tally.
#[test]
fn power_cuts_during_the_upgrade_leave_a_bootable_appliance() {
    let trials: u64 = std::env::var("POWERCUT_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let seed: u64 = std::env::var("POWERCUT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let mut rng = seed;
    let mut next = move || {
        // xorshift: enough to spread cut moments, and repeatable from the seed.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut tally = Vec::new();
    for trial in 0..trials {
        let mut vm = Vm::new();
        vm.start(true);
        upgrade_until_activate(&mut vm, b"", "sps-7.3.1.iso");
        // Cut during the slot write (up to 15 s after activate was confirmed), after
        // the reboot was confirmed (up to 25 s: the reboot, GRUB, the kernel, phase 1,
        // the commit), or once slot B committed (up to 8 s: phase 2, which the
        // console starts after the commit).
        let window = next() % 3;
        let during_write = window == 0;
        if !during_write {
            reboot_when_activated(&mut vm);
        }
        if window == 2 {
            vm.wait_text("boot from slot B", BOOT);
        }
        let delay_ms = next() % [15_000, 25_000, 8_000][window as usize];
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let out = vm.output();
        let stage = if window == 2 {
            "phase 2 (after the commit)"
        } else if !during_write {
            if out.contains("boot from slot B") {
                "slot B, after the boot phase's verdict"
            } else if out.contains("appliance: firmware 7.3.1 from slot B") {
                "slot B's boot phase (phase 1, commit)"
            } else {
                "the reboot (sync, firmware, GRUB, slot B's kernel)"
            }
        } else if vm.screen().contains("7 of 10: Reboot") {
            "activated, before the reboot"
        } else {
            "the slot write"
        };
        vm.power_cut();
        vm.start(true);
        // The console (whatever step it resumes at), then its status screen.
        vm.wait_screen(" upgrade-console  sps-vm ", BOOT);
        let s = vm.press(b"1", "), booted from slot");
        // A cut after the commit never loses it.
        assert!(
            window < 2 || s.contains("booted from slot B"),
            "trial {trial} (seed {seed}): a cut in phase 2 lost the commit:\n{s}"
        );
        let outcome = if s.contains("7.3.1 (7 F3), booted from slot B") {
            "7.3.1 from slot B"
        } else if s.contains("7.0.1 (7 LTS), booted from slot A") {
            "7.0.1 from slot A"
        } else {
            panic!(
                "trial {trial} (seed {seed}): neither firmware runs after a cut in {stage}:\n{s}"
            );
        };
        vm.power_cut();
        let cfg = vm.data_file("/etc/appliance/appliance.toml");
        assert!(
            cfg.contains("hostname = \"sps-vm\""),
            "trial {trial} (seed {seed}): the configuration was damaged:\n{cfg}"
        );
        let line = format!("trial {trial}: cut {delay_ms} ms into {stage} -> {outcome}");
        // As it happens, so a long run shows its tally so far.
        eprintln!("power cut {line}");
        tally.push(line);
    }
    eprintln!("power cuts (seed {seed}):\n{}", tally.join("\n"));
}

/// The image that fails after its point of no return: the boot phase enters recovery
/// on the VM's NIC (qemu user networking, port 22 forwarded): SSH with the support key
/// works, a password does not.
#[test]
fn a_failure_after_the_point_of_no_return_opens_recovery_ssh() {
    crate::support::require_tool("ssh", "openssh-client");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let web = free_port();
    let mut vm = Vm::new();
    vm.ssh_port = Some(port);
    vm.web_port = Some(web);
    vm.start(true);
    // Images are listed by name: two up from sps-7.3.1.iso.
    upgrade_until_activate(
        &mut vm,
        b"kk",
        "sps-7.3.1-fails-after-point-of-no-return.iso",
    );
    reboot_when_activated(&mut vm);
    vm.wait_text("appliance: firmware 7.3.1 from slot B", BOOT);
    vm.wait_screen_all(&["RECOVERY MODE", "SSH on port 22"], BOOT);
    // The host key is new to us: do not record it anywhere.
    let ssh = |extra: &[&str]| {
        let mut c = std::process::Command::new("ssh");
        c.args(["-p", &port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args(["-o", "ConnectTimeout=20", "-o", "BatchMode=yes"])
            .args(extra)
            .args(["root@127.0.0.1", "cat /etc/firmware-version"]);
        c.output().expect("ssh")
    };
    let key = crate::support::vm::support_key();
    let ok = wait_for("a key login to the appliance in recovery", BOOT, || {
        let o = ssh(&["-i", key.to_str().unwrap(), "-o", "IdentitiesOnly=yes"]);
        if o.status.success() {
            Ok(o)
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    });
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "7.3.1");
    let pw = ssh(&[
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
    ]);
    assert!(!pw.status.success(), "a login without the key got in");
    let err = String::from_utf8_lossy(&pw.stderr);
    assert!(err.contains("Permission denied"), "{err}");
    // The boot log page, as support opens it from outside: headless Chromium on the
    // host, through the port qemu forwards to the appliance's port 80.
    crate::support::require_tool("chromium", "chromium");
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{web}/");
    let dom = wait_for("the boot log page in Chromium", BOOT, || {
        let o = std::process::Command::new("timeout")
            .args([
                "60",
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
            ])
            .args([
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
            ])
            .args(["--disable-component-update", "--disable-sync"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            // The live page keeps its event stream open: a virtual-time budget never
            // runs out on it, a timeout dumps the DOM as it stands.
            .args(["--timeout=5000", "--dump-dom", &url])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("chromium");
        let dom = String::from_utf8_lossy(&o.stdout).into_owned();
        if dom.contains("irreversible migration step began") {
            Ok(dom)
        } else {
            Err(format!(
                "{}{}",
                dom.chars().take(400).collect::<String>(),
                String::from_utf8_lossy(&o.stderr)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ))
        }
    });
    assert!(dom.to_lowercase().contains("recovery"), "{dom}");
}

/// The same failure on a sealed appliance: recovery brings the network up and says so,
/// and nothing answers SSH.
#[test]
fn a_sealed_appliance_in_recovery_has_no_ssh() {
    crate::support::require_tool("ssh", "openssh-client");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut vm = Vm::new();
    let cfg = vm.data_file("/etc/appliance/appliance.toml");
    assert!(cfg.contains("sealed = false"), "{cfg}");
    vm.set_data_file(
        "/etc/appliance/appliance.toml",
        &cfg.replace("sealed = false", "sealed = true"),
    );
    vm.ssh_port = Some(port);
    vm.start(true);
    upgrade_until_activate(
        &mut vm,
        b"kk",
        "sps-7.3.1-fails-after-point-of-no-return.iso",
    );
    reboot_when_activated(&mut vm);
    let s = vm.wait_screen("RECOVERY MODE", BOOT);
    let s = if s.contains("Sealed appliance: no SSH") {
        s
    } else {
        vm.wait_screen("Sealed appliance: no SSH", BOOT)
    };
    assert!(!s.contains("SSH on port 22"), "{s}");
    // Give a wrongly started sshd time to come up, then knock: qemu accepts the TCP
    // connection on the host and closes it, as nothing listens in the guest.
    std::thread::sleep(std::time::Duration::from_secs(10));
    let key = crate::support::vm::support_key();
    let o = std::process::Command::new("ssh")
        .args(["-p", &port.to_string(), "-i", key.to_str().unwrap()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            "ConnectTimeout=20",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args(["root@127.0.0.1", "true"])
        .output()
        .expect("ssh");
    assert!(!o.status.success(), "a sealed appliance answered SSH");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("Permission denied"),
        "an sshd answered: {err}"
    );
}
