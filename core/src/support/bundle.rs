//! The support bundle (SPEC §6, `bundle`): one ZIP with everything support needs to
//! see why an upgrade failed — console log, state files, the configuration with its
//! secrets redacted, system facts, block devices, interfaces and routes, kernel
//! command line, versions — plus a SHA256SUMS member over all the others. Secret
//! values from the configuration are also scrubbed from every other member (they can
//! leak into logs).
//!
//! The size budget goes to what support needs most: state files first, then the
//! configuration and system facts, logs last (their newest lines). Members are
//! written one at a time, so a build holds one member (at most 8 MiB), not the bundle.
//! Bundles under the state directory are made under a lock, one at a time, and
//! pruned; the recovery bundle the boot log server offers is made once and shared.

use crate::appliance::durable::sync_dir;
use crate::appliance::root::ApplianceRoot;
use crate::support::secrets::{REDACTED, Secrets, redact_config};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Each member is capped at this many bytes (logs keep their tail).
pub const MAX_MEMBER_BYTES: u64 = 8 * 1024 * 1024;
/// All copied files together are capped at this many bytes.
pub const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// Bundles kept under var/lib/upgrade-console/bundles/ (newest first), besides the
/// one recovery recorded.
pub const KEEP_BUNDLES: usize = 3;
/// And at most this many bytes of them.
pub const KEEP_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;
/// How long a caller waits for another process's bundle build.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(300);
/// A temporary file older than this was left by a writer that died.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot create the bundle directory \"{path}\": {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the bundle \"{path}\": {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "another bundle is being made for over {0:?} (lock \"{1}\"); wait for it, or stop the process holding the lock"
    )]
    Busy(std::time::Duration, String),
    #[error("no bundle made, its secrets cannot be known: {0}")]
    Secrets(#[from] crate::support::secrets::SecretsError),
    #[error("cannot write the bundle \"{path}\": {source}")]
    Zip {
        path: String,
        source: zip::result::ZipError,
    },
}

/// Reads at most `cap` bytes of a file: the tail when `tail` (logs), else the head.
/// Returns the bytes and whether the file was cut.
fn read_capped(path: &Path, cap: u64, tail: bool) -> std::io::Result<(Vec<u8>, bool)> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let cut = len > cap;
    if cut && tail {
        f.seek(SeekFrom::Start(len - cap))?;
    }
    let mut buf = Vec::new();
    f.take(cap).read_to_end(&mut buf)?;
    Ok((buf, cut))
}

/// Where a member's bytes come from.
enum Source {
    /// A file, cut to the budget: logs keep their tail, other files their head.
    File {
        path: PathBuf,
        tail: bool,
    },
    Bytes(Vec<u8>),
}

/// One member of the bundle, planned in budget order.
struct Planned {
    name: String,
    source: Source,
}

/// State files support reads first, in this order; the rest of the state follows.
const STATE_FIRST: &[&str] = &[
    "journal.log",
    "slot-status.json",
    "progress.json",
    "recovery.json",
    "phase1-checkpoint.json",
    "phase2.json",
];

/// Files under `dir` (recursively, no symlinks), as paths relative to it, sorted.
fn files_under(dir: &Path, skip_dirs: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(dir.join(&rel)) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let r = rel.join(e.file_name());
            if ft.is_dir() {
                if !skip_dirs.iter().any(|s| r == Path::new(s)) {
                    stack.push(r);
                }
            } else if ft.is_file() {
                out.push(r);
            }
        }
    }
    out.sort();
    out
}

#[derive(Serialize)]
struct Facts {
    host_name: Option<String>,
    os: Option<String>,
    os_version: Option<String>,
    kernel: Option<String>,
    arch: String,
    uptime_s: u64,
    boot_time: u64,
    load_average: [f64; 3],
    cpus: usize,
    memory_total_bytes: u64,
    memory_available_bytes: u64,
    swap_total_bytes: u64,
    swap_used_bytes: u64,
    disks: Vec<DiskFact>,
    collected: String,
}

#[derive(Serialize)]
struct DiskFact {
    name: String,
    mount_point: String,
    file_system: String,
    total_bytes: u64,
    available_bytes: u64,
}

