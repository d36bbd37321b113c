//! `recover [--dry-run]`: enters recovery mode, prints how to reach the appliance,
//! then stays in the foreground supervising sshd (restarted with backoff if it dies)
//! and serving the boot log until SIGTERM or SIGINT.

use crate::cli::{Ctx, Exit, RecoverArgs};
use upgrade_core::appliance::config::Config;
use upgrade_core::recovery;
use upgrade_core::upgrade::progress::{Operation, Outcome, Progress};

/// Why: the reason a failed operation recorded, else "requested".
fn reason(ctx: &Ctx) -> String {
    match Progress::read(&ctx.root).present() {
        Some(p) if p.outcome == Some(Outcome::Recovery) && p.operation != Operation::Recover => {
            format!("{} failed and cannot roll back: {}", p.operation, p.message)
        }
        _ => "requested with `upgrade-console recover`".into(),
    }
}

pub fn run(ctx: &Ctx, args: &RecoverArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&ctx.root)?;
    let why = reason(ctx);
    if args.dry_run {
        crate::out!("{}", recovery::plan_text(&ctx.root, &config, &why));
        return Ok(Exit::Success);
    }
    let stop = crate::commands::serve_log::termination_flag()?;
    upgrade_core::appliance::console_log::init(&ctx.root, false);
    let (ascii, json) = (ctx.ascii, ctx.json);
    let follower = crate::progress_follow::follow(&ctx.root, move || {
        crate::progress_view::CliProgress::for_stderr(ascii, json)
    });
    let entered = recovery::enter_session(&ctx.root, &config, &why);
    follower.finish();
    let (report, mut session) = entered?;
    if ctx.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::out!("{}", recovery::render_text(&report));
    }

    recovery::supervise(&mut session, &stop);
    log::info!("recover: stopping sshd and the boot log server");
    session.stop();
    // Recovery is left: the console stops saying so and /bundle is no longer served.
    upgrade_core::state::recovery::clear(&ctx.root)?;
    Ok(Exit::Success)
}
