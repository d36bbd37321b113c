//! The `console` command (in progress).
use crate::cli::{Ctx, Exit};

pub fn run(_ctx: &Ctx) -> anyhow::Result<Exit> {
    anyhow::bail!("not built yet")
}
