//! The demo material end to end: the good set passes the demo firmware's rules, the
//! broken set shows every rule family at work; then the real `check` command on a
//! demo appliance with a real ISO whose manifest carries the rules (exit 0, exit 1
//! with the findings in JSON, exit 2 for a rule kind this console does not know).

mod common;
mod rules_support;

use rules_support::*;
use upgrade_console::finding::Severity::{self, Blocker};
use upgrade_console::iso::FirmwareImage;
use upgrade_console::iso_build::build_iso;
use upgrade_console::root::ApplianceRoot;
use upgrade_console::rules::demo_material::{DEMO_RULES, install_demo_material};

fn findings(all: &[upgrade_console::finding::CheckOutcome]) -> Vec<(String, Severity, String)> {
    all.iter()
        .flat_map(|c| c.findings.iter())
        .map(|f| (f.rule.clone(), f.severity, f.value.clone()))
        .collect()
}

/// A scratch root whose System Monitor reports no alerts.
fn quiet_root(d: &tempfile::TempDir) -> ApplianceRoot {
    let root = ApplianceRoot::new(d.path());
    std::fs::create_dir_all(root.resolve("var/lib/appliance")).unwrap();
    std::fs::write(
        root.resolve("var/lib/appliance/monitor.json"),
        "{\"alerts\": []}",
    )
    .unwrap();
    root
}

fn product_text(t: &toml::Table) -> String {
    let mut doc = toml::Table::new();
    doc.insert("product".into(), toml::Value::Table(t.clone()));
    toml::to_string(&doc).unwrap()
}

#[test]
fn good_demo_material_passes_and_broken_shows_every_rule() {
    let d = tempfile::tempdir().unwrap();
    let root = quiet_root(&d);

    let product = install_demo_material(&root, false).unwrap();
    assert!(root.resolve("etc/appliance/certs/web.pem").is_file());
    assert!(
        root.resolve("etc/appliance/keys/host_ed25519.pub")
            .is_file()
    );
    let cfg = config(&product_text(&product));
    let all = run(&root, &cfg, DEMO_RULES, "7.0.1").unwrap();
    assert_eq!(findings(&all), vec![], "{all:#?}");
    assert_eq!(
        outcome(&all, "tls-keys").summary,
        "5 certificates, 1 key checked in 4 files; 1 exempt (signing, timestamping, encryption)"
    );
    assert_eq!(
        outcome(&all, "ssh-keys").summary,
        "3 SSH keys checked in 3 files"
    );

    let d = tempfile::tempdir().unwrap();
    let root = quiet_root(&d);
    let product = install_demo_material(&root, true).unwrap();
    let cfg = config(&product_text(&product));
    let all = run(&root, &cfg, DEMO_RULES, "7.0.1").unwrap();
    let got: Vec<(String, Severity)> = findings(&all).into_iter().map(|(r, s, _)| (r, s)).collect();
    let want: Vec<(String, Severity)> = [
        ("tls-key-size", Blocker),       // web RSA-1024
        ("tls-signature-hash", Blocker), // SHA-1 intermediate (not the SHA-1 root)
        ("tls-key-size", Blocker),       // smtp-server P-192
        ("tls-signature-hash", Blocker), // syslog-client MD5
        ("tls-file", Blocker),           // splunk-server missing
        ("ssh-key-dsa", Blocker),
        ("ssh-key-size", Blocker), // RSA-768
        ("ssh-key-x509", Blocker),
        ("disk-fillup-range", Blocker),
        ("ldap-timeout", Blocker),
        ("idna-hostnames", Blocker), // db_server
        ("idna-hostnames", Blocker), // -jump
        ("plugin-versions", Blocker),
        ("indexer-versions", Blocker),
    ]
    .into_iter()
    .map(|(r, s)| (r.to_string(), s))
    .collect();
    assert_eq!(got, want, "{all:#?}");
    let sig = &outcome(&all, "tls-keys").findings[1];
    assert!(
        sig.location.contains("Demo Old Intermediate CA") && sig.location.contains("2 of 3"),
        "{sig:#?}"
    );
}

