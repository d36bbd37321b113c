//! The `ssh-keys` rule: after the upgrade SSH keys shorter than 1024 bits no longer
//! work, DSA keys and X.509 host certificates are no longer supported. Ed25519, ECDSA
//! and RSA of at least 1024 bits pass.

use super::tls::{KeyStrength, bit_len, private_key_strength};
use super::{
    KeyFileRef, key_file_refs, plural, product_location, quote_safe, read_key_file, show_value,
};
use crate::finding::{CheckOutcome, Finding};
use crate::root::ApplianceRoot;
use serde::Deserialize;
use ssh_key::public::KeyData;
use ssh_key::{HashAlg, PrivateKey, PublicKey};

pub const CHECK: &str = "ssh-keys";
pub const RULE_SIZE: &str = "ssh-key-size";
pub const RULE_DSA: &str = "ssh-key-dsa";
pub const RULE_X509: &str = "ssh-key-x509";
pub const RULE_FILE: &str = "ssh-key-file";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshParams {
    #[serde(default = "default_1024")]
    pub min_rsa_bits: u32,
    #[serde(default = "yes")]
    pub refuse_dsa: bool,
    #[serde(default = "yes")]
    pub refuse_x509: bool,
}

impl Default for SshParams {
    fn default() -> Self {
        SshParams {
            min_rsa_bits: 1024,
            refuse_dsa: true,
            refuse_x509: true,
        }
    }
}

fn default_1024() -> u32 {
    1024
}
fn yes() -> bool {
    true
}

/// One key found in a file: where, its algorithm and strength, its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKeyInfo {
    /// "path line 3 (comment)"
    pub place: String,
    pub kind: SshKind,
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshKind {
    Rsa(u32),
    Dsa(u32),
    Ecdsa(String),
    Ed25519,
    /// An X.509 host certificate (`x509v3-*` or a PEM certificate).
    X509(String),
    Other(String),
}

impl std::fmt::Display for SshKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SshKind::Rsa(b) => write!(f, "ssh-rsa {b} bits"),
            SshKind::Dsa(b) => write!(f, "ssh-dss {b} bits"),
            SshKind::Ecdsa(c) => write!(f, "ecdsa {c}"),
            SshKind::Ed25519 => f.write_str("ssh-ed25519"),
            SshKind::X509(a) => write!(f, "X.509 host certificate ({a})"),
            SshKind::Other(a) => f.write_str(a),
        }
    }
}

fn kind_of(k: &KeyData) -> SshKind {
    match k {
        KeyData::Rsa(r) => SshKind::Rsa(bit_len(r.n.as_bytes())),
        KeyData::Dsa(d) => SshKind::Dsa(bit_len(d.p.as_bytes())),
        KeyData::Ecdsa(e) => SshKind::Ecdsa(e.curve().to_string()),
        KeyData::SkEcdsaSha2NistP256(_) => SshKind::Ecdsa("sk-nistp256".into()),
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) => SshKind::Ed25519,
        other => SshKind::Other(other.algorithm().to_string()),
    }
}

