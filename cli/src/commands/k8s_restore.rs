//! `cairn k8s restore`: a Kubernetes snapshot's objects, chosen, sanitised, renamed and ordered,
//! created in the cluster, written as YAML files into a directory for
//! `kubectl apply -f DIR/manifests --recursive` (`--to-dir`), or checked against the cluster (`--dry-run`).
//! Into a cluster, it waits for CRDs, claims and workloads and runs post-restore hooks.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use cairn_engine::k8s::restore::{
    apply, dry_run, restore_to_dir, ChoiceOptions, DataOptions, Existing, K8sRestoreOptions,
    K8sRestoreReport, Parts, SanitiseOptions, WaitOptions,
};
use cairn_engine::k8s::{ConnectOptions, VolumeMethod};
use clap::{ArgGroup, Args};

use super::k8s::MoverArgs;
use crate::args::Context;
use crate::exit::Status;

/// Flags of `k8s restore`.
#[derive(Args, Debug)]
#[command(
    group(ArgGroup::new("target").args(["to_dir", "dry_run"])),
    after_help = "Into a cluster, restored CRDs are waited for until Established and claims until \
                  Bound before what follows, and workloads until their pods are ready; then each \
                  ready pod annotated post.hook.restore.cairn.io/command (a JSON array of \
                  strings; also /container, /timeout, /on-error: Fail or Continue) runs that \
                  command through exec. cairn exits 3 when an object failed, a wait timed out or \
                  a hook with on-error Fail failed."
)]
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
    /// How long to wait for restored CRDs to be established, claims to be bound and workloads'
    /// pods to be ready, each (`30s`, `5m`); what is not is reported and the restore is
    /// incomplete
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5m",
        value_parser = parse_duration,
        conflicts_with_all = ["to_dir", "dry_run", "no_wait"]
    )]
    pub wait_timeout: Duration,
    /// Create the objects without waiting for anything, and run no post-restore hooks
    #[arg(long, conflicts_with_all = ["to_dir", "dry_run"])]
    pub no_wait: bool,
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
    /// How to write volume data: auto (node-local, else exec), node-local, exec, data-mover (a
    /// Job creates and fills each claim) or none
    #[arg(long, value_name = "METHOD", default_value = "auto")]
    pub volume_method: String,
    #[command(flatten)]
    pub mover: MoverArgs,
    /// Provision each restored claim's volume as a hostPath PV under DIR/<namespace>/<claim> on
    /// this node, bound to the claim, with its data written before any workload starts
    #[arg(long, value_name = "DIR", conflicts_with_all = ["to_dir", "data_only"])]
    pub volume_root: Option<PathBuf>,
    /// Write into volumes that hold data already (they are skipped otherwise)
    #[arg(long)]
    pub overwrite_data: bool,
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
    data.method = match args.volume_method.as_str() {
        // The mover's options need the repository's password: `run` sets them.
        "data-mover" if args.data_only => anyhow::bail!(
            "--volume-method data-mover creates the claims: it cannot fill claims the cluster has (--data-only)"
        ),
        "data-mover" => VolumeMethod::Auto,
        method => match method.parse::<VolumeMethod>()? {
            VolumeMethod::CsiSnapshot => anyhow::bail!(
                "--volume-method csi-snapshot is for backups; a restore writes node-local, \
                 through exec or with data-mover"
            ),
            m => m,
        },
    };
    data.volume_root = args.volume_root.clone();
    data.overwrite = args.overwrite_data;
    if let Some(node) = &args.node {
        data.node = node.clone();
    }
    o.data = data;
    let mut wait = WaitOptions::default();
    wait.enabled = !args.no_wait;
    wait.timeout = args.wait_timeout;
    o.wait = wait;
    Ok(o)
}

/// A duration as `--wait-timeout` takes it: `30s`, `5m`, `1m30s`, `500ms`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{e}: give a duration such as 30s, 5m or 1m30s"))
}

/// Runs `k8s restore`.
pub fn run(ctx: &Context, args: &K8sRestoreArgs) -> Result<Status> {
    let mut options = options(args)?;
    let repo = if args.volume_method == "data-mover" && args.to_dir.is_none() {
        let (repo, password) = ctx.open_keeping_password()?;
        options.data.mover = Some(args.mover.options(ctx, password.bytes())?);
        repo.load_index()?
    } else {
        ctx.open_indexed()?
    };
    let (id, snapshot) = repo.find_snapshot(&args.snapshot)?;
    options.data.snapshot = id.to_string();
    let report = match (&args.to_dir, args.dry_run) {
        (Some(dir), _) => restore_to_dir(&repo, &snapshot, &options, dir),
        (None, true) => dry_run(&repo, &snapshot, &options),
        (None, false) => apply(&repo, &snapshot, &options),
    }
    .with_context(|| format!("restoring snapshot {} failed", id.short()))?;
    print(ctx, &report)?;
    let failed = report.failed();
    let (waits, hooks) = (report.waits_failed(), report.hooks_failed());
    if failed + waits + hooks == 0 {
        return Ok(Status::Ok);
    }
    let mut problems = Vec::new();
    if failed > 0 {
        problems.push(format!("{failed} objects or volumes could not be restored"));
    }
    if waits > 0 {
        problems.push(format!(
            "{waits} objects did not become established, bound or ready in time"
        ));
    }
    if hooks > 0 {
        problems.push(format!("{hooks} post-restore hooks failed"));
    }
    eprintln!(
        "cairn: the restore is incomplete: {} (see the report above)",
        problems.join(", ")
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
    for w in &report.waits {
        let object = match &w.namespace {
            Some(ns) => format!("{}/{ns}/{}", w.resource, w.name),
            None => format!("{}/{}", w.resource, w.name),
        };
        let mut detail = format!("{}: {} in {:.1}s", w.waited_for, w.outcome, w.seconds);
        if let Some(reason) = &w.reason {
            detail = format!("{detail}: {reason}");
        }
        ctx.out
            .line(format_args!("wait     {object:<60} {detail}"))?;
    }
    for h in &report.hooks {
        let object = match (&h.pod, &h.container) {
            (Some(pod), Some(container)) => format!("pods/{}/{pod} ({container})", h.namespace),
            (Some(pod), None) => format!("pods/{}/{pod}", h.namespace),
            _ => format!("{}/{}/{}", h.resource, h.namespace, h.name),
        };
        let command = serde_json::to_string(&h.command).unwrap_or_default();
        let mut detail = format!("{} in {:.1}s: {command}", h.outcome, h.seconds);
        if let Some(reason) = &h.reason {
            detail = format!("{detail}: {reason}");
        }
        ctx.out
            .line(format_args!("hook     {object:<60} {detail}"))?;
    }
    let mut summary: Vec<String> = counts.iter().map(|(a, n)| format!("{n} {a}")).collect();
    let waited = report.waits.len();
    if waited > 0 {
        let not = report.waits_failed();
        summary.push(format!("{} waits done, {not} not", waited - not));
    }
    if !report.hooks.is_empty() {
        let ok = report.hooks.iter().filter(|h| h.outcome == "ok").count();
        summary.push(format!("{ok} hooks ok, {} not", report.hooks.len() - ok));
    }
    if !summary.is_empty() {
        ctx.out.line(format_args!("{}", summary.join(", ")))?;
    }
    Ok(())
}
