//! The collection's HA pair playbook against the HA lab (support/ha.rs): Ansible
//! reaches the primary over SSH on a management veth (support/ha_ansible.rs's control
//! side) and runs `ha upgrade` there through the ha_pair module. Check mode changes
//! nothing; the real run swaps the roles with both nodes on 7.3.1; a second run
//! changes nothing; a primary that rolls back fails the play with the CLI's message
//! and its support bundle on the control side.

use crate::support::describe;
use crate::support::fleet::changed_total;
use crate::support::ha::{HaLab, lab};
use crate::support::ha_ansible::control_side;

fn journal_bytes(l: &HaLab, primary: bool) -> Vec<u8> {
    let root = if primary {
        &l.pair.primary
    } else {
        &l.pair.secondary
    };
    std::fs::read(root.join("var/lib/upgrade-console/journal.log")).unwrap_or_default()
}

/// (role, current, after_reboot) of this node and of the other, from the primary.
fn pair_view(l: &HaLab) -> Vec<(String, String, String)> {
    let s = l.status(true);
    [&s["this_node"], &s["other_node"]]
        .iter()
        .map(|n| {
            (
                n["role"].as_str().unwrap_or("?").to_string(),
                n["current"].as_str().unwrap_or("?").to_string(),
                n["after_reboot"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_ha_playbook_swaps_the_pair_onto_the_new_firmware_and_a_second_run_changes_nothing() {
    let l = lab();
    let iso = l.image("sps-7.3.1.iso");
    let c = control_side(&l, &iso);
    let old = |role: &str| (role.to_string(), "7.0.1".to_string(), "7.0.1".to_string());
    assert_eq!(
        pair_view(&l),
        vec![old("primary"), old("secondary")],
        "the lab's pair before the play"
    );

    // Check mode: one change reported with the command it would run; nothing runs.
    let journals = (journal_bytes(&l, true), journal_bytes(&l, false));
    let o = c.playbook("ha_pair.yml", &["--check", "-v"]);
    assert!(
        o.status.success(),
        "check-mode run failed: {}",
        describe(&o)
    );
    assert_eq!(changed_total(&o), 1, "{}", describe(&o));
    let out = stdout(&o);
    assert!(
        out.contains("\"would_run\"") && out.contains(iso.to_str().unwrap()),
        "check mode does not report the command: {}",
        describe(&o)
    );
    assert!(
        (journal_bytes(&l, true), journal_bytes(&l, false)) == journals,
        "check mode wrote to a node's journal"
    );
    assert!(l.events(true, "ha-started").is_empty());
    assert_eq!(pair_view(&l), vec![old("primary"), old("secondary")]);
    assert!(
        l.secondary_power().contains("is on"),
        "{}",
        l.secondary_power()
    );

    // The real run: the whole procedure on the primary, over SSH.
    let o = c.playbook("ha_pair.yml", &["-v"]);
    assert!(o.status.success(), "the HA play failed: {}", describe(&o));
    assert_eq!(changed_total(&o), 1, "{}", describe(&o));
    let new = |role: &str| (role.to_string(), "7.3.1".to_string(), "7.3.1".to_string());
    assert_eq!(
        pair_view(&l),
        vec![new("secondary"), new("primary")],
        "after the play: {}",
        describe(&o)
    );
    let s = l.status(false);
    assert_eq!(s["this_node"]["role"], "primary", "{s}");
    assert_eq!(s["this_node"]["current"], "7.3.1", "{s}");
    let steps: Vec<_> = l
        .events(true, "ha-step-done")
        .iter()
        .map(|e| e["step"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(steps.len(), 10, "{steps:?}");
    assert_eq!(steps.last().map(String::as_str), Some("versions-equal"));
    assert!(
        stdout(&o).contains("the HA pair runs 7.3.1 on both nodes"),
        "{}",
        describe(&o)
    );

    // Idempotent: nothing runs, nothing is written.
    let journals = (journal_bytes(&l, true), journal_bytes(&l, false));
    let o = c.playbook("ha_pair.yml", &["-v"]);
    assert!(o.status.success(), "second run failed: {}", describe(&o));
    assert_eq!(
        changed_total(&o),
        0,
        "second run changed something: {}",
        describe(&o)
    );
    assert!(stdout(&o).contains("nothing to do"), "{}", describe(&o));
    assert!(
        (journal_bytes(&l, true), journal_bytes(&l, false)) == journals,
        "second run wrote to a node's journal"
    );
    assert_eq!(l.events(true, "ha-started").len(), 1);
    assert_eq!(pair_view(&l), vec![new("secondary"), new("primary")]);
}

#[test]
fn a_primary_that_rolls_back_fails_the_play_with_the_cli_message_and_its_bundle() {
    let l = lab();
    let iso = l.image("sps-7.3.1-fails-in-phase1.iso");
    let c = control_side(&l, &iso);
    let o = c.playbook("ha_pair.yml", &[]);
    assert!(
        !o.status.success(),
        "the play should fail when the primary rolls back: {}",
        describe(&o)
    );
    let out = stdout(&o);
    assert!(
        out.contains("rolled back") && out.contains("LEAVE THE SECONDARY POWERED OFF"),
        "the play does not pass on the CLI's message: {}",
        describe(&o)
    );
    assert!(
        l.secondary_power().contains("is off"),
        "{}",
        l.secondary_power()
    );
    let bundles: Vec<_> = std::fs::read_dir(c.bundles().join("primary"))
        .unwrap_or_else(|e| {
            panic!(
                "no bundle folder on the control side: {e}; {}",
                describe(&o)
            )
        })
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        bundles
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "zip")
                && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)),
        "the primary's support bundle is not on the control side: {bundles:?}"
    );
    // Running it again does not go on past the rollback: the CLI refuses, the play fails.
    let o = c.playbook("ha_pair.yml", &[]);
    assert!(!o.status.success(), "{}", describe(&o));
    assert!(
        l.secondary_power().contains("is off"),
        "{}",
        l.secondary_power()
    );
}
