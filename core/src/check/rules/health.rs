//! The appliance's own health before an upgrade: the HA pair is not degraded, the
//! System Monitor has no open alerts, and core dumps (which the upgrade removes)
//! are pointed out so support material is saved first.

use super::params::Params;
use super::{CONFIG_AT, RuleError, RuleInput};
use crate::check::finding::{CheckOutcome, Finding};
use std::path::Path;

const RULE_HA: &str = "ha-healthy";
const RULE_MONITOR: &str = "monitor-clean";
const RULE_DUMPS: &str = "core-dumps";

/// A configured path as the operator knows it: relative to the appliance root.
fn shown(file: &str) -> String {
    file.trim_start_matches('/').to_string()
}

/// Reads a small JSON status file; the error is a sentence for a finding.
fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("is not valid JSON: {e}"))
}

pub(crate) fn ha(input: &RuleInput, p: Params) -> Result<CheckOutcome, RuleError> {
    p.allow(&[])?;
    let Some(ha) = &input.config.ha else {
        return Ok(CheckOutcome {
            check: RULE_HA.into(),
            summary: "standalone node: no HA pair".into(),
            findings: vec![],
        });
    };
    let Some(file) = &ha.status_file else {
        return Ok(CheckOutcome {
            check: RULE_HA.into(),
            summary: "HA state unknown".into(),
            findings: vec![
                Finding::blocker(RULE_HA, "the HA state cannot be checked: no status file is configured")
                    .value("none")
                    .at(format!("{CONFIG_AT}: ha.status_file"))
                    .fix("Set ha.status_file to the JSON file the HA daemon writes, or check the HA state in the web interface and fix it first."),
            ],
        });
    };
    let path = input.root.resolve(file);
    let shown = shown(file);
    let (summary, findings) = match read_json(&path) {
        Err(why) => (
            "HA state unknown".to_string(),
            vec![
                Finding::blocker(RULE_HA, format!("the HA status file {why}"))
                    .value(file)
                    .at(format!("{shown} (ha.status_file)"))
                    .fix("Make sure the HA daemon runs and writes its status file, then run the test again."),
            ],
        ),
        Ok(json) => {
            let state = json
                .get("state")
                .and_then(|s| s.as_str())
                .unwrap_or("missing");
            if state == "ok" {
                ("HA pair state ok".to_string(), vec![])
            } else {
                (
                    format!("HA pair state {state}"),
                    vec![
                        Finding::blocker(RULE_HA, format!("the HA pair is not healthy: state \"{state}\""))
                            .value(state)
                            .at(format!("{shown}: state"))
                            .fix("Bring the HA pair back to a healthy, synchronised state (both nodes up, data in sync) before upgrading."),
                    ],
                )
            }
        }
    };
    Ok(CheckOutcome {
        check: RULE_HA.into(),
        summary,
        findings,
    })
}

pub(crate) fn monitor(input: &RuleInput, p: Params) -> Result<CheckOutcome, RuleError> {
    p.allow(&[])?;
    let file = &input.config.monitor.status_file;
    let path = input.root.resolve(file);
    let shown = shown(file);
    let json = match read_json(&path) {
        Ok(j) => j,
        Err(why) => {
            return Ok(CheckOutcome {
                check: RULE_MONITOR.into(),
                summary: "System Monitor state unknown".into(),
                findings: vec![
                    Finding::blocker(RULE_MONITOR, format!("the System Monitor status file {why}"))
                        .value(file)
                        .at(format!("{shown} (monitor.status_file)"))
                        .fix("Check the System Monitor in the web interface and resolve its alerts, or restore its status file."),
                ],
            });
        }
    };
    let alerts = json
        .get("alerts")
        .and_then(|a| a.as_array())
        .cloned()
        .unwrap_or_default();
    let findings = alerts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let id = a
                .get("id")
                .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                .unwrap_or_else(|| format!("#{i}"));
            let text = a.get("text").and_then(|t| t.as_str()).unwrap_or("");
            Finding::blocker(RULE_MONITOR, format!("open System Monitor alert: {text}"))
                .value(&id)
                .at(format!("{shown}: alerts[{i}]"))
                .fix("Resolve the alert's cause (see System Monitor in the web interface), then run the test again.")
        })
        .collect();
    Ok(CheckOutcome {
        check: RULE_MONITOR.into(),
        summary: format!("{} open System Monitor alert(s)", alerts.len()),
        findings,
    })
}

pub(crate) fn core_dumps(input: &RuleInput, p: Params) -> Result<CheckOutcome, RuleError> {
    p.allow(&[])?;
    let dir = input.root.crash_dir();
    let (mut count, mut bytes) = (0u64, 0u64);
    // Iterative walk: core dumps may sit in per-process subdirectories.
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                count += 1;
                bytes += meta.len();
            }
        }
    }
    let size = human_size(bytes);
    let findings = if count == 0 {
        vec![]
    } else {
        vec![
            Finding::warning(
                RULE_DUMPS,
                format!("{count} core dump file(s), {size}: the upgrade removes them"),
            )
            .value(format!("{count} file(s), {size}"))
            .at("var/crash")
            .fix("If support asked for them, copy them off the appliance (or into a support bundle) before upgrading."),
        ]
    };
    Ok(CheckOutcome {
        check: RULE_DUMPS.into(),
        summary: format!("{count} core dump file(s) in var/crash"),
        findings,
    })
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_like_du() {
        assert_eq!(super::human_size(10), "10 B");
        assert_eq!(super::human_size(1536), "1.5 KiB");
        assert_eq!(super::human_size(3 * 1024 * 1024), "3.0 MiB");
    }
}
