//! The `tls-keys` rule: X.509 certificates and private keys the appliance uses for
//! TLS must have RSA/DSA keys of at least 2048 bits and ECC keys of at least 224, and
//! no certificate but a root CA may be signed with SHA-1 or MD5 (hardened TLS
//! settings of the new firmware). Keys used only for signing, timestamping or
//! encryption are exempt.

use super::{
    KeyFileRef, key_file_refs, plural, product_location, quote_safe, read_key_file, show_value,
};
use crate::finding::{CheckOutcome, Finding};
use crate::root::ApplianceRoot;
use serde::Deserialize;
use x509_parser::der_parser::ber::BerObject;
use x509_parser::prelude::*;

pub const CHECK: &str = "tls-keys";
pub const RULE_KEY_SIZE: &str = "tls-key-size";
pub const RULE_SIGNATURE: &str = "tls-signature-hash";
pub const RULE_FILE: &str = "tls-file";

/// The `use` values the guides list as affected (for documentation and the demo; any
/// use not exempt is checked, so a misspelt use fails safe).
pub const CHECKED_USES: &[&str] = &[
    "web",
    "internal-ca",
    "connection-policy-tls",
    "ldap-client",
    "smtp-client",
    "syslog-client",
    "smtp-server",
    "splunk-server",
    "indexer",
    "trusted-ca",
    "trust-store",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeakHash {
    Md2,
    Md5,
    Sha1,
}

impl WeakHash {
    fn name(self) -> &'static str {
        match self {
            WeakHash::Md2 => "MD2",
            WeakHash::Md5 => "MD5",
            WeakHash::Sha1 => "SHA-1",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsParams {
    #[serde(default = "default_2048")]
    pub min_rsa_bits: u32,
    #[serde(default = "default_2048")]
    pub min_dsa_bits: u32,
    #[serde(default = "default_224")]
    pub min_ec_bits: u32,
    #[serde(default = "default_hashes")]
    pub refused_hashes: Vec<WeakHash>,
    #[serde(default = "default_exempt")]
    pub exempt_uses: Vec<String>,
}

impl Default for TlsParams {
    fn default() -> Self {
        TlsParams {
            min_rsa_bits: 2048,
            min_dsa_bits: 2048,
            min_ec_bits: 224,
            refused_hashes: default_hashes(),
            exempt_uses: default_exempt(),
        }
    }
}

fn default_2048() -> u32 {
    2048
}
fn default_224() -> u32 {
    224
}
fn default_hashes() -> Vec<WeakHash> {
    vec![WeakHash::Sha1, WeakHash::Md5]
}
fn default_exempt() -> Vec<String> {
    ["signing", "timestamping", "encryption", "decryption"]
        .map(String::from)
        .to_vec()
}

/// A key's algorithm and strength.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStrength {
    Rsa(u32),
    Dsa(u32),
    Ec {
        bits: u32,
        curve: String,
    },
    /// Ed25519, Ed448: fixed, strong sizes.
    Edwards(&'static str),
    Unknown(String),
}

impl std::fmt::Display for KeyStrength {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyStrength::Rsa(b) => write!(f, "RSA {b} bits"),
            KeyStrength::Dsa(b) => write!(f, "DSA {b} bits"),
            KeyStrength::Ec { bits, curve } => write!(f, "ECC {curve} ({bits} bits)"),
            KeyStrength::Edwards(n) => f.write_str(n),
            KeyStrength::Unknown(oid) => write!(f, "key algorithm {oid}"),
        }
    }
}

impl KeyStrength {
    /// Why the key is too weak under `p`, or None.
    fn weakness(&self, p: &TlsParams) -> Option<String> {
        match self {
            KeyStrength::Rsa(b) if *b < p.min_rsa_bits => Some(format!(
                "an RSA key of {b} bits is shorter than {} bits",
                p.min_rsa_bits
            )),
            KeyStrength::Dsa(b) if *b < p.min_dsa_bits => Some(format!(
                "a DSA key of {b} bits is shorter than {} bits",
                p.min_dsa_bits
            )),
            KeyStrength::Ec { bits, curve } if *bits < p.min_ec_bits => Some(format!(
                "an ECC key on {curve} ({bits} bits) is shorter than {} bits",
                p.min_ec_bits
            )),
            _ => None,
        }
    }
}

/// Bit length of a big-endian unsigned integer (leading zero bytes ignored).
pub fn bit_len(bytes: &[u8]) -> u32 {
    let b = match bytes.iter().position(|&x| x != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    (b.len() as u32 - 1) * 8 + (8 - b[0].leading_zeros())
}

/// Named curves by OID, with their sizes.
fn curve(oid: &str) -> Option<(&'static str, u32)> {
    Some(match oid {
        "1.2.840.10045.3.1.1" => ("P-192", 192),
        "1.2.840.10045.3.1.2" => ("prime192v2", 192),
        "1.2.840.10045.3.1.3" => ("prime192v3", 192),
        "1.3.132.0.31" => ("secp192k1", 192),
        "1.3.132.0.33" => ("P-224", 224),
        "1.3.132.0.32" => ("secp224k1", 224),
        "1.2.840.10045.3.1.7" => ("P-256", 256),
        "1.3.132.0.10" => ("secp256k1", 256),
        "1.3.132.0.34" => ("P-384", 384),
        "1.3.132.0.35" => ("P-521", 521),
        "1.3.132.0.8" => ("secp160r1", 160),
        "1.3.132.0.30" => ("secp160r2", 160),
        "1.3.132.0.9" => ("secp160k1", 160),
        "1.3.36.3.3.2.8.1.1.1" => ("brainpoolP160r1", 160),
        "1.3.36.3.3.2.8.1.1.3" => ("brainpoolP192r1", 192),
        "1.3.36.3.3.2.8.1.1.5" => ("brainpoolP224r1", 224),
        "1.3.36.3.3.2.8.1.1.7" => ("brainpoolP256r1", 256),
        "1.3.36.3.3.2.8.1.1.9" => ("brainpoolP320r1", 320),
        "1.3.36.3.3.2.8.1.1.11" => ("brainpoolP384r1", 384),
        "1.3.36.3.3.2.8.1.1.13" => ("brainpoolP512r1", 512),
        _ => return None,
    })
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_DSA: &str = "1.2.840.10040.4.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_ED448: &str = "1.3.101.113";

fn oid_of_any(any: &x509_parser::der_parser::asn1_rs::Any) -> Option<String> {
    if any.tag() != x509_parser::der_parser::asn1_rs::Tag::Oid {
        return None;
    }
    Some(
        x509_parser::der_parser::asn1_rs::Oid::new(std::borrow::Cow::Borrowed(any.data))
            .to_id_string(),
    )
}

fn ec_strength(params_oid: Option<String>, fallback_bits: u32) -> KeyStrength {
    match params_oid.as_deref().and_then(curve) {
        Some((name, bits)) => KeyStrength::Ec {
            bits,
            curve: name.to_string(),
        },
        None => KeyStrength::Ec {
            bits: fallback_bits,
            curve: params_oid.unwrap_or_else(|| "an unnamed curve".into()),
        },
    }
}

/// The strength of a certificate's public key.
pub fn spki_strength(spki: &SubjectPublicKeyInfo) -> KeyStrength {
    let alg = spki.algorithm.algorithm.to_id_string();
    let key = spki.subject_public_key.data.as_ref();
    match alg.as_str() {
        OID_RSA | OID_RSA_PSS => {
            // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
            let n = x509_parser::der_parser::parse_der(key)
                .ok()
                .and_then(|(_, o)| seq_int(&o, 0));
            KeyStrength::Rsa(n.map(bit_len).unwrap_or(0))
        }
        OID_DSA => {
            // Dss-Parms ::= SEQUENCE { p, q, g }: the size is that of p.
            let p = spki.algorithm.parameters.as_ref().and_then(|a| {
                x509_parser::der_parser::parse_der(a.data)
                    .ok()
                    .and_then(|(_, o)| o.as_slice().ok())
            });
            let bits = p.map(bit_len).unwrap_or_else(|| {
                x509_parser::der_parser::parse_der(key)
                    .ok()
                    .and_then(|(_, o)| o.as_slice().ok())
                    .map(bit_len)
                    .unwrap_or(0)
            });
            KeyStrength::Dsa(bits)
        }
        OID_EC => {
            let fallback = ECPointBits(key).bits();
            ec_strength(
                spki.algorithm.parameters.as_ref().and_then(oid_of_any),
                fallback,
            )
        }
        OID_ED25519 => KeyStrength::Edwards("Ed25519"),
        OID_ED448 => KeyStrength::Edwards("Ed448"),
        other => KeyStrength::Unknown(other.to_string()),
    }
}

struct ECPointBits<'a>(&'a [u8]);
impl ECPointBits<'_> {
    /// Field size from the encoded point: 04||X||Y or 02/03||X.
    fn bits(&self) -> u32 {
        match self.0 {
            [4, rest @ ..] => (rest.len() / 2 * 8) as u32,
            [2 | 3, rest @ ..] => (rest.len() * 8) as u32,
            _ => 0,
        }
    }
}

/// The INTEGER at `index` of a DER SEQUENCE.
fn seq_int<'a>(o: &BerObject<'a>, index: usize) -> Option<&'a [u8]> {
    o.as_sequence().ok()?.get(index)?.as_slice().ok()
}

