//! Recovery mode (SPEC §6): entered when an upgrade fails and cannot roll back, or on
//! request. Brings every configured interface up as configured (netlink), starts
//! key-only SSH with the support keys unless the appliance is sealed, makes a support
//! bundle, keeps the boot log server running, and records all of it in
//! var/lib/upgrade-console/recovery.json so the console and support can see why the
//! box is in recovery and how to reach it.

pub mod host_guard;
pub mod netlink;
pub mod sshd;

use crate::appliance::config::Config;
use crate::appliance::root::ApplianceRoot;
use crate::logserver::{self, LogServerHandle};
use crate::upgrade::progress::{Operation, Outcome, ProgressFile, Reporter};
use netlink::InterfaceResult;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::state::recovery::RecoveryReport;

/// The running parts of recovery: sshd and the log server.
pub struct RecoverySession {
    pub sshd: Option<(sshd::SshdPlan, Child)>,
    pub log_server: Option<LogServerHandle>,
}

impl RecoverySession {
    /// Stops sshd and the log server.
    pub fn stop(mut self) {
        if let Some((_, mut child)) = self.sshd.take() {
            terminate(&mut child);
        }
        if let Some(h) = self.log_server.take() {
            h.stop();
        }
    }
}

/// Keeps recovery running until `stop` is set: restarts sshd when it dies, waiting
/// longer after each quick death (0.5 s doubling to 30 s; reset after a minute up).
/// The `recover` command runs this; the boot phase can too after [`enter_session`].
pub fn supervise(session: &mut RecoverySession, stop: &AtomicBool) {
    let mut backoff = Duration::from_millis(500);
    let mut restart_at: Option<Instant> = None;
    let mut started = Instant::now();
    let mut sealed_check = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        let Some((plan, child)) = session.sshd.as_mut() else {
            continue;
        };
        // Sealed means no SSH at any moment: a box sealed while recovery runs loses
        // its sshd (and every session) within a second, not at the next restart.
        if sealed_check.elapsed() >= SEALED_POLL {
            sealed_check = Instant::now();
            if sealed_now(&plan.root) {
                let root = plan.root.clone();
                let pid = plan.stop_previous().unwrap_or(child.id() as i32);
                terminate(child);
                session.sshd = None;
                note_sealed(&root, pid);
                continue;
            }
        }
        if restart_at.is_none()
            && let Ok(Some(status)) = child.try_wait()
        {
            if started.elapsed() > Duration::from_secs(60) {
                backoff = Duration::from_millis(500);
            }
            log::error!("recovery sshd exited ({status}); restarting in {backoff:?}");
            restart_at = Some(Instant::now() + backoff);
        }
        if let Some(t) = restart_at
            && Instant::now() >= t
        {
            restart_at = None;
            match plan.start() {
                Ok(c) => {
                    log::info!("recovery sshd restarted (pid {})", c.id());
                    *child = c;
                    started = Instant::now();
                }
                Err(e) => {
                    log::error!("recovery sshd restart failed: {e}");
                    restart_at = Some(Instant::now() + backoff);
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }
}

/// How often a supervisor re-reads `sealed` from the configuration.
const SEALED_POLL: Duration = Duration::from_secs(1);

/// Whether the appliance is sealed now, as its configuration says. A configuration
/// that cannot be read decides nothing here: it cannot start an sshd either.
fn sealed_now(root: &ApplianceRoot) -> bool {
    Config::load(root).is_ok_and(|c| c.appliance.sealed)
}

/// Records in recovery.json that SSH was stopped because the box was sealed.
fn note_sealed(root: &ApplianceRoot, pid: i32) {
    let why = format!("sealed: no SSH (stopped the recovery sshd, pid {pid})");
    log::warn!("recovery: the appliance was sealed while recovery ran: {why}");
    if let Some(mut r) = crate::state::recovery::load(root).present() {
        r.sealed = true;
        r.ssh_port = None;
        r.sshd_pid = None;
        r.ssh_listen.clear();
        r.host_key_fingerprints.clear();
        r.ssh_error = Some(why);
        if let Err(e) = crate::state::recovery::save(root, &r) {
            log::error!("recovery: cannot update the recovery report: {e}");
        }
    }
}

/// Stops a recovery sshd left running by an earlier recovery when the appliance is
/// sealed now. `boot`, `recover` and the console call this when they start, so no
/// path leaves SSH open on a sealed box. Returns the pid it stopped.
pub fn enforce_sealed(root: &ApplianceRoot) -> Option<i32> {
    if !sealed_now(root) {
        return None;
    }
    let pid = sshd::SshdPlan::new(root, Vec::new()).stop_previous()?;
    note_sealed(root, pid);
    Some(pid)
}

/// SIGTERM, then wait for it (sshd exits at once on SIGTERM).
pub fn terminate(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = child.wait();
}

/// Recovery entered from inside another operation (the boot phase) runs in the
/// background for the life of the process: a supervisor thread owns sshd and the log
/// server, restarting sshd when it dies, until [`stop_background`].
type Background = (Arc<AtomicBool>, std::thread::JoinHandle<()>);
static BACKGROUND: Mutex<Option<Background>> = Mutex::new(None);

/// Stops recovery started by [`enter`] in this process (sshd and the log server).
pub fn stop_background() {
    let old = BACKGROUND.lock().ok().and_then(|mut g| g.take());
    if let Some((stop, handle)) = old {
        stop.store(true, Ordering::SeqCst);
        let _ = handle.join();
    }
}

/// var/lib/upgrade-console/recovery.json
pub fn report_file(root: &ApplianceRoot) -> PathBuf {
    logserver::recovery_file(root)
}

/// Why recovery mode could not be entered (a network or service that does not come
/// up is reported in [`RecoveryReport`], not here). The text is the system's own.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// recovery.json could not be written.
    #[error(transparent)]
    State(std::io::Error),
    /// The thread that supervises sshd and the log server could not start.
    #[error(transparent)]
    Supervisor(std::io::Error),
}

/// Enters recovery mode and returns what it did. sshd and the log server keep
/// running after it returns, supervised by a background thread, for the life of this
/// process (the caller, e.g. the boot phase, stays in the foreground).
pub fn enter(
    root: &ApplianceRoot,
    config: &Config,
    reason: &str,
) -> Result<RecoveryReport, RecoveryError> {
    // A second entry replaces the first (its ports must be free first).
    stop_background();
    let (report, mut session) = enter_session(root, config, reason)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("recovery-supervisor".into())
        .spawn(move || {
            supervise(&mut session, &flag);
            session.stop();
        })
        .map_err(RecoveryError::Supervisor)?;
    if let Ok(mut g) = BACKGROUND.lock() {
        *g = Some((stop, handle));
    }
    Ok(report)
}

/// Entering recovery's steps and weights (of 10); "ready" is a moment.
const NETWORK_WEIGHT: u64 = 3;
const SSH_WEIGHT: u64 = 3;
const BUNDLE_WEIGHT: u64 = 3;
const READY_WEIGHT: u64 = 1;

/// The addresses to listen on: every configured address that came up.
fn up_addresses(results: &[InterfaceResult]) -> Vec<IpAddr> {
    results
        .iter()
        .flat_map(|r| r.addresses.iter())
        .filter_map(|a| a.split('/').next()?.parse().ok())
        .collect()
}

/// Like [`enter`], but hands the running parts to the caller (the `recover` command
/// supervises sshd).
pub fn enter_session(
    root: &ApplianceRoot,
    config: &Config,
    reason: &str,
) -> Result<(RecoveryReport, RecoverySession), RecoveryError> {
    let sealed = config.appliance.sealed;
    log::warn!("entering recovery mode: {reason}");
    let mut progress = Reporter::new(
        Operation::Recover,
        NETWORK_WEIGHT + SSH_WEIGHT + BUNDLE_WEIGHT + READY_WEIGHT,
    )
    .with(ProgressFile::new(root));
    // The appliance is in recovery from the first step on: readers see the outcome
    // while the steps run.
    progress.set_safety(false, false);
    progress.mark(Outcome::Recovery);
    progress.begin_step("network", NETWORK_WEIGHT, 1);
    progress.set_message(&format!("recovery: {reason}"));
    let mut ssh_step = false;

    let mut interfaces = Vec::new();
    let off_limits = host_guard::network_off_limits(root);
    let net = match &off_limits {
        Some(why) => {
            log::warn!("recovery: {why}");
            Err(why.clone())
        }
        None => netlink::Netlink::open().map_err(|e| e.to_string()),
    };
    match net {
        Ok(mut nl) => {
            for (i, iface) in config.network.interfaces.iter().enumerate() {
                let r = netlink::bring_up(&mut nl, iface, i);
                for s in &r.steps {
                    match &s.error {
                        None => log::info!("recovery: {}: {}: ok", r.name, s.action),
                        Some(e) => log::error!("recovery: {}: {}: {e}", r.name, s.action),
                    }
                }
                interfaces.push(r);
            }
        }
        Err(e) => {
            if off_limits.is_none() {
                log::error!("recovery: {e}");
            }
            for iface in &config.network.interfaces {
                interfaces.push(InterfaceResult {
                    name: iface.name.clone(),
                    management: iface.management,
                    ok: false,
                    addresses: Vec::new(),
                    steps: vec![netlink::Step {
                        action: "netlink".into(),
                        ok: false,
                        error: Some(e.clone()),
                    }],
                });
            }
        }
    }
    let listen = up_addresses(&interfaces);
    let addresses: Vec<String> = interfaces
        .iter()
        .flat_map(|r| r.addresses.iter().map(|a| format!("{a} ({})", r.name)))
        .collect();

    let mut report = RecoveryReport {
        reason: reason.to_string(),
        entered: crate::appliance::console_log::now_rfc3339(),
        sealed,
        interfaces,
        addresses,
        ssh_port: None,
        ssh_listen: Vec::new(),
        host_key_fingerprints: Vec::new(),
        sshd_pid: None,
        ssh_error: None,
        bundle: None,
        bundle_error: None,
        log_server: Vec::new(),
        log_server_error: None,
    };
    let mut session = RecoverySession {
        sshd: None,
        log_server: None,
    };

    if sealed {
        // Sealed means no SSH at any moment: an sshd from an earlier, unsealed
        // recovery goes too, and the report says so.
        let why = match sshd::SshdPlan::new(root, Vec::new()).stop_previous() {
            Some(pid) => format!("sealed: no SSH (stopped the recovery sshd, pid {pid})"),
            None => "sealed: no SSH".into(),
        };
        log::warn!("recovery: {why}");
        report.ssh_error = Some(why);
    } else if let Some(why) = off_limits {
        report.ssh_error = Some(why);
    } else {
        progress.end_step();
        progress.begin_step("ssh", SSH_WEIGHT, 1);
        progress.set_message(&format!("recovery: {reason}"));
        ssh_step = true;
        let plan = sshd::SshdPlan::new(root, listen);
        plan.stop_previous();
        match plan.prepare().and_then(|_| plan.start()) {
            Ok(child) => {
                report.ssh_port = Some(plan.port);
                report.ssh_listen = plan.listen.iter().map(|a| a.to_string()).collect();
                report.host_key_fingerprints = plan.fingerprints();
                report.sshd_pid = Some(child.id());
                log::info!(
                    "recovery SSH on port {} at {} (key-only, support keys from {})",
                    plan.port,
                    report.ssh_listen.join(", "),
                    plan.authorized_keys.display()
                );
                for f in &report.host_key_fingerprints {
                    log::info!("recovery SSH host key {f}");
                }
                session.sshd = Some((plan, child));
            }
            Err(e) => {
                log::error!("recovery SSH not started: {e}");
                report.ssh_error = Some(e.to_string());
            }
        }
    }

    progress.end_step();
    if !ssh_step {
        progress.skip(SSH_WEIGHT);
    }
    progress.begin_step("bundle", BUNDLE_WEIGHT, 1);
    progress.set_message(&format!("recovery: {reason}"));
    match crate::support::bundle::write_bundle(root, None) {
        Ok(p) => report.bundle = Some(p),
        Err(e) => {
            log::error!("recovery: support bundle not made: {e:#}");
            report.bundle_error = Some(format!("{e:#}"));
        }
    }

    // recovery.json first: its presence is what enables /bundle on the log server.
    crate::state::recovery::save(root, &report).map_err(RecoveryError::State)?;
    if config.web.listen.is_empty() {
        report.log_server_error = Some("no [web] listen address configured".into());
    } else {
        match logserver::spawn(root.clone(), config.web.listen.clone()) {
            Ok(h) => {
                report.log_server = h
                    .local_addrs()
                    .iter()
                    .map(|a| format!("http://{a}/"))
                    .collect();
                if !h.failed().is_empty() {
                    let f: Vec<String> = h
                        .failed()
                        .iter()
                        .map(|(a, e)| format!("{a}: {e}"))
                        .collect();
                    report.log_server_error = Some(f.join("; "));
                }
                session.log_server = Some(h);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                // The boot phase's server already serves these addresses and keeps
                // running in recovery; /bundle follows recovery.json there too.
                log::info!("recovery: the boot log server is already running");
                report.log_server = config
                    .web
                    .listen
                    .iter()
                    .map(|a| format!("http://{a}/"))
                    .collect();
            }
            Err(e) => {
                log::warn!("recovery: boot log server: {e}");
                report.log_server_error = Some(e.to_string());
            }
        }
        crate::state::recovery::save(root, &report).map_err(RecoveryError::State)?;
    }
    progress.end_step();
    progress.begin_step("ready", READY_WEIGHT, 1);
    progress.end_step();
    progress.finish_in("ready", Outcome::Recovery, &summary_line(&report));
    log::info!("recovery ready: {}", summary_line(&report));
    Ok((report, session))
}

fn summary_line(r: &RecoveryReport) -> String {
    let ssh = match (r.sealed, r.ssh_port) {
        (true, _) => r
            .ssh_error
            .as_deref()
            .unwrap_or("sealed: no SSH")
            .to_string(),
        (false, Some(p)) => format!("SSH on port {p} at {}", r.ssh_listen.join(", ")),
        (false, None) => format!(
            "SSH not available: {}",
            r.ssh_error.as_deref().unwrap_or("unknown")
        ),
    };
    format!("recovery ({}): {ssh}", r.reason)
}

/// The report as the console shows it.
pub fn render_text(r: &RecoveryReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "RECOVERY MODE");
    let _ = writeln!(s, "  Why:        {}", r.reason);
    for i in &r.interfaces {
        let mgmt = if i.management {
            "management"
        } else {
            "no management access"
        };
        let state = if i.ok { "up" } else { "PROBLEM" };
        let _ = writeln!(
            s,
            "  Interface:  {} ({mgmt}): {state}  {}",
            i.name,
            i.addresses.join(", ")
        );
        for st in i.steps.iter().filter(|s| !s.ok) {
            let _ = writeln!(
                s,
                "              {} failed: {}",
                st.action,
                st.error.as_deref().unwrap_or("")
            );
        }
    }
    if r.sealed {
        let _ = writeln!(
            s,
            "  SSH:        {}",
            r.ssh_error.as_deref().unwrap_or("sealed: no SSH")
        );
    } else if let Some(p) = r.ssh_port {
        let _ = writeln!(
            s,
            "  SSH:        port {p} on {} (key-only, support keys)",
            r.ssh_listen.join(", ")
        );
        for f in &r.host_key_fingerprints {
            let _ = writeln!(s, "  Host key:   {f}");
        }
    } else {
        let _ = writeln!(
            s,
            "  SSH:        NOT AVAILABLE: {}",
            r.ssh_error.as_deref().unwrap_or("")
        );
    }
    match (&r.bundle, &r.bundle_error) {
        (Some(b), _) => {
            let _ = writeln!(s, "  Bundle:     ready: {}", b.display());
        }
        (None, Some(e)) => {
            let _ = writeln!(s, "  Bundle:     not made: {e}");
        }
        _ => {}
    }
    for u in &r.log_server {
        let _ = writeln!(s, "  Log:        {u}");
    }
    if let Some(e) = &r.log_server_error {
        let _ = writeln!(s, "  Log server: {e}");
    }
    s
}

