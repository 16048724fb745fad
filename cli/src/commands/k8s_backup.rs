//! `cairn k8s backup`: an application's objects and volumes into a new snapshot.

use anyhow::{Context as _, Result};
use cairn_engine::k8s::{
    backup, ClusterResources, K8sBackupOptions, K8sBackupOutcome, MoverOptions, SelectionOptions,
    VolumeMethod,
};
use clap::Args;
use serde_json::{json, Value};

use super::backup::parse_time;
use super::k8s::{ClusterArgs, MoverArgs, NamespaceArgs};
use super::snapshot_json;
use crate::args::Context;
use crate::exit::Status;
use crate::output::{bytes, duration, file_errors_json};
use crate::progress::{Bar, Work};

/// Flags of `k8s backup`.
#[derive(Args, Debug)]
pub struct K8sBackupArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub scope: NamespaceArgs,
    /// Only objects whose labels match this label selector (kubectl's syntax)
    #[arg(
        short = 'l',
        long,
        value_name = "SELECTOR",
        conflicts_with = "or_selectors"
    )]
    pub selector: Option<String>,
    /// Objects matching any of these selectors (repeatable)
    #[arg(long = "or-selector", value_name = "SELECTOR")]
    pub or_selectors: Vec<String>,
    /// Only these resources, as resource.group (core: resource); globs, comma-separated
    #[arg(long, value_name = "RESOURCES", value_delimiter = ',')]
    pub include_resources: Vec<String>,
    /// Not these resources, as resource.group; globs, comma-separated
    #[arg(long, value_name = "RESOURCES", value_delimiter = ',')]
    pub exclude_resources: Vec<String>,
    /// Cluster-scoped objects: auto (what the application needs; all for a whole-cluster backup),
    /// true (all) or false (none)
    #[arg(long, value_name = "auto|true|false", default_value = "auto")]
    pub include_cluster_resources: String,
    /// How to read volume data: auto, node-local, exec, csi-snapshot or none
    #[arg(long, value_name = "METHOD", default_value = "auto")]
    pub volume_method: String,
    /// csi-snapshot: the VolumeSnapshotClass to snapshot claims with [default: the class (marked
    /// default, else the first) of the volume's CSI driver]
    #[arg(long, value_name = "CLASS")]
    pub snapshot_class: Option<String>,
    #[command(flatten)]
    pub mover: MoverArgs,
    /// Quiesce databases with built-in hooks: postgres, mysql, mongodb, cassandra, redis
    #[arg(long = "rule", value_name = "NAME[,NAME]")]
    pub rules: Vec<String>,
    /// Host name to record instead of this machine's
    #[arg(short = 'H', long, value_name = "NAME")]
    pub host: Option<String>,
    /// Tag the snapshot (repeatable; `a,b` adds both)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Time to record instead of now: "2026-01-02 03:04:05" (local time) or RFC 3339
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub time: Option<jiff::Timestamp>,
}

fn options(args: &K8sBackupArgs) -> Result<K8sBackupOptions> {
    let mut selection = SelectionOptions::default();
    selection.namespaces = args.scope.globs();
    selection.exclude_namespaces = args.scope.exclude_namespaces.clone();
    selection.selector = args.selector.clone();
    selection.or_selectors = args.or_selectors.clone();
    selection.include_resources = args.include_resources.clone();
    selection.exclude_resources = args.exclude_resources.clone();
    selection.include_cluster_resources =
        args.include_cluster_resources.parse::<ClusterResources>()?;
    let mut o = K8sBackupOptions::default();
    o.connect = args.cluster.connect();
    o.cluster = args.cluster.cluster_name.clone();
    o.selection = selection;
    o.volume_method = args.volume_method.parse::<VolumeMethod>()?;
    o.node = args.cluster.node.clone();
    o.rules = args.rules.clone();
    o.host = args.host.clone();
    o.tags = super::split_tags(&args.tags);
    o.time = args.time;
    Ok(o)
}

