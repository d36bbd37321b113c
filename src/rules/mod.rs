//! The new firmware's configuration rules (the guides' "Test" button): the manifest's
//! `[[rules]]` pick and parameterise checks over appliance.toml's `[product]` part and
//! the files it names; a few always-on checks of the appliance's state (HA, System
//! Monitor, core dumps) belong to the same test. Each rule family is a plain function
//! over parsed data in its own file.
//!
//! # Rule kinds (manifest `[[rules]]` entries)
//!
//! Every entry has `kind` plus the parameters below; an unknown `kind` is an error
//! ([`RuleError::UnknownKind`]: the firmware is newer than this console), and so is an
//! unknown, missing or ill-typed parameter ([`RuleError::BadParams`]).
//!
//! * `kind = "tls-keys"`: every certificate and private key in `product.certificates`
//!   (`[{ path, use }]`, PEM or DER, a PEM file with several certificates is a chain
//!   and each is checked). Parameters, all optional:
//!   `min_rsa_bits` (2048), `min_dsa_bits` (2048), `min_ec_bits` (224),
//!   `refused_hashes` (`["sha1", "md5"]`; any of `md2`, `md5`, `sha1`),
//!   `exempt_uses` (`["signing", "timestamping", "encryption", "decryption"]`).
//!   A root CA (self-issued CA certificate) is exempt from the signature rule.
//!   Check id `tls-keys`; finding rules `tls-key-size`, `tls-signature-hash`, `tls-file`.
//! * `kind = "ssh-keys"`: every key in `product.ssh_keys` (`[{ path, use }]`, OpenSSH
//!   public key lines or an OpenSSH private key). Parameters, all optional:
//!   `min_rsa_bits` (1024), `refuse_dsa` (true), `refuse_x509` (true).
//!   Check id `ssh-keys`; finding rules `ssh-key-size`, `ssh-key-dsa`, `ssh-key-x509`,
//!   `ssh-key-file`.
//! * `kind = "numeric-range"`: `key` (dotted path under `[product]`), `min` and/or
//!   `max` (inclusive, at least one; a minimum is a range with only `min`), optional
//!   `unit` (shown after values, e.g. `"%"`, `"s"`), `id` (check id; default the key
//!   with `_` as `-`), `required` (false: an absent key means the firmware default).
//!   Finding rule: the check id.
//! * `kind = "reserved-names"`: `key` (a list of names, or of tables with `name`),
//!   `names` (the reserved names, compared without case), optional `below` (a version:
//!   the rule applies only when upgrading from an older one), `what` (what the names
//!   are, for messages, default "name"), `id` (default `reserved-names`).
//! * `kind = "idna-hostnames"`: `keys` (dotted paths under `[product]`; a path
//!   through a list of tables picks that field of each, e.g. `external_indexers.host`),
//!   optional `allow_wildcard` (true: a leading `*.` is allowed), `id` (default
//!   `idna-hostnames`). IP addresses and CIDR ranges are skipped; every host name must
//!   pass IDNA 2008 / UTS 46 strict processing (RFC 5890/5891: letters, digits and
//!   hyphens in ASCII, label and name lengths).
//! * `kind = "min-version"`: `key` (a list of tables under `[product]`), optional
//!   `name_field` ("name"), `version_field` ("version"), and either `minimum` (a
//!   version, or `"firmware"` for the image's own version) or `minimums` (a table
//!   name = version; entries not named are not checked), `what` (for messages, default
//!   "plugin"), `id` (default `min-version`).
//!
//! # Always-on checks (not manifest kinds)
//! * `ha-status`: `config.ha.status_file` JSON `{"state": "ok" | ...}`: any state but
//!   `ok` is a blocker (standalone nodes pass).
//! * `monitor-alerts`: `config.monitor.status_file` JSON `{"alerts": [...]}`: each open
//!   alert is a blocker.
//! * `crash-dumps`: files under `var/crash`: a warning with their count and size, since
//!   the upgrade removes them.

use crate::config::Config;
use crate::finding::{CheckOutcome, Finding};
use crate::manifest::{Manifest, RuleSpec};
use crate::root::ApplianceRoot;
use crate::version::Version;
use serde::de::DeserializeOwned;

pub mod appliance_state;
pub mod crash_dumps;
pub mod demo_material;
pub mod hostnames;
pub mod numeric;
pub mod reserved_names;
pub mod ssh_keys;
pub mod tls;
pub mod versions;

