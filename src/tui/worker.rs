//! Work away from the UI thread. Long work (activate, reboot, bundle) runs as a
//! detached child process of this same binary, in its own session (setsid), with
//! no terminal: a hung-up serial line or a closed SOL session cannot stop it, it
//! reports through progress.json and the console log, and a console started later
//! finds it there. Quick work (verify, the upgrade test, gathering status) runs in
//! a thread calling the library. Everything reports back as `Msg`.

use crate::tui::app::Msg;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};
use upgrade_core::appliance::config::Config;
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::image::hash_forms::Sha256;
use upgrade_core::image::iso::FirmwareImage;
use upgrade_core::image::manifest::Reminder;

/// The long operations the console starts as detached children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Activate,
    Reboot,
    Bundle,
    Recover,
    /// The background migration after a committed boot.
    Phase2,
    /// One step of the HA pair's upgrade (`ha upgrade --step`), or `ha restore`.
    Ha,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Activate => "activate",
            Op::Reboot => "reboot",
            Op::Bundle => "bundle",
            Op::Recover => "recover",
            Op::Phase2 => "phase2",
            Op::Ha => "ha",
        }
    }
}

/// A detached child the console started.
#[derive(Debug, Clone)]
pub struct ChildRun {
    pub op: Op,
    pub pid: u32,
    /// Exit code once it ended (-1: killed by a signal).
    pub exit: Option<i32>,
}

impl ChildRun {
    pub fn succeeded(&self) -> bool {
        self.exit == Some(0)
    }
}

/// Where a child's error output goes (shown when it fails; stdout goes nowhere,
/// the work logs to the console log).
pub fn stderr_file(root: &ApplianceRoot, op: Op) -> PathBuf {
    root.log_dir().join(format!("{}.stderr", op.name()))
}

/// Starts `self_exe --root ROOT detach ARGS...`: the child makes itself a session
/// leader with no terminal, then becomes `self_exe --root ROOT ARGS...` (same
/// pid, so the console can still collect its exit status while it is there).
pub fn spawn_detached(
    self_exe: &Path,
    root: &ApplianceRoot,
    op: Op,
    args: Vec<OsString>,
    tx: Sender<Msg>,
) -> std::io::Result<ChildRun> {
    std::fs::create_dir_all(root.log_dir())?;
    let err = upgrade_core::appliance::safe_open::create_truncate(&stderr_file(root, op))?;
    let mut cmd = Command::new(self_exe);
    cmd.arg("--root")
        .arg(root.dir())
        .arg("detach")
        .arg("--")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err));
    let mut child = cmd.spawn()?;
    let pid = child.id();
    log::info!(
        "started {} as detached process {pid}: {}",
        op.name(),
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    std::thread::spawn(move || {
        let code = child.wait().ok().and_then(|s| s.code());
        let _ = tx.send(Msg::ChildExited { op, code });
    });
    Ok(ChildRun {
        op,
        pid,
        exit: None,
    })
}

/// The hidden `detach` command: leave the terminal's session, then run the rest of
/// the command line as this program. Returns only on failure.
pub fn detach_and_exec(root: &ApplianceRoot, args: &[OsString]) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    // Not a process-group leader (spawned plainly), so setsid succeeds; if it does
    // not, the work still runs with its terminal's hang-up ignored by stdio=null.
    if let Err(e) = nix::unistd::setsid() {
        log::warn!("setsid failed ({e}); running without a new session");
    }
    let exe = std::env::current_exe()?;
    let err = Command::new(exe)
        .arg("--root")
        .arg(root.dir())
        .args(args)
        .exec();
    anyhow::bail!("cannot run {:?}: {err}", args)
}

/// Whether a process runs (pid 0: unknown, taken as not running).
pub fn process_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Ok(()) => !is_zombie(pid),
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// What a console started later needs to follow the wizard's upgrade:
/// `var/lib/upgrade-console/console-wizard.json`, written atomically.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Persisted {
    pub image: Option<PathBuf>,
    pub target: Option<String>,
    #[serde(default)]
    pub reminders: Vec<Reminder>,
    /// "activating", "activated", "rebooting".
    #[serde(default)]
    pub stage: String,
}

