//! `cairn forget`: remove snapshots a retention policy does not keep, and optionally prune.

use anyhow::Result;
use cairn_engine::commands::forget::{forget, ForgetOptions, ForgetReport};
use cairn_engine::GroupBy;
use clap::Args;

use super::keep::KeepArgs;
use super::prune::{self, PruneArgs};
use super::FilterArgs;
use crate::args::Context;
use crate::exit::Status;
use crate::output::{local_time, Table};

/// Flags of `forget`.
#[derive(Args, Debug)]
pub struct ForgetArgs {
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
    let repo = ctx.open()?;
    let mut options = ForgetOptions::new(args.keep.policy());
    options.group_by = args.group_by;
    options.filter = args.filter.filter();
    options.dry_run = args.prune_args.dry_run;
    let report = forget(&repo, &options)?;
    print(ctx, &report, options.dry_run)?;
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