/// The strength of a PEM private key, by label; None when it cannot be parsed.
pub fn private_key_strength(label: &str, der: &[u8]) -> Option<KeyStrength> {
    let (_, top) = x509_parser::der_parser::parse_der(der).ok()?;
    match label {
        // RSAPrivateKey ::= SEQUENCE { version, modulus, ... }
        "RSA PRIVATE KEY" => Some(KeyStrength::Rsa(bit_len(seq_int(&top, 1)?))),
        // DSAPrivateKey ::= SEQUENCE { version, p, q, g, y, x }
        "DSA PRIVATE KEY" => Some(KeyStrength::Dsa(bit_len(seq_int(&top, 1)?))),
        // ECPrivateKey ::= SEQUENCE { version, privateKey OCTET STRING, [0] params, ... }
        "EC PRIVATE KEY" => {
            let d = seq_int(&top, 1)?;
            Some(ec_strength(ec_params_oid(&top), (d.len() * 8) as u32))
        }
        // PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, OCTET STRING }
        "PRIVATE KEY" => {
            let items = top.as_sequence().ok()?;
            let alg = items.get(1)?.as_sequence().ok()?;
            let oid = alg.first()?.as_oid().ok()?.to_id_string();
            let inner = items.get(2)?.as_slice().ok()?;
            match oid.as_str() {
                OID_RSA | OID_RSA_PSS => {
                    let (_, k) = x509_parser::der_parser::parse_der(inner).ok()?;
                    Some(KeyStrength::Rsa(bit_len(seq_int(&k, 1)?)))
                }
                OID_DSA => Some(KeyStrength::Dsa(bit_len(seq_int(alg.get(1)?, 0)?))),
                OID_EC => {
                    let params = alg
                        .get(1)
                        .and_then(|p| p.as_oid().ok())
                        .map(|o| o.to_id_string());
                    let (_, k) = x509_parser::der_parser::parse_der(inner).ok()?;
                    let d = seq_int(&k, 1)?;
                    Some(ec_strength(params, (d.len() * 8) as u32))
                }
                OID_ED25519 => Some(KeyStrength::Edwards("Ed25519")),
                OID_ED448 => Some(KeyStrength::Edwards("Ed448")),
                other => Some(KeyStrength::Unknown(other.to_string())),
            }
        }
        _ => None,
    }
}

