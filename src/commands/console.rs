//! `console` (the default command): the full-screen console.

use crate::cli::{Ctx, Exit};
use std::path::Path;

pub fn run(ctx: &Ctx) -> anyhow::Result<Exit> {
    open_on(ctx, ctx.root.dir(), None)
}

/// Opens the console on an appliance root, with an image preselected in the wizard.
pub fn open_on(_ctx: &Ctx, _root: &Path, _image: Option<&Path>) -> anyhow::Result<Exit> {
    anyhow::bail!(
        "the full-screen console is not in this build yet; use the subcommands (see --help)"
    )
}