fn system_facts() -> Facts {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    let load = sysinfo::System::load_average();
    let disks = sysinfo::Disks::new_with_refreshed_list()
        .iter()
        .map(|d| DiskFact {
            name: d.name().to_string_lossy().into_owned(),
            mount_point: d.mount_point().display().to_string(),
            file_system: d.file_system().to_string_lossy().into_owned(),
            total_bytes: d.total_space(),
            available_bytes: d.available_space(),
        })
        .collect();
    Facts {
        host_name: sysinfo::System::host_name(),
        os: sysinfo::System::name(),
        os_version: sysinfo::System::os_version(),
        kernel: sysinfo::System::kernel_version(),
        arch: sysinfo::System::cpu_arch(),
        uptime_s: sysinfo::System::uptime(),
        boot_time: sysinfo::System::boot_time(),
        load_average: [load.one, load.five, load.fifteen],
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        memory_total_bytes: sys.total_memory(),
        memory_available_bytes: sys.available_memory(),
        swap_total_bytes: sys.total_swap(),
        swap_used_bytes: sys.used_swap(),
        disks,
        collected: crate::appliance::console_log::now_rfc3339(),
    }
}

#[derive(Serialize)]
struct BlockFact {
    name: String,
    major_minor: String,
    kind: String,
    size_bytes: u64,
    removable: bool,
    read_only: bool,
    mountpoints: Vec<String>,
    model: Option<String>,
    serial: Option<String>,
    children: Vec<BlockFact>,
}

fn block_fact(d: &blockdev::BlockDevice) -> BlockFact {
    BlockFact {
        name: d.name.clone(),
        major_minor: format!("{}:{}", d.maj_min.major, d.maj_min.minor),
        kind: d.device_type.as_str().to_string(),
        size_bytes: d.size,
        removable: d.rm,
        read_only: d.ro,
        mountpoints: d.mountpoints.clone(),
        model: d.model.clone(),
        serial: d.serial.clone(),
        children: d.children.iter().map(block_fact).collect(),
    }
}

fn block_devices() -> serde_json::Value {
    match blockdev::get_devices() {
        Ok(devs) => {
            let v: Vec<BlockFact> = devs.iter().map(block_fact).collect();
            serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
        }
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

#[derive(Serialize)]
struct InterfaceFact {
    name: String,
    operstate: Option<String>,
    mac: Option<String>,
    mtu: Option<String>,
    addresses: Vec<String>,
}

fn sys_attr(name: &str, attr: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/{attr}"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn prefix_of(mask: Option<&nix::sys::socket::SockaddrStorage>) -> u32 {
    let Some(m) = mask else { return 0 };
    if let Some(v4) = m.as_sockaddr_in() {
        return v4.ip().to_bits().count_ones();
    }
    if let Some(v6) = m.as_sockaddr_in6() {
        return v6.ip().to_bits().count_ones();
    }
    0
}

/// The interfaces the kernel has, with their addresses (getifaddrs) and sysfs facts.
fn interfaces() -> Vec<InterfaceFact> {
    let mut out: Vec<InterfaceFact> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/class/net") {
        let mut names: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            out.push(InterfaceFact {
                operstate: sys_attr(&name, "operstate"),
                mac: sys_attr(&name, "address"),
                mtu: sys_attr(&name, "mtu"),
                name,
                addresses: Vec::new(),
            });
        }
    }
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let Some(addr) = a.address else { continue };
            let ip = if let Some(v4) = addr.as_sockaddr_in() {
                std::net::IpAddr::V4(v4.ip())
            } else if let Some(v6) = addr.as_sockaddr_in6() {
                std::net::IpAddr::V6(v6.ip())
            } else {
                continue;
            };
            let text = format!("{ip}/{}", prefix_of(a.netmask.as_ref()));
            match out.iter_mut().find(|i| i.name == a.interface_name) {
                Some(i) => i.addresses.push(text),
                None => out.push(InterfaceFact {
                    name: a.interface_name.clone(),
                    operstate: None,
                    mac: None,
                    mtu: None,
                    addresses: vec![text],
                }),
            }
        }
    }
    out
}

#[derive(Serialize)]
struct Versions {
    upgrade_console: &'static str,
    running: Option<String>,
    booted_slot: String,
    slot_status: serde_json::Value,
}

fn versions(root: &ApplianceRoot) -> Versions {
    let slot_status = match crate::slots::slot_status::SlotStatus::load(root) {
        Ok(s) => serde_json::to_value(s).unwrap_or(serde_json::Value::Null),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    };
    Versions {
        upgrade_console: env!("CARGO_PKG_VERSION"),
        running: crate::slots::slot_status::running_version(root)
            .ok()
            .flatten()
            .map(|v| v.to_string()),
        booted_slot: format!("{:?}", crate::slots::slot_status::booted_slot(root)),
        slot_status,
    }
}