/// The curve OID in an ECPrivateKey's `[0]` parameters, if present.
fn ec_params_oid(top: &BerObject) -> Option<String> {
    let items = top.as_sequence().ok()?;
    for it in items.iter().skip(2) {
        if let Ok((_, tag, inner)) = it.as_tagged()
            && tag.0 == 0
            && let Ok(oid) = inner.as_oid()
        {
            return Some(oid.to_id_string());
        }
        // Unparsed explicit tag: its content is the DER OID.
        if it.header.tag().0 == 0
            && let Ok(raw) = it.as_slice()
            && let Ok((_, o)) = x509_parser::der_parser::parse_der(raw)
            && let Ok(oid) = o.as_oid()
        {
            return Some(oid.to_id_string());
        }
    }
    None
}

/// The weak hash a certificate's signature uses, with the algorithm's name.
pub fn weak_signature(cert: &X509Certificate) -> Option<(WeakHash, String)> {
    let alg = &cert.signature_algorithm;
    let oid = alg.algorithm.to_id_string();
    let named = |h: WeakHash, n: &str| Some((h, n.to_string()));
    match oid.as_str() {
        "1.2.840.113549.1.1.2" => named(WeakHash::Md2, "md2WithRSAEncryption"),
        "1.2.840.113549.1.1.4" => named(WeakHash::Md5, "md5WithRSAEncryption"),
        "1.2.840.113549.1.1.5" => named(WeakHash::Sha1, "sha1WithRSAEncryption"),
        "1.3.14.3.2.29" => named(WeakHash::Sha1, "sha1WithRSASignature"),
        "1.2.840.10045.4.1" => named(WeakHash::Sha1, "ecdsa-with-SHA1"),
        "1.2.840.10040.4.3" => named(WeakHash::Sha1, "dsa-with-SHA1"),
        OID_RSA_PSS => {
            // RSASSA-PSS names its hash in the parameters; SHA-1 is the default.
            match x509_parser::signature_algorithm::SignatureAlgorithm::try_from(alg) {
                Ok(x509_parser::signature_algorithm::SignatureAlgorithm::RSASSA_PSS(p)) => {
                    let h = p.hash_algorithm_oid().to_id_string();
                    match h.as_str() {
                        "1.3.14.3.2.26" => named(WeakHash::Sha1, "RSASSA-PSS with SHA-1"),
                        "1.2.840.113549.2.5" => named(WeakHash::Md5, "RSASSA-PSS with MD5"),
                        _ => None,
                    }
                }
                _ => named(WeakHash::Sha1, "RSASSA-PSS with SHA-1 (default parameters)"),
            }
        }
        _ => None,
    }
}

