//! TLS keys and certificates the new firmware refuses: RSA and DSA keys under 2048
//! bits, EC keys under 224 bits, and SHA-1 / MD5 signatures on anything but a root
//! CA. Every certificate of a chain file is checked, and so is every private key in
//! the files (PKCS#8, PKCS#1, SEC1, DSA); keys used only for signing, timestamping,
//! encryption or decryption are exempt.

use super::params::Params;
use super::{FileEntry, RuleError, RuleInput, file_entries, read_key_file};
use crate::check::finding::{CheckOutcome, Finding};
use std::borrow::Cow;
use x509_parser::der_parser::oid::Oid;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

pub const RULE_KEY: &str = "tls-key-size";
pub const RULE_SIG: &str = "tls-signature";
pub const RULE_UNREADABLE: &str = "tls-unreadable";

struct Limits {
    rsa: u32,
    dsa: u32,
    ec: u32,
    forbid: Vec<String>,
}

pub(crate) fn run(input: &RuleInput, p: Params) -> Result<CheckOutcome, RuleError> {
    p.allow(&[
        "min_rsa_bits",
        "min_dsa_bits",
        "min_ec_bits",
        "forbid_signatures",
        "exempt_uses",
        "uses",
    ])?;
    let limits = Limits {
        rsa: p.u32_or("min_rsa_bits", 2048)?,
        dsa: p.u32_or("min_dsa_bits", 2048)?,
        ec: p.u32_or("min_ec_bits", 224)?,
        forbid: p.list_or("forbid_signatures", &["sha1", "md5"])?,
    };
    for f in &limits.forbid {
        if !matches!(f.as_str(), "sha1" | "md5" | "md2") {
            return Err(p.error(format!(
                "forbid_signatures lists \"{f}\", which this console does not know (sha1, md5, md2)"
            )));
        }
    }
    let exempt = p.list_or(
        "exempt_uses",
        &["signing", "timestamping", "encryption", "decryption"],
    )?;
    let only = p.list_opt("uses")?;
    let (entries, mut findings) = file_entries(input.config, "certificates", RULE_UNREADABLE);
    let (mut files, mut certs, mut keys, mut skipped) = (0usize, 0usize, 0usize, 0usize);
    for e in &entries {
        let usage = e.usage.to_ascii_lowercase();
        let wanted = only
            .as_ref()
            .is_none_or(|u| u.iter().any(|x| x.eq_ignore_ascii_case(&usage)));
        if exempt.contains(&usage) || !wanted {
            skipped += 1;
            continue;
        }
        files += 1;
        let (c, k) = check_file(input, e, &limits, &mut findings);
        certs += c;
        keys += k;
    }
    let keys = if keys > 0 {
        format!(" and {keys} private key(s)")
    } else {
        String::new()
    };
    Ok(CheckOutcome {
        check: "tls-keys".into(),
        summary: format!(
            "{certs} certificate(s){keys} in {files} file(s) checked, {skipped} exempt by use"
        ),
        findings,
    })
}

