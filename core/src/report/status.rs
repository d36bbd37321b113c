//! What `status` reports and the console's dashboard shows: firmware version and
//! slots, disks and free space, HA and cluster role, network, the operation in
//! progress, and the last upgrade's outcome. Gathering never changes anything.

use crate::appliance::config::Config;
use crate::appliance::root::ApplianceRoot;
use crate::check::space::{self, FsSpace};
use crate::slots::slot_status::{SlotName, SlotStatus, booted_slot};
use crate::upgrade::progress::Progress;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct SlotView {
    pub slot: SlotName,
    pub device: String,
    pub booted: bool,
    pub state: String,
    pub version: Option<String>,
    pub device_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskView {
    pub name: String,
    pub size_bytes: u64,
    pub kind: String,
    pub mountpoints: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InterfaceView {
    pub name: String,
    pub addresses: Vec<String>,
    pub management: bool,
    /// Link state as the kernel reports it ("up", "down", "absent").
    pub link: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SystemView {
    pub host: Option<String>,
    pub kernel: Option<String>,
    pub uptime_s: u64,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    pub cpus: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Set when the upgrade state cannot be trusted (a damaged journal): what is
    /// wrong and what to do. Said first, and `status` exits non-zero.
    pub state_damaged: Option<String>,
    pub product: String,
    pub hostname: String,
    pub version: Option<String>,
    pub release: Option<String>,
    pub booted_slot: SlotName,
    pub slots: Vec<SlotView>,
    pub filesystems: Vec<FsSpace>,
    pub disks: Vec<DiskView>,
    pub ha: Option<String>,
    pub cluster_roles: Vec<String>,
    pub sealed: bool,
    pub interfaces: Vec<InterfaceView>,
    pub operation: Option<Progress>,
    /// Why progress.json could not be read, when it is damaged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_damaged: Option<String>,
    /// The upgrade state from the journal, in one line.
    pub upgrade: Option<String>,
    /// The last upgrade's outcome as the operator must hear it (rolled back, recovery...).
    pub last_upgrade: Option<String>,
    pub phase2: Option<crate::upgrade::phase2::Phase2Summary>,
    pub system: SystemView,
    /// The version floor: no older image is installed (`upgrade::floor`); "unknown
    /// (...)" when it cannot be read.
    pub version_floor: Option<String>,
    /// The running firmware's trusted signing keys that are not revoked.
    pub trusted_keys: Vec<TrustedKeyView>,
}

/// A trusted signing key, as `verify` names a signer.
#[derive(Debug, Clone, Serialize)]
pub struct TrustedKeyView {
    pub key_id: String,
    pub name: String,
}

fn link_state(name: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{name}/operstate"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "absent".into())
}

fn device_size(path: &std::path::Path) -> Option<u64> {
    use std::io::{Seek, SeekFrom};
    // Block devices report 0 in metadata; their size is where a seek to the end lands.
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(SeekFrom::End(0)).ok()
}

/// Why the status cannot be gathered.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    SlotStatus(#[from] crate::slots::slot_status::SlotStatusError),
    /// Measuring the free space of the configured storage paths failed.
    #[error(transparent)]
    Space(#[from] std::io::Error),
}

/// Gathers the status of the appliance under `root`.
pub fn gather(root: &ApplianceRoot, config: &Config) -> Result<StatusReport, StatusError> {
    let slots = SlotStatus::load(root)?;
    let booted = booted_slot(root);
    let current = slots.get(booted).version;
    let progress = Progress::read(root);
    let slot_views = [SlotName::A, SlotName::B]
        .into_iter()
        .map(|s| {
            let rec = slots.get(s);
            let device = match s {
                SlotName::A => &config.slots.a,
                SlotName::B => &config.slots.b,
            };
            SlotView {
                slot: s,
                device: device.clone(),
                booted: s == booted,
                state: serde_json::to_value(rec.state)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                version: rec.version.map(|v| v.to_string()),
                device_bytes: device_size(&root.resolve(device)),
            }
        })
        .collect();
    let disks = blockdev::get_devices()
        .map(|d| {
            d.iter()
                .filter(|b| b.size > 0)
                .map(|b| DiskView {
                    name: b.name.clone(),
                    size_bytes: b.size,
                    kind: format!("{:?}", b.device_type).to_lowercase(),
                    mountpoints: b.mountpoints.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    let system = SystemView {
        host: sysinfo::System::host_name(),
        kernel: sysinfo::System::kernel_version(),
        uptime_s: sysinfo::System::uptime(),
        memory_total_bytes: sys.total_memory(),
        memory_available_bytes: sys.available_memory(),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let journal = crate::upgrade::journal::Journal::open(root);
    let state_damaged = journal.as_ref().err().map(|e| {
        format!(
            "the upgrade state is damaged: {e}. Do not reboot or activate firmware until support has looked at it: create a support bundle with `upgrade-console --root {} bundle` and send it to support.",
            root.dir().display()
        )
    });
    Ok(StatusReport {
        state_damaged,
        product: config.appliance.product.clone(),
        hostname: config.appliance.hostname.clone(),
        version: current.map(|v| v.to_string()),
        release: current.map(|v| v.release_name()),
        booted_slot: booted,
        slots: slot_views,
        filesystems: space::filesystems(root, config)?,
        disks,
        ha: config
            .ha
            .as_ref()
            .map(|h| format!("{:?} (peer {})", h.role, h.peer).to_lowercase()),
        cluster_roles: config
            .cluster
            .as_ref()
            .map(|c| c.roles.clone())
            .unwrap_or_default(),
        sealed: config.appliance.sealed,
        interfaces: config
            .network
            .interfaces
            .iter()
            .map(|i| InterfaceView {
                name: i.name.clone(),
                addresses: i.addresses.clone(),
                management: i.management,
                link: link_state(&i.name),
            })
            .collect(),
        operation: progress.clone().present(),
        operation_damaged: progress.damaged().map(String::from),
        upgrade: journal.ok().map(|j| j.state().describe()),
        last_upgrade: crate::upgrade::boot::after_boot_message(root),
        phase2: crate::upgrade::phase2::phase2_summary(root),
        system,
        version_floor: match crate::upgrade::floor::current(root) {
            Ok(f) => f.map(|v| v.to_string()),
            Err(e) => Some(format!("unknown ({e})")),
        },
        trusted_keys: crate::image::trust::TrustStore::load(root)
            .map(|t| {
                t.keys
                    .iter()
                    .filter(|k| !t.revoked.contains(&k.id))
                    .map(|k| TrustedKeyView {
                        key_id: k.id.to_string(),
                        name: k.name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Renders the report for an 80-column terminal.
pub fn render_text(s: &StatusReport) -> String {
    use crate::check::space::human;
    use std::fmt::Write;
    let mut o = String::new();
    if let Some(d) = &s.state_damaged {
        let opts = textwrap::Options::new(80).subsequent_indent("  ");
        let _ = writeln!(
            o,
            "{}\n",
            textwrap::fill(&format!("STATE DAMAGED: {d}"), opts)
        );
    }
    let version = s.version.as_deref().unwrap_or("unknown");
    let _ = writeln!(
        o,
        "{} {} - firmware {} ({})",
        s.product,
        s.hostname,
        version,
        s.release.as_deref().unwrap_or("?")
    );
    let _ = writeln!(o, "\nSlots");
    for v in &s.slots {
        let _ = writeln!(
            o,
            "  {} {:<7} {:<8} {:<10} {}",
            v.slot,
            if v.booted { "booted" } else { "" },
            v.state,
            v.version.as_deref().unwrap_or("-"),
            v.device
        );
    }
    let _ = writeln!(o, "\nFree space");
    for f in &s.filesystems {
        let _ = writeln!(
            o,
            "  {:<28} {:>10} of {:>10}  {:>5.1} % free",
            f.path,
            human(f.available_bytes),
            human(f.total_bytes),
            f.free_percent
        );
    }
    let _ = writeln!(o, "\nDisks");
    for d in s.disks.iter().take(12) {
        let _ = writeln!(
            o,
            "  {:<12} {:<10} {:>10}  {}",
            d.name,
            d.kind,
            human(d.size_bytes),
            d.mountpoints.join(" ")
        );
    }
    let _ = writeln!(o, "\nRole");
    let _ = writeln!(o, "  HA       {}", s.ha.as_deref().unwrap_or("standalone"));
    let roles = if s.cluster_roles.is_empty() {
        "none".to_string()
    } else {
        s.cluster_roles.join(", ")
    };
    let _ = writeln!(o, "  cluster  {roles}");
    let _ = writeln!(
        o,
        "  sealed   {}",
        if s.sealed {
            "yes (no SSH, recovery included)"
        } else {
            "no"
        }
    );
    let _ = writeln!(o, "\nNetwork");
    for i in &s.interfaces {
        let _ = writeln!(
            o,
            "  {:<8} {:<7} {}{}",
            i.name,
            i.link,
            i.addresses.join(" "),
            if i.management { "  (management)" } else { "" }
        );
    }
    if s.upgrade.is_some() || s.last_upgrade.is_some() || s.phase2.is_some() {
        let _ = writeln!(o, "\nUpgrade");
        let phase2 = s.phase2.as_ref().map(|p| p.message.clone());
        for line in [&s.upgrade, &s.last_upgrade, &phase2].into_iter().flatten() {
            let opts = textwrap::Options::new(80)
                .initial_indent("  ")
                .subsequent_indent("    ");
            let _ = writeln!(o, "{}", textwrap::fill(line, opts));
        }
    }
    if let Some(why) = &s.operation_damaged {
        let _ = writeln!(o, "\nOperation");
        let opts = textwrap::Options::new(80)
            .initial_indent("  ")
            .subsequent_indent("    ");
        let _ = writeln!(o, "{}", textwrap::fill(&format!("damaged: {why}"), opts));
    }
    if let Some(p) = &s.operation {
        let _ = writeln!(o, "\nOperation");
        let outcome = p.outcome.map_or("running", |o| o.as_str());
        let line = format!(
            "{} {}: {} ({:.0} %) - {}",
            p.operation,
            p.stage,
            outcome,
            p.fraction * 100.0,
            p.message
        );
        let opts = textwrap::Options::new(80)
            .initial_indent("  ")
            .subsequent_indent("    ");
        let _ = writeln!(o, "{}", textwrap::fill(&line, opts));
        let _ = writeln!(
            o,
            "  rollback {}",
            if s.state_damaged.is_some() {
                // The journal is what says whether a rollback is possible.
                "unknown: the upgrade state is damaged"
            } else if p.rollback_possible {
                "still possible"
            } else {
                "no longer possible"
            }
        );
    }
    o
}
