//! `ha ...`: the HA pair. `status` shows both nodes side by side with the secondary's
//! power from IPMI; `upgrade` runs or resumes the pair's upgrade (confirmation on a
//! terminal for power, reboot and role changes; `--yes` for automation); `restore`
//! brings the pair back after the primary rolled back; `abandon` gives up an upgrade
//! that has not powered the secondary off; `link-keys` and `serve-link` set up and run
//! the HA link; the hidden ones are the link's request handler and the demo's node.

use crate::cli::{Ctx, Exit, HaArgs, HaCommand};
use anyhow::Context;
use std::io::{BufRead, IsTerminal, Write};
use upgrade_core::appliance::config::Config;
use upgrade_core::ha::procedure::{self, HaError, HaObserver, HaStep, STEPS, Start};
use upgrade_core::image::hash_forms::{parse_expected, read_hash_file, sidecar_path};
use upgrade_core::upgrade::progress::{Operation, Outcome, Progress};

pub fn run(ctx: &Ctx, args: &HaArgs) -> anyhow::Result<Exit> {
    match &args.command {
        HaCommand::Status => status(ctx),
        HaCommand::Upgrade {
            iso,
            sha256,
            sha256_file,
            yes,
            step,
        } => upgrade(
            ctx,
            iso.as_deref(),
            sha256.as_deref(),
            sha256_file.as_deref(),
            *yes,
            *step,
        ),
        HaCommand::Restore { yes } => restore(ctx, *yes),
        HaCommand::Abandon => {
            upgrade_core::appliance::console_log::init(&ctx.root, false);
            match procedure::abandon(&ctx.root) {
                Ok(p) if ctx.json => {
                    crate::outln!("{}", serde_json::json!({ "abandoned": p }));
                    Ok(Exit::Success)
                }
                Ok(p) => {
                    crate::outln!(
                        "The HA upgrade to {} is given up. The secondary may still hold it armed for its next boot; its boot phase declines it while this node runs the older firmware.",
                        p.version
                    );
                    Ok(Exit::Success)
                }
                Err(e) => Ok(fail(ctx, &e)),
            }
        }
        HaCommand::LinkKeys => link_keys(ctx),
        HaCommand::ServeLink => serve_link(ctx),
        HaCommand::PeerRequest => peer_request(ctx),
        HaCommand::SimNode { action } => sim_node(ctx, action),
    }
}

fn fail(ctx: &Ctx, e: &HaError) -> Exit {
    log::error!("ha: {e}");
    if ctx.json {
        crate::outln!("{}", serde_json::json!({ "error": e.to_string() }));
    }
    crate::errln!("upgrade-console: ha: {e}");
    if e.is_refusal() {
        Exit::Refused
    } else {
        Exit::CannotRun
    }
}

fn show(v: Option<upgrade_core::image::version::Version>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "unknown".into())
}

