//! Always-on checks of the appliance's state before an upgrade: the HA pair is not
//! degraded and the System Monitor shows no open alerts. Both read the JSON status
//! files the appliance writes, at the paths appliance.toml gives.

use super::{CONFIG_FILE, quote_safe};
use crate::config::Config;
use crate::finding::{CheckOutcome, Finding};
use crate::root::ApplianceRoot;

pub const HA_CHECK: &str = "ha-status";
pub const MONITOR_CHECK: &str = "monitor-alerts";
const MAX_STATUS_BYTES: u64 = 1 << 20;

/// Reads and parses a small JSON status file; Err(None) when it does not exist.
fn read_json(root: &ApplianceRoot, rel: &str) -> Result<serde_json::Value, Option<String>> {
    let path = root.resolve(rel);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(None),
        Err(e) => return Err(Some(format!("cannot read it ({e})"))),
    };
    if meta.len() > MAX_STATUS_BYTES {
        return Err(Some(format!("it is {} bytes, too large", meta.len())));
    }
    let text = std::fs::read(&path).map_err(|e| Some(format!("cannot read it ({e})")))?;
    serde_json::from_slice(&text).map_err(|e| Some(format!("it is not valid JSON ({e})")))
}

/// `ha-status`: the HA status file's `state` must be `ok`.
pub fn ha_status(root: &ApplianceRoot, config: &Config) -> CheckOutcome {
    let outcome = |summary: String, findings| CheckOutcome {
        check: HA_CHECK.into(),
        summary,
        findings,
    };
    let Some(ha) = &config.ha else {
        return outcome("standalone node, no HA pair".into(), vec![]);
    };
    let Some(file) = &ha.status_file else {
        return outcome(
            "HA state not known to the console".into(),
            vec![Finding::warning(HA_CHECK, "the HA state cannot be checked: ha.status_file is not set")
                .value("not set")
                .at(format!("{CONFIG_FILE}: ha.status_file"))
                .fix("Check on Basic Settings > High Availability that the HA status is not degraded before activating.")],
        );
    };
    match read_json(root, file) {
        Ok(v) => {
            let state = v.get("state").and_then(|s| s.as_str()).unwrap_or("");
            if state.eq_ignore_ascii_case("ok") {
                return outcome(format!("HA pair ({:?}) state ok", ha.role).to_lowercase(), vec![]);
            }
            let detail = ["detail", "reason", "message"]
                .iter()
                .find_map(|k| v.get(*k).and_then(|d| d.as_str()))
                .map(|d| format!(" ({})", quote_safe(d)))
                .unwrap_or_default();
            let shown = if state.is_empty() { "missing" } else { state };
            outcome(
                format!("HA state {}", quote_safe(shown)),
                vec![Finding::blocker(HA_CHECK, format!("the HA pair is not in a good state: {}{detail}", quote_safe(shown)))
                    .value(quote_safe(shown))
                    .at(file.clone())
                    .fix("Bring the HA pair back in sync (Basic Settings > High Availability) until its status is not degraded, then run the test again.")],
            )
        }
        Err(None) => outcome(
            "HA status file missing".into(),
            vec![Finding::warning(HA_CHECK, format!("the HA status file {file} does not exist: the HA state cannot be checked"))
                .value(file.clone())
                .at(format!("{CONFIG_FILE}: ha.status_file"))
                .fix("Check on Basic Settings > High Availability that the HA status is not degraded before activating.")],
        ),
        Err(Some(why)) => outcome(
            "HA status file unreadable".into(),
            vec![Finding::blocker(HA_CHECK, format!("the HA status file {file} {why}"))
                .value(file.clone())
                .at(file.clone())
                .fix("Check the HA daemon and Basic Settings > High Availability; the HA state must be known and not degraded before an upgrade.")],
        ),
    }
}

/// Whether a System Monitor alert entry is still open.
fn is_open(alert: &serde_json::Value) -> bool {
    if alert.get("open").and_then(|o| o.as_bool()) == Some(false) {
        return false;
    }
    !matches!(
        alert.get("state").and_then(|s| s.as_str()),
        Some("closed" | "resolved" | "cleared")
    )
}

/// `monitor-alerts`: every open System Monitor alert is a blocker.
pub fn monitor_alerts(root: &ApplianceRoot, config: &Config) -> CheckOutcome {
    let file = &config.monitor.status_file;
    let outcome = |summary: String, findings| CheckOutcome {
        check: MONITOR_CHECK.into(),
        summary,
        findings,
    };
    match read_json(root, file) {
        Ok(v) => {
            let Some(alerts) = v.get("alerts").and_then(|a| a.as_array()) else {
                return outcome(
                    "System Monitor status unreadable".into(),
                    vec![Finding::blocker(MONITOR_CHECK, format!("the System Monitor status file {file} has no \"alerts\" list"))
                        .value(file.clone())
                        .at(file.clone())
                        .fix("Check the System Monitor on the web interface: there must be no open alerts before an upgrade.")],
                );
            };
            let open: Vec<&serde_json::Value> = alerts.iter().filter(|a| is_open(a)).collect();
            let findings = open
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let id = a
                        .get("id")
                        .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
                        .unwrap_or_else(|| format!("#{}", i + 1));
                    let text = a.get("text").and_then(|t| t.as_str()).unwrap_or("(no text)");
                    Finding::blocker(
                        MONITOR_CHECK,
                        format!("System Monitor alert {}: {}", quote_safe(&id), quote_safe(text)),
                    )
                    .value(quote_safe(&id))
                    .at(file.clone())
                    .fix("Resolve the alert shown on the System Monitor (the appliance must be in good condition), then run the test again.")
                })
                .collect();
            outcome(format!("{} open alert(s)", open.len()), findings)
        }
        Err(None) => outcome(
            "System Monitor status file missing".into(),
            vec![Finding::warning(MONITOR_CHECK, format!("the System Monitor status file {file} does not exist: alerts cannot be checked"))
                .value(file.clone())
                .at(format!("{CONFIG_FILE}: monitor.status_file"))
                .fix("Check the System Monitor on the web interface: there must be no open alerts before an upgrade.")],
        ),
        Err(Some(why)) => outcome(
            "System Monitor status unreadable".into(),
            vec![Finding::blocker(MONITOR_CHECK, format!("the System Monitor status file {file} {why}"))
                .value(file.clone())
                .at(file.clone())
                .fix("Check the System Monitor on the web interface: there must be no open alerts before an upgrade.")],
        ),
    }
}
