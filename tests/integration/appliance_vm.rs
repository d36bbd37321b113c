//! The virtual appliance (issue 11): a GPT disk that real GRUB boots under qemu with
//! the project's recovery/grub.cfg unchanged, the slot's init running
//! `upgrade-console boot` and the console on the serial line.

use crate::support::vm::{BOOT, Vm};

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