fn status(ctx: &Ctx) -> anyhow::Result<Exit> {
    let config = Config::load(&ctx.root)?;
    if config.ha.is_none() {
        anyhow::bail!(
            "this node is not part of an HA pair: there is no [ha] section in \"{}\"",
            ctx.root.config_file().display()
        );
    }
    let s = upgrade_core::ha::view::gather(&ctx.root, &config);
    if ctx.json {
        crate::outln!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(Exit::Success);
    }
    let o = s.other_node.as_ref();
    let row = |label: &str, a: String, b: String| {
        crate::outln!("{label:<14} {a:<30} {b}");
    };
    row("", "This node".into(), "Other node".into());
    row(
        "Host",
        s.this_node.hostname.clone(),
        o.map(|n| n.hostname.clone()).unwrap_or_else(|| "-".into()),
    );
    let role = |r: Option<upgrade_core::appliance::config::HaRole>| {
        r.map(upgrade_core::ha::link::role_name)
            .unwrap_or("none")
            .to_string()
    };
    row(
        "Role",
        role(s.this_node.role),
        o.map(|n| role(n.role)).unwrap_or_else(|| "-".into()),
    );
    row(
        "Current",
        show(s.this_node.current),
        o.map(|n| show(n.current)).unwrap_or_else(|| "-".into()),
    );
    row(
        "After reboot",
        show(s.this_node.after_reboot),
        o.map(|n| show(n.after_reboot))
            .unwrap_or_else(|| "-".into()),
    );
    row(
        "HA state",
        s.this_node.health.clone(),
        o.map(|n| n.health.clone()).unwrap_or_else(|| "-".into()),
    );
    row(
        "Hardware",
        s.this_node.hardware.clone(),
        o.map(|n| n.hardware.clone()).unwrap_or_else(|| "-".into()),
    );
    row(
        "Power (IPMI)",
        "on".into(),
        s.other_power
            .map(|p| p.to_string())
            .unwrap_or_else(|| "unknown".into()),
    );
    match &s.other_node_error {
        Some(e) => crate::outln!("HA link: {e}"),
        None => crate::outln!("HA link: ok"),
    }
    if let Some(e) = &s.other_power_error {
        crate::outln!("IPMI: {e}");
    }
    match &s.upgrade {
        Some(p) if !p.abandoned && !p.finished() => {
            crate::outln!(
                "HA upgrade to {}: {} of {} steps done",
                p.version,
                p.done.len(),
                STEPS.len()
            );
            for (i, step) in STEPS.iter().enumerate() {
                let mark = if p.done.contains(step) {
                    "done"
                } else if Some(*step) == p.next() {
                    "next"
                } else {
                    ""
                };
                crate::outln!("  {:>2} {:<46} {mark}", i + 1, step.title());
            }
            if let Some((step, why)) = &p.stopped {
                crate::outln!("Stopped at {step}: {why}");
            }
            crate::outln!(
                "The secondary {} be powered on now.",
                if s.secondary_may_power_on {
                    "may"
                } else {
                    "must NOT"
                }
            );
        }
        Some(p) if p.finished() => crate::outln!("Last HA upgrade: to {}, finished.", p.version),
        Some(p) => crate::outln!("Last HA upgrade: to {}, given up.", p.version),
        None => crate::outln!("No HA upgrade recorded."),
    }
    Ok(Exit::Success)
}

/// The command-line observer: steps and notes on stderr (with --json, progress
/// records of operation "ha", as every command's), a typed "yes" on a terminal for
/// each confirmation, or --yes.
struct Cli<'a> {
    ctx: &'a Ctx,
    yes: bool,
    last_pct: Option<u64>,
    record: Progress,
}

impl<'a> Cli<'a> {
    fn new(ctx: &'a Ctx, yes: bool) -> Cli<'a> {
        let mut record = Progress::new(Operation::Ha);
        record.pid = std::process::id();
        Cli {
            ctx,
            yes,
            last_pct: None,
            record,
        }
    }

    fn emit(&mut self, message: &str) {
        self.record.message = message.to_string();
        self.record.updated = upgrade_core::appliance::console_log::now_rfc3339();
        if let Ok(line) = serde_json::to_string(&self.record) {
            crate::errln!("{line}");
        }
    }

    /// The last record, saying how the run ended.
    fn finish(&mut self, outcome: Outcome, message: &str) {
        if self.ctx.json {
            if outcome == Outcome::Done {
                self.record.fraction = self.record.fraction.max(0.0);
            }
            self.record.outcome = Some(outcome);
            self.emit(message);
        }
    }
}

impl HaObserver for Cli<'_> {
    fn step(&mut self, step: HaStep, index: usize, safety: &str) {
        self.last_pct = None;
        log::info!("ha upgrade: step {}: {}", index + 1, step.title());
        if self.ctx.json {
            self.record.stage = step.name().into();
            self.record.step = step.title().into();
            self.record.fraction = index as f64 / STEPS.len() as f64;
            // Once the primary reboots into the new firmware, its migration decides.
            self.record.rollback_possible = step < HaStep::RebootPrimary;
            self.emit(safety);
        } else {
            crate::errln!("[{}/{}] {}", index + 1, STEPS.len(), step.title());
            crate::errln!("      {safety}");
        }
    }

