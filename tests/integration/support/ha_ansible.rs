//! The control side for the HA lab (support/ha.rs): a management veth from the host
//! namespace into the primary's namespace, an sshd of its own there (root by key
//! only), an inventory naming the primary, and the collection installed by
//! ansible-galaxy, so that ansible-playbook reaches the primary over real SSH. The
//! lab itself is not changed; this side is torn down before it.

use super::fleet::run_bounded;
use super::ha::HaLab;
use super::recovery::{Proc, ip};
use super::{PATIENCE, describe, require_tool, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// How long one playbook run may take: a hang stopper only.
pub const PLAYBOOK_DEADLINE: Duration = Duration::from_secs(900);

pub struct ControlSide {
    // Drop order: sshd, then the veth, then the files.
    pub sshd: Proc,
    host_veth: String,
    /// The primary's management address, where its sshd listens.
    pub address: String,
    pub dir: tempfile::TempDir,
}

impl Drop for ControlSide {
    fn drop(&mut self) {
        self.sshd.terminate();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_veth])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn keygen(path: &Path) {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen");
    assert!(o.status.success(), "ssh-keygen: {}", describe(&o));
}

/// The primary of `lab` reachable by Ansible over SSH from the host namespace, with
/// `image` (a path on the primary) as `upgrade_console_image` in the inventory.
pub fn control_side(lab: &HaLab, image: &Path) -> ControlSide {
    require_tool("ssh-keygen", "openssh-client");
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
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let short = format!("{}{n}", std::process::id() % 100000);
    let (hv, pv) = (format!("ua{short}"), format!("ub{short}"));
    // 10.216.N.0/24: a net per control side, apart from the fleets' 10.211-213 and the
    // lab's 10.0.0-1.
    let net = 216;
    let host = format!("10.{net}.{}.1", n % 250);
    let address = format!("10.{net}.{}.2", n % 250);
    ip(&["link", "add", &hv, "type", "veth", "peer", "name", &pv]);
    ip(&["link", "set", &pv, "netns", &lab.p.0]);
    ip(&["addr", "add", &format!("{host}/24"), "dev", &hv]);
    ip(&["link", "set", &hv, "up"]);
    ip(&[
        "-n",
        &lab.p.0,
        "addr",
        "add",
        &format!("{address}/24"),
        "dev",
        &pv,
    ]);
    ip(&["-n", &lab.p.0, "link", "set", &pv, "up"]);

    // Under /run: sshd's StrictModes refuses keys below a world-writable /tmp.
    let dir = tempfile::Builder::new()
        .prefix("ucha-ansible")
        .tempdir_in("/run")
        .expect("tempdir in /run");
    let d = dir.path().to_path_buf();
    std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    keygen(&d.join("id_ed25519"));
    keygen(&d.join("host_key"));
    std::fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys")).unwrap();
    std::fs::write(
        d.join("sshd_config"),
        format!(
            "ListenAddress {address}:22\nHostKey {hk}\nPidFile {pid}\nAuthorizedKeysFile {ak}\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes yes\n\
             Subsystem sftp internal-sftp\n",
            hk = d.join("host_key").display(),
            pid = d.join("sshd.pid").display(),
            ak = d.join("authorized_keys").display(),
        ),
    )
    .unwrap();
    let sshd = Proc(Some(
        Command::new("ip")
            .args(["netns", "exec", &lab.p.0, "/usr/sbin/sshd", "-D", "-f"])
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("sshd"),
    ));
    let side = ControlSide {
        sshd,
        host_veth: hv,
        address: address.clone(),
        dir,
    };
    wait_for("the primary's sshd to accept a key login", PATIENCE, || {
        let o = side.ssh(&["true"]);
        if o.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}; sshd log: {}",
                describe(&o),
                std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            ))
        }
    });

    let python = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v python3"])
            .output()
            .expect("sh")
            .stdout,
    )
    .unwrap();
    std::fs::write(
        d.join("inventory.ini"),
        format!(
            "[ha_primary]\nprimary ansible_host={address} upgrade_console_root={root} \
             upgrade_console_image={image}\n[all:vars]\nansible_user=root\n\
             ansible_ssh_private_key_file={key}\n\
             ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10'\n\
             ansible_python_interpreter={python}\nupgrade_console_binary={bin}\n",
            root = lab.pair.primary.display(),
            image = image.display(),
            key = d.join("id_ed25519").display(),
            python = python.trim(),
            bin = super::bin(),
        ),
    )
    .unwrap();
    let mut g = Command::new("ansible-galaxy");
    g.args(["collection", "install", "--force", "-p"])
        .arg(d.join("collections"))
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
    side
}

impl ControlSide {
    /// `ssh root@primary ARGS` from the host namespace with the lab's key.
    pub fn ssh(&self, args: &[&str]) -> Output {
        Command::new("ssh")
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
            .args([
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "ConnectTimeout=5",
            ])
            .arg("-i")
            .arg(self.dir.path().join("id_ed25519"))
            .arg(format!("root@{}", self.address))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ssh")
    }

    /// Where the playbook puts fetched support bundles (on the control side).
    pub fn bundles(&self) -> PathBuf {
        self.dir.path().join("bundles")
    }

    /// ansible-playbook PLAYBOOK (a file of the installed collection) with `extra`.
    /// No ControlPersist: no SSH session outlives a run in the primary's namespace.
    pub fn playbook(&self, playbook: &str, extra: &[&str]) -> Output {
        let d = self.dir.path();
        let book = d
            .join("collections/ansible_collections/appliance/upgrade_console/playbooks")
            .join(playbook);
        let mut cmd = Command::new("ansible-playbook");
        cmd.arg("-i")
            .arg(d.join("inventory.ini"))
            .arg(&book)
            .arg("-e")
            .arg(format!("bundle_dir={}", self.bundles().display()))
            .args(extra)
            .env("ANSIBLE_COLLECTIONS_PATH", d.join("collections"))
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .env("ANSIBLE_SSH_ARGS", "-o ControlMaster=no")
            .env("ANSIBLE_LOCAL_TEMP", d.join("ansible-tmp"))
            .env("ANSIBLE_NOCOLOR", "1");
        run_bounded(
            cmd,
            &format!("ansible-playbook {playbook}"),
            PLAYBOOK_DEADLINE,
        )
    }
}
