//! The status dashboard: firmware and slots, free space, HA and cluster role,
//! network, and the operation in progress or the last one's outcome.

use super::Hints;
use crate::tui::app::App;
use crate::tui::app::Screen;
use crate::tui::keys::{self, Action, Ctx};
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

/// Width of the label column (" " + 11): continuation lines start here.
const LABEL: usize = 12;

/// Wraps a row's value (every span after the label) at spaces to `width`, each
/// continuation line indented to the value column so it never sits under a label.
fn indent_wrap(line: Line<'_>, width: usize) -> Vec<Line<'_>> {
    let total: usize = line.spans.iter().map(|s| s.content.chars().count()).sum();
    if total <= width || width <= LABEL + 1 || line.spans.len() < 2 {
        return vec![line];
    }
    let mut spans = line.spans.into_iter();
    let Some(label) = spans.next() else {
        return vec![];
    };
    let label_w = label.content.chars().count();
    let chars: Vec<(char, ratatui::style::Style)> = spans
        .flat_map(|s| {
            let st = s.style;
            s.content.chars().map(move |c| (c, st)).collect::<Vec<_>>()
        })
        .collect();
    let avail = width - label_w.max(LABEL).min(width - 1);
    let mut out = Vec::new();
    let mut rest: &[(char, ratatui::style::Style)] = &chars;
    let mut first = Some(label);
    while !rest.is_empty() {
        let take = if rest.len() <= avail {
            rest.len()
        } else {
            // Break at the last space that fits; a longer word is split.
            rest[..=avail]
                .iter()
                .rposition(|(c, _)| *c == ' ')
                .filter(|&i| i > 0)
                .unwrap_or(avail)
        };
        let (piece, tail) = rest.split_at(take);
        let mut row = vec![
            first
                .take()
                .unwrap_or_else(|| Span::raw(" ".repeat(label_w.max(LABEL)))),
        ];
        let mut run = String::new();
        let mut style = piece.first().map(|p| p.1).unwrap_or_default();
        for &(c, st) in piece {
            if st != style && !run.is_empty() {
                row.push(Span::styled(std::mem::take(&mut run), style));
            }
            style = st;
            run.push(c);
        }
        if !run.is_empty() {
            row.push(Span::styled(run, style));
        }
        out.push(Line::from(row));
        // The space a line broke at starts no line.
        rest = tail;
        while let Some(((' ', _), t)) = rest.split_first() {
            rest = t;
        }
    }
    out
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
    let b = block(app, "Status");
    let width = b.inner(area).width as usize;
    let lines: Vec<Line> = lines
        .into_iter()
        .flat_map(|l| indent_wrap(l, width))
        .collect();
    Paragraph::new(lines).block(b).render(area, buf);
    keys::hints(&[
        (Ctx::Status, Action::Refresh, "refresh"),
        (Ctx::Global, Action::Show(Screen::Wizard), "upgrade"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn continuation_lines_start_at_the_value_column() {
        let line = Line::from(vec![
            Span::raw(format!(" {:<11}", "Operation")),
            Span::raw("last upgrade: failed"),
            Span::raw("  phase-1 step Upgrade session database failed"),
        ]);
        let out = indent_wrap(line, 40);
        assert!(out.len() > 1, "{out:?}");
        assert!(text(&out[0]).starts_with(" Operation  last"), "{out:?}");
        for l in &out {
            assert!(
                text(l).chars().count() <= 40,
                "{:?} is wider than 40",
                text(l)
            );
        }
        for l in &out[1..] {
            let t = text(l);
            assert!(t.starts_with(&" ".repeat(LABEL)), "{t:?} not indented");
            assert_ne!(t.chars().nth(LABEL), Some(' '), "{t:?} starts with a space");
        }
        let joined: Vec<String> = out.iter().map(|l| text(l).trim().to_string()).collect();
        assert_eq!(
            joined.join(" ").split_whitespace().collect::<Vec<_>>(),
            " Operation last upgrade: failed phase-1 step Upgrade session database failed"
                .split_whitespace()
                .collect::<Vec<_>>()
        );
    }
}
