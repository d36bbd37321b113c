//! Where the commands' text goes: stdout and stderr through `out!`/`outln!` and
//! `errln!`. A reader that went away (`status | head -1`) ends the output quietly
//! while the command finishes its work and keeps its exit code; `--ascii` folds the
//! few typographic characters our texts use into ASCII for serial lines.

use std::fmt;
use std::io::{self, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static ASCII: AtomicBool = AtomicBool::new(false);
/// The first write that failed for another reason than a closed pipe (disk full
/// behind `>`).
static FAILED: OnceLock<String> = OnceLock::new();

/// Sets whether text is folded to ASCII (from `--ascii`).
pub fn set_ascii(on: bool) {
    ASCII.store(on, Ordering::Relaxed);
}

/// Why some output could not be written (a closed pipe does not count).
pub fn failed() -> Option<&'static str> {
    FAILED.get().map(String::as_str)
}

/// Replaces the non-ASCII characters our texts use with ASCII look-alikes, and any
/// other with `?`, so a serial line shows no mojibake.
pub fn to_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            c if c.is_ascii() => out.push(c),
            '\u{2010}'..='\u{2015}' | '\u{2212}' => out.push('-'),
            '\u{2018}' | '\u{2019}' => out.push('\''),
            '\u{201C}' | '\u{201D}' => out.push('"'),
            '\u{2026}' => out.push_str("..."),
            '\u{2192}' => out.push_str("->"),
            '\u{2190}' => out.push_str("<-"),
            '\u{2265}' => out.push_str(">="),
            '\u{2264}' => out.push_str("<="),
            '\u{00D7}' => out.push('x'),
            '\u{00A0}' | '\u{202F}' => out.push(' '),
            '\u{2713}' | '\u{2714}' => out.push_str("ok"),
            '\u{2022}' | '\u{00B7}' => out.push('*'),
            _ => out.push('?'),
        }
    }
    out
}

fn write_to(mut w: impl Write, args: fmt::Arguments, newline: bool) {
    let text = if ASCII.load(Ordering::Relaxed) {
        to_ascii(&args.to_string())
    } else {
        args.to_string()
    };
    let r = w
        .write_all(text.as_bytes())
        .and_then(|()| if newline { w.write_all(b"\n") } else { Ok(()) })
        .and_then(|()| w.flush());
    match r {
        Ok(()) => {}
        // The reader is gone (`| head`): nobody to tell, nothing lost.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            let _ = FAILED.set(e.to_string());
        }
    }
}

/// Writes to stdout; used by `out!` and `outln!`.
pub fn stdout(args: fmt::Arguments, newline: bool) {
    write_to(io::stdout().lock(), args, newline);
}

/// Writes to stderr; used by `errln!`.
pub fn stderr(args: fmt::Arguments, newline: bool) {
    write_to(io::stderr().lock(), args, newline);
}

/// `print!` that survives a closed pipe and honours `--ascii`.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::output::stdout(format_args!($($t)*), false) };
}

/// `println!` that survives a closed pipe and honours `--ascii`.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::stdout(format_args!(""), true) };
    ($($t:tt)*) => { $crate::output::stdout(format_args!($($t)*), true) };
}

/// `eprintln!` that survives a closed pipe and honours `--ascii`.
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => { $crate::output::stderr(format_args!($($t)*), true) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typographic_characters_fold_to_ascii() {
        assert_eq!(to_ascii("in 50–98 % — ok"), "in 50-98 % - ok");
        assert_eq!(to_ascii("“x” ≥ 120 … →"), "\"x\" >= 120 ... ->");
        assert_eq!(to_ascii("plain"), "plain");
    }
}
