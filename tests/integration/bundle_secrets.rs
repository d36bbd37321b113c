//! The support bundle from the demo appliance, made by the real binary: `unzip -t`
//! passes, the listed members are there, SHA256SUMS matches, and no secret from the
//! configuration (an LDAP bind password, a BMC password file) appears in any byte.

use crate::support::*;
use sha2::{Digest, Sha256};
use std::process::Command;

const BMC_SECRET: &str = "bmc-pass-Qx81zz";
const LDAP_SECRET: &str = "demo-ldap-secret-7f3a";

fn add_secrets(root: &std::path::Path) {
    let cfg = root.join("etc/appliance/appliance.toml");
    let mut cfg_text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        cfg_text.contains(LDAP_SECRET),
        "the demo config should hold the LDAP bind password"
    );
    cfg_text.push_str(
        "\n[ha]\nrole = \"primary\"\npeer = \"10.0.0.2\"\n\
         bmc = { host = \"10.0.1.2\", user = \"admin\", password_file = \"etc/appliance/bmc.pass\" }\n",
    );
    // [ha] after [product] would make the keys part of [ha]; put it before [product].
    let (head, product) = cfg_text.split_once("[product]").unwrap();
    let (prod_body, ha) = product.split_once("\n[ha]").unwrap();
    let new = format!("{head}[ha]{ha}\n[product]{prod_body}\n");
    std::fs::write(&cfg, new).unwrap();
    std::fs::write(
        root.join("etc/appliance/bmc.pass"),
        format!("{BMC_SECRET}\n"),
    )
    .unwrap();
    // Secrets that leaked into the log must be scrubbed too.
    let log = root.join("var/log/upgrade-console/console.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let mut old = std::fs::read_to_string(&log).unwrap_or_default();
    old.push_str(&format!(
        "2026-01-01T00:00:00Z INFO  ldap bind with {LDAP_SECRET} failed; bmc {BMC_SECRET}\n"
    ));
    std::fs::write(&log, old).unwrap();
    let o = run(root, &["status"]);
    assert_eq!(code(&o), 0, "config with [ha] should load: {}", text(&o));
}

#[test]
fn bundle_opens_holds_the_members_and_no_secret() {
    require_tool("unzip", "unzip");
    let (d, root) = demo();
    add_secrets(&root);
    let out = d.path().join("out/support.zip");
    let o = run(&root, &["bundle", "-o", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("support.zip"), "{}", text(&o));

    let t = Command::new("unzip").arg("-t").arg(&out).output().unwrap();
    assert!(
        t.status.success(),
        "unzip -t: {}",
        String::from_utf8_lossy(&t.stdout)
    );

    let x = d.path().join("x");
    let u = Command::new("unzip")
        .arg("-q")
        .arg(&out)
        .arg("-d")
        .arg(&x)
        .output()
        .unwrap();
    assert!(u.status.success());
    for m in [
        "log/console.log",
        "state/slot-status.json",
        "config/appliance.toml",
        "system/facts.json",
        "system/block-devices.json",
        "system/interfaces.json",
        "system/routes.txt",
        "system/cmdline.txt",
        "versions.json",
        "README.txt",
        "SHA256SUMS",
    ] {
        assert!(x.join(m).is_file(), "member {m} missing");
    }
    // Every byte of every member: no secret.
    let sums = std::fs::read_to_string(x.join("SHA256SUMS")).unwrap();
    let mut listed = 0;
    for line in sums.lines() {
        let (hash, name) = line.split_once("  ").unwrap();
        let bytes = std::fs::read(x.join(name)).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&bytes)), hash, "{name}");
        listed += 1;
    }
    let mut stack = vec![x.clone()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&p).unwrap();
            for s in [BMC_SECRET, LDAP_SECRET] {
                assert!(
                    !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                    "secret {s} found in {}",
                    p.display()
                );
            }
        }
    }
    assert_eq!(listed + 1, files, "SHA256SUMS lists every other member");
    let cfg = std::fs::read_to_string(x.join("config/appliance.toml")).unwrap();
    assert!(cfg.contains("ldap_bind_password = \"<redacted>\""), "{cfg}");
    assert!(
        cfg.contains("hostname = \"sps-demo\""),
        "the rest is kept: {cfg}"
    );
    let log = std::fs::read_to_string(x.join("log/console.log")).unwrap();
    assert!(
        log.contains("ldap bind with <redacted> failed; bmc <redacted>"),
        "{log}"
    );
    let versions = std::fs::read_to_string(x.join("versions.json")).unwrap();
    assert!(versions.contains(env!("CARGO_PKG_VERSION")), "{versions}");
}

#[test]
fn default_bundle_goes_under_the_state_dir() {
    let (_d, root) = demo();
    let o = run(&root, &["--json", "bundle"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = std::path::PathBuf::from(v["bundle"].as_str().unwrap());
    assert!(
        p.starts_with(root.join("var/lib/upgrade-console/bundles")),
        "{p:?}"
    );
    let name = p.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("support-sps-demo-") && name.ends_with(".zip"),
        "{name}"
    );
    assert!(p.is_file());
    // No temporary file left beside it.
    let n = std::fs::read_dir(p.parent().unwrap()).unwrap().count();
    assert_eq!(n, 1);
}
