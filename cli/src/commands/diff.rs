//! `cairn diff` (waiting for the engine command).
use crate::args::Context;
use crate::exit::Status;
use anyhow::{bail, Result};
use clap::Args;
/// Flags of `diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {}
/// Runs `diff`.
pub fn run(_ctx: &Context, _args: &DiffArgs) -> Result<Status> {
    bail!("not yet")
}
