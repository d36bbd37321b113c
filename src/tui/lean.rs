//! A ratatui backend that writes as few bytes as it can, for 115200-baud serial
//! lines: ratatui already sends only the cells that changed; this backend also
//! remembers where the cursor is and which attributes are set across frames, so it
//! sends no cursor move when the next cell is where the cursor already is, a short
//! move (CR LF, CUF) when one will do, no attribute reset after every frame, and no
//! cursor-hide when the cursor is already hidden. Plain VT100 sequences only; in
//! ASCII mode any other character is replaced (box drawing by + - |, blocks by #).

use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use ratatui::style::{Color, Modifier};
use std::io::{self, Write};

/// The attributes the terminal currently has set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pen {
    fg: Color,
    bg: Color,
    mods: Modifier,
}

const PLAIN: Pen = Pen {
    fg: Color::Reset,
    bg: Color::Reset,
    mods: Modifier::empty(),
};

/// Modifiers a VT100-class terminal renders; others are dropped rather than sent.
const SENT_MODS: Modifier = Modifier::BOLD
    .union(Modifier::DIM)
    .union(Modifier::ITALIC)
    .union(Modifier::UNDERLINED)
    .union(Modifier::REVERSED);

pub struct LeanBackend<W: Write> {
    out: W,
    buf: Vec<u8>,
    ascii: bool,
    size: Size,
    /// Where the terminal's cursor is, when known.
    cursor: Option<(u16, u16)>,
    /// The terminal's current attributes, when known.
    pen: Option<Pen>,
    cursor_visible: Option<bool>,
    /// What the terminal shows, where known: an ASCII byte and its attributes per
    /// cell. Lets a short skip over unchanged cells be sent as those cells again
    /// (one byte each) instead of a cursor move (three or more).
    shadow: Vec<Option<(u8, Pen)>>,
    /// Bytes written so far (the serial-line cost, for the log and the benchmark).
    pub written: u64,
}

impl<W: Write> LeanBackend<W> {
    pub fn new(out: W, size: (u16, u16), ascii: bool) -> Self {
        LeanBackend {
            out,
            buf: Vec::with_capacity(4096),
            ascii,
            size: Size::new(size.0, size.1),
            cursor: None,
            pen: None,
            cursor_visible: None,
            written: 0,
            shadow: vec![None; size.0 as usize * size.1 as usize],
        }
    }

    /// The terminal changed size (SIGWINCH, or a size learnt from the line).
    pub fn set_size(&mut self, cols: u16, rows: u16) {
        self.size = Size::new(cols, rows);
        self.shadow = vec![None; cols as usize * rows as usize];
        self.cursor = None;
    }

    /// Forgets what the terminal shows (after a repaint request or a resize), so
    /// the next writes set the pen and cursor explicitly.
    pub fn forget(&mut self) {
        self.shadow.fill(None);
        self.cursor = None;
        self.pen = None;
        self.cursor_visible = None;
    }

    /// Writes raw bytes (terminal setup and restore sequences).
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        self.flush_buf()
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.written += self.buf.len() as u64;
            self.buf.clear();
        }
        self.out.flush()
    }

    fn cell_index(&self, x: u16, y: u16) -> Option<usize> {
        (x < self.size.width && y < self.size.height)
            .then(|| y as usize * self.size.width as usize + x as usize)
    }

    /// Moves right from `from` to `to` on row `y` by sending the cells in between
    /// again, when they are known, in the current attributes, and fewer bytes than
    /// a cursor-forward sequence.
    fn refill(&mut self, from: u16, to: u16, y: u16) -> bool {
        let gap = (to - from) as usize;
        let cuf_cost = match gap {
            1 => 3,
            2..=9 => 4,
            _ => 5,
        };
        let Some(pen) = self.pen else { return false };
        if gap > cuf_cost {
            return false;
        }
        let mut bytes = Vec::with_capacity(gap);
        for x in from..to {
            match self.cell_index(x, y).and_then(|i| self.shadow[i]) {
                Some((b, p))
                    if p == pen
                        || b == b' ' && looks_blank(p) && looks_blank(pen) && p.bg == pen.bg =>
                {
                    bytes.push(b)
                }
                _ => return false,
            }
        }
        self.buf.extend_from_slice(&bytes);
        true
    }

    fn move_to(&mut self, x: u16, y: u16) {
        let cursor = self.cursor;
        match cursor {
            Some((cx, cy)) if (cx, cy) == (x, y) => {}
            Some((cx, cy)) if cy == y && cx < x && self.refill(cx, x, y) => {}
            Some((cx, cy)) if cy == y && cx < x => {
                let gap = x - cx;
                if gap == 1 {
                    self.buf.extend_from_slice(b"\x1b[C");
                } else {
                    let _ = write!(self.buf, "\x1b[{gap}C");
                }
            }
            Some((_, cy)) if x == 0 && y == cy + 1 => self.buf.extend_from_slice(b"\r\n"),
            Some((_, cy)) if x == 0 && y == cy => self.buf.push(b'\r'),
            // A few columns back on the same row: backspaces (a digit of a percentage).
            Some((cx, cy)) if cy == y && cx > x && cx - x <= 3 => {
                for _ in x..cx {
                    self.buf.push(b'\x08');
                }
            }
            _ => {
                if x == 0 && y == 0 {
                    self.buf.extend_from_slice(b"\x1b[H");
                } else if x == 0 {
                    let _ = write!(self.buf, "\x1b[{}H", y + 1);
                } else {
                    let _ = write!(self.buf, "\x1b[{};{}H", y + 1, x + 1);
                }
            }
        }
        self.cursor = Some((x, y));
    }

    fn set_pen(&mut self, want: Pen) {
        let want = Pen {
            mods: want.mods & SENT_MODS,
            ..want
        };
        if self.pen == Some(want) {
            return;
        }
        let mut params: Vec<String> = Vec::new();
        let from = match self.pen {
            // Attributes can only be switched off all at once on a VT100: reset.
            Some(p) if (p.mods - want.mods).is_empty() => p,
            _ => {
                params.push(String::new());
                PLAIN
            }
        };
        for (m, code) in [
            (Modifier::BOLD, "1"),
            (Modifier::DIM, "2"),
            (Modifier::ITALIC, "3"),
            (Modifier::UNDERLINED, "4"),
            (Modifier::REVERSED, "7"),
        ] {
            if want.mods.contains(m) && !from.mods.contains(m) {
                params.push(code.into());
            }
        }
        if want.fg != from.fg {
            params.push(colour_code(want.fg, false));
        }
        if want.bg != from.bg {
            params.push(colour_code(want.bg, true));
        }
        if !params.is_empty() {
            let _ = write!(self.buf, "\x1b[{}m", params.join(";"));
        }
        self.pen = Some(want);
    }
}