/// A root CA: self-issued (subject = issuer) and a CA, or an old v1 self-issued
/// certificate (v1 has no CA flag). Root CAs are trusted by their presence in a
/// store, not by their signature, so their signature hash does not matter.
pub fn is_root_ca(cert: &X509Certificate) -> bool {
    let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
    if !self_issued {
        return false;
    }
    let key_ids_differ = match (
        cert.get_extension_unique(
            &x509_parser::oid_registry::OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER,
        ),
        cert.get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_SUBJECT_KEY_IDENTIFIER),
    ) {
        (Ok(Some(a)), Ok(Some(s))) => match (a.parsed_extension(), s.parsed_extension()) {
            (
                ParsedExtension::AuthorityKeyIdentifier(aki),
                ParsedExtension::SubjectKeyIdentifier(ski),
            ) => aki.key_identifier.as_ref().is_some_and(|k| k.0 != ski.0),
            _ => false,
        },
        _ => false,
    };
    !key_ids_differ && (cert.is_ca() || cert.version() == X509Version::V1)
}

fn subject_of(cert: &X509Certificate) -> String {
    let s = cert.subject().to_string();
    if s.is_empty() {
        "(empty subject)".into()
    } else {
        quote_safe(&s)
    }
}

/// Counts from one run, for the summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TlsCounts {
    pub files: usize,
    pub certificates: usize,
    pub keys: usize,
    pub exempt_files: usize,
}

