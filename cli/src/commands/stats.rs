//! `cairn stats`: sizes, deduplication and compression of snapshots.

use anyhow::Result;
use cairn_engine::commands::stats::stats;
use clap::Args;

use super::{select_snapshots, FilterArgs};
use crate::args::Context;
use crate::exit::Status;
use crate::output::bytes;

/// Flags of `stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Snapshots to count (default all)
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs `stats`.
pub fn run(ctx: &Context, args: &StatsArgs) -> Result<Status> {
    let repo = ctx.open_indexed()?;
    let snapshots = select_snapshots(&repo, &args.snapshots, &args.filter.filter())?;
    let s = stats(&repo, &snapshots)?;
    let out = &ctx.out;
    if out.json {
        out.json_doc(&s)?;
    } else {
        out.line(format_args!("Snapshots:          {}", s.snapshots))?;
        out.line(format_args!("Files:              {}", s.files))?;
        out.line(format_args!("Directories:        {}", s.dirs))?;
        out.line(format_args!(
            "Restore size:       {}",
            bytes(s.restore_size)
        ))?;
        out.line(format_args!("Unique data blobs:  {}", s.unique_data_blobs))?;
        out.line(format_args!(
            "Unique data:        {}",
            bytes(s.raw_data_size)
        ))?;
        out.line(format_args!("Stored:             {}", bytes(s.stored_size)))?;
        out.line(format_args!("Deduplication:      {:.2}x", s.dedup_ratio))?;
        out.line(format_args!(
            "Compression:        {:.2}x",
            s.compression_ratio
        ))?;
    }
    Ok(Status::Ok)
}
