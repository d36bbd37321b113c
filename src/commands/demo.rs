//! The `demo` command (in progress).
use crate::cli::{Ctx, Exit};

pub fn run(_ctx: &Ctx, _a: &crate::cli::DemoArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("not built yet")
}
