//! `cairn ls`: list the entries of a snapshot.

use anyhow::Result;
use cairn_engine::commands::ls::ls;
use cairn_engine::format::{Entry, EntryKind};
use cairn_engine::{Error, ErrorKind};
use clap::Args;
use serde_json::json;

use super::split_snapshot_path;
use crate::args::Context;
use crate::exit::Status;
use crate::output::{local_time_nanos, mode_string};

/// Flags of `ls`.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// `latest` or a snapshot id (`SNAPSHOT:PATH` works too)
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,
    /// List only this directory (or file) of the snapshot
    #[arg(value_name = "PATH")]
    pub path: Option<String>,
    /// Show mode, owner, size and time like `ls -l`
    #[arg(short, long)]
    pub long: bool,
    /// With a PATH, list everything below it, not only its entries
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir => "dir",
        EntryKind::Symlink => "symlink",
        EntryKind::Hardlink => "hardlink",
        EntryKind::Chardev => "chardev",
        EntryKind::Blockdev => "blockdev",
        EntryKind::Fifo => "fifo",
        EntryKind::Socket => "socket",
    }
}

/// One entry as a JSON object (without content or subtree ids).
pub fn entry_json(path: &str, e: &Entry) -> serde_json::Value {
    let mut v = json!({
        "path": path,
        "name": e.name.to_string(),
        "type": kind_name(e.kind),
        "mode": e.mode,
        "uid": e.uid,
        "gid": e.gid,
        "user": e.user,
        "group": e.group,
        "size": e.size,
        "mtime": jiff::Timestamp::from_nanosecond(e.mtime as i128).ok(),
    });
    if let Some(t) = &e.target {
        v["target"] = t.to_string().into();
    }
    v
}

/// Runs `ls`.
pub fn run(ctx: &Context, args: &LsArgs) -> Result<Status> {
    let (spec, inline_path) = split_snapshot_path(&args.snapshot);
    let path = args
        .path
        .as_deref()
        .or(inline_path)
        .filter(|p| !p.is_empty());
    let repo = ctx.open_indexed()?;
    let (id, snapshot) = repo.find_snapshot(spec)?;
    // restic's rule: the whole snapshot is listed recursively, a directory only one level deep.
    let recursive = path.is_none() || args.recursive;
    let out = ctx.out;
    if out.json {
        out.json_line(&json!({
            "struct_type": "snapshot",
            "id": id.to_hex(),
            "short_id": id.short(),
            "time": snapshot.time,
            "host": snapshot.host,
            "paths": snapshot.paths,
            "tags": snapshot.tags,
        }))?;
    } else {
        out.line(format_args!(
            "snapshot {} of {} at {}:",
            id.short(),
            super::snapshots::source_text(&snapshot).replace('\n', ", "),
            crate::output::local_time(snapshot.time)
        ))?;
    }
    let mut write_error: Option<std::io::Error> = None;
    let result = ls(&repo, &snapshot, path, recursive, &mut |p, e| {
        let r = if out.json {
            let mut v = entry_json(p, e);
            v["struct_type"] = "node".into();
            out.json_line(&v)
        } else if args.long {
            let owner = |name: &str, id: u32| {
                if name.is_empty() {
                    id.to_string()
                } else {
                    name.to_string()
                }
            };
            let target = match (&e.target, e.kind) {
                (Some(t), EntryKind::Symlink) => format!(" -> {t}"),
                (Some(t), EntryKind::Hardlink) => format!(" => {t}"),
                _ => String::new(),
            };
            out.line(format_args!(
                "{} {:>8} {:>8} {:>12} {} {p}{target}",
                mode_string(e.kind, e.mode),
                owner(&e.user, e.uid),
                owner(&e.group, e.gid),
                e.size,
                local_time_nanos(e.mtime),
            ))
        } else {
            out.line(p)
        };
        r.map_err(|io| {
            let e = Error::new(ErrorKind::Io, format!("writing the listing: {io}"));
            write_error = Some(io);
            e
        })
    });
    if let Some(io) = write_error {
        return Err(io.into());
    }
    result?;
    Ok(Status::Ok)
}
