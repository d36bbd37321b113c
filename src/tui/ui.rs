//! Drawing shared by every screen: the frame (title bar, screen tabs, message line,
//! key hints), ASCII or Unicode symbols, and a text gauge that changes only a few
//! cells per step (cheap on a serial line). Drawing reads `&App` and never changes it.

use crate::tui::app::{App, Level, Screen};
use crate::tui::keys::{self, Action, Ctx};
use crate::tui::screens;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

/// Symbols in their Unicode and ASCII forms.
pub struct Sym {
    pub done: &'static str,
    pub todo: &'static str,
    pub current: &'static str,
    pub bullet: &'static str,
    pub arrow: &'static str,
    pub fill: char,
    pub empty: char,
    pub border: border::Set<'static>,
}

pub const ASCII_BORDER: border::Set = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

pub fn sym(ascii: bool) -> Sym {
    if ascii {
        Sym {
            done: "[x]",
            todo: "[ ]",
            current: ">",
            bullet: "*",
            arrow: "->",
            fill: '#',
            empty: '-',
            border: ASCII_BORDER,
        }
    } else {
        Sym {
            done: "[✓]",
            todo: "[ ]",
            current: "▶",
            bullet: "•",
            arrow: "→",
            fill: '█',
            empty: '░',
            border: border::PLAIN,
        }
    }
}

/// A bordered block with a title, in the theme's border and title styles.
pub fn block<'a>(app: &App, title: &'a str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_set(sym(app.ascii).border)
        .border_style(app.theme.border)
        .title(Span::styled(format!(" {title} "), app.theme.title))
}

/// `[#####-----]  42%`: the bar and the percentage in one style, so a step of
/// progress changes one or two bar cells and a digit or two, nothing else.
pub struct TextGauge {
    pub ratio: f64,
    pub ascii: bool,
    pub style: Style,
}

impl Widget for TextGauge {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width < 8 || area.height == 0 {
            return;
        }
        let s = sym(self.ascii);
        let ratio = if self.ratio.is_finite() {
            self.ratio.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let pct = (ratio * 100.0).floor() as u32;
        let inner = (area.width - 7) as usize;
        let filled = ((ratio * inner as f64).floor() as usize).min(inner);
        let mut text = String::with_capacity(area.width as usize * 3);
        text.push('[');
        text.extend(std::iter::repeat_n(s.fill, filled));
        text.extend(std::iter::repeat_n(s.empty, inner - filled));
        text.push(']');
        text.push_str(&format!("{pct:>4}%"));
        buf.set_string(area.x, area.y, text, self.style);
    }
}

/// `key label` pairs for the bottom line.
pub fn key_hints(app: &App, keys: &[(&str, &str)]) -> Line<'static> {
    let mut spans = Vec::new();
    for (k, label) in keys {
        spans.push(Span::styled(format!(" {k}"), app.theme.key));
        spans.push(Span::styled(format!(" {label} "), app.theme.text));
    }
    Line::from(spans)
}

fn header(app: &App, area: Rect, buf: &mut Buffer) {
    let (product, host) = match &app.config {
        Ok(c) => (c.appliance.product.clone(), c.appliance.hostname.clone()),
        Err(_) => ("?".into(), "configuration not loaded".into()),
    };
    let version = app
        .running_version()
        .map(|v| v.long_name())
        .unwrap_or_else(|| "version unknown".into());
    let left = format!(" upgrade-console  {host}  {product} {version}");
    // The wizard shows the operation's own gauge; repeating the percentage here
    // would cost a second cursor move and digit on every step of a serial line.
    let op = match app.live_operation() {
        Some(p) if app.screen == Screen::Wizard => format!("{} running ", p.operation),
        Some(p) => format!("{} {:.0}% ", p.operation, p.fraction * 100.0),
        None => String::new(),
    };
    let width = area.width as usize;
    let mut line = left;
    let room = width.saturating_sub(line.chars().count() + op.chars().count());
    line.push_str(&" ".repeat(room));
    line.push_str(&op);
    buf.set_stringn(area.x, area.y, line, width, app.theme.status_bar);
}

