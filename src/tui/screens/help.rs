//! Help: every key the console knows (the keys table, by screen), and what the
//! console detected about the terminal.

use super::Hints;
use crate::tui::app::App;
use crate::tui::keys::{self, Action, Ctx};
use crate::tui::ui::block;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

pub fn draw(app: &App, area: Rect, buf: &mut Buffer) -> Hints {
    let t = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    let mut group = "";
    for row in keys::ROWS {
        let (g, key, what) = (row.group, row.keys, row.what);
        let label = if g == group { "" } else { g };
        group = g;
        lines.push(Line::from(vec![
            Span::styled(format!(" {label:<11}"), t.title),
            Span::styled(format!("{key:<18}"), t.key),
            Span::styled(what.to_string(), t.text),
        ]));
    }
    lines.push(Line::styled(
        format!(" Terminal: {}; theme {}", app.terminal_note, app.theme.name),
        t.muted,
    ));
    Paragraph::new(lines)
        .scroll((app.help_scroll, 0))
        .block(block(app, "Help: every key"))
        .render(area, buf);
    keys::hints(&[
        (Ctx::Help, Action::Down, "scroll"),
        (Ctx::Help, Action::HelpBack, "back"),
    ])
}
