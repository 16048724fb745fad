//! `cairn k8s`: everything Kubernetes — `backup` an application, list `apps` and their protection.

use anyhow::Result;
use cairn_engine::format::Snapshot;
use cairn_engine::AppKey;
use clap::{Args, Subcommand};

use super::{k8s_apps, k8s_backup};
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
}

/// How to reach the cluster, shared by the `k8s` commands.
#[derive(Args, Debug, Default)]
pub struct ClusterArgs {
    /// The kubeconfig file [default: $KUBECONFIG, ~/.kube/config, else the pod's service account]
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context [default: its current context]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
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
