//! Help: every key the console knows, by screen, and what the console detected
//! about the terminal.

use super::Hints;
use crate::tui::app::App;
use crate::tui::ui::block;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

/// Every key, grouped: (group, key, what it does).
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        "Anywhere",
        "1..5",
        "status, upgrade, recovery, logs, cluster plan",
    ),
    ("Anywhere", "Tab / Shift-Tab", "next / previous screen"),
    ("Anywhere", "? or F1", "this help"),
    ("Anywhere", "Ctrl-L", "repaint the whole screen"),
    (
        "Anywhere",
        "q, F10 or Ctrl-C",
        "quit (work already started goes on)",
    ),
    ("Status", "r", "refresh"),
    ("Upgrade", "n / p", "next step / previous step"),
    (
        "Upgrade",
        "Up/Down or k/j",
        "move in a list, scroll findings",
    ),
    (
        "Upgrade",
        "Space or x",
        "tick or untick the prerequisite under the cursor",
    ),
    ("Upgrade", "e", "type or paste the expected SHA-256"),
    ("Upgrade", "Enter", "run the step: verify, test, next..."),
    (
        "Upgrade",
        "b / a / r",
        "support bundle / activate / reboot (a, r ask)",
    ),
    ("Upgrade", "y / n or Esc", "answer a confirmation"),
    (
        "Hash entry",
        "Enter/Esc/Ctrl-U",
        "accept (or new line) / cancel / clear",
    ),
    (
        "Recovery",
        "R",
        "enter recovery mode on request (asks first)",
    ),
    ("Logs", "PgUp/PgDn, End", "scroll, follow the end"),
    ("Help", "Up/Down, Esc", "scroll, back to status"),
];

pub fn draw(app: &App, area: Rect, buf: &mut Buffer) -> Hints {
    let t = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    let mut group = "";
    for (g, key, what) in KEYS {
        let label = if *g == group { "" } else { g };
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
    vec![("Up/Down", "scroll"), ("Esc", "back")]
}
