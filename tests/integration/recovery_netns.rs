//! Recovery for real, in network namespaces: the binary brings up both configured
//! interfaces (one without management access) over netlink, starts key-only sshd
//! with the support keys on both addresses, restarts sshd when it dies, keeps its host
//! keys, and stops cleanly on SIGTERM. A sealed appliance has nothing on port 22.

use crate::support::recovery::*;
use crate::support::*;
use std::process::{Command, Stdio};

fn assert_refused(lab: &Lab, key: Option<&std::path::Path>, extra: &[&str], what: &str) {
    for addr in [APPL_ETH0, APPL_ETH1] {
        let o = lab.ssh(key, addr, extra);
        let t = text(&o);
        assert!(!o.status.success(), "{what} on {addr} was let in: {t}");
        assert!(
            !t.lines().any(|l| l == "ok"),
            "{what} on {addr} ran the command: {t}"
        );
        assert!(t.contains("Permission denied"), "{what} on {addr}: {t}");
    }
}

#[test]
fn recovery_brings_up_both_interfaces_and_ssh_is_key_only() {
    let mut lab = lab(false);
    let out = lab.start_recover();
    let console = std::fs::read_to_string(&out).unwrap();

    // Both interfaces up with their configured addresses, gateway and route.
    let addrs = ip(&["-n", &lab.appl.0, "-o", "addr"]);
    assert!(
        addrs.contains(&format!("eth0    inet {APPL_ETH0}/24")),
        "{addrs}"
    );
    assert!(
        addrs.contains(&format!("eth1    inet {APPL_ETH1}/24")),
        "{addrs}"
    );
    let links = ip(&["-n", &lab.appl.0, "-o", "link"]);
    for l in links.lines().filter(|l| l.contains("eth")) {
        assert!(l.contains(",UP"), "{l}");
    }
    let routes = ip(&["-n", &lab.appl.0, "route"]);
    assert!(
        routes.contains(&format!("default via {SUP_ETH0} dev eth0")),
        "{routes}"
    );
    assert!(
        routes.contains(&format!("10.88.0.0/16 via {SUP_ETH1} dev eth1")),
        "{routes}"
    );

    // The report says what happened; the console shows the same.
    let r = lab.report();
    assert_eq!(r["sealed"], false);
    assert_eq!(r["ssh_port"], 22);
    assert!(r["reason"].as_str().unwrap().contains("requested"));
    let ifs = r["interfaces"].as_array().unwrap();
    assert_eq!(ifs.len(), 2);
    assert!(ifs.iter().all(|i| i["ok"] == true), "{r}");
    assert_eq!(ifs[1]["management"], false);
    let fps: Vec<String> = r["host_key_fingerprints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(fps.len(), 2, "{r}");
    assert!(fps.iter().all(|f| f.starts_with("SHA256:")));
    let bundle = r["bundle"].as_str().unwrap();
    assert!(std::path::Path::new(bundle).is_file(), "{bundle}");
    assert_eq!(r["log_server"].as_array().unwrap().len(), 2, "{r}");
    for needle in [
        "RECOVERY MODE",
        APPL_ETH0,
        APPL_ETH1,
        "port 22",
        &fps[0],
        bundle,
    ] {
        assert!(
            console.contains(needle),
            "console lacks {needle}: {console}"
        );
    }
    let progress: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lab.state("progress.json")).unwrap())
            .unwrap();
    assert_eq!(progress["operation"], "recover");
    assert_eq!(progress["outcome"], "recovery");
    let dir_mode = std::fs::metadata(lab.state("recovery"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap();
    assert_eq!(dir_mode, 0o700);

    // The support key logs in on both addresses (management or not) and runs a
    // command; the host key the client sees is one the console showed.
    for addr in [APPL_ETH0, APPL_ETH1] {
        let o = lab.ssh(Some(&lab.key), addr, &["-v"]);
        let t = text(&o);
        assert!(o.status.success(), "ssh to {addr}: {t}");
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok");
        let seen = t
            .lines()
            .find_map(|l| l.split("Server host key: ").nth(1))
            .and_then(|k| k.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("no host key in ssh -v output: {t}"))
            .to_string();
        assert!(
            fps.iter().any(|f| f.starts_with(&seen)),
            "{seen} not in {fps:?}"
        );
    }
    // Password logins and unknown keys are refused.
    assert_refused(
        &lab,
        None,
        &[
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PasswordAuthentication=yes",
        ],
        "a password login",
    );
    assert_refused(&lab, Some(&lab.other_key.clone()), &[], "an unknown key");

    // sshd dies: `recover` starts it again.
    let pidfile = lab.state("recovery/sshd.pid");
    let old: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for(
        "recover to restart sshd (a new pid in sshd.pid)",
        PATIENCE,
        || {
            let now = std::fs::read_to_string(&pidfile).unwrap_or_default();
            if now.trim().parse::<i32>().is_ok_and(|p| p != old) {
                return Ok(());
            }
            assert!(lab.recover.exited().is_none(), "recover died with sshd");
            Err(format!("sshd.pid {now:?}, the killed one was {old}"))
        },
    );
    let o = lab.ssh(Some(&lab.key), APPL_ETH1, &[]);
    assert!(o.status.success(), "after restart: {}", text(&o));

    // SIGTERM stops recover and its sshd; nothing listens on 22 any more.
    let st = lab.recover.terminate().unwrap();
    assert!(st.success(), "{st}");
    let o = lab.ssh(Some(&lab.key), APPL_ETH0, &[]);
    assert!(text(&o).contains("Connection refused"), "{}", text(&o));

    // Again: the host keys are kept, so support's known_hosts stays valid.
    lab.start_recover();
    let again = lab.report();
    assert_eq!(again["host_key_fingerprints"], r["host_key_fingerprints"]);
    let o = lab.ssh(Some(&lab.key), APPL_ETH0, &[]);
    assert!(o.status.success(), "second recover: {}", text(&o));
    // A fresh bundle was made on entry.
    let bytes = std::fs::read(again["bundle"].as_str().unwrap()).unwrap();
    assert!(bytes.starts_with(b"PK"));
}

#[test]
fn sealed_appliance_has_nothing_on_port_22() {
    let mut lab = lab(true);
    let out = lab.start_recover();
    let console = std::fs::read_to_string(&out).unwrap();
    assert!(console.contains("sealed: no SSH"), "{console}");
    let r = lab.report();
    assert_eq!(r["sealed"], true);
    assert_eq!(r["ssh_error"], "sealed: no SSH");
    assert!(r["ssh_port"].is_null());
    assert!(r["host_key_fingerprints"].as_array().unwrap().is_empty());
    // Interfaces still come up (the log server must be reachable).
    let addrs = ip(&["-n", &lab.appl.0, "-o", "addr"]);
    assert!(
        addrs.contains(APPL_ETH0) && addrs.contains(APPL_ETH1),
        "{addrs}"
    );
    for addr in [APPL_ETH0, APPL_ETH1] {
        let o = lab.ssh(Some(&lab.key), addr, &[]);
        let t = text(&o);
        assert!(!o.status.success());
        assert!(t.contains("Connection refused"), "{addr}: {t}");
    }
    let listening =
        ok(std::process::Command::new("ip").args(["netns", "exec", &lab.appl.0, "ss", "-Hltn"]));
    assert!(!listening.contains(":22 "), "{listening}");
    assert!(listening.contains(&format!(":{WEB_PORT}")), "{listening}");
    assert!(!lab.state("recovery/sshd_config").exists());
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let lab = lab(false);
    let before = ip(&["-n", &lab.appl.0, "-o", "addr"]);
    let digest = tree(&lab.root);
    let o = sh(std::process::Command::new("ip")
        .args(["netns", "exec", &lab.appl.0, bin(), "--root"])
        .arg(&lab.root)
        .args(["recover", "--dry-run"]));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for needle in [
        "dry run",
        &format!("add address {APPL_ETH0}/24"),
        &format!("add address {APPL_ETH1}/24"),
        &format!("default route via {SUP_ETH0}"),
        "sshd -D -e -f",
        "make host keys",
        "support bundle",
    ] {
        assert!(t.contains(needle), "{needle}: {t}");
    }
    assert_eq!(ip(&["-n", &lab.appl.0, "-o", "addr"]), before);
    assert_eq!(tree(&lab.root), digest, "dry run changed the root");
}

/// Every file under a directory with its contents, to prove nothing changed.
fn tree(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            let bytes = if p.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            out.push((p, bytes));
        }
    }
    out.sort();
    out
}

