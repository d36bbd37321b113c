//! Step 9: what the appliance runs after the boot phase, and phase 2.

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
        *hints = keys::hints(&[(Ctx::Wizard, Action::StepNext, "reminders")]);
        // Phase 2, the background migration the console started after the commit.
        match app
            .progress
            .as_ref()
            .filter(|p| p.operation == Operation::Phase2)
        {
            Some(p) if p.outcome.is_none() => lines.push(text(&format!(
                "Phase 2 (background migration): {} {:.0} %",
                p.stage,
                p.fraction * 100.0
            ))),
            Some(p) if p.outcome == Some(Outcome::Done) => lines.push(Line::styled(
                "Phase 2 done: the migration is complete.",
                app.theme.ok,
            )),
            Some(p) => {
                for l in wrap(
                    &format!(
                        "Phase 2 failed: {}. It resumes from its checkpoint when run again (upgrade-console phase2).",
                        p.message
                    ),
                    inner_w,
                ) {
                    lines.push(Line::styled(l, app.theme.error));
                }
            }
            None => match w.phase2.as_ref().map(|r| r.exit) {
                Some(None) => lines.push(text("Phase 2 is starting...")),
                // Ended without a progress record: a phase 2 with nothing to do (this
                // firmware has no background migration, or it was already done) exits
                // 0 at once; anything else never got going.
                Some(Some(0)) => lines.push(Line::styled(
                    "Phase 2: nothing to migrate in the background for this firmware.",
                    app.theme.ok,
                )),
                Some(Some(_)) => lines.push(Line::styled(
                    "Phase 2 could not start: see the log (4); run `upgrade-console phase2`.",
                    app.theme.error,
                )),
                None => {}
            },
        }
    } else if outcome.is_none() && app.live_operation().is_some() {
        lines.push(text("The boot phase is still running..."));
    } else {
        for l in wrap(
            "The upgrade was rolled back: the appliance runs the old firmware. Write a support bundle (b) and contact support before trying again.",
            inner_w,
        ) {
            lines.push(Line::styled(l, app.theme.error));
        }
        *hints = keys::hints(&[(
            Ctx::Step(Step::VersionCheck),
            Action::Bundle,
            "support bundle",
        )]);
    }
    if let Some(p) = &w.bundle_path {
        lines.push(Line::styled(
            format!("Bundle: {}", p.display()),
            app.theme.muted,
        ));
    }
}