/// Where the `[product]` keys live, as findings name it.
pub const CONFIG_FILE: &str = "etc/appliance/appliance.toml";

/// Largest certificate or key file read; real ones are a few KiB.
pub const MAX_KEY_FILE_BYTES: u64 = 1 << 20;

/// What the rules read: the appliance root (for the files `[product]` names), its
/// configuration, the new firmware's manifest and the running version (if known).
pub struct RuleInput<'a> {
    pub root: &'a ApplianceRoot,
    pub config: &'a Config,
    pub manifest: &'a Manifest,
    pub current: Option<Version>,
}

/// A manifest rule this console cannot run. Configuration problems are findings,
/// not errors: only the image's own rules can make the test impossible.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error(
        "the image's manifest asks for configuration rule kind \"{kind}\", which this console does not know: a newer firmware than this console; update the console (upgrade-console) first, then run the test again"
    )]
    UnknownKind { kind: String },
    #[error(
        "the image's manifest rule \"{kind}\" has bad parameters: {problem}; the image is damaged or made for another console version: download it again or update the console"
    )]
    BadParams { kind: String, problem: String },
}

/// Runs the manifest's rules in manifest order, then the always-on checks
/// (`ha-status`, `monitor-alerts`, `crash-dumps`). Every rule is validated before
/// any runs, so a bad manifest gives an error and no partial report.
pub fn evaluate(input: &RuleInput) -> Result<Vec<CheckOutcome>, RuleError> {
    let rules = input
        .manifest
        .rules
        .iter()
        .map(Rule::from_spec)
        .collect::<Result<Vec<_>, _>>()?;
    let mut out: Vec<CheckOutcome> = rules.iter().map(|r| r.run(input)).collect();
    out.push(appliance_state::ha_status(input.root, input.config));
    out.push(appliance_state::monitor_alerts(input.root, input.config));
    out.push(crash_dumps::check(input.root));
    Ok(out)
}

/// One parsed manifest rule.
#[derive(Debug, Clone)]
pub enum Rule {
    TlsKeys(tls::TlsParams),
    SshKeys(ssh_keys::SshParams),
    NumericRange(numeric::RangeParams),
    ReservedNames(reserved_names::ReservedParams),
    IdnaHostnames(hostnames::HostnameParams),
    MinVersion(versions::MinVersionParams),
}

impl Rule {
    pub fn from_spec(spec: &RuleSpec) -> Result<Rule, RuleError> {
        let k = spec.kind.as_str();
        Ok(match k {
            "tls-keys" => Rule::TlsKeys(params(k, &spec.params)?),
            "ssh-keys" => Rule::SshKeys(params(k, &spec.params)?),
            "numeric-range" => {
                Rule::NumericRange(numeric::RangeParams::validate(params(k, &spec.params)?)?)
            }
            "reserved-names" => Rule::ReservedNames(params(k, &spec.params)?),
            "idna-hostnames" => Rule::IdnaHostnames(params(k, &spec.params)?),
            "min-version" => Rule::MinVersion(versions::MinVersionParams::validate(params(
                k,
                &spec.params,
            )?)?),
            _ => {
                return Err(RuleError::UnknownKind {
                    kind: quote_safe(k),
                });
            }
        })
    }

    pub fn run(&self, input: &RuleInput) -> CheckOutcome {
        match self {
            Rule::TlsKeys(p) => tls::check(input.root, &input.config.product, p),
            Rule::SshKeys(p) => ssh_keys::check(input.root, &input.config.product, p),
            Rule::NumericRange(p) => numeric::check(&input.config.product, p),
            Rule::ReservedNames(p) => {
                reserved_names::check(&input.config.product, p, input.current)
            }
            Rule::IdnaHostnames(p) => hostnames::check(&input.config.product, p),
            Rule::MinVersion(p) => {
                versions::check(&input.config.product, p, input.manifest.firmware.version)
            }
        }
    }
}

/// Deserialises a rule's parameters, refusing unknown keys.
fn params<T: DeserializeOwned>(kind: &str, table: &toml::Table) -> Result<T, RuleError> {
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| {
            // The message alone does not always name the key: show the parameters.
            let shown = toml::to_string(table)
                .unwrap_or_default()
                .lines()
                .collect::<Vec<_>>()
                .join(", ");
            bad(
                kind,
                format!(
                    "{} (parameters: {})",
                    e.message().trim().replace('\n', " "),
                    quote_safe(&shown)
                ),
            )
        })
}

