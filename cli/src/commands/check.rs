//! `cairn check` (waiting for the engine command).
use crate::args::Context;
use crate::exit::Status;
use anyhow::{bail, Result};
use clap::Args;
/// Flags of `check`.
#[derive(Args, Debug)]
pub struct CheckArgs {}
/// Runs `check`.
pub fn run(_ctx: &Context, _args: &CheckArgs) -> Result<Status> {
    bail!("not yet")
}
