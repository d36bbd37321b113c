//! The `reserved-names` rule: names the new firmware takes for its own objects must
//! not already be in use (RDP settings `legacy_default` and `default_nla` when
//! upgrading from before 6.8.0).

use super::{product_location, quote_safe, values_at};
use crate::finding::{CheckOutcome, Finding};
use crate::version::Version;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservedParams {
    pub key: String,
    pub names: Vec<String>,
    /// Applies only when upgrading from a version older than this.
    #[serde(default)]
    pub below: Option<Version>,
    #[serde(default)]
    pub what: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

pub const DEFAULT_ID: &str = "reserved-names";

/// The names configured at `key`: strings, or tables with a `name`.
fn names_at<'a>(product: &'a toml::Table, key: &str) -> Vec<(String, &'a str)> {
    let mut out = Vec::new();
    for (k, v) in values_at(product, key) {
        match v {
            toml::Value::String(s) => out.push((k, s.as_str())),
            toml::Value::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    if let Some(s) = e.as_str() {
                        out.push((format!("{k}[{i}]"), s));
                    } else if let Some(s) = e.get("name").and_then(|n| n.as_str()) {
                        out.push((format!("{k}[{i}].name"), s));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Runs the rule; `current` is the running version (None: unknown, the rule applies).
pub fn check(product: &toml::Table, p: &ReservedParams, current: Option<Version>) -> CheckOutcome {
    let id = p.id.clone().unwrap_or_else(|| DEFAULT_ID.into());
    let what = p.what.clone().unwrap_or_else(|| "name".into());
    let reserved = p.names.join(", ");
    if let (Some(below), Some(cur)) = (p.below, current)
        && cur >= below
    {
        return CheckOutcome {
            check: id,
            summary: format!("{what}s {reserved}: not reserved when upgrading from {cur}"),
            findings: vec![],
        };
    }
    let names = names_at(product, &p.key);
    let mut findings = Vec::new();
    for (key, name) in &names {
        if p.names.iter().any(|r| r.eq_ignore_ascii_case(name.trim())) {
            let from = match p.below {
                Some(b) => format!(" when upgrading from before {b}"),
                None => String::new(),
            };
            findings.push(
                Finding::blocker(
                    &id,
                    format!(
                        "the {what} \"{}\" uses a name the new firmware reserves for its own{from}",
                        quote_safe(name)
                    ),
                )
                .value(quote_safe(name))
                .at(product_location(key))
                .fix(format!(
                    "Rename the {what} \"{}\" (for example to \"{}_old\") and update what refers to it, then run the test again.",
                    quote_safe(name),
                    quote_safe(name.trim())
                )),
            );
        }
    }
    CheckOutcome {
        check: id,
        summary: format!(
            "{} {what}(s) checked against reserved {reserved}",
            names.len()
        ),
        findings,
    }
}
