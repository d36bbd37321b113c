//! The upgrade wizard: the step list on the left, the current step on the right —
//! prerequisites, image and hash, verification, upgrade test, support bundle,
//! activation, reboot, and after the boot phase 1, the version check and reminders.

mod activate;
mod bundle;
mod check;
mod image;
mod phase1;
mod prerequisites;
mod reboot;
mod reminders;
mod verify;
mod version_check;

use super::Hints;
use crate::tui::app::{App, Confirm, Job, Step};
use crate::tui::keys::{self, Action, Ctx};
use crate::tui::ui::{TextGauge, block, sym, wrap};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};
use upgrade_core::check::finding::Severity;
use upgrade_core::check::space::human;
use upgrade_core::slots::slot_status::booted_slot;
use upgrade_core::upgrade::progress::{Operation, Outcome};

fn steps(app: &App, area: Rect, buf: &mut Buffer) {
    let s = sym(app.ascii);
    let current = app.wizard.step;
    let mut lines = Vec::new();
    for (i, step) in Step::ALL.iter().enumerate() {
        if *step == Step::Phase1 {
            lines.push(Line::styled(" after the reboot:", app.theme.muted));
        }
        // Phase 1 that rolled back or fell into recovery did not succeed.
        let failed = *step == Step::Phase1
            && app.progress.as_ref().is_some_and(|p| {
                p.operation == Operation::Boot
                    && matches!(p.outcome, Some(Outcome::RolledBack | Outcome::Recovery))
            });
        let (mark, style) = if *step == current {
            (s.current, app.theme.selected)
        } else if *step < current && failed {
            (if app.ascii { "!" } else { "✗" }, app.theme.error)
        } else if *step < current {
            (if app.ascii { "x" } else { "✓" }, app.theme.ok)
        } else {
            (" ", app.theme.text)
        };
        lines.push(Line::from(vec![
            Span::styled(mark.to_string(), style),
            Span::styled(format!("{:>2} {:<15}", i + 1, step.title()), style),
        ]));
    }
    Paragraph::new(lines)
        .block(block(app, "Steps"))
        .render(area, buf);
}

fn hash_lines(app: &App, label: &str, hex: &str, style: Style) -> Vec<Line<'static>> {
    let (a, b) = hex.split_at(hex.len().min(32));
    vec![
        Line::from(vec![
            Span::styled(format!("{label:<10}"), app.theme.muted),
            Span::styled(a.to_string(), style),
        ]),
        Line::from(vec![
            Span::styled(" ".repeat(10), app.theme.muted),
            Span::styled(b.to_string(), style),
        ]),
    ]
}

fn progress_block(app: &App, lines: &mut Vec<Line<'static>>, gauge_at: &mut Option<(usize, f64)>) {
    let Some(p) = &app.progress else {
        lines.push(Line::styled(
            "Waiting for the first progress report...",
            app.theme.muted,
        ));
        return;
    };
    *gauge_at = Some((lines.len(), p.fraction));
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("Stage     ", app.theme.muted),
        Span::styled(
            if p.step.is_empty() {
                p.stage.clone()
            } else {
                format!("{}: {}", p.stage, p.step)
            },
            app.theme.text,
        ),
    ]));
    if !p.message.is_empty() {
        lines.push(Line::styled(p.message.clone(), app.theme.text));
    }
    lines.push(Line::from(vec![
        Span::styled("Rollback  ", app.theme.muted),
        if p.rollback_possible {
            Span::styled("still possible: the old firmware is kept", app.theme.ok)
        } else {
            Span::styled("NO LONGER POSSIBLE", app.theme.error)
        },
    ]));
}

/// The nearest ASCII for text shown on a plain terminal.
fn to_ascii(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{2013}' | '\u{2014}' | '\u{2212}' => '-',
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            c if c.is_ascii() => c,
            _ => '?',
        })
        .collect()
}

/// What a step's panel shows: its lines, where the gauge goes (row, ratio), and
/// the keys offered in the hint bar.
pub struct Panel {
    /// Usable text width inside the border.
    pub width: usize,
    pub lines: Vec<Line<'static>>,
    pub gauge: Option<(usize, f64)>,
    pub hints: Hints,
}

