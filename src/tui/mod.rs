//! The full-screen console (SPEC §9): status, upgrade wizard, recovery, logs,
//! cluster plan and help, on a VGA or KVM console, a serial line or a VM console.
//!
//! Shape (ratatui templates, gitui): an input thread and a tick thread turn the
//! terminal and time into one `Msg` stream; `App::update` is the only place state
//! changes; drawing borrows `&App`. The main loop, `Console`, is generic over the
//! ratatui backend, so tests run the real loop on a `TestBackend`. Long work runs
//! in detached processes (worker.rs): the console can die with its terminal.

pub mod app;
pub mod effects;
pub mod events;
pub mod keys;
pub mod lean;
pub mod screens;
pub mod serial;
#[cfg(test)]
mod snapshot_tests;
pub mod theme;
pub mod ui;
#[cfg(test)]
mod update_tests;
pub mod worker;

use crate::cli::{Ctx, Exit};
use app::{App, Msg, Options};
use lean::LeanBackend;
use ratatui::Terminal;
use ratatui::backend::{Backend, TestBackend};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use theme::Theme;

/// What the main loop needs from a backend beyond ratatui's trait.
pub trait ConsoleBackend: Backend<Error: std::error::Error + Send + Sync + 'static> {
    /// The terminal now has this size.
    fn resize_to(&mut self, cols: u16, rows: u16);
    /// The screen's contents are unknown (repaint requested).
    fn forget(&mut self) {}
}

impl ConsoleBackend for TestBackend {
    fn resize_to(&mut self, cols: u16, rows: u16) {
        self.resize(cols, rows);
    }
}

impl<W: Write> ConsoleBackend for LeanBackend<W> {
    fn resize_to(&mut self, cols: u16, rows: u16) {
        self.set_size(cols, rows);
    }
    fn forget(&mut self) {
        LeanBackend::forget(self);
    }
}

/// The main loop: messages in, state updated, frames drawn no more often than
/// `min_frame` and only when something changed.
pub struct Console<B: ConsoleBackend> {
    pub terminal: Terminal<B>,
    pub app: App,
    rx: Receiver<Msg>,
    min_frame: Duration,
    last_draw: Option<Instant>,
    dirty: bool,
    /// Frames drawn (for the log and tests).
    pub frames: u64,
}

impl<B: ConsoleBackend> Console<B> {
    pub fn new(
        backend: B,
        app: App,
        rx: Receiver<Msg>,
        min_frame: Duration,
    ) -> std::io::Result<Self> {
        let mut app = app;
        // What the new console asked for (its first status) runs now.
        let first = app.take_effects();
        effects::run(&mut app, first);
        Ok(Console {
            terminal: Terminal::new(backend).map_err(std::io::Error::other)?,
            app,
            rx,
            min_frame,
            last_draw: None,
            dirty: true,
            frames: 0,
        })
    }

    fn draw(&mut self) -> std::io::Result<()> {
        if self.app.repaint {
            self.app.repaint = false;
            self.terminal.backend_mut().forget();
            self.terminal.clear().map_err(std::io::Error::other)?;
        }
        let app = &self.app;
        self.terminal
            .draw(|f| ui::draw(f, app))
            .map_err(std::io::Error::other)?;
        self.last_draw = Some(Instant::now());
        self.dirty = false;
        self.frames += 1;
        Ok(())
    }

    fn handle(&mut self, msg: Msg) {
        if let Msg::Resize(c, r) = &msg {
            self.terminal.backend_mut().resize_to(*c, *r);
        }
        let u = self.app.update(msg);
        if u.redraw {
            self.dirty = true;
        }
        effects::run(&mut self.app, u.effects);
    }

    /// Runs until the operator quits or the terminal goes away.
    pub fn run(&mut self) -> std::io::Result<()> {
        self.run_until(|app| app.quit)
    }

    /// Runs the loop until `done(&app)` holds after a message (tests stop it at the
    /// screen they want to look at); the last state is drawn before returning.
    pub fn run_until(&mut self, done: impl Fn(&App) -> bool) -> std::io::Result<()> {
        loop {
            let due = self
                .last_draw
                .map(|t| self.min_frame.saturating_sub(t.elapsed()))
                .unwrap_or_default();
            if self.dirty && due.is_zero() {
                self.draw()?;
            }
            if done(&self.app) {
                if self.dirty {
                    self.draw()?;
                }
                return Ok(());
            }
            let msg = if self.dirty {
                match self.rx.recv_timeout(due) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            } else {
                match self.rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return Ok(()),
                }
            };
            if let Some(m) = msg {
                self.handle(m);
                // Handle what is already queued before drawing again: a pasted burst
                // is handled as one, so a slow frame cannot open gaps in it that the
                // paste guard would take for typing (and a serial line gets one frame).
                while !done(&self.app) {
                    match self.rx.try_recv() {
                        Ok(m) => self.handle(m),
                        Err(_) => break,
                    }
                }
            }
        }
    }
}

/// Puts the terminal back as it was: on return, on error and from the panic hook.
struct TerminalGuard {
    alternate: bool,
}

impl TerminalGuard {
    fn restore(alternate: bool) {
        let mut out = std::io::stdout();
        let tail: &[u8] = if alternate {
            b"\x1b[0m\x1b[?2004l\x1b[?25h\x1b[?1049l"
        } else {
            // No alternate screen on plain terminals: clear and leave the cursor home.
            b"\x1b[0m\x1b[?25h\x1b[H\x1b[2J"
        };
        let _ = out.write_all(tail);
        let _ = out.flush();
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        TerminalGuard::restore(self.alternate);
    }
}

