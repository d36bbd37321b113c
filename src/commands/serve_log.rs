//! `serve-log [--listen ADDR:PORT]`: runs the boot log server in the foreground until
//! SIGTERM or SIGINT (the boot phase and recovery start it in-process instead).

use crate::cli::{Ctx, Exit, ServeLogArgs};
use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use upgrade_core::appliance::config::Config;

/// Blocks SIGTERM and SIGINT in this thread (and the threads it starts later) and
/// returns a flag a waiter thread sets when one arrives. Call before spawning threads.
pub fn termination_flag() -> anyhow::Result<Arc<AtomicBool>> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .context("cannot block SIGTERM/SIGINT")?;
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Ok(sig) = set.wait() {
                log::info!("{sig:?} received: stopping");
            }
            f.store(true, Ordering::SeqCst);
        })?;
    Ok(flag)
}

pub fn run(ctx: &Ctx, args: &ServeLogArgs) -> anyhow::Result<Exit> {
    let stop = termination_flag()?;
    upgrade_core::appliance::console_log::init(&ctx.root, false);
    let listen = if args.listen.is_empty() {
        Config::load(&ctx.root)?.web.listen
    } else {
        args.listen.clone()
    };
    let server = upgrade_core::logserver::spawn(ctx.root.clone(), listen)?;
    for a in server.local_addrs() {
        crate::outln!("Boot log server: http://{a}/");
    }
    for (a, e) in server.failed() {
        crate::errln!("upgrade-console: cannot listen on {a}: {e}");
    }
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    server.stop();
    Ok(Exit::Success)
}