fn detail(app: &App, area: Rect, buf: &mut Buffer) -> Hints {
    let w = &app.wizard;
    let mut p = Panel {
        width: area.width.saturating_sub(2) as usize,
        lines: Vec::new(),
        gauge: None,
        hints: Vec::new(),
    };
    match w.step {
        Step::Prerequisites => prerequisites::draw(app, &mut p),
        Step::Image => image::draw(app, &mut p),
        Step::Verify => verify::draw(app, &mut p),
        Step::Check => check::draw(app, &mut p),
        Step::Bundle => bundle::draw(app, &mut p),
        Step::Activate => activate::draw(app, &mut p),
        Step::Reboot => reboot::draw(app, &mut p),
        Step::Phase1 => phase1::draw(app, &mut p),
        Step::VersionCheck => version_check::draw(app, &mut p),
        Step::Reminders => reminders::draw(app, &mut p),
    }
    let Panel {
        lines,
        gauge,
        hints,
        ..
    } = p;
    // Text from images and rules may hold dashes and quotes a plain terminal
    // cannot show: in ASCII mode each becomes its nearest ASCII.
    let lines: Vec<Line<'static>> = if app.ascii {
        lines
            .into_iter()
            .map(|mut l| {
                for sp in &mut l.spans {
                    if !sp.content.is_ascii() {
                        sp.content = to_ascii(&sp.content).into();
                    }
                }
                l
            })
            .collect()
    } else {
        lines
    };
    let title = format!(
        "{} of {}: {}",
        w.step as usize + 1,
        Step::ALL.len(),
        w.step.title()
    );
    let blk = block(app, &title);
    let inner = blk.inner(area);
    blk.render(area, buf);
    let scroll = if w.step == Step::Check {
        w.check_scroll
    } else {
        0
    };
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0))
        .render(inner, buf);
    if let Some((row, ratio)) = gauge {
        let y = inner.y + row as u16;
        if y < inner.bottom() {
            TextGauge {
                ratio,
                ascii: app.ascii,
                style: app.theme.gauge,
            }
            .render(Rect::new(inner.x, y, inner.width, 1), buf);
        }
    }
    hints
}

pub fn confirm(app: &App, c: Confirm, area: Rect, buf: &mut Buffer) {
    let (title, body): (&str, Vec<String>) = match c {
        Confirm::Activate => (
            "Activate?",
            vec![
                format!(
                    "Write {} to slot {} now?",
                    app.target_version()
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "the image".into()),
                    booted_slot(&app.root).other()
                ),
                "The running firmware stays as it is until the reboot.".into(),
            ],
        ),
        Confirm::Recover => (
            "Enter recovery mode?",
            vec![
                "Brings up every configured interface and, unless sealed, SSH for support on all of them.".into(),
            ],
        ),
        Confirm::Reboot => (
            "Reboot into the new firmware?",
            vec![
                "After this upgrade there is NO DOWNGRADE.".into(),
                "Do not power off while phase 1 runs.".into(),
            ],
        ),
        Confirm::HaStart => (
            "Start the HA upgrade?",
            vec![
                format!(
                    "Upgrade both nodes with {}; first the upgrade test on this node.",
                    app.wizard
                        .images
                        .get(app.wizard.image_cursor)
                        .and_then(|p| p.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "the chosen image".into())
                ),
                "Power, reboot and role changes each ask again.".into(),
            ],
        ),
        Confirm::HaStep(step) => (
            step.title(),
            vec![
                format!("Cannot be undone: {}.", step.cannot_undo()),
                if step.secondary_may_power_on() {
                    "The secondary may be powered on after it.".into()
                } else {
                    "Do NOT power the secondary on until this screen says so.".into()
                },
            ],
        ),
        Confirm::HaRestore => (
            "Bring the pair back on the old firmware?",
            vec![
                "Powers the secondary on; its boot phase declines the new firmware since this node runs the old one.".into(),
            ],
        ),
    };
    let w = 60.min(area.width);
    let h = 10.min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    Clear.render(r, buf);
    let mut lines: Vec<Line> = body
        .into_iter()
        .map(|l| Line::styled(l, app.theme.text))
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled(" y ", app.theme.danger),
        Span::styled(" yes, go ahead     ", app.theme.text),
        Span::styled(" n ", app.theme.key),
        Span::styled(" no, change nothing", app.theme.text),
    ]));
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(block(app, title).border_style(app.theme.danger))
        .render(r, buf);
}

pub fn draw(app: &App, area: Rect, buf: &mut Buffer) -> Hints {
    let [left, right] =
        Layout::horizontal([Constraint::Length(22), Constraint::Min(30)]).areas(area);
    steps(app, left, buf);
    let hints = detail(app, right, buf);
    if let Some(c) = app.wizard.confirm {
        confirm(app, c, area, buf);
        return keys::hints(&[
            (Ctx::Confirm, Action::Yes, "yes"),
            (Ctx::Confirm, Action::No, "no"),
        ]);
    }
    hints
}
