//! The console log, `var/log/upgrade-console/console.log`: every action with a UTC
//! time, one line each, appended and flushed so nothing is lost when the terminal
//! goes away. It is also what the boot log server shows and the bundle carries.

use crate::appliance::root::ApplianceRoot;
use crate::support::secrets::Secrets;
use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

struct FileLogger {
    file: Mutex<Option<File>>,
    /// What every line is scrubbed of before it is written: no secret from the
    /// configuration reaches the log, even through an error that quotes a value.
    secrets: Mutex<Secrets>,
    /// Also echo to stderr (commands run by init, where stderr is the console).
    echo: bool,
}

static LOGGER: OnceLock<FileLogger> = OnceLock::new();

/// RFC 3339 UTC time with seconds, for log lines and records.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Starts logging to the console log under `root`. If the log cannot be opened
/// (read-only root, `verify` on a laptop), logging goes nowhere; the command still runs.
pub fn init(root: &ApplianceRoot, echo: bool) {
    // Never through a link: a planted console.log link would get every line.
    let file = std::fs::create_dir_all(root.log_dir())
        .and_then(|_| crate::appliance::safe_open::open_append(&root.log_file()));
    let file = match file {
        Ok(f) => Some(f),
        Err(e) => {
            // A link is worth saying even when a missing log is not (read-only root).
            if echo || e.kind() == std::io::ErrorKind::InvalidInput {
                let _ = writeln!(std::io::stderr(), "warning: no console log: {e}");
            }
            None
        }
    };
    let logger = LOGGER.get_or_init(|| FileLogger {
        file: Mutex::new(None),
        secrets: Mutex::new(Secrets::default()),
        echo,
    });
    if let Ok(mut f) = logger.file.lock() {
        *f = file;
    }
    if let Ok(mut s) = logger.secrets.lock() {
        *s = Secrets::load_best_effort(root);
    }
    if log::set_logger(logger).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

impl log::Log for FileLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        // A poisoned lock still holds the secrets (a panic elsewhere does not clear them).
        let text = match self.secrets.lock() {
            Ok(s) => s.scrub_str(&text),
            Err(p) => p.into_inner().scrub_str(&text),
        };
        let line = format!("{} {:<5} {}\n", now_rfc3339(), record.level(), text);
        if let Ok(mut guard) = self.file.lock()
            && let Some(f) = guard.as_mut()
        {
            let _ = f.write_all(line.as_bytes());
        }
        if self.echo {
            // Not eprint!: a closed stderr (`boot 2>&1 | head`) must not panic here.
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {
        if let Ok(mut guard) = self.file.lock()
            && let Some(f) = guard.as_mut()
        {
            let _ = f.sync_data();
        }
    }
}
