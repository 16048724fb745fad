//! `cairn k8s restore`: a Kubernetes snapshot's objects, chosen, sanitised, renamed and ordered,
//! created in the cluster, written as YAML files into a directory for
//! `kubectl apply -f DIR --recursive` (`--to-dir`), or checked against the cluster (`--dry-run`).

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use cairn_engine::k8s::restore::{
    apply, dry_run, restore_to_dir, ChoiceOptions, DataOptions, Existing, K8sRestoreOptions,
    K8sRestoreReport, Parts, SanitiseOptions,
};
use cairn_engine::k8s::{ConnectOptions, VolumeMethod};
use clap::{ArgGroup, Args};

use crate::args::Context;
use crate::exit::Status;

/// Flags of `k8s restore`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("target").args(["to_dir", "dry_run"])))]
pub struct K8sRestoreArgs {
    /// The snapshot (an id prefix or `latest`)
    pub snapshot: String,
    /// Only manifests at or below these paths of the snapshot
    /// (`manifests/namespaces/shop/deployments.apps/web.yaml`)
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// Write the objects as YAML files into this new or empty directory, in the restore's order,
    /// instead of creating them in the cluster
    #[arg(long, value_name = "DIR")]
    pub to_dir: Option<PathBuf>,
    /// Tell what a restore into the cluster would do (create, exists, or why it cannot), changing
    /// nothing
    #[arg(long)]
    pub dry_run: bool,
    /// What to do with objects the cluster has already: skip, update or fail
    #[arg(
        long,
        value_name = "POLICY",
        default_value = "skip",
        conflicts_with_all = ["to_dir", "dry_run"]
    )]
    pub existing: String,
    /// The kubeconfig file [default: $KUBECONFIG, ~/.kube/config, else the pod's
    /// service account]
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context [default: its current context]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Only namespaced objects of namespaces matching this glob, and their Namespace (repeatable)
    #[arg(short = 'n', long = "namespace", value_name = "GLOB")]
    pub namespaces: Vec<String>,
    /// Only objects whose labels match this label selector (kubectl's syntax)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Only these resources, as resource.group (core: resource); globs, comma-separated
    #[arg(long, value_name = "RESOURCES", value_delimiter = ',')]
    pub include_resources: Vec<String>,
    /// Not these resources, as resource.group; globs, comma-separated
    #[arg(long, value_name = "RESOURCES", value_delimiter = ',')]
    pub exclude_resources: Vec<String>,
    /// Restore namespace OLD as NEW (repeatable)
    #[arg(long = "namespace-mapping", value_name = "OLD:NEW")]
    pub namespace_mappings: Vec<String>,
    /// Restore storage class OLD as NEW (repeatable)
    #[arg(long = "storage-class-mapping", value_name = "OLD:NEW")]
    pub storage_class_mappings: Vec<String>,
    /// Replace the image prefix OLD by NEW (repeatable; OLD=NEW when the names hold `:`)
    #[arg(long = "image-mapping", value_name = "OLD:NEW")]
    pub image_mappings: Vec<String>,
    /// Keep the node ports of Services, also those the server assigned
    #[arg(long)]
    pub preserve_nodeports: bool,
    /// Apply the JSON-patch rules of this YAML or JSON file to the objects they match by
    /// resource, namespace, name and labels (spec/kubernetes.md, "Transforms")
    #[arg(long, value_name = "FILE")]
    pub transform: Option<PathBuf>,
    /// Restore the objects only, no volume data
    #[arg(long, conflicts_with = "data_only")]
    pub manifests_only: bool,
    /// Restore volume data only, into claims the cluster has (or under --to-dir)
    #[arg(long)]
    pub data_only: bool,
    /// How to write volume data: auto (node-local, else exec), node-local, exec or none
    #[arg(long, value_name = "METHOD", default_value = "auto")]
    pub volume_method: String,
    /// Provision each restored claim's volume as a hostPath PV under DIR/<namespace>/<claim> on
    /// this node, bound to the claim, with its data written before any workload starts
    #[arg(long, value_name = "DIR", conflicts_with_all = ["to_dir", "data_only"])]
    pub volume_root: Option<PathBuf>,
    /// Write into volumes that hold data already (they are skipped otherwise)
    #[arg(long)]
    pub overwrite_data: bool,
    /// How long to wait for claims to be bound, e.g. 90s or 5m
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub wait_timeout: humantime::Duration,
    /// This machine's node name, for local volumes' node affinity [default: the host name]
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
}

