//! `demo --ha DIR`: an HA pair of demo appliances. Two roots (DIR/primary and
//! DIR/secondary) with the same vendor key, each other's link keys pinned, and a real
//! BMC simulator (OpenIPMI's ipmi_sim) for the secondary whose chassis hook powers the
//! secondary's node on (its firmware picks the slot, its boot phase runs, its HA link
//! server starts) and off. The tests build the same pair inside network namespaces.

use anyhow::{Context, bail};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use upgrade_core::appliance::durable::write_atomic;
use upgrade_core::appliance::root::ApplianceRoot;

/// Where the pair's parts live and listen.
#[derive(Debug, Clone)]
pub struct PairNet {
    pub primary: String,
    pub secondary: String,
    pub link_port: u16,
    /// The secondary's BMC (the primary's configuration points here) and the
    /// primary's (the secondary's configuration points there: after the role swap
    /// the new primary powers the other node through it).
    pub bmc: String,
    pub primary_bmc: String,
    pub bmc_port: u16,
    /// Run before each node's commands (the tests: `ip netns exec NS`).
    pub primary_prefix: Vec<String>,
    pub secondary_prefix: Vec<String>,
    pub link_user: String,
}

impl PairNet {
    /// The demo's: three loopback addresses, unprivileged ports.
    pub fn loopback() -> PairNet {
        PairNet {
            primary: "127.0.0.2".into(),
            secondary: "127.0.0.3".into(),
            link_port: 2222,
            bmc: "127.0.0.4".into(),
            primary_bmc: "127.0.0.5".into(),
            bmc_port: 9623,
            primary_prefix: vec![],
            secondary_prefix: vec![],
            link_user: current_user(),
        }
    }
}

pub fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "root".into())
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Pair {
    pub dir: PathBuf,
    pub primary: PathBuf,
    pub secondary: PathBuf,
    /// The secondary's BMC simulator, and the primary's.
    pub bmc_dir: PathBuf,
    pub primary_bmc_dir: PathBuf,
    pub image: PathBuf,
}

const HARDWARE: &str = "SPS T4 (demo)";

/// Builds the pair (reusing demo roots already there) and its BMC configuration.
pub fn build(dir: &Path, net: &PairNet, exe: &Path) -> anyhow::Result<Pair> {
    std::fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    let p = dir.join("primary");
    let s = dir.join("secondary");
    crate::demo::build(&p, false)?;
    crate::demo::build(&s, false)?;
    let (pr, sr) = (ApplianceRoot::new(&p), ApplianceRoot::new(&s));
    // One vendor: the secondary trusts the key the primary's images are signed with.
    std::fs::copy(
        crate::demo::signing::demo_key_file(&pr),
        crate::demo::signing::demo_key_file(&sr),
    )?;
    // Each node holds the password of the other node's BMC.
    let (pw_secondary, pw_primary) = (
        format!("demo-bmc-{:08x}", rand_u32()),
        format!("demo-bmc-{:08x}", rand_u32()),
    );
    let bmc_dir = dir.join("bmc");
    let primary_bmc_dir = dir.join("bmc-primary");
    let fresh = upgrade_core::appliance::config::Config::load(&pr)?
        .ha
        .is_none();
    let nodes = [
        (
            &pr,
            NodeSpec {
                role: "primary",
                me: &net.primary,
                peer: &net.secondary,
                host: "sps-1",
                web: 8480,
                bmc: &net.bmc,
            },
            &pw_secondary,
        ),
        (
            &sr,
            NodeSpec {
                role: "secondary",
                me: &net.secondary,
                peer: &net.primary,
                host: "sps-2",
                web: 8481,
                bmc: &net.primary_bmc,
            },
            &pw_primary,
        ),
    ];
    for (root, spec, password) in nodes {
        if fresh {
            write_ha_config(root, &spec, net)?;
        }
        write_atomic(
            &root.resolve("sys/class/dmi/id/product_name"),
            format!("{HARDWARE}\n").as_bytes(),
        )?;
        write_atomic(
            &root.resolve("var/lib/ha/status.json"),
            b"{\"state\": \"ok\"}\n",
        )?;
        let pass = root.resolve("etc/appliance/bmc.pass");
        write_atomic(&pass, format!("{password}\n").as_bytes())?;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600))?;
        upgrade_core::ha::link::ensure_node_key(root)?;
        let plan = link_plan(root, exe)?;
        plan.prepare()?;
    }
    // Pin each other's keys.
    for (a, b, b_addr) in [(&pr, &sr, &net.secondary), (&sr, &pr, &net.primary)] {
        let node =
            std::fs::read_to_string(upgrade_core::ha::link::node_key(a).with_extension("pub"))?;
        write_atomic(
            &upgrade_core::ha::link::peer_keys(b),
            format!("restrict {}\n", node.trim()).as_bytes(),
        )?;
        let plan = link_plan(b, exe)?;
        let mut lines = String::new();
        for k in &plan.host_keys {
            let text = std::fs::read_to_string(k.with_extension("pub"))?;
            let mut w = text.split_whitespace();
            if let (Some(t), Some(key)) = (w.next(), w.next()) {
                // ssh names a host on port 22 by its address alone.
                let host = if net.link_port == 22 {
                    b_addr.to_string()
                } else {
                    format!("[{b_addr}]:{}", net.link_port)
                };
                lines.push_str(&format!("{host} {t} {key}\n"));
            }
        }
        write_atomic(&upgrade_core::ha::link::known_hosts(a), lines.as_bytes())?;
    }
    write_bmc(
        &bmc_dir,
        &s,
        &net.bmc,
        net.bmc_port,
        &net.secondary_prefix,
        &pw_secondary,
        exe,
    )?;
    write_bmc(
        &primary_bmc_dir,
        &p,
        &net.primary_bmc,
        net.bmc_port,
        &net.primary_prefix,
        &pw_primary,
        exe,
    )?;
    // The primary is running (the demo's console is on it).
    write_atomic(&primary_bmc_dir.join("power-on"), b"")?;
    Ok(Pair {
        image: p.join("images/sps-7.3.1.iso"),
        primary: p,
        secondary: s,
        bmc_dir,
        primary_bmc_dir,
        dir,
    })
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    u32::from_le_bytes(b)
}

