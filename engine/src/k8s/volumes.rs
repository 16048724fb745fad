//! Volume data: which method reaches a claim's data (node-local path, CSI snapshot, exec stream), and
//! the facts each needs, read from the PersistentVolumeClaim, its PersistentVolume and the pods that
//! mount it (spec/kubernetes.md, "Volumes").

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use super::error::K8sError;
use super::object::name_of;

/// How volume data is read (`--volume-method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeMethod {
    /// The first method that applies.
    #[default]
    Auto,
    /// Read a hostPath or local PV's path on this machine.
    NodeLocal,
    /// A CSI `VolumeSnapshot` of the claim, read by a Job that runs cairn (the mover) on a claim
    /// made from it; its snapshot is grafted into the application's.
    CsiSnapshot,
    /// Stream through `exec` from a pod that mounts the claim.
    Exec,
    /// Manifests only.
    None,
}

impl std::str::FromStr for VolumeMethod {
    type Err = K8sError;

    fn from_str(s: &str) -> Result<Self, K8sError> {
        Ok(match s {
            "auto" => VolumeMethod::Auto,
            "node-local" => VolumeMethod::NodeLocal,
            "csi-snapshot" => VolumeMethod::CsiSnapshot,
            "exec" => VolumeMethod::Exec,
            "none" => VolumeMethod::None,
            _ => {
                return Err(K8sError::InvalidInput(format!(
                    "--volume-method {s:?}: use auto, node-local, exec, csi-snapshot or none"
                )))
            }
        })
    }
}

impl VolumeMethod {
    /// The name recorded in a snapshot.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeMethod::Auto => "auto",
            VolumeMethod::NodeLocal => "node-local",
            VolumeMethod::CsiSnapshot => "csi-snapshot",
            VolumeMethod::Exec => "exec",
            VolumeMethod::None => "none",
        }
    }
}

/// A claim and what is known of its volume.
#[derive(Clone, Debug)]
pub struct Claim<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Claim name.
    pub name: &'a str,
    /// `volumeMode: Block`.
    pub block: bool,
    /// The bound PV's name, when bound.
    pub volume: Option<&'a str>,
    /// `spec.storageClassName`.
    pub storage_class: Option<&'a str>,
    /// `spec.resources.requests.storage`.
    pub size: Option<&'a str>,
}

impl<'a> Claim<'a> {
    /// Reads a PVC object.
    pub fn of(pvc: &'a Value, namespace: &'a str) -> Claim<'a> {
        let s = |p: &str| pvc.pointer(p).and_then(Value::as_str);
        Claim {
            namespace,
            name: s("/metadata/name").unwrap_or_default(),
            block: s("/spec/volumeMode") == Some("Block"),
            volume: s("/spec/volumeName").filter(|v| !v.is_empty()),
            storage_class: s("/spec/storageClassName").filter(|v| !v.is_empty()),
            size: s("/spec/resources/requests/storage"),
        }
    }
}

/// The local path of a hostPath or local PV when it can be read here, else why not.
pub fn node_local_path(pv: &Value, node: &str) -> Result<PathBuf, String> {
    let path = pv
        .pointer("/spec/hostPath/path")
        .or_else(|| pv.pointer("/spec/local/path"))
        .and_then(Value::as_str)
        .ok_or("the volume is neither hostPath nor local")?;
    let names = affinity_nodes(pv);
    if !names.is_empty() && !names.iter().any(|n| n == node) {
        return Err(format!(
            "the volume is on node {} and this is node {node} (--node)",
            names.join(", ")
        ));
    }
    let path = PathBuf::from(path);
    match std::fs::symlink_metadata(&path) {
        Ok(_) => Ok(path),
        Err(e) => Err(format!("{} is not readable here: {e}", path.display())),
    }
}

/// The node names a PV's required node affinity allows by `kubernetes.io/hostname`.
fn affinity_nodes(pv: &Value) -> Vec<String> {
    let Some(terms) = pv
        .pointer("/spec/nodeAffinity/required/nodeSelectorTerms")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    terms
        .iter()
        .filter_map(|t| t.get("matchExpressions")?.as_array())
        .flatten()
        .filter(|e| {
            e.get("key").and_then(Value::as_str) == Some("kubernetes.io/hostname")
                && e.get("operator").and_then(Value::as_str) == Some("In")
        })
        .filter_map(|e| e.get("values")?.as_array())
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

/// A container of a pod that mounts a claim: where, and whether as a block device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The pod.
    pub pod: String,
    /// The container.
    pub container: String,
    /// The mount path, or the device path of a block claim.
    pub path: String,
    /// Whether the pod is `Running`.
    pub running: bool,
}