fn json(v: &impl Serialize) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// Host name for the file name: the configured one, else the system's; only
/// characters safe in a file name.
fn host_for_name(config_text: &str) -> String {
    let configured = config_text
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| {
            t.get("appliance")?
                .get("hostname")?
                .as_str()
                .map(str::to_string)
        })
        .or_else(sysinfo::System::host_name)
        .unwrap_or_else(|| "appliance".into());
    let safe: String = configured
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() {
        "appliance".into()
    } else {
        safe
    }
}

/// The default place of a new bundle: var/lib/upgrade-console/bundles/support-HOST-TIME.zip.
pub fn default_path(root: &ApplianceRoot) -> PathBuf {
    let text = std::fs::read_to_string(root.config_file()).unwrap_or_default();
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    root.state_dir()
        .join("bundles")
        .join(format!("support-{}-{stamp}.zip", host_for_name(&text)))
}

/// Every member of the bundle for `root`, in the order the size budget is spent.
fn plan(root: &ApplianceRoot, secrets: &Secrets, notes: &mut Vec<String>) -> Vec<Planned> {
    let mut out = Vec::new();
    // State first: journal, slot status, progress, recovery report, phase files, then
    // staged manifests and the rest. Not earlier bundles, not the recovery and HA link
    // host keys (private keys), not images received from the other node, not locks.
    let state = root.state_dir();
    let mut rels = files_under(&state, &["bundles", "recovery", "ha/link", "ha/incoming"]);
    rels.retain(|r| r.extension().is_none_or(|e| e != "lock"));
    rels.sort_by_key(|r| {
        let name = r.to_string_lossy();
        STATE_FIRST
            .iter()
            .position(|f| *f == name)
            .unwrap_or(STATE_FIRST.len())
    });
    for rel in rels {
        let path = state.join(&rel);
        let name = format!("state/{}", rel.display());
        if secrets.is_secret_file(&path) {
            notes.push(format!("{name}: left out, it is a secret file"));
            continue;
        }
        out.push(Planned {
            name,
            source: Source::File { path, tail: false },
        });
    }
    match std::fs::read_to_string(root.config_file()) {
        Ok(text) => out.push(Planned {
            name: "config/appliance.toml".into(),
            source: Source::Bytes(redact_config(&text).0.into_bytes()),
        }),
        Err(e) => notes.push(format!(
            "config/appliance.toml: cannot read \"{}\": {e}",
            root.config_file().display()
        )),
    }
    let mut bytes = |name: &str, b: Vec<u8>| {
        out.push(Planned {
            name: name.into(),
            source: Source::Bytes(b),
        })
    };
    bytes("versions.json", json(&versions(root)));
    bytes("system/facts.json", json(&system_facts()));
    bytes("system/block-devices.json", json(&block_devices()));
    bytes("system/interfaces.json", json(&interfaces()));
    let mut routes = Vec::new();
    for (label, p) in [
        ("IPv4 (/proc/net/route)", "/proc/net/route"),
        ("IPv6 (/proc/net/ipv6_route)", "/proc/net/ipv6_route"),
    ] {
        routes.extend_from_slice(format!("# {label}\n").as_bytes());
        routes.extend(std::fs::read(p).unwrap_or_else(|e| format!("unreadable: {e}\n").into()));
    }
    bytes("system/routes.txt", routes);
    match std::fs::read(root.cmdline()) {
        Ok(b) => bytes("system/cmdline.txt", b),
        Err(e) => notes.push(format!(
            "system/cmdline.txt: cannot read \"{}\": {e}",
            root.cmdline().display()
        )),
    }
    // Logs last, the console log first and then the newest rotated ones.
    let log_dir = root.log_dir();
    let mut logs = files_under(&log_dir, &[]);
    let modified = |r: &PathBuf| {
        std::fs::metadata(log_dir.join(r))
            .and_then(|m| m.modified())
            .ok()
    };
    logs.sort_by(|a, b| {
        let console = |r: &PathBuf| r.as_os_str() != "console.log";
        console(a)
            .cmp(&console(b))
            .then_with(|| modified(b).cmp(&modified(a)))
    });
    for rel in logs {
        out.push(Planned {
            name: format!("log/{}", rel.display()),
            source: Source::File {
                path: log_dir.join(&rel),
                tail: true,
            },
        });
    }
    out
}

