//! `cairn backup`: files and directories, standard input, or a command's output into a new snapshot.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use cairn_engine::commands::backup::{
    backup, BackupOptions, BackupOutcome, ParentChoice, StreamSource,
};
use clap::Args;
use serde_json::json;

use super::snapshot_json;
use crate::args::Context;
use crate::exit::Status;
use crate::output::{bytes, duration, file_errors_json, report_file_errors};
use crate::progress::{Bar, Work};

/// Flags of `backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and directories to back up; with --stdin-from-command, the command and its arguments
    /// (after `--`)
    #[arg(value_name = "PATH", required_unless_present = "stdin")]
    pub paths: Vec<PathBuf>,
    /// Leave out paths matching this glob (restic's rules; repeatable)
    #[arg(short = 'e', long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
    /// Read exclude globs from this file: one per line, `#` starts a comment (repeatable)
    #[arg(long = "exclude-file", value_name = "FILE")]
    pub exclude_files: Vec<PathBuf>,
    /// Stay on the file system of each given path
    #[arg(short = 'x', long)]
    pub one_file_system: bool,
    /// Host name to record instead of this machine's
    #[arg(short = 'H', long, value_name = "NAME")]
    pub host: Option<String>,
    /// Tag the snapshot (repeatable; `a,b` adds both)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Time to record instead of now: "2026-01-02 03:04:05" (local time) or RFC 3339
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub time: Option<jiff::Timestamp>,
    /// Compare with this snapshot to skip unchanged files (default: the latest of this host and paths)
    #[arg(long, value_name = "SNAPSHOT", conflicts_with = "force")]
    pub parent: Option<String>,
    /// Read every file, ignoring any parent snapshot
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Back up standard input as one file
    #[arg(long, conflicts_with = "stdin_from_command")]
    pub stdin: bool,
    /// Back up the output of the command given after `--`; no snapshot is saved if it fails
    #[arg(long)]
    pub stdin_from_command: bool,
    /// The file name of standard input or the command's output in the snapshot
    #[arg(long, value_name = "NAME", default_value = "stdin")]
    pub stdin_filename: String,
}

/// Parses `--time`: RFC 3339, or a civil date and time in the local time zone.
pub fn parse_time(s: &str) -> std::result::Result<jiff::Timestamp, String> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let civil: jiff::civil::DateTime = s
        .parse()
        .map_err(|_| format!("{s:?}: use \"2026-01-02 03:04:05\" (local time) or RFC 3339"))?;
    civil
        .to_zoned(jiff::tz::TimeZone::system())
        .map(|z| z.timestamp())
        .map_err(|e| format!("{s:?}: {e}"))
}

/// Exclude patterns of a file: one per line; blank lines and lines starting with `#` are skipped.
pub fn read_exclude_file(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read exclude file {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

fn options(args: &BackupArgs) -> Result<BackupOptions> {
    let mut o = BackupOptions::default();
    o.excludes = args.excludes.clone();
    for file in &args.exclude_files {
        o.excludes.extend(read_exclude_file(file)?);
    }
    o.one_file_system = args.one_file_system;
    o.host = args.host.clone();
    o.tags = super::split_tags(&args.tags);
    o.time = args.time;
    if args.stdin_from_command {
        let argv: Vec<String> = args
            .paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if argv.is_empty() {
            bail!("--stdin-from-command needs the command after `--`, e.g. `-- pg_dump db`");
        }
        o.stream = Some(StreamSource::Command {
            filename: args.stdin_filename.clone(),
            argv,
        });
    } else if args.stdin {
        if !args.paths.is_empty() {
            bail!("--stdin takes no paths");
        }
        o.stream = Some(StreamSource::Stdin {
            filename: args.stdin_filename.clone(),
        });
    } else {
        o.paths = args.paths.clone();
    }
    Ok(o)
}

/// Runs `backup`.
pub fn run(ctx: &Context, args: &BackupArgs) -> Result<Status> {
    let mut options = options(args)?;
    // A writer session first, so a concurrent prune never deletes what this backup relies on.
    let repo = ctx.open()?.load_index_for_writing("backup")?;
    options.parent = if args.force {
        ParentChoice::None
    } else if let Some(spec) = &args.parent {
        ParentChoice::Snapshot(repo.find_snapshot(spec)?.0)
    } else {
        ParentChoice::Auto
    };
    let bar = Bar::new(ctx, Work::Backup);
    let outcome = backup(&repo, &options, &bar);
    bar.finish();
    let outcome = outcome?;
    print(ctx, &outcome)?;
    Ok(report_file_errors(
        &outcome.errors,
        "the snapshot is incomplete: some files could not be read",
    ))
}

fn print(ctx: &Context, o: &BackupOutcome) -> Result<()> {
    let s = &o.snapshot.summary;
    if ctx.out.json {
        ctx.out.json_doc(&json!({
            "id": o.id.to_hex(),
            "short_id": o.id.short(),
            "parent": o.parent.map(|p| p.to_hex()),
            "summary": s,
            "errors": file_errors_json(&o.errors),
            "snapshot": snapshot_json(&o.id, &o.snapshot),
        }))?;
    } else {
        let out = &ctx.out;
        if let Some(parent) = o.parent {
            out.line(format_args!(
                "compared with parent snapshot {}",
                parent.short()
            ))?;
        }
        out.line(format_args!(
            "Files:       {} new, {} changed, {} unmodified",
            s.files_new, s.files_changed, s.files_unmodified
        ))?;
        out.line(format_args!(
            "Dirs:        {}; other entries: {}",
            s.dirs, s.others
        ))?;
        out.line(format_args!(
            "Added:       {} ({} data blobs, {} tree blobs)",
            bytes(s.bytes_added),
            s.data_blobs_added,
            s.tree_blobs_added
        ))?;
        out.line(format_args!(
            "Processed:   {} files, {} ({} read) in {}",
            s.files_new + s.files_changed + s.files_unmodified,
            bytes(s.bytes_total),
            bytes(s.bytes_read),
            duration(s.duration_secs)
        ))?;
        out.line(format_args!("snapshot {} saved", o.id.short()))?;
    }
    Ok(())
}
