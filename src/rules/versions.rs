//! The `min-version` rule: components outside the firmware must be new enough for it:
//! each plugin at least the manifest's minimum, each external indexer at least the
//! firmware's own version.

use super::{RuleError, bad, product_location, quote_safe, values_at};
use crate::finding::{CheckOutcome, Finding};
use crate::version::Version;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinVersionParams {
    pub key: String,
    #[serde(default = "default_name")]
    pub name_field: String,
    #[serde(default = "default_version")]
    pub version_field: String,
    /// A version, or "firmware" for the image's version.
    #[serde(default)]
    pub minimum: Option<String>,
    #[serde(default)]
    pub minimums: BTreeMap<String, Version>,
    #[serde(default)]
    pub what: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

fn default_name() -> String {
    "name".into()
}
fn default_version() -> String {
    "version".into()
}

pub const DEFAULT_ID: &str = "min-version";

impl MinVersionParams {
    pub fn validate(self) -> Result<Self, RuleError> {
        const K: &str = "min-version";
        match (&self.minimum, self.minimums.is_empty()) {
            (None, true) => Err(bad(
                K,
                format!("rule for \"{}\" has neither minimum nor minimums", self.key),
            )),
            (Some(_), false) => Err(bad(
                K,
                format!("rule for \"{}\" has both minimum and minimums", self.key),
            )),
            (Some(m), _) if m != "firmware" && m.parse::<Version>().is_err() => Err(bad(
                K,
                format!(
                    "minimum = \"{}\" is neither a version nor \"firmware\"",
                    quote_safe(m)
                ),
            )),
            _ => Ok(self),
        }
    }

    fn minimum_for(&self, name: &str, firmware: Version) -> Option<Version> {
        match &self.minimum {
            Some(m) if m == "firmware" => Some(firmware),
            Some(m) => m.parse().ok(),
            None => self
                .minimums
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v),
        }
    }
}

/// Runs the rule; `firmware` is the image's version.
pub fn check(product: &toml::Table, p: &MinVersionParams, firmware: Version) -> CheckOutcome {
    let id = p.id.clone().unwrap_or_else(|| DEFAULT_ID.into());
    let what = p.what.clone().unwrap_or_else(|| "plugin".into());
    let mut findings = Vec::new();
    let mut checked = 0usize;
    let mut entries = Vec::new();
    for (k, v) in values_at(product, &p.key) {
        match v.as_array() {
            Some(a) => entries.extend(a.iter().enumerate().map(|(i, e)| (format!("{k}[{i}]"), e))),
            None => entries.push((k, v)),
        }
    }
    for (k, e) in entries {
        let name = e
            .get(&p.name_field)
            .and_then(|n| n.as_str())
            .map(quote_safe)
            .unwrap_or_else(|| k.clone());
        let Some(min) = p.minimum_for(&name, firmware) else {
            continue;
        };
        checked += 1;
        let vkey = format!("{k}.{}", p.version_field);
        let raw = e.get(&p.version_field).and_then(|v| v.as_str());
        let fix = format!(
            "Upgrade the {what} \"{name}\" to version {min} or later (and set product.{vkey} to it), then run the test again."
        );
        match raw.map(|r| (r, r.parse::<Version>())) {
            Some((_, Ok(v))) if v >= min => {}
            Some((r, Ok(_))) => findings.push(
                Finding::blocker(
                    &id,
                    format!("the {what} \"{name}\" is version {r}; the new firmware needs at least {min}"),
                )
                .value(quote_safe(r))
                .at(product_location(&vkey))
                .fix(fix),
            ),
            Some((r, Err(_))) => findings.push(
                Finding::blocker(&id, format!("the {what} \"{name}\" has version \"{}\", which is not a version", quote_safe(r)))
                    .value(quote_safe(r))
                    .at(product_location(&vkey))
                    .fix(fix),
            ),
            None => findings.push(
                Finding::blocker(&id, format!("the {what} \"{name}\" has no version"))
                    .value("not set")
                    .at(product_location(&vkey))
                    .fix(fix),
            ),
        }
    }
    let need = match &p.minimum {
        Some(m) if m == "firmware" => format!("at least {firmware}"),
        Some(m) => format!("at least {m}"),
        None => "their minimum versions".into(),
    };
    CheckOutcome {
        check: id,
        summary: format!("{checked} {what}(s) checked, need {need}"),
        findings,
    }
}
