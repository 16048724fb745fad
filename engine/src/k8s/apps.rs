//! `cairn k8s apps`: the workloads in scope, their claims with the volume method that would read
//! each, and the newest snapshot that covers them — the workload's manifest and every claim's data.

use cairn_repo_format::{SnapshotId, Source};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::client::{Cluster, ConnectOptions};
use super::error::K8sError;
use super::manifests::manifest_path;
use super::object::str_at;
use super::plan::{plan, StoredObject};
use super::read::read_cluster;
use super::select::{Selection, SelectionOptions};
use super::volumes::{mounts, node_local_path, Claim};
use crate::indexed::Indexed;
use crate::sys;

/// Resources whose objects are workloads.
const WORKLOADS: &[&str] = &[
    "deployments.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "cronjobs.batch",
    "jobs.batch",
    "pods",
];

/// Options of `k8s apps`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct AppsOptions {
    /// How to reach the cluster.
    pub connect: ConnectOptions,
    /// The cluster's name, as backups record it (default: the kubeconfig's name for it).
    pub cluster: Option<String>,
    /// Which namespaces and labels are in scope.
    pub selection: SelectionOptions,
    /// This machine's node name (default: the host name).
    pub node: Option<String>,
}

/// A claim of a workload and how its data would be read.
#[derive(Clone, Debug, Serialize)]
pub struct ClaimStatus {
    /// The claim.
    pub claim: String,
    /// `node-local`, `exec`, or `none`.
    pub method: &'static str,
    /// Why no method applies, or which pod exec would use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A snapshot that covers a workload.
#[derive(Clone, Debug, Serialize)]
pub struct Protection {
    /// Its id.
    pub snapshot: String,
    /// Its time.
    pub time: Timestamp,
}

/// A workload and its protection status.
#[derive(Clone, Debug, Serialize)]
pub struct Workload {
    /// Namespace.
    pub namespace: String,
    /// Kind (`Deployment`, ...).
    pub kind: String,
    /// Name.
    pub name: String,
    /// Its claims.
    pub claims: Vec<ClaimStatus>,
    /// The newest snapshot covering it, or `None`: unprotected.
    pub protected_by: Option<Protection>,
}

/// Lists the workloads in scope and their protection in `repo`.
pub fn apps(repo: &Indexed, options: &AppsOptions) -> Result<Vec<Workload>, K8sError> {
    let selection = Selection::new(options.selection.clone())?;
    let (rt, cluster) = Cluster::connect_blocking(&options.connect)?;
    let state = rt.block_on(read_cluster(&cluster, &selection))?;
    let objects = plan(
        &selection,
        &state.matched,
        &state.namespaced,
        &state.cluster,
    );
    let node = options.node.clone().unwrap_or_else(sys::host_name);
    let cluster_name = options
        .cluster
        .clone()
        .unwrap_or_else(|| cluster.name.clone());
    let pvcs: Vec<&StoredObject> = objects
        .stored
        .iter()
        .filter(|o| o.resource.name() == "persistentvolumeclaims")
        .collect();
    let pods: Vec<Value> = state
        .namespaced
        .iter()
        .filter(|l| l.resource.name() == "pods")
        .flat_map(|l| l.items.iter().cloned())
        .collect();
    let pv = |name: &str| {
        state
            .cluster
            .iter()
            .filter(|l| l.resource.name() == "persistentvolumes")
            .flat_map(|l| &l.items)
            .find(|p| str_at(p, "/metadata/name") == Some(name))
    };
    let snapshots: Vec<(SnapshotId, cairn_repo_format::Snapshot)> = repo
        .snapshots()?
        .into_iter()
        .rev()
        .filter(|(_, s)| match &s.source {
            Source::Kubernetes { details } => {
                details.get("cluster").and_then(Value::as_str) == Some(cluster_name.as_str())
            }
            _ => false,
        })
        .collect();
    let mut out = Vec::new();
    for w in objects
        .stored
        .iter()
        .filter(|o| WORKLOADS.contains(&o.resource.name().as_str()))
    {
        let ns = w.namespace.clone().unwrap_or_default();
        let claim_names = claims_of(&w.object, &w.name, &pvcs, &ns);
        let claims = claim_names
            .iter()
            .map(|c| {
                let pvc = pvcs
                    .iter()
                    .find(|p| p.namespace.as_deref() == Some(&ns) && &p.name == c);
                let Some(pvc) = pvc else {
                    return ClaimStatus {
                        claim: c.clone(),
                        method: "none",
                        note: Some("no such claim in the backup".into()),
                    };
                };
                let claim = Claim::of(&pvc.object, &ns);
                method_for(&claim, claim.volume.and_then(pv), &pods, &node)
            })
            .collect();
        let protected_by = snapshots
            .iter()
            .find(|(_, s)| covers(repo, s, w, &ns, &claim_names))
            .map(|(id, s)| Protection {
                snapshot: id.to_hex(),
                time: s.time,
            });
        out.push(Workload {
            namespace: ns,
            kind: w.resource.kind.clone(),
            name: w.name.clone(),
            claims,
            protected_by,
        });
    }
    out.sort_by(|a, b| (&a.namespace, &a.kind, &a.name).cmp(&(&b.namespace, &b.kind, &b.name)));
    Ok(out)
}

/// The claims a workload mounts: its pod template's claims, and for a StatefulSet the claims of
/// its volume claim templates (`<template>-<name>-<ordinal>`) that exist.
fn claims_of(object: &Value, name: &str, pvcs: &[&StoredObject], ns: &str) -> Vec<String> {
    let spec = object
        .pointer("/spec/template/spec")
        .or_else(|| object.pointer("/spec/jobTemplate/spec/template/spec"))
        .or_else(|| object.get("spec"));
    let mut out: Vec<String> = spec
        .and_then(|s| s.get("volumes"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.pointer("/persistentVolumeClaim/claimName")?.as_str())
        .map(String::from)
        .collect();
    let templates = object
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array);
    for t in templates.into_iter().flatten() {
        let Some(tname) = str_at(t, "/metadata/name") else {
            continue;
        };
        let prefix = format!("{tname}-{name}-");
        out.extend(
            pvcs.iter()
                .filter(|p| p.namespace.as_deref() == Some(ns))
                .filter(|p| {
                    p.name
                        .strip_prefix(&prefix)
                        .is_some_and(|n| n.parse::<u32>().is_ok())
                })
                .map(|p| p.name.clone()),
        );
    }
    out.sort();
    out.dedup();
    out
}

fn method_for(claim: &Claim<'_>, pv: Option<&Value>, pods: &[Value], node: &str) -> ClaimStatus {
    let status = |method, note: String| ClaimStatus {
        claim: claim.name.into(),
        method,
        note: Some(note),
    };
    let Some(pv) = pv else {
        return status("none", "not bound to a volume".into());
    };
    let local = node_local_path(pv, node);
    if local.is_ok() {
        return ClaimStatus {
            claim: claim.name.into(),
            method: "node-local",
            note: None,
        };
    }
    let ns_pods: Vec<Value> = pods
        .iter()
        .filter(|p| {
            p.pointer("/metadata/namespace").and_then(Value::as_str) == Some(claim.namespace)
        })
        .cloned()
        .collect();
    match mounts(&ns_pods, claim).first() {
        Some(m) => status("exec", format!("pod {} container {}", m.pod, m.container)),
        None => status(
            "none",
            format!("{}; no pod mounts it", local.err().unwrap_or_default()),
        ),
    }
}

/// True when the snapshot holds the workload's manifest and data for each of its claims.
fn covers(
    repo: &Indexed,
    snapshot: &cairn_repo_format::Snapshot,
    workload: &StoredObject,
    ns: &str,
    claims: &[String],
) -> bool {
    let Source::Kubernetes { details } = &snapshot.source else {
        return false;
    };
    let stored = |claim: &String| {
        details
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|v| v["namespace"] == ns && v["claim"] == claim.as_str() && v["path"].is_string())
    };
    if !claims.iter().all(stored) {
        return false;
    }
    let path = manifest_path(workload).join("/");
    matches!(repo.resolve(&snapshot.tree, &path), Ok(Some(_)))
}
