//! The command line (SPEC §1): global options, subcommands and exit codes.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use upgrade_core::appliance::root::ApplianceRoot;

/// Exit codes everywhere: 0 success, 1 the check said no, 2 could not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Refused = 1,
    CannotRun = 2,
}

#[derive(Debug, Parser)]
#[command(
    name = "upgrade-console",
    version,
    about = "Upgrade an appliance's firmware from its console, safely, and recover when it fails"
)]
pub struct Cli {
    /// The appliance root; every path is under it.
    #[arg(long, global = true, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// Colour theme: a built-in name (default, mono, high-contrast) or a TOML file.
    #[arg(long, global = true, value_name = "NAME|FILE")]
    pub theme: Option<String>,
    /// Plain ASCII drawing, no Unicode.
    #[arg(long, global = true)]
    pub ascii: bool,
    /// Report as JSON (commands that report).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The full-screen console (the default).
    Console,
    /// Build a demo appliance with sample firmware images, then open the console on it.
    Demo(DemoArgs),
    /// Firmware version, slots, disks, free space, HA and cluster role, network.
    Status,
    /// SHA-256 of an ISO compared with the published hash, and the payload hash inside it.
    Verify(VerifyArgs),
    /// The upgrade test: path, free space, licence, configuration rules, prerequisites.
    Check(CheckArgs),
    /// Write the image's payload to the inactive slot, verify it, boot it once after reboot.
    Activate(ActivateArgs),
    /// Reboot into the slot chosen for the next boot (on a demo/test root: run that boot).
    Reboot,
    /// The boot phase, run by init on every boot: trial boot, phase 1, commit or rollback.
    Boot,
    /// The background migration of the committed firmware (resumable).
    Phase2,
    /// Central cluster: the order in which the nodes must be upgraded.
    Cluster(ClusterArgs),
    /// The HA pair: both nodes side by side, and the pair's upgrade (HA link and IPMI).
    Ha(HaArgs),
    /// Internal: runs the rest of the command line in a new session with no
    /// terminal (the console starts long work this way, so a hang-up cannot stop it).
    #[command(hide = true)]
    Detach(DetachArgs),
    /// Recovery mode: interfaces up, key-only SSH (unless sealed), log server, bundle.
    Recover(RecoverArgs),
    /// Write a support bundle (ZIP) with logs, state and facts, secrets redacted.
    Bundle(BundleArgs),
    /// Serve the boot log page, raw log and status over HTTP (read-only).
    ServeLog(ServeLogArgs),
}

#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// Print what recovery would do and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct BundleArgs {
    /// Where to write the bundle (default: var/lib/upgrade-console/bundles/).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ServeLogArgs {
    /// Address to listen on (repeatable; default: [web] listen of appliance.toml).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<std::net::SocketAddr>,
}

#[derive(Debug, clap::Args)]
pub struct ActivateArgs {
    /// The firmware ISO (verify and check must have passed for it).
    pub iso: PathBuf,
    /// Do not ask for confirmation (automation).
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Each node with its role, version and state, in upgrade order.
    Plan {
        /// The firmware image the cluster is being upgraded to.
        iso: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub struct HaArgs {
    #[command(subcommand)]
    pub command: HaCommand,
}

#[derive(Debug, Subcommand)]
pub enum HaCommand {
    /// Both nodes: role, Current, After reboot, HA state, the other node's power
    /// (IPMI), the HA link, and the pair's upgrade if one is under way.
    Status,
    /// Run the pair's upgrade on the primary, or resume it (without ISO).
    Upgrade {
        /// The firmware ISO; leave it out to resume the upgrade under way.
        iso: Option<PathBuf>,
        /// The expected hash, as pasted from the downloads page (any common form).
        #[arg(long, value_name = "HASH", conflicts_with = "sha256_file")]
        sha256: Option<String>,
        /// A file holding the expected hash.
        #[arg(long, value_name = "FILE")]
        sha256_file: Option<PathBuf>,
        /// Do not ask before power, reboot and role changes (automation).
        #[arg(long)]
        yes: bool,
        /// Run only the next step, then stop.
        #[arg(long)]
        step: bool,
    },
    /// After the primary rolled back: power the secondary on so it declines the new
    /// firmware too, and close the upgrade with the pair on the old firmware.
    Restore {
        #[arg(long)]
        yes: bool,
    },
    /// Give up an HA upgrade that has not yet powered the secondary off.
    Abandon,
    /// Make this node's HA link keys and print what the other node needs.
    LinkKeys,
    /// Run the HA link's server (OpenSSH, the other node's key, forced requests).
    ServeLink,
    /// Internal: the HA link's forced command (one request from the other node).
    #[command(hide = true)]
    PeerRequest,
    /// Internal (demo and tests): a node's power, driven by a BMC simulator's hook.
    #[command(hide = true)]
    SimNode { action: String },
}

#[derive(Debug, clap::Args)]
pub struct DetachArgs {
    /// The command line to run (a subcommand and its arguments).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub args: Vec<std::ffi::OsString>,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where to build the demo appliance (reused if present).
    #[arg(default_value = "demo-appliance")]
    pub dir: PathBuf,
    /// Make the demo fail at a stage: `check` (configuration the new firmware's rules
    /// refuse), `phase1` (migration fails: rollback), `irreversible` (fails after the
    /// point of no return: recovery).
    #[arg(long, value_name = "STAGE")]
    pub fail: Option<String>,
    /// Throw away a reused demo appliance (its upgrades, logs, state) and build it afresh.
    #[arg(long)]
    pub reset: bool,
    /// Build an HA pair in DIR (DIR/primary, DIR/secondary) with a BMC simulator for
    /// the secondary, start it, and open the console on the primary.
    #[arg(long)]
    pub ha: bool,
    /// With --ha: stop the pair's processes (BMC simulator, link servers, secondary).
    #[arg(long, requires = "ha")]
    pub stop: bool,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The firmware ISO.
    pub iso: PathBuf,
    /// The expected hash, as pasted from the downloads page (any common form).
    #[arg(long, value_name = "HASH", conflicts_with = "sha256_file")]
    pub sha256: Option<String>,
    /// A file holding the expected hash (sha256sum, BSD, certutil output...).
    #[arg(long, value_name = "FILE")]
    pub sha256_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The firmware ISO to test the appliance against.
    pub iso: PathBuf,
}

/// What every command gets: the root and the output choices.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub root: ApplianceRoot,
    pub json: bool,
    pub ascii: bool,
    pub theme: Option<String>,
}
