//! Recovery for real, in network namespaces: the binary brings up both configured
//! interfaces (one without management access) over netlink, starts key-only sshd
//! with the support keys on both addresses, restarts sshd when it dies, keeps its host
//! keys, and stops cleanly on SIGTERM. A sealed appliance has nothing on port 22.

mod recovery_util;
use recovery_util::*;
use std::time::Duration;

fn assert_refused(lab: &Lab, key: Option<&std::path::Path>, extra: &[&str], what: &str) {
    for addr in [APPL_ETH0, APPL_ETH1] {
        let o = lab.ssh(key, addr, extra);
        let t = out_text(&o);
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
        let t = out_text(&o);
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
    loop {
        let now = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        if now.is_some_and(|p| p != old) {
            break;
        }
        assert!(lab.recover.exited().is_none(), "recover died with sshd");
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = lab.ssh(Some(&lab.key), APPL_ETH1, &[]);
    assert!(o.status.success(), "after restart: {}", out_text(&o));

    // SIGTERM stops recover and its sshd; nothing listens on 22 any more.
    let st = lab.recover.terminate().unwrap();
    assert!(st.success(), "{st}");
    let o = lab.ssh(Some(&lab.key), APPL_ETH0, &[]);
    assert!(
        out_text(&o).contains("Connection refused"),
        "{}",
        out_text(&o)
    );

    // Again: the host keys are kept, so support's known_hosts stays valid.
    lab.start_recover();
    let again = lab.report();
    assert_eq!(again["host_key_fingerprints"], r["host_key_fingerprints"]);
    let o = lab.ssh(Some(&lab.key), APPL_ETH0, &[]);
    assert!(o.status.success(), "second recover: {}", out_text(&o));
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
        let t = out_text(&o);
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
    let t = out_text(&o);
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
