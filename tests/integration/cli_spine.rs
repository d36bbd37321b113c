//! The spine's commands on the demo appliance, run as the real binary: exit codes,
//! what they say, and that bad input changes nothing.

use crate::support::*;

#[test]
fn demo_without_terminal_prints_what_it_built_and_is_reused() {
    let (_d, root) = demo();
    let o = run(&root, &["demo", root.to_str().unwrap()]);
    assert_eq!(code(&o), 0);
    let t = text(&o);
    assert!(t.contains("reused"), "{t}");
    assert!(t.contains("sps-7.3.1.iso") && t.contains("verify"), "{t}");
    for f in [
        "etc/appliance/appliance.toml",
        "boot/grub/grubenv",
        "proc/cmdline",
        "var/lib/upgrade-console/slot-status.json",
    ] {
        assert!(root.join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        std::fs::metadata(root.join("boot/grub/grubenv"))
            .unwrap()
            .len(),
        1024
    );
}

#[test]
fn verify_good_bad_and_every_hash_form() {
    let (_d, root) = demo();
    let iso = root.join("images/sps-7.3.1.iso");
    let isos = iso.to_str().unwrap();
    // The .sha256 beside the image is picked up.
    let o = run(&root, &["verify", isos]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("OK"));

    let sidecar = std::fs::read_to_string(root.join("images/sps-7.3.1.iso.sha256")).unwrap();
    let h = sidecar.split_whitespace().next().unwrap().to_string();
    let spaced: Vec<String> = h
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let forms = [
        h.clone(),
        h.to_uppercase(),
        format!("sha256: {h}"),
        format!("{h}  sps-7.3.1.iso"),
        format!("SHA256 (sps-7.3.1.iso) = {h}"),
        format!(
            "SHA256 hash of C:\\fw\\sps-7.3.1.iso:\r\n{h}\r\nCertUtil: -hashfile command completed successfully.\r\n"
        ),
        format!(
            "SHA256 hash of C:\\fw\\sps-7.3.1.iso:\r\n{}\r\nCertUtil: -hashfile command completed successfully.\r\n",
            spaced.join(" ")
        ),
    ];
    for f in &forms {
        let o = run(&root, &["verify", isos, "--sha256", f]);
        assert_eq!(code(&o), 0, "form {f:?}: {}", text(&o));
        let file = root.join("expected.txt");
        std::fs::write(&file, f).unwrap();
        let o = run(
            &root,
            &["verify", isos, "--sha256-file", file.to_str().unwrap()],
        );
        assert_eq!(code(&o), 0, "file form {f:?}: {}", text(&o));
    }

    // A wrong hash: exit 1, both hashes named.
    let wrong = format!("{}{}", if h.starts_with('0') { "1" } else { "0" }, &h[1..]);
    let o = run(&root, &["verify", isos, "--sha256", &wrong]);
    assert_eq!(code(&o), 1);
    let t = text(&o);
    assert!(
        t.contains("MISMATCH") && t.contains(&h) && t.contains(&wrong),
        "{t}"
    );

    // A malformed hash: exit 2, naming the problem.
    let o = run(&root, &["verify", isos, "--sha256", &h[..60]]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("60 hexadecimal digits"), "{}", text(&o));

    // The payload does not match its manifest: exit 1, both hashes named.
    let bad = root.join("images/sps-7.3.1-bad-payload-hash.iso");
    let o = run(&root, &["--json", "verify", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["image_ok"], true);
    assert_eq!(v["payload_ok"], false);
    assert_ne!(v["payload_sha256"], v["payload_expected_sha256"]);

    // No expected hash anywhere: cannot verify.
    let lone = root.join("lone.iso");
    std::fs::copy(&iso, &lone).unwrap();
    let o = run(&root, &["verify", lone.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("--sha256"), "{}", text(&o));
}

#[test]
fn check_passes_the_good_image_and_refuses_the_path() {
    let (_d, root) = demo();
    let o = run(
        &root,
        &["check", root.join("images/sps-7.3.1.iso").to_str().unwrap()],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("PASSED"));
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        assert!(line.chars().count() <= 80, "line over 80 columns: {line:?}");
    }

    let o = run(
        &root,
        &[
            "--json",
            "check",
            root.join("images/sps-8.1.iso").to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["passed"], false);
    let path = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "upgrade-path")
        .unwrap();
    let f = &path["findings"][0];
    assert_eq!(f["severity"], "blocker");
    assert_eq!(f["value"], "7.0.1 -> 8.1");
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("Upgrade to 8 LTS (8.0) first"),
        "{f}"
    );
}

#[test]
fn status_reports_version_slots_space_and_network() {
    let (_d, root) = demo();
    let o = run(&root, &["--json", "status"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], "7.0.1");
    assert_eq!(v["release"], "7 LTS");
    assert_eq!(v["booted_slot"], "A");
    assert_eq!(v["slots"][1]["state"], "empty");
    assert!(v["filesystems"][0]["free_percent"].as_f64().unwrap() > 0.0);
    assert_eq!(v["interfaces"][0]["name"], "eth0");
    let o = run(&root, &["status"]);
    assert!(text(&o).contains("firmware 7.0.1 (7 LTS)"), "{}", text(&o));
}

#[test]
fn a_broken_config_is_named_and_changes_nothing() {
    let (_d, root) = demo();
    let cfg = root.join("etc/appliance/appliance.toml");
    let good = std::fs::read_to_string(&cfg).unwrap();
    let cases = [
        (
            good.replace("192.0.2.10/24", "192.0.2.300/24"),
            "network.interfaces[0].addresses",
        ),
        (good.replace("hostname = ", "hostnaem = "), "hostnaem"),
        (good.replace("[slots]", "[slots"), "(syntax)"),
        (good.replace("slotB.img", "slotA.img"), "slots.B"),
    ];
    let iso = root.join("images/sps-7.3.1.iso");
    for (text_, key) in cases {
        std::fs::write(&cfg, &text_).unwrap();
        let before = tree_digest(&root);
        for args in [vec!["status"], vec!["check", iso.to_str().unwrap()]] {
            let o = run(&root, &args);
            assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
            let t = text(&o);
            assert!(
                t.contains("appliance.toml:") && t.contains(key),
                "{key}: {t}"
            );
        }
        assert_eq!(
            before,
            tree_digest(&root),
            "a failed command changed the appliance"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let (_d, root) = demo();
    assert_eq!(code(&run(&root, &["verify"])), 2);
    assert_eq!(code(&run(&root, &["no-such-command"])), 2);
    assert_eq!(
        code(&run(
            &root,
            &["demo", "--fail", "nonsense", root.to_str().unwrap()]
        )),
        2
    );
}
