//! Step 6: writing the image to the other slot.

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
    let gauge = &mut p.gauge;
    let hints = &mut p.hints;

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
        progress_block(app, lines, gauge);
    }
    match &w.activate {
        Some(a) if a.exit == Some(0) => {
            lines.push(Line::styled(
                "Activated: the new slot boots once after the reboot.",
                app.theme.ok,
            ));
            *hints = keys::hints(&[(Ctx::Wizard, Action::StepNext, "next")]);
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
        None => {
            *hints = keys::hints(&[
                (Ctx::Step(Step::Activate), Action::Activate, "activate"),
                (Ctx::Wizard, Action::StepBack, "back"),
            ])
        }
    }
}
