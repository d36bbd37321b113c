//! The `ssh-keys` rule on real keys made with ssh-keygen (and openssl for the RSA
//! sizes ssh-keygen refuses to make) at test time.

use crate::support::rules::{appliance, assert_finding};
use upgrade_core::check::finding::{Finding, Severity::Blocker};

const RULE: &str = "[[rules]]\nkind = \"ssh-keys\"\n";

fn check_with(keys: &[&str], rules: &str) -> Vec<Finding> {
    let a = appliance();
    let list: Vec<String> = keys
        .iter()
        .map(|name| format!("{{ path = \"{}\", use = \"ssh-host\" }}", a.key(name)))
        .collect();
    let config = a.config("", &format!("ssh_keys = [{}]", list.join(", ")));
    a.findings(&config, rules, Some("7.0.1"))
}

fn check(keys: &[&str]) -> Vec<Finding> {
    check_with(keys, RULE)
}

#[test]
fn ed25519_ecdsa_and_rsa_from_1024_bits_pass() {
    let f = check(&[
        "ok-ed25519.pub",
        "ok-ecdsa-p256.pub",
        "ok-rsa-1024.pub",
        "ok-rsa-3072.pub",
        "ok-ed25519", // an OpenSSH private key
        "ok-rsa-1024",
        "ok-ed25519-cert.pub", // an OpenSSH host certificate, not X.509
    ]);
    assert_eq!(f, vec![]);
}

#[test]
fn rsa_768_and_1023_are_refused() {
    let f = check(&["ssh-key-size-rsa-768.pub", "ssh-key-size-rsa-1023.pub"]);
    assert_eq!(f.len(), 2, "{f:#?}");
    assert_finding(
        &f[0],
        "ssh-key-size",
        Blocker,
        "ssh-rsa 768 bits",
        "etc/appliance/keys/ssh-key-size-rsa-768.pub, product.ssh_keys[0]",
        "ssh-keygen -t ed25519",
    );
    assert_finding(
        &f[1],
        "ssh-key-size",
        Blocker,
        "ssh-rsa 1023 bits",
        "product.ssh_keys[1]",
        "Ed25519",
    );
}

#[test]
fn an_openssh_certificate_is_judged_by_its_key() {
    assert_eq!(check(&["ok-rsa-1024-cert.pub"]), vec![]);
    let f = check(&["ssh-key-type-dsa-cert.pub"]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "ssh-key-type",
        Blocker,
        "ssh-dss",
        "ssh-key-type-dsa-cert.pub",
        "Ed25519",
    );
    // The RSA key inside the certificate is measured.
    let rules = "[[rules]]\nkind = \"ssh-keys\"\nmin_rsa_bits = 2048\n";
    let f = check_with(&["ok-rsa-1024-cert.pub"], rules);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "ssh-key-size",
        Blocker,
        "ssh-rsa 1024 bits",
        "ok-rsa-1024-cert.pub",
        "Ed25519",
    );
}

#[test]
fn dsa_is_refused_as_public_and_private_key() {
    let f = check(&["ssh-key-type-dsa.pub", "ssh-key-type-dsa"]);
    assert_eq!(f.len(), 2, "{f:#?}");
    assert_finding(
        &f[0],
        "ssh-key-type",
        Blocker,
        "ssh-dss",
        "ssh-key-type-dsa.pub, product.ssh_keys[0]",
        "Ed25519",
    );
    assert_finding(
        &f[1],
        "ssh-key-type",
        Blocker,
        "ssh-dss",
        "keys/ssh-key-type-dsa, product.ssh_keys[1]",
        "Ed25519",
    );
}

#[test]
fn a_dsa_key_among_good_ones_is_found_by_line() {
    let f = check(&["ssh-key-type-dsa-in-authorized-keys.pub"]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "ssh-key-type",
        Blocker,
        "ssh-dss",
        "ssh-key-type-dsa-in-authorized-keys.pub line 5, product.ssh_keys[0]",
        "Ed25519",
    );
}

#[test]
fn x509_host_certificates_are_refused() {
    let f = check(&["ssh-key-type-x509-host-cert.pem", "ssh-key-type-x509v3.pub"]);
    assert_eq!(f.len(), 2, "{f:#?}");
    for (i, f) in f.iter().enumerate() {
        assert_finding(
            f,
            "ssh-key-type",
            Blocker,
            "X.509 certificate",
            &format!("product.ssh_keys[{i}]"),
            "plain OpenSSH host key",
        );
    }
}

#[test]
fn parameters_change_the_limits() {
    let rules = "[[rules]]\nkind = \"ssh-keys\"\nmin_rsa_bits = 2048\nforbid = [\"x509\"]\n";
    let f = check_with(&["ok-rsa-1024.pub", "ssh-key-type-dsa.pub"], rules);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "ssh-key-size",
        Blocker,
        "ssh-rsa 1024 bits",
        "ok-rsa-1024.pub",
        "Ed25519",
    );
}

#[test]
fn unreadable_and_missing_keys_are_blockers_naming_the_path() {
    let a = appliance();
    let garbage = a.key("ssh-unreadable-garbage.pub");
    let config = a.config(
        "",
        &format!(
            "ssh_keys = [{{ path = \"{garbage}\", use = \"ssh-host\" }}, {{ path = \"etc/appliance/keys/none.pub\", use = \"ssh-host\" }}]"
        ),
    );
    let f = a.findings(&config, RULE, None);
    assert_eq!(f.len(), 2, "{f:#?}");
    assert_finding(
        &f[0],
        "ssh-unreadable",
        Blocker,
        &garbage,
        "product.ssh_keys[0]",
        "OpenSSH format",
    );
    assert_finding(
        &f[1],
        "ssh-unreadable",
        Blocker,
        "etc/appliance/keys/none.pub",
        "product.ssh_keys[1]",
        "correct the path",
    );
    // An unknown parameter is refused, not ignored.
    let e = a
        .eval(
            &config,
            "[[rules]]\nkind = \"ssh-keys\"\nmax_age_days = 3\n",
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_age_days") && e.contains("ssh-keys"), "{e}");
}

#[test]
fn legacy_pem_private_host_keys_are_sized() {
    // Older OpenSSH wrote RSA host keys in PEM: readable, and judged like the rest.
    assert_eq!(check(&["ok-rsa-2048-pem", "ok-ecdsa-pem"]), vec![]);
    let f = check(&["ssh-key-size-rsa-768-pem", "ssh-key-size-rsa-768-pkcs8"]);
    assert_eq!(f.len(), 2, "{f:#?}");
    for (i, f) in f.iter().enumerate() {
        assert_finding(
            f,
            "ssh-key-size",
            Blocker,
            "ssh-rsa 768 bits",
            &format!("product.ssh_keys[{i}]"),
            "Ed25519",
        );
    }
}