    fn note(&mut self, message: &str) {
        log::info!("ha upgrade: {message}");
        if self.ctx.json {
            self.emit(message);
        } else {
            crate::errln!("      {message}");
        }
    }

    fn progress(&mut self, done: u64, total: u64) {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        // Every 10 %: a serial line gets a handful of lines, not a stream.
        if self.last_pct.is_some_and(|p| pct < p + 10 && pct < 100) {
            return;
        }
        self.last_pct = Some(pct);
        if self.ctx.json {
            let index = STEPS
                .iter()
                .position(|s| s.name() == self.record.stage)
                .unwrap_or(0);
            self.record.fraction = (index as f64 + pct as f64 / 100.0) / STEPS.len() as f64;
            self.emit(&format!("{done} of {total} bytes"));
        } else {
            crate::errln!("      {pct:>3} % ({done} of {total} bytes)");
        }
    }

    fn confirm(&mut self, step: HaStep, question: &str) -> bool {
        log::info!("ha upgrade: {step}: asked: {question}");
        if self.yes {
            return true;
        }
        if !std::io::stdin().is_terminal() {
            crate::errln!("upgrade-console: ha: {question}");
            crate::errln!(
                "upgrade-console: ha: this needs confirmation: run it on a terminal, or pass --yes"
            );
            return false;
        }
        crate::errln!("{question}");
        let _ = write!(std::io::stderr(), "Type \"yes\" to go on: ");
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        answer.trim() == "yes"
    }
}

fn expected_hash(
    iso: &std::path::Path,
    sha256: Option<&str>,
    file: Option<&std::path::Path>,
) -> anyhow::Result<[u8; 32]> {
    let name = iso.file_name().map(|n| n.to_string_lossy().into_owned());
    if let Some(t) = sha256 {
        return Ok(parse_expected(t, name.as_deref())?);
    }
    if let Some(f) = file {
        return Ok(read_hash_file(f, name.as_deref())?);
    }
    if let Some(side) = sidecar_path(iso) {
        return Ok(read_hash_file(&side, name.as_deref())?);
    }
    anyhow::bail!(
        "no expected hash for \"{}\": pass --sha256 HASH (as shown on the downloads page) or --sha256-file FILE, or put {}.sha256 beside it",
        iso.display(),
        iso.display()
    )
}

fn upgrade(
    ctx: &Ctx,
    iso: Option<&std::path::Path>,
    sha256: Option<&str>,
    sha256_file: Option<&std::path::Path>,
    yes: bool,
    one_step: bool,
) -> anyhow::Result<Exit> {
    upgrade_core::appliance::console_log::init(&ctx.root, false);
    let image = match iso {
        Some(p) => {
            if let Err(e) = std::fs::metadata(p) {
                anyhow::bail!(
                    "cannot read the image \"{}\": {e}; check the path to the firmware ISO",
                    p.display()
                );
            }
            Some((p, expected_hash(p, sha256, sha256_file)?))
        }
        None => None,
    };
    let mut obs = Cli::new(ctx, yes);
    let result = procedure::run(&ctx.root, Start { image, one_step }, &mut obs);
    match &result {
        Ok(out) if out.progress.finished() => {
            obs.finish(Outcome::Done, "the HA upgrade is finished")
        }
        Ok(_) => {}
        Err(e) => obs.finish(Outcome::Failed, &e.to_string()),
    }
    match result {
        Ok(out) => {
            if ctx.json {
                crate::outln!("{}", serde_json::to_string_pretty(&out)?);
            } else if out.rebooting {
                crate::outln!(
                    "The primary is rebooting; run `{} ha upgrade` after the boot to go on.",
                    ctx.root.command()
                );
            } else if out.progress.finished() {
                crate::outln!(
                    "The HA pair runs firmware {} on both nodes; the roles are swapped.",
                    out.progress.version
                );
            } else if let Some(next) = out.progress.next() {
                crate::outln!(
                    "Next step: {} ({}); run `{} ha upgrade` to go on.",
                    next.title(),
                    next.name(),
                    ctx.root.command()
                );
            }
            Ok(Exit::Success)
        }
        Err(e) => Ok(fail(ctx, &e)),
    }
}

