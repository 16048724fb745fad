//! The CSI snapshot controller and provisioner, as external-snapshotter and a CSI driver's
//! provisioner sidecar do their work, on local directories ([`Builder::csi_driver`]).
//!
//! - The `snapshot.storage.k8s.io/v1` group (`volumesnapshots`, `volumesnapshotcontents`,
//!   `volumesnapshotclasses`) is served, as its CRDs would serve it (the CRD objects themselves
//!   are not added).
//! - A `VolumeSnapshot` created with `spec.source.persistentVolumeClaimName` of a bound claim
//!   whose PV's data is local (hostPath, local, or a CSI volume of the driver) is taken at once:
//!   the data is copied to `root/snapshots/<snapshot uid>`, a `VolumeSnapshotContent`
//!   `snapcontent-<uid>` is created, and the snapshot's status gets `readyToUse: true`,
//!   `restoreSize` (the claim's capacity or request), `boundVolumeSnapshotContentName` and
//!   `creationTime`. A claim it cannot read gets `status.error` instead, and is never retried.
//!   With [`Builder::snapshots_never_ready`] every snapshot stays `readyToUse: false`.
//! - A claim created with a `dataSource` of a ready `VolumeSnapshot` is provisioned at once: a PV
//!   `pvc-<claim uid>` of the driver (reclaim policy `Delete`) whose data is a copy of the
//!   snapshot's, bound to the claim. A claim whose snapshot is not ready stays `Pending` for good
//!   (nothing retries), where a real provisioner would wait. A claim without a data source whose
//!   StorageClass has the driver as `provisioner` gets such a PV with an empty directory.
//! - Deleting a `VolumeSnapshot` deletes its content and the copy; deleting a claim deletes the PVs
//!   provisioned for it here and their data.
//!
//! Left out: snapshot classes' `deletionPolicy: Retain`, finalizers, group snapshots, sizes
//! (nothing is measured or checked), and the timestamps of copied files (not kept).
//!
//! [`Builder::csi_driver`]: crate::Builder::csi_driver
//! [`Builder::snapshots_never_ready`]: crate::Builder::snapshots_never_ready

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Value};

use super::{claim_data, copy_data, remove_data, safe_component, Controller, CsiDriver, Write};
use crate::fixtures::Document;
use crate::meta::now_rfc3339;
use crate::state::State;

/// The API group served.
pub(crate) const GROUP: &str = "snapshot.storage.k8s.io";

const SNAPSHOTS: &str = "volumesnapshots.snapshot.storage.k8s.io";
const CONTENTS: &str = "volumesnapshotcontents.snapshot.storage.k8s.io";

/// Adds the group to `/apis` and its resource list at `/apis/snapshot.storage.k8s.io/v1`.
pub(crate) fn serve_api(discovery: &mut Vec<Document>) {
    let version = json!({"groupVersion": format!("{GROUP}/v1"), "version": "v1"});
    let group = json!({"name": GROUP, "versions": [version], "preferredVersion": version});
    if let Some(apis) = discovery.iter_mut().find(|d| d.url == "/apis") {
        if let Some(groups) = apis.json["groups"].as_array_mut() {
            groups.push(group);
        }
        apis.raw = Bytes::from(apis.json.to_string());
    }
    let verbs = json!([
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "create",
        "update",
        "watch"
    ]);
    let resource = |name: &str, kind: &str, namespaced: bool| {
        json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
               "verbs": verbs})
    };
    let status = |name: &str, kind: &str, namespaced: bool| {
        json!({"name": format!("{name}/status"), "singularName": "", "namespaced": namespaced,
               "kind": kind, "verbs": ["get", "patch", "update"]})
    };
    let list = json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{GROUP}/v1"),
        "resources": [
            resource("volumesnapshotclasses", "VolumeSnapshotClass", false),
            resource("volumesnapshotcontents", "VolumeSnapshotContent", false),
            status("volumesnapshotcontents", "VolumeSnapshotContent", false),
            resource("volumesnapshots", "VolumeSnapshot", true),
            status("volumesnapshots", "VolumeSnapshot", true),
        ],
    });
    discovery.push(Document {
        url: format!("/apis/{GROUP}/v1"),
        raw: Bytes::from(list.to_string()),
        json: list,
    });
}

