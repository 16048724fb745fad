//! `cairn forget`: remove snapshots a retention policy does not keep, and optionally prune.

use anyhow::{bail, Result};
use cairn_engine::commands::forget::{forget, forget_ids, ForgetOptions, ForgetReport};
use cairn_engine::GroupBy;
use clap::Args;

use super::keep::KeepArgs;
use super::prune::{self, PruneArgs};
use super::{select_snapshots, FilterArgs};
use crate::args::Context;
use crate::exit::Status;
use crate::output::{local_time, Table};

/// Flags of `forget`.
#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Remove exactly these snapshots (`latest` or id prefixes) instead of applying a policy
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    #[command(flatten)]
    pub keep: KeepArgs,
    /// Group snapshots by these fields before applying the policy: host, paths, tags, app
    #[arg(
        short = 'g',
        long,
        value_name = "FIELDS",
        default_value = "host,paths,app"
    )]
    pub group_by: GroupBy,
    /// Run prune after removing snapshots
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub prune_args: PruneArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs `forget`.
pub fn run(ctx: &Context, args: &ForgetArgs) -> Result<Status> {
    let policy = args.keep.policy();
    if !args.snapshots.is_empty() && !policy.is_empty() {
        bail!("give snapshots to remove or --keep-* rules, not both; nothing was removed");
    }
    let repo = ctx.open()?;
    let dry_run = args.prune_args.dry_run;
    let report = if args.snapshots.is_empty() {
        let mut options = ForgetOptions::new(policy);
        options.group_by = args.group_by;
        options.filter = args.filter.filter();
        options.dry_run = dry_run;
        forget(&repo, &options)?
    } else {
        let chosen = select_snapshots(&repo, &args.snapshots, &args.filter.filter())?;
        let ids: Vec<_> = chosen.into_iter().map(|(id, _)| id).collect();
        forget_ids(&repo, &ids, dry_run)?
    };
    print(ctx, &report, dry_run)?;
    if args.prune {
        prune::run_on(ctx, &repo, &args.prune_args)?;
    }
    Ok(Status::Ok)
}

fn print(ctx: &Context, report: &ForgetReport, dry_run: bool) -> Result<()> {
    if ctx.out.json {
        ctx.out.json_doc(report)?;
        return Ok(());
    }
    for group in &report.groups {
        ctx.out.line(format_args!("snapshots of {}:", group.key))?;
        let mut table = Table::new(&["ID", "Time", "Host", "Tags", "Decision", "Reasons"]);
        for d in &group.decisions {
            table.row(vec![
                d.id.short(),
                local_time(d.snapshot.time),
                d.snapshot.host.clone(),
                d.snapshot.tags.join(","),
                if d.keep { "keep" } else { "remove" }.into(),
                d.reasons.join(", "),
            ]);
        }
        ctx.out.line(table.render())?;
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    ctx.out
        .line(format_args!("{verb} {} snapshots", report.removed.len()))?;
    Ok(())
}
