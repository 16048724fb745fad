//! `cairn restore`: write a snapshot, or part of it, into a directory.

use std::path::PathBuf;

use anyhow::Result;
use cairn_engine::commands::restore::{restore, RestoreOptions};
use cairn_engine::Progress;
use clap::Args;
use serde_json::json;

use super::{select_snapshots, split_snapshot_path, FilterArgs};
use crate::args::Context;
use crate::exit::Status;
use crate::output::{bytes, file_errors_json, report_file_errors};
use crate::progress::{Bar, Work};

/// Flags of `restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// `latest` or a snapshot id, optionally with `:PATH` to restore only that directory's contents
    #[arg(value_name = "SNAPSHOT[:PATH]")]
    pub snapshot: String,
    /// Directory to restore into (created if missing)
    #[arg(short, long, value_name = "DIR")]
    pub target: PathBuf,
    /// Restore only paths matching this glob, and what is below them (repeatable)
    #[arg(short, long = "include", value_name = "GLOB")]
    pub includes: Vec<String>,
    /// Leave out paths matching this glob (repeatable)
    #[arg(short, long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
    /// Read every restored file back and compare it with the snapshot
    #[arg(long)]
    pub verify: bool,
    /// With `latest`: the latest snapshot of these hosts, tags or paths
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs `restore`.
pub fn run(ctx: &Context, args: &RestoreArgs) -> Result<Status> {
    let (spec, subpath) = split_snapshot_path(&args.snapshot);
    let repo = ctx.open_indexed()?;
    let (id, snapshot) = select_snapshots(
        repo.repository(),
        &[spec.to_string()],
        &args.filter.filter(),
    )?
    .remove(0);
    let options = RestoreOptions::new(&args.target)
        .include(args.includes.iter().cloned())
        .exclude(args.excludes.iter().cloned())
        .subpath(subpath.filter(|p| !p.is_empty()))
        .verify(args.verify);
    let bar = Bar::new(ctx, Work::Restore);
    if subpath.is_none() && args.includes.is_empty() && args.excludes.is_empty() {
        // A whole snapshot: its summary gives the totals, so the bar can show an ETA.
        let s = &snapshot.summary;
        bar.set_total(
            s.files_new + s.files_changed + s.files_unmodified,
            s.bytes_total,
        );
    }
    let stats = restore(&repo, &snapshot, &options, &bar);
    bar.finish();
    let stats = stats?;
    if ctx.out.json {
        ctx.out.json_doc(&json!({
            "snapshot": id.to_hex(),
            "target": args.target.to_string_lossy(),
            "files": stats.files,
            "dirs": stats.dirs,
            "others": stats.others,
            "bytes": stats.bytes,
            "errors": file_errors_json(&stats.errors),
        }))?;
    } else {
        ctx.out.line(format_args!(
            "restored snapshot {} to {}: {} files, {} directories, {} other entries, {}",
            id.short(),
            args.target.display(),
            stats.files,
            stats.dirs,
            stats.others,
            bytes(stats.bytes)
        ))?;
    }
    Ok(report_file_errors(
        &stats.errors,
        "the restore is incomplete: some files could not be restored exactly",
    ))
}
