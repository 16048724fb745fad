//! `cairn k8s apps`: the workloads in scope, their claims and volume methods, and the newest
//! snapshot covering each — or "unprotected".

use anyhow::Result;
use cairn_engine::k8s::{apps, AppsOptions, SelectionOptions};
use clap::Args;

use super::k8s::{ClusterArgs, NamespaceArgs};
use crate::args::Context;
use crate::exit::Status;
use crate::output::{local_time, Table};

/// Flags of `k8s apps`.
#[derive(Args, Debug)]
pub struct K8sAppsArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub scope: NamespaceArgs,
    /// Only workloads whose labels match this label selector
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
}

/// Runs `k8s apps`.
pub fn run(ctx: &Context, args: &K8sAppsArgs) -> Result<Status> {
    let mut selection = SelectionOptions::default();
    selection.namespaces = args.scope.globs();
    selection.exclude_namespaces = args.scope.exclude_namespaces.clone();
    selection.selector = args.selector.clone();
    let mut options = AppsOptions::default();
    options.connect = args.cluster.connect();
    options.cluster = args.cluster.cluster_name.clone();
    options.selection = selection;
    options.node = args.cluster.node.clone();
    let repo = ctx.open_indexed()?;
    let workloads = apps(&repo, &options)?;
    if ctx.out.json {
        ctx.out.json_doc(&workloads)?;
        return Ok(Status::Ok);
    }
    let mut table = Table::new(&[
        "NAMESPACE",
        "WORKLOAD",
        "VOLUMES",
        "METHOD",
        "NEWEST SNAPSHOT",
    ]);
    for w in &workloads {
        let volumes = w.claims.iter().map(|c| c.claim.clone()).collect::<Vec<_>>();
        let methods = w
            .claims
            .iter()
            .map(|c| match &c.note {
                Some(n) => format!("{} ({n})", c.method),
                None => c.method.to_string(),
            })
            .collect::<Vec<_>>();
        let newest = match &w.protected_by {
            Some(p) => format!("{} {}", local_time(p.time), &p.snapshot[..8]),
            None => "unprotected".to_string(),
        };
        table.row(vec![
            w.namespace.clone(),
            format!("{}/{}", w.kind, w.name),
            if volumes.is_empty() {
                "-".into()
            } else {
                volumes.join("\n")
            },
            if methods.is_empty() {
                "-".into()
            } else {
                methods.join("\n")
            },
            newest,
        ]);
    }
    ctx.out.line(table.render().trim_end())?;
    Ok(Status::Ok)
}