/// A member's bytes within what is left of the budget, and a note when cut or left
/// out.
fn member_bytes(
    p: Planned,
    copied: &mut u64,
    notes: &mut Vec<String>,
) -> Option<(String, Vec<u8>)> {
    match p.source {
        Source::Bytes(b) => Some((p.name, b)),
        Source::File { path, tail } => {
            let left = MAX_TOTAL_BYTES.saturating_sub(*copied);
            if left == 0 {
                notes.push(format!(
                    "{}: left out, the bundle reached its size cap",
                    p.name
                ));
                return None;
            }
            match read_capped(&path, MAX_MEMBER_BYTES.min(left), tail) {
                Ok((bytes, cut)) => {
                    if cut {
                        notes.push(format!(
                            "{}: cut to {} bytes ({})",
                            p.name,
                            bytes.len(),
                            if tail {
                                "the last ones"
                            } else {
                                "the first ones"
                            }
                        ));
                    }
                    *copied += bytes.len() as u64;
                    Some((p.name, bytes))
                }
                Err(e) => {
                    notes.push(format!(
                        "{}: cannot read \"{}\": {e}",
                        p.name,
                        path.display()
                    ));
                    None
                }
            }
        }
    }
}

/// Writes the support bundle of `root` to `out`, or (None) to a new file under the
/// state directory's bundles/, made under the bundle lock and followed by pruning.
/// Returns where it went. The file appears complete or not at all.
pub fn write_bundle(root: &ApplianceRoot, out: Option<&Path>) -> Result<PathBuf, BundleError> {
    match out {
        Some(p) => build(root, p).map(|()| p.to_path_buf()),
        None => {
            let _lock = lock(root)?;
            let path = unique(default_path(root));
            build(root, &path)?;
            prune(root, &path);
            Ok(path)
        }
    }
}

/// The bundle the boot log server offers in recovery: the one recovery recorded while
/// it is a complete ZIP, else one made now (once: concurrent callers wait for it and
/// get the same file) and recorded for the next.
pub fn recovery_bundle(root: &ApplianceRoot) -> Result<PathBuf, BundleError> {
    let recorded = || {
        crate::state::recovery::load(root)
            .present()
            .and_then(|r| r.bundle)
            .filter(|p| is_complete(p))
    };
    if let Some(p) = recorded() {
        return Ok(p);
    }
    let _lock = lock(root)?;
    // Made by whoever held the lock before us.
    if let Some(p) = recorded() {
        return Ok(p);
    }
    let path = unique(default_path(root));
    build(root, &path)?;
    if let Some(mut r) = crate::state::recovery::load(root).present() {
        r.bundle = Some(path.clone());
        r.bundle_error = None;
        if let Err(e) = crate::state::recovery::save(root, &r) {
            log::error!("cannot record the new bundle in the recovery report: {e}");
        }
    }
    prune(root, &path);
    Ok(path)
}

/// Whether `path` is a whole ZIP (its central directory reads).
fn is_complete(path: &Path) -> bool {
    File::open(path)
        .ok()
        .is_some_and(|f| zip::ZipArchive::new(f).is_ok())
}

/// `path`, or `path` with `-2`, `-3`... when a bundle of that second exists.
fn unique(path: PathBuf) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // One past the highest number of this second's names still present, so a name
    // handed out earlier and pruned since is never handed out again.
    let taken = path.parent().and_then(|d| std::fs::read_dir(d).ok());
    let mut highest = None;
    for e in taken.into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(stem.as_str()) else {
            continue;
        };
        if rest == ".zip" {
            highest = highest.max(Some(1u32));
        } else if let Some(n) = rest
            .strip_prefix('-')
            .and_then(|r| r.strip_suffix(".zip"))
            .and_then(|n| n.parse::<u32>().ok())
        {
            highest = highest.max(Some(n));
        }
    }
    match highest {
        None => path,
        Some(n) => path.with_file_name(format!("{stem}-{}.zip", n.saturating_add(1))),
    }
}

/// The bundle lock: one build at a time under the state directory. The kernel drops
/// it when its holder dies, so a crashed build never blocks the next.
fn lock(root: &ApplianceRoot) -> Result<nix::fcntl::Flock<File>, BundleError> {
    let path = crate::state::bundle_lock(root);
    let shown = path.display().to_string();
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        let f =
            crate::appliance::safe_open::open_lock(&path).map_err(|source| BundleError::Write {
                path: shown.clone(),
                source,
            })?;
        match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(l),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(BundleError::Busy(LOCK_WAIT, shown));
            }
            Err((_, e)) => {
                return Err(BundleError::Write {
                    path: shown,
                    source: e.into(),
                });
            }
        }
    }
}

