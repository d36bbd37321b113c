//! The `tls-keys` rule on real certificates made with openssl at test time: every
//! size boundary, weak signatures with the root CA exemption, chains, exempt uses,
//! unreadable files.

use crate::support::rules::{Appliance, appliance, assert_finding};
use upgrade_core::check::finding::{Finding, Severity::Blocker};

const RULE: &str = "[[rules]]\nkind = \"tls-keys\"\n";

/// Installs the fixtures as `product.certificates` (name, use) and runs the rule.
fn check(a: &Appliance, certs: &[(&str, &str)], rules: &str) -> Vec<Finding> {
    let list: Vec<String> = certs
        .iter()
        .map(|(name, usage)| format!("{{ path = \"{}\", use = \"{usage}\" }}", a.cert(name)))
        .collect();
    let config = a.config("", &format!("certificates = [{}]", list.join(", ")));
    a.findings(&config, rules, Some("7.0.1"))
}

fn one(certs: &[(&str, &str)]) -> Vec<Finding> {
    check(&appliance(), certs, RULE)
}

#[test]
fn rsa_2048_passes_and_2047_is_refused() {
    assert_eq!(one(&[("ok-rsa-2048.pem", "web")]), vec![]);
    let f = one(&[("tls-key-size-rsa-2047.pem", "web")]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "tls-key-size",
        Blocker,
        "RSA 2047 bits",
        "subject \"CN=rsa-2047.test\", etc/appliance/certs/tls-key-size-rsa-2047.pem, product.certificates[0]",
        "at least 2048",
    );
}

#[test]
fn ec_p224_passes_and_p192_is_refused() {
    assert_eq!(one(&[("ok-ec-p224.pem", "ldap-client")]), vec![]);
    let f = one(&[("tls-key-size-ec-p192.pem", "ldap-client")]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "tls-key-size",
        Blocker,
        "EC 192 bits",
        "CN=p192.test",
        "EC key of at least 224 bits",
    );
}

#[test]
fn dsa_2048_passes_and_1024_is_refused() {
    assert_eq!(one(&[("ok-dsa-2048.pem", "syslog-client")]), vec![]);
    let f = one(&[("tls-key-size-dsa-1024.pem", "syslog-client")]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "tls-key-size",
        Blocker,
        "DSA 1024 bits",
        "CN=dsa-1024.test",
        "Replace the certificate",
    );
}

#[test]
fn ed25519_and_der_certificates_pass() {
    assert_eq!(
        one(&[("ok-ed25519.pem", "web"), ("ok-rsa-2048.der", "web")]),
        vec![]
    );
}

#[test]
fn sha1_root_ca_is_accepted() {
    assert_eq!(one(&[("ok-root-ca-sha1.pem", "trusted-ca")]), vec![]);
}

#[test]
fn sha1_leaf_signed_by_a_ca_is_refused() {
    let f = one(&[("tls-signature-sha1-leaf.pem", "web")]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "tls-signature",
        Blocker,
        "sha1WithRSAEncryption signature",
        "subject \"CN=sha1-leaf.test\", etc/appliance/certs/tls-signature-sha1-leaf.pem",
        "SHA-256",
    );
}

#[test]
fn sha1_self_signed_leaf_is_not_a_root_ca() {
    let f = one(&[("tls-signature-sha1-self-signed-leaf.pem", "web")]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "tls-signature",
        Blocker,
        "sha1",
        "CN=sha1-self.test",
        "re-issued",
    );
}

#[test]
fn sha1_intermediate_is_refused() {
    let f = one(&[("tls-signature-sha1-intermediate.pem", "internal-ca")]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "tls-signature",
        Blocker,
        "sha1",
        "CN=Test SHA1 Intermediate CA",
        "SHA-256",
    );
}

#[test]
fn md5_signatures_are_refused() {
    let f = one(&[
        ("tls-signature-md5-leaf.pem", "smtp-server"),
        ("tls-signature-md5-self-signed.pem", "splunk-server"),
    ]);
    assert_eq!(f.len(), 2, "{f:#?}");
    assert_finding(
        &f[0],
        "tls-signature",
        Blocker,
        "md5WithRSAEncryption",
        "CN=md5-leaf.test\"",
        "SHA-256",
    );
    assert!(f[0].location.contains("product.certificates[0]"));
    assert_finding(
        &f[1],
        "tls-signature",
        Blocker,
        "md5WithRSAEncryption",
        "CN=md5.test",
        "SHA-256",
    );
    assert!(f[1].location.contains("product.certificates[1]"));
}

