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
use upgrade_core::state::Loaded;
use upgrade_core::upgrade::progress::{Operation, Outcome};

pub fn draw(app: &App, area: Rect, buf: &mut Buffer) -> Hints {
    let width = area.width.saturating_sub(4) as usize;
    let t = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    let in_recovery = app.recovery_active()
        || app.progress.as_ref().is_some_and(|p| {
            p.operation == Operation::Recover || p.outcome == Some(Outcome::Recovery)
        });
    let text = |s: &str, style| -> Vec<Line<'static>> {
        wrap(s, width)
            .into_iter()
            .map(|l| Line::styled(l, style))
            .collect()
    };
    if let Loaded::Present(r) = &app.recovery {
        lines.push(Line::styled(" RECOVERY MODE ", t.danger));
        lines.extend(text(&format!("Reason: {}", r.reason), t.error));
        if r.addresses.is_empty() {
            lines.push(Line::styled("Addresses: none up", t.warning));
        } else {
            lines.extend(text(
                &format!("Addresses: {}", r.addresses.join("  ")),
                t.text,
            ));
        }
        if r.sealed {
            lines.push(Line::styled(
                "Sealed appliance: no SSH, not even in recovery.",
                t.warning,
            ));
        } else if let Some(port) = r.ssh_port {
            lines.push(Line::styled(format!("SSH on port {port}, key-only"), t.ok));
            lines.push(Line::styled("Host-key fingerprints:", t.muted));
            for f in &r.host_key_fingerprints {
                lines.push(Line::styled(format!("  {f}"), t.text));
            }
        } else {
            lines.extend(text(
                &format!(
                    "SSH is NOT running: {}",
                    r.ssh_error.as_deref().unwrap_or("see the log (4)")
                ),
                t.error,
            ));
        }
        if let Some(b) = &r.bundle {
            lines.extend(text(
                &format!("Support bundle ready: {}", b.display()),
                t.ok,
            ));
        } else if let Some(e) = &r.bundle_error {
            lines.extend(text(&format!("No support bundle: {e}"), t.error));
        }
        // Recovery lists URLs only for addresses its log server bound, and writes
        // the report once before starting it: no URL and no error means recovery
        // has not said, so the screen says so rather than guessing (no probing here).
        if !r.log_server.is_empty() {
            lines.extend(text(
                &format!("Boot log in a browser: {}", r.log_server.join("  ")),
                t.guidance,
            ));
        }
        if let Some(e) = &r.log_server_error {
            lines.extend(text(
                &format!("Boot log server not listening: {e}"),
                t.warning,
            ));
        } else if r.log_server.is_empty() {
            lines.extend(text(
                "Boot log server: state unknown (recovery has not reported it)",
                t.muted,
            ));
        }
        // Per-interface problems, each distinct message once (not repeating SSH's).
        let mut seen: Vec<&str> = r.ssh_error.as_deref().into_iter().collect();
        for i in &r.interfaces {
            for e in i.steps.iter().filter_map(|s| s.error.as_deref()) {
                if !seen.contains(&e) {
                    seen.push(e);
                    lines.extend(text(&format!("{}: {e}", i.name), t.warning));
                }
            }
        }
    } else if let Loaded::Damaged(why) = &app.recovery {
        // Recovery was entered (the file exists) but its report cannot be read:
        // say so instead of showing nothing or guessing from a default.
        lines.push(Line::styled(" RECOVERY MODE ", t.danger));
        lines.extend(text(
            &format!(
                "The recovery report (var/lib/upgrade-console/recovery.json) is damaged: {why}. \
                 Press R to enter recovery again; it rewrites the report."
            ),
            t.error,
        ));
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
    // A damaged report offers recovery again: it rewrites the report.
    if matches!(app.recovery, Loaded::Present(_)) {
        vec![]
    } else {
        keys::hints(&[(Ctx::Recovery, Action::Recover, "enter recovery mode")])
    }
}
