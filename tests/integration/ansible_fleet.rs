//! The Ansible collection against a lab fleet over SSH (support/fleet.rs): the
//! cluster playbook upgrades the nodes in `cluster plan`'s order, one at a time; a
//! second run changes nothing; check mode changes nothing; a node failing phase 1
//! stops the rollout with its support bundle on the control side.

use crate::support::describe;
use crate::support::fleet::{Fleet, changed_total};
use upgrade_core::upgrade::journal::Event;

/// The guides' order for the lab's five nodes: minions, managed host, Central
/// Management (not the Search Master), Search Master. The inventory lists them in
/// another order, so only `cluster plan` can have produced this one.
const ORDER: [&str; 5] = ["m1", "m2", "h1", "cm", "sm"];

fn committed_time(fleet: &Fleet, node: &str) -> Option<String> {
    fleet.journal(node).into_iter().find_map(|r| match r.event {
        Event::Committed { version, .. } if version.to_string() == "7.3.1" => Some(r.time),
        _ => None,
    })
}

fn first_time(fleet: &Fleet, node: &str) -> Option<String> {
    fleet.journal(node).first().map(|r| r.time.clone())
}

fn journal_bytes(fleet: &Fleet, node: &str) -> Vec<u8> {
    std::fs::read(fleet.root(node).join("var/lib/upgrade-console/journal.log")).unwrap_or_default()
}

#[test]
fn cluster_playbook_upgrades_in_plan_order_and_is_idempotent() {
    let fleet = Fleet::up("uca11", 211, 5, None);

    // Check mode: reports changes, changes nothing on any node.
    let before: Vec<(Vec<u8>, String)> = ORDER
        .iter()
        .map(|n| {
            (
                journal_bytes(&fleet, n),
                crate::support::tree_digest(&fleet.root(n)),
            )
        })
        .collect();
    let o = fleet.playbook("cluster_upgrade.yml", &["--check"]);
    assert!(
        o.status.success(),
        "check-mode run failed: {}",
        describe(&o)
    );
    assert_eq!(
        changed_total(&o),
        ORDER.len(),
        "check mode should report one change a node: {}",
        describe(&o)
    );
    for (n, b) in ORDER.iter().zip(&before) {
        let now = (
            journal_bytes(&fleet, n),
            crate::support::tree_digest(&fleet.root(n)),
        );
        assert!(now == *b, "check mode changed node {n}");
    }

    let o = fleet.playbook("cluster_upgrade.yml", &[]);
    assert!(
        o.status.success(),
        "cluster upgrade failed: {}",
        describe(&o)
    );
    for n in ORDER {
        let status = crate::support::run(&fleet.root(n), &["--json", "status"]);
        let v: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
        assert_eq!(
            v["version"],
            "7.3.1",
            "node {n} does not run 7.3.1: {}",
            describe(&status)
        );
        assert!(
            committed_time(&fleet, n).is_some(),
            "node {n}'s journal has no commit of 7.3.1"
        );
    }
    // One at a time in the plan's order: each node's first record comes after the
    // previous node's commit.
    for w in ORDER.windows(2) {
        let prev = committed_time(&fleet, w[0]).expect("commit");
        let next = first_time(&fleet, w[1]).expect("a record");
        assert!(
            prev <= next,
            "{} started at {next} before {} committed at {prev}",
            w[1],
            w[0]
        );
    }

    let digests: Vec<String> = ORDER
        .iter()
        .map(|n| crate::support::tree_digest(&fleet.root(n)))
        .collect();
    let journals: Vec<Vec<u8>> = ORDER.iter().map(|n| journal_bytes(&fleet, n)).collect();
    let o = fleet.playbook("cluster_upgrade.yml", &[]);
    assert!(o.status.success(), "second run failed: {}", describe(&o));
    assert_eq!(
        changed_total(&o),
        0,
        "second run changed something: {}",
        describe(&o)
    );
    for (i, n) in ORDER.iter().enumerate() {
        assert_eq!(
            crate::support::tree_digest(&fleet.root(n)),
            digests[i],
            "second run touched {n}"
        );
        assert!(
            journal_bytes(&fleet, n) == journals[i],
            "second run wrote to {n}'s journal"
        );
    }
}

#[test]
fn a_node_failing_phase1_stops_the_rollout_and_its_bundle_is_fetched() {
    let fleet = Fleet::up("ucb12", 212, 5, Some("h1"));
    let untouched: Vec<(String, String)> = ["cm", "sm"]
        .iter()
        .map(|n| (n.to_string(), crate::support::tree_digest(&fleet.root(n))))
        .collect();
    let o = fleet.playbook("cluster_upgrade.yml", &[]);
    assert!(
        !o.status.success(),
        "the rollout should fail on h1: {}",
        describe(&o)
    );
    for n in ["m1", "m2"] {
        assert!(
            committed_time(&fleet, n).is_some(),
            "{n} (before h1) did not commit: {}",
            describe(&o)
        );
    }
    assert!(
        fleet
            .journal("h1")
            .iter()
            .any(|r| matches!(r.event, Event::RolledBack { .. })),
        "h1 did not roll back"
    );
    for (n, d) in untouched {
        assert!(
            fleet.journal(&n).is_empty(),
            "{n} (after h1) has journal records"
        );
        assert_eq!(
            crate::support::tree_digest(&fleet.root(&n)),
            d,
            "{n} (after h1) was touched"
        );
    }
    let bundles: Vec<_> = std::fs::read_dir(fleet.bundles().join("h1"))
        .unwrap_or_else(|e| {
            panic!(
                "no bundle folder for h1 on the control side: {e}; {}",
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
        "h1's support bundle is not on the control side: {bundles:?}"
    );
}

#[test]
fn module_logic_unit_tests_pass() {
    let o = std::process::Command::new("python3")
        .args(["-m", "unittest", "discover", "-s"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ansible/tests"))
        .args(["-p", "test_*.py"])
        .output()
        .expect("this test needs python3 with ansible-core (python3 -m pip install ansible-core==2.19.14)");
    assert!(
        o.status.success(),
        "the module's Python unit tests failed: {}",
        describe(&o)
    );
}
