//! The HA lab: two appliance nodes in two network namespaces joined by an HA link (a
//! veth pair, 10.0.0.1 and 10.0.0.2), and a third namespace with the BMCs (OpenIPMI's
//! ipmi_sim; the secondary's at 10.0.1.2, the primary's at 10.0.1.3) reachable from
//! the primary. The secondary's BMC hook powers its node process on (boot phase, HA
//! link server) and off. Built with the demo's pair builder, so the demo and the tests
//! run the same pair.

use super::recovery::{Netns, Proc, ip};
use super::{bin, require_root, require_tool, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use upgrade_console::demo::ha_pair::{self, Pair, PairNet};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct HaLab {
    // Drop order: processes, then the secondary's node, then namespaces, then files.
    pub sims: Vec<Proc>,
    pub primary_link: Proc,
    pub node_guard: NodeGuard,
    pub p: Netns,
    pub s: Netns,
    pub b: Netns,
    pub pair: Pair,
    pub dir: tempfile::TempDir,
    /// The primary's end of the HA link (for its byte counters).
    pub link_dev: String,
}

/// Powers the secondary's node off through its hook when the lab ends.
pub struct NodeGuard(pub PathBuf, pub PathBuf);

impl Drop for NodeGuard {
    fn drop(&mut self) {
        for d in [&self.0, &self.1] {
            let _ = Command::new(d.join("chassis.sh"))
                .args(["0x20", "set", "power", "0"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

pub fn lab() -> HaLab {
    require_root();
    require_tool("ip", "iproute2");
    require_tool("/usr/sbin/sshd", "openssh-server");
    require_tool("ssh", "openssh-client");
    require_tool("ipmi_sim", "openipmi");
    require_tool("ipmitool", "ipmitool");
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let id = format!("{}x{n}", std::process::id());
    let p = Netns(format!("uchap{id}"));
    let s = Netns(format!("uchas{id}"));
    let b = Netns(format!("uchab{id}"));
    for ns in [&p, &s, &b] {
        ip(&["netns", "add", &ns.0]);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
    }
    let short = format!("{}{n}", std::process::id() % 100000);
    // The HA link.
    let (hp, hs) = (format!("hp{short}"), format!("hs{short}"));
    ip(&["link", "add", &hp, "type", "veth", "peer", "name", &hs]);
    ip(&["link", "set", &hp, "netns", &p.0]);
    ip(&["link", "set", &hs, "netns", &s.0]);
    ip(&["-n", &p.0, "addr", "add", "10.0.0.1/24", "dev", &hp]);
    ip(&["-n", &s.0, "addr", "add", "10.0.0.2/24", "dev", &hs]);
    ip(&["-n", &p.0, "link", "set", &hp, "up"]);
    ip(&["-n", &s.0, "link", "set", &hs, "up"]);
    // The management network with the BMCs.
    let (mp, mb) = (format!("mp{short}"), format!("mb{short}"));
    ip(&["link", "add", &mp, "type", "veth", "peer", "name", &mb]);
    ip(&["link", "set", &mp, "netns", &p.0]);
    ip(&["link", "set", &mb, "netns", &b.0]);
    ip(&["-n", &p.0, "addr", "add", "10.0.1.1/24", "dev", &mp]);
    ip(&["-n", &b.0, "addr", "add", "10.0.1.2/24", "dev", &mb]);
    ip(&["-n", &b.0, "addr", "add", "10.0.1.3/24", "dev", &mb]);
    ip(&["-n", &p.0, "link", "set", &mp, "up"]);
    ip(&["-n", &b.0, "link", "set", &mb, "up"]);

    let dir = tempfile::tempdir().expect("tempdir");
    let exec = |ns: &Netns| {
        vec![
            "ip".to_string(),
            "netns".into(),
            "exec".into(),
            ns.0.clone(),
        ]
    };
    let net = PairNet {
        primary: "10.0.0.1".into(),
        secondary: "10.0.0.2".into(),
        link_port: 22,
        bmc: "10.0.1.2".into(),
        primary_bmc: "10.0.1.3".into(),
        bmc_port: 623,
        primary_prefix: exec(&p),
        secondary_prefix: exec(&s),
        link_user: "root".into(),
    };
    let pair = ha_pair::build(&dir.path().join("pair"), &net, Path::new(bin()))
        .unwrap_or_else(|e| panic!("building the pair: {e:#}"));
    // Deadlines of a test: short enough to see a stuck step, far above normal.
    for root in [&pair.primary, &pair.secondary] {
        edit_config(root, |doc| {
            doc["ha"]["power_timeout_s"] = toml_edit::value(20);
            doc["ha"]["boot_timeout_s"] = toml_edit::value(60);
            doc["ha"]["sync_timeout_s"] = toml_edit::value(60);
        });
    }
    let mut lab = HaLab {
        sims: vec![],
        primary_link: Proc(None),
        node_guard: NodeGuard(pair.bmc_dir.clone(), pair.primary_bmc_dir.clone()),
        p,
        s,
        b,
        pair,
        dir,
        link_dev: hp,
    };
    lab.start_bmcs();
    let log = std::fs::File::create(lab.pair.dir.join("primary-link.log")).unwrap();
    lab.primary_link = Proc(Some(
        Command::new("ip")
            .args(["netns", "exec", &lab.p.0, bin(), "--root"])
            .arg(&lab.pair.primary)
            .args(["ha", "serve-link"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("ha serve-link"),
    ));
    // Power the secondary on as an operator would, and wait until the pair is healthy.
    let o = lab.ipmitool(
        &lab.pair.bmc_dir.clone(),
        "10.0.1.2",
        &["chassis", "power", "on"],
    );
    assert!(
        o.status.success(),
        "ipmitool power on: {}",
        super::describe(&o)
    );
    lab.wait_pair_healthy();
    lab
}

pub fn edit_config(root: &Path, f: impl FnOnce(&mut toml_edit::DocumentMut)) {
    let path = root.join("etc/appliance/appliance.toml");
    let mut doc: toml_edit::DocumentMut = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    f(&mut doc);
    std::fs::write(&path, doc.to_string()).unwrap();
}

impl HaLab {
    pub fn start_bmcs(&mut self) {
        for d in [self.pair.bmc_dir.clone(), self.pair.primary_bmc_dir.clone()] {
            let prefix = ["ip", "netns", "exec", &self.b.0].map(String::from);
            let mut sim = ha_pair::bmc_command(&d, &prefix).expect("ipmi_sim's log");
            self.sims.push(Proc(Some(sim.spawn().expect("ipmi_sim"))));
        }
        let dir = self.pair.bmc_dir.clone();
        wait_for("the secondary's BMC to answer", super::PATIENCE, || {
            let o = self.ipmitool(&dir, "10.0.1.2", &["chassis", "power", "status"]);
            if o.status.success() {
                Ok(())
            } else {
                Err(super::text(&o))
            }
        });
    }

    pub fn stop_bmcs(&mut self) {
        for mut s in self.sims.drain(..) {
            s.terminate();
        }
    }

    /// ipmitool from the primary's namespace, with the password from the BMC's config.
    pub fn ipmitool(&self, bmc_dir: &Path, host: &str, args: &[&str]) -> Output {
        let lan = std::fs::read_to_string(bmc_dir.join("lan.conf")).unwrap();
        let pw = lan
            .lines()
            .find(|l| l.trim_start().starts_with("user 2"))
            .and_then(|l| l.split('"').nth(3))
            .unwrap()
            .to_string();
        Command::new("ip")
            .args([
                "netns", "exec", &self.p.0, "ipmitool", "-I", "lanplus", "-C", "3",
            ])
            .args([
                "-H", host, "-p", "623", "-U", "admin", "-E", "-N", "1", "-R", "2",
            ])
            .args(args)
            .env("IPMI_PASSWORD", pw)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn secondary_power(&self) -> String {
        let o = self.ipmitool(
            &self.pair.bmc_dir,
            "10.0.1.2",
            &["chassis", "power", "status"],
        );
        super::text(&o)
    }

    /// The binary in a node's namespace with that node's root.
    pub fn on(&self, primary: bool, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let (ns, root) = if primary {
            (&self.p, &self.pair.primary)
        } else {
            (&self.s, &self.pair.secondary)
        };
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &ns.0, bin(), "--root"])
            .arg(root)
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in envs {
            c.env(k, v);
        }
        std::os::unix::process::CommandExt::process_group(&mut c, 0);
        c.output().unwrap()
    }

    pub fn status(&self, primary: bool) -> serde_json::Value {
        let o = self.on(primary, &["--json", "ha", "status"], &[]);
        assert!(o.status.success(), "ha status: {}", super::describe(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    pub fn wait_pair_healthy(&self) {
        wait_for(
            "the pair to answer healthy on the HA link",
            super::PATIENCE,
            || {
                let s = self.status(true);
                if s["other_node"]["health"] == "ok" {
                    Ok(())
                } else {
                    Err(s.to_string())
                }
            },
        );
    }

    pub fn image(&self, name: &str) -> PathBuf {
        self.pair.primary.join("images").join(name)
    }

    pub fn link_tx_bytes(&self) -> u64 {
        let out = ip(&["-n", &self.p.0, "-s", "-j", "link", "show", &self.link_dev]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0]["stats64"]["tx"]["bytes"].as_u64().unwrap_or(0)
    }

    pub fn set_link(&self, up: bool) {
        ip(&[
            "-n",
            &self.p.0,
            "link",
            "set",
            &self.link_dev,
            if up { "up" } else { "down" },
        ]);
    }

    pub fn journal_events(&self, primary: bool) -> Vec<serde_json::Value> {
        let root = if primary {
            &self.pair.primary
        } else {
            &self.pair.secondary
        };
        // "SEQ CHECKSUM JSON" per line.
        std::fs::read_to_string(root.join("var/lib/upgrade-console/journal.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.splitn(3, ' ').nth(2))
            .filter_map(|j| serde_json::from_str::<serde_json::Value>(j).ok())
            .collect()
    }

    /// The events named `name` in a node's journal.
    pub fn events(&self, primary: bool, name: &str) -> Vec<serde_json::Value> {
        self.journal_events(primary)
            .into_iter()
            .filter(|e| e["event"] == name)
            .collect()
    }

    pub fn wait_secondary(&self, what: &str, f: impl Fn(&serde_json::Value) -> bool) {
        wait_for(what, super::PATIENCE, || {
            let s = self.status(true);
            if f(&s["other_node"]) {
                Ok(())
            } else {
                Err(s.to_string())
            }
        });
    }

    pub fn kill_primary_link(&mut self) {
        self.primary_link.terminate();
    }

    pub fn no_wait(&self) -> Duration {
        Duration::from_secs(0)
    }
}