/// Checks every certificate and private key in one file; returns how many of each
/// were checked.
fn check_file(
    input: &RuleInput,
    e: &FileEntry,
    limits: &Limits,
    out: &mut Vec<Finding>,
) -> (usize, usize) {
    let target = input.manifest.firmware.version;
    let key_at = format!("product.certificates[{}]", e.index);
    let unreadable = |why: String| {
        Finding::blocker(
            RULE_UNREADABLE,
            format!("the certificate file {} {why}", e.path),
        )
        .value(&e.path)
        .at(format!("{}, {key_at}", e.path))
        .fix(
            "Put the certificate (PEM or DER) at that path, or correct the path in appliance.toml.",
        )
    };
    let bytes = match read_key_file(&input.root.resolve(&e.path)) {
        Ok(b) => b,
        Err(why) => {
            out.push(unreadable(why));
            return (0, 0);
        }
    };
    let (ders, keys) = match der_blocks(&bytes) {
        Ok((d, k)) if !d.is_empty() || !k.is_empty() => (d, k),
        Ok(_) => {
            out.push(unreadable("holds no certificate or private key".into()));
            return (0, 0);
        }
        Err(why) => {
            out.push(unreadable(why));
            return (0, 0);
        }
    };
    check_keys(e, &keys, limits, target, &key_at, out);
    let n = ders.len();
    for (k, der) in ders.iter().enumerate() {
        let nth = if n > 1 {
            format!(" (certificate {} of {n})", k + 1)
        } else {
            String::new()
        };
        let cert = match X509Certificate::from_der(der) {
            Ok((_, c)) => c,
            Err(err) => {
                out.push(unreadable(format!(
                    "has an unparsable certificate{nth}: {err}"
                )));
                continue;
            }
        };
        let subject = cert.subject().to_string();
        let at = format!("subject \"{subject}\", {}{nth}, {key_at}", e.path);
        let (alg, bits) = key_size(&cert);
        let min = match alg {
            "RSA" => Some(limits.rsa),
            "DSA" => Some(limits.dsa),
            "EC" => Some(limits.ec),
            _ => None,
        };
        match (min, bits) {
            (Some(min), Some(bits)) if bits < min => out.push(
                Finding::blocker(
                    RULE_KEY,
                    format!("{target} refuses {alg} keys under {min} bits; this one has {bits}"),
                )
                .value(format!("{alg} {bits} bits"))
                .at(&at)
                .fix(match alg {
                    "EC" => format!("Replace the certificate with one on an EC key of at least {min} bits (P-256 is usual), then update {key_at}."),
                    _ => format!("Replace the certificate with one on an RSA key of at least {} bits (or ECDSA P-256), then update {key_at}.", limits.rsa),
                }),
            ),
            (Some(_), None) => out.push(unreadable(format!(
                "has an {alg} key of unknown size{nth}"
            ))),
            _ => {}
        }
        if let Some(hash) = weak_hash(&cert)
            && limits.forbid.iter().any(|f| f == hash)
            && !is_root_ca(&cert)
        {
            out.push(
                Finding::blocker(
                    RULE_SIG,
                    format!("{target} refuses certificates signed with {} (only a root CA may be)", hash.to_uppercase()),
                )
                .value(format!("{} signature", sig_name(&cert)))
                .at(&at)
                .fix("Have the certificate re-issued with a SHA-256 (or stronger) signature and install it."),
            );
        }
    }
    (n, keys.len())
}

/// Checks the private keys of one file (the guides refuse weak private keys as well
/// as weak certificates); an encrypted key cannot be sized and is a warning.
fn check_keys(
    e: &FileEntry,
    keys: &[(String, Vec<u8>)],
    limits: &Limits,
    target: crate::image::version::Version,
    key_at: &str,
    out: &mut Vec<Finding>,
) {
    for (label, der) in keys {
        let at = format!("{} in {}, {key_at}", label.to_lowercase(), e.path);
        if label.contains("ENCRYPTED") {
            out.push(
                Finding::warning(RULE_KEY, "the private key is encrypted: its size cannot be checked")
                    .value(label)
                    .at(&at)
                    .fix(format!("Make sure the key is RSA of at least {} bits or EC of at least {} bits before activating.", limits.rsa, limits.ec)),
            );
            continue;
        }
        let Some((alg, bits)) = private_key_size(label, der) else {
            out.push(
                Finding::blocker(
                    RULE_UNREADABLE,
                    format!("the {} in {} cannot be parsed", label.to_lowercase(), e.path),
                )
                .value(&e.path)
                .at(&at)
                .fix("Put a valid PEM private key at that path, or correct the path in appliance.toml."),
            );
            continue;
        };
        let min = match alg {
            "RSA" => limits.rsa,
            "DSA" => limits.dsa,
            "EC" => limits.ec,
            _ => continue,
        };
        if bits < min {
            out.push(
                Finding::blocker(
                    RULE_KEY,
                    format!("{target} refuses {alg} private keys under {min} bits; this one has {bits}"),
                )
                .value(format!("{alg} {bits} bits"))
                .at(&at)
                .fix(format!("Replace the key and its certificate with an RSA key of at least {} bits (or ECDSA P-256), then update {key_at}.", limits.rsa)),
            );
        }
    }
}

