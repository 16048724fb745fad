//! `cairn tag` (waiting for the engine command).
use crate::args::Context;
use crate::exit::Status;
use anyhow::{bail, Result};
use clap::Args;
/// Flags of `tag`.
#[derive(Args, Debug)]
pub struct TagArgs {}
/// Runs `tag`.
pub fn run(_ctx: &Context, _args: &TagArgs) -> Result<Status> {
    bail!("not yet")
}
