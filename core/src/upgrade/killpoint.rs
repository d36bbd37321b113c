//! Test hooks for the power-cut harness (tests/powercut.rs) and the read-back
//! corruption test: named points where the process can be made to die at once
//! (SIGKILL, like a power cut) or pause. Inert unless the environment variables
//! below are set; they are read here and nowhere else.
//!
//! - `UPGRADE_CONSOLE_KILL_AT=NAME#N`: SIGKILL at the N-th pass of point NAME.
//! - `UPGRADE_CONSOLE_KILL_AT=slot-write@BYTES`: SIGKILL once that many payload bytes
//!   are written to the slot.
//! - `UPGRADE_CONSOLE_KILL_TRACE=FILE`: append every point passed to FILE (the
//!   harness learns the points of a whole upgrade from one traced run).
//! - `UPGRADE_CONSOLE_TEST_CHUNK=BYTES`: smaller slot-write requests, so the
//!   harness can cut a small payload at many offsets.
//! - `UPGRADE_CONSOLE_PAUSE_AT=NAME` + `UPGRADE_CONSOLE_PAUSE_FILE=FILE`: at point
//!   NAME create FILE and wait until it is removed.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

fn counters() -> &'static Mutex<HashMap<String, u32>> {
    static C: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

fn kill_at() -> Option<&'static str> {
    static K: OnceLock<Option<String>> = OnceLock::new();
    K.get_or_init(|| std::env::var("UPGRADE_CONSOLE_KILL_AT").ok())
        .as_deref()
}

fn trace(name: &str) {
    if let Ok(path) = std::env::var("UPGRADE_CONSOLE_KILL_TRACE")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(f, "{name}");
    }
}

/// Dies like a power cut: the whole process group when we lead one (so migration
/// programs die with us), else this process.
fn die() -> ! {
    use nix::sys::signal::{Signal, kill, killpg};
    use nix::unistd::{getpgrp, getpid};
    if getpgrp() == getpid() {
        let _ = killpg(getpgrp(), Signal::SIGKILL);
    }
    let _ = kill(getpid(), Signal::SIGKILL);
    std::process::abort()
}

/// Passes the named point (counting passes).
pub fn hit(point: &str) {
    let n = {
        let mut c = match counters().lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        let e = c.entry(point.to_string()).or_insert(0);
        *e += 1;
        *e
    };
    let name = format!("{point}#{n}");
    trace(&name);
    if kill_at() == Some(name.as_str()) {
        die();
    }
    if let (Ok(at), Ok(file)) = (
        std::env::var("UPGRADE_CONSOLE_PAUSE_AT"),
        std::env::var("UPGRADE_CONSOLE_PAUSE_FILE"),
    ) && (at == point || at == name)
    {
        let _ = std::fs::write(&file, b"paused\n");
        while std::path::Path::new(&file).exists() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Called as payload bytes reach the slot.
pub fn slot_written(bytes: u64) {
    if let Some(at) = kill_at()
        .and_then(|k| k.strip_prefix("slot-write@"))
        .and_then(|n| n.parse::<u64>().ok())
        && bytes >= at
    {
        die();
    }
}

/// The slot-write request size the harness asked for, if any.
pub fn chunk_override() -> Option<usize> {
    std::env::var("UPGRADE_CONSOLE_TEST_CHUNK")
        .ok()
        .and_then(|v| v.parse().ok())
}