pub(crate) fn bad(kind: &str, problem: impl Into<String>) -> RuleError {
    RuleError::BadParams {
        kind: kind.to_string(),
        problem: problem.into(),
    }
}

/// Keeps a manifest-provided string printable and short in messages.
fn quote_safe(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.chars().count() > 120 {
        format!("{}...", clean.chars().take(117).collect::<String>())
    } else {
        clean
    }
}

/// "etc/appliance/appliance.toml: product.KEY", the location of a `[product]` key.
pub fn product_location(key: &str) -> String {
    format!("{CONFIG_FILE}: product.{key}")
}

/// The values at a dotted path under `[product]`, each with its full key
/// (`external_indexers[1].host`). A path segment that meets a list of tables picks
/// that field of every element; a missing key yields nothing.
pub fn values_at<'a>(product: &'a toml::Table, path: &str) -> Vec<(String, &'a toml::Value)> {
    let mut current: Vec<(String, &toml::Value)> = Vec::new();
    let mut first = true;
    for seg in path.split('.') {
        let mut next = Vec::new();
        if first {
            if let Some(v) = product.get(seg) {
                next.push((seg.to_string(), v));
            }
            first = false;
        } else {
            for (k, v) in current {
                match v {
                    toml::Value::Table(t) => {
                        if let Some(x) = t.get(seg) {
                            next.push((format!("{k}.{seg}"), x));
                        }
                    }
                    toml::Value::Array(a) => {
                        for (i, e) in a.iter().enumerate() {
                            if let Some(x) = e.as_table().and_then(|t| t.get(seg)) {
                                next.push((format!("{k}[{i}].{seg}"), x));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        current = next;
    }
    current
}

/// Renders a configuration value for a finding, short.
pub fn show_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => quote_safe(s),
        other => quote_safe(&other.to_string()),
    }
}

/// A `{ path, use }` entry of `product.certificates` or `product.ssh_keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFileRef {
    /// `certificates[3]`
    pub key: String,
    pub path: String,
    pub usage: String,
}

/// Reads the `{ path, use }` list at `product.<list>`; malformed entries become
/// blocker findings under `rule` so the operator can fix the configuration.
pub fn key_file_refs(
    product: &toml::Table,
    list: &str,
    rule: &str,
) -> (Vec<KeyFileRef>, Vec<Finding>) {
    let mut refs = Vec::new();
    let mut findings = Vec::new();
    let Some(v) = product.get(list) else {
        return (refs, findings);
    };
    let Some(items) = v.as_array() else {
        findings.push(
            Finding::blocker(
                rule,
                format!("product.{list} is not a list of {{ path, use }} entries"),
            )
            .value(show_value(v))
            .at(product_location(list))
            .fix(format!(
                "Write it as {list} = [{{ path = \"etc/appliance/...\", use = \"...\" }}]."
            )),
        );
        return (refs, findings);
    };
    for (i, item) in items.iter().enumerate() {
        let key = format!("{list}[{i}]");
        let t = item.as_table();
        let path = t.and_then(|t| t.get("path")).and_then(|p| p.as_str());
        let usage = t
            .and_then(|t| t.get("use"))
            .and_then(|p| p.as_str())
            .unwrap_or("");
        match path {
            Some(p) if !p.is_empty() => refs.push(KeyFileRef {
                key,
                path: p.to_string(),
                usage: usage.to_string(),
            }),
            _ => findings.push(
                Finding::blocker(rule, format!("{key} names no file"))
                    .value(show_value(item))
                    .at(product_location(&key))
                    .fix("Give the entry a path (relative to the appliance root) and a use."),
            ),
        }
    }
    (refs, findings)
}

/// Reads a certificate or key file named by the configuration, bounded in size.
pub fn read_key_file(root: &ApplianceRoot, rel: &str) -> Result<Vec<u8>, String> {
    let path = root.resolve(rel);
    let meta = std::fs::metadata(&path).map_err(|e| format!("cannot read it ({e})"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(format!(
            "it is {} bytes, too large for a certificate or key file",
            meta.len()
        ));
    }
    std::fs::read(&path).map_err(|e| format!("cannot read it ({e})"))
}

/// "1 certificate" / "3 certificates".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
