//! Recovery SSH and the network guard under attack (issue 10, items 7-9): a sealed
//! appliance stops an sshd that is already running; a name attached to the host's
//! namespace does not fool the demo-root guard; the recovery sshd lets the support
//! user in by key and nothing else (no other account, no forwarding, modern
//! algorithms, VERBOSE log), and scp works.

use crate::support::recovery::*;
use crate::support::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A TCP connect from the support namespace (bash's /dev/tcp), bounded by `timeout`.
fn connects(lab: &Lab, addr: &str, port: u16) -> bool {
    lab.in_support(&[
        "timeout",
        "5",
        "bash",
        "-c",
        &format!("exec 3<>/dev/tcp/{addr}/{port}"),
    ])
    .status
    .success()
}

/// Waits until `what` holds, through the shared deadline helper.
fn wait_until(secs: u64, name: &str, mut what: impl FnMut() -> bool) {
    crate::support::wait_for(name, Duration::from_secs(secs), || {
        if what() {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
}

fn log_text(lab: &Lab) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(lab.root.join("var/log/upgrade-console"))
        .into_iter()
        .flatten()
        .flatten()
    {
        all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
    }
    all
}

/// ssh from the support namespace as `user` with the support key.
fn ssh_as(lab: &Lab, user: &str, extra: &[&str], command: &[&str]) -> std::process::Output {
    let key = lab.key.display().to_string();
    let target = format!("{user}@{APPL_ETH0}");
    let mut args = vec![
        "ssh",
        "-i",
        &key,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=10",
    ];
    args.extend(extra);
    args.push(&target);
    args.extend(command);
    lab.in_support(&args)
}

#[test]
fn sealing_stops_a_running_recovery_sshd() {
    let mut lab = lab(false);
    lab.start_recover();
    assert_eq!(lab.report()["ssh_port"], 22, "{}", lab.report());
    wait_until(10, "sshd on :22 before sealing", || {
        connects(&lab, APPL_ETH0, 22)
    });

    // The first recover keeps running (and supervising its sshd) while the box is
    // sealed and recover runs again.
    let _first = std::mem::replace(&mut lab.recover, Proc(None));
    std::fs::write(lab.root.join("etc/appliance/appliance.toml"), config(true)).unwrap();
    let out = lab.start_recover();

    assert!(
        !connects(&lab, APPL_ETH0, 22),
        "sshd still on :22 after sealing"
    );
    assert!(
        !connects(&lab, APPL_ETH1, 22),
        "sshd still on :22 after sealing"
    );
    let r = lab.report();
    assert_eq!(r["sealed"], true, "{r}");
    assert!(r["ssh_port"].is_null(), "{r}");
    let why = r["ssh_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("sealed") && why.contains("stopped the recovery sshd"),
        "{r}"
    );
    let console = std::fs::read_to_string(&out).unwrap();
    assert!(
        console.contains("SSH:        sealed: no SSH (stopped the recovery sshd"),
        "{console}"
    );
    // The first recover's supervisor tries to bring its sshd back and is refused.
    wait_until(
        15,
        "the first recover's supervisor to try restarting sshd",
        || log_text(&lab).contains("the appliance is sealed"),
    );
    assert!(
        !connects(&lab, APPL_ETH0, 22),
        "the supervisor brought sshd back"
    );
}

#[test]
fn sealing_while_recover_runs_stops_its_sshd_at_once() {
    let mut lab = lab(false);
    lab.start_recover();
    wait_until(10, "sshd on :22 before sealing", || {
        connects(&lab, APPL_ETH0, 22)
    });
    // Nobody runs recover again: the running supervisor itself must notice.
    std::fs::write(lab.root.join("etc/appliance/appliance.toml"), config(true)).unwrap();
    wait_until(
        15,
        "sshd to stop after sealing, recover still running",
        || !connects(&lab, APPL_ETH0, 22) && !connects(&lab, APPL_ETH1, 22),
    );
    assert!(
        lab.recover.exited().is_none(),
        "recover ended instead of staying in recovery without SSH"
    );
    // The supervisor stops sshd first, then records it: the report follows.
    let said = |r: &serde_json::Value| {
        r["ssh_port"].is_null()
            && r["ssh_error"]
                .as_str()
                .unwrap_or_default()
                .contains("stopped the recovery sshd")
    };
    wait_until(15, "the recovery report to say sshd was stopped", || {
        said(&lab.report())
    });
    let r = lab.report();
    assert!(said(&r), "{r}");
    // And it does not come back.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !connects(&lab, APPL_ETH0, 22),
        "sshd came back on a sealed box"
    );
}

#[test]
fn boot_on_a_sealed_box_stops_a_recovery_sshd_left_running() {
    let mut lab = lab(false);
    lab.start_recover();
    wait_until(10, "sshd on :22", || connects(&lab, APPL_ETH0, 22));
    // The supervising recover dies without cleaning up (SIGKILL): its sshd lives on.
    let pid = lab.recover.pid();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    wait_until(10, "recover to die", || lab.recover.exited().is_some());
    assert!(
        connects(&lab, APPL_ETH0, 22),
        "the orphaned sshd should still listen before boot"
    );
    std::fs::write(lab.root.join("etc/appliance/appliance.toml"), config(true)).unwrap();
    let o = Command::new("ip")
        .args(["netns", "exec", &lab.appl.0, bin(), "--root"])
        .arg(&lab.root)
        .arg("boot")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !connects(&lab, APPL_ETH0, 22),
        "sshd still on :22 after boot on a sealed box: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        log_text(&lab).contains("stopped the recovery sshd"),
        "{}",
        log_text(&lab)
    );
}

/// `ip netns del` on drop: a name attached to the host's namespace is detached
/// whatever happens to the test.
struct Attached(String);

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn a_name_attached_to_the_host_namespace_does_not_open_the_guard() {
    require_root();
    require_tool("ip", "iproute2");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("appliance");
    let o = sh(Command::new(bin())
        .arg("demo")
        .arg(&root)
        .stdin(Stdio::null()));
    assert!(o.status.success(), "demo: {}", text(&o));
    std::fs::write(root.join("etc/appliance/appliance.toml"), config(false)).unwrap();

    let name = Attached(format!("uchost{}", std::process::id()));
    ip(&["netns", "attach", &name.0, &std::process::id().to_string()]);
    let dry = sh(Command::new(bin())
        .arg("--root")
        .arg(&root)
        .args(["recover", "--dry-run"])
        .stdin(Stdio::null()));
    let t = text(&dry);
    assert!(dry.status.success(), "{t}");
    for step in [
        "add address",
        "default route",
        "add route",
        "bring up",
        "start /usr/sbin/sshd",
    ] {
        assert!(!t.contains(step), "the plan still has \"{step}\": {t}");
    }
    assert!(t.contains("Recovery plan (dry run"), "{t}");
    assert!(t.contains("leave the network and SSH alone"), "{t}");
    assert!(t.contains("it runs in the host's"), "{t}");
}

#[test]
fn sshd_t_shows_the_hardened_settings() {
    require_root();
    require_tool("/usr/sbin/sshd", "openssh-server");
    let dir = tempfile::tempdir().unwrap();
    let root = upgrade_core::appliance::root::ApplianceRoot::new(dir.path());
    let plan = upgrade_core::recovery::sshd::SshdPlan::new(
        &root,
        vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
    );
    plan.prepare().expect("prepare the recovery sshd");
    let t = ok(Command::new("/usr/sbin/sshd")
        .arg("-T")
        .arg("-f")
        .arg(&plan.config));
    let lines: Vec<&str> = t.lines().collect();
    for want in [
        "allowusers root",
        "pubkeyauthentication yes",
        "passwordauthentication no",
        "kbdinteractiveauthentication no",
        "permitrootlogin without-password",
        "allowtcpforwarding no",
        "allowstreamlocalforwarding no",
        "x11forwarding no",
        "allowagentforwarding no",
        "permittunnel no",
        "gatewayports no",
        "permitopen none",
        "disableforwarding yes",
        "maxauthtries 3",
        "loglevel VERBOSE",
        "compression no",
        "subsystem sftp internal-sftp",
        "persourcemaxstartups 3",
    ] {
        assert!(lines.contains(&want), "sshd -T lacks \"{want}\":\n{t}");
    }
    let list = |key: &str| -> Vec<String> {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| panic!("sshd -T has no {key}:\n{t}"))
            .split(',')
            .map(str::to_string)
            .collect()
    };
    let macs = list("macs");
    assert!(!macs.is_empty());
    for m in &macs {
        assert!(
            !m.contains("sha1") && !m.contains("md5") && !m.starts_with("umac-64"),
            "weak MAC {m} in {macs:?}"
        );
    }
    for k in list("kexalgorithms") {
        assert!(!k.contains("sha1"), "SHA-1 key exchange {k}");
    }
    for c in list("ciphers") {
        assert!(!c.contains("cbc"), "CBC cipher {c}");
    }
}

