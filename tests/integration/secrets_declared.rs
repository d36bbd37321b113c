//! Secrets in odd places (issue 10, items 1 and 5): free-form [product] keys the old
//! name guess missed, a value holding a quote, a multi-line TOML string, a declared
//! key whose name says nothing, a short PIN, and a secret in an image's file name.
//! The real commands run on a demo root; then every byte the box would let out (the
//! console log, the bundle's members, the JSON status) is searched for each secret in
//! each spelling it can take.

use crate::support::*;
use std::path::Path;
use std::process::Command;

/// (key, value) pairs put into [product]; each value must never leave the box.
const SECRETS: &[(&str, &str)] = &[
    ("api_key", "Api-Key-7Hq2w"),
    ("ldap_bind_pw", "bind-pw-Zt93"),
    ("snmp_community", "comm-Ptq81x"),
    ("wifi_psk", "wifi-psk-Lm20"),
    ("db_credentials", "db-cred-Qe55"),
    ("radius_shared_key", "radius-Ky71"),
    ("quoted_token", "quo\"te-Tk44"),
];
const MULTI_LINE: (&str, &str) = ("smtp_passwd", "smtp-line-one-A1\nsmtp-line-two-B2");
const DECLARED: &str = "opaque-Dv09x";
const PIN: &str = "8";

fn toml_string(v: &str) -> String {
    serde_json::to_string(v).unwrap()
}

/// Every spelling a value can take in text: raw, JSON-escaped, each line.
fn spellings(v: &str) -> Vec<String> {
    let mut out = vec![v.to_string()];
    let json = serde_json::to_string(v).unwrap();
    out.push(json[1..json.len() - 1].to_string());
    if v.contains('\n') {
        out.extend(v.lines().map(String::from));
    }
    out
}

fn plant(root: &Path) {
    let cfg = root.join("etc/appliance/appliance.toml");
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    let mut product = String::new();
    for (k, v) in SECRETS {
        product.push_str(&format!("{k} = {}\n", toml_string(v)));
    }
    product.push_str(&format!(
        "{} = \"\"\"\n{}\"\"\"\n",
        MULTI_LINE.0, MULTI_LINE.1
    ));
    product.push_str(&format!("opaque = {}\n", toml_string(DECLARED)));
    product.push_str(&format!("bmc_pin = \"{PIN}\"\n"));
    let cfg_text = cfg_text.replacen("[product]\n", &format!("[product]\n{product}"), 1);
    let cfg_text = cfg_text.replacen(
        "[appliance]\n",
        "[appliance]\nsecrets = [\"product.opaque\"]\n",
        1,
    );
    std::fs::write(&cfg, cfg_text).unwrap();
    let o = run(root, &["status"]);
    assert_eq!(code(&o), 0, "the planted config must load: {}", text(&o));
}

fn every_secret() -> Vec<String> {
    let mut all: Vec<String> = SECRETS.iter().flat_map(|(_, v)| spellings(v)).collect();
    all.extend(spellings(MULTI_LINE.1));
    all.push(DECLARED.into());
    all
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for s in every_secret() {
        assert!(!text.contains(&s), "{what} holds the secret {s:?}:\n{text}");
    }
    assert!(
        !text.contains(&format!("bmc_pin = \"{PIN}\"")),
        "{what} holds the PIN"
    );
}

#[test]
fn no_secret_leaves_the_box_in_any_spelling() {
    require_tool("unzip", "unzip");
    let (d, root) = demo();
    plant(&root);
    // A secret in an odd place: an image named after one, so every log line about
    // the image would carry it.
    let (_, api) = SECRETS[0];
    let src = root.join("images/sps-7.3.1.iso");
    let odd = root.join(format!("images/{api}.iso"));
    std::fs::copy(&src, &odd).unwrap();
    let sum = std::fs::read_to_string(root.join("images/sps-7.3.1.iso.sha256")).unwrap();
    let hash = sum.split_whitespace().next().unwrap();
    let odd_s = odd.to_str().unwrap();
    for args in [
        vec!["verify", "--sha256", hash, odd_s],
        vec!["check", odd_s],
        vec!["activate", "--yes", odd_s],
        vec!["reboot"],
    ] {
        let o = run(&root, &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    }
    let log = std::fs::read(root.join("var/log/upgrade-console/console.log")).unwrap();
    assert!(!log.is_empty());
    assert_clean("console.log", &log);
    // The log still says what happened, with the secret taken out.
    assert!(
        String::from_utf8_lossy(&log).contains("<redacted>.iso"),
        "the image's name is not shown redacted in the log"
    );

    let o = run(&root, &["--json", "status"]);
    assert_clean("status --json", &o.stdout);

    let out = d.path().join("b.zip");
    let o = run(&root, &["bundle", "-o", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let x = d.path().join("x");
    let u = Command::new("unzip")
        .arg("-q")
        .arg(&out)
        .arg("-d")
        .arg(&x)
        .output()
        .unwrap();
    assert!(u.status.success());
    let mut members = 0;
    let mut todo = vec![x.clone()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().is_dir() {
                todo.push(e.path());
            } else {
                members += 1;
                let rel = e.path().strip_prefix(&x).unwrap().display().to_string();
                assert_clean(
                    &format!("bundle member {rel}"),
                    &std::fs::read(e.path()).unwrap(),
                );
            }
        }
    }
    assert!(members > 5, "{members} members");
    // The redacted configuration keeps its non-secret values: support can read it.
    let cfg = std::fs::read_to_string(x.join("config/appliance.toml")).unwrap();
    assert!(cfg.contains("hostname"), "{cfg}");
}

/// A short secret is removed where it is the value of its key, and nowhere else: the
/// journal's hashes and sizes in the bundle keep every "8".
#[test]
fn a_short_secret_does_not_blank_unrelated_text() {
    require_tool("unzip", "unzip");
    let (d, root) = demo();
    plant(&root);
    let iso = root.join("images/sps-7.3.1.iso");
    let o = run(&root, &["verify", iso.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = d.path().join("b.zip");
    let o = run(&root, &["bundle", "-o", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = Command::new("unzip")
        .arg("-p")
        .arg(&out)
        .arg("SHA256SUMS")
        .output()
        .unwrap();
    let sums = String::from_utf8_lossy(&o.stdout);
    for line in sums.lines() {
        let hash = line.split_whitespace().next().unwrap_or("");
        assert_eq!(
            hash.len(),
            64,
            "a hash was cut by the PIN's scrubbing: {line}"
        );
    }
    let o = Command::new("unzip")
        .arg("-p")
        .arg(&out)
        .arg("config/appliance.toml")
        .output()
        .unwrap();
    let cfg = String::from_utf8_lossy(&o.stdout);
    assert!(cfg.contains("bmc_pin = \"<redacted>\""), "{cfg}");
}

/// Unreadable secrets mean unknown secrets: the bundle refuses (names the file and
/// the fix) rather than go out unscrubbed.
#[test]
fn a_bundle_is_not_made_when_a_secret_file_cannot_be_read() {
    let (_d, root) = demo();
    let cfg = root.join("etc/appliance/appliance.toml");
    let cfg_text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "[product]\n",
        "[product]\nvault_password_file = \"etc/appliance/vault.pass\"\n",
        1,
    );
    std::fs::write(&cfg, cfg_text).unwrap();
    // A directory where the file should be: it exists but cannot be read as a file.
    std::fs::create_dir_all(root.join("etc/appliance/vault.pass")).unwrap();
    let o = run(&root, &["bundle"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("vault.pass") && text(&o).contains("secret file"),
        "{}",
        text(&o)
    );
}
