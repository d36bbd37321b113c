//! `console` (the default command): the full-screen console on this terminal.

use crate::cli::{Ctx, Exit};
use std::io::IsTerminal;
use std::path::Path;
use upgrade_core::appliance::root::ApplianceRoot;

pub fn run(ctx: &Ctx) -> anyhow::Result<Exit> {
    open_on(ctx, ctx.root.dir(), None)
}

/// Opens the console on an appliance root, with an image preselected in the wizard.
pub fn open_on(ctx: &Ctx, root: &Path, image: Option<&Path>) -> anyhow::Result<Exit> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the console needs a terminal on stdin and stdout; for scripts use the subcommands (status, verify, check, activate --yes ...)"
        );
    }
    let ctx = Ctx {
        root: ApplianceRoot::new(root),
        ..ctx.clone()
    };
    // Sealed means no SSH at any moment, also when the console is all that runs.
    upgrade_core::recovery::enforce_sealed(&ctx.root);
    crate::tui::run_console_with(&ctx, image)
}