/// The library entry the boot phase calls: `recovery::enter` from a thread that
/// joined the appliance namespace; sshd and the log server keep running after it
/// returns (supervised in the background) until `stop_background`.
#[test]
fn enter_from_the_library_keeps_recovery_running_in_the_background() {
    use upgrade_core::{appliance::config::Config, appliance::root::ApplianceRoot, recovery};
    let lab = lab(false);
    let ns = std::fs::File::open(format!("/var/run/netns/{}", lab.appl.0)).unwrap();
    let root_dir = lab.root.clone();
    // setns changes only the calling thread's namespace: do it in a thread of its own
    // so the test harness stays where it was. Sockets it opens and processes it
    // starts (sshd) live in the appliance namespace.
    let report = std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let root = ApplianceRoot::new(root_dir);
        let config = Config::load(&root).unwrap();
        recovery::enter(
            &root,
            &config,
            "phase 1 failed after the point of no return",
        )
        .unwrap()
    })
    .join()
    .unwrap();
    assert!(!report.sealed);
    assert_eq!(report.ssh_port, Some(22));
    assert_eq!(report.interfaces.len(), 2);
    assert!(report.interfaces.iter().all(|i| i.ok), "{report:?}");
    assert_eq!(report.host_key_fingerprints.len(), 2);
    assert!(report.bundle.as_ref().is_some_and(|b| b.is_file()));
    assert!(recovery::render_text(&report).contains("phase 1 failed"));
    let saved = lab.report();
    assert_eq!(
        saved["reason"],
        "phase 1 failed after the point of no return"
    );

    for addr in [APPL_ETH0, APPL_ETH1] {
        let o = lab.ssh(Some(&lab.key), addr, &[]);
        assert!(o.status.success(), "{addr}: {}", text(&o));
    }
    let page = lab.in_support(&[
        "bash",
        "-c",
        &format!("exec 3<>/dev/tcp/{APPL_ETH1}/{WEB_PORT}; printf 'GET /status.json HTTP/1.1\\r\\n\\r\\n' >&3; cat <&3"),
    ]);
    let page = text(&page);
    assert!(page.contains("\"outcome\":\"recovery\""), "{page}");

    // The supervisor restarts a dead sshd here too.
    let pidfile = lab.state("recovery/sshd.pid");
    let old: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for(
        "recover to restart sshd (a new pid in sshd.pid)",
        PATIENCE,
        || {
            let now = std::fs::read_to_string(&pidfile).unwrap_or_default();
            if now.trim().parse::<i32>().is_ok_and(|p| p != old) {
                return Ok(());
            }
            Err(format!("sshd.pid {now:?}, the killed one was {old}"))
        },
    );
    let o = lab.ssh(Some(&lab.key), APPL_ETH0, &[]);
    assert!(o.status.success(), "after restart: {}", text(&o));

    recovery::stop_background();
    let o = lab.ssh(Some(&lab.key), APPL_ETH0, &[]);
    assert!(text(&o).contains("Connection refused"), "{}", text(&o));
}

