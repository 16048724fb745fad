//! `cairn ls` (waiting for the engine command).
use crate::args::Context;
use crate::exit::Status;
use anyhow::{bail, Result};
use clap::Args;
/// Flags of `ls`.
#[derive(Args, Debug)]
pub struct LsArgs {}
/// Runs `ls`.
pub fn run(_ctx: &Context, _args: &LsArgs) -> Result<Status> {
    bail!("not yet")
}