/// What the csi-snapshot method's Job gets: this repository's location and password, and the
/// mover flags.
fn mover(ctx: &Context, args: &K8sBackupArgs, password: &[u8]) -> Result<MoverOptions> {
    let mut m = args.mover.options(ctx, password)?;
    m.snapshot_class = args.snapshot_class.clone();
    Ok(m)
}

/// Runs `k8s backup`.
pub fn run(ctx: &Context, args: &K8sBackupArgs) -> Result<Status> {
    let mut options = options(args)?;
    let (repo, password) = ctx.open_keeping_password()?;
    options.mover = Some(mover(ctx, args, password.bytes())?);
    drop(password);
    // A writer session first, so a concurrent prune never deletes what this backup relies on.
    let repo = repo.load_index_for_writing("k8s backup")?;
    let bar = Bar::new(ctx, Work::Backup);
    let outcome = backup(&repo, &options, &bar);
    bar.finish();
    let outcome = outcome.context("Kubernetes backup failed; no snapshot was saved")?;
    print(ctx, &outcome)?;
    for w in &outcome.warnings {
        eprintln!("cairn: warning: {w}");
    }
    for e in &outcome.errors {
        eprintln!("cairn: error: {}: {}", e.path.display(), e.message);
    }
    if outcome.errors.is_empty() {
        return Ok(Status::Ok);
    }
    eprintln!(
        "cairn: the snapshot is incomplete: {} lists, volumes or files could not be read",
        outcome.errors.len()
    );
    Ok(Status::Incomplete)
}

fn print(ctx: &Context, o: &K8sBackupOutcome) -> Result<()> {
    let s = &o.snapshot.summary;
    let details = match &o.snapshot.source {
        cairn_engine::format::Source::Kubernetes { details } => details.clone(),
        _ => Default::default(),
    };
    if ctx.out.json {
        ctx.out.json_doc(&json!({
            "id": o.id.to_hex(),
            "short_id": o.id.short(),
            "summary": s,
            "errors": file_errors_json(&o.errors),
            "warnings": o.warnings,
            "snapshot": snapshot_json(&o.id, &o.snapshot),
        }))?;
        return Ok(());
    }
    let out = &ctx.out;
    if let Some(parent) = o.snapshot.parent {
        out.line(format_args!(
            "compared with parent snapshot {}",
            parent.short()
        ))?;
    }
    let count = |k: &str| details.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    let stored: u64 = details
        .get("resources")
        .and_then(Value::as_array)
        .map(|rs| rs.iter().filter_map(|r| r["objects"].as_u64()).sum())
        .unwrap_or(0);
    out.line(format_args!(
        "Cluster:     {} ({}), resource version {}",
        details.get("cluster").and_then(Value::as_str).unwrap_or(""),
        details
            .get("server_version")
            .and_then(Value::as_str)
            .unwrap_or(""),
        details
            .get("resource_version")
            .and_then(Value::as_str)
            .unwrap_or("")
    ))?;
    let matched = details
        .get("selection")
        .and_then(|s| s.get("namespaces_matched"))
        .and_then(Value::as_array)
        .map(|ns| {
            ns.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    out.line(format_args!("Namespaces:  {matched}"))?;
    out.line(format_args!(
        "Objects:     {stored} stored, {} skipped",
        count("skipped")
    ))?;
    for v in details
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let what = match (v["path"].as_str(), v["error"].as_str()) {
            (Some(p), _) => format!(
                "{p} ({}, {}, {})",
                v["method"].as_str().unwrap_or(""),
                v["consistency"].as_str().unwrap_or(""),
                bytes(v["bytes"].as_u64().unwrap_or(0))
            ),
            (None, Some(e)) => e.to_string(),
            (None, None) => String::new(),
        };
        out.line(format_args!(
            "Volume:      {}/{}: {what}",
            v["namespace"].as_str().unwrap_or(""),
            v["claim"].as_str().unwrap_or("")
        ))?;
    }
    out.line(format_args!(
        "Added:       {} ({} data blobs, {} tree blobs) in {}",
        bytes(s.bytes_added),
        s.data_blobs_added,
        s.tree_blobs_added,
        duration(s.duration_secs)
    ))?;
    out.line(format_args!("snapshot {} saved", o.id.short()))?;
    Ok(())
}
