//! `cairn snapshots`: list snapshots as a table or JSON, optionally grouped.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use cairn_engine::format::{Snapshot, SnapshotId, Source};
use clap::Args;
use serde_json::json;

use super::{select_snapshots, snapshot_json, FilterArgs};
use crate::args::Context;
use crate::exit::Status;
use crate::output::{bytes, local_time, Table};

/// Flags of `snapshots`.
#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    /// Only these snapshots (`latest` or id prefixes)
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Only the last N snapshots of each group (by host and paths unless --group-by says otherwise)
    #[arg(long, value_name = "N")]
    pub latest: Option<usize>,
    /// Group by any of host, paths, tags (comma-separated)
    #[arg(long, value_name = "FIELDS", value_parser = parse_group_by)]
    pub group_by: Option<GroupBy>,
}

/// Which fields group snapshots.
#[derive(Clone, Copy, Debug, Default)]
pub struct GroupBy {
    host: bool,
    paths: bool,
    tags: bool,
}

fn parse_group_by(s: &str) -> std::result::Result<GroupBy, String> {
    let mut g = GroupBy::default();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part {
            "host" => g.host = true,
            "paths" | "path" => g.paths = true,
            "tags" | "tag" => g.tags = true,
            other => {
                return Err(format!(
                    "cannot group by {other:?}: use host, paths or tags"
                ))
            }
        }
    }
    Ok(g)
}

impl GroupBy {
    fn key(&self, s: &Snapshot) -> BTreeMap<&'static str, serde_json::Value> {
        let mut k = BTreeMap::new();
        if self.host {
            k.insert("host", json!(s.host));
        }
        if self.paths {
            k.insert("paths", json!(s.paths));
        }
        if self.tags {
            k.insert("tags", json!(s.tags));
        }
        k
    }
}

type Group = (
    BTreeMap<&'static str, serde_json::Value>,
    Vec<(SnapshotId, Snapshot)>,
);

fn group(all: Vec<(SnapshotId, Snapshot)>, by: GroupBy) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (id, s) in all {
        let key = by.key(&s);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push((id, s)),
            None => groups.push((key, vec![(id, s)])),
        }
    }
    groups
}

fn keep_latest(list: &mut Vec<(SnapshotId, Snapshot)>, n: usize) {
    if list.len() > n {
        list.drain(..list.len() - n);
    }
}

/// The paths column: paths of a file backup, or what a stream came from.
pub fn source_text(s: &Snapshot) -> String {
    match &s.source {
        Source::Files => s.paths.join("\n"),
        Source::Stream { filename, command } => match command {
            Some(argv) => format!("{filename} (from `{}`)", argv.join(" ")),
            None => format!("{filename} (stdin)"),
        },
        Source::Kubernetes { .. } => super::k8s::app_text(s),
    }
}

fn table(list: &[(SnapshotId, Snapshot)]) -> String {
    let mut t = Table::new(&["ID", "Time", "Host", "Tags", "Paths", "Size"]);
    for (id, s) in list {
        t.row(vec![
            id.short(),
            local_time(s.time),
            s.host.clone(),
            s.tags.join(","),
            source_text(s),
            bytes(s.summary.bytes_total),
        ]);
    }
    t.render()
}

/// Runs `snapshots`.
pub fn run(ctx: &Context, args: &SnapshotsArgs) -> Result<Status> {
    if args.latest == Some(0) {
        bail!("--latest needs at least 1");
    }
    let repo = ctx.open()?;
    let list = select_snapshots(&repo, &args.snapshots, &args.filter.filter())?;
    let grouped = args.group_by.is_some();
    let by = args.group_by.unwrap_or(GroupBy {
        host: args.latest.is_some(),
        paths: args.latest.is_some(),
        tags: false,
    });
    let mut groups = group(list, by);
    if let Some(n) = args.latest {
        for (_, list) in &mut groups {
            keep_latest(list, n);
        }
    }
    if ctx.out.json {
        if grouped {
            let doc: Vec<_> = groups
                .iter()
                .map(|(key, list)| {
                    json!({
                        "group_key": key,
                        "snapshots": list.iter().map(|(id, s)| snapshot_json(id, s)).collect::<Vec<_>>(),
                    })
                })
                .collect();
            ctx.out.json_doc(&doc)?;
        } else {
            let mut all: Vec<_> = groups.into_iter().flat_map(|(_, l)| l).collect();
            all.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
            let doc: Vec<_> = all.iter().map(|(id, s)| snapshot_json(id, s)).collect();
            ctx.out.json_doc(&doc)?;
        }
        return Ok(Status::Ok);
    }
    if grouped {
        for (key, list) in &groups {
            let label: Vec<String> = key
                .iter()
                .map(|(k, v)| match v {
                    serde_json::Value::Array(a) => format!(
                        "{k} [{}]",
                        a.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    v => format!("{k} [{}]", v.as_str().unwrap_or_default()),
                })
                .collect();
            ctx.out
                .line(format_args!("snapshots for {}:", label.join(", ")))?;
            ctx.out.line(table(list).trim_end())?;
            ctx.out.line(format_args!("{} snapshots\n", list.len()))?;
        }
    } else {
        let mut all: Vec<_> = groups.into_iter().flat_map(|(_, l)| l).collect();
        all.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        ctx.out.line(table(&all).trim_end())?;
        ctx.out.line(format_args!("{} snapshots", all.len()))?;
    }
    Ok(Status::Ok)
}
