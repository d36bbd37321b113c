//! The appliance configuration, `etc/appliance/appliance.toml` (SPEC §3): a fixed
//! part the console uses and a free-form `[product]` part that only the firmware's
//! rules read. Loading validates everything and names the file, line and key of
//! the first problem.

use crate::appliance::root::ApplianceRoot;
use crate::image::version::Version;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub appliance: ApplianceSection,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub web: Web,
    pub slots: Slots,
    #[serde(default)]
    pub ha: Option<Ha>,
    #[serde(default)]
    pub cluster: Option<Cluster>,
    #[serde(default)]
    pub licence: Licence,
    #[serde(default)]
    pub monitor: Monitor,
    #[serde(default)]
    pub storage: Storage,
    /// Read only by the firmware's configuration rules.
    #[serde(default)]
    pub product: toml::Table,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    #[default]
    Physical,
    /// Adds the VM-snapshot and console-redirection prerequisites.
    Virtual,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApplianceSection {
    /// Must match the firmware manifest's product.
    pub product: String,
    pub hostname: String,
    #[serde(default)]
    pub platform: Platform,
    /// Sealed: no SSH, ever, recovery included.
    #[serde(default)]
    pub sealed: bool,
    /// More secret values, as dotted key paths (`product.radius.shared`): kept out
    /// of logs, bundles and the boot log server like the fixed part's own secrets.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Keys (dotted paths) naming files whose whole content is secret.
    #[serde(default)]
    pub secret_files: Vec<String>,
}

/// Keys of the fixed part whose value is itself a secret, as dotted paths. None holds
/// one inline today: passwords live in files (below), never in appliance.toml.
pub const SECRET_VALUES: &[&str] = &[];
/// Keys of the fixed part naming a file whose whole content is a secret.
pub const SECRET_FILES: &[&str] = &["ha.bmc.password_file"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub interfaces: Vec<Interface>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub name: String,
    /// Addresses with prefix length, "192.0.2.10/24".
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Management access in normal operation; recovery SSH listens regardless.
    #[serde(default)]
    pub management: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Destination with prefix, "198.51.100.0/24".
    pub to: String,
    pub via: IpAddr,
}