/// A demo or test root in the machine's own network namespace must not reconfigure
/// the machine: recovery reports why it left interfaces and SSH alone. (The config
/// names interfaces the host does not have, so even a broken guard could not harm it.)
#[test]
fn a_directory_root_in_the_host_namespace_leaves_the_network_alone() {
    require_root();
    let dir = tempfile::Builder::new()
        .prefix("recovery-host")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let root = dir.path().join("appliance");
    let o = sh(Command::new(bin())
        .arg("demo")
        .arg(&root)
        .stdin(Stdio::null()));
    assert!(o.status.success());
    let cfg = config(false)
        .replace("\"eth0\"", "\"ucnone0\"")
        .replace("\"eth1\"", "\"ucnone1\"")
        .replace(
            &format!("listen = [\"{APPL_ETH0}:{WEB_PORT}\", \"{APPL_ETH1}:{WEB_PORT}\"]"),
            "listen = [\"127.0.0.1:0\"]",
        );
    std::fs::write(root.join("etc/appliance/appliance.toml"), cfg).unwrap();
    let dry = sh(Command::new(bin())
        .arg("--root")
        .arg(&root)
        .args(["recover", "--dry-run"]));
    assert!(
        text(&dry).contains("leave the network and SSH alone"),
        "{}",
        text(&dry)
    );
    let out = dir.path().join("recover.out");
    let mut p = Proc(Some(
        Command::new(bin())
            .arg("--root")
            .arg(&root)
            .arg("recover")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let report_path = root.join("var/lib/upgrade-console/recovery.json");
    let report: serde_json::Value = wait_for(
        "recover to write recovery.json with its log servers",
        PATIENCE,
        || {
            assert!(
                p.exited().is_none(),
                "{}",
                std::fs::read_to_string(&out).unwrap()
            );
            let t = std::fs::read_to_string(&report_path).unwrap_or_default();
            if t.contains("\"log_server\": [\n") {
                Ok(serde_json::from_str(&t).unwrap())
            } else {
                Err(format!("recovery.json: {t:?}"))
            }
        },
    );
    let why = report["ssh_error"].as_str().unwrap();
    assert!(
        why.contains("not in a network namespace of its own"),
        "{report}"
    );
    assert!(report["ssh_port"].is_null());
    for i in report["interfaces"].as_array().unwrap() {
        let e = i["steps"][0]["error"].as_str().unwrap();
        assert!(e.contains("not in a network namespace of its own"), "{e}");
    }
    assert!(
        !root
            .join("var/lib/upgrade-console/recovery/sshd_config")
            .exists()
    );
    // The bundle and the log server still work: they touch nothing of the host.
    assert!(
        report["bundle"]
            .as_str()
            .is_some_and(|b| std::path::Path::new(b).is_file())
    );
    assert_eq!(
        report["log_server"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    assert!(p.terminate().unwrap().success());
}