/// Takes snapshots of claims and provisions claims from them.
pub(crate) struct SnapshotController {
    /// The emulated CSI driver.
    pub driver: CsiDriver,
    /// Whether snapshots become ready.
    pub ready: bool,
}

impl Controller for SnapshotController {
    fn after_write(&self, state: &Arc<State>, write: &Write<'_>) {
        let Some(namespace) = write.namespace else {
            return;
        };
        if write.subresource.is_some() {
            return;
        }
        match (write.resource.as_str(), write.verb, write.object) {
            (SNAPSHOTS, "create", Some(snapshot)) => self.take(state, namespace, snapshot),
            (SNAPSHOTS, "delete", None) => self.drop_snapshot(state, namespace, write.name),
            ("persistentvolumeclaims", "create", Some(claim)) => {
                self.provision(state, namespace, claim)
            }
            ("persistentvolumeclaims", "delete", None) => {
                self.release(state, namespace, write.name)
            }
            _ => {}
        }
    }
}

impl SnapshotController {
    fn take(&self, state: &State, namespace: &str, snapshot: &Value) {
        let mut snapshot = snapshot.clone();
        let uid = snapshot["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = snapshot["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let status = if self.ready {
            match self.copy_claim(state, namespace, &snapshot, &uid) {
                Ok(status) => status,
                Err(message) => json!({"readyToUse": false,
                                       "error": {"message": message, "time": now_rfc3339()}}),
            }
        } else {
            json!({"readyToUse": false})
        };
        snapshot["status"] = status;
        if let Err(e) = state.put(SNAPSHOTS, snapshot) {
            eprintln!("k8s-double: snapshot {namespace}/{name}: {e}");
        }
    }

    /// Copies the source claim's data and creates the content; the snapshot's new status.
    fn copy_claim(
        &self,
        state: &State,
        namespace: &str,
        snapshot: &Value,
        uid: &str,
    ) -> Result<Value, String> {
        let claim = snapshot["spec"]["source"]["persistentVolumeClaimName"]
            .as_str()
            .ok_or("spec.source.persistentVolumeClaimName is required")?;
        let data = claim_data(state, namespace, claim, Some(&self.driver)).ok_or_else(|| {
            format!("claim {namespace}/{claim} is not bound to a volume whose data is local")
        })?;
        if !safe_component(uid) {
            return Err("the snapshot has no uid".into());
        }
        let handle = format!("snapshot-{uid}");
        let copy = self.driver.root.join("snapshots").join(&handle);
        std::fs::create_dir_all(self.driver.root.join("snapshots"))
            .and_then(|()| copy_data(&data, &copy))
            .map_err(|e| format!("copying {}: {e}", data.display()))?;
        let pvc = state
            .get("persistentvolumeclaims", Some(namespace), claim)
            .ok()
            .flatten()
            .unwrap_or_default();
        let size = pvc["status"]["capacity"]["storage"]
            .as_str()
            .or(pvc["spec"]["resources"]["requests"]["storage"].as_str())
            .unwrap_or("1Gi")
            .to_string();
        let content_name = format!("snapcontent-{uid}");
        let now = now_rfc3339();
        let content = json!({
            "metadata": {"name": content_name},
            "spec": {
                "driver": self.driver.name,
                "deletionPolicy": "Delete",
                "source": {"volumeHandle": pvc["spec"]["volumeName"]},
                "volumeSnapshotClassName": snapshot["spec"]["volumeSnapshotClassName"],
                "volumeSnapshotRef": {"kind": "VolumeSnapshot", "apiVersion": format!("{GROUP}/v1"),
                                      "namespace": namespace, "name": snapshot["metadata"]["name"],
                                      "uid": uid},
            },
            "status": {"snapshotHandle": handle, "readyToUse": true, "creationTime": now},
        });
        state.put(CONTENTS, content).map_err(|e| e.to_string())?;
        Ok(
            json!({"boundVolumeSnapshotContentName": content_name, "readyToUse": true,
                  "restoreSize": size, "creationTime": now}),
        )
    }

    fn drop_snapshot(&self, state: &State, namespace: &str, name: &str) {
        let contents = state.objects(CONTENTS, None).unwrap_or_default();
        for content in contents {
            let reference = &content["spec"]["volumeSnapshotRef"];
            if reference["namespace"] == namespace && reference["name"] == name {
                if let Some(handle) = content["status"]["snapshotHandle"].as_str() {
                    if safe_component(handle) {
                        remove_data(&self.driver.root.join("snapshots").join(handle));
                    }
                }
                let content_name = content["metadata"]["name"].as_str().unwrap_or_default();
                let _ = state.remove(CONTENTS, None, content_name);
            }
        }
    }

    /// Provisions a claim whose data source is a ready snapshot (with a copy of its data), or
    /// that has no data source and a storage class of the driver (empty).
    fn provision(&self, state: &State, namespace: &str, claim: &Value) {
        let source = &claim["spec"]["dataSource"];
        let from = if source.is_null() {
            let class = claim["spec"]["storageClassName"]
                .as_str()
                .unwrap_or_default();
            let class = state.get("storageclasses.storage.k8s.io", None, class);
            let ours = class
                .ok()
                .flatten()
                .is_some_and(|c| c["provisioner"].as_str() == Some(self.driver.name.as_str()));
            if !ours {
                return;
            }
            None
        } else {
            match self.snapshot_data(state, namespace, source) {
                Some(from) => Some(from),
                None => return,
            }
        };
        let uid = claim["metadata"]["uid"].as_str().unwrap_or_default();
        let claim_name = claim["metadata"]["name"].as_str().unwrap_or_default();
        let volume = format!("pvc-{uid}");
        if !safe_component(uid) {
            return;
        }
        let to = self.driver.root.join(&volume);
        let made = match &from {
            Some(from) => copy_data(from, &to),
            None => std::fs::create_dir_all(&to),
        };
        if let Err(e) = made {
            eprintln!("k8s-double: provisioning {namespace}/{claim_name}: {e}");
            return;
        }
        let size = claim["spec"]["resources"]["requests"]["storage"].clone();
        let pv = json!({
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": claim["spec"]["accessModes"],
                "volumeMode": claim["spec"]["volumeMode"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": claim["spec"]["storageClassName"],
                "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                             "namespace": namespace, "name": claim_name, "uid": uid},
                "csi": {"driver": self.driver.name, "volumeHandle": volume},
            },
            "status": {"phase": "Bound"},
        });
        let mut bound = claim.clone();
        bound["spec"]["volumeName"] = json!(volume);
        bound["status"] = json!({"phase": "Bound", "capacity": {"storage": size},
                                 "accessModes": claim["spec"]["accessModes"]});
        let stored = state
            .put("persistentvolumes", pv)
            .and_then(|_| state.put("persistentvolumeclaims", bound));
        if let Err(e) = stored {
            eprintln!("k8s-double: provisioning {namespace}/{claim_name}: {e}");
        }
    }

    /// The data of the ready snapshot a claim's `dataSource` names, if it is one.
    fn snapshot_data(&self, state: &State, namespace: &str, source: &Value) -> Option<PathBuf> {
        if source["kind"] != "VolumeSnapshot" || source["apiGroup"] != GROUP {
            return None;
        }
        let snapshot = state
            .get(SNAPSHOTS, Some(namespace), source["name"].as_str()?)
            .ok()??;
        if snapshot["status"]["readyToUse"] != true {
            return None;
        }
        let content = snapshot["status"]["boundVolumeSnapshotContentName"].as_str()?;
        let content = state.get(CONTENTS, None, content).ok()??;
        let handle = content["status"]["snapshotHandle"].as_str()?;
        safe_component(handle).then(|| self.driver.root.join("snapshots").join(handle))
    }

    /// Deletes the PVs provisioned here for a deleted claim, and their data.
    fn release(&self, state: &State, namespace: &str, claim: &str) {
        for pv in state.objects("persistentvolumes", None).unwrap_or_default() {
            let spec = &pv["spec"];
            let ours = spec["csi"]["driver"].as_str() == Some(self.driver.name.as_str())
                && spec["persistentVolumeReclaimPolicy"] == "Delete";
            if !ours
                || spec["claimRef"]["namespace"] != namespace
                || spec["claimRef"]["name"] != claim
            {
                continue;
            }
            if let Some(handle) = spec["csi"]["volumeHandle"].as_str() {
                if safe_component(handle) {
                    remove_data(&self.driver.root.join(handle));
                }
            }
            let name = pv["metadata"]["name"].as_str().unwrap_or_default();
            let _ = state.remove("persistentvolumes", None, name);
        }
    }
}