/// Keeps the newest bundles under bundles/ (at most [`KEEP_BUNDLES`] and
/// [`KEEP_BUNDLE_BYTES`]), never `keep` nor the one recovery recorded, and removes
/// temporary files of writers that died. Called with the bundle lock held.
fn prune(root: &ApplianceRoot, keep: &Path) {
    let dir = root.state_dir().join("bundles");
    let recorded = crate::state::recovery::load(root)
        .present()
        .and_then(|r| r.bundle);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    let mut bundles = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if name.starts_with(".support-") && name.ends_with(".tmp") {
            if age > STALE_TEMP {
                let _ = std::fs::remove_file(e.path());
            }
        } else if name.starts_with("support-") && name.ends_with(".zip") {
            bundles.push((age, meta.len(), e.path()));
        }
    }
    bundles.sort();
    let (mut kept, mut bytes) = (0usize, 0u64);
    for (_, len, path) in bundles {
        let protected = path == keep || recorded.as_deref() == Some(path.as_path());
        if protected || (kept < KEEP_BUNDLES && bytes + len <= KEEP_BUNDLE_BYTES) {
            kept += 1;
            bytes += len;
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => log::info!("old support bundle removed: {}", path.display()),
            Err(e) => log::warn!("cannot remove the old bundle \"{}\": {e}", path.display()),
        }
    }
}

/// Writes the bundle to `path` through an exclusive temporary file, one member at a
/// time, scrubbed of secrets, then renames it into place.
fn build(root: &ApplianceRoot, path: &Path) -> Result<(), BundleError> {
    let secrets = Secrets::load(root)?;
    let mut notes = Vec::new();
    let planned = plan(root, &secrets, &mut notes);

    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|source| BundleError::Dir {
        path: dir.display().to_string(),
        source,
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle.zip".into());
    // Exclusive, unpredictable temp name: a link planted beside the bundle cannot
    // catch it (the rename below replaces a link at `path` without following it).
    let (f, tmp) = crate::appliance::safe_open::create_temp(&dir, &format!(".{name}"), 0o600)
        .map_err(|source| BundleError::Write {
            path: path.display().to_string(),
            source,
        })?;
    let shown = path.display().to_string();
    let result = (|| -> Result<(), BundleError> {
        let io_err = |source| BundleError::Write {
            path: shown.clone(),
            source,
        };
        let zip_err = |source| BundleError::Zip {
            path: shown.clone(),
            source,
        };
        let mut z = zip::ZipWriter::new(std::io::BufWriter::new(f));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o600);
        let mut sums = String::new();
        let mut put = |z: &mut zip::ZipWriter<_>, name: &str, bytes: &[u8]| {
            let bytes = secrets.scrub(bytes);
            sums.push_str(&format!(
                "{}  {name}\n",
                hex::encode(Sha256::digest(&bytes))
            ));
            z.start_file(name, opts).map_err(zip_err)?;
            z.write_all(&bytes).map_err(io_err)
        };
        let mut copied = 0u64;
        for p in planned {
            if let Some((name, bytes)) = member_bytes(p, &mut copied, &mut notes) {
                put(&mut z, &name, &bytes)?;
            }
        }
        let mut readme = format!(
            "Support bundle of upgrade-console {} made {}.\n\
             Secrets from appliance.toml are replaced by {REDACTED} everywhere ({} spellings looked for).\n\
             Each member is capped at {MAX_MEMBER_BYTES} bytes, all copied files at {MAX_TOTAL_BYTES}:\n\
             state files first, then the configuration and system facts, logs last.\n",
            env!("CARGO_PKG_VERSION"),
            crate::appliance::console_log::now_rfc3339(),
            secrets.len()
        );
        for n in &notes {
            readme.push_str(n);
            readme.push('\n');
        }
        put(&mut z, "README.txt", readme.as_bytes())?;
        z.start_file("SHA256SUMS", opts).map_err(zip_err)?;
        z.write_all(sums.as_bytes()).map_err(io_err)?;
        let f = z
            .finish()
            .map_err(zip_err)?
            .into_inner()
            .map_err(|e| io_err(e.into_error()))?;
        f.sync_all().map_err(io_err)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io_err)?;
        sync_dir(&dir).map_err(io_err)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    log::info!("support bundle written: {}", path.display());
    Ok(())
}
