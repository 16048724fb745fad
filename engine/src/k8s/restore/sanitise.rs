//! Sanitising: each object as the server expects a new one (spec/kubernetes.md, "Restore"). What
//! the server assigns (uid, resource version, status, cluster IPs, ...) is dropped, and the bindings
//! between claims and volumes are loosened so that they bind again.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use crate::k8s::object::str_at;

/// Resources never restored, and why: they belong to the cluster or are its history.
pub const NEVER_RESTORED: &[(&str, &str)] = &[
    ("nodes", "nodes belong to the cluster"),
    ("events", "events are history"),
    ("events.events.k8s.io", "events are history"),
    (
        "volumeattachments.storage.k8s.io",
        "volume attachments are made by the cluster",
    ),
    ("csinodes.storage.k8s.io", "CSI nodes belong to the cluster"),
    (
        "leases.coordination.k8s.io",
        "leases are held by running processes",
    ),
];

/// Metadata fields the server sets on every object.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
];

/// Claim annotations that record a binding or a provisioning that is over.
const CLAIM_ANNOTATIONS: &[&str] = &[
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
];

/// The annotation kubectl keeps the last applied manifest in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Options of sanitising.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SanitiseOptions {
    /// Keep every Service's node ports, also those the server assigned.
    pub preserve_node_ports: bool,
}

/// The Services of a restore that have a selector, as (namespace, name): their Endpoints are
/// managed by the endpoints controller.
pub type SelectorServices = HashSet<(String, String)>;

/// Why an object of `resource` is not restored, or `None` when it is.
pub fn skip_reason(resource: &str, object: &Value, services: &SelectorServices) -> Option<String> {
    if let Some((_, why)) = NEVER_RESTORED.iter().find(|(r, _)| *r == resource) {
        return Some((*why).to_string());
    }
    let annotation = |k: &str| {
        object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(k))
    };
    match resource {
        "pods" if annotation("kubernetes.io/config.mirror").is_some() => {
            Some("a mirror pod, made by the kubelet from a static pod".into())
        }
        "jobs.batch" => finished(object).map(|c| format!("a finished Job ({c})")),
        "endpoints" => {
            let key = (
                str_at(object, "/metadata/namespace")
                    .unwrap_or_default()
                    .to_string(),
                str_at(object, "/metadata/name")
                    .unwrap_or_default()
                    .to_string(),
            );
            services
                .contains(&key)
                .then(|| format!("managed by Service {}", key.1))
        }
        "endpointslices.discovery.k8s.io" => {
            let by = str_at(
                object,
                "/metadata/labels/endpointslice.kubernetes.io~1managed-by",
            );
            matches!(
                by,
                Some("endpointslice-controller.k8s.io")
                    | Some("endpointslicemirroring-controller.k8s.io")
            )
            .then(|| "managed by the endpointslice controller".into())
        }
        _ => None,
    }
}

/// The condition (`Complete` or `Failed`) that says a Job is over.
fn finished(job: &Value) -> Option<&'static str> {
    let conditions = job.pointer("/status/conditions")?.as_array()?;
    ["Complete", "Failed"].into_iter().find(|t| {
        conditions
            .iter()
            .any(|c| c["type"] == *t && c["status"] == "True")
    })
}

/// Sanitises an object of `resource` in place. `owners` maps the uid of each owner that the
/// restore creates to its new uid; owner references to any other uid are dropped.
pub fn sanitise(
    resource: &str,
    object: &mut Value,
    options: &SanitiseOptions,
    owners: &BTreeMap<String, String>,
) {
    let Some(o) = object.as_object_mut() else {
        return;
    };
    o.remove("status");
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in SERVER_METADATA {
            meta.remove(*field);
        }
        let refs = meta
            .remove("ownerReferences")
            .and_then(|r| r.as_array().cloned())
            .unwrap_or_default();
        let refs = owner_references(&refs, owners);
        if !refs.is_empty() {
            meta.insert("ownerReferences".into(), Value::Array(refs));
        }
    }
    match resource {
        "services" => service(object, options),
        "persistentvolumes" => {
            if let Some(claim) = object
                .pointer_mut("/spec/claimRef")
                .and_then(Value::as_object_mut)
            {
                claim.remove("uid");
                claim.remove("resourceVersion");
            }
        }
        "persistentvolumeclaims" => {
            if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("volumeName");
            }
            if let Some(a) = object
                .pointer_mut("/metadata/annotations")
                .and_then(Value::as_object_mut)
            {
                for k in CLAIM_ANNOTATIONS {
                    a.remove(*k);
                }
            }
        }
        _ => {}
    }
}

/// The owner references to owners that `owners` maps (old uid to new), with the new uid.
pub fn owner_references(refs: &[Value], owners: &BTreeMap<String, String>) -> Vec<Value> {
    refs.iter()
        .filter_map(|r| {
            let new = owners.get(r.get("uid")?.as_str()?)?;
            let mut r = r.as_object()?.clone();
            r.insert("uid".into(), Value::String(new.clone()));
            Some(Value::Object(r))
        })
        .collect()
}