/// Checks the contents of one certificate/key file; `label` is what findings call
/// its place (the path), `usage` its `use`.
pub fn check_bytes(
    bytes: &[u8],
    label: &str,
    usage: &str,
    p: &TlsParams,
    counts: &mut TlsCounts,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut certs: Vec<Vec<u8>> = Vec::new();
    let mut keys: Vec<(String, Vec<u8>)> = Vec::new();
    let mut pem_seen = false;
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        for pem in Pem::iter_from_buffer(bytes) {
            match pem {
                Ok(pem) => {
                    pem_seen = true;
                    match pem.label.as_str() {
                        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                            certs.push(pem.contents)
                        }
                        l if l.ends_with("PRIVATE KEY") => keys.push((l.to_string(), pem.contents)),
                        // Parameters, CRLs, requests: nothing to check.
                        _ => {}
                    }
                }
                Err(e) => {
                    findings.push(file_finding(
                        label,
                        usage,
                        &format!("a PEM block cannot be read ({e})"),
                    ));
                    break;
                }
            }
        }
    } else if X509Certificate::from_der(bytes).is_ok() {
        certs.push(bytes.to_vec());
    }
    if certs.is_empty() && keys.is_empty() && findings.is_empty() {
        let why = if pem_seen {
            "it holds no certificate or private key"
        } else {
            "it is not a PEM or DER certificate"
        };
        findings.push(file_finding(label, usage, why));
        return findings;
    }
    let n = certs.len();
    for (i, der) in certs.iter().enumerate() {
        counts.certificates += 1;
        let place = if n > 1 {
            format!("certificate {} of {n} in {label}", i + 1)
        } else {
            label.to_string()
        };
        let cert = match X509Certificate::from_der(der) {
            Ok((_, c)) => c,
            Err(e) => {
                findings.push(file_finding(
                    &place,
                    usage,
                    &format!("a certificate cannot be parsed ({e})"),
                ));
                continue;
            }
        };
        let subject = subject_of(&cert);
        let root = is_root_ca(&cert);
        let what = if root {
            "root CA certificate"
        } else if cert.is_ca() {
            "CA certificate"
        } else {
            "certificate"
        };
        let strength = spki_strength(cert.public_key());
        if let Some(why) = strength.weakness(p) {
            findings.push(
                Finding::blocker(
                    RULE_KEY_SIZE,
                    format!("the {usage} {what} \"{subject}\" is refused: {why}"),
                )
                .value(&strength)
                .at(format!("{subject}, {place}"))
                .fix(key_fix(p, usage, what)),
            );
        }
        if let Some((hash, alg)) = weak_signature(&cert)
            && p.refused_hashes.contains(&hash)
            && !root
        {
            findings.push(
                Finding::blocker(
                    RULE_SIGNATURE,
                    format!(
                        "the {usage} {what} \"{subject}\" is signed with {}, which only a root CA may be",
                        hash.name()
                    ),
                )
                .value(alg)
                .at(format!("{subject}, {place}"))
                .fix(if cert.is_ca() {
                    "Get this intermediate CA certificate re-issued with a SHA-256 signature (the CA's current chain) and install that chain.".to_string()
                } else {
                    format!("Get the {usage} certificate re-issued with a SHA-256 signature and install it.")
                }),
            );
        }
    }
    for (label_pem, der) in &keys {
        counts.keys += 1;
        let place = format!("{} in {label}", label_pem.to_lowercase());
        if label_pem.contains("ENCRYPTED") {
            findings.push(
                Finding::warning(
                    RULE_KEY_SIZE,
                    format!("the {usage} private key is encrypted: its size cannot be checked"),
                )
                .value(label_pem)
                .at(place)
                .fix("Make sure the key is RSA of at least 2048 bits or ECC of at least 224 bits."),
            );
            continue;
        }
        match private_key_strength(label_pem, der) {
            Some(s) => {
                if let Some(why) = s.weakness(p) {
                    findings.push(
                        Finding::blocker(
                            RULE_KEY_SIZE,
                            format!("the {usage} private key is refused: {why}"),
                        )
                        .value(&s)
                        .at(place)
                        .fix(key_fix(p, usage, "key")),
                    );
                }
            }
            None => findings.push(file_finding(
                &place,
                usage,
                "a private key cannot be parsed",
            )),
        }
    }
    findings
}

