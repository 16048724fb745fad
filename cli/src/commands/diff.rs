//! `cairn diff`: what changed between two snapshots.

use anyhow::Result;
use cairn_engine::commands::diff::{diff, ChangeKind};
use clap::Args;

use crate::args::Context;
use crate::exit::Status;
use crate::output::bytes;

/// Flags of `diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The older snapshot
    #[arg(value_name = "SNAPSHOT1")]
    pub a: String,
    /// The newer snapshot
    #[arg(value_name = "SNAPSHOT2")]
    pub b: String,
}

/// restic's one-letter marks.
fn mark(kind: ChangeKind) -> char {
    match kind {
        ChangeKind::Added => '+',
        ChangeKind::Removed => '-',
        ChangeKind::Modified => 'M',
        ChangeKind::TypeChanged => 'T',
        ChangeKind::MetadataOnly => 'U',
    }
}

/// Runs `diff`.
pub fn run(ctx: &Context, args: &DiffArgs) -> Result<Status> {
    let repo = ctx.open_indexed()?;
    let (ia, a) = repo.find_snapshot(&args.a)?;
    let (ib, b) = repo.find_snapshot(&args.b)?;
    let report = diff(&repo, &a, &b)?;
    let out = &ctx.out;
    if out.json {
        let mut v = serde_json::to_value(&report)?;
        v["snapshot_a"] = ia.to_hex().into();
        v["snapshot_b"] = ib.to_hex().into();
        out.json_doc(&v)?;
    } else {
        out.line(format_args!(
            "comparing snapshot {} to {}:",
            ia.short(),
            ib.short()
        ))?;
        for c in &report.changes {
            out.line(format_args!("{}    {}", mark(c.kind), c.path))?;
        }
        out.line(format_args!(
            "files: {} added, {} removed; bytes: {} added, {} removed",
            report.added_files,
            report.removed_files,
            bytes(report.added_bytes),
            bytes(report.removed_bytes)
        ))?;
    }
    Ok(Status::Ok)
}
