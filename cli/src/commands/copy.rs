//! `cairn copy`: copy snapshots from another repository into this one.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use cairn_engine::commands::copy::copy;
use cairn_engine::{Backend, Repository};
use clap::Args;
use serde_json::json;

use super::{select_snapshots, FilterArgs};
use crate::args::{Context, PasswordSource};
use crate::exit::Status;
use crate::output::bytes;
use crate::progress::{Bar, Work};

/// The other repository of `copy` and `init --copy-chunker-params`, as restic names its flags.
#[derive(Args, Debug)]
pub struct FromRepoArgs {
    /// The repository to copy from
    #[arg(long, env = "CAIRN_FROM_REPOSITORY", value_name = "LOCATION")]
    pub from_repo: Option<String>,
    /// Read the other repository's password from the first line of this file
    #[arg(long, env = "CAIRN_FROM_PASSWORD_FILE", value_name = "FILE")]
    pub from_password_file: Option<PathBuf>,
    /// Run this shell command for the other repository's password
    #[arg(
        long,
        env = "CAIRN_FROM_PASSWORD_COMMAND",
        value_name = "COMMAND",
        conflicts_with = "from_password_file"
    )]
    pub from_password_command: Option<String>,
}

impl FromRepoArgs {
    /// Opens the other repository (`CAIRN_FROM_PASSWORD` also gives its password).
    pub fn open(&self, ctx: &Context) -> Result<Repository> {
        let location = self
            .from_repo
            .as_deref()
            .context("no repository to copy from: use --from-repo or CAIRN_FROM_REPOSITORY")?;
        let password = PasswordSource::resolve(
            self.from_password_file.as_ref(),
            self.from_password_command.as_ref(),
            "CAIRN_FROM_PASSWORD",
            "--from-password-file or --from-password-command",
        )
        .read("source repository", false)?;
        let backend = Backend::open(location, false)?;
        Repository::open(backend, password.bytes(), &ctx.open_options())
            .with_context(|| format!("opening the source repository {location}"))
    }
}

/// Flags of `copy`.
#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Snapshots to copy (`latest` or id prefixes); all that pass the filters when none is given
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    #[command(flatten)]
    pub from: FromRepoArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs `copy`.
pub fn run(ctx: &Context, args: &CopyArgs) -> Result<Status> {
    let source = args.from.open(ctx)?.load_index()?;
    let chosen = select_snapshots(source.repository(), &args.snapshots, &args.filter.filter())?;
    let target = ctx.open()?.load_index_for_writing("copy")?;
    let bar = Bar::new(ctx, Work::Restore);
    let report = copy(&source, &target, chosen, &bar)?;
    bar.finish();
    if ctx.out.json {
        ctx.out.json_doc(&json!({
            "copied": report.copied.iter().map(|(from, to)| json!({"source": from.to_hex(), "id": to.to_hex()})).collect::<Vec<_>>(),
            "skipped": report.skipped.iter().map(|id| id.to_hex()).collect::<Vec<_>>(),
            "data_blobs_added": report.data_blobs_added,
            "tree_blobs_added": report.tree_blobs_added,
            "bytes_added": report.bytes_added,
            "bytes_read": report.bytes_read,
            "chunking_differs": report.chunking_differs,
        }))?;
        return Ok(Status::Ok);
    }
    for (from, to) in &report.copied {
        ctx.out.line(format_args!(
            "copied snapshot {} as {}",
            from.short(),
            to.short()
        ))?;
    }
    for id in &report.skipped {
        ctx.out.line(format_args!(
            "skipped snapshot {}: the repository already has a copy",
            id.short()
        ))?;
    }
    ctx.out.line(format_args!(
        "{} snapshots copied, {} skipped; {} read from the source, {} new blobs ({}) stored",
        report.copied.len(),
        report.skipped.len(),
        bytes(report.bytes_read),
        report.data_blobs_added + report.tree_blobs_added,
        bytes(report.bytes_added),
    ))?;
    if report.chunking_differs && !report.copied.is_empty() {
        ctx.out.line(
            "note: the two repositories cut files into chunks differently (their chunker parameters \
             differ), so copied files do not deduplicate against the same files backed up into this \
             repository directly; each such file may be stored twice. A repository created with \
             `cairn init --from-repo SOURCE --copy-chunker-params` avoids this.",
        )?;
    }
    Ok(Status::Ok)
}
