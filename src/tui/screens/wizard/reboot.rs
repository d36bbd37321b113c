//! Step 7: the reboot into the new slot.

use super::Panel;
#[allow(unused_imports)]
use super::*;
use crate::tui::app::Step;
use crate::tui::keys::{self, Action, Ctx};

pub(super) fn draw(app: &App, p: &mut Panel) {
    let inner_w = p.width;
    let text = |t: &str| Line::styled(t.to_string(), app.theme.text);
    let lines = &mut p.lines;
    let hints = &mut p.hints;

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
    *hints = keys::hints(&[(Ctx::Step(Step::Reboot), Action::Reboot, "reboot")]);
}
