//! Step 10: the firmware's post-upgrade reminders.

use super::Panel;
#[allow(unused_imports)]
use super::*;
use crate::tui::app::Screen;
use crate::tui::keys::{self, Action, Ctx};

pub(super) fn draw(app: &App, p: &mut Panel) {
    let s = sym(app.ascii);
    let inner_w = p.width;
    let text = |t: &str| Line::styled(t.to_string(), app.theme.text);
    let lines = &mut p.lines;
    let hints = &mut p.hints;

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
    *hints = keys::hints(&[
        (Ctx::Wizard, Action::StepBack, "back"),
        (Ctx::Global, Action::Show(Screen::Status), "status"),
    ]);
}
