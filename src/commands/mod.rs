//! One module per command of SPEC §1; each turns core results into text or JSON and
//! an exit code. `run` dispatches the parsed command line (cli) to them.

pub mod activate;
pub mod boot;
pub mod bundle;
pub mod check;
pub mod cluster;
pub mod console;
pub mod demo;
pub mod ha;
pub mod phase2;
pub mod reboot;
pub mod recover;
pub mod serve_log;
pub mod status;
pub mod verify;

use crate::cli::{Cli, Command, Ctx, Exit};
use upgrade_core::appliance::root::ApplianceRoot;

/// Parses the arguments, runs the command, and returns the process exit code.
pub fn run(cli: Cli) -> Exit {
    // JSON stays as it is: folding could change its strings' meaning.
    crate::output::set_ascii(cli.ascii && !cli.json);
    let ctx = Ctx {
        root: ApplianceRoot::new(cli.root.clone()),
        json: cli.json,
        ascii: cli.ascii,
        theme: cli.theme.clone(),
    };
    let command = cli.command.unwrap_or(Command::Console);
    // A root whose state or log directory links elsewhere would have us write outside
    // it; refuse before any command opens a file (demo builds the root it is given).
    if !matches!(command, Command::Demo(_) | Command::Detach(_))
        && let Some(why) = ctx.root.escape()
    {
        if ctx.json {
            crate::outln!("{}", serde_json::json!({ "error": why }));
        }
        crate::errln!("upgrade-console: error: {why}");
        return Exit::CannotRun;
    }
    let result = match command {
        Command::Console => console::run(&ctx),
        Command::Demo(a) => demo::run(&ctx, &a),
        Command::Status => status::run(&ctx),
        Command::Verify(a) => verify::run(&ctx, &a),
        Command::Check(a) => check::run(&ctx, &a),
        Command::Activate(a) => activate::run(&ctx, &a),
        Command::Reboot => reboot::run(&ctx),
        Command::Boot => boot::run(&ctx),
        Command::Phase2 => phase2::run(&ctx),
        Command::Cluster(a) => cluster::run(&ctx, &a),
        Command::Ha(a) => ha::run(&ctx, &a),
        Command::Recover(a) => recover::run(&ctx, &a),
        Command::Bundle(a) => bundle::run(&ctx, &a),
        Command::ServeLog(a) => serve_log::run(&ctx, &a),
        Command::Detach(a) => {
            crate::tui::worker::detach_and_exec(&ctx.root, &a.args).map(|()| Exit::CannotRun)
        }
    };
    match (result, crate::output::failed()) {
        (Ok(_), Some(why)) => {
            crate::errln!(
                "upgrade-console: error: the output could not be written ({why}); check where it goes (a full disk?) and run the command again"
            );
            Exit::CannotRun
        }
        (Ok(code), None) => code,
        (Err(e), _) => {
            let text = error_text(&e);
            log::error!("{text}");
            if ctx.json {
                // Scripts read stdout: it holds one document whatever happened.
                crate::outln!("{}", serde_json::json!({ "error": text }));
            }
            crate::errln!("upgrade-console: error: {text}");
            Exit::CannotRun
        }
    }
}

/// An error and its causes on one line, each cause once: many messages already
/// quote their cause ("cannot read X: No such file..."), and `{e:#}` would repeat it.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}
