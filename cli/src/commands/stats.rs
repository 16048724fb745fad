//! `cairn stats` (waiting for the engine command).
use crate::args::Context;
use crate::exit::Status;
use anyhow::{bail, Result};
use clap::Args;
/// Flags of `stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {}
/// Runs `stats`.
pub fn run(_ctx: &Context, _args: &StatsArgs) -> Result<Status> {
    bail!("not yet")
}