/// The containers of `pods` that mount the claim, running pods first; pods that have ended are left
/// out.
pub fn mounts(pods: &[Value], claim: &Claim<'_>) -> Vec<Mount> {
    let mut out = Vec::new();
    for pod in pods {
        let phase = pod.pointer("/status/phase").and_then(Value::as_str);
        if matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        let Some(volumes) = pod.pointer("/spec/volumes").and_then(Value::as_array) else {
            continue;
        };
        let Some(volume) = volumes.iter().find_map(|v| {
            let claim_name = v.pointer("/persistentVolumeClaim/claimName")?.as_str()?;
            (claim_name == claim.name).then(|| v.get("name")?.as_str())?
        }) else {
            continue;
        };
        let list = if claim.block {
            "volumeDevices"
        } else {
            "volumeMounts"
        };
        let key = if claim.block {
            "devicePath"
        } else {
            "mountPath"
        };
        let containers = pod.pointer("/spec/containers").and_then(Value::as_array);
        for c in containers.into_iter().flatten() {
            let found = c.get(list).and_then(Value::as_array).and_then(|ms| {
                ms.iter().find_map(|m| {
                    (m.get("name")?.as_str()? == volume).then(|| m.get(key)?.as_str())?
                })
            });
            if let Some(path) = found {
                out.push(Mount {
                    pod: name_of(pod),
                    container: c.get("name").and_then(Value::as_str).unwrap_or("").into(),
                    path: path.to_string(),
                    running: phase == Some("Running"),
                });
                break;
            }
        }
    }
    out.sort_by_key(|m| !m.running);
    out
}

/// The command that streams a mount's data out of a container.
pub fn stream_command(mount: &Mount, block: bool) -> Vec<String> {
    if block {
        vec!["cat".into(), mount.path.clone()]
    } else {
        ["tar", "-cf", "-", "-C", &mount.path, "."]
            .map(String::from)
            .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::fixtures;

    fn pv(name: &str) -> Value {
        fixtures::items("cluster", "persistentvolumes")
            .into_iter()
            .find(|p| p["metadata"]["name"] == name)
            .unwrap()
    }

    #[test]
    fn host_path_and_local_volumes_are_read_here_only_on_their_node() {
        let dir = tempfile::tempdir().unwrap();
        let mut wp = pv("blog-wp-pv");
        wp["spec"]["local"]["path"] = dir.path().to_str().unwrap().into();
        assert_eq!(node_local_path(&wp, "node-1").unwrap(), dir.path());
        let e = node_local_path(&wp, "node-2").unwrap_err();
        assert!(e.contains("node-1"), "{e}");
        let mut mysql = pv("blog-mysql-pv");
        assert!(node_local_path(&mysql, "any")
            .unwrap_err()
            .contains("not readable"));
        mysql["spec"]["hostPath"]["path"] = dir.path().to_str().unwrap().into();
        assert!(node_local_path(&mysql, "any").is_ok());
        let nfs = serde_json::json!({"spec": {"nfs": {"path": "/x"}}});
        assert!(node_local_path(&nfs, "any").is_err());
    }

    #[test]
    fn the_pods_mounting_a_claim_are_found_with_their_mount_path() {
        let pods = fixtures::items("blog", "pods");
        let pvcs = fixtures::items("blog", "persistentvolumeclaims");
        let claim = Claim::of(&pvcs[0], "blog");
        assert_eq!(claim.name, "mysql-pv-claim");
        assert_eq!(claim.volume, Some("blog-mysql-pv"));
        let m = mounts(&pods, &claim);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].container, "mysql");
        assert_eq!(m[0].path, "/var/lib/mysql");
        assert!(!m[0].running, "every recorded pod is Pending");
        assert_eq!(
            stream_command(&m[0], false),
            ["tar", "-cf", "-", "-C", "/var/lib/mysql", "."]
        );
        let block = Claim {
            block: true,
            ..claim
        };
        assert!(mounts(&pods, &block).is_empty());
    }
}
