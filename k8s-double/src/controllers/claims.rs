//! The PersistentVolumeClaim binder and a hostPath provisioner: a new claim binds to an available
//! PersistentVolume that is pre-bound to it (`spec.claimRef`) or that matches it (same
//! `storageClassName`, enough capacity, no claimRef); failing that, a claim whose StorageClass has
//! a provisioner registered with [`crate::Builder::provisioner`] gets a new hostPath volume in a
//! directory of its own under the provisioner's directory. Otherwise it stays `Pending`.
//!
//! A claim of a class with `volumeBindingMode: WaitForFirstConsumer` binds only once a pod that
//! mounts it is written (or started for a workload). A volume written through the API with a
//! claimRef to a pending claim binds it too. Left out: access modes, volume modes, selectors,
//! default storage classes, reclaiming, resizing.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};

use super::{get, is, list, put, Controller, Write};
use crate::meta::set;
use crate::state::State;

/// Binds claims, and provisions volumes for the registered provisioners.
pub(crate) struct Claims {
    /// Provisioner names and the directory each makes volumes under.
    pub provisioners: Vec<(String, PathBuf)>,
}

impl Controller for Claims {
    fn after_write(&self, state: &Arc<State>, write: &Write<'_>) {
        let Some((info, object)) = write.stored() else {
            return;
        };
        if is(info, "", "persistentvolumeclaims") {
            self.bind(state, object, false);
        } else if is(info, "", "pods") {
            let ns = object["metadata"]["namespace"].as_str();
            let claims = object["spec"]["volumes"].as_array().into_iter().flatten();
            for name in claims.filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str()) {
                if let Some(claim) = get(state, "persistentvolumeclaims", ns, name) {
                    self.bind(state, &claim, true);
                }
            }
        } else if is(info, "", "persistentvolumes") && object["status"]["phase"] != "Bound" {
            let claim_ref = &object["spec"]["claimRef"];
            if let (Some(ns), Some(name)) =
                (claim_ref["namespace"].as_str(), claim_ref["name"].as_str())
            {
                if let Some(claim) = get(state, "persistentvolumeclaims", Some(ns), name) {
                    self.bind(state, &claim, false);
                }
            }
        }
    }
}

impl Claims {
    /// Binds `claim` if it is not bound, to a volume that fits or a new one; else marks it
    /// `Pending`. A claim of a `WaitForFirstConsumer` class that names no volume binds only for a
    /// `consumer` (a pod that mounts it).
    fn bind(&self, state: &State, claim: &Value, consumer: bool) {
        if claim["status"]["phase"] == "Bound" {
            return;
        }
        let waits = || {
            let class = claim["spec"]["storageClassName"].as_str()?;
            let class = get(state, "storageclasses.storage.k8s.io", None, class)?;
            Some(class["volumeBindingMode"] == "WaitForFirstConsumer")
        };
        // As the real PV controller: only a claim that names no volume waits for its consumer.
        let pre_bound = claim["spec"]["volumeName"]
            .as_str()
            .is_some_and(|v| !v.is_empty());
        let found = if consumer || pre_bound || waits() != Some(true) {
            find_volume(state, claim).or_else(|| self.provision(state, claim))
        } else {
            None
        };
        let volume = match found {
            Some(volume) => volume,
            None => {
                if claim["status"]["phase"] != "Pending" {
                    let mut claim = claim.clone();
                    set(&mut claim, &["status"], json!({"phase": "Pending"}));
                    put(state, "persistentvolumeclaims", claim);
                }
                return;
            }
        };
        let mut volume = volume;
        let mut claim = claim.clone();
        set(
            &mut volume,
            &["spec", "claimRef"],
            json!({
                "kind": "PersistentVolumeClaim",
                "apiVersion": "v1",
                "namespace": claim["metadata"]["namespace"],
                "name": claim["metadata"]["name"],
                "uid": claim["metadata"]["uid"],
            }),
        );
        set(&mut volume, &["status"], json!({"phase": "Bound"}));
        set(
            &mut claim,
            &["spec", "volumeName"],
            volume["metadata"]["name"].clone(),
        );
        set(
            &mut claim,
            &["metadata", "annotations", "pv.kubernetes.io/bind-completed"],
            json!("yes"),
        );
        set(
            &mut claim,
            &["status"],
            json!({
                "phase": "Bound",
                "accessModes": volume["spec"]["accessModes"],
                "capacity": volume["spec"]["capacity"],
            }),
        );
        put(state, "persistentvolumes", volume);
        put(state, "persistentvolumeclaims", claim);
    }

