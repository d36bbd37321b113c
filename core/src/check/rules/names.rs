//! Names the new firmware refuses: reserved setting names (RDP settings
//! `legacy_default` / `default_nla` when upgrading from below 6.8.0), and hostnames
//! for in-band destination selection that are not IDNA 2008 / RFC 5890 domain names.

use super::params::Params;
use super::{RuleError, RuleInput, product_at, product_value};
use crate::check::finding::{CheckOutcome, Finding};

const RULE_RESERVED: &str = "reserved-names";
const RULE_IDNA: &str = "idna-hostnames";

/// The names in `product.<key>`: a list of strings, or of tables with a `name`
/// (or `host` / `hostname`). Returns (index, name) pairs and findings for entries
/// that are neither.
fn names_at(input: &RuleInput, rule: &str, key: &str) -> (Vec<(usize, String)>, Vec<Finding>) {
    let mut names = vec![];
    let mut bad = vec![];
    let Some(v) = product_value(input.config, key) else {
        return (names, bad);
    };
    let Some(list) = v.as_array() else {
        bad.push(
            Finding::blocker(rule, format!("product.{key} is not a list"))
                .value(v)
                .at(product_at(key))
                .fix(format!("Write product.{key} as a list of names.")),
        );
        return (names, bad);
    };
    for (i, item) in list.iter().enumerate() {
        let name = match item {
            toml::Value::String(s) => Some(s.as_str()),
            toml::Value::Table(t) => ["name", "host", "hostname"]
                .iter()
                .find_map(|k| t.get(*k).and_then(|n| n.as_str())),
            _ => None,
        };
        match name {
            Some(n) => names.push((i, n.to_string())),
            None => bad.push(
                Finding::blocker(rule, format!("product.{key}[{i}] is not a name"))
                    .value(item)
                    .at(product_at(&format!("{key}[{i}]")))
                    .fix("Write the entry as a string (or a table with name = \"...\")."),
            ),
        }
    }
    (names, bad)
}

pub(crate) fn reserved(input: &RuleInput, p: Params) -> Result<CheckOutcome, RuleError> {
    p.allow(&["key", "names", "below"])?;
    let key = p.str_req("key")?;
    let reserved = p.list_opt("names")?.unwrap_or_default();
    if reserved.is_empty() {
        return Err(p.error("parameter \"names\" must list at least one name".into()));
    }
    let below = p.version_opt("below")?;
    let target = input.manifest.firmware.version;
    // The rule applies to upgrades from below `below`; an unknown running version
    // cannot be shown to be above it, so the rule applies.
    let applies = match (below, input.current) {
        (None, _) | (_, None) => true,
        (Some(b), Some(cur)) => cur < b,
    };
    if !applies {
        return Ok(CheckOutcome {
            check: RULE_RESERVED.into(),
            summary: format!(
                "product.{key}: reserved names apply only when upgrading from below {}",
                below.map(|b| b.to_string()).unwrap_or_default()
            ),
            findings: vec![],
        });
    }
    let (names, mut findings) = names_at(input, RULE_RESERVED, key);
    let from = match (below, input.current) {
        (Some(b), Some(cur)) => format!(" (upgrading from {cur}, below {b})"),
        _ => String::new(),
    };
    for (i, name) in &names {
        if reserved.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            findings.push(
                Finding::blocker(
                    RULE_RESERVED,
                    format!("\"{name}\" is a name {target} reserves for its own settings{from}"),
                )
                .value(name)
                .at(product_at(&format!("{key}[{i}]")))
                .fix(format!(
                    "Rename the setting \"{name}\" (and update the policies that use it) before the upgrade."
                )),
            );
        }
    }
    Ok(CheckOutcome {
        check: RULE_RESERVED.into(),
        summary: format!(
            "{} name(s) in product.{key}, reserved: {}",
            names.len(),
            reserved.join(", ")
        ),
        findings,
    })
}

pub(crate) fn idna_hostnames(input: &RuleInput, p: Params) -> Result<CheckOutcome, RuleError> {
    p.allow(&["key"])?;
    let key = p.str_req("key")?;
    let target = input.manifest.firmware.version;
    let (names, mut findings) = names_at(input, RULE_IDNA, key);
    for (i, name) in &names {
        if let Err(why) = check_hostname(name) {
            findings.push(
                Finding::blocker(
                    RULE_IDNA,
                    format!("{target} refuses \"{name}\": {why}"),
                )
                .value(name)
                .at(product_at(&format!("{key}[{i}]")))
                .fix("Change it to a valid domain name (letters, digits and hyphens per label, no leading or trailing hyphen, labels up to 63 characters)."),
            );
        }
    }
    Ok(CheckOutcome {
        check: RULE_IDNA.into(),
        summary: format!("{} hostname(s) in product.{key}", names.len()),
        findings,
    })
}

/// Whether `name` is a domain name IDNA 2008 (UTS 46, strict: STD3 rules, DNS
/// lengths) accepts. A trailing root dot is allowed.
pub(crate) fn check_hostname(name: &str) -> Result<(), String> {
    // Destination lists also hold addresses and networks: those are not names.
    let addr = name.trim_start_matches('[').trim_end_matches(']');
    if addr.parse::<std::net::IpAddr>().is_ok()
        || addr.parse::<crate::appliance::config::Cidr>().is_ok()
    {
        return Ok(());
    }
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err("it is empty".into());
    }
    // Say which character is wrong: the guides' example is ASCII letters, digits, hyphen.
    if let Some(c) = bare
        .chars()
        .find(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.')))
    {
        return Err(format!(
            "it contains {c:?}; in ASCII only letters, digits and the hyphen are allowed"
        ));
    }
    if bare.split('.').any(str::is_empty) {
        return Err("it has an empty label".into());
    }
    match idna::domain_to_ascii_strict(bare) {
        Ok(_) => Ok(()),
        Err(_) => Err("it is not a valid IDNA / RFC 5890 domain name".into()),
    }
}