/// Theme from `--theme`, the terminal kind and NO_COLOR; a broken theme file gives
/// the default theme and a notice.
pub fn choose_theme(
    spec: Option<&str>,
    mono_terminal: bool,
    no_color: bool,
) -> (Theme, Option<String>) {
    let (theme, notice) = match spec {
        Some(s) => match Theme::load(s) {
            Ok(t) => (t, None),
            Err(e) => (
                Theme::default_theme(),
                Some(format!("{e}; the default theme is used")),
            ),
        },
        None if mono_terminal => (
            Theme::builtin("mono").unwrap_or_else(Theme::default_theme),
            None,
        ),
        None => (Theme::default_theme(), None),
    };
    if no_color || mono_terminal && spec.is_none() {
        (theme.without_colour(), notice)
    } else {
        (theme, notice)
    }
}

/// What Help says about the terminal: what it is and how the console draws on
/// it ("TERM=xterm-256color: Unicode, colour"; "serial line (tty /dev/ttyS0):
/// ASCII, mono").
pub fn terminal_note(kind: &serial::TerminalKind, term: &str, ascii: bool, mono: bool) -> String {
    let what = if kind.serial {
        format!("serial line ({})", kind.reason)
    } else if term.trim().is_empty() {
        "TERM unset".to_string()
    } else {
        format!("TERM={}", term.trim())
    };
    format!(
        "{what}: {}, {}",
        if ascii { "ASCII" } else { "Unicode" },
        if mono { "mono" } else { "colour" }
    )
}

/// The console on the terminal (stdin/stdout must be terminals).
pub fn run_console(ctx: &Ctx) -> anyhow::Result<Exit> {
    run_console_with(ctx, None)
}

/// The console with an image preselected in the wizard (the demo's good image).
pub fn run_console_with(ctx: &Ctx, image: Option<&Path>) -> anyhow::Result<Exit> {
    let root = ctx.root.clone();
    upgrade_core::appliance::console_log::init(&root, false);
    let kind = serial::detect_here(&root);
    let ascii = ctx.ascii || kind.ascii;
    let no_color = theme::no_color_requested(std::env::var_os("NO_COLOR").as_deref());
    let (theme, notice) = choose_theme(ctx.theme.as_deref(), kind.mono, no_color);
    if let Some(n) = &notice {
        log::warn!("{n}");
    }
    let term = std::env::var("TERM").unwrap_or_default();
    let note = terminal_note(&kind, &term, ascii, theme.name == "mono" || no_color);

    crossterm::terminal::enable_raw_mode().map_err(|e| {
        anyhow::anyhow!(
            "cannot put the terminal into raw mode ({e}); run the console on a terminal"
        )
    })?;
    let alternate = !kind.serial && !kind.ascii;
    let guard = TerminalGuard { alternate };
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        TerminalGuard::restore(alternate);
        prev(info);
    }));
    let mut out = std::io::stdout();
    if alternate {
        out.write_all(b"\x1b[?1049h\x1b[?2004h")?;
    }
    let size = serial::learn_size(crossterm::terminal::size().ok());
    log::info!(
        "console on a {note}, {}x{}, theme {}",
        size.0,
        size.1,
        theme.name
    );

    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    let app = App::new(
        Options {
            root,
            theme,
            ascii,
            terminal_note: note,
            image: image.map(Path::to_path_buf),
            self_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("upgrade-console")),
            notice,
        },
        tx.clone(),
    );
    events::spawn_input(tx.clone());
    events::spawn_ticks(tx, events::TICK, events::catch_termination());
    // A serial line at 115200 baud moves ~11 KiB/s: ten frames a second at most.
    let min_frame = if kind.serial {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(50)
    };
    let backend = LeanBackend::new(std::io::stdout(), size, ascii);
    let mut console = Console::new(backend, app, rx, min_frame)?;
    console.terminal.clear()?;
    console.run_until(|_| true)?;
    log::info!("first frame after {} ms", started.elapsed().as_millis());
    console.run()?;
    log::info!(
        "console closed: {} frames, {} bytes written",
        console.frames,
        console.terminal.backend().written
    );
    drop(guard);
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Color;

    #[test]
    fn terminal_note_says_what_the_terminal_is() {
        let k = serial::detect(None, Some("/dev/pts/3"), Some("xterm-256color"));
        let n = terminal_note(&k, "xterm-256color", false, false);
        assert_eq!(n, "TERM=xterm-256color: Unicode, colour");
        assert!(!n.contains("terminal"), "not the bare word: {n}");
        let k = serial::detect(None, Some("/dev/ttyS0"), Some("vt100"));
        let n = terminal_note(&k, "vt100", true, true);
        assert!(n.starts_with("serial line (tty /dev/ttyS0"), "{n}");
        assert!(n.ends_with(": ASCII, mono"), "{n}");
    }

    #[test]
    fn theme_choice_follows_option_terminal_and_no_color() {
        let (t, n) = choose_theme(None, false, false);
        assert_eq!(t, Theme::default_theme());
        assert!(n.is_none());
        let (t, _) = choose_theme(None, true, false);
        assert_eq!(t.name, "mono");
        let (t, _) = choose_theme(Some("high-contrast"), false, true);
        assert_eq!(t.name, "high-contrast");
        assert_eq!(t.ok.fg, None, "NO_COLOR strips colours from any theme");
        let (t, _) = choose_theme(Some("high-contrast"), true, false);
        assert_eq!(
            t.ok.fg,
            Some(Color::LightGreen),
            "an explicit theme wins on a plain terminal"
        );
        let (t, n) = choose_theme(Some("/nonexistent/x.toml"), false, false);
        assert_eq!(t, Theme::default_theme());
        assert!(n.unwrap().contains("the default theme is used"));
    }
}