#[test]
fn the_support_key_opens_a_shell_for_the_support_user_and_nothing_else() {
    let mut lab = lab(false);
    lab.start_recover();
    wait_until(10, "sshd on :22", || connects(&lab, APPL_ETH0, 22));

    let o = ssh_as(&lab, "root", &[], &["echo", "ok"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok");
    // The login's key fingerprint is in sshd's log.
    let fp = ok(Command::new("ssh-keygen")
        .arg("-lf")
        .arg(lab.key.with_extension("pub")));
    let fp = fp.split_whitespace().nth(1).unwrap().to_string();
    let sshd_log = lab.root.join("var/log/upgrade-console/sshd.log");
    wait_until(10, "the key fingerprint in sshd.log", || {
        std::fs::read_to_string(&sshd_log)
            .unwrap_or_default()
            .contains(&fp)
    });

    // Another account: refused, although the keys file is the same for every user.
    let o = ssh_as(&lab, "sync", &[], &["echo", "ok"]);
    let t = text(&o);
    assert!(!o.status.success(), "the support key opened `sync`: {t}");
    assert!(t.contains("Permission denied"), "{t}");

    // Pivoting to the other interface's log server: -W refused.
    let target = format!("{APPL_ETH1}:{WEB_PORT}");
    let o = ssh_as(&lab, "root", &["-W", &target], &[]);
    let t = text(&o);
    assert!(!o.status.success(), "ssh -W {target} went through: {t}");
    assert!(t.contains("administratively prohibited"), "{t}");

    // -L: the forwarded port leads nowhere, and sshd says why.
    let spec = format!("127.0.0.1:18480:{target}");
    let err = lab.dir.path().join("ssh-L.err");
    let key = lab.key.display().to_string();
    let mut fwd = Proc(Some(
        Command::new("ip")
            .args(["netns", "exec", &lab.sup.0, "ssh", "-N", "-i", &key])
            .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null", "-L", &spec])
            .arg(format!("root@{APPL_ETH0}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("start ssh -L"),
    ));
    wait_until(15, "ssh -L to listen on 127.0.0.1:18480", || {
        connects(&lab, "127.0.0.1", 18480)
    });
    let got = lab.in_support(&[
        "timeout",
        "5",
        "bash",
        "-c",
        "exec 3<>/dev/tcp/127.0.0.1/18480; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3",
    ]);
    let body = String::from_utf8_lossy(&got.stdout).into_owned();
    assert!(
        !body.contains("HTTP/1."),
        "-L reached the log server: {body}"
    );
    wait_until(10, "ssh -L to report the refused channel", || {
        std::fs::read_to_string(&err)
            .unwrap_or_default()
            .contains("administratively prohibited")
    });
    fwd.terminate();

    // scp (SFTP protocol) copies a file off the box.
    let src = lab.state("recovery.json");
    let dst = lab.dir.path().join("copied.json");
    let o = lab.in_support(&[
        "scp",
        "-i",
        &key,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        &format!("root@{APPL_ETH0}:{}", src.display()),
        &dst.display().to_string(),
    ]);
    assert!(o.status.success(), "scp: {}", text(&o));
    assert_eq!(
        std::fs::read(&dst).unwrap(),
        std::fs::read(&src).unwrap(),
        "scp copied something else"
    );
    let _ = Path::new(&dst);
}
