//! One module per verb: its clap flags, the conversion of those flags into engine options, and the
//! printing of the result. The work itself is a call into `cairn_engine`.

use anyhow::Result;
use cairn_engine::format::{Snapshot, SnapshotId};
use cairn_engine::{Repository, SnapshotFilter};
use clap::Args;

use crate::args::{Cli, Command, Context};
use crate::exit::Status;

pub mod backup;
pub mod cat;
pub mod check;
pub mod copy;
pub mod diff;
pub mod find;
pub mod forget;
pub mod init;
pub mod k8s;
pub mod k8s_apps;
pub mod k8s_backup;
pub mod k8s_restore;
pub mod keep;
pub mod key;
pub mod ls;
pub mod mount;
pub mod policy;
pub mod prune;
pub mod restore;
pub mod snapshots;
pub mod stats;
pub mod tag;

/// Runs the command of `cli`.
pub fn run(cli: Cli) -> Result<Status> {
    let ctx = Context::new(&cli.global);
    let status = match &cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Backup(a) => backup::run(&ctx, a),
        Command::Snapshots(a) => snapshots::run(&ctx, a),
        Command::Ls(a) => ls::run(&ctx, a),
        Command::Cat(a) => cat::run(&ctx, a),
        Command::Restore(a) => restore::run(&ctx, a),
        Command::Check(a) => check::run(&ctx, a),
        Command::Copy(a) => copy::run(&ctx, a),
        Command::Diff(a) => diff::run(&ctx, a),
        Command::Find(a) => find::run(&ctx, a),
        Command::Stats(a) => stats::run(&ctx, a),
        Command::Tag(a) => tag::run(&ctx, a),
        Command::Key(a) => key::run(&ctx, a),
        Command::Forget(a) => forget::run(&ctx, a),
        Command::Prune(a) => prune::run(&ctx, a),
        Command::Policy(a) => policy::run(&ctx, a),
        Command::Mount(a) => mount::run(&ctx, a),
        Command::K8s(a) => k8s::run(&ctx, a),
    };
    ctx.report_traffic();
    status
}

/// restic's snapshot filters: `--host`, `--tag`, `--path`.
#[derive(Args, Debug, Default)]
pub struct FilterArgs {
    /// Only snapshots of this host (repeatable)
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Only snapshots with these tags; `a,b` needs both, repeating the flag accepts either
    #[arg(long = "tag", value_name = "TAG[,TAG...]")]
    pub tags: Vec<String>,
    /// Only snapshots that include this path (repeatable)
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<String>,
}

impl FilterArgs {
    /// True when no filter was given.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.tags.is_empty() && self.paths.is_empty()
    }

    /// The engine's filter.
    pub fn filter(&self) -> SnapshotFilter {
        SnapshotFilter::new(self.hosts.clone(), self.tags.clone(), self.paths.clone())
    }
}

/// The snapshots named by `specs` (`latest` or id prefixes), each once, in the order given; with no
/// specs, every snapshot passing `filter`, oldest first. `latest` means the latest passing the filter.
pub fn select_snapshots(
    repo: &Repository,
    specs: &[String],
    filter: &SnapshotFilter,
) -> Result<Vec<(SnapshotId, Snapshot)>> {
    let all = filter.apply(repo.snapshots()?);
    if specs.is_empty() {
        return Ok(all);
    }
    let mut out: Vec<(SnapshotId, Snapshot)> = Vec::new();
    for spec in specs {
        let found = cairn_engine::select_snapshot(all.clone(), spec)?;
        if !out.iter().any(|(id, _)| *id == found.0) {
            out.push(found);
        }
    }
    Ok(out)
}

/// Tags as `--tag` takes them: repeatable, each a comma-separated list; empty items dropped.
pub fn split_tags(flags: &[String]) -> Vec<String> {
    flags
        .iter()
        .flat_map(|t| t.split(','))
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// A snapshot as JSON: its fields plus `id` and `short_id`.
pub fn snapshot_json(id: &SnapshotId, snap: &Snapshot) -> serde_json::Value {
    let mut v = serde_json::to_value(snap).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("id".into(), id.to_hex().into());
        obj.insert("short_id".into(), id.short().into());
    }
    v
}

/// Splits `SNAPSHOT:PATH` (the path may be absent).
pub fn split_snapshot_path(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((snap, path)) => (snap, Some(path)),
        None => (spec, None),
    }
}
