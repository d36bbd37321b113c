//! The `ssh-keys` rule on real keys made with ssh-keygen and openssl at test time:
//! DSA refused, RSA-768 and RSA-1023 refused while RSA-1024 passes, Ed25519 and ECDSA
//! pass, X.509 host certificates refused, every file form read. Fixture files are
//! named after the rule they break (`ok_` when they break none).

mod rules_support;

use rules_support::*;
use upgrade_console::finding::Severity::Blocker;

const RULE: &str = "[[rules]]\nkind = \"ssh-keys\"\n";

fn product(entries: &[(&str, &str)]) -> String {
    let items: Vec<String> = entries
        .iter()
        .map(|(f, u)| format!("{{ path = \"etc/appliance/keys/{f}\", use = \"{u}\" }}"))
        .collect();
    format!("[product]\nssh_keys = [{}]\n", items.join(", "))
}

fn ssh(lab: &Lab, entries: &[(&str, &str)]) -> upgrade_console::finding::CheckOutcome {
    let cfg = config(&product(entries));
    let all = run(&lab.root, &cfg, RULE, "7.0.1").unwrap();
    outcome(&all, "ssh-keys").clone()
}

#[test]
fn ed25519_ecdsa_and_rsa_1024_pass() {
    let lab = Lab::new();
    lab.sh(
        "ssh-keygen -q -t ed25519 -N '' -C host-ed -f ed && cp ed.pub $KEYS/ok_ed25519.pub
         ssh-keygen -q -t ecdsa -b 256 -N '' -f ec && cp ec.pub $KEYS/ok_ecdsa.pub
         ssh-keygen -q -t rsa -b 1024 -N '' -f r1024 && cp r1024.pub $KEYS/ok_rsa1024.pub
         cp ed $KEYS/ok_ed25519-private
         (echo '# support keys'; echo; echo \"from=\\\"10.0.0.0/8\\\",no-pty $(cat ec.pub)\"; cat ed.pub) > $KEYS/ok_authorized_keys
         echo \"sps-1,10.0.0.5 $(cat ed.pub)\" > $KEYS/ok_known_hosts",
    );
    let o = ssh(
        &lab,
        &[
            ("ok_ed25519.pub", "ssh-host"),
            ("ok_ecdsa.pub", "ssh-host"),
            ("ok_rsa1024.pub", "ssh-client"),
            ("ok_ed25519-private", "ssh-host"),
            ("ok_authorized_keys", "authorized-keys"),
            ("ok_known_hosts", "known-hosts"),
        ],
    );
    assert!(o.findings.is_empty(), "{o:#?}");
    assert_eq!(o.summary, "7 SSH keys checked in 6 files");
}

#[test]
fn dsa_keys_are_refused_public_and_private() {
    let lab = Lab::new();
    lab.sh("ssh-keygen -q -t dsa -N '' -C old-host -f dsa
         cp dsa.pub $KEYS/ssh-key-dsa.pub
         cp dsa $KEYS/ssh-key-dsa_private");
    let o = ssh(
        &lab,
        &[
            ("ssh-key-dsa.pub", "ssh-host"),
            ("ssh-key-dsa_private", "ssh-host"),
        ],
    );
    assert_eq!(o.findings.len(), 2, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "ssh-key-dsa",
        Blocker,
        "ssh-dss 1024 bits, SHA256:",
        "etc/appliance/keys/ssh-key-dsa.pub line 1 (old-host)",
        "Replace it with an Ed25519 or RSA key",
    );
    assert_finding(
        &o.findings[1],
        "ssh-key-dsa",
        Blocker,
        "ssh-dss",
        "etc/appliance/keys/ssh-key-dsa_private (old-host)",
        "Ed25519",
    );
    // The same key, the same fingerprint.
    let fp =
        |f: &upgrade_console::finding::Finding| f.value.split(", ").nth(1).unwrap().to_string();
    assert_eq!(fp(&o.findings[0]), fp(&o.findings[1]));
}

#[test]
fn rsa_768_and_1023_are_refused() {
    let lab = Lab::new();
    lab.sh(
        "ssh_rsa 768 $KEYS/ssh-key-size_rsa768.pub legacy@jump
         ssh_rsa 1023 $KEYS/ssh-key-size_rsa1023.pub odd@host
         openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:768 2>/dev/null | openssl rsa -traditional -out $KEYS/ssh-key-size_rsa768-pem 2>/dev/null",
    );
    let o = ssh(
        &lab,
        &[
            ("ssh-key-size_rsa768.pub", "ssh-client"),
            ("ssh-key-size_rsa1023.pub", "ssh-client"),
            ("ssh-key-size_rsa768-pem", "ssh-host"),
        ],
    );
    assert_eq!(o.findings.len(), 3, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "ssh-key-size",
        Blocker,
        "ssh-rsa 768 bits, SHA256:",
        "etc/appliance/keys/ssh-key-size_rsa768.pub line 1 (legacy@jump)",
        "Generate a new Ed25519 key",
    );
    assert!(
        o.findings[0].message.contains("shorter than 1024 bits"),
        "{o:#?}"
    );
    assert_finding(
        &o.findings[1],
        "ssh-key-size",
        Blocker,
        "ssh-rsa 1023 bits",
        "ssh-key-size_rsa1023.pub line 1",
        "Ed25519",
    );
    assert_finding(
        &o.findings[2],
        "ssh-key-size",
        Blocker,
        "ssh-rsa 768 bits",
        "etc/appliance/keys/ssh-key-size_rsa768-pem",
        "Ed25519",
    );
}

#[test]
fn x509_host_certificates_are_refused() {
    let lab = Lab::new();
    lab.sh(
        "leaf hostcert rsa:2048 sha256 hostcert.pem
         cp hostcert.pem $KEYS/ssh-key-x509.pem
         printf 'x509v3-sign-rsa %s host@sps\\n' \"$(openssl x509 -in hostcert.pem -outform DER | base64 -w0)\" > $KEYS/ssh-key-x509.pub",
    );
    let o = ssh(
        &lab,
        &[
            ("ssh-key-x509.pub", "ssh-host"),
            ("ssh-key-x509.pem", "ssh-host"),
        ],
    );
    assert_eq!(o.findings.len(), 2, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "ssh-key-x509",
        Blocker,
        "X.509 host certificate (x509v3-sign-rsa)",
        "ssh-key-x509.pub line 1 (host@sps)",
        "plain Ed25519 or RSA host key",
    );
    assert_finding(
        &o.findings[1],
        "ssh-key-x509",
        Blocker,
        "PEM certificate",
        "etc/appliance/keys/ssh-key-x509.pem",
        "plain",
    );
}

#[test]
fn openssh_certificates_are_judged_by_their_key() {
    let lab = Lab::new();
    lab.sh("ssh-keygen -q -t ed25519 -N '' -f userca
         ssh-keygen -q -t ed25519 -N '' -f user
         ssh-keygen -q -s userca -I user -n root user.pub
         cp user-cert.pub $KEYS/ok_user-cert.pub
         ssh-keygen -q -t rsa -b 2048 -N '' -f rsauser
         ssh-keygen -q -s userca -I rsauser -n root -V +52w rsauser.pub
         cp rsauser-cert.pub $KEYS/ok_rsa-cert.pub
         ssh-keygen -q -t dsa -N '' -f dsauser
         ssh-keygen -q -s userca -I dsauser -n root dsauser.pub
         cp dsauser-cert.pub $KEYS/ssh-key-dsa-cert.pub");
    let o = ssh(
        &lab,
        &[
            ("ok_user-cert.pub", "ssh-client"),
            ("ok_rsa-cert.pub", "ssh-client"),
        ],
    );
    assert!(o.findings.is_empty(), "{o:#?}");
    assert_eq!(o.summary, "2 SSH keys checked in 2 files");
    let o = ssh(&lab, &[("ssh-key-dsa-cert.pub", "ssh-client")]);
    assert_eq!(o.findings.len(), 1, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "ssh-key-dsa",
        Blocker,
        "ssh-dss 1024 bits",
        "ssh-key-dsa-cert.pub line 1",
        "Ed25519",
    );
}

#[test]
fn unreadable_key_files_are_blockers_naming_the_path() {
    let lab = Lab::new();
    std::fs::write(
        lab.path("etc/appliance/keys/ssh-key-file_garbage.pub"),
        "hello world\n",
    )
    .unwrap();
    std::fs::write(
        lab.path("etc/appliance/keys/ssh-key-file_bad-base64.pub"),
        "ssh-ed25519 AAAA!!!! x\n",
    )
    .unwrap();
    let o = ssh(
        &lab,
        &[
            ("ssh-key-file_missing.pub", "ssh-host"),
            ("ssh-key-file_garbage.pub", "ssh-host"),
            ("ssh-key-file_bad-base64.pub", "ssh-host"),
        ],
    );
    assert_eq!(o.findings.len(), 3, "{o:#?}");
    for (i, f) in o.findings.iter().enumerate() {
        assert_finding(
            f,
            "ssh-key-file",
            Blocker,
            "etc/appliance/keys/ssh-key-file_",
            &format!("etc/appliance/appliance.toml: product.ssh_keys[{i}].path"),
            "Restore the key file",
        );
    }
    assert!(
        o.findings[1]
            .message
            .contains("line 1 is not an OpenSSH public key")
    );
}

#[test]
fn dsa_can_be_allowed_by_the_manifest() {
    let lab = Lab::new();
    lab.sh("ssh-keygen -q -t dsa -N '' -f dsa && cp dsa.pub $KEYS/ok_dsa-allowed.pub");
    let cfg = config(&product(&[("ok_dsa-allowed.pub", "ssh-host")]));
    let all = run(
        &lab.root,
        &cfg,
        "[[rules]]\nkind = \"ssh-keys\"\nrefuse_dsa = false\n",
        "7.0.1",
    )
    .unwrap();
    assert!(outcome(&all, "ssh-keys").findings.is_empty());
}
