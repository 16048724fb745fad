//! `cairn backup` (waiting for the engine command).
use crate::args::Context;
use crate::exit::Status;
use anyhow::{bail, Result};
use clap::Args;
/// Flags of `backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {}
/// Runs `backup`.
pub fn run(_ctx: &Context, _args: &BackupArgs) -> Result<Status> {
    bail!("not yet")
}
