//! Versions of things the new firmware talks to: each plugin at least the
//! manifest's minimum, each external indexer at least the firmware's version.

use super::params::Params;
use super::{RuleError, RuleInput, product_at};
use crate::check::finding::{CheckOutcome, Finding};
use crate::image::version::Version;
use std::cmp::Ordering;

const RULE_PLUGIN: &str = "plugin-versions";
const RULE_INDEXER: &str = "indexer-versions";

/// A dotted numeric version (plugins number themselves freely: 2, 2.2, 2.2.0.1).
fn dotted(s: &str) -> Option<Vec<u64>> {
    let s = s.trim().trim_start_matches(['v', 'V']);
    if s.is_empty() {
        return None;
    }
    s.split('.').map(|p| p.parse().ok()).collect()
}

/// Compares dotted versions, missing parts counting as 0 (2.2 == 2.2.0).
fn cmp_dotted(a: &[u64], b: &[u64]) -> Ordering {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// `product.<key>` as (index, name, version) tables.
fn entries(
    input: &RuleInput,
    rule: &str,
    key: &str,
    name_key: &str,
) -> (Vec<(usize, String, String)>, Vec<Finding>) {
    let mut out = vec![];
    let mut bad = vec![];
    let Some(v) = input.config.product.get(key) else {
        return (out, bad);
    };
    let Some(list) = v.as_array() else {
        bad.push(
            Finding::blocker(rule, format!("product.{key} is not a list"))
                .value(v)
                .at(product_at(key))
                .fix(format!(
                    "Write product.{key} as a list: [{{ {name_key} = \"...\", version = \"...\" }}]."
                )),
        );
        return (out, bad);
    };
    for (i, item) in list.iter().enumerate() {
        let name = item.get(name_key).and_then(|n| n.as_str());
        let version = item.get("version").and_then(|n| n.as_str());
        match (name, version) {
            (Some(n), Some(v)) => out.push((i, n.to_string(), v.to_string())),
            _ => bad.push(
                Finding::blocker(
                    rule,
                    format!("product.{key}[{i}] lacks {name_key} or version"),
                )
                .value(item)
                .at(product_at(&format!("{key}[{i}]")))
                .fix(format!(
                    "Give the entry {name_key} = \"...\" and version = \"...\" as installed."
                )),
            ),
        }
    }
    (out, bad)
}

pub(crate) fn plugins(input: &RuleInput, p: Params) -> Result<CheckOutcome, RuleError> {
    p.allow(&["minimums"])?;
    let target = input.manifest.firmware.version;
    let mut minimums = vec![];
    for (name, v) in p.table_opt("minimums")?.into_iter().flatten() {
        let parsed = v.as_str().and_then(dotted).ok_or_else(|| {
            p.error(format!(
                "minimums.{name} = {v} is not a version like \"2.2.0\""
            ))
        })?;
        minimums.push((name.as_str(), v.as_str().unwrap_or_default(), parsed));
    }
    let (plugins, mut findings) = entries(input, RULE_PLUGIN, "plugins", "name");
    for (i, name, version) in &plugins {
        let Some((_, min_text, min)) = minimums.iter().find(|(n, _, _)| n == name) else {
            continue;
        };
        let at = product_at(&format!("plugins[{i}].version"));
        match dotted(version) {
            Some(have) if cmp_dotted(&have, min).is_ge() => {}
            Some(_) => findings.push(
                Finding::blocker(
                    RULE_PLUGIN,
                    format!("plugin {name} {version} does not work with {target}: it needs {min_text} or later"),
                )
                .value(format!("{name} {version}"))
                .at(at)
                .fix(format!("Upgrade the {name} plugin to {min_text} or later before the firmware upgrade.")),
            ),
            None => findings.push(
                Finding::blocker(RULE_PLUGIN, format!("plugin {name} has an unreadable version"))
                    .value(format!("{name} {version}"))
                    .at(at)
                    .fix(format!("Write the installed version of {name} as numbers, like \"{min_text}\".")),
            ),
        }
    }
    Ok(CheckOutcome {
        check: RULE_PLUGIN.into(),
        summary: format!(
            "{} plugin(s), {} with a minimum version",
            plugins.len(),
            minimums.len()
        ),
        findings,
    })
}

pub(crate) fn indexers(input: &RuleInput, p: Params) -> Result<CheckOutcome, RuleError> {
    p.allow(&["min"])?;
    let target = input.manifest.firmware.version;
    let min = p.version_opt("min")?.unwrap_or(target);
    let (list, mut findings) = entries(input, RULE_INDEXER, "external_indexers", "host");
    for (i, host, version) in &list {
        let at = product_at(&format!("external_indexers[{i}].version"));
        match version.parse::<Version>() {
            Ok(have) if have >= min => {}
            Ok(have) => findings.push(
                Finding::blocker(
                    RULE_INDEXER,
                    format!("external indexer {host} runs {have}; {target} needs indexers at {min} or later"),
                )
                .value(format!("{host} {version}"))
                .at(at)
                .fix(format!("Upgrade the external indexer on {host} to {min} or later first, then this appliance.")),
            ),
            Err(e) => findings.push(
                Finding::blocker(RULE_INDEXER, format!("external indexer {host}: {e}"))
                    .value(format!("{host} {version}"))
                    .at(at)
                    .fix(format!("Write the indexer's installed version, like \"{min}\".")),
            ),
        }
    }
    Ok(CheckOutcome {
        check: RULE_INDEXER.into(),
        summary: format!("{} external indexer(s), each at least {min}", list.len()),
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_versions_compare_with_missing_parts_as_zero() {
        let v = |s| dotted(s).unwrap_or_default();
        assert_eq!(cmp_dotted(&v("2.2"), &v("2.2.0")), Ordering::Equal);
        assert_eq!(cmp_dotted(&v("2.10"), &v("2.9.9")), Ordering::Greater);
        assert_eq!(cmp_dotted(&v("2.1.9"), &v("2.2")), Ordering::Less);
        assert!(dotted("2.x").is_none());
        assert!(dotted("").is_none());
    }
}
