//! The upgrade wizard: the step list on the left, the current step on the right —
//! prerequisites, image and hash, verification, upgrade test, support bundle,
//! activation, reboot, and after the boot phase 1, the version check and reminders.

use super::Hints;
use crate::tui::app::{App, Confirm, Job, Step};
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
        let (mark, style) = if *step == current {
            (s.current, app.theme.selected)
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

fn detail(app: &App, area: Rect, buf: &mut Buffer) -> Hints {
    let w = &app.wizard;
    let s = sym(app.ascii);
    let inner_w = area.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut gauge: Option<(usize, f64)> = None;
    let mut hints: Hints = Vec::new();
    let text = |t: &str| Line::styled(t.to_string(), app.theme.text);
    match w.step {
        Step::Prerequisites => {
            lines.push(Line::styled(
                "Before you start, confirm each item (Space):",
                app.theme.guidance,
            ));
            for (i, p) in w.prereqs.iter().enumerate() {
                let style = if i == w.prereq_cursor {
                    app.theme.selected
                } else {
                    app.theme.text
                };
                let mark = if p.done { s.done } else { s.todo };
                let cur = if i == w.prereq_cursor { s.current } else { " " };
                lines.push(Line::styled(format!("{cur} {mark} {}", p.text), style));
            }
            if let Some(p) = w.prereqs.get(w.prereq_cursor) {
                lines.push(Line::raw(""));
                for l in wrap(&p.detail, inner_w) {
                    lines.push(Line::styled(l, app.theme.muted));
                }
            }
            hints = vec![("Up/Down", "move"), ("Space", "tick"), ("n", "next")];
        }
        Step::Image => {
            lines.push(Line::styled(
                format!("Images in {}:", w.images_dir.display()),
                app.theme.guidance,
            ));
            if w.images.is_empty() {
                lines.push(Line::styled(
                    "  none: copy the firmware ISO there, then r",
                    app.theme.warning,
                ));
            }
            let shown = 6usize;
            let first = w.image_cursor.saturating_sub(shown - 1);
            for (i, img) in w.images.iter().enumerate().skip(first).take(shown) {
                let name = img
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let size = std::fs::metadata(img)
                    .map(|m| human(m.len()))
                    .unwrap_or_default();
                let style = if i == w.image_cursor {
                    app.theme.selected
                } else {
                    app.theme.text
                };
                let nw = inner_w.saturating_sub(12);
                let name: String = if name.chars().count() > nw {
                    name.chars()
                        .take(nw.saturating_sub(1))
                        .chain(['~'])
                        .collect()
                } else {
                    name
                };
                lines.push(Line::styled(
                    format!(
                        "{} {name:<nw$} {size:>9}",
                        if i == w.image_cursor { s.current } else { " " }
                    ),
                    style,
                ));
            }
            lines.push(Line::raw(""));
            if w.editing_hash {
                lines.push(Line::styled(
                    "Type or paste the published SHA-256 (any form):",
                    app.theme.guidance,
                ));
                let input: Vec<&str> = w.hash_input.split('\n').collect();
                for l in input.iter().skip(input.len().saturating_sub(3)) {
                    let tail: String = l
                        .chars()
                        .rev()
                        .take(inner_w.saturating_sub(2))
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    lines.push(Line::styled(format!("> {tail}"), app.theme.key));
                }
                hints = vec![("Enter", "accept"), ("Esc", "cancel"), ("^U", "clear")];
            } else {
                match &w.expected {
                    Some(h) => {
                        lines.extend(hash_lines(app, "SHA-256", &hex::encode(h), app.theme.text));
                        lines.push(Line::styled(
                            format!("          from {}", w.hash_source),
                            app.theme.muted,
                        ));
                    }
                    None => lines.push(Line::styled(
                        "No expected hash yet: press e and type or paste it.",
                        app.theme.warning,
                    )),
                }
                hints = vec![
                    ("Up/Down", "image"),
                    ("e", "hash"),
                    ("r", "rescan"),
                    ("n", "next"),
                    ("p", "back"),
                ];
            }
            if let Some(e) = &w.hash_error {
                for l in wrap(e, inner_w) {
                    lines.push(Line::styled(l, app.theme.error));
                }
            }
        }
        Step::Verify => {
            let name = app
                .selected_image()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            lines.push(Line::styled(format!("Image {name}"), app.theme.text));
            match &w.verify {
                Job::Idle => {
                    lines.push(text(
                        "Reads the whole image once: its SHA-256 must equal the",
                    ));
                    lines.push(text(
                        "published hash, and the payload inside it the hash in",
                    ));
                    lines.push(text("its manifest."));
                    hints = vec![("Enter", "verify"), ("p", "back")];
                }
                Job::Running { done, total } => {
                    gauge = Some((
                        lines.len(),
                        if *total > 0 {
                            *done as f64 / *total as f64
                        } else {
                            0.0
                        },
                    ));
                    lines.push(Line::raw(""));
                    lines.push(text(&format!("{} of {}", human(*done), human(*total))));
                }
                Job::Done(r) => {
                    let (st, word) = if r.image_ok {
                        (app.theme.ok, "matches the published hash")
                    } else {
                        (app.theme.error, "DOES NOT MATCH the published hash")
                    };
                    lines.push(Line::styled(format!("Image    {word}"), st));
                    lines.extend(hash_lines(app, "computed", &r.image_sha256, st));
                    if !r.image_ok {
                        lines.extend(hash_lines(
                            app,
                            "expected",
                            &r.expected_sha256,
                            app.theme.text,
                        ));
                    }
                    let (st, word) = if r.payload_ok {
                        (app.theme.ok, "matches the manifest")
                    } else {
                        (app.theme.error, "DOES NOT MATCH the manifest")
                    };
                    lines.push(Line::styled(
                        format!("Payload  {} {word}", r.payload_file),
                        st,
                    ));
                    lines.push(text(&format!(
                        "Firmware {} {}, {}",
                        r.product,
                        r.version,
                        human(r.bytes)
                    )));
                    if !r.ok() {
                        lines.push(Line::styled(
                            "Do not use this image: download it again.",
                            app.theme.error,
                        ));
                    }
                    hints = vec![("n", "next"), ("Enter", "again"), ("p", "back")];
                }
                Job::Failed(e) => {
                    for l in wrap(e, inner_w) {
                        lines.push(Line::styled(l, app.theme.error));
                    }
                    hints = vec![("Enter", "retry"), ("p", "back")];
                }
            }
        }
        Step::Check => match &w.check {
            Job::Idle => {
                lines.push(text("The upgrade test: does the new firmware accept this"));
                lines.push(text("appliance? Upgrade path, free space, licence,"));
                lines.push(text("prerequisites and the image's configuration rules."));
                lines.push(text("Nothing is changed."));
                hints = vec![("Enter", "run test"), ("p", "back")];
            }
            Job::Running { .. } => {
                lines.push(text("Testing..."));
            }
            Job::Failed(e) => {
                for l in wrap(e, inner_w) {
                    lines.push(Line::styled(l, app.theme.error));
                }
                hints = vec![("Enter", "retry"), ("p", "back")];
            }
            Job::Done(r) => {
                let st = if r.passed() {
                    app.theme.ok
                } else {
                    app.theme.error
                };
                lines.push(Line::styled(
                    format!("{} blocker(s), {} warning(s)", r.blockers(), r.warnings()),
                    st,
                ));
                // Blockers first, then warnings, then what passed: at 80x24 what
                // must be fixed is on screen without scrolling.
                let mut checks: Vec<_> = r.checks.iter().collect();
                checks.sort_by_key(|c| {
                    if c.findings.iter().any(|f| f.severity == Severity::Blocker) {
                        0
                    } else if c.findings.is_empty() {
                        2
                    } else {
                        1
                    }
                });
                for c in checks {
                    let mark = if c.findings.iter().any(|f| f.severity == Severity::Blocker) {
                        "[!!]"
                    } else if c.findings.is_empty() {
                        "[ok]"
                    } else {
                        "[ w]"
                    };
                    let head = format!("{}: {}", c.check, c.summary);
                    if c.findings.is_empty() {
                        // A passed check takes one line; its findings-free summary may be cut.
                        let room = inner_w - 5;
                        let one: String = if head.chars().count() > room {
                            head.chars().take(room - 1).chain(['~']).collect()
                        } else {
                            head
                        };
                        lines.push(Line::styled(format!("{mark} {one}"), app.theme.text));
                        continue;
                    }
                    for (i, l) in wrap(&head, inner_w - 5).into_iter().enumerate() {
                        let lead = if i == 0 { mark } else { "    " };
                        lines.push(Line::styled(format!("{lead} {l}"), app.theme.text));
                    }
                    for f in &c.findings {
                        let fs = if f.severity == Severity::Blocker {
                            app.theme.error
                        } else {
                            app.theme.warning
                        };
                        for (i, l) in wrap(
                            &format!("{} {}: {}", f.severity, f.rule, f.message),
                            inner_w - 7,
                        )
                        .into_iter()
                        .enumerate()
                        {
                            lines.push(Line::styled(
                                format!("{}{l}", if i == 0 { "     " } else { "       " }),
                                fs,
                            ));
                        }
                        if !f.value.is_empty() || !f.location.is_empty() {
                            for l in wrap(
                                &format!("value \"{}\" at {}", f.value, f.location),
                                inner_w - 7,
                            ) {
                                lines.push(Line::styled(format!("       {l}"), app.theme.muted));
                            }
                        }
                        for (i, l) in wrap(&f.fix, inner_w - 12).into_iter().enumerate() {
                            let lead = if i == 0 {
                                format!("       fix: {}", "")
                            } else {
                                " ".repeat(12)
                            };
                            lines.push(Line::styled(format!("{lead}{l}"), app.theme.guidance));
                        }
                    }
                }
                hints = vec![
                    ("Up/Down", "scroll"),
                    ("Enter", "again"),
                    ("n", "next"),
                    ("p", "back"),
                ];
            }
        },
        Step::Bundle => {
            for l in wrap(
                "A support bundle (logs, configuration with secrets removed, slot status) lets support help if the upgrade goes wrong. Writing one now is recommended; n skips it.",
                inner_w,
            ) {
                lines.push(text(&l));
            }
            lines.push(Line::raw(""));
            match (&w.bundle, &w.bundle_path) {
                (Some(b), Some(p)) => match b.exit {
                    None => lines.push(text(&format!("Writing {}...", p.display()))),
                    Some(0) => {
                        lines.push(Line::styled("Bundle written:", app.theme.ok));
                        lines.push(text(&p.display().to_string()));
                    }
                    Some(c) => lines.push(Line::styled(
                        format!("The bundle failed (exit {c}); see the log (4)."),
                        app.theme.error,
                    )),
                },
                _ => lines.push(Line::styled("No bundle written yet.", app.theme.muted)),
            }
            hints = vec![("b", "write bundle"), ("n", "next"), ("p", "back")];
        }
        Step::Activate => {
            let booted = booted_slot(&app.root);
            let target = app
                .target_version()
                .map(|v| v.long_name())
                .unwrap_or_else(|| "the new firmware".into());
            for l in wrap(
                &format!(
                    "Writes {target} to slot {} while hashing it, reads it back to verify, then marks slot {} to boot once after the next reboot. Slot {booted} (running) is not touched and stays the fallback.",
                    booted.other(),
                    booted.other()
                ),
                inner_w,
            ) {
                lines.push(text(&l));
            }
            let running = w.activate.as_ref().is_some_and(|a| a.exit.is_none())
                || app
                    .live_operation()
                    .is_some_and(|p| p.operation == Operation::Activate);
            if running || w.activate.is_some() {
                progress_block(app, &mut lines, &mut gauge);
            }
            match &w.activate {
                Some(a) if a.exit == Some(0) => {
                    lines.push(Line::styled(
                        "Activated: the new slot boots once after the reboot.",
                        app.theme.ok,
                    ));
                    hints = vec![("n", "next")];
                }
                Some(a) if a.exit.is_some() => {
                    lines.push(Line::styled(
                        "The activation failed; the running slot is unchanged. See the log (4).",
                        app.theme.error,
                    ));
                }
                Some(_) => lines.push(Line::styled(
                    "Runs on if this console closes; start it again to follow.",
                    app.theme.muted,
                )),
                None if running => lines.push(Line::styled(
                    "Started by an earlier console; following it.",
                    app.theme.muted,
                )),
                None => hints = vec![("a", "activate"), ("p", "back")],
            }
        }
        Step::Reboot => {
            lines.push(Line::styled(
                "After this upgrade there is no downgrade.",
                app.theme.danger,
            ));
            for l in wrap(
                "The reboot starts phase 1 of the upgrade before any service runs (10-20 minutes). Do not power off or reset the appliance then. If phase 1 fails before its point of no return, the appliance boots the old firmware again; after that point it enters recovery mode.",
                inner_w,
            ) {
                lines.push(text(&l));
            }
            if let Some(listen) = app.config.as_ref().ok().and_then(|c| c.web.listen.first()) {
                lines.push(Line::styled(
                    format!("Follow the boot in a browser: http://{listen}/"),
                    app.theme.guidance,
                ));
            }
            hints = vec![("r", "reboot")];
        }
        Step::Phase1 => {
            let dnpo = app
                .progress
                .as_ref()
                .is_some_and(|p| p.do_not_power_off && p.outcome.is_none());
            if dnpo {
                lines.push(Line::styled(
                    " DO NOT POWER OFF: phase 1 of the upgrade is running ",
                    app.theme.danger,
                ));
            } else {
                lines.push(Line::styled(
                    "Phase 1: the boot-time migration",
                    app.theme.guidance,
                ));
            }
            progress_block(app, &mut lines, &mut gauge);
            if let Some(listen) = app.config.as_ref().ok().and_then(|c| c.web.listen.first()) {
                lines.push(Line::styled(
                    format!("Boot log in a browser: http://{listen}/"),
                    app.theme.muted,
                ));
            }
        }
        Step::VersionCheck => {
            let running = app.running_version();
            let target = app.target_version();
            let outcome = app.progress.as_ref().and_then(|p| p.outcome);
            lines.push(text(&format!(
                "Running  {}",
                running
                    .map(|v| v.long_name())
                    .unwrap_or_else(|| "unknown".into())
            )));
            lines.push(text(&format!(
                "Target   {}",
                target
                    .map(|v| v.long_name())
                    .unwrap_or_else(|| "unknown".into())
            )));
            lines.push(Line::raw(""));
            if outcome == Some(Outcome::Recovery) {
                lines.push(Line::styled("The upgrade failed and could not roll back: the appliance is in recovery mode (screen 3).", app.theme.error));
            } else if running.is_some() && running == target {
                lines.push(Line::styled(
                    "The upgrade is committed: the appliance runs the new firmware.",
                    app.theme.ok,
                ));
                hints = vec![("n", "reminders")];
            } else if outcome.is_none() && app.live_operation().is_some() {
                lines.push(text("The boot phase is still running..."));
            } else {
                for l in wrap(
                    "The upgrade was rolled back: the appliance runs the old firmware. Write a support bundle (b) and contact support before trying again.",
                    inner_w,
                ) {
                    lines.push(Line::styled(l, app.theme.error));
                }
                hints = vec![("b", "support bundle")];
            }
            if let Some(p) = &w.bundle_path {
                lines.push(Line::styled(
                    format!("Bundle: {}", p.display()),
                    app.theme.muted,
                ));
            }
        }
        Step::Reminders => {
            let reminders = app.reminders();
            if reminders.is_empty() {
                lines.push(text("The firmware lists no post-upgrade reminders."));
            }
            lines.push(Line::styled(
                "After the upgrade, do not forget:",
                app.theme.guidance,
            ));
            for r in reminders {
                lines.push(Line::styled(
                    format!("{} {}", s.bullet, r.title),
                    app.theme.title,
                ));
                for l in wrap(&r.text, inner_w.saturating_sub(2)) {
                    lines.push(text(&format!("  {l}")));
                }
            }
            hints = vec![("p", "back"), ("1", "status")];
        }
    }
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
    };
    let w = 58.min(area.width);
    let h = 8.min(area.height);
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
        return vec![("y", "yes"), ("n", "no")];
    }
    hints
}