fn colour_code(c: Color, bg: bool) -> String {
    let (base, bright, ext) = if bg { (40, 100, 48) } else { (30, 90, 38) };
    match c {
        Color::Reset => (base + 9).to_string(),
        Color::Black => base.to_string(),
        Color::Red => (base + 1).to_string(),
        Color::Green => (base + 2).to_string(),
        Color::Yellow => (base + 3).to_string(),
        Color::Blue => (base + 4).to_string(),
        Color::Magenta => (base + 5).to_string(),
        Color::Cyan => (base + 6).to_string(),
        Color::Gray => (base + 7).to_string(),
        Color::DarkGray => bright.to_string(),
        Color::LightRed => (bright + 1).to_string(),
        Color::LightGreen => (bright + 2).to_string(),
        Color::LightYellow => (bright + 3).to_string(),
        Color::LightBlue => (bright + 4).to_string(),
        Color::LightMagenta => (bright + 5).to_string(),
        Color::LightCyan => (bright + 6).to_string(),
        Color::White => (bright + 7).to_string(),
        Color::Indexed(i) => format!("{ext};5;{i}"),
        Color::Rgb(r, g, b) => format!("{ext};2;{r};{g};{b}"),
    }
}

/// Whether a space drawn with these attributes looks like any other space on the
/// same background (the foreground colour and bold do not show on a blank).
fn looks_blank(p: Pen) -> bool {
    !p.mods
        .intersects(Modifier::REVERSED | Modifier::UNDERLINED | Modifier::CROSSED_OUT)
}

/// One character that every terminal draws one column wide: Latin, punctuation,
/// arrows, box drawing and blocks (not combining marks, not East Asian wide).
fn is_narrow(sym: &str) -> bool {
    let mut chars = sym.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => {
            let u = c as u32;
            (0x20..0x7f).contains(&u) || (0xa0..0x300).contains(&u) || (0x2010..0x2700).contains(&u)
        }
        _ => false,
    }
}

/// The ASCII stand-in for a character a serial line might mangle.
pub fn ascii_fallback(c: char) -> char {
    match c {
        '─' | '━' | '═' | '╌' => '-',
        '│' | '┃' | '║' | '╎' => '|',
        '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' | '╭' | '╮' | '╰' | '╯' | '╔' | '╗'
        | '╚' | '╝' => '+',
        '█' | '▉' | '▊' | '▋' | '▌' | '▍' | '▎' | '▏' | '▓' | '▒' => '#',
        '░' | '·' | '•' => '.',
        '→' | '▶' | '►' => '>',
        '←' | '◀' => '<',
        '✓' | '✔' => 'x',
        '…' => '~',
        '—' | '–' => '-',
        '“' | '”' => '"',
        '‘' | '’' => '\'',
        c if c.is_ascii() && !c.is_ascii_control() => c,
        _ => '?',
    }
}

