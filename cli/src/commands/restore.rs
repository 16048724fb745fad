//! `cairn restore` (waiting for the engine command).
use crate::args::Context;
use crate::exit::Status;
use anyhow::{bail, Result};
use clap::Args;
/// Flags of `restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {}
/// Runs `restore`.
pub fn run(_ctx: &Context, _args: &RestoreArgs) -> Result<Status> {
    bail!("not yet")
}
