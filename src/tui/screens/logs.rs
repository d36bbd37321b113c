//! The console log (var/log/upgrade-console/console.log) as it grows, through
//! tui-logger: every action of the console and of the work it started, with times.

use super::Hints;
use crate::tui::app::App;
use crate::tui::keys::{self, Action, Ctx};
use crate::tui::ui::block;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use tui_logger::TuiLoggerWidget;

pub fn draw(app: &App, area: Rect, buf: &mut Buffer) -> Hints {
    let t = &app.theme;
    TuiLoggerWidget::default()
        .block(block(app, "Log: var/log/upgrade-console/console.log"))
        .output_timestamp(None)
        .output_level(None)
        .output_target(false)
        .output_file(false)
        .output_line(false)
        .style(t.text)
        .style_error(t.error)
        .style_warn(t.warning)
        .style_info(t.text)
        .style_debug(t.muted)
        .style_trace(t.muted)
        .state(&app.log_state)
        .render(area, buf);
    keys::hints(&[
        (Ctx::Logs, Action::Down, "scroll"),
        (Ctx::Logs, Action::LogFollow, "follow"),
    ])
}
