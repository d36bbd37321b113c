//! SSH keys the new firmware refuses: RSA under 1024 bits, DSA, and X.509 host
//! certificates. Ed25519, ECDSA and RSA of 1024 bits or more are accepted.

use super::params::Params;
use super::tls::bits_of;
use super::{FileEntry, RuleError, RuleInput, file_entries, read_key_file};
use crate::check::finding::{CheckOutcome, Finding};
use ssh_key::public::KeyData;
use ssh_key::{PrivateKey, PublicKey};

pub const RULE_SIZE: &str = "ssh-key-size";
pub const RULE_TYPE: &str = "ssh-key-type";
pub const RULE_UNREADABLE: &str = "ssh-unreadable";

struct Limits {
    rsa: u32,
    dsa: bool,
    x509: bool,
}

pub(crate) fn run(input: &RuleInput, p: Params) -> Result<CheckOutcome, RuleError> {
    p.allow(&["min_rsa_bits", "forbid"])?;
    let forbid = p.list_or("forbid", &["dsa", "x509"])?;
    for f in &forbid {
        if !matches!(f.as_str(), "dsa" | "x509") {
            return Err(p.error(format!(
                "forbid lists \"{f}\", which this console does not know (dsa, x509)"
            )));
        }
    }
    let limits = Limits {
        rsa: p.u32_or("min_rsa_bits", 1024)?,
        dsa: forbid.iter().any(|f| f == "dsa"),
        x509: forbid.iter().any(|f| f == "x509"),
    };
    let (entries, mut findings) = file_entries(input.config, "ssh_keys", RULE_UNREADABLE);
    let mut keys = 0;
    for e in &entries {
        keys += check_file(input, e, &limits, &mut findings);
    }
    Ok(CheckOutcome {
        check: "ssh-keys".into(),
        summary: format!("{keys} SSH key(s) in {} file(s) checked", entries.len()),
        findings,
    })
}

/// What one key in a file is.
enum Key {
    Data(KeyData),
    X509,
    /// A legacy PEM DSA private key or a DSA certificate: the type alone decides.
    PemDsa,
    /// An OpenSSH certificate on an RSA key of this many bits.
    CertRsa(u32),
    /// An OpenSSH certificate on an Ed25519 or ECDSA key.
    CertAccepted,
    /// A legacy PEM RSA private key (ssh-keygen -m PEM, OpenSSH before 7.8).
    PemRsa(u32),
    /// A legacy PEM EC or Ed25519 private key.
    PemAccepted,
}

fn check_file(input: &RuleInput, e: &FileEntry, limits: &Limits, out: &mut Vec<Finding>) -> usize {
    let target = input.manifest.firmware.version;
    let key_at = format!("product.ssh_keys[{}]", e.index);
    let unreadable = |why: String| {
        Finding::blocker(RULE_UNREADABLE, format!("the SSH key file {} {why}", e.path))
            .value(&e.path)
            .at(format!("{}, {key_at}", e.path))
            .fix("Put the key in OpenSSH format at that path (the .pub file is enough), or correct the path in appliance.toml.")
    };
    let text = match read_key_file(&input.root.resolve(&e.path)) {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(_) => {
                out.push(unreadable("is not text (OpenSSH keys are)".into()));
                return 0;
            }
        },
        Err(why) => {
            out.push(unreadable(why));
            return 0;
        }
    };
    let keys = match parse_keys(&text) {
        Ok(k) if !k.is_empty() => k,
        Ok(_) => {
            out.push(unreadable("holds no key".into()));
            return 0;
        }
        Err(why) => {
            out.push(unreadable(why));
            return 0;
        }
    };
    let n = keys.len();
    for (line, key) in &keys {
        let at = if n > 1 || *line > 1 {
            format!("{} line {line}, {key_at}", e.path)
        } else {
            format!("{}, {key_at}", e.path)
        };
        match key {
            Key::X509 if limits.x509 => out.push(
                Finding::blocker(RULE_TYPE, format!("{target} refuses X.509 host certificates for SSH"))
                    .value("X.509 certificate")
                    .at(at)
                    .fix("Use a plain OpenSSH host key instead (ssh-keygen -t ed25519), then update the entry."),
            ),
            Key::X509 => {}
            Key::Data(KeyData::Dsa(_)) | Key::PemDsa if limits.dsa => out.push(
                Finding::blocker(RULE_TYPE, format!("{target} refuses DSA SSH keys"))
                    .value("ssh-dss")
                    .at(at)
                    .fix("Replace the key with an Ed25519 key (ssh-keygen -t ed25519) or RSA of 3072 bits, then update the entry."),
            ),
            Key::Data(KeyData::Rsa(_)) | Key::CertRsa(_) | Key::PemRsa(_) => {
                let bits = match key {
                    Key::Data(KeyData::Rsa(rsa)) => rsa.n.as_positive_bytes().map(bits_of).unwrap_or(0),
                    Key::CertRsa(b) | Key::PemRsa(b) => *b,
                    _ => 0,
                };
                if bits < limits.rsa {
                    out.push(
                        Finding::blocker(
                            RULE_SIZE,
                            format!("{target} refuses RSA SSH keys under {} bits; this one has {bits}", limits.rsa),
                        )
                        .value(format!("ssh-rsa {bits} bits"))
                        .at(at)
                        .fix("Replace the key with an Ed25519 key (ssh-keygen -t ed25519) or RSA of 3072 bits, then update the entry."),
                    );
                }
            }
            Key::Data(KeyData::Other(o)) => out.push(
                Finding::warning(
                    RULE_TYPE,
                    format!("this console does not know SSH key type {}", o.algorithm()),
                )
                .value(o.algorithm().as_str())
                .at(at)
                .fix("Check with support that the new firmware accepts this key type, or replace it with an Ed25519 key."),
            ),
            Key::Data(_) | Key::PemDsa | Key::CertAccepted | Key::PemAccepted => {}
        }
    }
    n
}