/// Parses every key in one file: OpenSSH public key lines (authorized_keys and
/// known_hosts forms too), OpenSSH certificates, an OpenSSH private key, a PEM
/// private key, or a PEM X.509 certificate. Errors say why the file is unreadable.
pub fn keys_in(bytes: &[u8], label: &str) -> Result<Vec<SshKeyInfo>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not a text key file".to_string())?;
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        let k = PrivateKey::from_openssh(text)
            .map_err(|e| format!("the OpenSSH private key cannot be read ({e})"))?;
        let comment = k.comment();
        return Ok(vec![SshKeyInfo {
            place: with_comment(label, comment),
            kind: kind_of(k.public_key().key_data()),
            fingerprint: Some(k.fingerprint(HashAlg::Sha256).to_string()),
        }]);
    }
    if text.contains("-----BEGIN CERTIFICATE-----") {
        return Ok(vec![SshKeyInfo {
            place: label.to_string(),
            kind: SshKind::X509("PEM certificate".into()),
            fingerprint: None,
        }]);
    }
    if text.contains("PRIVATE KEY-----") {
        let mut out = Vec::new();
        for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
            let pem = pem.map_err(|e| format!("a PEM block cannot be read ({e})"))?;
            let kind = match private_key_strength(&pem.label, &pem.contents) {
                Some(KeyStrength::Rsa(b)) => SshKind::Rsa(b),
                Some(KeyStrength::Dsa(b)) => SshKind::Dsa(b),
                Some(KeyStrength::Ec { curve, .. }) => SshKind::Ecdsa(curve),
                Some(KeyStrength::Edwards(_)) => SshKind::Ed25519,
                Some(KeyStrength::Unknown(o)) => SshKind::Other(o),
                None => return Err(format!("the {} cannot be read", pem.label.to_lowercase())),
            };
            out.push(SshKeyInfo {
                place: label.to_string(),
                kind,
                fingerprint: None,
            });
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let place = format!("{label} line {}", i + 1);
        // The key starts at its algorithm name; authorized_keys options or a
        // known_hosts host list may come first.
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| {
            w.starts_with("ssh-")
                || w.starts_with("ecdsa-")
                || w.starts_with("sk-")
                || w.starts_with("x509v3-")
                || w.starts_with("rsa-sha2-")
        }) else {
            return Err(format!("line {} is not an OpenSSH public key", i + 1));
        };
        let alg = words[at];
        let comment = words.get(at + 2..).map(|c| c.join(" ")).unwrap_or_default();
        let place = with_comment(&place, &comment);
        if alg.starts_with("x509v3-") {
            out.push(SshKeyInfo {
                place,
                kind: SshKind::X509(quote_safe(alg)),
                fingerprint: None,
            });
            continue;
        }
        let key_text = words[at..].join(" ");
        if alg.contains("-cert-v01@openssh.com") {
            // ssh-key refuses certificates valid "forever" (the ssh-keygen default),
            // so the certified key is read from the wire format here.
            let kind = words
                .get(at + 1)
                .and_then(|b| base64_decode(b))
                .and_then(|blob| certified_key(&blob))
                .ok_or_else(|| format!("line {}: the OpenSSH certificate cannot be read", i + 1))?;
            out.push(SshKeyInfo {
                place,
                kind,
                fingerprint: None,
            });
            continue;
        }
        let k = PublicKey::from_openssh(&key_text)
            .map_err(|e| format!("line {}: the public key cannot be read ({e})", i + 1))?;
        out.push(SshKeyInfo {
            place,
            kind: kind_of(k.key_data()),
            fingerprint: Some(k.fingerprint(HashAlg::Sha256).to_string()),
        });
    }
    if out.is_empty() {
        return Err("it holds no key".into());
    }
    Ok(out)
}

/// Standard base64 (padding optional), as in OpenSSH key lines.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut n) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((acc >> n) as u8);
        }
    }
    Some(out)
}

/// Reads one SSH wire-format string (u32 length, bytes).
fn wire_string<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    let s = buf.get(4..4usize.checked_add(len)?)?;
    *buf = &buf[4 + len..];
    Some(s)
}

/// The key inside an OpenSSH certificate blob (PROTOCOL.certkeys: type, nonce, then
/// the key's own fields).
fn certified_key(blob: &[u8]) -> Option<SshKind> {
    let mut b = blob;
    let alg = std::str::from_utf8(wire_string(&mut b)?).ok()?.to_string();
    wire_string(&mut b)?; // nonce
    Some(match alg.as_str() {
        "ssh-rsa-cert-v01@openssh.com" => {
            wire_string(&mut b)?; // e
            SshKind::Rsa(bit_len(wire_string(&mut b)?))
        }
        "ssh-dss-cert-v01@openssh.com" => SshKind::Dsa(bit_len(wire_string(&mut b)?)),
        "ssh-ed25519-cert-v01@openssh.com" | "sk-ssh-ed25519-cert-v01@openssh.com" => {
            SshKind::Ed25519
        }
        a if a.starts_with("ecdsa-sha2-") || a.starts_with("sk-ecdsa-sha2-") => {
            SshKind::Ecdsa(String::from_utf8_lossy(wire_string(&mut b)?).into_owned())
        }
        other => SshKind::Other(quote_safe(other)),
    })
}