    /// A new hostPath volume for `claim`, when its class's provisioner is registered.
    fn provision(&self, state: &State, claim: &Value) -> Option<Value> {
        let class_name = claim["spec"]["storageClassName"].as_str()?;
        let class = get(state, "storageclasses.storage.k8s.io", None, class_name)?;
        let provisioner = class["provisioner"].as_str()?;
        let (_, dir) = self.provisioners.iter().find(|(p, _)| p == provisioner)?;
        let uid = claim["metadata"]["uid"].as_str()?;
        let name = format!("pvc-{uid}");
        let path = dir.join(&name);
        std::fs::create_dir_all(&path).ok()?;
        let request = claim["spec"]["resources"]["requests"]["storage"].clone();
        let volume = json!({
            "metadata": {
                "name": name,
                "annotations": {"pv.kubernetes.io/provisioned-by": provisioner},
            },
            "spec": {
                "capacity": {"storage": request},
                "accessModes": claim["spec"]["accessModes"],
                "volumeMode": claim["spec"]["volumeMode"].as_str().unwrap_or("Filesystem"),
                "hostPath": {"path": path.to_string_lossy(), "type": "DirectoryOrCreate"},
                "persistentVolumeReclaimPolicy":
                    class["reclaimPolicy"].as_str().unwrap_or("Delete"),
                "storageClassName": class_name,
            },
            "status": {"phase": "Available"},
        });
        put(state, "persistentvolumes", volume)
    }
}

/// An unbound volume pre-bound to `claim`, else one of its class with enough capacity and no
/// claimRef.
fn find_volume(state: &State, claim: &Value) -> Option<Value> {
    let (ns, name) = (&claim["metadata"]["namespace"], &claim["metadata"]["name"]);
    let free: Vec<Value> = list(state, "persistentvolumes", None)
        .into_iter()
        .filter(|v| v["status"]["phase"] != "Bound" && v["metadata"]["deletionTimestamp"].is_null())
        .collect();
    let pre_bound = free.iter().find(|v| {
        let r = &v["spec"]["claimRef"];
        r["namespace"] == *ns
            && r["name"] == *name
            && (r["uid"].is_null() || r["uid"] == claim["metadata"]["uid"])
    });
    if let Some(volume) = pre_bound {
        return Some(volume.clone());
    }
    let class = claim["spec"]["storageClassName"]
        .as_str()
        .unwrap_or_default();
    let wanted = quantity(&claim["spec"]["resources"]["requests"]["storage"]).unwrap_or(0.0);
    free.into_iter().find(|v| {
        v["spec"]["claimRef"].is_null()
            && v["spec"]["storageClassName"].as_str().unwrap_or_default() == class
            && quantity(&v["spec"]["capacity"]["storage"]).is_some_and(|c| c >= wanted)
    })
}

/// A resource quantity (`1Gi`, `500M`, `1.5`) as a number of bytes.
fn quantity(value: &Value) -> Option<f64> {
    let text = value.as_str()?.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let factor = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(quantity(&json!("1Gi")), Some(1073741824.0));
        assert_eq!(quantity(&json!("500M")), Some(5e8));
        assert_eq!(quantity(&json!("2")), Some(2.0));
        assert_eq!(quantity(&json!("1Zi")), None);
        assert_eq!(quantity(&json!(1)), None);
    }
}
