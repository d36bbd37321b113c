//! Recovery: why the appliance is in recovery mode, where support can reach it
//! (addresses, SSH port, host-key fingerprints), the bundle, and "no SSH" when
//! sealed. Reads the report `recover` leaves in var/lib/upgrade-console/recovery.json;
//! without one, shows what recovery would bring up from the configuration.

use super::Hints;
use crate::tui::app::App;
use crate::tui::keys::{self, Action, Ctx};
use crate::tui::ui::{block, wrap};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};
use serde_json::Value;
use upgrade_core::upgrade::progress::{Operation, Outcome};

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
        || app.progress.as_ref().is_some_and(|p| {
            p.operation == Operation::Recover || p.outcome == Some(Outcome::Recovery)
        });
    // recovery.json: {"active": bool, "report": RecoveryReport} (upgrade_core::recovery).
    let active = app.recovery_active();
    let report = app.recovery.as_ref().map(|r| r.get("report").unwrap_or(r));
    if let (true, Some(r)) = (active, report) {
        let reason = r
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("requested");
        let text = |s: &str, style| -> Vec<Line<'static>> {
            wrap(s, width)
                .into_iter()
                .map(|l| Line::styled(l, style))
                .collect()
        };
        lines.push(Line::styled(" RECOVERY MODE ", t.danger));
        lines.extend(text(&format!("Reason: {reason}"), t.error));
        let sealed = r
            .get("sealed")
            .and_then(Value::as_bool)
            .unwrap_or(sealed_cfg);
        let addresses = strings(r.get("addresses"));
        if addresses.is_empty() {
            lines.push(Line::styled("Addresses: none up", t.warning));
        } else {
            lines.extend(text(
                &format!("Addresses: {}", addresses.join("  ")),
                t.text,
            ));
        }
        let port = r.get("ssh_port").and_then(Value::as_u64);
        let ssh_error = r.get("ssh_error").and_then(Value::as_str);
        if sealed {
            lines.push(Line::styled(
                "Sealed appliance: no SSH, not even in recovery.",
                t.warning,
            ));
        } else if let Some(port) = port {
            let keys = r.get("support_keys").and_then(Value::as_u64);
            lines.push(Line::styled(
                format!(
                    "SSH on port {port}, key-only{}",
                    keys.map(|k| format!(", {k} support key(s)"))
                        .unwrap_or_default()
                ),
                t.ok,
            ));
            lines.push(Line::styled("Host-key fingerprints:", t.muted));
            for f in strings(r.get("host_key_fingerprints")) {
                lines.push(Line::styled(format!("  {f}"), t.text));
            }
        } else {
            lines.extend(text(
                &format!(
                    "SSH is NOT running: {}",
                    ssh_error.unwrap_or("see the log (4)")
                ),
                t.error,
            ));
        }
        if let Some(b) = r.get("bundle").and_then(Value::as_str) {
            lines.extend(text(&format!("Support bundle ready: {b}"), t.ok));
        } else if let Some(e) = r.get("bundle_error").and_then(Value::as_str) {
            lines.extend(text(&format!("No support bundle: {e}"), t.error));
        }
        // Recovery lists URLs only for addresses its log server bound, and writes
        // the report once before starting it: no URL and no error means recovery
        // has not said, so the screen says so rather than guessing (no probing here).
        let urls = strings(r.get("log_server"));
        let log_error = r.get("log_server_error").and_then(Value::as_str);
        if !urls.is_empty() {
            lines.extend(text(
                &format!("Boot log in a browser: {}", urls.join("  ")),
                t.guidance,
            ));
        }
        if let Some(e) = log_error {
            lines.extend(text(
                &format!("Boot log server not listening: {e}"),
                t.warning,
            ));
        } else if urls.is_empty() {
            lines.extend(text(
                "Boot log server: state unknown (recovery has not reported it)",
                t.muted,
            ));
        }
        // Per-interface problems, each distinct message once (not repeating SSH's).
        let mut seen: Vec<String> = ssh_error.map(String::from).into_iter().collect();
        if let Some(Value::Array(ifs)) = r.get("interfaces") {
            for i in ifs {
                let name = i.get("name").and_then(Value::as_str).unwrap_or("?");
                if let Some(Value::Array(steps)) = i.get("steps") {
                    for e in steps
                        .iter()
                        .filter_map(|s| s.get("error").and_then(Value::as_str))
                    {
                        if !seen.iter().any(|x| x == e) {
                            seen.push(e.to_string());
                            lines.extend(text(&format!("{name}: {e}"), t.warning));
                        }
                    }
                }
            }
        }
        for p in strings(r.get("problems")) {
            lines.extend(text(&p, t.warning));
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
        return keys::hints(&[
            (Ctx::Confirm, Action::Yes, "yes"),
            (Ctx::Confirm, Action::No, "no"),
        ]);
    }
    if active {
        vec![]
    } else {
        keys::hints(&[(Ctx::Recovery, Action::Recover, "enter recovery mode")])
    }
}
