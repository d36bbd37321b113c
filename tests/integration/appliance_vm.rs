//! The virtual appliance (issue 11): a GPT disk that real GRUB boots under qemu with
//! the project's recovery/grub.cfg unchanged, the slot's init running
//! `upgrade-console boot` and the console on the serial line.

use crate::support::vm::{BOOT, Vm};
use crate::support::wait_for;

#[test]
fn grub_boots_slot_a_and_the_console_comes_up_on_the_serial_line() {
    let mut vm = Vm::new();
    vm.start(false);
    // GRUB ran our grub.cfg and chose slot A from the environment.
    vm.wait_text("Booting `Appliance firmware (slot A)'", BOOT);
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
    vm.wait_text("Booting `Appliance firmware (slot B)'", BOOT);
    vm.wait_text("restarting so the boot loader tries the other slot", BOOT);
    vm.wait_text("Booting `Appliance firmware (slot A)'", BOOT);
    vm.wait_text("booted from slot A", BOOT);
    vm.power_cut();
    let env = vm.grubenv();
    // GRUB spent B's last attempt by itself; nothing of ours ran in slot B.
    assert!(env.contains("B_TRY=3"), "{env}");
}

/// Through the full-screen console on the serial line (80x24, vt100), from the
/// status screen to the confirmed reboot into the new firmware: prerequisites, the
/// image (`pick` moves the selection from the preselected sps-7.3.1.iso) and its
/// published hash, verify, upgrade test, bundle, activate (the real rootB partition
/// written and read back), reboot.
fn upgrade_until_the_reboot(vm: &mut Vm, pick: &[u8], image: &str) {
    const DOWN: &[u8] = b"\x1b[B";
    let s = vm.wait_screen("Slot B", BOOT);
    assert!(s.contains("7.0.1 (7 LTS), booted from slot A"), "{s}");
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
    let s = vm.wait_screen(&format!("> {image} "), BOOT);
    assert!(
        s.contains(&format!("{image}.sha256")),
        "the published hash beside it:\n{s}"
    );
    vm.press(b"n", "3 of 10: Verify image");
    let s = vm.press(b"\r", "matches the manifest");
    assert!(s.contains("matches the published hash"), "{s}");
    vm.press(b"n", "4 of 10: Upgrade test");
    let s = vm.press(b"\r", "blocker(s)");
    assert!(s.contains("0 blocker(s)"), "{s}");
    vm.press(b"n", "5 of 10: Support bundle");
    vm.press(b"b", "Bundle written");
    vm.press(b"n", "6 of 10: Activate");
    let s = vm.press(b"a", "Activate?");
    assert!(s.contains("Write 7.3.1 to slot B"), "{s}");
    vm.send(b"y");
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
    upgrade_until_the_reboot(&mut vm, b"", "sps-7.3.1.iso");
    vm.wait_text("Booting `Appliance firmware (slot B)'", BOOT);
    vm.wait_text("appliance: firmware 7.3.1 from slot B", BOOT);
    // The console in slot B finds where the wizard was: the version check.
    let s = vm.wait_screen("The upgrade is committed", BOOT);
    assert!(s.contains("Running  7.3.1"), "{s}");
    assert!(s.contains("sps 7.3.1"), "{s}");
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
    upgrade_until_the_reboot(&mut vm, b"k", "sps-7.3.1-fails-in-phase1.iso");
    vm.wait_text("Booting `Appliance firmware (slot B)'", BOOT);
    vm.wait_text("appliance: firmware 7.3.1 from slot B", BOOT);
    vm.wait_text("appliance: firmware 7.0.1 from slot A", BOOT);
    let s = vm.wait_screen("rolled back", BOOT);
    assert!(s.contains("7.0.1"), "{s}");
    vm.power_cut();
    let env = vm.grubenv();
    assert!(env.contains("ORDER=A B"), "{env}");
    assert!(env.contains("B_OK=0"), "{env}");
}