fn restore(ctx: &Ctx, yes: bool) -> anyhow::Result<Exit> {
    upgrade_core::appliance::console_log::init(&ctx.root, false);
    let mut obs = Cli::new(ctx, yes);
    match procedure::restore(&ctx.root, &mut obs) {
        Ok(peer) => {
            if ctx.json {
                crate::outln!("{}", serde_json::to_string_pretty(&peer)?);
            } else {
                crate::outln!(
                    "The pair is back on firmware {} on both nodes.",
                    show(peer.current)
                );
            }
            Ok(Exit::Success)
        }
        Err(e) => Ok(fail(ctx, &e)),
    }
}

fn link_plan(ctx: &Ctx, config: &Config) -> anyhow::Result<upgrade_core::recovery::sshd::SshdPlan> {
    let exe = std::env::current_exe()?;
    upgrade_core::ha::link::server_plan(&ctx.root, config, &exe).map_err(anyhow::Error::msg)
}

/// Makes this node's link key and the link server's host keys; prints what the other
/// node needs: this node's key (for its peer_keys) and host key (for its known_hosts).
fn link_keys(ctx: &Ctx) -> anyhow::Result<Exit> {
    let config = Config::load(&ctx.root)?;
    let ha = config
        .ha
        .as_ref()
        .context("this node has no [ha] section")?;
    let node = upgrade_core::ha::link::ensure_node_key(&ctx.root)?;
    let plan = link_plan(ctx, &config)?;
    plan.prepare()?;
    let addr = ha.address.map(|a| a.to_string()).unwrap_or_default();
    let host = if ha.link_port == 22 {
        addr
    } else {
        format!("[{addr}]:{}", ha.link_port)
    };
    let mut host_lines = vec![];
    for k in &plan.host_keys {
        let pubkey = std::fs::read_to_string(k.with_extension("pub"))?;
        let mut parts = pubkey.split_whitespace();
        if let (Some(t), Some(b)) = (parts.next(), parts.next()) {
            host_lines.push(format!("{host} {t} {b}"));
        }
    }
    if ctx.json {
        crate::outln!(
            "{}",
            serde_json::json!({"node_key": node, "known_hosts": host_lines})
        );
    } else {
        crate::outln!("On the other node, add this line to etc/appliance/ha/peer_keys:");
        crate::outln!("{node}");
        crate::outln!("and these to etc/appliance/ha/known_hosts:");
        for l in host_lines {
            crate::outln!("{l}");
        }
    }
    Ok(Exit::Success)
}

/// Runs the HA link's sshd in the foreground (a service on the appliance).
fn serve_link(ctx: &Ctx) -> anyhow::Result<Exit> {
    upgrade_core::appliance::console_log::init(&ctx.root, false);
    let config = Config::load(&ctx.root)?;
    if config.appliance.sealed {
        crate::errln!(
            "upgrade-console: ha serve-link: the appliance is sealed (sealed = true in \"{}\"): no SSH, the HA link's included",
            ctx.root.config_file().display()
        );
        return Ok(Exit::Refused);
    }
    let plan = link_plan(ctx, &config)?;
    keys_file_is_private(&plan.authorized_keys)?;
    plan.stop_previous();
    plan.prepare()?;
    let mut child = plan.start()?;
    log::info!(
        "ha: link server listening on {:?} port {}",
        plan.listen,
        plan.port
    );
    let status = child.wait()?;
    log::warn!("ha: link server exited: {status}");
    Ok(if status.success() {
        Exit::Success
    } else {
        Exit::CannotRun
    })
}

