//! Step 4: the upgrade test and its findings.

use super::Panel;
#[allow(unused_imports)]
use super::*;
use crate::tui::app::Step;
use crate::tui::keys::{self, Action, Ctx};

pub(super) fn draw(app: &App, p: &mut Panel) {
    let w = &app.wizard;
    let inner_w = p.width;
    let text = |t: &str| Line::styled(t.to_string(), app.theme.text);
    let lines = &mut p.lines;
    let hints = &mut p.hints;
    match &w.check {
        Job::Idle => {
            lines.push(text("The upgrade test: does the new firmware accept this"));
            lines.push(text("appliance? Upgrade path, free space, licence,"));
            lines.push(text("prerequisites and the image's configuration rules."));
            lines.push(text("Nothing is changed."));
            *hints = keys::hints(&[
                (Ctx::Step(Step::Check), Action::Run, "run test"),
                (Ctx::Wizard, Action::StepBack, "back"),
            ]);
        }
        Job::Running { .. } => {
            lines.push(text("Testing..."));
        }
        Job::Failed(e) => {
            for l in wrap(e, inner_w) {
                lines.push(Line::styled(l, app.theme.error));
            }
            *hints = keys::hints(&[
                (Ctx::Step(Step::Check), Action::Run, "retry"),
                (Ctx::Wizard, Action::StepBack, "back"),
            ]);
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
            *hints = keys::hints(&[
                (Ctx::Step(Step::Check), Action::Down, "scroll"),
                (Ctx::Step(Step::Check), Action::Run, "again"),
                (Ctx::Wizard, Action::StepNext, "next"),
                (Ctx::Wizard, Action::StepBack, "back"),
            ]);
        }
    }
}
