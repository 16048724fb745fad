//! Workload controllers and a kubelet, in one step: a new Deployment gets a ReplicaSet
//! (`<name>-<hash>`) and `spec.replicas` pods (`<name>-<hash>-<5 chars>`), a StatefulSet gets pods
//! `<name>-0`, `<name>-1`, ..., a DaemonSet one pod (one node), each with its template's labels
//! and annotations and an ownerReference to its controller; pods, also standalone ones, are
//! `Running` on node `double-node` and, unless [`Readiness::Never`], `Ready`. The workloads'
//! `status` counts them (`readyReplicas`, `numberReady`, ...).
//!
//! Left out: scaling or rolling out an existing workload (only a workload without pods gets
//! them), claims for StatefulSet `volumeClaimTemplates` (pods mount `<template>-<pod>`, which
//! must exist), Jobs, probes, restarts,
//! scheduling (a pod runs even when its claims are not bound), and container images (nothing
//! runs; exec runs the [`crate::ExecHandler`]).

use std::sync::Arc;

use serde_json::{json, Value};

use super::{announce, condition, is, list, put, Controller, Write};
use crate::meta::{generate_name, set};
use crate::state::State;

/// Whether the pods the double starts become ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// `Running` with the condition `Ready` `True`.
    Ready,
    /// `Running`, but `Ready` stays `False` (as a failing readiness probe leaves it).
    Never,
}

/// Starts pods for workloads, as [`Readiness`] says.
pub(crate) struct Workloads(pub Readiness);

impl Controller for Workloads {
    fn after_write(&self, state: &Arc<State>, write: &Write<'_>) {
        let Some((info, object)) = write.stored() else {
            return;
        };
        if is(info, "", "pods") {
            if object["status"]["phase"].is_null() {
                put(state, "pods", self.started(object.clone()));
            }
            return;
        }
        let resource = match (info.group.as_str(), info.resource.as_str()) {
            ("apps", r @ ("deployments" | "statefulsets" | "daemonsets")) => r,
            _ => return,
        };
        let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
        let uid = &object["metadata"]["uid"];
        let owned = |o: &Value| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == *uid))
        };
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let count = match resource {
            "daemonsets" => 1,
            _ => object["spec"]["replicas"].as_u64().unwrap_or(1),
        };
        let template = &object["spec"]["template"];
        let mut started = Vec::new();
        match resource {
            "deployments" => {
                if list(state, "replicasets.apps", Some(ns)).iter().any(owned) {
                    return;
                }
                let hash = pod_template_hash(uid.as_str().unwrap_or(name));
                let set_name = format!("{name}-{hash}");
                let mut labels = template["metadata"]["labels"].clone();
                set(&mut labels, &["pod-template-hash"], json!(hash));
                let replica_set = json!({
                    "metadata": {"name": set_name, "namespace": ns, "labels": labels,
                                 "ownerReferences": [owner(object, "apps/v1", "Deployment")]},
                    "spec": {"replicas": count, "selector": {"matchLabels": labels},
                             "template": template},
                    "status": {"replicas": count},
                });
                let Some(replica_set) = put(state, "replicasets.apps", replica_set) else {
                    return;
                };
                for _ in 0..count {
                    let pod_name = generate_name(&format!("{set_name}-"));
                    let mut pod = pod(template, ns, &pod_name, &replica_set, "ReplicaSet");
                    set(
                        &mut pod,
                        &["metadata", "labels", "pod-template-hash"],
                        json!(hash),
                    );
                    started.push(pod);
                }
                let ready = self.count_ready(started.len());
                let mut replica_set = replica_set;
                set(
                    &mut replica_set,
                    &["status"],
                    json!({"replicas": count, "readyReplicas": ready, "availableReplicas": ready}),
                );
                put(state, "replicasets.apps", replica_set);
            }
            _ => {
                if list(state, "pods", Some(ns)).iter().any(owned) {
                    return;
                }
                let kind = object["kind"].as_str().unwrap_or_default();
                for i in 0..count {
                    let pod_name = match resource {
                        "statefulsets" => format!("{name}-{i}"),
                        _ => generate_name(&format!("{name}-")),
                    };
                    let mut pod = pod(template, ns, &pod_name, object, kind);
                    if resource == "statefulsets" {
                        set(
                            &mut pod,
                            &["metadata", "labels", "statefulset.kubernetes.io/pod-name"],
                            json!(pod_name),
                        );
                        mount_claims(&mut pod, object, &pod_name);
                    }
                    started.push(pod);
                }
            }
        }
        for pod in started {
            if let Some(pod) = put(state, "pods", self.started(pod)) {
                announce(state, "pods", &pod);
            }
        }
        let ready = self.count_ready(count as usize);
        let status = match resource {
            "daemonsets" => json!({"currentNumberScheduled": 1, "desiredNumberScheduled": 1,
                                   "numberAvailable": ready, "numberReady": ready,
                                   "updatedNumberScheduled": 1}),
            "deployments" => json!({
                "replicas": count, "updatedReplicas": count, "readyReplicas": ready,
                "availableReplicas": ready,
                "conditions": [condition("Available", ready == count as usize,
                    "MinimumReplicasAvailable", "Deployment has minimum availability.")],
            }),
            _ => json!({"replicas": count, "currentReplicas": count, "updatedReplicas": count,
                        "readyReplicas": ready, "availableReplicas": ready}),
        };
        let mut workload = object.clone();
        set(&mut workload, &["status"], status);
        put(state, &info.qualified(), workload);
    }
}