/// The algorithm family and size of a PEM private key, by its label:
/// PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`,
/// `DSA PRIVATE KEY`. None when it cannot be parsed.
pub(crate) fn private_key_size(label: &str, der: &[u8]) -> Option<(&'static str, u32)> {
    use x509_parser::der_parser::ber::BerObject;
    fn int_at<'a>(o: &BerObject<'a>, i: usize) -> Option<&'a [u8]> {
        o.as_sequence().ok()?.get(i)?.as_slice().ok()
    }
    let (_, top) = x509_parser::der_parser::parse_der(der).ok()?;
    match label {
        // RSAPrivateKey ::= SEQUENCE { version, modulus, ... }
        "RSA PRIVATE KEY" => Some(("RSA", bits_of(int_at(&top, 1)?))),
        // DSAPrivateKey ::= SEQUENCE { version, p, q, g, y, x }
        "DSA PRIVATE KEY" => Some(("DSA", bits_of(int_at(&top, 1)?))),
        // ECPrivateKey ::= SEQUENCE { version, privateKey OCTET STRING, ... }: the
        // private scalar has the size of the curve's order.
        "EC PRIVATE KEY" => Some(("EC", (int_at(&top, 1)?.len() * 8) as u32)),
        // PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, OCTET STRING }
        "PRIVATE KEY" => {
            let items = top.as_sequence().ok()?;
            let alg = items.get(1)?.as_sequence().ok()?;
            let oid = alg.first()?.as_oid().ok()?.to_id_string();
            let (_, inner) =
                x509_parser::der_parser::parse_der(items.get(2)?.as_slice().ok()?).ok()?;
            match oid.as_str() {
                "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
                    Some(("RSA", bits_of(int_at(&inner, 1)?)))
                }
                "1.2.840.10040.4.1" => Some(("DSA", bits_of(int_at(alg.get(1)?, 0)?))),
                "1.2.840.10045.2.1" => Some(("EC", (int_at(&inner, 1)?.len() * 8) as u32)),
                "1.3.101.112" => Some(("Ed25519", 256)),
                "1.3.101.113" => Some(("Ed448", 456)),
                _ => Some(("other", 0)),
            }
        }
        _ => None,
    }
}

/// A file's DER certificates and private keys: every CERTIFICATE block and every
/// (label, DER) PRIVATE KEY block of a PEM file, or the file itself when it is DER.
type Blocks = (Vec<Vec<u8>>, Vec<(String, Vec<u8>)>);

fn der_blocks(bytes: &[u8]) -> Result<Blocks, String> {
    if bytes.first() == Some(&0x30) {
        return Ok((vec![bytes.to_vec()], vec![]));
    }
    let (mut out, mut keys) = (vec![], vec![]);
    for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
        let pem = pem.map_err(|e| format!("is not valid PEM: {e}"))?;
        // TRUSTED CERTIFICATE (OpenSSL trust stores): the certificate, then trust
        // settings that from_der leaves unread.
        if matches!(
            pem.label.as_str(),
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE"
        ) {
            out.push(pem.contents);
        } else if pem.label.ends_with("PRIVATE KEY") {
            keys.push((pem.label, pem.contents));
        }
    }
    Ok((out, keys))
}

/// Bits in a big-endian unsigned integer.
pub(crate) fn bits_of(be: &[u8]) -> u32 {
    let be = match be.iter().position(|b| *b != 0) {
        Some(i) => &be[i..],
        None => return 0,
    };
    (be.len() as u32) * 8 - be[0].leading_zeros()
}