/// Rebuilds the demo's 7.3.1 image with `extra` appended to its manifest.
fn image_with_rules(root: &std::path::Path, extra: &str, out: &str) -> std::path::PathBuf {
    let src = FirmwareImage::open(&root.join("images/sps-7.3.1.iso")).unwrap();
    let mut files = Vec::new();
    for name in [
        "firmware/manifest.toml",
        "firmware/rootfs.img",
        "firmware/migrations/step.sh",
        "firmware/migrations/import.sh",
    ] {
        let bytes = if name.ends_with("rootfs.img") {
            upgrade_console::demo::payload_for("7.3.1")
        } else {
            src.read_small_file(name).unwrap().unwrap()
        };
        let bytes = if name.ends_with("manifest.toml") {
            let mut m = String::from_utf8(bytes).unwrap();
            m.push('\n');
            m.push_str(extra);
            m.into_bytes()
        } else {
            bytes
        };
        files.push((name.to_string(), bytes));
    }
    let path = root.join("images").join(out);
    build_iso(&path, "SPS_7_3_1", files).unwrap();
    path
}

/// Puts the demo material's `[product]` into the demo appliance's configuration.
fn use_material(root: &std::path::Path, broken: bool) {
    let r = ApplianceRoot::new(root);
    let product = install_demo_material(&r, broken).unwrap();
    let path = r.config_file();
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut merged = doc
        .get("product")
        .and_then(|p| p.as_table())
        .cloned()
        .unwrap_or_default();
    merged.extend(product);
    doc.insert("product".into(), toml::Value::Table(merged));
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
}

#[test]
fn check_command_runs_the_rules_of_the_image() {
    let (_d, root) = common::demo();
    let iso = image_with_rules(&root, DEMO_RULES, "sps-7.3.1-rules.iso");
    let iso = iso.to_str().unwrap();

    use_material(&root, false);
    let o = common::run(&root, &["check", iso]);
    let out = common::text(&o);
    assert_eq!(common::code(&o), 0, "{out}");
    assert!(out.contains("PASSED"), "{out}");
    for id in [
        "tls-keys",
        "ssh-keys",
        "disk-fillup-range",
        "ldap-timeout",
        "idna-hostnames",
        "plugin-versions",
        "indexer-versions",
        "monitor-alerts",
        "crash-dumps",
    ] {
        assert!(out.contains(id), "{id} missing:\n{out}");
    }
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        assert!(line.chars().count() <= 80, "over 80 columns: {line:?}");
    }
    // The demo keeps a core dump: a warning, not a blocker.
    assert!(out.contains("the upgrade removes 1 core dump(s)"), "{out}");

    use_material(&root, true);
    let o = common::run(&root, &["--json", "check", iso]);
    assert_eq!(common::code(&o), 1, "{}", common::text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["passed"], false);
    let all: Vec<&serde_json::Value> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["findings"].as_array().unwrap())
        .collect();
    let web = all
        .iter()
        .find(|f| f["rule"] == "tls-key-size")
        .expect("tls-key-size finding");
    assert_eq!(web["severity"], "blocker");
    assert_eq!(web["value"], "RSA 1024 bits");
    assert!(
        web["location"]
            .as_str()
            .unwrap()
            .ends_with("etc/appliance/certs/web.pem"),
        "{web}"
    );
    assert!(web["fix"].as_str().unwrap().contains("2048"), "{web}");
    let dumps = all.iter().find(|f| f["rule"] == "crash-dumps").unwrap();
    assert_eq!(dumps["severity"], "warning");
    assert_eq!(
        all.iter().filter(|f| f["severity"] == "blocker").count(),
        14,
        "{}",
        serde_json::to_string_pretty(&v).unwrap()
    );
    // The text report of the broken configuration still fits 80 columns.
    let o = common::run(&root, &["check", iso]);
    assert_eq!(common::code(&o), 1);
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        assert!(line.chars().count() <= 80, "over 80 columns: {line:?}");
    }
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAILED: 14 blocker(s)"));

    // An image from a newer firmware generation: the console cannot run its rules.
    let newer = image_with_rules(
        &root,
        "[[rules]]\nkind = \"post-quantum-keys\"\n",
        "sps-7.3.1-newer-rules.iso",
    );
    let o = common::run(&root, &["check", newer.to_str().unwrap()]);
    let out = common::text(&o);
    assert_eq!(common::code(&o), 2, "{out}");
    assert!(out.contains("\"post-quantum-keys\""), "{out}");
    assert!(out.contains("update the console"), "{out}");
}
