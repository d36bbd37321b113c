//! The HA pair's upgrade with real parts: two nodes in two network namespaces joined
//! by an HA link (OpenSSH), the secondary's BMC simulated by ipmi_sim and driven with
//! ipmitool. The whole upgrade, each failure path, and a SIGKILL after every journal
//! step followed by a resume.

use crate::support::ha::{HaLab, edit_config, lab};
use crate::support::{code, describe, text};
use std::time::Instant;

fn assert_done(l: &HaLab) {
    let p = l.status(true);
    let s = l.status(false);
    assert_eq!(p["this_node"]["role"], "secondary", "{p}");
    assert_eq!(s["this_node"]["role"], "primary", "{s}");
    for n in [&p["this_node"], &s["this_node"]] {
        assert_eq!(n["current"], "7.3.1", "{n}");
        assert_eq!(n["after_reboot"], "7.3.1", "{n}");
    }
    assert!(
        l.events(true, "ha-step-done")
            .iter()
            .any(|e| e["step"] == "versions-equal")
    );
}

#[test]
fn the_whole_ha_upgrade_swaps_the_roles_with_both_nodes_on_the_new_firmware() {
    let l = lab();
    let iso = l.image("sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    let before = l.link_tx_bytes();
    let started = Instant::now();
    let o = l.on(true, &["--json", "ha", "upgrade", iso, "--yes"], &[]);
    let wall = started.elapsed();
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let sent = l.link_tx_bytes() - before;
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_done(&l);
    // The secondary was off while the primary rebooted, and on again at the end.
    assert!(
        l.secondary_power().contains("is on"),
        "{}",
        l.secondary_power()
    );
    // Every step in the journal, in order.
    let steps: Vec<String> = l
        .events(true, "ha-step-done")
        .iter()
        .map(|e| e["step"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(steps.len(), 10, "{steps:?}");
    // The secondary verified, tested and armed the image itself.
    for ev in ["verified", "check-passed", "activated", "committed"] {
        assert_eq!(l.events(false, ev).len(), 1, "secondary journal: {ev}");
    }
    // The primary's support bundle carries no private key and no image.
    let bundles = l.pair.primary.join("var/lib/upgrade-console/bundles");
    let zip = std::fs::read_dir(&bundles)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let list = std::process::Command::new("unzip")
        .arg("-l")
        .arg(&zip)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("journal"), "{list}");
    for bad in ["ha/link", "ssh_host", "node_key", ".iso"] {
        assert!(!list.contains(bad), "the bundle holds {bad}: {list}");
    }
    let image = std::fs::metadata(l.image("sps-7.3.1.iso")).unwrap().len();
    eprintln!(
        "HA FIGURES: wall {:.2} s; HA link bytes sent {} for an image of {} ({:.3}x); ipmi calls {}; steps {}",
        wall.as_secs_f64(),
        sent,
        image,
        sent as f64 / image as f64,
        out["figures"]["ipmi_calls"],
        out["figures"]["steps"]
    );
    let figures = serde_json::json!({
        "wall_s": wall.as_secs_f64(),
        "link_tx_bytes": sent,
        "image_bytes": image,
        "ipmi_calls": out["figures"]["ipmi_calls"],
        "steps": out["figures"]["steps"],
    });
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ha-figures.json"),
        figures.to_string(),
    );
}

#[test]
fn a_wrong_bmc_password_or_a_silent_bmc_stops_before_anything_changes() {
    let mut l = lab();
    let iso = l.image("sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    let pass = l.pair.primary.join("etc/appliance/bmc.pass");
    let good = std::fs::read_to_string(&pass).unwrap();
    std::fs::write(&pass, "not-the-password\n").unwrap();
    let o = l.on(true, &["ha", "upgrade", iso, "--yes"], &[]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(text(&o).contains("refused the password"), "{}", text(&o));
    assert!(
        !text(&o).contains("not-the-password"),
        "the password is not shown"
    );
    std::fs::write(&pass, &good).unwrap();
    l.stop_bmcs();
    let o = l.on(true, &["ha", "upgrade", iso, "--yes"], &[]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(text(&o).contains("does not answer"), "{}", text(&o));
    // Nothing was recorded, nothing sent, the secondary untouched.
    assert!(l.events(true, "ha-started").is_empty());
    assert!(l.events(false, "activated").is_empty());
    assert_eq!(l.status(false)["this_node"]["after_reboot"], "7.0.1");
}

#[test]
fn the_ha_link_dropping_during_the_transfer_keeps_nothing_and_a_resume_finishes() {
    let l = lab();
    let iso = l.image("sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    let pause = l.dir.path().join("pause");
    let o = std::thread::scope(|sc| {
        let h = sc.spawn(|| {
            l.on(
                true,
                &["ha", "upgrade", iso, "--yes"],
                &[
                    ("UPGRADE_CONSOLE_PAUSE_AT", "ha-link-send#3"),
                    ("UPGRADE_CONSOLE_PAUSE_FILE", pause.to_str().unwrap()),
                ],
            )
        });
        crate::support::wait_for("the transfer to pause", crate::support::PATIENCE, || {
            if pause.exists() {
                Ok(())
            } else {
                Err("not yet".into())
            }
        });
        // The cable is pulled with 3 MiB sent.
        l.set_link(false);
        std::fs::remove_file(&pause).unwrap();
        h.join().unwrap()
    });
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(text(&o).contains("sync-to-secondary"), "{}", text(&o));
    l.set_link(true);
    let stopped = l.events(true, "ha-stopped");
    assert_eq!(stopped.last().unwrap()["step"], "sync-to-secondary");
    // The secondary kept nothing armed.
    assert_eq!(l.status(false)["this_node"]["after_reboot"], "7.0.1");
    let o = l.on(true, &["ha", "upgrade", "--yes"], &[]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert_done(&l);
    let incoming = l.pair.secondary.join("var/lib/upgrade-console/ha/incoming");
    let parts: Vec<_> = std::fs::read_dir(&incoming)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(parts.is_empty(), "{parts:?}");
}

#[test]
fn a_primary_that_rolls_back_leaves_the_secondary_off_and_restore_brings_the_pair_back() {
    let l = lab();
    let iso = l.image("sps-7.3.1-fails-in-phase1.iso");
    let o = l.on(
        true,
        &["ha", "upgrade", iso.to_str().unwrap(), "--yes"],
        &[],
    );
    assert_eq!(code(&o), 1, "{}", describe(&o));
    let t = text(&o);
    assert!(
        t.contains("rolled back") && t.contains("LEAVE THE SECONDARY POWERED OFF"),
        "{t}"
    );
    assert!(
        l.secondary_power().contains("is off"),
        "{}",
        l.secondary_power()
    );
    let st = l.status(true);
    assert_eq!(st["secondary_may_power_on"], false, "{st}");
    // Going on is refused while the primary runs the old firmware.
    let o = l.on(true, &["ha", "upgrade", "--yes"], &[]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    let o = l.on(true, &["ha", "restore", "--yes"], &[]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    // The secondary's boot phase declined 7.3.1: both nodes on 7.0.1, roles kept.
    let s = l.status(false);
    assert_eq!(s["this_node"]["current"], "7.0.1", "{s}");
    assert_eq!(s["this_node"]["after_reboot"], "7.0.1", "{s}");
    assert_eq!(s["this_node"]["role"], "secondary", "{s}");
    let rb = l.events(false, "rolled-back");
    assert_eq!(rb.len(), 1);
    assert!(
        rb[0]["reason"]
            .as_str()
            .unwrap()
            .contains("does not move ahead of its primary"),
        "{}",
        rb[0]
    );
    assert_eq!(l.events(true, "ha-abandoned").len(), 1);
}

#[test]
fn a_secondary_that_cannot_boot_the_new_firmware_stops_the_swap() {
    let l = lab();
    let iso = l.image("sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    // Up to and including the primary's reboot, one step at a time.
    for _ in 0..6 {
        let o = l.on(true, &["ha", "upgrade", iso, "--yes", "--step"], &[]);
        assert_eq!(code(&o), 0, "{}", describe(&o));
    }
    assert!(l.secondary_power().contains("is off"));
    // The powered-off secondary's staging is damaged (a disk fault while it was off).
    let staged = l.pair.secondary.join("var/lib/upgrade-console/staged");
    for e in std::fs::read_dir(&staged).unwrap().flatten() {
        let _ = std::fs::remove_file(e.path().join("complete"));
    }
    let o = l.on(true, &["ha", "upgrade", "--yes"], &[]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    let t = text(&o);
    assert!(
        t.contains("secondary-synced") && t.contains("rolled back"),
        "{t}"
    );
    let p = l.status(true);
    assert_eq!(
        p["this_node"]["role"], "primary",
        "the roles were not swapped: {p}"
    );
    assert_eq!(p["this_node"]["current"], "7.3.1");
    assert_eq!(p["other_node"]["current"], "7.0.1");
}

#[test]
fn a_secondary_that_does_not_sync_in_time_stops_and_the_resume_waits_again() {
    let l = lab();
    let iso = l.image("sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    edit_config(&l.pair.primary, |d| {
        d["ha"]["boot_timeout_s"] = toml_edit::value(8)
    });
    for _ in 0..6 {
        let o = l.on(true, &["ha", "upgrade", iso, "--yes", "--step"], &[]);
        assert_eq!(code(&o), 0, "{}", describe(&o));
    }
    // The secondary's HA daemon cannot report the sync (its status file is a directory).
    let status = l.pair.secondary.join("var/lib/ha/status.json");
    std::fs::remove_file(&status).unwrap();
    std::fs::create_dir(&status).unwrap();
    let o = l.on(true, &["ha", "upgrade", "--yes"], &[]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(text(&o).contains("within 8 s"), "{}", text(&o));
    std::fs::remove_dir(&status).unwrap();
    std::fs::write(&status, "{\"state\": \"ok\"}\n").unwrap();
    let o = l.on(true, &["ha", "upgrade", "--yes"], &[]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert_done(&l);
}

#[test]
fn ipmi_going_silent_mid_way_stops_at_the_power_on_and_a_resume_finishes() {
    let mut l = lab();
    let iso = l.image("sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    for _ in 0..6 {
        let o = l.on(true, &["ha", "upgrade", iso, "--yes", "--step"], &[]);
        assert_eq!(code(&o), 0, "{}", describe(&o));
    }
    l.stop_bmcs();
    let o = l.on(true, &["ha", "upgrade", "--yes"], &[]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(
        text(&o).contains("secondary-on") && text(&o).contains("IPMI"),
        "{}",
        text(&o)
    );
    let st = l.status(true);
    assert_eq!(st["next_step"], "secondary-on", "{st}");
    l.start_bmcs();
    let o = l.on(true, &["ha", "upgrade", "--yes"], &[]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert_done(&l);
}

#[test]
fn without_yes_and_without_a_terminal_the_power_change_is_refused() {
    let l = lab();
    let iso = l.image("sps-7.3.1.iso");
    let o = l.on(true, &["ha", "upgrade", iso.to_str().unwrap()], &[]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(text(&o).contains("--yes"), "{}", text(&o));
    // It stopped at the first power change: the secondary is still on.
    assert!(l.secondary_power().contains("is on"));
    assert_eq!(l.status(true)["next_step"], "secondary-off");
}

/// A SIGKILL right after each step's journal record, and in the middle of the role
/// swap and of the transfer, each followed by a resume: the upgrade always finishes.
#[test]
fn a_sigkill_at_every_journal_step_then_resume_finishes_the_upgrade() {
    let l = lab();
    let iso = l.image("sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    let mut kills = 0;
    // Killed as the procedure is recorded, before any step.
    let o = l.on(
        true,
        &["ha", "upgrade", iso, "--yes"],
        &[("UPGRADE_CONSOLE_KILL_AT", "ha-started#1")],
    );
    assert_eq!(o.status.code(), None, "killed: {}", describe(&o));
    kills += 1;
    // Killed in the middle of the transfer (2 MiB sent).
    let o = l.on(
        true,
        &["ha", "upgrade", "--yes"],
        &[("UPGRADE_CONSOLE_KILL_AT", "ha-link-send#2")],
    );
    assert_eq!(o.status.code(), None, "killed: {}", describe(&o));
    kills += 1;
    let mut swap_cut = false;
    for round in 0..30 {
        let done = l.events(true, "ha-step-done").len();
        if done == 10 {
            break;
        }
        // Each run dies right after recording the step it finished; before the role
        // swap is recorded, one run dies between the two nodes' role changes.
        let kill = if done == 8 && !swap_cut {
            swap_cut = true;
            "ha-swap-half#1"
        } else {
            "ha-step#1"
        };
        let o = l.on(
            true,
            &["ha", "upgrade", "--yes"],
            &[("UPGRADE_CONSOLE_KILL_AT", kill)],
        );
        assert_eq!(
            o.status.code(),
            None,
            "round {round} ({kill}) was not killed: {}",
            describe(&o)
        );
        kills += 1;
        if kill == "ha-step#1" {
            assert_eq!(
                l.events(true, "ha-step-done").len(),
                done + 1,
                "round {round}: one step per run"
            );
        }
    }
    assert_eq!(l.events(true, "ha-step-done").len(), 10);
    assert_done(&l);
    // Nothing is left to resume.
    let o = l.on(true, &["ha", "upgrade", "--yes"], &[]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(
        text(&o).contains("no HA upgrade is under way"),
        "{}",
        text(&o)
    );
    eprintln!("HA KILL POINTS: {kills}");
    assert!(kills >= 12, "{kills}");
}