fn options(args: &K8sRestoreArgs) -> Result<K8sRestoreOptions> {
    let mut choice = ChoiceOptions::default();
    choice.namespaces = args.namespaces.clone();
    choice.selector = args.selector.clone();
    choice.include_resources = args.include_resources.clone();
    choice.exclude_resources = args.exclude_resources.clone();
    choice.paths = args.paths.clone();
    let mut sanitise = SanitiseOptions::default();
    sanitise.preserve_node_ports = args.preserve_nodeports;
    let mut o = K8sRestoreOptions::default();
    o.choice = choice;
    o.namespace_mappings = args.namespace_mappings.clone();
    o.storage_class_mappings = args.storage_class_mappings.clone();
    o.image_mappings = args.image_mappings.clone();
    o.transform = args.transform.clone();
    o.sanitise = sanitise;
    let mut connect = ConnectOptions::default();
    connect.kubeconfig = args.kubeconfig.clone();
    connect.context = args.context.clone();
    o.connect = connect;
    o.existing = args.existing.parse::<Existing>()?;
    o.parts = match (args.manifests_only, args.data_only) {
        (true, _) => Parts::ManifestsOnly,
        (_, true) => Parts::DataOnly,
        _ => Parts::All,
    };
    let mut data = DataOptions::default();
    data.method = match args.volume_method.parse::<VolumeMethod>()? {
        VolumeMethod::CsiSnapshot => anyhow::bail!(
            "--volume-method csi-snapshot is for backups; a restore writes node-local or through exec"
        ),
        m => m,
    };
    data.volume_root = args.volume_root.clone();
    data.overwrite = args.overwrite_data;
    data.wait = args.wait_timeout.into();
    if let Some(node) = &args.node {
        data.node = node.clone();
    }
    o.data = data;
    Ok(o)
}

/// Runs `k8s restore`.
pub fn run(ctx: &Context, args: &K8sRestoreArgs) -> Result<Status> {
    let repo = ctx.open_indexed()?;
    let (id, snapshot) = repo.find_snapshot(&args.snapshot)?;
    let options = options(args)?;
    let report = match (&args.to_dir, args.dry_run) {
        (Some(dir), _) => restore_to_dir(&repo, &snapshot, &options, dir),
        (None, true) => dry_run(&repo, &snapshot, &options),
        (None, false) => apply(&repo, &snapshot, &options),
    }
    .with_context(|| format!("restoring snapshot {} failed", id.short()))?;
    print(ctx, &report)?;
    let failed = report.failed();
    if failed == 0 {
        return Ok(Status::Ok);
    }
    eprintln!(
        "cairn: the restore is incomplete: {failed} objects or volumes could not be restored"
    );
    Ok(Status::Incomplete)
}

fn print(ctx: &Context, report: &K8sRestoreReport) -> Result<()> {
    if ctx.out.json {
        ctx.out.json_doc(report)?;
        return Ok(());
    }
    for i in &report.items {
        let object = match &i.namespace {
            Some(ns) => format!("{}/{ns}/{}", i.resource, i.name),
            None => format!("{}/{}", i.resource, i.name),
        };
        let detail = i.file.as_deref().or(i.reason.as_deref()).unwrap_or("");
        ctx.out
            .line(format_args!("{:<8} {object:<60} {detail}", i.action))?;
    }
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for i in &report.items {
        match counts.iter_mut().find(|(a, _)| *a == i.action) {
            Some((_, n)) => *n += 1,
            None => counts.push((i.action, 1)),
        }
    }
    let summary: Vec<String> = counts.iter().map(|(a, n)| format!("{n} {a}")).collect();
    if !summary.is_empty() {
        ctx.out.line(format_args!("{}", summary.join(", ")))?;
    }
    for v in &report.volumes {
        let claim = format!("volume/{}/{}", v.namespace, v.claim);
        let detail = match (&v.reason, &v.target) {
            (Some(why), _) => why.clone(),
            (None, Some(to)) => {
                format!("{to} ({} files, {} bytes, {})", v.files, v.bytes, v.method)
            }
            (None, None) => v.method.to_string(),
        };
        ctx.out
            .line(format_args!("{:<8} {claim:<60} {detail}", v.action))?;
    }
    Ok(())
}
