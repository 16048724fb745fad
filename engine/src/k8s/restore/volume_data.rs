//! Putting claims' data back in a cluster: node-local first (the bound PV's path on this machine,
//! once the claim is bound), then through a pod that mounts the claim (spec/kubernetes.md,
//! "Volume data").

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cairn_repo_format::Snapshot;
use serde_json::Value;
use tokio::runtime::Runtime;

use super::claim_data::{ClaimData, DataOptions, VolumeItem};
use super::dry_run::segment;
use super::into_path::write_local;
use super::into_pod::write_exec;
use crate::indexed::Indexed;
use crate::k8s::client::Cluster;
use crate::k8s::discovery::ResourceType;
use crate::k8s::error::K8sError;
use crate::k8s::object::str_at;
use crate::k8s::volumes::{mounts, node_local_path, Claim, VolumeMethod};

/// How often a claim's binding is looked at.
const POLL: Duration = Duration::from_millis(500);

/// A claim left for the pods, with why the methods tried so far did not reach it.
pub struct Pending {
    claim: ClaimData,
    why_not: Vec<String>,
}

impl Pending {
    /// The claim, for another try.
    pub fn into_claim(self) -> ClaimData {
        self.claim
    }
}

/// Writes each claim's data into its bound PV's path when that is on this machine, waiting for
/// the claims to be bound at most `wait` in all (a restore into a cluster has waited already);
/// returns what was done and the claims left for [`into_pods`]. Only a cluster that cannot be
/// reached or refuses cairn is an error.
pub fn into_node_local(
    rt: &Runtime,
    cluster: &Cluster,
    repo: &Indexed,
    snapshot: &Snapshot,
    claims: Vec<ClaimData>,
    options: &DataOptions,
    wait: Duration,
) -> Result<(Vec<VolumeItem>, Vec<Pending>), K8sError> {
    let mut done = Vec::new();
    let mut pending = Vec::new();
    let deadline = Instant::now() + wait;
    for claim in claims {
        if !matches!(options.method, VolumeMethod::Auto | VolumeMethod::NodeLocal) {
            pending.push(Pending {
                claim,
                why_not: Vec::new(),
            });
            continue;
        }
        match rt.block_on(local_path(cluster, &claim, &options.node, deadline))? {
            Ok(path) => done.push(write_local(
                repo,
                snapshot,
                &claim,
                &path,
                options.overwrite,
                "node-local",
            )),
            Err(why) => pending.push(Pending {
                claim,
                why_not: vec![format!("node-local: {why}")],
            }),
        }
    }
    Ok((done, pending))
}

/// The local path of the PV the claim is bound to, or why there is none.
async fn local_path(
    cluster: &Cluster,
    claim: &ClaimData,
    node: &str,
    deadline: Instant,
) -> Result<Result<std::path::PathBuf, String>, K8sError> {
    let path = format!(
        "/api/v1/namespaces/{}/persistentvolumeclaims/{}",
        segment(&claim.namespace),
        segment(&claim.name)
    );
    loop {
        let pvc = match cluster.get_json(&path).await {
            Ok(v) => v,
            Err(e) if e.status() == Some(404) => {
                return Ok(Err("the claim is not in the cluster".into()))
            }
            Err(e @ (K8sError::Unauthorized { .. } | K8sError::Unreachable { .. })) => {
                return Err(e)
            }
            Err(e) => return Ok(Err(e.to_string())),
        };
        // A claim is bound once its volume names it back; its phase says so too, when set.
        let phase = str_at(&pvc, "/status/phase");
        if let Some(volume) = str_at(&pvc, "/spec/volumeName").filter(|v| !v.is_empty()) {
            if phase.is_none_or(|p| p == "Bound") {
                match cluster
                    .get_json(&format!("/api/v1/persistentvolumes/{}", segment(volume)))
                    .await
                {
                    Ok(pv) if claimed_by(&pv, claim) => return Ok(node_local_path(&pv, node)),
                    Ok(_) => {}
                    Err(e) if e.status() == Some(404) => {}
                    Err(e) => return Ok(Err(format!("its volume {volume}: {e}"))),
                }
            }
        }
        if Instant::now() >= deadline {
            return Ok(Err(
                "the claim is not bound to a volume (no provisioner, or no matching PV?)".into(),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether the PV's `claimRef` names the claim.
fn claimed_by(pv: &Value, claim: &ClaimData) -> bool {
    str_at(pv, "/spec/claimRef/namespace") == Some(claim.namespace.as_str())
        && str_at(pv, "/spec/claimRef/name") == Some(claim.name.as_str())
}

/// Streams each pending claim's data into a pod of its namespace that mounts it; a claim no pod
/// mounts fails, with every reason, and its data stays in the repository.
pub fn into_pods(
    rt: &Runtime,
    cluster: &Cluster,
    repo: &Indexed,
    pending: Vec<Pending>,
    options: &DataOptions,
) -> Result<Vec<VolumeItem>, K8sError> {
    let mut done = Vec::new();
    // Each namespace's pods are listed once, for all its claims.
    let mut listed: HashMap<String, Result<Vec<Value>, String>> = HashMap::new();
    for Pending { claim, mut why_not } in pending {
        if matches!(options.method, VolumeMethod::Auto | VolumeMethod::Exec) {
            let wanted = Claim {
                namespace: &claim.namespace,
                name: &claim.name,
                block: claim.block(),
                volume: None,
                storage_class: None,
                size: None,
            };
            if !listed.contains_key(&claim.namespace) {
                let pods = match rt.block_on(pods_of(cluster, &claim.namespace)) {
                    Ok(pods) => Ok(pods),
                    Err(e @ (K8sError::Unauthorized { .. } | K8sError::Unreachable { .. })) => {
                        return Err(e)
                    }
                    Err(e) => Err(e.to_string()),
                };
                listed.insert(claim.namespace.clone(), pods);
            }
            match &listed[&claim.namespace] {
                Ok(pods) => match mounts(pods, &wanted).first() {
                    Some(mount) => {
                        done.push(write_exec(
                            rt,
                            cluster,
                            repo,
                            &claim,
                            mount,
                            options.overwrite,
                        ));
                        continue;
                    }
                    None => why_not.push("exec: no pod mounts it".into()),
                },
                Err(e) => why_not.push(format!("exec: {e}")),
            }
        }
        let why = format!(
            "not restored: {}; its data stays in the repository at {}",
            why_not.join("; "),
            claim.source
        );
        done.push(claim.item("none", "failed").because(why));
    }
    Ok(done)
}

/// The pods of a namespace.
async fn pods_of(cluster: &Cluster, namespace: &str) -> Result<Vec<Value>, K8sError> {
    let pods = ResourceType {
        group: String::new(),
        version: "v1".into(),
        plural: "pods".into(),
        kind: "Pod".into(),
        namespaced: true,
    };
    Ok(cluster.list(&pods, Some(namespace), None).await?.items)
}