pub fn link_plan(
    root: &ApplianceRoot,
    exe: &Path,
) -> anyhow::Result<upgrade_core::recovery::sshd::SshdPlan> {
    let config = upgrade_core::appliance::config::Config::load(root)?;
    upgrade_core::ha::link::server_plan(root, &config, exe).map_err(anyhow::Error::msg)
}

/// One node's place in the pair.
struct NodeSpec<'a> {
    role: &'a str,
    me: &'a str,
    peer: &'a str,
    host: &'a str,
    web: u16,
    /// The other node's BMC.
    bmc: &'a str,
}

fn write_ha_config(root: &ApplianceRoot, n: &NodeSpec<'_>, net: &PairNet) -> anyhow::Result<()> {
    let path = root.config_file();
    let text = std::fs::read_to_string(&path)?;
    let mut doc: toml_edit::DocumentMut = text.parse()?;
    doc["appliance"]["hostname"] = toml_edit::value(n.host);
    doc["appliance"]["platform"] = toml_edit::value("physical");
    doc["web"]["listen"] = toml_edit::value(toml_edit::Array::from_iter([format!(
        "127.0.0.1:{}",
        n.web
    )]));
    let mut ha = toml_edit::Table::new();
    ha.decor_mut()
        .set_prefix("\n# The HA pair (demo --ha): the other node, its BMC, the link.\n");
    ha["role"] = toml_edit::value(n.role);
    ha["peer"] = toml_edit::value(n.peer);
    ha["address"] = toml_edit::value(n.me);
    ha["link_port"] = toml_edit::value(i64::from(net.link_port));
    ha["link_user"] = toml_edit::value(net.link_user.as_str());
    ha["status_file"] = toml_edit::value("var/lib/ha/status.json");
    ha["sync_timeout_s"] = toml_edit::value(60);
    ha["power_timeout_s"] = toml_edit::value(30);
    ha["boot_timeout_s"] = toml_edit::value(120);
    let mut bmc = toml_edit::InlineTable::new();
    bmc.insert("host", n.bmc.into());
    bmc.insert("port", i64::from(net.bmc_port).into());
    bmc.insert("user", "admin".into());
    bmc.insert("password_file", "etc/appliance/bmc.pass".into());
    ha["bmc"] = toml_edit::value(bmc);
    doc.insert("ha", toml_edit::Item::Table(ha));
    let new = doc.to_string();
    upgrade_core::appliance::config::Config::parse(&new, &path)?;
    write_atomic(&path, new.as_bytes())?;
    Ok(())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// ipmi_sim's configuration, emulator script and chassis hook for one node.
fn write_bmc(
    dir: &Path,
    node: &Path,
    addr: &str,
    port: u16,
    node_prefix: &[String],
    password: &str,
    exe: &Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("state"))?;
    let hook = dir.join("chassis.sh");
    let lan = format!(
        "# BMC simulator of a node of the demo pair (OpenIPMI ipmi_sim).\n\
name \"node-bmc\"\n\
set_working_mc 0x20\n\
  startlan 1\n\
    addr {} {}\n\
    priv_limit admin\n\
    allowed_auths_callback none md2 md5 straight\n\
    allowed_auths_user none md2 md5 straight\n\
    allowed_auths_operator none md2 md5 straight\n\
    allowed_auths_admin none md2 md5 straight\n\
    guid a123456789abcdefa123456789abcdef\n\
  endlan\n\
  chassis_control \"{} 0x20\"\n\
  user 2 true \"admin\" \"{password}\" admin 10 none md2 md5 straight\n",
        addr,
        port,
        hook.display()
    );
    write_atomic(&dir.join("lan.conf"), lan.as_bytes())?;
    std::fs::set_permissions(dir.join("lan.conf"), std::fs::Permissions::from_mode(0o600))?;
    write_atomic(
        &dir.join("node.emu"),
        b"mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n",
    )?;
    let prefix: Vec<String> = node_prefix.iter().map(|p| shell_quote(p)).collect();
    let script = format!(
        r#"#!/bin/sh
# chassis_control hook of a demo BMC: its node's power.
# ipmi_sim runs "chassis.sh 0x20 get power" and "chassis.sh 0x20 set power 1|0"
# (also "set shutdown 1" for a soft shutdown, "set reset 1").
D={dir}
R={root}
BIN={exe}
up() {{ touch "$D/power-on"; setsid {prefix} "$BIN" --root "$R" ha sim-node up >>"$D/node.log" 2>&1 </dev/null & echo $! >"$D/node.pid"; }}
down() {{ {prefix} "$BIN" --root "$R" ha sim-node down >>"$D/node.log" 2>&1 </dev/null; rm -f "$D/power-on"; }}
case "$2 $3" in
  "get power") if [ -f "$D/power-on" ]; then echo power:1; else echo power:0; fi ;;
  "set power") if [ "$4" = 1 ]; then [ -f "$D/power-on" ] || up; else down; fi ;;
  "set shutdown") down ;;
  "set reset") down; up ;;
  "get "*) echo "$3:0" ;;
