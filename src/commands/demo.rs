//! `demo [DIR]`: builds (or reuses) the demo appliance, then opens the console on it;
//! without a terminal it prints what it built and the commands to try.

use crate::cli::{Ctx, DemoArgs, Exit};
use crate::demo::{FAIL_STAGES, build};
use anyhow::bail;
use std::io::IsTerminal;

pub fn run(ctx: &Ctx, args: &DemoArgs) -> anyhow::Result<Exit> {
    if let Some(stage) = &args.fail
        && !FAIL_STAGES.iter().any(|(s, _)| s == stage)
    {
        let names: Vec<&str> = FAIL_STAGES.iter().map(|(s, _)| *s).collect();
        bail!(
            "--fail \"{stage}\" is not a demo stage; use one of: {}",
            names.join(", ")
        );
    }
    if args.ha {
        return ha_demo(ctx, args);
    }
    if args.reset {
        crate::demo::reset(&args.dir)?;
    }
    let demo = build(&args.dir, args.fail.as_deref() == Some("check"))?;
    let root = demo.root.canonicalize().unwrap_or(demo.root.clone());
    upgrade_core::appliance::console_log::init(
        &upgrade_core::appliance::root::ApplianceRoot::new(&root),
        false,
    );
    log::info!(
        "demo appliance {} at {}",
        if demo.reused { "reused" } else { "built" },
        root.display()
    );
    let default_image = match &args.fail {
        Some(stage) => FAIL_STAGES
            .iter()
            .find(|(s, _)| s == stage)
            .map(|(_, f)| root.join("images").join(f)),
        None => Some(root.join("images/sps-7.3.1.iso")),
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if interactive && !ctx.json {
        return crate::commands::console::open_on(ctx, &root, default_image.as_deref());
    }
    if ctx.json {
        crate::outln!("{}", serde_json::to_string_pretty(&demo)?);
        return Ok(Exit::Success);
    }
    let r = root.display();
    crate::outln!(
        "Demo appliance {} at {r}",
        if demo.reused { "reused" } else { "built" }
    );
    let aroot = upgrade_core::appliance::root::ApplianceRoot::new(&root);
    crate::outln!(
        "  {}; images in {r}/images:",
        crate::demo::slots_line(&aroot)
    );
    for i in &demo.images {
        let name = i
            .path
            .strip_prefix(root.join("images"))
            .unwrap_or(&i.path)
            .display()
            .to_string();
        crate::outln!("  {name:<46} {}", i.purpose);
    }
    let iso = default_image
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let exe = std::env::current_exe().unwrap_or_else(|_| "upgrade-console".into());
    let cmd = crate::demo::invocation(&exe);
    crate::outln!("\nTry:");
    for line in [
        format!("--root {r} status"),
        format!("--root {r} verify {iso}"),
        format!("--root {r} check {iso}"),
        format!("--root {r} check {r}/images/sps-8.1.iso"),
        format!("--root {r} verify {r}/images/sps-7.3.1-bad-payload-hash.iso"),
        format!(
            "--root {r} verify {r}/images/{}",
            crate::demo::signing::TAMPERED_IMAGE
        ),
        format!(
            "--root {r} verify {r}/images/{}",
            crate::demo::signing::UNKNOWN_KEY_IMAGE
        ),
        format!("--root {r} activate --yes {iso}"),
        format!("--root {r} reboot"),
        format!("--root {r}            # the full-screen console"),
        format!(
            "demo --fail check {r}  # configuration the rules refuse (phase1, irreversible: rollback, recovery)"
        ),
        format!("demo --reset {r}  # start again from 7.0.1 in slot A"),
    ] {
        crate::outln!("  {cmd} {line}");
    }
    Ok(Exit::Success)
}

/// `demo --ha DIR`: the pair, started; the console on the primary, or (without a
/// terminal) the commands to try, the pair left running until `demo --ha DIR --stop`.
fn ha_demo(ctx: &Ctx, args: &DemoArgs) -> anyhow::Result<Exit> {
    use crate::demo::ha_pair;
    let exe = std::env::current_exe()?;
    let pids = args.dir.join("running.pids");
    if args.stop {
        stop_pair(&args.dir, &pids);
        crate::outln!("The demo pair in {} is stopped.", args.dir.display());
        return Ok(Exit::Success);
    }
    if pids.is_file() {
        stop_pair(&args.dir, &pids);
    }
    if args.reset && args.dir.exists() {
        for node in ["primary", "secondary"] {
            let d = args.dir.join(node);
            if d.exists() {
                crate::demo::reset(&d)?;
            }
        }
    }
    let pair = ha_pair::build(&args.dir, &ha_pair::PairNet::loopback(), &exe)?;
    let mut running = ha_pair::start(&pair, &exe, &[], &[])?;
    let list: Vec<String> = running
        .children
        .iter()
        .map(|c| c.id().to_string())
        .collect();
    upgrade_core::appliance::durable::write_atomic(&pids, list.join("\n").as_bytes())?;
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if interactive && !ctx.json {
        let r = crate::commands::console::open_on(ctx, &pair.primary, Some(&pair.image));
        running.stop();
        let _ = std::fs::remove_file(&pids);
        return r;
    }
    // Left running for the commands below.
    running.children.clear();
    std::mem::forget(running);
    if ctx.json {
        crate::outln!("{}", serde_json::to_string_pretty(&pair)?);
        return Ok(Exit::Success);
    }
    let cmd = crate::demo::invocation(&exe);
    let p = pair.primary.display();
    crate::outln!("Demo HA pair running in {}:", pair.dir.display());
    crate::outln!("  primary   {p} (HA link 127.0.0.2:2222)");
    crate::outln!(
        "  secondary {} (HA link 127.0.0.3:2222, BMC simulator 127.0.0.4:9623)",
        pair.secondary.display()
    );
    crate::outln!("\nTry:");
    for line in [
        format!("--root {p} ha status"),
        format!("--root {p} ha upgrade {}", pair.image.display()),
        format!("--root {p}            # the console: 6 opens the HA screen"),
        format!("demo --ha --stop {}", args.dir.display()),
    ] {
        crate::outln!("  {cmd} {line}");
    }
    Ok(Exit::Success)
}

fn stop_pair(dir: &std::path::Path, pids: &std::path::Path) {
    // Both nodes powered off through their BMC hooks: each stops its link server.
    for bmc in ["bmc", "bmc-primary"] {
        let hook = dir.join(bmc).join("chassis.sh");
        if hook.is_file() {
            let _ = std::process::Command::new(&hook)
                .args(["0x20", "set", "power", "0"])
                .status();
        }
    }
    for pid in std::fs::read_to_string(pids).unwrap_or_default().lines() {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    let _ = std::fs::remove_file(pids);
}
