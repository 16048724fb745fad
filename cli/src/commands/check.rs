//! `cairn check`: verify the repository's structure and, optionally, every byte of its packs.

use anyhow::Result;
use cairn_engine::commands::check::{check, CheckOptions, ReadData};
use clap::Args;

use crate::args::Context;
use crate::exit::Status;
use crate::progress::{Bar, Work};

/// Flags of `check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Read and verify every pack, blob by blob
    #[arg(long, conflicts_with = "read_data_subset")]
    pub read_data: bool,
    /// Read and verify a random part of the packs: a percentage (`10%`), a fraction (`0.1`), or
    /// `n/m` for one m-th of them
    #[arg(long, value_name = "N%", value_parser = parse_subset)]
    pub read_data_subset: Option<f64>,
}

/// Parses `10%`, `0.1`, or restic's `n/m`. restic reads the n-th of m groups of packs; cairn's engine
/// picks packs at random, so `n/m` reads one m-th of them (n only has to lie in 1..=m).
pub fn parse_subset(s: &str) -> std::result::Result<f64, String> {
    let bad =
        || format!("{s:?}: give a percentage like 10%, a fraction like 0.1, or n/m like 1/10");
    let f = if let Some(p) = s.strip_suffix('%') {
        p.trim().parse::<f64>().map_err(|_| bad())? / 100.0
    } else if let Some((n, m)) = s.split_once('/') {
        let n: u64 = n.trim().parse().map_err(|_| bad())?;
        let m: u64 = m.trim().parse().map_err(|_| bad())?;
        if m == 0 || n == 0 || n > m {
            return Err(bad());
        }
        1.0 / m as f64
    } else {
        s.trim().parse::<f64>().map_err(|_| bad())?
    };
    if !(f > 0.0 && f <= 1.0) {
        return Err(format!(
            "{s:?}: the part to read must be more than 0 and at most 100%"
        ));
    }
    Ok(f)
}

/// Runs `check`.
pub fn run(ctx: &Context, args: &CheckArgs) -> Result<Status> {
    let read_data = match (args.read_data, args.read_data_subset) {
        (true, _) => ReadData::All,
        (false, Some(f)) => ReadData::Subset(f),
        (false, None) => ReadData::None,
    };
    let repo = ctx.open()?;
    let bar = Bar::new(ctx, Work::Check);
    let report = check(repo, &CheckOptions::default().read_data(read_data), &bar);
    bar.finish();
    let report = report?;
    let out = &ctx.out;
    if out.json {
        let mut v = serde_json::to_value(&report)?;
        v["ok"] = report.is_ok().into();
        out.json_doc(&v)?;
    } else {
        out.line(format_args!(
            "checked {} snapshots, {} packs ({} read in full), {} blobs",
            report.snapshots, report.packs, report.packs_read, report.blobs
        ))?;
    }
    // Problems go to stderr whatever the output format, so they are never missed.
    for w in &report.warnings {
        eprintln!("cairn: warning: {w}");
    }
    for e in &report.errors {
        eprintln!("cairn: error: {e}");
    }
    for d in &report.damaged {
        eprintln!(
            "cairn: damaged: {:?} blob {} in pack {}: {}",
            d.kind,
            d.id.to_hex(),
            d.pack.to_hex(),
            d.reason
        );
    }
    for a in &report.affected {
        eprintln!(
            "cairn: needs damaged data: snapshot {} file {}",
            a.snapshot.short(),
            a.path
        );
    }
    if report.is_ok() {
        out.line("no errors were found")?;
        Ok(Status::Ok)
    } else {
        eprintln!(
            "cairn: the repository has errors: {} errors, {} damaged blobs, {} files affected",
            report.errors.len(),
            report.damaged.len(),
            report.affected.len()
        );
        Ok(Status::CheckFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_parse() {
        assert_eq!(parse_subset("10%"), Ok(0.1));
        assert_eq!(parse_subset("0.25"), Ok(0.25));
        assert_eq!(parse_subset("1/4"), Ok(0.25));
        assert_eq!(parse_subset("3/4"), Ok(0.25));
        assert!(parse_subset("5/4").is_err());
        assert!(parse_subset("0%").is_err());
        assert!(parse_subset("150%").is_err());
        assert!(parse_subset("1/0").is_err());
        assert!(parse_subset("x").is_err());
    }
}
