//! Step 5: the optional support bundle.

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
    *hints = keys::hints(&[
        (Ctx::Step(Step::Bundle), Action::Bundle, "write bundle"),
        (Ctx::Wizard, Action::StepNext, "next"),
        (Ctx::Wizard, Action::StepBack, "back"),
    ]);
}