#[test]
fn every_certificate_of_a_chain_is_checked() {
    // leaf (SHA-256), intermediate (SHA-1: refused), root (SHA-1: exempt).
    let f = one(&[("tls-signature-chain-with-sha1-intermediate.pem", "web")]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "tls-signature",
        Blocker,
        "sha1",
        "subject \"CN=Test SHA1 Intermediate CA\", etc/appliance/certs/tls-signature-chain-with-sha1-intermediate.pem (certificate 2 of 3)",
        "SHA-256",
    );
    assert_eq!(
        one(&[("ok-chain.pem", "web"), ("ok-key-and-cert.pem", "web")]),
        vec![]
    );
}

#[test]
fn signing_timestamping_and_encryption_uses_are_exempt() {
    let f = one(&[
        ("exempt-rsa-1024-signing.pem", "signing"),
        ("tls-key-size-rsa-2047.pem", "timestamping"),
        ("tls-signature-sha1-leaf.pem", "encryption"),
    ]);
    assert_eq!(f, vec![]);
    // The same key used for the web interface is refused.
    let f = one(&[("exempt-rsa-1024-signing.pem", "web")]);
    assert_finding(
        &f[0],
        "tls-key-size",
        Blocker,
        "RSA 1024 bits",
        "CN=signing-only.test",
        "2048",
    );
}

#[test]
fn parameters_tighten_and_select() {
    let a = appliance();
    let strict =
        "[[rules]]\nkind = \"tls-keys\"\nmin_rsa_bits = 3072\nforbid_signatures = [\"md5\"]\n";
    let f = check(
        &a,
        &[
            ("ok-rsa-2048.pem", "web"),
            ("tls-signature-sha1-leaf.pem", "web"),
        ],
        strict,
    );
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(
        f.iter()
            .all(|f| f.rule == "tls-key-size" && f.value == "RSA 2048 bits"),
        "{f:#?}"
    );
    let only_web = "[[rules]]\nkind = \"tls-keys\"\nuses = [\"web\"]\n";
    let f = check(
        &a,
        &[("tls-key-size-rsa-2047.pem", "ldap-client")],
        only_web,
    );
    assert_eq!(f, vec![]);
}

#[test]
fn unreadable_and_missing_files_are_blockers_naming_the_path() {
    let a = appliance();
    let garbage = a.cert("tls-unreadable-garbage.pem");
    let config = a.config(
        "",
        &format!(
            "certificates = [{{ path = \"{garbage}\", use = \"web\" }}, {{ path = \"etc/appliance/certs/missing.pem\", use = \"web\" }}, {{ use = \"web\" }}]"
        ),
    );
    let f = a.findings(&config, RULE, None);
    assert_eq!(f.len(), 3, "{f:#?}");
    let by_path = |p: &str| {
        f.iter()
            .find(|f| f.value == p)
            .unwrap_or_else(|| panic!("{p}: {f:#?}"))
    };
    assert_finding(
        by_path(&garbage),
        "tls-unreadable",
        Blocker,
        &garbage,
        "product.certificates[0]",
        "PEM or DER",
    );
    let missing = by_path("etc/appliance/certs/missing.pem");
    assert!(missing.message.contains("cannot be read"), "{missing:#?}");
    assert!(
        f.iter()
            .any(|f| f.location.ends_with("product.certificates[2]")),
        "{f:#?}"
    );
}

#[test]
fn bad_parameters_name_the_rule_and_parameter() {
    let a = appliance();
    let config = a.config("", "");
    let e = a
        .eval(
            &config,
            "[[rules]]\nkind = \"tls-keys\"\nmin_rsa_bits = \"big\"\n",
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("tls-keys") && e.contains("min_rsa_bits"), "{e}");
    let e = a
        .eval(
            &config,
            "[[rules]]\nkind = \"tls-keys\"\nforbid_signatures = [\"sha224\"]\n",
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("sha224"), "{e}");
}