/// A Service without its cluster IPs (unless headless) and without the node ports the server
/// assigned: a node port is kept with `preserve_node_ports`, or when the last applied manifest
/// (kubectl's annotation) asked for it.
fn service(object: &mut Value, options: &SanitiseOptions) {
    let asked: Vec<(Value, Value)> = object
        .pointer(&format!(
            "/metadata/annotations/{}",
            LAST_APPLIED.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|v| v.pointer("/spec/ports").cloned())
        .and_then(|p| p.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.get("nodePort").is_some())
        .map(|p| (p["port"].clone(), p["nodePort"].clone()))
        .collect();
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    if options.preserve_node_ports {
        return;
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            let pair = (
                p.get("port").cloned().unwrap_or_default(),
                p.get("nodePort").cloned().unwrap_or_default(),
            );
            if !asked.contains(&pair) {
                p.remove("nodePort");
            }
        }
    }
    spec.remove("healthCheckNodePort");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clean(resource: &str, mut v: Value) -> Value {
        sanitise(
            resource,
            &mut v,
            &SanitiseOptions::default(),
            &BTreeMap::new(),
        );
        v
    }

    #[test]
    fn server_fields_and_status_are_dropped() {
        let v = clean(
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                "name": "a", "namespace": "n", "uid": "u", "resourceVersion": "1",
                "generation": 2, "creationTimestamp": "t", "deletionTimestamp": "t",
                "deletionGracePeriodSeconds": 30, "selfLink": "/x", "managedFields": [],
                "labels": {"k": "v"}}, "status": {}, "data": {"x": "y"}}),
        );
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                "name": "a", "namespace": "n", "labels": {"k": "v"}}, "data": {"x": "y"}})
        );
    }

    #[test]
    fn owner_references_are_kept_only_for_restored_owners_with_their_new_uid() {
        let mut v = json!({"metadata": {"ownerReferences": [
            {"kind": "A", "name": "a", "uid": "old-a"}, {"kind": "B", "name": "b", "uid": "old-b"}]}});
        let owners = BTreeMap::from([("old-a".to_string(), "new-a".to_string())]);
        sanitise("pods", &mut v, &SanitiseOptions::default(), &owners);
        assert_eq!(
            v["metadata"]["ownerReferences"],
            json!([{"kind": "A", "name": "a", "uid": "new-a"}])
        );
        let v = clean("pods", v);
        assert!(v["metadata"].get("ownerReferences").is_none(), "{v}");
    }

    #[test]
    fn services_lose_cluster_ips_and_assigned_node_ports() {
        let applied = r#"{"spec":{"ports":[{"port":443,"nodePort":30443}]}}"#;
        let svc = json!({"metadata": {"annotations": {LAST_APPLIED: applied}}, "spec": {
            "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "healthCheckNodePort": 31000,
            "ports": [{"port": 80, "nodePort": 32067}, {"port": 443, "nodePort": 30443}]}});
        let v = clean("services", svc.clone());
        assert_eq!(
            v["spec"],
            json!({"ports": [{"port": 80}, {"port": 443, "nodePort": 30443}]})
        );
        let mut kept = svc;
        let options = SanitiseOptions {
            preserve_node_ports: true,
        };
        sanitise("services", &mut kept, &options, &BTreeMap::new());
        assert_eq!(kept["spec"]["ports"][0]["nodePort"], 32067);
        let headless = clean(
            "services",
            json!({"spec": {"clusterIP": "None", "clusterIPs": ["None"]}}),
        );
        assert_eq!(headless["spec"]["clusterIP"], "None");
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
    }

    #[test]
    fn claims_and_volumes_are_loosened_to_bind_again() {
        let pv = clean(
            "persistentvolumes",
            json!({"spec": {"claimRef": {"kind": "PersistentVolumeClaim", "namespace": "shop",
                "name": "data", "uid": "u", "resourceVersion": "7"}}}),
        );
        assert_eq!(
            pv["spec"]["claimRef"],
            json!({"kind": "PersistentVolumeClaim", "namespace": "shop", "name": "data"})
        );
        let mut annotations = serde_json::Map::new();
        for k in CLAIM_ANNOTATIONS {
            annotations.insert((*k).into(), "yes".into());
        }
        annotations.insert("keep".into(), "me".into());
        let pvc = clean(
            "persistentvolumeclaims",
            json!({"metadata": {"annotations": annotations},
                   "spec": {"volumeName": "pv-1", "storageClassName": "fast"}}),
        );
        assert_eq!(pvc["metadata"]["annotations"], json!({"keep": "me"}));
        assert_eq!(pvc["spec"], json!({"storageClassName": "fast"}));
    }

    #[test]
    fn what_the_cluster_makes_is_never_restored() {
        let none = SelectorServices::new();
        for (r, _) in NEVER_RESTORED {
            assert!(skip_reason(r, &json!({}), &none).is_some(), "{r}");
        }
        let mirror = json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}});
        assert!(skip_reason("pods", &mirror, &none).is_some());
        assert!(skip_reason("pods", &json!({"metadata": {}}), &none).is_none());
        let job = |t: &str, s: &str| json!({"status": {"conditions": [{"type": t, "status": s}]}});
        assert_eq!(
            skip_reason("jobs.batch", &job("Complete", "True"), &none).as_deref(),
            Some("a finished Job (Complete)")
        );
        assert!(skip_reason("jobs.batch", &job("Failed", "True"), &none).is_some());
        assert!(skip_reason("jobs.batch", &job("Complete", "False"), &none).is_none());
        let ep = json!({"metadata": {"namespace": "shop", "name": "web"}});
        let services = SelectorServices::from([("shop".into(), "web".into())]);
        assert!(skip_reason("endpoints", &ep, &services).is_some());
        assert!(skip_reason("endpoints", &ep, &none).is_none());
        let slice = |by: &str| json!({"metadata": {"labels": {"endpointslice.kubernetes.io/managed-by": by}}});
        let es = "endpointslices.discovery.k8s.io";
        assert!(skip_reason(es, &slice("endpointslice-controller.k8s.io"), &none).is_some());
        assert!(skip_reason(es, &slice("me"), &none).is_none());
    }
}