impl Workloads {
    /// How many of `n` started pods are ready.
    fn count_ready(&self, n: usize) -> usize {
        match self.0 {
            Readiness::Ready => n,
            Readiness::Never => 0,
        }
    }

    /// `pod` as the kubelet reports it once its containers run.
    fn started(&self, mut pod: Value) -> Value {
        let ready = self.0 == Readiness::Ready;
        let containers: Vec<Value> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                json!({"name": c["name"], "image": c["image"], "ready": ready, "started": true,
                       "restartCount": 0, "state": {"running": {}}})
            })
            .collect();
        if pod["spec"]["nodeName"].is_null() {
            set(&mut pod, &["spec", "nodeName"], json!("double-node"));
        }
        let reason = if ready { "" } else { "ContainersNotReady" };
        set(
            &mut pod,
            &["status"],
            json!({
                "phase": "Running",
                "conditions": [
                    condition("PodScheduled", true, "", ""),
                    condition("Initialized", true, "", ""),
                    condition("ContainersReady", ready, reason, ""),
                    condition("Ready", ready, reason, ""),
                ],
                "containerStatuses": containers,
                "podIP": "10.0.0.10",
                "hostIP": "10.0.0.1",
            }),
        );
        pod
    }
}

/// A pod of `template` named `name`, owned by `owner_object` of kind `kind`.
fn pod(template: &Value, ns: &str, name: &str, owner_object: &Value, kind: &str) -> Value {
    let mut pod = json!({"metadata": template["metadata"].clone(), "spec": template["spec"]});
    set(&mut pod, &["metadata", "name"], json!(name));
    set(&mut pod, &["metadata", "namespace"], json!(ns));
    set(
        &mut pod,
        &["metadata", "ownerReferences"],
        json!([owner(owner_object, "apps/v1", kind)]),
    );
    pod
}

/// Mounts in a StatefulSet's pod the claims of its `volumeClaimTemplates`
/// (`<template>-<pod>`), as the StatefulSet controller does.
fn mount_claims(pod: &mut Value, set_object: &Value, pod_name: &str) {
    let templates = set_object["spec"]["volumeClaimTemplates"].as_array();
    let mounted: Vec<Value> = templates
        .into_iter()
        .flatten()
        .filter_map(|t| t["metadata"]["name"].as_str())
        .map(|t| json!({"name": t, "persistentVolumeClaim": {"claimName": format!("{t}-{pod_name}")}}))
        .collect();
    if mounted.is_empty() {
        return;
    }
    let mut volumes = pod["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    volumes.extend(mounted);
    set(pod, &["spec", "volumes"], json!(volumes));
}

/// A controller's ownerReference to `object`.
fn owner(object: &Value, api_version: &str, kind: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": object["metadata"]["name"],
           "uid": object["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true})
}

/// Ten characters from the alphabet the real hash uses, stable for one seed.
fn pod_template_hash(seed: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..10)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize];
            h /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect()
}