esac
exit 0
"#,
        dir = shell_quote(&dir.display().to_string()),
        root = shell_quote(&node.display().to_string()),
        exe = shell_quote(&exe.display().to_string()),
        prefix = prefix.join(" "),
    );
    write_atomic(&hook, script.as_bytes())?;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// The running parts of a pair (stopped on drop).
pub struct Running {
    pub children: Vec<std::process::Child>,
    /// The BMCs whose nodes are powered off when the pair stops.
    pub bmc_dirs: Vec<PathBuf>,
}

impl Running {
    pub fn stop(&mut self) {
        // The nodes (their link servers) first, through their own hooks.
        for dir in &self.bmc_dirs {
            let _ = Command::new(dir.join("chassis.sh"))
                .args(["0x20", "set", "power", "0"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the BMC simulator and the primary's link server, and powers the secondary
/// on through the BMC (ipmitool, as the procedure does), waiting until it answers.
pub fn start(
    pair: &Pair,
    exe: &Path,
    primary_prefix: &[String],
    bmc_prefix: &[String],
) -> anyhow::Result<Running> {
    let mut running = Running {
        children: vec![],
        bmc_dirs: vec![pair.bmc_dir.clone(), pair.primary_bmc_dir.clone()],
    };
    for dir in [&pair.bmc_dir, &pair.primary_bmc_dir] {
        let mut sim = bmc_command(dir, bmc_prefix)?;
        running.children.push(
            sim.spawn()
                .context("cannot start ipmi_sim (install the openipmi package)")?,
        );
    }
    let plog = std::fs::File::create(pair.dir.join("primary-link.log"))?;
    let mut link = prefixed(primary_prefix, &exe.display().to_string());
    link.arg("--root")
        .arg(&pair.primary)
        .args(["ha", "serve-link"])
        .stdin(Stdio::null())
        .stdout(plog.try_clone()?)
        .stderr(plog);
    running.children.push(link.spawn()?);
    // The BMC answers within a second; then power the secondary on.
    let pr = ApplianceRoot::new(&pair.primary);
    let config = upgrade_core::appliance::config::Config::load(&pr)?;
    let ipmi =
        upgrade_core::ha::procedure::ipmi_for(&pr, &config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let power = loop {
        match ipmi.power_status() {
            Ok(t) => break t.value,
            Err(e) if Instant::now() >= deadline => bail!(
                "the BMC simulator does not answer: {e}; see {}",
                pair.bmc_dir.join("ipmi_sim.log").display()
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    if power == upgrade_core::ha::ipmi::Power::Off {
        ipmi.power_on().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let link = upgrade_core::ha::link::Link::from_config(&pr, &config)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match link.state() {
            Ok(s) if s.healthy() => break,
            Ok(_) => {}
            Err(e) if Instant::now() >= deadline => bail!(
                "the secondary does not answer on the HA link: {e}; see {}",
                pair.bmc_dir.join("node.log").display()
            ),
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            bail!("the secondary does not report a healthy HA state");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(running)
}

/// ipmi_sim for the BMC whose files are in `dir` (after `prefix`, say `ip netns exec
/// NS`), its output in dir/ipmi_sim.log.
pub fn bmc_command(dir: &Path, prefix: &[String]) -> std::io::Result<Command> {
    let log = std::fs::File::create(dir.join("ipmi_sim.log"))?;
    let mut sim = prefixed(prefix, "ipmi_sim");
    sim.arg("-c")
        .arg(dir.join("lan.conf"))
        .arg("-f")
        .arg(dir.join("node.emu"))
        .arg("-s")
        .arg(dir.join("state"))
        .arg("-n")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    Ok(sim)
}

fn prefixed(prefix: &[String], program: &str) -> Command {
    match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
        None => Command::new(program),
    }
}
