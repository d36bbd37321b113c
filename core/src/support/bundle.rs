//! The support bundle (SPEC §6, `bundle`): one ZIP with everything support needs to
//! see why an upgrade failed — console log, state files, the configuration with its
//! secrets redacted, system facts, block devices, interfaces and routes, kernel
//! command line, versions — plus a SHA256SUMS member over all the others. Secret
//! values from the configuration are also scrubbed from every other member (they can
//! leak into logs), and this module's `Secrets` is what the boot log server uses too.

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

/// One member of the bundle being assembled.
struct Member {
    name: String,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct Assembly {
    members: Vec<Member>,
    notes: Vec<String>,
    copied: u64,
}

impl Assembly {
    fn add(&mut self, name: impl Into<String>, bytes: Vec<u8>) {
        self.members.push(Member {
            name: name.into(),
            bytes,
        });
    }

    /// Copies a file into the bundle, within the per-member and total caps.
    fn add_file(&mut self, name: String, path: &Path, tail: bool) {
        let left = MAX_TOTAL_BYTES.saturating_sub(self.copied);
        if left == 0 {
            self.notes
                .push(format!("{name}: left out, the bundle reached its size cap"));
            return;
        }
        match read_capped(path, MAX_MEMBER_BYTES.min(left), tail) {
            Ok((bytes, cut)) => {
                if cut {
                    self.notes.push(format!(
                        "{name}: cut to {} bytes ({})",
                        bytes.len(),
                        if tail {
                            "the last ones"
                        } else {
                            "the first ones"
                        }
                    ));
                }
                self.copied += bytes.len() as u64;
                self.add(name, bytes);
            }
            Err(e) => self
                .notes
                .push(format!("{name}: cannot read \"{}\": {e}", path.display())),
        }
    }
}

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
                if !(rel.as_os_str().is_empty()
                    && skip_dirs
                        .iter()
                        .any(|s| e.file_name() == std::ffi::OsStr::new(s)))
                {
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

/// Gathers every member (not yet scrubbed) of the bundle for `root`.
fn assemble(root: &ApplianceRoot, secrets: &Secrets) -> Assembly {
    let mut a = Assembly::default();
    // The console log and anything rotated next to it: newest lines matter most.
    let log_dir = root.log_dir();
    for rel in files_under(&log_dir, &[]) {
        let name = format!("log/{}", rel.display());
        a.add_file(name, &log_dir.join(&rel), true);
    }
    // State: journal, slot status, progress, staged manifests, recovery report. Not
    // earlier bundles, and not the recovery host keys (private keys).
    let state = root.state_dir();
    for rel in files_under(&state, &["bundles", "recovery"]) {
        let path = state.join(&rel);
        let name = format!("state/{}", rel.display());
        if secrets.is_secret_file(&path) {
            a.notes
                .push(format!("{name}: left out, it is a secret file"));
            continue;
        }
        a.add_file(name, &path, false);
    }
    match std::fs::read_to_string(root.config_file()) {
        Ok(text) => {
            let (redacted, _) = redact_config(&text);
            a.add("config/appliance.toml", redacted.into_bytes());
        }
        Err(e) => a.notes.push(format!(
            "config/appliance.toml: cannot read \"{}\": {e}",
            root.config_file().display()
        )),
    }
    a.add("system/facts.json", json(&system_facts()));
    a.add("system/block-devices.json", json(&block_devices()));
    a.add("system/interfaces.json", json(&interfaces()));
    let mut routes = Vec::new();
    for (label, p) in [
        ("IPv4 (/proc/net/route)", "/proc/net/route"),
        ("IPv6 (/proc/net/ipv6_route)", "/proc/net/ipv6_route"),
    ] {
        routes.extend_from_slice(format!("# {label}\n").as_bytes());
        routes.extend(std::fs::read(p).unwrap_or_else(|e| format!("unreadable: {e}\n").into()));
    }
    a.add("system/routes.txt", routes);
    match std::fs::read(root.cmdline()) {
        Ok(b) => a.add("system/cmdline.txt", b),
        Err(e) => a.notes.push(format!(
            "system/cmdline.txt: cannot read \"{}\": {e}",
            root.cmdline().display()
        )),
    }
    a.add("versions.json", json(&versions(root)));
    a
}

/// Writes the support bundle of `root` to `out` (default: [`default_path`]) and
/// returns where it went. The file appears complete or not at all.
pub fn write_bundle(root: &ApplianceRoot, out: Option<&Path>) -> Result<PathBuf, BundleError> {
    let path = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_path(root));
    let secrets = Secrets::load(root)?;
    let mut a = assemble(root, &secrets);
    let mut notes = format!(
        "Support bundle of upgrade-console {} made {}.\n\
         Secrets from appliance.toml ({} values) are replaced by {REDACTED} everywhere.\n\
         Each member is capped at {MAX_MEMBER_BYTES} bytes, all copies at {MAX_TOTAL_BYTES}.\n",
        env!("CARGO_PKG_VERSION"),
        crate::appliance::console_log::now_rfc3339(),
        secrets.len()
    );
    for n in &a.notes {
        notes.push_str(n);
        notes.push('\n');
    }
    a.add("README.txt", notes.into_bytes());

    let mut sums = String::new();
    let members: Vec<Member> = a
        .members
        .into_iter()
        .map(|m| {
            let bytes = secrets.scrub(&m.bytes);
            sums.push_str(&format!(
                "{}  {}\n",
                hex::encode(Sha256::digest(&bytes)),
                m.name
            ));
            Member {
                name: m.name,
                bytes,
            }
        })
        .collect();

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
        let mut z = zip::ZipWriter::new(f);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o600);
        for m in members.iter() {
            z.start_file(m.name.as_str(), opts).map_err(zip_err)?;
            z.write_all(&m.bytes).map_err(io_err)?;
        }
        z.start_file("SHA256SUMS", opts).map_err(zip_err)?;
        z.write_all(sums.as_bytes()).map_err(io_err)?;
        let f = z.finish().map_err(zip_err)?;
        f.sync_all().map_err(io_err)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io_err)?;
        sync_dir(&dir).map_err(io_err)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    log::info!("support bundle written: {}", path.display());
    Ok(path)
}

/// The bundle the boot log server offers in recovery: the one made on entering
/// recovery, or a fresh one when it is gone.
pub fn recovery_bundle(root: &ApplianceRoot) -> Result<PathBuf, BundleError> {
    let recorded = crate::state::recovery::load(root)
        .present()
        .and_then(|r| r.bundle)
        .filter(|p| p.is_file());
    match recorded {
        Some(p) => Ok(p),
        None => write_bundle(root, None),
    }
}