/// What `recover --dry-run` prints: everything recovery would do, changing nothing.
pub fn plan_text(root: &ApplianceRoot, config: &Config, reason: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Recovery plan (dry run: nothing has been changed). Recovery would:"
    );
    let _ = writeln!(s, "  record why: {reason}");
    // Off limits: the plan holds no network step and no sshd, as recovery would do none.
    let off_limits = host_guard::network_off_limits(root);
    if let Some(why) = &off_limits {
        let _ = writeln!(s, "  leave the network and SSH alone: {why}");
    }
    let mut listen = Vec::new();
    let interfaces = match off_limits {
        Some(_) => &[][..],
        None => &config.network.interfaces[..],
    };
    for i in interfaces {
        let idx = match netlink::if_index(&i.name) {
            Ok(n) => format!("index {n}"),
            Err(e) => e,
        };
        let _ = writeln!(s, "  bring up {} ({idx}) over netlink", i.name);
        for c in i.cidrs() {
            let _ = writeln!(s, "    add address {c}");
            listen.push(c.addr);
        }
        if let Some(g) = i.gateway {
            let _ = writeln!(s, "    add default route via {g}");
        }
        for r in &i.routes {
            let _ = writeln!(s, "    add route {} via {}", r.to, r.via);
        }
    }
    if config.appliance.sealed {
        let _ = writeln!(s, "  sealed: no SSH (stop a running recovery sshd)");
    } else if off_limits.is_some() {
        // Left alone above: no sshd either.
    } else {
        let plan = sshd::SshdPlan::new(root, listen);
        let _ = writeln!(
            s,
            "  start {} -D -e -f {} on port {}, listening on {}",
            sshd::SSHD,
            plan.config.display(),
            plan.port,
            plan.listen
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            s,
            "    key-only, support keys from {}",
            plan.authorized_keys.display()
        );
        let fps = plan.fingerprints();
        if fps.len() == plan.host_keys.len() {
            for f in fps {
                let _ = writeln!(s, "    host key {f}");
            }
        } else {
            let _ = writeln!(
                s,
                "    make host keys in {} (first use)",
                plan.dir.display()
            );
        }
    }
    let _ = writeln!(
        s,
        "  write a support bundle to {}",
        crate::support::bundle::default_path(root).display()
    );
    for a in &config.web.listen {
        let _ = writeln!(s, "  serve the boot log on http://{a}/");
    }
    let _ = writeln!(s, "  write {}", report_file(root).display());
    s
}
