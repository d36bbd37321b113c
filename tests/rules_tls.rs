//! The `tls-keys` rule on real certificates and keys made with openssl at test time:
//! each boundary (RSA 2047/2048, P-192/P-224, DSA), SHA-1 root CA accepted while a
//! SHA-1 intermediate or leaf is refused, MD5, private keys, exempt uses, and files
//! that cannot be read. Fixture files are named after the rule they break (`ok_`
//! when they break none).

mod rules_support;

use rules_support::*;
use upgrade_console::finding::Severity::Blocker;

const RULE: &str = "[[rules]]\nkind = \"tls-keys\"\n";

/// `[product]` naming files under etc/appliance/certs with their uses.
fn product(entries: &[(&str, &str)]) -> String {
    let items: Vec<String> = entries
        .iter()
        .map(|(f, u)| format!("{{ path = \"etc/appliance/certs/{f}\", use = \"{u}\" }}"))
        .collect();
    format!("[product]\ncertificates = [{}]\n", items.join(", "))
}

fn tls(lab: &Lab, entries: &[(&str, &str)]) -> upgrade_console::finding::CheckOutcome {
    let cfg = config(&product(entries));
    let all = run(&lab.root, &cfg, RULE, "7.0.1").unwrap();
    outcome(&all, "tls-keys").clone()
}

#[test]
fn rsa_2047_is_refused_and_2048_accepted() {
    let lab = Lab::new();
    lab.sh(
        "leaf rsa2047 rsa:2047 sha256 $CERTS/tls-key-size_rsa2047.pem
         leaf rsa2048 rsa:2048 sha256 $CERTS/ok_rsa2048.pem",
    );
    let o = tls(&lab, &[("ok_rsa2048.pem", "web")]);
    assert!(o.findings.is_empty(), "{o:#?}");
    assert_eq!(o.summary, "1 certificate, 0 keys checked in 1 file");

    let o = tls(&lab, &[("tls-key-size_rsa2047.pem", "web")]);
    assert_eq!(o.findings.len(), 1, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "tls-key-size",
        Blocker,
        "RSA 2047 bits",
        "CN=rsa2047, etc/appliance/certs/tls-key-size_rsa2047.pem",
        "RSA of at least 2048 bits",
    );
    assert!(o.findings[0].message.contains("web certificate"), "{o:#?}");
}

#[test]
fn p192_is_refused_and_p224_accepted() {
    let lab = Lab::new();
    lab.sh(
        "leaf p192 ec:<(openssl ecparam -name prime192v1) sha256 $CERTS/tls-key-size_p192.pem
         leaf p224 ec:<(openssl ecparam -name secp224r1) sha256 $CERTS/ok_p224.pem
         leaf ed25519 ed25519 sha256 $CERTS/ok_ed25519.pem 2>/dev/null || openssl req -x509 -newkey ed25519 -nodes -keyout ed.key -out $CERTS/ok_ed25519.pem -days 30 -subj /CN=ed25519",
    );
    let o = tls(
        &lab,
        &[("ok_p224.pem", "ldap-client"), ("ok_ed25519.pem", "web")],
    );
    assert!(o.findings.is_empty(), "{o:#?}");

    let o = tls(&lab, &[("tls-key-size_p192.pem", "smtp-server")]);
    assert_eq!(o.findings.len(), 1, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "tls-key-size",
        Blocker,
        "ECC P-192 (192 bits)",
        "CN=p192, etc/appliance/certs/tls-key-size_p192.pem",
        "ECC of at least 224 bits",
    );
}

