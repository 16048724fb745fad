//! `cairn find`: files matching patterns, or files holding given blobs, in snapshots.

use anyhow::Result;
use cairn_engine::commands::find::{find, find_blobs, resolve_blob_prefixes, FindMatch};
use cairn_engine::{Error, ErrorKind};
use clap::Args;

use super::ls::entry_json;
use super::{select_snapshots, FilterArgs};
use crate::args::Context;
use crate::exit::Status;
use crate::output::{local_time_nanos, mode_string};

/// Flags of `find`.
#[derive(Args, Debug)]
pub struct FindArgs {
    /// Globs: without `/` matched against names, with `/` against full paths (`**` crosses `/`);
    /// with --blob, data blob ids or prefixes
    #[arg(value_name = "PATTERN", required = true)]
    pub patterns: Vec<String>,
    /// Search only this snapshot (repeatable; default all)
    #[arg(short, long = "snapshot", value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    /// The patterns are data blob ids: find the files that hold them
    #[arg(long)]
    pub blob: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs `find`.
pub fn run(ctx: &Context, args: &FindArgs) -> Result<Status> {
    let repo = ctx.open_indexed()?;
    let snapshots = select_snapshots(&repo, &args.snapshots, &args.filter.filter())?;
    let out = ctx.out;
    let print = |m: &FindMatch| -> std::io::Result<()> {
        if out.json {
            let mut v = entry_json(&m.path, &m.entry);
            v["snapshot"] = m.snapshot.to_hex().into();
            out.json_line(&v)
        } else {
            out.line(format_args!(
                "{} {} {:>12} {} {}",
                m.snapshot.short(),
                mode_string(m.entry.kind, m.entry.mode),
                m.entry.size,
                local_time_nanos(m.entry.mtime),
                m.path
            ))
        }
    };
    let mut count = 0u64;
    if args.blob {
        let ids = resolve_blob_prefixes(&repo, &args.patterns)?;
        for m in find_blobs(&repo, &snapshots, &ids)? {
            print(&m)?;
            count += 1;
        }
    } else {
        let mut write_error = None;
        let result = find(&repo, &snapshots, &args.patterns, &mut |m| {
            count += 1;
            print(&m).map_err(|io| {
                let e = Error::new(ErrorKind::Io, format!("writing the results: {io}"));
                write_error = Some(io);
                e
            })
        });
        if let Some(io) = write_error {
            return Err(io.into());
        }
        result?;
    }
    if !out.json {
        out.note(format_args!(
            "{count} matches in {} snapshots",
            snapshots.len()
        ));
    }
    Ok(Status::Ok)
}
