//! Test lab for recovery and the boot log server: an appliance network namespace
//! with two veth interfaces (eth0 with management access, eth1 without) cabled to a
//! support namespace, an appliance root built by `demo` in a directory sshd's
//! StrictModes accepts, a support key, and the real binary run inside the appliance
//! namespace. Drop guards stop the processes and delete the namespaces.

use super::{PATIENCE, bin, require_root, require_tool, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const APPL_ETH0: &str = "10.77.1.1";
pub const APPL_ETH1: &str = "10.77.2.1";
pub const SUP_ETH0: &str = "10.77.1.2";
pub const SUP_ETH1: &str = "10.77.2.2";
pub const WEB_PORT: u16 = 8480;
pub const BMC_SECRET: &str = "lab-bmc-secret-8812";
pub const LDAP_SECRET: &str = "lab-ldap-secret-5521";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn sh(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn ok(cmd: &mut Command) -> String {
    let o = sh(cmd);
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn ip(args: &[&str]) -> String {
    ok(Command::new("ip").args(args))
}

/// A network namespace deleted on drop.
pub struct Netns(pub String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A process killed (SIGTERM, then waited for) on drop.
pub struct Proc(pub Option<Child>);

impl Proc {
    pub fn pid(&self) -> i32 {
        self.0.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }
    /// SIGTERM and the exit status. A process still there after `PATIENCE` is
    /// SIGKILLed, so a stuck one cannot hang the test (its status then says so).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.0.take()?;
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = std::time::Instant::now();
        while start.elapsed() < PATIENCE {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        eprintln!("pid {pid} ignored SIGTERM for {PATIENCE:?}: SIGKILL");
        let _ = c.kill();
        c.wait().ok()
    }
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.as_mut()?.try_wait().ok().flatten()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Kills the sshd recorded in a pid file (a leftover after a failed test).
pub struct PidFileGuard(pub PathBuf);

impl Drop for PidFileGuard {
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

pub struct Lab {
    // Field order is drop order: processes first, then namespaces, then files.
    pub recover: Proc,
    pub sshd_guard: PidFileGuard,
    pub appl: Netns,
    pub sup: Netns,
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub key: PathBuf,
    pub other_key: PathBuf,
}

/// Builds the namespaces, the root (sealed or not) and the keys; starts nothing.
pub fn lab(sealed: bool) -> Lab {
    require_root();
    require_tool("ip", "iproute2");
    require_tool("/usr/sbin/sshd", "openssh-server");
    require_tool("ssh", "openssh-client");
    require_tool("ssh-keygen", "openssh-client");
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let id = format!("{}x{n}", std::process::id());
    let appl = Netns(format!("ucappl{id}"));
    ip(&["netns", "add", &appl.0]);
    let sup = Netns(format!("ucsup{id}"));
    ip(&["netns", "add", &sup.0]);
    // veth names are limited to 15 characters and live in the host namespace at first.
    let short = format!("{}{n}", std::process::id() % 100000);
    for (i, (a_addr, s_addr)) in [(APPL_ETH0, SUP_ETH0), (APPL_ETH1, SUP_ETH1)]
        .iter()
        .enumerate()
    {
        let _ = a_addr;
        let a = format!("ua{i}{short}");
        let s = format!("us{i}{short}");
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &s]);
        ip(&["link", "set", &a, "netns", &appl.0]);
        ip(&["link", "set", &s, "netns", &sup.0]);
        ip(&["-n", &appl.0, "link", "set", &a, "name", &format!("eth{i}")]);
        ip(&[
            "-n",
            &sup.0,
            "addr",
            "add",
            &format!("{s_addr}/24"),
            "dev",
            &s,
        ]);
        ip(&["-n", &sup.0, "link", "set", &s, "up"]);
    }
    ip(&["-n", &appl.0, "link", "set", "lo", "up"]);
    ip(&["-n", &sup.0, "link", "set", "lo", "up"]);

    // sshd's StrictModes refuses keys under any group- or world-writable directory up
    // to / (such as /tmp, where a checkout may well live): the lab lives under /run,
    // which only root can write.
    let base = std::path::Path::new("/run/upgrade-console-tests");
    std::fs::create_dir_all(base).expect("create /run/upgrade-console-tests");
    std::fs::set_permissions(base, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let dir = tempfile::Builder::new()
        .prefix("recovery-lab")
        .tempdir_in(base)
        .expect("tempdir");
    let root = dir.path().join("appliance");
    let o = sh(Command::new(bin())
        .arg("demo")
        .arg(&root)
        .stdin(Stdio::null()));
    assert!(
        o.status.success(),
        "demo: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(root.join("etc/appliance/appliance.toml"), config(sealed)).unwrap();
    std::fs::write(
        root.join("etc/appliance/bmc.pass"),
        format!("{BMC_SECRET}\n"),
    )
    .unwrap();
    let key = dir.path().join("supportkey");
    let other_key = dir.path().join("otherkey");
    for k in [&key, &other_key] {
        ok(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(k));
    }
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    std::fs::write(
        root.join("etc/appliance/support_keys"),
        format!("# support\n{pubkey}"),
    )
    .unwrap();
    let sshd_guard = PidFileGuard(root.join("var/lib/upgrade-console/recovery/sshd.pid"));
    Lab {
        recover: Proc(None),
        sshd_guard,
        appl,
        sup,
        dir,
        root,
        key,
        other_key,
    }
}

pub fn config(sealed: bool) -> String {
    format!(
        r#"[appliance]
product = "sps"
hostname = "sps-lab"
platform = "virtual"
sealed = {sealed}

[[network.interfaces]]
name = "eth0"
addresses = ["{APPL_ETH0}/24"]
gateway = "{SUP_ETH0}"
management = true

[[network.interfaces]]
name = "eth1"
addresses = ["{APPL_ETH1}/24"]
routes = [{{ to = "10.88.0.0/16", via = "{SUP_ETH1}" }}]
management = false

[web]
listen = ["{APPL_ETH0}:{WEB_PORT}", "{APPL_ETH1}:{WEB_PORT}"]

[slots]
A = "var/lib/demo/slotA.img"
B = "var/lib/demo/slotB.img"

[ha]
role = "primary"
peer = "10.0.0.2"
bmc = {{ host = "10.0.1.2", user = "admin", password_file = "etc/appliance/bmc.pass" }}

[licence]
lts = 7

[product]
ldap_bind_password = "lab-ldap-secret-5521"
"#
    )
}

impl Lab {
    pub fn state(&self, rel: &str) -> PathBuf {
        self.root.join("var/lib/upgrade-console").join(rel)
    }

    /// Starts `ip netns exec APPL upgrade-console --root R recover` with stdout in a
    /// file, and waits until recovery.json is written with the log server entry (or
    /// the process ends, which fails the test).
    pub fn start_recover(&mut self) -> PathBuf {
        let out = self.dir.path().join(format!(
            "recover-{}.out",
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let f = std::fs::File::create(&out).unwrap();
        let _ = std::fs::remove_file(self.state("recovery.json"));
        let child = Command::new("ip")
            .args(["netns", "exec", &self.appl.0, bin(), "--root"])
            .arg(&self.root)
            .arg("recover")
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .expect("start recover");
        self.recover = Proc(Some(child));
        let recover = &mut self.recover;
        let report = self.root.join("var/lib/upgrade-console/recovery.json");
        wait_for(
            "recover to write recovery.json with the log server and say RECOVERY MODE",
            PATIENCE,
            || {
                if let Some(st) = recover.exited() {
                    panic!(
                        "recover exited early ({st}): {}",
                        std::fs::read_to_string(&out).unwrap_or_default()
                    );
                }
                let r = std::fs::read_to_string(&report).unwrap_or_default();
                let said = std::fs::read_to_string(&out).unwrap_or_default();
                if r.contains("\"log_server\"") && said.contains("RECOVERY MODE") {
                    Ok(())
                } else {
                    Err(format!("recovery.json: {r:?}; output: {said:?}"))
                }
            },
        );
        out
    }

    pub fn report(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.state("recovery.json")).unwrap())
            .unwrap()
    }

    /// Runs a command in the support namespace.
    pub fn in_support(&self, args: &[&str]) -> Output {
        sh(Command::new("ip")
            .args(["netns", "exec", &self.sup.0])
            .args(args)
            .stdin(Stdio::null()))
    }

    /// ssh from the support namespace with the given key (None: no key at all).
    pub fn ssh(&self, key: Option<&Path>, addr: &str, extra: &[&str]) -> Output {
        let mut args: Vec<String> = vec!["ssh".into()];
        if let Some(k) = key {
            args.extend([
                "-i".into(),
                k.display().to_string(),
                "-o".into(),
                "IdentitiesOnly=yes".into(),
            ]);
        }
        for o in [
            "BatchMode=yes",
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
        ] {
            args.extend(["-o".into(), o.into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(format!("root@{addr}"));
        args.extend(["echo".into(), "ok".into()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.in_support(&refs)
    }
}