/// An address with its prefix length, parsed from "192.0.2.10/24".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("\"{s}\" has no prefix length (write it as 192.0.2.10/24)"))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("\"{a}\" is not an IP address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("\"{p}\" is not a prefix length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("prefix /{prefix} is longer than {max}"));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Interface {
    /// The configured addresses (validated on load).
    pub fn cidrs(&self) -> Vec<Cidr> {
        self.addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Web {
    /// Where the boot log server listens.
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Slots {
    #[serde(rename = "A")]
    pub a: String,
    #[serde(rename = "B")]
    pub b: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HaRole {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ha {
    pub role: HaRole,
    /// The other node's address on the HA link.
    pub peer: IpAddr,
    /// This node's own address on the HA link: where its link server listens.
    #[serde(default)]
    pub address: Option<IpAddr>,
    /// The SSH port of the HA link (both nodes use the same).
    #[serde(default = "default_link_port")]
    pub link_port: u16,
    /// The account the link logs in as on the other node.
    #[serde(default = "default_link_user")]
    pub link_user: String,
    /// The other node's BMC (IPMI): the only way to power it on again.
    #[serde(default)]
    pub bmc: Option<Bmc>,
    /// JSON file the HA daemon writes: `{"state": "ok" | "degraded" | "syncing", ...}`.
    #[serde(default)]
    pub status_file: Option<String>,
    /// How long the other node may take to hold the new firmware after the transfer
    /// (the guides: usually within 60 s).
    #[serde(default = "default_sync_timeout")]
    pub sync_timeout_s: u64,
    /// How long the other node may take to power off, and to boot and sync after it
    /// is powered on (a boot with phase 1 takes 10-20 minutes on big databases).
    #[serde(default = "default_power_timeout")]
    pub power_timeout_s: u64,
    #[serde(default = "default_boot_timeout")]
    pub boot_timeout_s: u64,
}

fn default_link_port() -> u16 {
    22
}

fn default_link_user() -> String {
    "root".into()
}

fn default_sync_timeout() -> u64 {
    60
}

fn default_power_timeout() -> u64 {
    300
}

fn default_boot_timeout() -> u64 {
    3600
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bmc {
    pub host: String,
    #[serde(default = "default_ipmi_port")]
    pub port: u16,
    pub user: String,
    /// File holding the BMC password (a secret: never logged, redacted in bundles).
    pub password_file: String,
}

fn default_ipmi_port() -> u16 {
    623
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Roles of this node.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub nodes: Vec<ClusterNode>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterNode {
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub address: Option<String>,
    /// The firmware version the node last reported.
    #[serde(default)]
    pub version: Option<Version>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Licence {
    /// The LTS line the licence covers.
    #[serde(default)]
    pub lts: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    /// JSON file the System Monitor writes: `{"alerts": [{"id": .., "text": ..}]}`.
    #[serde(default = "default_monitor_file")]
    pub status_file: String,
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor {
            status_file: default_monitor_file(),
        }
    }
}

fn default_monitor_file() -> String {
    "var/lib/appliance/monitor.json".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// Directories on the filesystems the upgrade writes to (free space is checked on each).
    #[serde(default = "default_storage_paths")]
    pub paths: Vec<String>,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            paths: default_storage_paths(),
        }
    }
}

fn default_storage_paths() -> Vec<String> {
    vec!["/".into(), "var/lib/upgrade-console".into()]
}

/// A configuration problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}: {problem}")]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is the file as a whole.
    pub line: usize,
    pub key: String,
    pub problem: String,
}

impl Config {
    /// Loads and validates `etc/appliance/appliance.toml` under `root`.
    pub fn load(root: &ApplianceRoot) -> Result<Config, ConfigError> {
        Self::load_file(&root.config_file())
    }

    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let whole = |problem: String| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            key: "(file)".into(),
            problem,
        };
        let meta = std::fs::metadata(path).map_err(|e| {
            whole(format!(
                "cannot read it ({e}); create it or pass the appliance root with --root DIR"
            ))
        })?;
        if meta.len() > 4 << 20 {
            return Err(whole(format!(
                "{} bytes is too large for a configuration file",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| whole(format!("cannot read it as UTF-8 text ({e})")))?;
        Self::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            let (mut key, mut problem) = describe_toml_error(&e);
            // A value serde refuses (wrong type, not an address) has no key in the
            // message: name the key and the value from where the error points.
            if key == "(syntax)"
                && let Some(span) = e.span()
                && let Some(found) = key_at(text, span.start)
            {
                key = found;
                let value = text[span].trim();
                if !value.is_empty() && !problem.contains(value) {
                    problem = format!("{value}: {problem}");
                }
            }
            ConfigError {
                file: path.to_path_buf(),
                line,
                key,
                problem,
            }
        })?;
        if let Err((key, problem)) = cfg.validate() {
            return Err(ConfigError {
                file: path.to_path_buf(),
                line: locate(text, &key),
                key,
                problem,
            });
        }
        Ok(cfg)
    }

    /// Semantic checks serde cannot express; returns the dotted key and the problem.
    fn validate(&self) -> Result<(), (String, String)> {
        let a = &self.appliance;
        if a.product.is_empty() {
            return Err((
                "appliance.product".into(),
                "is empty; set the product name, e.g. \"sps\"".into(),
            ));
        }
        if a.hostname.is_empty() || a.hostname.len() > 253 {
            return Err((
                "appliance.hostname".into(),
                format!("\"{}\" is not a host name", a.hostname),
            ));
        }
        for (i, ifc) in self.network.interfaces.iter().enumerate() {
            let base = format!("network.interfaces[{i}]");
            if ifc.name.is_empty() || ifc.name.len() > 15 || ifc.name.contains(['/', ' ']) {
                return Err((
                    format!("{base}.name"),
                    format!(
                        "\"{}\" is not an interface name (1-15 characters, no '/' or spaces)",
                        ifc.name
                    ),
                ));
            }
            if self.network.interfaces[..i]
                .iter()
                .any(|o| o.name == ifc.name)
            {
                return Err((
                    format!("{base}.name"),
                    format!("\"{}\" is configured twice", ifc.name),
                ));
            }
            for a in &ifc.addresses {
                a.parse::<Cidr>()
                    .map_err(|p| (format!("{base}.addresses"), p))?;
            }
            for (j, r) in ifc.routes.iter().enumerate() {
                r.to.parse::<Cidr>()
                    .map_err(|p| (format!("{base}.routes[{j}].to"), p))?;
            }
        }
        if self.slots.a.trim().is_empty() || self.slots.b.trim().is_empty() {
            return Err((
                "slots".into(),
                "both slots A and B must name a device or image file".into(),
            ));
        }
        if self.slots.a == self.slots.b {
            return Err((
                "slots.B".into(),
                format!(
                    "\"{}\" is also slot A: the two slots must be different devices",
                    self.slots.b
                ),
            ));
        }
        if let Some(ha) = &self.ha
            && let Some(b) = &ha.bmc
            && (b.host.is_empty() || b.user.is_empty() || b.password_file.is_empty())
        {
            return Err((
                "ha.bmc".into(),
                "host, user and password_file must all be set".into(),
            ));
        }
        if let Some(ha) = &self.ha {
            if Some(ha.peer) == ha.address {
                return Err((
                    "ha.peer".into(),
                    format!(
                        "\"{}\" is also this node's own ha.address: set ha.peer to the other node's HA link address",
                        ha.peer
                    ),
                ));
            }
            if ha.link_user.is_empty()
                || !ha
                    .link_user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err((
                    "ha.link_user".into(),
                    format!(
                        "\"{}\" is not an account name (letters, digits, '.', '_', '-')",
                        ha.link_user
                    ),
                ));
            }
            for (key, v) in [
                ("ha.sync_timeout_s", ha.sync_timeout_s),
                ("ha.power_timeout_s", ha.power_timeout_s),
                ("ha.boot_timeout_s", ha.boot_timeout_s),
            ] {
                if v == 0 || v > 7 * 24 * 3600 {
                    return Err((
                        key.into(),
                        format!("{v} is not a deadline: give seconds between 1 and 604800"),
                    ));
                }
            }
        }
        if let Some(c) = &self.cluster {
            for (i, n) in c.nodes.iter().enumerate() {
                if n.name.is_empty() {
                    return Err((format!("cluster.nodes[{i}].name"), "is empty".into()));
                }
            }
        }
        // Every file path the console opens lies under the root; one that climbs out
        // of it with `..` is refused here, naming its key, before anything is opened.
        let mut paths: Vec<(String, &str)> = vec![
            ("slots.A".into(), &self.slots.a),
            ("slots.B".into(), &self.slots.b),
            ("monitor.status_file".into(), &self.monitor.status_file),
        ];
        if let Some(ha) = &self.ha {
            if let Some(b) = &ha.bmc {
                paths.push(("ha.bmc.password_file".into(), &b.password_file));
            }
            if let Some(s) = &ha.status_file {
                paths.push(("ha.status_file".into(), s));
            }
        }
        for (i, p) in self.storage.paths.iter().enumerate() {
            paths.push((format!("storage.paths[{i}]"), p));
        }
        for (key, p) in paths {
            if crate::appliance::root::leaves_root(p) {
                return Err((
                    key,
                    format!(
                        "\"{p}\" leaves the appliance root (its \"..\" climbs above \"/\"); every path is taken under the root: write it from \"/\" without \"..\""
                    ),
                ));
            }
        }
        if self.storage.paths.is_empty() {
            return Err((
                "storage.paths".into(),
                "must list at least one directory".into(),
            ));
        }
        Ok(())
    }

    /// The interface addresses, flattened (for recovery and status).
    pub fn all_addresses(&self) -> Vec<(String, Cidr)> {
        self.network
            .interfaces
            .iter()
            .flat_map(|i| i.cidrs().into_iter().map(move |c| (i.name.clone(), c)))
            .collect()
    }
}

fn describe_toml_error(e: &toml::de::Error) -> (String, String) {
    let msg = e.message().trim().to_string();
    // serde names the key in backticks: "unknown field `foo`, expected ..."
    let key = msg
        .split('`')
        .nth(1)
        .filter(|_| msg.contains("field"))
        .unwrap_or("(syntax)")
        .to_string();
    let fix = if msg.contains("unknown field") {
        "; remove it or check its spelling"
    } else if msg.contains("missing field") {
        "; add it"
    } else {
        ""
    };
    (key, format!("{}{fix}", msg.replace('\n', " ")))
}

/// The dotted key (`network.interfaces[0].gateway`) whose value holds byte `offset`,
/// when the text parses as TOML.
fn key_at(text: &str, offset: usize) -> Option<String> {
    fn in_value(v: &toml_edit::Value, path: String, offset: usize) -> Option<String> {
        match v {
            toml_edit::Value::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    if let Some(k) = in_value(e, format!("{path}[{i}]"), offset) {
                        return Some(k);
                    }
                }
            }
            toml_edit::Value::InlineTable(t) => {
                for (k, e) in t.iter() {
                    if let Some(k) = in_value(e, format!("{path}.{k}"), offset) {
                        return Some(k);
                    }
                }
            }
            _ => {}
        }
        v.span()
            .filter(|s| s.contains(&offset) || s.start == offset)
            .map(|_| path)
    }
    fn in_table(t: &toml_edit::Table, prefix: &str, offset: usize) -> Option<String> {
        for (k, item) in t.iter() {
            let path = if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            };
            let found = match item {
                toml_edit::Item::Value(v) => in_value(v, path, offset),
                toml_edit::Item::Table(t) => in_table(t, &path, offset),
                toml_edit::Item::ArrayOfTables(a) => a
                    .iter()
                    .enumerate()
                    .find_map(|(i, t)| in_table(t, &format!("{path}[{i}]"), offset)),
                toml_edit::Item::None => None,
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
    let doc = text.parse::<toml_edit::Document<String>>().ok()?;
    in_table(doc.as_table(), "", offset)
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Finds the line of a dotted key such as `network.interfaces[1].addresses`, using
/// toml_edit's spans; the nearest enclosing key that has a span when the key itself
/// has none, and 0 when nothing can be found.
pub fn locate(text: &str, key: &str) -> usize {
    let Ok(doc) = text.parse::<toml_edit::Document<String>>() else {
        return 0;
    };
    let mut item: &toml_edit::Item = doc.as_item();
    let mut span = None;
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some(next) = item.get(name) else { break };
        item = next;
        span = item.span().or(span);
        if let Some(i) = index {
            let Some(next) = item.get(i) else { break };
            item = next;
            span = item.span().or(span);
        }
    }
    span.map(|s| line_of(text, s.start)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const SAMPLE: &str = r#"[appliance]
product = "sps"
hostname = "sps-1"
platform = "virtual"

[[network.interfaces]]
name = "eth0"
addresses = ["192.0.2.10/24"]
gateway = "192.0.2.1"
management = true

[[network.interfaces]]
name = "eth1"
addresses = ["198.51.100.10/24", "2001:db8::10/64"]

[web]
listen = ["192.0.2.10:80"]

[slots]
A = "/dev/disk/by-partlabel/rootA"
B = "/dev/disk/by-partlabel/rootB"

[licence]
lts = 7

[product]
disk_fillup_prevention_percent = 80
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("appliance.toml"))
    }

    #[test]
    fn paths_that_leave_the_root_are_refused_by_key() {
        let t = SAMPLE.replace(
            "B = \"/dev/disk/by-partlabel/rootB\"",
            "B = \"/../outside/slotB.img\"",
        );
        let e = parse(&t).unwrap_err();
        assert_eq!((e.key.as_str(), e.line), ("slots.B", 21), "{e}");
        assert!(e.problem.contains("/../outside/slotB.img"), "{e}");
        let t = format!("{SAMPLE}\n[storage]\npaths = [\"/\", \"var/../../x\"]\n");
        assert_eq!(parse(&t).unwrap_err().key, "storage.paths[1]");
        // `..` that stays inside is fine.
        let t = SAMPLE.replace("rootB\"", "x/../rootB\"");
        parse(&t).unwrap();
    }

    #[test]
    fn sample_loads() {
        let c = parse(SAMPLE).unwrap();
        assert_eq!(c.network.interfaces.len(), 2);
        assert_eq!(c.all_addresses().len(), 3);
        assert_eq!(
            c.product["disk_fillup_prevention_percent"].as_integer(),
            Some(80)
        );
        assert_eq!(c.monitor.status_file, "var/lib/appliance/monitor.json");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse(&SAMPLE.replace("198.51.100.10/24", "198.51.100.300/24")).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_str()),
            (14, "network.interfaces[1].addresses"),
            "{e}"
        );
        assert!(e.to_string().contains("198.51.100.300"), "{e}");

        let e = parse(&SAMPLE.replace("hostname = \"sps-1\"", "hostnme = \"sps-1\"")).unwrap_err();
        assert_eq!(e.key, "hostnme");
        assert_eq!(e.line, 3);

        let e = parse(&SAMPLE.replace("rootB", "rootA")).unwrap_err();
        assert_eq!((e.key.as_str(), e.line), ("slots.B", 21), "{e}");

        let e = parse("[appliance\nproduct=1").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
    }
}
