//! The status dashboard: firmware and slots, free space, HA and cluster role,
//! network, and the operation in progress or the last one's outcome.

use super::Hints;
use crate::tui::app::App;
use crate::tui::ui::block;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};
use upgrade_core::check::space::human;
use upgrade_core::slots::slot_status::{SlotName, booted_slot};
use upgrade_core::upgrade::progress::Outcome;

fn row<'a>(app: &App, label: &str, value: String) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!(" {label:<11}"), app.theme.muted),
        Span::styled(value, app.theme.text),
    ])
}

pub fn draw(app: &App, area: Rect, buf: &mut Buffer) -> Hints {
    let mut lines: Vec<Line> = Vec::new();
    match &app.config {
        Ok(c) => {
            let a = &c.appliance;
            lines.push(row(
                app,
                "Appliance",
                format!(
                    "{} ({}), {}, {}",
                    a.hostname,
                    a.product,
                    format!("{:?}", a.platform).to_lowercase(),
                    if a.sealed {
                        "sealed: no SSH"
                    } else {
                        "not sealed"
                    }
                ),
            ));
        }
        Err(e) => lines.push(Line::styled(format!(" {e}"), app.theme.error)),
    }
    let booted = booted_slot(&app.root);
    lines.push(row(
        app,
        "Firmware",
        match app.running_version() {
            Some(v) => format!("{}, booted from slot {booted}", v.long_name()),
            None => format!("unknown (slot {booted} has no recorded version)"),
        },
    ));
    for s in [SlotName::A, SlotName::B] {
        let rec = app.slots.get(s);
        let state = serde_json::to_value(rec.state)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let device = app
            .config
            .as_ref()
            .map(|c| match s {
                SlotName::A => c.slots.a.clone(),
                SlotName::B => c.slots.b.clone(),
            })
            .unwrap_or_default();
        lines.push(row(
            app,
            &format!("Slot {s}"),
            format!(
                "{:<8} {:<10} {}{}",
                state,
                rec.version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                device,
                if s == booted { "  (running)" } else { "" }
            ),
        ));
    }
    if let Ok(c) = &app.config {
        let ha = match &c.ha {
            Some(h) => format!("{:?} node, peer {}", h.role, h.peer).to_lowercase(),
            None => "standalone".into(),
        };
        let cluster = match &c.cluster {
            Some(cl) if !cl.roles.is_empty() => cl.roles.join(", "),
            Some(_) => "member".into(),
            None => "none".into(),
        };
        lines.push(row(app, "HA", format!("{ha};  cluster: {cluster}")));
    }
    match &app.status {
        Some(Ok(st)) => {
            for (i, fs) in st.filesystems.iter().take(3).enumerate() {
                lines.push(row(
                    app,
                    if i == 0 { "Free space" } else { "" },
                    format!(
                        "{:<24} {:>10} free of {:>10}",
                        fs.path,
                        human(fs.available_bytes),
                        human(fs.total_bytes)
                    ),
                ));
            }
            for (i, ifc) in st.interfaces.iter().take(4).enumerate() {
                lines.push(row(
                    app,
                    if i == 0 { "Network" } else { "" },
                    format!(
                        "{:<6} {:<34} {:<5} link {}",
                        ifc.name,
                        ifc.addresses.join(" "),
                        if ifc.management { "mgmt" } else { "" },
                        ifc.link
                    ),
                ));
            }
        }
        Some(Err(e)) => lines.push(Line::styled(format!(" status: {e}"), app.theme.error)),
        None => lines.push(row(app, "", "gathering disks, space and network...".into())),
    }
    if let Some(Ok(st)) = &app.status {
        if let Some(u) = &st.upgrade {
            lines.push(row(app, "Upgrade", u.clone()));
        }
        if let Some(l) = &st.last_upgrade {
            lines.push(Line::from(vec![
                Span::styled(format!(" {:<11}", "Last"), app.theme.muted),
                Span::styled(l.clone(), app.theme.warning),
            ]));
        }
        if let Some(p2) = &st.phase2 {
            lines.push(row(app, "Phase 2", p2.message.clone()));
        }
    }
    let op = match (&app.progress, app.live_operation()) {
        (_, Some(p)) => vec![
            Span::styled(
                format!(
                    "{} running: {} {:.0}%",
                    p.operation,
                    p.stage,
                    p.fraction * 100.0
                ),
                app.theme.warning,
            ),
            Span::styled(
                if p.rollback_possible {
                    "  rollback possible"
                } else {
                    "  NO rollback"
                },
                app.theme.text,
            ),
        ],
        (Some(p), None) => {
            let outcome = p.outcome.map_or("interrupted", |o| o.as_str());
            let style = if p.outcome == Some(Outcome::Done) {
                app.theme.ok
            } else {
                app.theme.error
            };
            vec![
                Span::styled(format!("last {}: {outcome}", p.operation), style),
                Span::styled(
                    if p.message.is_empty() {
                        String::new()
                    } else {
                        format!("  {}", p.message)
                    },
                    app.theme.text,
                ),
            ]
        }
        (None, None) => vec![Span::styled("none", app.theme.text)],
    };
    let mut l = vec![Span::styled(
        format!(" {:<11}", "Operation"),
        app.theme.muted,
    )];
    l.extend(op);
    lines.push(Line::from(l));
    Paragraph::new(lines)
        .wrap(ratatui::widgets::Wrap { trim: false })
        .block(block(app, "Status"))
        .render(area, buf);
    vec![("r", "refresh"), ("2", "upgrade")]
}