impl<W: Write> Backend for LeanBackend<W> {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        for (x, y, cell) in content {
            self.move_to(x, y);
            let pen = Pen {
                fg: cell.fg,
                bg: cell.bg,
                mods: cell.modifier,
            };
            self.set_pen(pen);
            let sym = cell.symbol();
            let single_ascii = sym.len() == 1 && sym.as_bytes()[0].is_ascii_graphic() || sym == " ";
            let sent = if single_ascii {
                Some(sym.as_bytes()[0])
            } else if self.ascii {
                Some(sym.chars().next().map(ascii_fallback).unwrap_or(' ') as u8)
            } else {
                None
            };
            match sent {
                Some(b) => self.buf.push(b),
                None => self.buf.extend_from_slice(sym.as_bytes()),
            }
            if let Some(i) = self.cell_index(x, y) {
                self.shadow[i] = sent.map(|b| (b, self.pen.unwrap_or(PLAIN)));
            }
            // After a wide or unusual character, or in the last column (pending
            // wrap), the cursor position is the terminal's business: move explicitly.
            let narrow = single_ascii || self.ascii || is_narrow(sym);
            self.cursor = if narrow && x + 1 < self.size.width {
                Some((x + 1, y))
            } else {
                None
            };
        }
        Ok(())
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        if self.cursor_visible != Some(false) {
            self.buf.extend_from_slice(b"\x1b[?25l");
            self.cursor_visible = Some(false);
        }
        Ok(())
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        if self.cursor_visible != Some(true) {
            self.buf.extend_from_slice(b"\x1b[?25h");
            self.cursor_visible = Some(true);
        }
        Ok(())
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        let (x, y) = self.cursor.unwrap_or((0, 0));
        Ok(Position::new(x, y))
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        let p = position.into();
        self.move_to(p.x, p.y);
        Ok(())
    }

    fn clear(&mut self) -> io::Result<()> {
        // Cleared cells take the current background: reset it first.
        self.buf.extend_from_slice(b"\x1b[0m\x1b[H\x1b[2J");
        self.pen = Some(PLAIN);
        self.shadow.fill(Some((b' ', PLAIN)));
        self.cursor = Some((0, 0));
        Ok(())
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        if clear_type == ClearType::All {
            return self.clear();
        }
        self.set_pen(PLAIN);
        // Partial clears are rare (ratatui's inline viewports): forget the shadow.
        self.shadow.fill(None);
        match clear_type {
            ClearType::All => {}
            ClearType::AfterCursor => self.buf.extend_from_slice(b"\x1b[J"),
            ClearType::BeforeCursor => self.buf.extend_from_slice(b"\x1b[1J"),
            ClearType::CurrentLine => self.buf.extend_from_slice(b"\x1b[2K"),
            ClearType::UntilNewLine => self.buf.extend_from_slice(b"\x1b[K"),
        }
        Ok(())
    }

    fn size(&self) -> io::Result<Size> {
        Ok(self.size)
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        Ok(WindowSize {
            columns_rows: self.size,
            pixels: Size::new(0, 0),
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::style::Style;
    use ratatui::text::Line;

    fn frame(t: &mut Terminal<LeanBackend<Vec<u8>>>, text: &str, style: Style) -> Vec<u8> {
        let before = t.backend().out.len();
        t.draw(|f| {
            f.render_widget(
                Line::styled(text, style),
                ratatui::layout::Rect::new(2, 3, text.chars().count() as u16, 1),
            )
        })
        .unwrap();
        t.backend().out[before..].to_vec()
    }

    #[test]
    fn sends_only_the_changed_cells_with_no_per_frame_overhead() {
        let mut t = Terminal::new(LeanBackend::new(Vec::new(), (80, 24), true)).unwrap();
        t.clear().unwrap();
        let first = frame(&mut t, "[###-------] 30%", Style::default());
        // The blank between bar and digits is known to be a blank: sent as one.
        assert!(String::from_utf8_lossy(&first).contains("[###-------] 30%"));
        let tick = frame(&mut t, "[####------] 40%", Style::default());
        // Move to the bar cell, one '#', skip to the digit, one '4'.
        assert_eq!(String::from_utf8_lossy(&tick), "\x1b[4;7H#\x1b[8C4");
        let same = frame(&mut t, "[####------] 40%", Style::default());
        assert!(
            same.is_empty(),
            "an unchanged frame writes nothing: {same:?}"
        );
    }

    #[test]
    fn attributes_persist_across_frames_and_ascii_replaces_unicode() {
        let mut t = Terminal::new(LeanBackend::new(Vec::new(), (80, 24), true)).unwrap();
        t.clear().unwrap();
        t.backend_mut().flush().unwrap();
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let a = frame(&mut t, "█ ok", bold);
        assert_eq!(String::from_utf8_lossy(&a), "\x1b[4;3H\x1b[1m# ok\x1b[?25l");
        let b = frame(&mut t, "█ no", bold);
        // Two columns back on the same row: two backspaces beat a cursor address.
        assert_eq!(String::from_utf8_lossy(&b), "\x08\x08no");
        let c = frame(&mut t, "█ no", Style::default());
        assert_eq!(String::from_utf8_lossy(&c), "\x1b[4;3H\x1b[m# no");
    }
}
