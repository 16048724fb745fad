//! `cairn prune`: delete data no snapshot needs, safely while backups run.

use anyhow::{anyhow, Result};
use cairn_engine::commands::prune::{prune, PruneOptions, PruneStats};
use cairn_engine::{NoProgress, Repository};
use clap::Args;

use crate::args::{parse_size, Context};
use crate::exit::Status;
use crate::output::bytes;

/// Flags of `prune` (also taken by `forget --prune`).
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Unused space tolerated in partly used packs before they are repacked: a percentage of the
    /// repository (`5%`), a size (`100M`), or `unlimited`
    #[arg(long, value_name = "LIMIT", default_value = "5%")]
    pub max_unused: String,
    /// Repack at most this much data in one run (e.g. `2G`)
    #[arg(long, value_name = "SIZE")]
    pub max_repack_size: Option<String>,
    /// Only print what would be deleted and repacked
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

impl PruneArgs {
    /// The engine's options; a size limit becomes a fraction of the repository's current size.
    pub fn options(&self, repo: &Repository) -> Result<PruneOptions> {
        let max_unused = match self.max_unused.trim() {
            "unlimited" => 1.0,
            s if s.ends_with('%') => {
                let pct: f64 = s[..s.len() - 1]
                    .trim()
                    .parse()
                    .map_err(|_| anyhow!("--max-unused {s:?} is not a percentage"))?;
                pct / 100.0
            }
            s => {
                let limit = parse_size(s, 1).map_err(|e| anyhow!("--max-unused: {e}"))?;
                let total: u64 = repo
                    .backend()
                    .list(cairn_engine::FileType::Pack)?
                    .iter()
                    .map(|l| l.size)
                    .sum();
                if total == 0 {
                    0.0
                } else {
                    (limit as f64 / total as f64).min(1.0)
                }
            }
        };
        let max_repack = self
            .max_repack_size
            .as_deref()
            .map(|s| parse_size(s, 1).map_err(|e| anyhow!("--max-repack-size: {e}")))
            .transpose()?;
        Ok(PruneOptions::default()
            .max_unused(max_unused)
            .max_repack_bytes(max_repack)
            .dry_run(self.dry_run))
    }
}

/// Runs `prune`.
pub fn run(ctx: &Context, args: &PruneArgs) -> Result<Status> {
    let repo = ctx.open()?;
    run_on(ctx, &repo, args)
}

/// Runs prune on an open repository and prints its report.
pub fn run_on(ctx: &Context, repo: &Repository, args: &PruneArgs) -> Result<Status> {
    let stats = prune(repo, &args.options(repo)?, &NoProgress)?;
    print(ctx, &stats, args.dry_run)?;
    Ok(Status::Ok)
}

fn print(ctx: &Context, s: &PruneStats, dry_run: bool) -> Result<()> {
    if ctx.out.json {
        ctx.out.json_doc(s)?;
        return Ok(());
    }
    let would = if dry_run { "would be " } else { "" };
    ctx.out.line(format_args!(
        "{} snapshots, {} packs ({}), {} unused",
        s.snapshots,
        s.packs,
        bytes(s.repository_bytes),
        bytes(s.bytes_unused)
    ))?;
    ctx.out.line(format_args!(
        "condemned {} packs ({} unused, {} left by interrupted runs, {} {}repacked: {})",
        s.packs_condemned,
        s.packs_unused,
        s.unindexed_packs,
        s.packs_repacked,
        would,
        bytes(s.bytes_repacked)
    ))?;
    ctx.out.line(format_args!(
        "{} packs {}deleted, {} freed; {} kept because a newer snapshot needs them",
        s.packs_deleted,
        would,
        bytes(s.bytes_freed),
        s.packs_revived
    ))?;
    if s.plans_waiting > 0 {
        ctx.out.line(format_args!(
            "{} deletion plans wait for writers that started before them: {}; a later prune \
             finishes them",
            s.plans_waiting,
            s.waiting_for.join(", ")
        ))?;
    }
    if s.expired_sessions > 0 {
        ctx.out.line(format_args!(
            "removed {} sessions of writers that stopped without ending them",
            s.expired_sessions
        ))?;
    }
    Ok(())
}