impl Persisted {
    pub fn path(root: &ApplianceRoot) -> PathBuf {
        root.state_dir().join("console-wizard.json")
    }
    pub fn load(root: &ApplianceRoot) -> Persisted {
        std::fs::read_to_string(Self::path(root))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }
    pub fn save(&self, root: &ApplianceRoot) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        upgrade_core::appliance::durable::write_atomic(&Self::path(root), &bytes)
    }
}

/// Gathers the dashboard's status in a thread.
pub fn gather_status(root: ApplianceRoot, config: Config, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let r = upgrade_core::report::status::gather(&root, &config)
            .map(Box::new)
            .map_err(|e| format!("{e:#}"));
        let _ = tx.send(Msg::Status(r));
    });
}

/// Gathers the HA pair's view in a thread.
pub fn gather_ha(root: ApplianceRoot, config: Config, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        // The role swap rewrites appliance.toml: read it afresh.
        let config = Config::load(&root).unwrap_or(config);
        let v = upgrade_core::ha::view::gather(&root, &config);
        let _ = tx.send(Msg::Ha(Box::new(v)));
    });
}

/// Verifies an image in a thread, reporting progress at most ten times a second. A
/// match is recorded in the journal, as `verify` does: activation relies on it.
pub fn verify(root: ApplianceRoot, image: PathBuf, expected: Sha256, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let mut last = Instant::now() - Duration::from_secs(1);
        let ptx = tx.clone();
        let r = upgrade_core::image::verify::verify_image(
            &root,
            &image,
            &expected,
            &mut |done, total| {
                if last.elapsed() >= Duration::from_millis(100) || done == total {
                    last = Instant::now();
                    let _ = ptx.send(Msg::VerifyProgress { done, total });
                }
            },
        );
        let msg = match r {
            Ok((img, report)) => {
                log::info!(
                    "verify {}: image {}, payload {}",
                    image.display(),
                    if report.image_ok {
                        "matches"
                    } else {
                        "MISMATCH"
                    },
                    if report.payload_ok {
                        "matches"
                    } else {
                        "MISMATCH"
                    }
                );
                if report.ok()
                    && root.config_file().is_file()
                    && let Err(e) = upgrade_core::upgrade::journal::record_verified(
                        &root,
                        &image,
                        &report.image_sha256,
                        &img.manifest,
                    )
                {
                    log::warn!("verify passed but could not be recorded in the journal: {e}");
                }
                Msg::VerifyDone(Ok((Box::new(report), Box::new(img.manifest))))
            }
            Err(e) => Msg::VerifyDone(Err(e.to_string())),
        };
        let _ = tx.send(msg);
    });
}

/// Runs the upgrade test in a thread; the warnings of prerequisites the operator
/// ticked are settled. A pass is recorded in the journal for the
/// image with SHA-256 `iso_sha256` (from the verification just done), as `check` does.
pub fn check(
    root: ApplianceRoot,
    config: Config,
    image: PathBuf,
    iso_sha256: Option<String>,
    ticked: Vec<String>,
    tx: Sender<Msg>,
) {
    std::thread::spawn(move || {
        let r = FirmwareImage::open(&image)
            .map_err(|e| e.to_string())
            .and_then(|img| {
                let mut report = upgrade_core::check::upgrade_test(&root, &config, &img)
                    .map_err(|e| format!("{e:#}"))?;
                let ticked: Vec<&str> = ticked.iter().map(String::as_str).collect();
                upgrade_core::check::prerequisites::settle_ticked(&mut report, &ticked);
                if report.passed()
                    && let Err(e) = upgrade_core::upgrade::journal::record_check_passed(
                        &root,
                        &image,
                        iso_sha256.as_deref(),
                        &img.manifest,
                    )
                {
                    log::warn!(
                        "the upgrade test passed but could not be recorded in the journal: {e}"
                    );
                }
                Ok(report)
            })
            .map(Box::new);
        let _ = tx.send(Msg::CheckDone(r));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_nonsense_is_not() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }

    #[test]
    fn persisted_state_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        assert_eq!(Persisted::load(&root), Persisted::default());
        let p = Persisted {
            image: Some("/x/y.iso".into()),
            target: Some("7.3.1".into()),
            reminders: vec![],
            stage: "activated".into(),
        };
        p.save(&root).unwrap();
        assert_eq!(Persisted::load(&root), p);
    }
}