/// The key's algorithm family and size in bits.
fn key_size(cert: &X509Certificate) -> (&'static str, Option<u32>) {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        // rsaEncryption, RSASSA-PSS
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => ("RSA", Some(bits_of(rsa.modulus))),
            _ => ("RSA", None),
        },
        // id-dsa: the size is that of the prime p in the parameters.
        "1.2.840.10040.4.1" => {
            let p_bits = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|a| first_integer(a.data))
                .map(bits_of);
            ("DSA", p_bits)
        }
        // id-ecPublicKey: the size is that of the named curve.
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .map(|a| Oid::new(Cow::Borrowed(a.data)).to_id_string());
            let bits = match curve.as_deref() {
                Some("1.2.840.10045.3.1.1") => Some(192), // P-192
                Some("1.3.132.0.33") => Some(224),        // P-224
                Some("1.2.840.10045.3.1.7") => Some(256), // P-256
                Some("1.3.132.0.34") => Some(384),        // P-384
                Some("1.3.132.0.35") => Some(521),        // P-521
                Some("1.3.132.0.10") => Some(256),        // secp256k1
                _ => match spki.parsed() {
                    Ok(PublicKey::EC(p)) if p.key_size() > 0 => Some(p.key_size() as u32),
                    _ => None,
                },
            };
            ("EC", bits)
        }
        "1.3.101.112" => ("Ed25519", Some(256)),
        "1.3.101.113" => ("Ed448", Some(456)),
        _ => ("other", None),
    }
}

/// The first INTEGER in DER content bytes (DSA parameters: SEQUENCE { p, q, g }).
fn first_integer(content: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = content.split_first()?;
    if tag != 0x02 {
        return None;
    }
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = if len0 < 0x80 {
        (len0 as usize, rest)
    } else {
        let n = (len0 & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, b| (a << 8) | *b as usize);
        (len, &rest[n..])
    };
    rest.get(..len)
}

/// "sha1" / "md5" / "md2" when the certificate's signature uses a weak hash.
fn weak_hash(cert: &X509Certificate) -> Option<&'static str> {
    match cert.signature_algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" | "1.2.840.10045.4.1" | "1.2.840.10040.4.3" => {
            Some("sha1")
        }
        "1.2.840.113549.1.1.4" => Some("md5"),
        "1.2.840.113549.1.1.2" => Some("md2"),
        // RSASSA-PSS names its hash in the parameters, and SHA-1 is the default.
        "1.2.840.113549.1.1.10" => {
            use x509_parser::signature_algorithm::SignatureAlgorithm;
            match SignatureAlgorithm::try_from(&cert.signature_algorithm) {
                Ok(SignatureAlgorithm::RSASSA_PSS(p)) => {
                    match p.hash_algorithm_oid().to_id_string().as_str() {
                        "1.3.14.3.2.26" => Some("sha1"),
                        "1.2.840.113549.2.5" => Some("md5"),
                        _ => None,
                    }
                }
                // Absent parameters: every default applies, SHA-1 included.
                _ => Some("sha1"),
            }
        }
        _ => None,
    }
}

fn sig_name(cert: &X509Certificate) -> &'static str {
    match cert.signature_algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => "sha1WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10040.4.3" => "dsa-with-SHA1",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        _ => "weak",
    }
}

/// A root CA: self-issued (subject = issuer), a CA (basicConstraints CA:TRUE, or a
/// v1 certificate, which has no extensions), and if it names the key that signed
/// it, that key is its own. Its signature protects nothing: trust comes from the
/// trust store, which is why the guides exempt it.
fn is_root_ca(cert: &X509Certificate) -> bool {
    if cert.subject().as_raw() != cert.issuer().as_raw() {
        return false;
    }
    let v1 = cert.version().0 == 0;
    if !(cert.is_ca() || v1) {
        return false;
    }
    let mut ski = None;
    let mut aki = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0)
            }
            _ => {}
        }
    }
    match (ski, aki) {
        (Some(s), Some(a)) => s == a,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bit_lengths_ignore_leading_zeros() {
        assert_eq!(super::bits_of(&[0, 0x80, 0]), 16);
        assert_eq!(super::bits_of(&[0x7f, 0xff]), 15);
        assert_eq!(super::bits_of(&[0, 0]), 0);
    }

    #[test]
    fn first_integer_reads_short_and_long_lengths() {
        assert_eq!(
            super::first_integer(&[2, 2, 1, 2, 2, 1, 9]),
            Some(&[1u8, 2][..])
        );
        let mut long = vec![2, 0x81, 0x81, 0];
        long.extend([0xff; 128]);
        assert_eq!(super::first_integer(&long).map(super::bits_of), Some(1024));
        assert_eq!(super::first_integer(&[4, 1, 0]), None);
    }
}
