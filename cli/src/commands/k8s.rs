//! `cairn k8s`: everything Kubernetes — `backup` an application, list `apps` and their protection,
//! `restore` a snapshot's objects.

use anyhow::Result;
use cairn_engine::format::Snapshot;
use cairn_engine::k8s::{MoverOptions, DEFAULT_MOVER_IMAGE};
use cairn_engine::AppKey;
use clap::{Args, Subcommand};

use super::{k8s_apps, k8s_backup, k8s_restore};
use crate::args::Context;
use crate::exit::Status;

/// Flags of `k8s`.
#[derive(Args, Debug)]
pub struct K8sArgs {
    /// The Kubernetes command.
    #[command(subcommand)]
    pub command: K8sCommand,
}

/// The Kubernetes commands.
#[derive(Subcommand, Debug)]
pub enum K8sCommand {
    /// Back up the objects and volumes of namespaces into a new snapshot
    Backup(Box<k8s_backup::K8sBackupArgs>),
    /// List the workloads in scope, their volumes, and the newest snapshot covering them
    Apps(k8s_apps::K8sAppsArgs),
    /// Restore a snapshot's objects, sanitised, renamed and ordered, into the cluster (waiting for
    /// CRDs, claims and pods, then running post-restore hooks) or a directory
    Restore(Box<k8s_restore::K8sRestoreArgs>),
}

/// How to reach the cluster and where this machine stands in it, shared by the `k8s` commands.
#[derive(Args, Debug, Default)]
pub struct ClusterArgs {
    /// The kubeconfig file [default: $KUBECONFIG, ~/.kube/config, else the pod's service account]
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context [default: its current context]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The cluster's name, as snapshots record it [default: the kubeconfig's name for it]
    #[arg(long = "cluster", value_name = "NAME")]
    pub cluster_name: Option<String>,
    /// This machine's node name, for local volumes' node affinity [default: the host name]
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
}

/// The data mover's Job, shared by `k8s backup` (csi-snapshot) and `k8s restore` (data-mover).
#[derive(Args, Debug)]
pub struct MoverArgs {
    /// The image of the data mover's Job, whose entrypoint is cairn; the Job's pod must reach
    /// the repository at the same location as this cairn
    #[arg(long, value_name = "IMAGE", default_value = DEFAULT_MOVER_IMAGE)]
    pub mover_image: String,
    /// How long one claim's data mover (snapshot, claim, Job) may take ("30m", "90s")
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = humantime::parse_duration)]
    pub mover_timeout: std::time::Duration,
}

impl MoverArgs {
    /// What the Job gets: this repository's location and password, and these flags.
    pub fn options(&self, ctx: &Context, password: &[u8]) -> Result<MoverOptions> {
        let mut m = MoverOptions::new(ctx.location()?, password);
        m.image = self.mover_image.clone();
        m.timeout = self.mover_timeout;
        Ok(m)
    }
}

/// Which namespaces, shared by the `k8s` commands.
#[derive(Args, Debug, Default)]
pub struct NamespaceArgs {
    /// Namespaces matching this glob (repeatable)
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "GLOB",
        required_unless_present = "all_namespaces"
    )]
    pub namespaces: Vec<String>,
    /// Every namespace
    #[arg(short = 'A', long, conflicts_with = "namespaces")]
    pub all_namespaces: bool,
    /// Leave out namespaces matching this glob (repeatable)
    #[arg(long = "exclude-namespace", value_name = "GLOB")]
    pub exclude_namespaces: Vec<String>,
}

impl NamespaceArgs {
    /// The namespace globs: as given, or `*` for all namespaces.
    pub fn globs(&self) -> Vec<String> {
        if self.all_namespaces {
            vec!["*".into()]
        } else {
            self.namespaces.clone()
        }
    }
}

impl ClusterArgs {
    /// The engine's connection options.
    pub fn connect(&self) -> cairn_engine::k8s::ConnectOptions {
        let mut c = cairn_engine::k8s::ConnectOptions::default();
        c.kubeconfig = self.kubeconfig.clone();
        c.context = self.context.clone();
        c
    }
}

/// Runs a `k8s` command.
pub fn run(ctx: &Context, args: &K8sArgs) -> Result<Status> {
    match &args.command {
        K8sCommand::Backup(a) => k8s_backup::run(ctx, a),
        K8sCommand::Apps(a) => k8s_apps::run(ctx, a),
        K8sCommand::Restore(a) => k8s_restore::run(ctx, a),
    }
}

/// A Kubernetes snapshot as `cairn snapshots` shows it in the paths column:
/// `k8s <cluster>: <namespaces>`, and the label selector in parentheses when there is one.
pub fn app_text(snapshot: &Snapshot) -> String {
    let Some(app) = AppKey::of(snapshot) else {
        return "(kubernetes)".into();
    };
    let mut text = format!(
        "k8s {}: {}",
        app.cluster.as_deref().unwrap_or("?"),
        app.namespaces.join(", ")
    );
    if let Some(selector) = &app.selector {
        text.push_str(&format!(" ({selector})"));
    }
    text
}
