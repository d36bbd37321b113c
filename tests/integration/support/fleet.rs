//! A lab fleet for the Ansible tests: demo appliances, each in its own network
//! namespace with its own sshd, built by ansible/tests/fleet.sh (shared with
//! benches/ansible_cluster.sh), and ansible-playbook run against it from the host
//! namespace (the control side) with the collection installed by ansible-galaxy.

use super::{bin, describe, require_root, require_tool};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::upgrade::journal::{Journal, Record};

/// How long one playbook run may take before the test gives up on it: a hang
/// stopper only (five nodes take well under a minute here).
pub const PLAYBOOK_DEADLINE: Duration = Duration::from_secs(900);

pub struct Fleet {
    pub lab: PathBuf,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fleet_sh() -> PathBuf {
    repo().join("ansible/tests/fleet.sh")
}

/// Runs `cmd` to completion, killing it and failing the test past `deadline`.
pub fn run_bounded(mut cmd: Command, what: &str, deadline: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    // Drain the pipes in threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).ok();
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).ok();
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("waited {deadline:?} for {what} to finish; killed it");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: o.join().expect("stdout thread"),
        stderr: e.join().expect("stderr thread"),
    }
}

impl Fleet {
    /// `n` nodes (sm, cm, minions m1.., managed hosts h1..); `failing` gets the image
    /// that fails in phase 1. `lab` is a short name under /run (sshd StrictModes);
    /// `net` the second octet of its addresses (10.NET.i.0/24), one per fleet so that
    /// fleets of tests running side by side do not share routes.
    pub fn up(lab: &str, net: u8, n: usize, failing: Option<&str>) -> Fleet {
        require_root();
        require_tool("/usr/sbin/sshd", "openssh-server");
        require_tool("ssh", "openssh-client");
        require_tool("ip", "iproute2");
        for t in ["ansible-playbook", "ansible-galaxy"] {
            assert!(
                Command::new(t)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success()),
                "this test needs `{t}` (ansible-core from PyPI): \
                 python3 -m pip install ansible-core==2.19.14, as .ci/run does"
            );
        }
        let lab = PathBuf::from("/run").join(lab);
        let mut cmd = Command::new("bash");
        cmd.arg(fleet_sh())
            .arg("up")
            .arg(&lab)
            .arg(n.to_string())
            .arg(failing.unwrap_or(""))
            .env("UPGRADE_CONSOLE_BIN", bin())
            .env("FLEET_NET", net.to_string());
        let fleet = Fleet { lab };
        let o = run_bounded(cmd, "fleet.sh up", Duration::from_secs(300));
        assert!(o.status.success(), "fleet.sh up failed: {}", describe(&o));
        let mut g = Command::new("ansible-galaxy");
        g.args(["collection", "install", "--force", "-p"])
            .arg(fleet.lab.join("collections"))
            .arg(repo().join("ansible/ansible_collections/appliance/upgrade_console"));
        let o = run_bounded(
            g,
            "ansible-galaxy collection install",
            Duration::from_secs(300),
        );
        assert!(
            o.status.success(),
            "ansible-galaxy failed: {}",
            describe(&o)
        );
        fleet
    }

    pub fn root(&self, node: &str) -> PathBuf {
        self.lab.join("nodes").join(node).join("root")
    }

    /// ansible-playbook PLAYBOOK (a file of the installed collection) with `extra`.
    pub fn playbook(&self, playbook: &str, extra: &[&str]) -> Output {
        let book = self
            .lab
            .join("collections/ansible_collections/appliance/upgrade_console/playbooks")
            .join(playbook);
        let mut cmd = Command::new("ansible-playbook");
        cmd.arg("-i")
            .arg(self.lab.join("inventory.ini"))
            .arg(&book)
            .arg("-e")
            .arg(format!("bundle_dir={}", self.bundles().display()))
            .args(extra)
            .env("ANSIBLE_COLLECTIONS_PATH", self.lab.join("collections"))
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .env("ANSIBLE_LOCAL_TEMP", self.lab.join("ansible-tmp"))
            .env("ANSIBLE_NOCOLOR", "1");
        run_bounded(
            cmd,
            &format!("ansible-playbook {playbook}"),
            PLAYBOOK_DEADLINE,
        )
    }

    /// Where the playbooks put fetched support bundles (on the control side).
    pub fn bundles(&self) -> PathBuf {
        self.lab.join("bundles")
    }

    pub fn journal(&self, node: &str) -> Vec<Record> {
        Journal::open(&ApplianceRoot::new(self.root(node)))
            .unwrap_or_else(|e| panic!("journal of {node}: {e}"))
            .records()
            .cloned()
            .collect()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(fleet_sh())
            .arg("down")
            .arg(&self.lab)
            .env("UPGRADE_CONSOLE_BIN", bin())
            .status();
    }
}

/// The sum of `changed=N` over the PLAY RECAP of an ansible-playbook run.
pub fn changed_total(o: &Output) -> usize {
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("changed="))
        .filter_map(|n| n.parse::<usize>().ok())
        .sum()
}
