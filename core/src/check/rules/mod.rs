//! The new firmware's configuration rules (the guides' "Test" button). The image's
//! manifest lists `[[rules]]`, each a `kind` and its parameters; every kind is a plain
//! function over `appliance.toml`'s `[product]` part, the files it names and the
//! appliance's status files, and yields findings.
//!
//! Rule kinds and their parameters (defaults in brackets):
//!
//! - `tls-keys` — certificates and private keys in `product.certificates =
//!   [{ path, use }]`; a PEM with several certificates is a chain and each is
//!   checked; private keys (PKCS#8, PKCS#1, SEC1, DSA) are sized like certificates.
//!   `min_rsa_bits` [2048], `min_dsa_bits` [2048], `min_ec_bits` [224],
//!   `forbid_signatures` [["sha1", "md5"]] (a self-signed root CA is exempt),
//!   `exempt_uses` [["signing", "timestamping", "encryption", "decryption"]],
//!   `uses` [all]: when given, only entries with these uses are checked.
//! - `ssh-keys` — keys in `product.ssh_keys = [{ path, use }]` (OpenSSH public or
//!   private keys, OpenSSH certificates, X.509 certificates).
//!   `min_rsa_bits` [1024], `forbid` [["dsa", "x509"]].
//! - `numeric-range` — `key` (dotted path under `[product]`), `min`, `max`;
//!   `required` [false]: whether an absent key is a blocker.
//! - `minimum` — `key`, `min`, `required` [false].
//! - `reserved-names` — `key` (a list of names, or of tables with `name`), `names`,
//!   `below` [always]: applies only when upgrading from a version below it.
//! - `idna-hostnames` — `key` (a list of hostnames): each must be a valid
//!   IDNA 2008 / RFC 5890 domain name.
//! - `plugin-versions` — `minimums = { name = "version" }` over
//!   `product.plugins = [{ name, version }]`.
//! - `indexer-versions` — `min` [the firmware's version] over
//!   `product.external_indexers = [{ host, version }]`.
//! - `ha-healthy` — the HA status file (`ha.status_file`, JSON `{"state": ..}`)
//!   says "ok"; a standalone node passes.
//! - `monitor-clean` — the System Monitor file (`monitor.status_file`, JSON
//!   `{"alerts": [{"id", "text"}]}`) has no open alerts.
//! - `core-dumps` — files under `var/crash`: a warning with count and size.
//!
//! An unknown kind or parameter is an error, never a silent pass: the image was
//! made for a newer console.

mod health;
mod names;
mod numeric;
mod params;
mod ssh_keys;
mod tls;
mod versions;

use crate::appliance::config::Config;
use crate::appliance::root::ApplianceRoot;
use crate::check::finding::CheckOutcome;
use crate::image::manifest::Manifest;
use crate::image::version::Version;

/// Everything a rule may look at.
pub struct RuleInput<'a> {
    pub root: &'a ApplianceRoot,
    pub config: &'a Config,
    pub manifest: &'a Manifest,
    /// The running firmware version, when known.
    pub current: Option<Version>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    #[error(
        "rule kind \"{kind}\" is unknown to this console: the image is for a newer console; update upgrade-console first"
    )]
    UnknownKind { kind: String },
    #[error("rule \"{kind}\" in the image's manifest: {problem}")]
    BadParams { kind: String, problem: String },
}

/// Where `[product]` keys live, for findings.
pub(crate) const CONFIG_AT: &str = "etc/appliance/appliance.toml";

/// Evaluates every rule of the manifest, in manifest order: one outcome per rule.
pub fn evaluate(input: &RuleInput) -> Result<Vec<CheckOutcome>, RuleError> {
    let mut out = Vec::with_capacity(input.manifest.rules.len());
    for spec in &input.manifest.rules {
        let p = params::Params::new(&spec.kind, &spec.params);
        let outcome = match spec.kind.as_str() {
            "tls-keys" => tls::run(input, p)?,
            "ssh-keys" => ssh_keys::run(input, p)?,
            "numeric-range" => numeric::range(input, p)?,
            "minimum" => numeric::minimum(input, p)?,
            "reserved-names" => names::reserved(input, p)?,
            "idna-hostnames" => names::idna_hostnames(input, p)?,
            "plugin-versions" => versions::plugins(input, p)?,
            "indexer-versions" => versions::indexers(input, p)?,
            "ha-healthy" => health::ha(input, p)?,
            "monitor-clean" => health::monitor(input, p)?,
            "core-dumps" => health::core_dumps(input, p)?,
            other => {
                return Err(RuleError::UnknownKind {
                    kind: other.to_string(),
                });
            }
        };
        out.push(outcome);
    }
    Ok(out)
}

/// A `[product]` value by dotted key (`a.b.c`).
pub(crate) fn product_value<'a>(config: &'a Config, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut v = config.product.get(parts.next()?)?;
    for part in parts {
        v = v.as_table()?.get(part)?;
    }
    Some(v)
}

/// The location of a `[product]` key in the configuration file.
pub(crate) fn product_at(key: &str) -> String {
    format!("{CONFIG_AT}: product.{key}")
}

/// Certificate and key files are small; a larger file is refused unread, so a
/// wrong path (a disk image, a log) cannot exhaust memory.
pub(crate) const MAX_KEY_FILE: u64 = 1 << 20;

/// Reads a certificate or key file of at most `MAX_KEY_FILE` bytes; the error is
/// the end of a sentence ("the file X {error}").
pub(crate) fn read_key_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    // A FIFO or device would block or never end: only regular files are read.
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file (a directory, device or pipe)".into());
    }
    let f = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    let mut bytes = Vec::new();
    f.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(format!(
            "is larger than {} KiB: not a certificate or key file",
            MAX_KEY_FILE / 1024
        ));
    }
    Ok(bytes)
}

/// One `{ path, use }` entry of `product.certificates` / `product.ssh_keys`.
pub(crate) struct FileEntry {
    pub index: usize,
    pub path: String,
    pub usage: String,
}

/// Reads `product.<key>` as a list of `{ path, use }` tables; malformed entries
/// become blockers (the rule cannot check what it cannot find).
pub(crate) fn file_entries(
    config: &Config,
    key: &str,
    rule: &str,
) -> (Vec<FileEntry>, Vec<crate::check::finding::Finding>) {
    use crate::check::finding::Finding;
    let mut entries = vec![];
    let mut bad = vec![];
    let Some(v) = config.product.get(key) else {
        return (entries, bad);
    };
    let Some(list) = v.as_array() else {
        bad.push(
            Finding::blocker(rule, format!("product.{key} is not a list"))
                .value(v)
                .at(product_at(key))
                .fix(format!(
                    "Write product.{key} as a list: [{{ path = \"...\", use = \"...\" }}]."
                )),
        );
        return (entries, bad);
    };
    for (i, item) in list.iter().enumerate() {
        let path = item.get("path").and_then(|p| p.as_str());
        match path {
            Some(p) if !p.is_empty() => entries.push(FileEntry {
                index: i,
                path: p.to_string(),
                usage: item
                    .get("use")
                    .and_then(|u| u.as_str())
                    .unwrap_or("")
                    .to_string(),
            }),
            _ => bad.push(
                Finding::blocker(rule, format!("product.{key}[{i}] names no file"))
                    .value(item)
                    .at(product_at(&format!("{key}[{i}]")))
                    .fix("Give the entry a path = \"...\" to the file, or remove it."),
            ),
        }
    }
    (entries, bad)
}
