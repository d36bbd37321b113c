//! Step 1: the prerequisites the operator ticks.

use super::Panel;
#[allow(unused_imports)]
use super::*;
use crate::tui::app::Step;
use crate::tui::keys::{self, Action, Ctx};

pub(super) fn draw(app: &App, p: &mut Panel) {
    let w = &app.wizard;
    let s = sym(app.ascii);
    let inner_w = p.width;
    let lines = &mut p.lines;
    let hints = &mut p.hints;

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
    *hints = keys::hints(&[
        (Ctx::Step(Step::Prerequisites), Action::Down, "move"),
        (Ctx::Step(Step::Prerequisites), Action::Tick, "tick"),
        (Ctx::Wizard, Action::StepNext, "next"),
    ]);
}
