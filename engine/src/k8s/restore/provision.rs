//! `--volume-root DIR`: cairn provisions the volume of each restored claim itself, as a hostPath
//! PV at `DIR/<namespace>/<claim>` bound to the claim (its `claimRef` and the claim's
//! `volumeName`), with node affinity to this node, so that the data is in place before any
//! workload starts and no provisioner is needed. The snapshot's own PV of such a claim is not
//! restored.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::claim_data::{ClaimData, VolumeItem};
use super::order::rank;
use super::plan::Planned;
use super::RestoreItem;
use crate::k8s::object::str_at;

/// Longest object name Kubernetes takes.
const MAX_NAME: usize = 253;

/// A claim that got a provisioned volume, and where its data goes.
#[derive(Clone, Debug)]
pub struct Provisioned {
    /// The claim.
    pub claim: ClaimData,
    /// The PV's directory.
    pub path: PathBuf,
}

/// Adds a hostPath PV under `root` for each claim of `claims` (block claims cannot have one and are
/// reported in `volumes`), binds the claim to it, and leaves out the snapshot's PVs of those claims
/// (reported in `items`).
pub fn provision(
    planned: &mut Vec<Planned>,
    claims: &[ClaimData],
    root: &Path,
    node: &str,
    items: &mut Vec<RestoreItem>,
    volumes: &mut Vec<VolumeItem>,
) -> Vec<Provisioned> {
    let mut out = Vec::new();
    for claim in claims {
        if claim.block() {
            volumes.push(
                claim
                    .item("node-local", "failed")
                    .because("--volume-root: a hostPath volume cannot be a block device; restore the image with --to-dir or into a claim bound to a block PV"),
            );
            continue;
        }
        let Some(at) = planned.iter().position(|p| {
            p.resource == "persistentvolumeclaims"
                && p.namespace.as_deref() == Some(claim.namespace.as_str())
                && p.name == claim.name
        }) else {
            continue;
        };
        let path = root.join(&claim.namespace).join(&claim.name);
        let pv_name = volume_name(&claim.namespace, &claim.name);
        let pv = host_path_volume(&planned[at].object, &pv_name, &path, node);
        planned[at].object["spec"]["volumeName"] = pv_name.clone().into();
        let replaced = |p: &Planned| {
            p.resource == "persistentvolumes"
                && str_at(&p.object, "/spec/claimRef/namespace") == Some(claim.namespace.as_str())
                && str_at(&p.object, "/spec/claimRef/name") == Some(claim.name.as_str())
        };
        for p in planned.iter().filter(|p| replaced(p)) {
            items.push(p.item(
                "skipped",
                Some(format!("replaced by {pv_name} under --volume-root")),
            ));
        }
        planned.retain(|p| !replaced(p));
        let at = planned
            .iter()
            .position(|p| p.rank > rank("persistentvolumes"))
            .unwrap_or(planned.len());
        planned.insert(
            at,
            Planned {
                rank: rank("persistentvolumes"),
                resource: "persistentvolumes".into(),
                namespace: None,
                name: pv_name,
                source: claim.source.clone(),
                object: pv,
                uid: None,
                owner_references: Vec::new(),
            },
        );
        out.push(Provisioned {
            claim: claim.clone(),
            path,
        });
    }
    out
}

/// `cairn-<namespace>.<claim>` (a namespace has no dots, so no two claims share it), cut to a
/// valid length.
fn volume_name(namespace: &str, claim: &str) -> String {
    let mut name = format!("cairn-{namespace}.{claim}");
    if name.len() > MAX_NAME {
        let hash = blake3::hash(name.as_bytes()).to_hex();
        name.truncate(MAX_NAME - 9);
        name.push('-');
        name.push_str(&hash[..8]);
    }
    name
}

/// The PV for `claim`: its size, access modes and storage class, at `path` on `node`.
fn host_path_volume(claim: &Value, name: &str, path: &Path, node: &str) -> Value {
    let size = claim
        .pointer("/spec/resources/requests/storage")
        .cloned()
        .unwrap_or_else(|| "1Gi".into());
    let modes = claim
        .pointer("/spec/accessModes")
        .cloned()
        .unwrap_or_else(|| json!(["ReadWriteOnce"]));
    let class = claim
        .pointer("/spec/storageClassName")
        .cloned()
        .unwrap_or_else(|| "".into());
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "cairn"},
        },
        "spec": {
            "capacity": {"storage": size},
            "accessModes": modes,
            "volumeMode": "Filesystem",
            "storageClassName": class,
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": path.to_string_lossy(), "type": "DirectoryOrCreate"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": str_at(claim, "/metadata/namespace").unwrap_or_default(),
                "name": str_at(claim, "/metadata/name").unwrap_or_default(),
            },
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
            ]}]}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_repo_format::{Entry, EntryKind, Name};

    fn planned(resource: &str, namespace: Option<&str>, name: &str, object: Value) -> Planned {
        Planned {
            rank: rank(resource),
            resource: resource.into(),
            namespace: namespace.map(String::from),
            name: name.into(),
            source: String::new(),
            object,
            uid: None,
            owner_references: Vec::new(),
        }
    }

    #[test]
    fn a_claim_gets_a_host_path_volume_in_place_of_its_old_one() {
        let claim = json!({"metadata": {"namespace": "shop2", "name": "data"},
            "spec": {"storageClassName": "fast", "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "5Gi"}}}});
        let old_pv = json!({"spec": {"claimRef": {"namespace": "shop2", "name": "data"}}});
        let mut plan = vec![
            planned("persistentvolumes", None, "old", old_pv),
            planned("persistentvolumeclaims", Some("shop2"), "data", claim),
            planned("services", Some("shop2"), "web", json!({})),
        ];
        let data = ClaimData {
            namespace: "shop2".into(),
            name: "data".into(),
            source: "volumes/shop/data".into(),
            entry: Entry::new(Name::new("data"), EntryKind::Dir),
        };
        let (mut items, mut volumes) = (Vec::new(), Vec::new());
        let made = provision(
            &mut plan,
            &[data],
            Path::new("/srv/vols"),
            "node-1",
            &mut items,
            &mut volumes,
        );
        assert_eq!(made[0].path, Path::new("/srv/vols/shop2/data"));
        let names: Vec<&str> = plan.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["cairn-shop2.data", "data", "web"]);
        let pv = &plan[0].object;
        assert_eq!(pv["spec"]["hostPath"]["path"], "/srv/vols/shop2/data");
        assert_eq!(pv["spec"]["capacity"]["storage"], "5Gi");
        assert_eq!(pv["spec"]["storageClassName"], "fast");
        assert_eq!(pv["spec"]["claimRef"]["name"], "data");
        assert_eq!(plan[1].object["spec"]["volumeName"], "cairn-shop2.data");
        assert_eq!(items[0].name, "old");
        assert_eq!(items[0].action, "skipped");
        assert!(volumes.is_empty());
    }

    #[test]
    fn long_names_are_cut_with_a_hash() {
        let name = volume_name(&"n".repeat(200), &"c".repeat(200));
        assert_eq!(name.len(), MAX_NAME);
        assert_ne!(name, volume_name(&"n".repeat(200), &"c".repeat(201)));
    }
}
