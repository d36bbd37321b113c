//! The `phase2` command: the background migration of the committed firmware, run as
//! a service; resumes from its last checkpoint. Progress is drawn on stderr (a bar on a
//! terminal, a line per step and every few seconds in a service's log).
use crate::cli::{Ctx, Exit};

pub fn run(ctx: &Ctx) -> anyhow::Result<Exit> {
    upgrade_core::appliance::console_log::init(&ctx.root, false);
    let view = crate::progress_view::CliProgress::for_stderr(ctx.ascii, ctx.json);
    match upgrade_core::upgrade::phase2::run_observed(&ctx.root, vec![Box::new(view)]) {
        Ok(s) => {
            if ctx.json {
                crate::outln!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                match s {
                    Some(s) => crate::outln!("{}", s.message),
                    None => crate::outln!("No phase 2 to run."),
                }
            }
            Ok(Exit::Success)
        }
        Err(e) => {
            let text = crate::commands::error_text(&anyhow::Error::from(e));
            log::error!("{text}");
            crate::errln!("upgrade-console: {text}");
            Ok(Exit::Refused)
        }
    }
}
