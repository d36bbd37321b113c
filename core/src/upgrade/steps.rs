//! Running one migration step of a staged manifest (phase 1 and phase 2) with the
//! JSON-lines protocol of SPEC §4: `{"progress": 0.42, "text": ".."}`,
//! `{"checkpoint": ".."}`, `{"log": ".."}` on stdout, anything else logged as is;
//! exit 0 means done.
//!
//! The step runs with its working directory at the appliance root and gets:
//! - `UPGRADE_CONSOLE_ROOT`: the appliance root (absolute);
//! - `UPGRADE_CONSOLE_CHECKPOINT`: the last checkpoint it reported, when it is being
//!   re-run after a kill or reboot (absent on a first run). The step resumes from it.

use crate::appliance::root::ApplianceRoot;
use crate::image::manifest::MigrationStep;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// One line a step printed.
#[derive(Debug, Clone, PartialEq)]
pub enum StepLine {
    Progress { fraction: f64, text: Option<String> },
    Checkpoint(String),
    Log(String),
    Other(String),
}

pub fn parse_line(line: &str) -> StepLine {
    let other = || StepLine::Other(line.to_string());
    let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(line) else {
        return other();
    };
    if let Some(c) = o.get("checkpoint") {
        return match c {
            serde_json::Value::String(s) => StepLine::Checkpoint(s.clone()),
            v => StepLine::Checkpoint(v.to_string()),
        };
    }
    if let Some(p) = o.get("progress").and_then(|p| p.as_f64()) {
        return StepLine::Progress {
            fraction: p.clamp(0.0, 1.0),
            text: o.get("text").and_then(|t| t.as_str()).map(String::from),
        };
    }
    if let Some(l) = o.get("log").and_then(|l| l.as_str()) {
        return StepLine::Log(l.to_string());
    }
    other()
}

/// How a step ended.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub success: bool,
    /// "exit status 1", "killed by signal 9", ...
    pub status: String,
}

/// Runs a step and feeds its lines to `on_line` as they come (a checkpoint handler
/// persists before the step can go on: the step blocks on a full pipe meanwhile).
pub fn run_step(
    root: &ApplianceRoot,
    staged: &Path,
    step: &MigrationStep,
    checkpoint: Option<&str>,
    on_line: &mut dyn FnMut(StepLine),
) -> std::io::Result<StepOutcome> {
    let prog = staged.join(&step.command[0]);
    // Absolute since ApplianceRoot::new, so `prog` still names the file after the
    // working directory changes below.
    let root_dir = root.dir();
    let mut cmd = Command::new(&prog);
    cmd.args(&step.command[1..])
        .current_dir(root_dir)
        .env("UPGRADE_CONSOLE_ROOT", root_dir)
        .env_remove("UPGRADE_CONSOLE_CHECKPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(c) = checkpoint {
        cmd.env("UPGRADE_CONSOLE_CHECKPOINT", c);
    }
    let mut child = cmd.spawn().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot start \"{}\": {e}", prog.display()),
        )
    })?;
    let name = step.name.clone();
    let stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        if let Some(e) = stderr {
            for line in BufReader::new(e).lines().map_while(Result::ok) {
                log::warn!("[{name}] {line}");
            }
        }
    });
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    log::warn!("[{}] unreadable output: {e}", step.name);
                    continue;
                }
            };
            on_line(parse_line(&line));
        }
    }
    let status = child.wait()?;
    let _ = err_thread.join();
    Ok(StepOutcome {
        success: status.success(),
        status: status.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lines() {
        assert_eq!(
            parse_line(r#"{"progress": 0.42, "text": "copying"}"#),
            StepLine::Progress {
                fraction: 0.42,
                text: Some("copying".into())
            }
        );
        assert_eq!(
            parse_line(r#"{"checkpoint": "2026-11"}"#),
            StepLine::Checkpoint("2026-11".into())
        );
        assert_eq!(parse_line(r#"{"log": "x"}"#), StepLine::Log("x".into()));
        assert_eq!(parse_line("plain"), StepLine::Other("plain".into()));
        assert_eq!(parse_line("[1]"), StepLine::Other("[1]".into()));
    }
}