fn with_comment(place: &str, comment: &str) -> String {
    if comment.is_empty() {
        place.to_string()
    } else {
        format!("{place} ({})", quote_safe(comment))
    }
}

/// The findings for one key.
pub fn judge(key: &SshKeyInfo, usage: &str, p: &SshParams) -> Option<Finding> {
    let value = match &key.fingerprint {
        Some(fp) => format!("{}, {fp}", key.kind),
        None => key.kind.to_string(),
    };
    let f = match &key.kind {
        SshKind::Rsa(b) if *b < p.min_rsa_bits => Finding::blocker(
            RULE_SIZE,
            format!(
                "the {usage} RSA key of {b} bits is shorter than {} bits and stops working after the upgrade",
                p.min_rsa_bits
            ),
        )
        .fix("Generate a new Ed25519 key (or RSA of at least 3072 bits), install it in place of this one, then run the test again."),
        SshKind::Dsa(_) if p.refuse_dsa => Finding::blocker(
            RULE_DSA,
            format!("the {usage} key is a DSA key: the new firmware does not support DSA keys for SSH"),
        )
        .fix("Replace it with an Ed25519 or RSA key and remove the DSA key, then run the test again."),
        SshKind::X509(_) if p.refuse_x509 => Finding::blocker(
            RULE_X509,
            format!("the {usage} key is an X.509 host certificate: the new firmware supports only plain public keys for SSH"),
        )
        .fix("Replace the X.509 host certificate with a plain Ed25519 or RSA host key, then run the test again."),
        _ => return None,
    };
    Some(f.value(value).at(key.place.clone()))
}

/// Runs the rule over `product.ssh_keys`.
pub fn check(root: &ApplianceRoot, product: &toml::Table, p: &SshParams) -> CheckOutcome {
    let (refs, mut findings) = key_file_refs(product, "ssh_keys", RULE_FILE);
    let mut keys = 0usize;
    for r in &refs {
        findings.extend(check_ref(root, r, p, &mut keys));
    }
    CheckOutcome {
        check: CHECK.into(),
        summary: format!(
            "{} checked in {}",
            plural(keys, "SSH key", "SSH keys"),
            plural(refs.len(), "file", "files")
        ),
        findings,
    }
}

fn check_ref(
    root: &ApplianceRoot,
    r: &KeyFileRef,
    p: &SshParams,
    keys: &mut usize,
) -> Vec<Finding> {
    let usage = if r.usage.is_empty() {
        "SSH".to_string()
    } else {
        quote_safe(&r.usage)
    };
    let unreadable = |why: String| {
        Finding::blocker(
            RULE_FILE,
            format!("the {usage} key file {} cannot be checked: {why}", r.path),
        )
        .value(show_value(&toml::Value::String(r.path.clone())))
        .at(product_location(&format!("{}.path", r.key)))
        .fix(format!(
            "Restore the key file (OpenSSH format) or correct product.{}.path, then run the test again.",
            r.key
        ))
    };
    let bytes = match read_key_file(root, &r.path) {
        Ok(b) => b,
        Err(why) => return vec![unreadable(why)],
    };
    // A parser bug on a hostile file must be a finding, not a crash of the test.
    let parsed = std::panic::catch_unwind(|| keys_in(&bytes, &r.path))
        .unwrap_or_else(|_| Err("the key parser failed on it".into()));
    match parsed {
        Ok(found) => {
            *keys += found.len();
            found.iter().filter_map(|k| judge(k, &usage, p)).collect()
        }
        Err(why) => vec![unreadable(why)],
    }
}