#[test]
fn a_huge_file_is_refused_unread() {
    let a = appliance();
    a.write("etc/appliance/certs/disk.img", &"0".repeat(2 << 20));
    let config = a.config(
        "",
        "certificates = [{ path = \"etc/appliance/certs/disk.img\", use = \"web\" }]",
    );
    let f = a.findings(&config, RULE, None);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "tls-unreadable",
        Blocker,
        "etc/appliance/certs/disk.img",
        "product.certificates[0]",
        "correct the path",
    );
    assert!(
        f[0].message.contains("larger than 1024 KiB"),
        "{}",
        f[0].message
    );
}

#[test]
fn private_keys_are_sized_in_every_pem_form() {
    assert_eq!(
        one(&[
            ("ok-rsa-2048-pkcs8.key", "web"),
            ("ok-rsa-2048-pkcs1.key", "web"),
            ("ok-ec-p224-sec1.key", "ldap-client"),
            ("ok-key-and-cert.pem", "web"),
        ]),
        vec![]
    );
    for (file, value) in [
        ("tls-key-size-rsa-1024-pkcs8.key", "RSA 1024 bits"),
        ("tls-key-size-rsa-1024-pkcs1.key", "RSA 1024 bits"),
        ("tls-key-size-ec-p192-sec1.key", "EC 192 bits"),
        ("tls-key-size-good-cert-weak-key.pem", "RSA 1024 bits"),
    ] {
        let f = one(&[(file, "web")]);
        assert_eq!(f.len(), 1, "{file}: {f:#?}");
        assert_finding(
            &f[0],
            "tls-key-size",
            Blocker,
            value,
            &format!("private key in etc/appliance/certs/{file}, product.certificates[0]"),
            "Replace the key and its certificate",
        );
    }
    // An encrypted key cannot be sized: a warning, not a silent pass.
    let f = one(&[("tls-key-size-encrypted.key", "web")]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        f[0].severity,
        upgrade_core::check::finding::Severity::Warning
    );
    assert_eq!(f[0].value, "ENCRYPTED PRIVATE KEY");
    // The summary counts the keys.
    let a = appliance();
    let config = a.config(
        "",
        &format!(
            "certificates = [{{ path = \"{}\", use = \"web\" }}]",
            a.cert("ok-key-and-cert.pem")
        ),
    );
    let out = a.eval(&config, RULE, None).unwrap();
    assert_eq!(
        out[0].summary,
        "1 certificate(s) and 1 private key(s) in 1 file(s) checked, 0 exempt by use"
    );
}

#[test]
fn rsassa_pss_with_sha1_is_refused() {
    assert_eq!(one(&[("ok-pss-sha256.pem", "web")]), vec![]);
    let f = one(&[("tls-signature-pss-sha1.pem", "web")]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "tls-signature",
        Blocker,
        "RSASSA-PSS",
        "CN=pss-sha1.test",
        "SHA-256",
    );
    assert!(f[0].message.contains("SHA1"), "{f:#?}");
}

#[test]
fn trust_store_entries_and_decryption_keys() {
    assert_eq!(one(&[("ok-trusted-root-ca.pem", "trust-store")]), vec![]);
    assert_eq!(
        one(&[("exempt-rsa-1024-signing.pem", "decryption")]),
        vec![]
    );
}

#[test]
fn a_pipe_or_directory_is_refused_without_blocking() {
    let a = appliance();
    let fifo = a.root.resolve("etc/appliance/certs/web.fifo");
    std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("this test needs mkfifo (coreutils)");
    assert!(made.success(), "mkfifo {} failed", fifo.display());
    let config = a.config(
        "",
        "certificates = [{ path = \"etc/appliance/certs/web.fifo\", use = \"web\" }, { path = \"etc/appliance/certs\", use = \"web\" }]",
    );
    let f = a.findings(&config, RULE, None);
    assert_eq!(f.len(), 2, "{f:#?}");
    for f in &f {
        assert_eq!(f.rule, "tls-unreadable");
        assert!(f.message.contains("not a regular file"), "{f:#?}");
    }
}