fn key_fix(p: &TlsParams, usage: &str, what: &str) -> String {
    format!(
        "Replace the {usage} {what} with one whose key is RSA of at least {} bits or ECC of at least {} bits, then run the test again.",
        p.min_rsa_bits, p.min_ec_bits
    )
}

fn file_finding(place: &str, usage: &str, why: &str) -> Finding {
    Finding::blocker(
        RULE_FILE,
        format!("the {usage} certificate file cannot be checked: {why}"),
    )
    .value(place)
    .at(place)
    .fix("Restore the file (PEM or DER) or correct its path in product.certificates, then run the test again.")
}

/// Runs the rule over `product.certificates`.
pub fn check(root: &ApplianceRoot, product: &toml::Table, p: &TlsParams) -> CheckOutcome {
    let (refs, mut findings) = key_file_refs(product, "certificates", RULE_FILE);
    let mut counts = TlsCounts::default();
    for r in &refs {
        findings.extend(check_ref(root, r, p, &mut counts));
    }
    let mut summary = format!(
        "{}, {} checked in {}",
        plural(counts.certificates, "certificate", "certificates"),
        plural(counts.keys, "key", "keys"),
        plural(counts.files, "file", "files")
    );
    if counts.exempt_files > 0 {
        summary.push_str(&format!(
            "; {} exempt (signing, timestamping, encryption)",
            counts.exempt_files
        ));
    }
    CheckOutcome {
        check: CHECK.into(),
        summary,
        findings,
    }
}

fn check_ref(
    root: &ApplianceRoot,
    r: &KeyFileRef,
    p: &TlsParams,
    counts: &mut TlsCounts,
) -> Vec<Finding> {
    if p.exempt_uses.iter().any(|u| u == &r.usage) {
        counts.exempt_files += 1;
        return vec![];
    }
    counts.files += 1;
    let usage = if r.usage.is_empty() {
        "TLS".to_string()
    } else {
        quote_safe(&r.usage)
    };
    match read_key_file(root, &r.path) {
        // A parser bug on a hostile file must be a finding, not a crash of the test.
        Ok(bytes) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_bytes(&bytes, &r.path, &usage, p, counts)
        }))
        .unwrap_or_else(|_| {
            vec![file_finding(
                &r.path,
                &usage,
                "the certificate parser failed on it",
            )]
        }),
        Err(why) => vec![
            Finding::blocker(
                RULE_FILE,
                format!(
                    "the {usage} certificate file {} cannot be checked: {why}",
                    r.path
                ),
            )
            .value(show_value(&toml::Value::String(r.path.clone())))
            .at(product_location(&format!("{}.path", r.key)))
            .fix(format!(
                "Restore the file or correct product.{}.path, then run the test again.",
                r.key
            )),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_len(&[0x7f, 0xff]), 15);
        assert_eq!(bit_len(&[0, 0]), 0);
        assert_eq!(bit_len(&[1]), 1);
    }

    #[test]
    fn weakness_boundaries() {
        let p = TlsParams::default();
        assert!(KeyStrength::Rsa(2047).weakness(&p).is_some());
        assert!(KeyStrength::Rsa(2048).weakness(&p).is_none());
        assert!(
            KeyStrength::Ec {
                bits: 192,
                curve: "P-192".into()
            }
            .weakness(&p)
            .is_some()
        );
        assert!(
            KeyStrength::Ec {
                bits: 224,
                curve: "P-224".into()
            }
            .weakness(&p)
            .is_none()
        );
        assert!(KeyStrength::Edwards("Ed25519").weakness(&p).is_none());
    }

    #[test]
    fn garbage_is_a_finding_not_a_crash() {
        let mut c = TlsCounts::default();
        let f = check_bytes(b"hello", "x.pem", "web", &TlsParams::default(), &mut c);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, RULE_FILE);
        let f = check_bytes(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "y.pem",
            "web",
            &TlsParams::default(),
            &mut c,
        );
        assert!(!f.is_empty());
        assert!(f.iter().all(|f| f.rule == RULE_FILE), "{f:?}");
    }
}
