//! `cairn tag`: add, remove or replace the tags of snapshots.

use anyhow::{bail, Result};
use cairn_engine::commands::tag::{tag, TagChange};
use clap::Args;
use serde_json::json;

use super::{select_snapshots, FilterArgs};
use crate::args::Context;
use crate::exit::Status;

/// Flags of `tag`.
#[derive(Args, Debug)]
pub struct TagArgs {
    /// Snapshots to change (or use --host/--tag/--path to select)
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    /// Add this tag (repeatable; `a,b` adds both)
    #[arg(long, value_name = "TAG")]
    pub add: Vec<String>,
    /// Remove this tag (repeatable)
    #[arg(long, value_name = "TAG")]
    pub remove: Vec<String>,
    /// Replace all tags by these (repeatable; give `--set ''` to remove all)
    #[arg(long, value_name = "TAG", conflicts_with_all = ["add", "remove"])]
    pub set: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs `tag`.
pub fn run(ctx: &Context, args: &TagArgs) -> Result<Status> {
    if args.snapshots.is_empty() && args.filter.is_empty() {
        bail!("name the snapshots to tag, or select them with --host, --tag or --path");
    }
    let change = TagChange {
        add: super::split_tags(&args.add),
        remove: super::split_tags(&args.remove),
        set: (!args.set.is_empty()).then(|| super::split_tags(&args.set)),
    };
    let repo = ctx.open()?;
    let snapshots = select_snapshots(&repo, &args.snapshots, &args.filter.filter())?;
    let changed = tag(&repo, &snapshots, &change)?;
    if ctx.out.json {
        let list: Vec<_> = changed
            .iter()
            .map(|(old, new)| json!({ "old": old.to_hex(), "new": new.to_hex() }))
            .collect();
        ctx.out.json_doc(&json!({ "changed": list }))?;
    } else {
        for (old, new) in &changed {
            ctx.out.line(format_args!(
                "snapshot {} is now {}",
                old.short(),
                new.short()
            ))?;
        }
        ctx.out.line(format_args!(
            "{} of {} snapshots changed",
            changed.len(),
            snapshots.len()
        ))?;
    }
    Ok(Status::Ok)
}