fn tabs(app: &App, area: Rect, buf: &mut Buffer) {
    let mut spans = Vec::new();
    for (screen, key, name) in Screen::TABS {
        let style = if screen == app.screen {
            app.theme.selected
        } else {
            app.theme.text
        };
        spans.push(Span::styled(format!(" {key} "), app.theme.key));
        spans.push(Span::styled(name.to_string(), style));
        spans.push(Span::raw(" "));
    }
    Line::from(spans).render(area, buf);
}

fn message(app: &App, area: Rect, buf: &mut Buffer) {
    if let Some((level, text)) = &app.message {
        let style = match level {
            Level::Info => app.theme.ok,
            Level::Warning => app.theme.warning,
            Level::Error => app.theme.error,
        };
        let lines = wrap(text, area.width.saturating_sub(1) as usize);
        for (i, l) in lines.iter().take(area.height as usize).enumerate() {
            buf.set_stringn(
                area.x,
                area.y + i as u16,
                format!(" {l}"),
                area.width as usize,
                style,
            );
        }
    }
}

/// Draws the whole console.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let buf = frame.buffer_mut();
    if area.width < 40 || area.height < 12 {
        Paragraph::new("The console needs at least 40x12 characters.")
            .style(app.theme.error)
            .render(area, buf);
        return;
    }
    // A message longer than a line gets up to three lines rather than being cut.
    let msg_rows = match &app.message {
        Some((_, m)) => wrap(m, area.width.saturating_sub(1) as usize)
            .len()
            .clamp(1, 3) as u16,
        None => 1,
    };
    let [top, tab, body, msg, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(8),
        Constraint::Length(msg_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    header(app, top, buf);
    tabs(app, tab, buf);
    let hints = match app.screen {
        Screen::Status => screens::status::draw(app, body, buf),
        Screen::Wizard => screens::wizard::draw(app, body, buf),
        Screen::Recovery => screens::recovery::draw(app, body, buf),
        Screen::Logs => screens::logs::draw(app, body, buf),
        Screen::Cluster => screens::cluster::draw(app, body, buf),
        Screen::Ha => screens::ha::draw(app, body, buf),
        Screen::Help => screens::help::draw(app, body, buf),
    };
    message(app, msg, buf);
    let mut all = hints;
    all.extend(keys::hints(&[
        (Ctx::Global, Action::Show(Screen::Help), "help"),
        (Ctx::Global, Action::Quit, "quit"),
    ]));
    key_hints(app, &all).render(keys, buf);
}

/// Wraps plain text to a width at spaces; a word longer than the width (a path)
/// is split, so nothing is cut at the border.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    let width = width.max(1);
    let mut words: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let chars: Vec<char> = word.chars().collect();
        for piece in chars.chunks(width) {
            words.push(piece.iter().collect());
        }
    }
    for word in words.iter().map(String::as_str) {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_is_ascii_and_exact() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 27, 1));
        TextGauge {
            ratio: 0.42,
            ascii: true,
            style: Style::default(),
        }
        .render(buf.area, &mut buf);
        let text: String = (0..27).map(|x| buf[(x, 0)].symbol().to_string()).collect();
        assert_eq!(text, "[########------------]  42%");
    }

    #[test]
    fn wrap_splits_a_word_longer_than_the_width() {
        let p = "/var/lib/upgrade-console/bundles/support-bundle-20261203T071500Z.zip";
        let l = wrap(&format!("Bundle: {p}"), 30);
        assert!(l.iter().all(|x| x.chars().count() <= 30), "{l:?}");
        assert_eq!(l.concat().replace("Bundle:", ""), p);
    }

    #[test]
    fn wrap_keeps_words() {
        assert_eq!(
            wrap("one two three four", 9),
            vec!["one two", "three", "four"]
        );
    }
}