/// Every key in an OpenSSH text file, with its line number: an OpenSSH private
/// key, a public key per line (authorized_keys style, options allowed), OpenSSH
/// certificates, or X.509 (PEM certificates, `x509v3-*` keys).
fn parse_keys(text: &str) -> Result<Vec<(usize, Key)>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
        let k = PrivateKey::from_openssh(trimmed)
            .map_err(|e| format!("is not a readable OpenSSH private key: {e}"))?;
        return Ok(vec![(1, Key::Data(k.public_key().key_data().clone()))]);
    }
    if trimmed.starts_with("-----BEGIN CERTIFICATE-----") {
        return Ok(vec![(1, Key::X509)]);
    }
    if trimmed.starts_with("-----BEGIN DSA PRIVATE KEY-----") {
        return Ok(vec![(1, Key::PemDsa)]);
    }
    if trimmed.starts_with("-----BEGIN") && trimmed.contains("PRIVATE KEY-----") {
        // Legacy PEM private keys (PKCS#1, PKCS#8, SEC1), common for host keys made
        // by older OpenSSH: sized like TLS keys. Encrypted ones fall through.
        let first = x509_parser::pem::Pem::iter_from_buffer(trimmed.as_bytes())
            .next()
            .and_then(Result::ok);
        if let Some(pem) = first {
            match super::tls::private_key_size(&pem.label, &pem.contents) {
                Some(("RSA", bits)) => return Ok(vec![(1, Key::PemRsa(bits))]),
                Some(("DSA", _)) => return Ok(vec![(1, Key::PemDsa)]),
                Some(("EC" | "Ed25519", _)) => return Ok(vec![(1, Key::PemAccepted)]),
                _ => {}
            }
        }
    }
    if trimmed.starts_with("-----BEGIN") {
        return Err(
            "is a PEM key this console cannot read; point the entry at the key's .pub file".into(),
        );
    }
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        if line.split_whitespace().any(|w| w.starts_with("x509v3-")) {
            out.push((n, Key::X509));
            continue;
        }
        if let Some(word) = line
            .split_whitespace()
            .position(|w| w.ends_with("-cert-v01@openssh.com"))
            .and_then(|p| line.split_whitespace().nth(p + 1))
        {
            let key = openssh_cert_key(word)
                .ok_or_else(|| format!("line {n} is not a readable OpenSSH certificate"))?;
            out.push((n, key));
            continue;
        }
        let key = match PublicKey::from_openssh(line) {
            Ok(k) => k,
            Err(_) => line
                .parse::<ssh_key::authorized_keys::Entry>()
                .map(|e| e.public_key().clone())
                .map_err(|e| format!("line {n} is not an OpenSSH public key: {e}"))?,
        };
        out.push((n, Key::Data(key.key_data().clone())));
    }
    Ok(out)
}

/// The key inside an OpenSSH certificate (PROTOCOL.certkeys: string type, string
/// nonce, then the key's fields). Read by hand: ssh-key refuses certificates valid
/// "forever", which ssh-keygen makes by default.
fn openssh_cert_key(b64: &str) -> Option<Key> {
    let blob = base64_decode(b64)?;
    let mut r = &blob[..];
    let mut field = || -> Option<Vec<u8>> {
        let len = u32::from_be_bytes(r.get(..4)?.try_into().ok()?) as usize;
        let v = r.get(4..4 + len)?.to_vec();
        r = &r[4 + len..];
        Some(v)
    };
    let kind = String::from_utf8(field()?).ok()?;
    let _nonce = field()?;
    match kind.as_str() {
        "ssh-rsa-cert-v01@openssh.com" => {
            let _e = field()?;
            Some(Key::CertRsa(bits_of(&field()?)))
        }
        "ssh-dss-cert-v01@openssh.com" => Some(Key::PemDsa),
        k if k.starts_with("ssh-ed25519-cert")
            || k.starts_with("ecdsa-sha2-")
            || k.starts_with("sk-") =>
        {
            Some(Key::CertAccepted)
        }
        _ => None,
    }
}

/// Standard base64 (with or without padding).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut nbits) = (0u32, 0u32);
    for c in s.bytes().take_while(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | v as u32;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((acc >> nbits) as u8);
            acc &= (1 << nbits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(
            super::base64_decode("aGVsbG8=").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(
            super::base64_decode("aGVsbG8").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(super::base64_decode("aGk!"), None);
    }
}
