//! Step 8: phase 1, the boot-time migration, followed as it runs.

use super::Panel;
#[allow(unused_imports)]
use super::*;

pub(super) fn draw(app: &App, p: &mut Panel) {
    let lines = &mut p.lines;
    let gauge = &mut p.gauge;

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
    progress_block(app, lines, gauge);
    if let Some(listen) = app.config.as_ref().ok().and_then(|c| c.web.listen.first()) {
        lines.push(Line::styled(
            format!("Boot log in a browser: http://{listen}/"),
            app.theme.muted,
        ));
    }
}