/// The link's forced command: one request from SSH_ORIGINAL_COMMAND, answered on
/// stdout; errors on stderr (ssh carries them to the asking node).
fn peer_request(ctx: &Ctx) -> anyhow::Result<Exit> {
    upgrade_core::appliance::console_log::init(&ctx.root, false);
    let request = std::env::var("SSH_ORIGINAL_COMMAND").unwrap_or_default();
    let shown: String = request
        .chars()
        .take(80)
        .filter(|c| !c.is_control())
        .collect();
    log::info!("ha: request from the other node: {shown}");
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match upgrade_core::ha::serve::handle(&ctx.root, &request, &mut input, &mut out) {
        Ok(()) => Ok(Exit::Success),
        Err(e) => {
            log::error!("ha: request \"{shown}\": {e}");
            eprintln!("{e}");
            Ok(if e.is_refusal() {
                Exit::Refused
            } else {
                Exit::CannotRun
            })
        }
    }
}

/// The demo's and the tests' stand-in for the secondary's hardware, driven by the
/// BMC simulator's chassis hook: `up` is a power-on (the firmware picks the slot, the
/// boot phase runs, the HA daemon syncs, the link server starts); `down` a shutdown.
fn sim_node(ctx: &Ctx, action: &str) -> anyhow::Result<Exit> {
    if ctx.root.is_system_root() {
        anyhow::bail!("ha sim-node simulates a node's power on a demo or test root, never on /");
    }
    upgrade_core::appliance::console_log::init(&ctx.root, false);
    let config = Config::load(&ctx.root)?;
    let status_file = config
        .ha
        .as_ref()
        .and_then(|h| h.status_file.clone())
        .map(|f| ctx.root.resolve(f));
    let set_health = |state: &str| {
        if let Some(f) = &status_file {
            let _ = upgrade_core::appliance::durable::write_atomic(
                f,
                format!("{{\"state\": \"{state}\"}}\n").as_bytes(),
            );
        }
    };
    let plan = link_plan(ctx, &config)?;
    keys_file_is_private(&plan.authorized_keys)?;
    match action {
        "up" => {
            set_health("syncing");
            log::info!("sim-node: power on");
            upgrade_core::upgrade::simulate::SimulatedReboot::default()
                .power_up(&ctx.root)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            plan.stop_previous();
            plan.prepare()?;
            let mut child = plan.start()?;
            // The HA daemon's resync with the other node (the guides: heartbeat and
            // some services are unavailable meanwhile).
            std::thread::sleep(std::time::Duration::from_millis(500));
            set_health("ok");
            let _ = std::io::stdout().flush();
            child.wait()?;
            Ok(Exit::Success)
        }
        "down" => {
            log::info!("sim-node: power off");
            set_health("degraded");
            plan.stop_previous();
            Ok(Exit::Success)
        }
        other => anyhow::bail!("ha sim-node: unknown action \"{other}\" (up or down)"),
    }
}

/// What sshd's StrictModes would check of the keys that open the link: the file and
/// its directory belong to this user and nobody else can write them.
fn keys_file_is_private(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    for p in [Some(path), path.parent()].into_iter().flatten() {
        let m = std::fs::symlink_metadata(p)
            .with_context(|| format!("the HA link's keys \"{}\"", p.display()))?;
        if m.file_type().is_symlink() || m.uid() != me || m.mode() & 0o022 != 0 {
            anyhow::bail!(
                "\"{}\" may be changed by others (owner {}, mode {:o}): the keys that open the HA link must belong to this user and be writable by nobody else; fix with chown and chmod go-w",
                p.display(),
                m.uid(),
                m.mode() & 0o7777
            );
        }
    }
    Ok(())
}
