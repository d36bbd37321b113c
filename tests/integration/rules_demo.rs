//! The demo material against the demo image's rules: the good variant passes, the
//! broken one trips the findings the README promises; and `check` on a real ISO
//! whose manifest carries the rules shows them (exit 0 / 1), or names an unknown
//! rule kind.

use crate::support::rules::appliance;
use crate::support::text;
use std::path::Path;
use upgrade_console::demo::demo_material::{DEMO_RULES, install_demo_material};
use upgrade_core::check::finding::Severity;
use upgrade_core::image::iso::FirmwareImage;
use upgrade_core::image::manifest::RuleSpec;

fn with_material(broken: bool, current: &str) -> Vec<(String, Severity, String)> {
    let a = appliance();
    let product = install_demo_material(&a.root, broken).unwrap();
    let config = a.config_product(&product);
    a.findings(&config, DEMO_RULES, Some(current))
        .into_iter()
        .map(|f| (f.rule, f.severity, f.value))
        .collect()
}

#[test]
fn good_demo_material_passes_the_demo_rules() {
    assert_eq!(with_material(false, "7.0.1"), vec![]);
    assert_eq!(with_material(false, "6.7.0"), vec![]);
}

#[test]
fn broken_demo_material_trips_the_rules() {
    use Severity::*;
    let f = with_material(true, "6.7.0");
    let s = |r: &str, sev, v: &str| (r.to_string(), sev, v.to_string());
    assert_eq!(
        f,
        vec![
            s("tls-key-size", Blocker, "RSA 1024 bits"),
            s("tls-signature", Blocker, "sha1WithRSAEncryption signature"),
            s("tls-key-size", Blocker, "EC 192 bits"),
            s("ssh-key-size", Blocker, "ssh-rsa 768 bits"),
            s("ssh-key-type", Blocker, "ssh-dss"),
            s("numeric-range", Blocker, "99"),
            s("minimum", Blocker, "60"),
            s("reserved-names", Blocker, "default_nla"),
            s("idna-hostnames", Blocker, "file_server.example"),
            s("plugin-versions", Blocker, "credstore 2.1.0"),
            s("indexer-versions", Blocker, "idx-1 7.0.1"),
            s("monitor-clean", Blocker, "raid-degraded"),
            s("core-dumps", Warning, "1 file(s), 64.0 KiB"),
        ]
    );
    // From 7.0.1 the reserved names no longer apply.
    assert!(
        !with_material(true, "7.0.1")
            .iter()
            .any(|f| f.0 == "reserved-names")
    );
}

/// Rebuilds the demo's good 7.3.1 image with `rules` in its manifest.
fn image_with_rules(root: &Path, rules: &str, out: &Path) {
    let src = root.join("images/sps-7.3.1.iso");
    let image = FirmwareImage::open(&src).unwrap();
    let mut m = image.manifest.clone();
    #[derive(serde::Deserialize)]
    struct Rules {
        rules: Vec<RuleSpec>,
    }
    m.rules = toml::from_str::<Rules>(rules).unwrap().rules;
    let mut payload = vec![];
    std::io::copy(&mut image.payload_reader().unwrap(), &mut payload).unwrap();
    // Signed by the test vendor key, which the demo root is told to trust.
    crate::support::signing::trust_vendor_key(root);
    let text = m.to_toml().into_bytes();
    let signature = crate::support::signing::signature_for(
        &text,
        &m.firmware.product,
        &m.firmware.version.to_string(),
    );
    let mut files = vec![
        ("firmware/manifest.toml".to_string(), text),
        (
            upgrade_core::image::signature::SIGNATURE_IN_IMAGE.to_string(),
            signature,
        ),
        (m.payload.file.clone(), payload),
    ];
    for f in image.list_files("firmware/migrations").unwrap_or_default() {
        if let Ok(Some(b)) = image.read_small_file(&f) {
            files.push((f, b));
        }
    }
    upgrade_console::demo::iso_build::build_iso(out, "SPS_7_3_1", files).unwrap();
}

/// Replaces the demo appliance.toml's `[product]` with the demo material's.
fn install(root: &Path, broken: bool) {
    let r = upgrade_core::appliance::root::ApplianceRoot::new(root);
    let product = install_demo_material(&r, broken).unwrap();
    let path = r.config_file();
    let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    doc.insert("product".into(), product.into());
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
}

#[test]
fn check_shows_the_image_rules_on_the_demo() {
    crate::support::require_tool("xorriso", "xorriso");
    let (_d, root) = crate::support::demo();
    let iso = root.join("images/sps-7.3.1-rules.iso");
    image_with_rules(&root, DEMO_RULES, &iso);
    let iso_arg = iso.to_str().unwrap();

    install(&root, false);
    let o = crate::support::run(&root, &["check", iso_arg]);
    let out = text(&o);
    assert_eq!(crate::support::code(&o), 0, "{out}");
    for check in [
        "tls-keys",
        "ssh-keys",
        "numeric-range",
        "monitor-clean",
        "core-dumps",
    ] {
        assert!(out.contains(check), "{check} missing:\n{out}");
    }

    install(&root, true);
    let o = crate::support::run(&root, &["check", iso_arg]);
    let out = text(&o);
    assert_eq!(crate::support::code(&o), 1, "{out}");
    assert!(
        out.contains("tls-key-size") || out.contains("RSA 1024 bits"),
        "{out}"
    );
    assert!(
        out.contains("ssh-dss") && out.contains("file_server.example"),
        "{out}"
    );
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }
    let o = crate::support::run(&root, &["--json", "check", iso_arg]);
    assert_eq!(crate::support::code(&o), 1);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = json.to_string();
    assert!(
        text.contains("\"rule\":\"ssh-key-type\"") && text.contains("\"severity\":\"blocker\""),
        "{text}"
    );
}

#[test]
fn check_names_an_unknown_rule_kind() {
    crate::support::require_tool("xorriso", "xorriso");
    let (_d, root) = crate::support::demo();
    let iso = root.join("images/sps-7.3.1-future.iso");
    image_with_rules(&root, "[[rules]]\nkind = \"post-quantum-keys\"\n", &iso);
    let o = crate::support::run(&root, &["check", iso.to_str().unwrap()]);
    let out = text(&o);
    assert_ne!(crate::support::code(&o), 0, "{out}");
    assert!(
        out.contains("\"post-quantum-keys\"") && out.contains("update upgrade-console"),
        "{out}"
    );
}