#[test]
fn sha1_root_ca_is_accepted_sha1_intermediate_and_leaf_refused() {
    let lab = Lab::new();
    lab.sh("ca root rsa:2048 sha1
         cp root.pem $CERTS/ok_sha1-root-ca.pem
         issue inter rsa:2048 sha1 root inter.pem ca
         issue site rsa:2048 sha256 inter site.pem leaf
         cat site.pem inter.pem root.pem > $CERTS/tls-signature-hash_sha1-intermediate.pem
         issue good-inter rsa:2048 sha256 root good-inter.pem ca
         issue sha1site rsa:2048 sha1 good-inter sha1site.pem leaf
         cat sha1site.pem good-inter.pem root.pem > $CERTS/tls-signature-hash_sha1-leaf.pem
         issue site2 rsa:2048 sha256 good-inter site2.pem leaf
         cat site2.pem good-inter.pem root.pem > $CERTS/ok_chain-with-sha1-root.pem");
    let o = tls(
        &lab,
        &[
            ("ok_sha1-root-ca.pem", "trusted-ca"),
            ("ok_chain-with-sha1-root.pem", "web"),
        ],
    );
    assert!(o.findings.is_empty(), "{o:#?}");
    assert_eq!(o.summary, "4 certificates, 0 keys checked in 2 files");

    let o = tls(
        &lab,
        &[(
            "tls-signature-hash_sha1-intermediate.pem",
            "connection-policy-tls",
        )],
    );
    assert_eq!(o.findings.len(), 1, "only the intermediate: {o:#?}");
    assert_finding(
        &o.findings[0],
        "tls-signature-hash",
        Blocker,
        "sha1WithRSAEncryption",
        "CN=inter, certificate 2 of 3 in etc/appliance/certs/tls-signature-hash_sha1-intermediate.pem",
        "intermediate CA certificate re-issued with a SHA-256 signature",
    );
    assert!(o.findings[0].message.contains("SHA-1"));

    let o = tls(&lab, &[("tls-signature-hash_sha1-leaf.pem", "web")]);
    assert_eq!(o.findings.len(), 1, "only the leaf: {o:#?}");
    assert_finding(
        &o.findings[0],
        "tls-signature-hash",
        Blocker,
        "sha1WithRSAEncryption",
        "CN=sha1site, certificate 1 of 3",
        "web certificate re-issued with a SHA-256 signature",
    );
}

#[test]
fn md5_signature_is_refused() {
    let lab = Lab::new();
    lab.sh("leaf md5 rsa:2048 md5 $CERTS/tls-signature-hash_md5.pem");
    let o = tls(&lab, &[("tls-signature-hash_md5.pem", "syslog-client")]);
    assert_eq!(o.findings.len(), 1, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "tls-signature-hash",
        Blocker,
        "md5WithRSAEncryption",
        "CN=md5, etc/appliance/certs/tls-signature-hash_md5.pem",
        "SHA-256",
    );
    assert!(o.findings[0].message.contains("MD5"));
}

#[test]
fn dsa_keys_under_2048_bits_are_refused() {
    let lab = Lab::new();
    lab.sh("openssl dsaparam -out dsa1024.param 1024 2>/dev/null
         openssl dsaparam -out dsa2048.param 2048 2>/dev/null
         leaf dsa1024 dsa:dsa1024.param sha256 $CERTS/tls-key-size_dsa1024.pem
         leaf dsa2048 dsa:dsa2048.param sha256 $CERTS/ok_dsa2048.pem");
    let o = tls(&lab, &[("ok_dsa2048.pem", "indexer")]);
    assert!(o.findings.is_empty(), "{o:#?}");
    let o = tls(&lab, &[("tls-key-size_dsa1024.pem", "indexer")]);
    assert_eq!(o.findings.len(), 1, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "tls-key-size",
        Blocker,
        "DSA 1024 bits",
        "CN=dsa1024",
        "2048",
    );
}

#[test]
fn private_keys_are_checked_in_every_pem_form() {
    let lab = Lab::new();
    lab.sh(
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out $CERTS/tls-key-size_rsa1024-pkcs8.key 2>/dev/null
         openssl rsa -in $CERTS/tls-key-size_rsa1024-pkcs8.key -traditional -out $CERTS/tls-key-size_rsa1024-pkcs1.key 2>/dev/null
         openssl ecparam -name prime192v1 -genkey -noout -out $CERTS/tls-key-size_p192-sec1.key
         openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime192v1 -out $CERTS/tls-key-size_p192-pkcs8.key 2>/dev/null
         openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $CERTS/ok_rsa2048.key 2>/dev/null
         openssl ecparam -name secp224r1 -genkey -noout -out $CERTS/ok_p224-sec1.key
         leaf combo rsa:2048 sha256 combo.pem
         cat combo.pem combo.key > $CERTS/ok_cert-and-key.pem",
    );
    let o = tls(
        &lab,
        &[
            ("ok_rsa2048.key", "web"),
            ("ok_p224-sec1.key", "web"),
            ("ok_cert-and-key.pem", "web"),
        ],
    );
    assert!(o.findings.is_empty(), "{o:#?}");
    assert_eq!(o.summary, "1 certificate, 3 keys checked in 3 files");

    for (file, value) in [
        ("tls-key-size_rsa1024-pkcs8.key", "RSA 1024 bits"),
        ("tls-key-size_rsa1024-pkcs1.key", "RSA 1024 bits"),
        ("tls-key-size_p192-sec1.key", "ECC P-192 (192 bits)"),
        ("tls-key-size_p192-pkcs8.key", "ECC P-192 (192 bits)"),
    ] {
        let o = tls(&lab, &[(file, "web")]);
        assert_eq!(o.findings.len(), 1, "{file}: {o:#?}");
        assert_finding(
            &o.findings[0],
            "tls-key-size",
            Blocker,
            value,
            &format!("private key in etc/appliance/certs/{file}"),
            "2048",
        );
    }
}

#[test]
fn signing_timestamping_and_encryption_uses_are_exempt() {
    let lab = Lab::new();
    lab.sh("leaf weak rsa:1024 sha1 $CERTS/tls-key-size_rsa1024-sha1.pem");
    let f = "tls-key-size_rsa1024-sha1.pem";
    let o = tls(
        &lab,
        &[
            (f, "signing"),
            (f, "timestamping"),
            (f, "encryption"),
            (f, "decryption"),
        ],
    );
    assert!(o.findings.is_empty(), "{o:#?}");
    assert!(o.summary.contains("4 exempt"), "{}", o.summary);
    // Every use the guides list is checked.
    for u in upgrade_console::rules::tls::CHECKED_USES {
        let o = tls(&lab, &[(f, u)]);
        let rules: Vec<&str> = o.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(
            rules,
            ["tls-key-size", "tls-signature-hash"],
            "use {u}: {o:#?}"
        );
    }
}

#[test]
fn der_certificates_are_read() {
    let lab = Lab::new();
    lab.sh("leaf der1024 rsa:1024 sha256 der.pem
         openssl x509 -in der.pem -outform DER -out $CERTS/tls-key-size_rsa1024.der");
    let o = tls(&lab, &[("tls-key-size_rsa1024.der", "web")]);
    assert_eq!(o.findings.len(), 1, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "tls-key-size",
        Blocker,
        "RSA 1024 bits",
        "CN=der1024",
        "2048",
    );
}

#[test]
fn unreadable_files_are_blockers_naming_the_path() {
    let lab = Lab::new();
    std::fs::write(
        lab.path("etc/appliance/certs/tls-file_garbage.pem"),
        b"not a certificate\n",
    )
    .unwrap();
    std::fs::write(
        lab.path("etc/appliance/certs/tls-file_bad-base64.pem"),
        b"-----BEGIN CERTIFICATE-----\nMIIB!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let o = tls(
        &lab,
        &[
            ("tls-file_missing.pem", "splunk-server"),
            ("tls-file_garbage.pem", "web"),
            ("tls-file_bad-base64.pem", "web"),
        ],
    );
    assert_eq!(o.findings.len(), 3, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "tls-file",
        Blocker,
        "etc/appliance/certs/tls-file_missing.pem",
        "etc/appliance/appliance.toml: product.certificates[0].path",
        "Restore the file",
    );
    assert!(o.findings[0].message.contains("cannot read it"), "{o:#?}");
    assert_finding(
        &o.findings[1],
        "tls-file",
        Blocker,
        "etc/appliance/certs/tls-file_garbage.pem",
        "etc/appliance/certs/tls-file_garbage.pem",
        "Restore the file",
    );
    assert_eq!(o.findings[2].rule, "tls-file", "{o:#?}");

    // A malformed list is a configuration finding, not a crash.
    let cfg = config("[product]\ncertificates = [{ use = \"web\" }]\n");
    let all = run(&lab.root, &cfg, RULE, "7.0.1").unwrap();
    let o = outcome(&all, "tls-keys");
    assert_finding(
        &o.findings[0],
        "tls-file",
        Blocker,
        "use",
        "product.certificates[0]",
        "path",
    );
}

#[test]
fn thresholds_come_from_the_manifest() {
    let lab = Lab::new();
    lab.sh("leaf rsa2048 rsa:2048 sha256 $CERTS/ok_rsa2048.pem");
    let cfg = config(&product(&[("ok_rsa2048.pem", "web")]));
    let all = run(
        &lab.root,
        &cfg,
        "[[rules]]\nkind = \"tls-keys\"\nmin_rsa_bits = 3072\n",
        "7.0.1",
    )
    .unwrap();
    let o = outcome(&all, "tls-keys");
    assert_eq!(o.findings.len(), 1);
    assert!(
        o.findings[0].message.contains("shorter than 3072"),
        "{o:#?}"
    );
}

#[test]
fn truncated_and_corrupted_files_are_findings_not_crashes() {
    let lab = Lab::new();
    lab.sh(
        "leaf cut rsa:2048 sha256 cut.pem
         openssl x509 -in cut.pem -outform DER -out cut.der",
    );
    let der = std::fs::read(lab.work.join("cut.der")).unwrap();
    let pem = std::fs::read(lab.work.join("cut.pem")).unwrap();
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for n in (0..der.len()).step_by(23) {
        cases.push(der[..n].to_vec());
        let mut flipped = der.clone();
        flipped[n] ^= 0xff;
        cases.push(flipped);
    }
    for n in (30..pem.len()).step_by(41) {
        cases.push(pem[..n].to_vec());
    }
    for (i, bytes) in cases.iter().enumerate() {
        let name = format!("tls-file_corrupt-{i}.pem");
        std::fs::write(lab.path(&format!("etc/appliance/certs/{name}")), bytes).unwrap();
        // Every case yields an outcome; the rule never panics.
        let o = tls(&lab, &[(&name, "web")]);
        assert_eq!(o.check, "tls-keys");
    }
}
