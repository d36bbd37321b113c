//! Input and time as messages: one thread reads the terminal (keys, pastes, resizes)
//! and another ticks; both send `Msg` into the one channel the main loop reads, so
//! the loop never blocks on the terminal.

use crate::tui::app::Msg;
use crossterm::event::{Event, KeyEventKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::Duration;

/// How often progress.json, the slot status and the log are re-read.
pub const TICK: Duration = Duration::from_millis(250);

/// Turns one terminal event into a message (key releases and mouse moves are dropped).
pub fn translate(ev: Event) -> Option<Msg> {
    match ev {
        Event::Key(k) if k.kind != KeyEventKind::Release => Some(Msg::Key(k)),
        Event::Paste(text) => Some(Msg::Paste(text)),
        Event::Resize(c, r) => Some(Msg::Resize(c, r)),
        _ => None,
    }
}

/// Reads the terminal until it goes away. crossterm parses the VT100 forms of the
/// function keys (ESC O P..S, ESC [ 11~, the Linux console's ESC [ [ A) as F1...
pub fn spawn_input(tx: Sender<Msg>) {
    std::thread::spawn(move || {
        loop {
            match crossterm::event::read() {
                Ok(ev) => {
                    if let Some(m) = translate(ev)
                        && tx.send(m).is_err()
                    {
                        return;
                    }
                }
                Err(_) => {
                    let _ = tx.send(Msg::InputClosed);
                    return;
                }
            }
        }
    });
}

/// Sends a tick every `every` until the console is gone; when `stop` is set (a
/// SIGTERM, SIGINT, SIGQUIT or SIGHUP arrived) sends `InputClosed` instead, so the
/// console leaves through its normal path and puts the terminal back.
pub fn spawn_ticks(tx: Sender<Msg>, every: Duration, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        loop {
            let msg = if stop.load(Ordering::Relaxed) {
                Msg::InputClosed
            } else {
                Msg::Tick
            };
            if tx.send(msg).is_err() {
                return;
            }
            std::thread::sleep(every);
        }
    });
}

/// Turns the signals that end a program into the flag `spawn_ticks` watches
/// (signal-hook's safe flag API; the handler only sets an atomic).
pub fn catch_termination() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGQUIT,
        signal_hook::consts::SIGHUP,
    ] {
        if let Err(e) = signal_hook::flag::register(sig, flag.clone()) {
            log::warn!("cannot catch signal {sig}: {e}");
        }
    }
    flag
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent, KeyEventState, KeyModifiers};

    #[test]
    fn releases_are_dropped_presses_kept() {
        let press = KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE);
        assert!(matches!(translate(Event::Key(press)), Some(Msg::Key(_))));
        let release = KeyEvent {
            kind: KeyEventKind::Release,
            state: KeyEventState::NONE,
            ..press
        };
        assert!(translate(Event::Key(release)).is_none());
        assert!(matches!(
            translate(Event::Resize(80, 24)),
            Some(Msg::Resize(80, 24))
        ));
    }
}
