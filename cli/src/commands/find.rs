//! `cairn find` (waiting for the engine command).
use crate::args::Context;
use crate::exit::Status;
use anyhow::{bail, Result};
use clap::Args;
/// Flags of `find`.
#[derive(Args, Debug)]
pub struct FindArgs {}
/// Runs `find`.
pub fn run(_ctx: &Context, _args: &FindArgs) -> Result<Status> {
    bail!("not yet")
}
