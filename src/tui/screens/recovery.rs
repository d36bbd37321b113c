//! Recovery: why the appliance is in recovery mode, where support can reach it
//! (addresses, SSH port, host-key fingerprints), the bundle, and "no SSH" when
//! sealed. Reads the report `recover` leaves in var/lib/upgrade-console/recovery.json;
//! without one, shows what recovery would bring up from the configuration.

use super::Hints;
use crate::tui::app::App;
use crate::tui::ui::{block, wrap};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};
use serde_json::Value;

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => vec![],
    }
}

pub fn draw(app: &App, area: Rect, buf: &mut Buffer) -> Hints {
    let width = area.width.saturating_sub(4) as usize;
    let t = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    let sealed_cfg = app
        .config
        .as_ref()
        .map(|c| c.appliance.sealed)
        .unwrap_or(false);
    let in_recovery = app.recovery_active()
        || app
            .progress
            .as_ref()
            .is_some_and(|p| p.operation == "recover" || p.outcome.as_deref() == Some("recovery"));
    // recovery.json: {"active": bool, "report": RecoveryReport} (crate::recovery).
    let active = app.recovery_active();
    let report = app.recovery.as_ref().map(|r| r.get("report").unwrap_or(r));
    if let (true, Some(r)) = (active, report) {
        let reason = r
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("requested");
        lines.push(Line::styled(" RECOVERY MODE ", t.danger));
        for l in wrap(&format!("Reason: {reason}"), width) {
            lines.push(Line::styled(l, t.error));
        }
        let sealed = r
            .get("sealed")
            .and_then(Value::as_bool)
            .unwrap_or(sealed_cfg);
        lines.push(Line::styled("Addresses:", t.muted));
        for a in strings(r.get("addresses")) {
            lines.push(Line::styled(format!("  {a}"), t.text));
        }
        if sealed {
            lines.push(Line::styled(
                "Sealed appliance: no SSH, not even in recovery.",
                t.warning,
            ));
        } else if r.get("ssh_running").and_then(Value::as_bool) == Some(false) {
            lines.push(Line::styled(
                "SSH is NOT running: see the problems below.",
                t.error,
            ));
        } else {
            let port = r
                .get("ssh_port")
                .or_else(|| r.get("port"))
                .and_then(Value::as_u64)
                .unwrap_or(22);
            let keys = r.get("support_keys").and_then(Value::as_u64);
            lines.push(Line::styled(
                format!(
                    "SSH on port {port}, key-only{}",
                    keys.map(|k| format!(", {k} support key(s)"))
                        .unwrap_or_default()
                ),
                t.text,
            ));
            lines.push(Line::styled("Host-key fingerprints:", t.muted));
            for f in strings(r.get("host_key_fingerprints")) {
                lines.push(Line::styled(format!("  {f}"), t.text));
            }
        }
        if let Some(b) = r.get("bundle").and_then(Value::as_str) {
            lines.push(Line::styled(format!("Support bundle ready: {b}"), t.ok));
        }
        for p in strings(r.get("problems")) {
            for l in wrap(&p, width) {
                lines.push(Line::styled(l, t.warning));
            }
        }
    } else {
        if in_recovery {
            lines.push(Line::styled(" RECOVERY MODE ", t.danger));
            if let Some(p) = &app.progress {
                for l in wrap(&format!("Reason: {}", p.message), width) {
                    lines.push(Line::styled(l, t.error));
                }
            }
            lines.push(Line::styled(
                "Recovery is starting; its report appears here.",
                t.muted,
            ));
        } else {
            lines.push(Line::styled("Not in recovery mode.", t.ok));
            for l in wrap(
                "If an upgrade fails and cannot roll back, recovery brings up every configured interface and, unless the appliance is sealed, SSH for support on all of them:",
                width,
            ) {
                lines.push(Line::styled(l, t.text));
            }
        }
        if let Ok(c) = &app.config {
            for i in &c.network.interfaces {
                lines.push(Line::styled(
                    format!("  {:<8} {}", i.name, i.addresses.join(" ")),
                    t.text,
                ));
            }
            lines.push(if c.appliance.sealed {
                Line::styled("Sealed appliance: no SSH, not even in recovery.", t.warning)
            } else {
                Line::styled(
                    "SSH on port 22, key-only, with etc/appliance/support_keys",
                    t.text,
                )
            });
        }
    }
    Paragraph::new(lines)
        .block(block(app, "Recovery"))
        .render(area, buf);
    if let Some(c) = app.wizard.confirm {
        super::wizard::confirm(app, c, area, buf);
        return vec![("y", "yes"), ("n", "no")];
    }
    if active {
        vec![]
    } else {
        vec![("R", "enter recovery mode")]
    }
}
