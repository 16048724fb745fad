//! Waiting, during a restore into a cluster, for what the next objects need: restored
//! CustomResourceDefinitions `Established` before their custom resources, restored
//! PersistentVolumeClaims `Bound` before the workloads that mount them (those of a
//! `WaitForFirstConsumer` class after the workloads, which make them bind), and restored
//! workloads' pods ready before post-restore hooks run. Every wait reads the object with `GET` (no watch)
//! until its condition holds or `--wait-timeout` has passed since the wait began, and is reported
//! with what it waited for and how long it took.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::order::rank;
use super::plan::Planned;
use crate::k8s::client::Cluster;
use crate::k8s::discovery::ResourceType;
use crate::k8s::error::K8sError;
use crate::k8s::object::str_at;

/// How a restore into a cluster waits.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct WaitOptions {
    /// Whether to wait at all (`--no-wait` turns it off, and post-restore hooks with it).
    pub enabled: bool,
    /// The longest one wait (for the CRDs, the claims, the workloads) takes.
    pub timeout: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            enabled: true,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The default `--wait-timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The shortest and longest pause between two reads of an object waited for.
const POLL_FIRST: Duration = Duration::from_millis(200);
const POLL_MAX: Duration = Duration::from_secs(2);

/// What became of one wait.
#[derive(Clone, Debug, Serialize)]
pub struct WaitItem {
    /// The resource of the object waited for.
    pub resource: String,
    /// Its namespace, for a namespaced object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// What was waited for: `established`, `bound` or `ready`.
    #[serde(rename = "for")]
    pub waited_for: &'static str,
    /// `done`, `timed out` or `failed`.
    pub outcome: &'static str,
    /// How long the wait took, in seconds.
    pub seconds: f64,
    /// Why it did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl WaitItem {
    /// Whether the condition held in time.
    pub fn done(&self) -> bool {
        self.outcome == "done"
    }
}

/// What an object is waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Condition {
    Established,
    Bound,
    Ready,
}

impl Condition {
    /// The condition objects of `resource` are waited for, if any.
    fn of(resource: &str) -> Option<Condition> {
        match resource {
            "customresourcedefinitions.apiextensions.k8s.io" => Some(Condition::Established),
            "persistentvolumeclaims" => Some(Condition::Bound),
            "deployments.apps" | "statefulsets.apps" | "daemonsets.apps" | "replicasets.apps"
            | "pods" => Some(Condition::Ready),
            _ => None,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Condition::Established => "established",
            Condition::Bound => "bound",
            Condition::Ready => "ready",
        }
    }
}

/// What one read of an object tells.
#[derive(Debug, PartialEq)]
enum Check {
    /// The condition holds.
    Met,
    /// Not yet, and why.
    NotYet(String),
    /// It never will, and why.
    Failed(String),
}

/// An object this restore created or replaced, as it was sent.
#[derive(Clone, Debug)]
pub(super) struct Restored {
    /// Its resource.
    pub resource: String,
    /// Its namespace.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// Its URL path.
    pub path: String,
    /// The object sent.
    pub object: Value,
}

/// Whether a restored workload's pods (or a restored pod) are ready.
#[derive(Clone, Debug)]
pub(super) enum PodsReady {
    /// They are.
    Ready,
    /// They were not in time, and why.
    NotReady(String),
    /// They were not waited for (`--no-wait`).
    NotWaited,
}

/// A restored workload (or pod) and whether its pods are ready.
pub(super) type Readiness = (Restored, PodsReady);

/// The waits of one restore into a cluster, in the order of its objects.
pub(super) struct Waiter<'a> {
    cluster: &'a Cluster,
    options: WaitOptions,
    /// Restored objects not waited for yet, by condition.
    pending: Vec<(Condition, Restored)>,
    /// Claims of a `WaitForFirstConsumer` storage class: they bind once a pod uses them, so they
    /// are waited for after the workloads are created.
    first_consumer: Vec<Restored>,
    /// CRDs (by name, which is their resource's) that were not established, and why.
    not_established: Vec<(String, String)>,
    /// The waits done.
    pub waits: Vec<WaitItem>,
    /// The workloads and pods, with their readiness.
    pub workloads: Vec<Readiness>,
}

impl<'a> Waiter<'a> {
    pub fn new(cluster: &'a Cluster, options: WaitOptions) -> Self {
        Waiter {
            cluster,
            options,
            pending: Vec::new(),
            first_consumer: Vec::new(),
            not_established: Vec::new(),
            waits: Vec::new(),
            workloads: Vec::new(),
        }
    }

    /// Notes an object the restore created or replaced (at `path`), to wait for in its turn.
    pub fn restored(&mut self, p: &Planned, resource: &ResourceType, object: &Value) {
        let Some(condition) = Condition::of(&p.resource) else {
            return;
        };
        let path = format!(
            "{}/{}",
            resource.list_path(p.namespace.as_deref()),
            super::dry_run::segment(&p.name)
        );
        let restored = Restored {
            resource: p.resource.clone(),
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            path,
            object: object.clone(),
        };
        if self.options.enabled {
            self.pending.push((condition, restored));
        } else if condition == Condition::Ready {
            self.workloads.push((restored, PodsReady::NotWaited));
        }
    }

    /// Waits for what an object of rank `next` may need: CRDs established before anything after
    /// them, claims bound before anything after them. Workloads are waited for at the end.
    pub async fn before(&mut self, next: usize) -> Result<(), K8sError> {
        for (condition, after) in [
            (
                Condition::Established,
                rank("customresourcedefinitions.apiextensions.k8s.io"),
            ),
            (Condition::Bound, rank("persistentvolumeclaims")),
        ] {
            if next > after {
                self.wait(condition).await?;
            }
        }
        Ok(())
    }

    /// Why a custom resource of `resource` is not created: its CRD, restored here, was not
    /// established.
    pub fn blocked(&self, resource: &str) -> Option<String> {
        self.not_established
            .iter()
            .find(|(crd, _)| crd == resource)
            .map(|(crd, why)| {
                format!(
                    "not created: its CustomResourceDefinition {crd} was not established ({why})"
                )
            })
    }

    /// Waits for everything still pending: claims of `WaitForFirstConsumer` classes, then the
    /// workloads.
    pub async fn finish(&mut self) -> Result<(), K8sError> {
        for condition in [Condition::Established, Condition::Bound] {
            self.wait(condition).await?;
        }
        let late = std::mem::take(&mut self.first_consumer);
        if !late.is_empty() {
            let items =
                wait_all(self.cluster, Condition::Bound, &late, self.options.timeout).await?;
            self.waits.extend(items);
        }
        self.wait(Condition::Ready).await
    }

    /// Waits for the pending objects of one condition, all at once.
    async fn wait(&mut self, condition: Condition) -> Result<(), K8sError> {
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(c, _)| *c == condition);
        self.pending = later;
        if now.is_empty() {
            return Ok(());
        }
        let mut objects: Vec<Restored> = now.into_iter().map(|(_, r)| r).collect();
        if condition == Condition::Bound {
            let classes = storage_classes(self.cluster).await?;
            let (late, now): (Vec<_>, Vec<_>) = objects
                .into_iter()
                .partition(|r| binds_late(&r.object, &classes));
            self.first_consumer.extend(late);
            objects = now;
        }
        let items = wait_all(self.cluster, condition, &objects, self.options.timeout).await?;
        for (restored, item) in objects.into_iter().zip(&items) {
            let why = || item.reason.clone().unwrap_or_default();
            match condition {
                Condition::Established if !item.done() => {
                    self.not_established.push((restored.name.clone(), why()));
                }
                Condition::Ready => {
                    let ready = if item.done() {
                        PodsReady::Ready
                    } else {
                        PodsReady::NotReady(why())
                    };
                    self.workloads.push((restored, ready));
                }
                _ => {}
            }
        }
        self.waits.extend(items);
        Ok(())
    }
}

/// The cluster's storage classes; none when they cannot be read (claims are then waited for
/// before the workloads).
async fn storage_classes(cluster: &Cluster) -> Result<Vec<Value>, K8sError> {
    match cluster
        .get_json("/apis/storage.k8s.io/v1/storageclasses")
        .await
    {
        Ok(list) => Ok(list["items"].as_array().cloned().unwrap_or_default()),
        Err(e @ (K8sError::Unauthorized { .. } | K8sError::Unreachable { .. })) => Err(e),
        Err(_) => Ok(Vec::new()),
    }
}

/// Whether `claim` binds only once a pod uses it: its storage class (the default class when it
/// names none) has `volumeBindingMode: WaitForFirstConsumer`, and it names no volume.
fn binds_late(claim: &Value, classes: &[Value]) -> bool {
    if str_at(claim, "/spec/volumeName").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    let is_default = |c: &&Value| {
        [
            "storageclass.kubernetes.io/is-default-class",
            "storageclass.beta.kubernetes.io/is-default-class",
        ]
        .iter()
        .any(|a| c["metadata"]["annotations"][a] == "true")
    };
    let class = match claim.pointer("/spec/storageClassName") {
        Some(Value::String(name)) => classes.iter().find(|c| c["metadata"]["name"] == *name),
        None | Some(Value::Null) => classes.iter().find(is_default),
        Some(_) => None,
    };
    class.is_some_and(|c| c["volumeBindingMode"] == "WaitForFirstConsumer")
}

/// Reads each object until `condition` holds for it, it cannot, or `timeout` has passed.
async fn wait_all(
    cluster: &Cluster,
    condition: Condition,
    objects: &[Restored],
    timeout: Duration,
) -> Result<Vec<WaitItem>, K8sError> {
    let start = Instant::now();
    let mut results: Vec<Option<(&'static str, f64, Option<String>)>> = vec![None; objects.len()];
    let mut last_why: Vec<String> = vec![String::new(); objects.len()];
    let mut pause = POLL_FIRST;
    loop {
        for (i, restored) in objects.iter().enumerate() {
            if results[i].is_some() {
                continue;
            }
            let check = match cluster.get_json(&restored.path).await {
                Ok(object) => check(condition, &restored.resource, &object),
                Err(e @ (K8sError::Unauthorized { .. } | K8sError::Unreachable { .. })) => {
                    return Err(e)
                }
                Err(e) => Check::NotYet(e.to_string()),
            };
            let elapsed = start.elapsed().as_secs_f64();
            match check {
                Check::Met => results[i] = Some(("done", elapsed, None)),
                Check::Failed(why) => results[i] = Some(("failed", elapsed, Some(why))),
                Check::NotYet(why) => last_why[i] = why,
            }
        }
        let left = timeout.saturating_sub(start.elapsed());
        if results.iter().all(Option::is_some) || left.is_zero() {
            break;
        }
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(POLL_MAX);
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(objects
        .iter()
        .zip(results)
        .zip(last_why)
        .map(|((restored, result), why)| {
            let (outcome, seconds, reason) = result.unwrap_or_else(|| {
                let why = timed_out(condition, &restored.resource, timeout, &why);
                ("timed out", elapsed, Some(why))
            });
            WaitItem {
                resource: restored.resource.clone(),
                namespace: restored.namespace.clone(),
                name: restored.name.clone(),
                waited_for: condition.word(),
                outcome,
                seconds: (seconds * 1000.0).round() / 1000.0,
                reason,
            }
        })
        .collect())
}

/// Why a wait timed out, and what follows for the user.
fn timed_out(condition: Condition, resource: &str, timeout: Duration, why: &str) -> String {
    let within = format!("not {} within {}", condition.word(), seconds(timeout));
    match condition {
        Condition::Bound => format!(
            "{within} ({why}): no PersistentVolume was bound to it (none matched, or no \
             provisioner made one); its volume data stays in the repository (check the claim's \
             storage class and events, or create a PersistentVolume for it)"
        ),
        Condition::Established => format!(
            "{within} ({why}); see `kubectl describe crd`, or restore again with a longer \
             --wait-timeout"
        ),
        Condition::Ready if resource == "pods" => {
            format!("{within} ({why}); see `kubectl describe pod`")
        }
        Condition::Ready => format!("{within} ({why}); see `kubectl describe` and its pods"),
    }
}

/// `2s`, `0.5s`, `300s`.
fn seconds(d: Duration) -> String {
    format!("{}s", (d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Whether `object` (of `resource`) meets `condition`.
fn check(condition: Condition, resource: &str, object: &Value) -> Check {
    match condition {
        Condition::Established => {
            let status = |kind: &str| {
                object["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["type"] == kind)
            };
            match (status("Established"), status("NamesAccepted")) {
                (Some(c), _) if c["status"] == "True" => Check::Met,
                (_, Some(c)) if c["status"] == "False" => Check::Failed(format!(
                    "names not accepted: {}",
                    str_at(c, "/message").unwrap_or_default()
                )),
                _ => Check::NotYet("condition Established is not True".into()),
            }
        }
        Condition::Bound => match str_at(object, "/status/phase") {
            Some("Bound") => Check::Met,
            Some("Lost") => Check::Failed("its volume is lost (phase Lost)".into()),
            Some(phase) => Check::NotYet(format!("phase {phase}")),
            None => Check::NotYet("no phase yet".into()),
        },
        Condition::Ready if resource == "pods" => {
            let ready = object["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            match str_at(object, "/status/phase") {
                _ if ready => Check::Met,
                Some("Succeeded") => Check::Met,
                Some("Failed") => Check::Failed("the pod failed (phase Failed)".into()),
                phase => Check::NotYet(format!("phase {}, not Ready", phase.unwrap_or("unknown"))),
            }
        }
        Condition::Ready => {
            let number = |pointer: &str| object.pointer(pointer).and_then(Value::as_u64);
            if let (Some(generation), Some(observed)) = (
                number("/metadata/generation"),
                number("/status/observedGeneration"),
            ) {
                if observed < generation {
                    return Check::NotYet("its controller has not seen its spec yet".into());
                }
            }
            let (ready, wanted) = if resource == "daemonsets.apps" {
                match number("/status/desiredNumberScheduled") {
                    Some(wanted) => (number("/status/numberReady").unwrap_or(0), wanted),
                    None => return Check::NotYet("not scheduled yet".into()),
                }
            } else {
                (
                    number("/status/readyReplicas").unwrap_or(0),
                    number("/spec/replicas").unwrap_or(1),
                )
            };
            if ready >= wanted {
                Check::Met
            } else {
                Check::NotYet(format!("{ready} of {wanted} pods ready"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crds_are_established_by_their_condition() {
        let crd = |conditions: Value| json!({"status": {"conditions": conditions}});
        let established = crd(json!([{"type": "NamesAccepted", "status": "True"},
                                     {"type": "Established", "status": "True"}]));
        assert_eq!(check(Condition::Established, "", &established), Check::Met);
        let installing = crd(json!([{"type": "Established", "status": "False"}]));
        assert!(matches!(
            check(Condition::Established, "", &installing),
            Check::NotYet(_)
        ));
        let conflict = crd(json!([{"type": "NamesAccepted", "status": "False",
                                   "message": "plural is taken"}]));
        assert_eq!(
            check(Condition::Established, "", &conflict),
            Check::Failed("names not accepted: plural is taken".into())
        );
        assert!(matches!(
            check(Condition::Established, "", &json!({"status": "junk"})),
            Check::NotYet(_)
        ));
    }

    #[test]
    fn claims_are_bound_by_their_phase() {
        let claim = |phase: &str| json!({"status": {"phase": phase}});
        assert_eq!(check(Condition::Bound, "", &claim("Bound")), Check::Met);
        assert_eq!(
            check(Condition::Bound, "", &claim("Pending")),
            Check::NotYet("phase Pending".into())
        );
        assert!(matches!(
            check(Condition::Bound, "", &claim("Lost")),
            Check::Failed(_)
        ));
        assert!(matches!(
            check(Condition::Bound, "", &json!([])),
            Check::NotYet(_)
        ));
    }

    #[test]
    fn workloads_are_ready_by_their_status_and_pods_by_their_condition() {
        let d = "deployments.apps";
        let deployment = |replicas: Value, ready: Value| json!({"spec": {"replicas": replicas}, "status": {"readyReplicas": ready}});
        assert_eq!(
            check(Condition::Ready, d, &deployment(json!(2), json!(2))),
            Check::Met
        );
        assert_eq!(
            check(Condition::Ready, d, &deployment(json!(2), json!(1))),
            Check::NotYet("1 of 2 pods ready".into())
        );
        assert_eq!(
            check(Condition::Ready, d, &deployment(json!(0), Value::Null)),
            Check::Met
        );
        assert_eq!(
            check(Condition::Ready, d, &json!({"status": {}})),
            Check::NotYet("0 of 1 pods ready".into())
        );
        // A status from before the restore replaced the spec does not count.
        let stale = json!({"metadata": {"generation": 3}, "spec": {"replicas": 1},
                           "status": {"observedGeneration": 2, "readyReplicas": 1}});
        assert!(matches!(
            check(Condition::Ready, d, &stale),
            Check::NotYet(_)
        ));
        let ds = "daemonsets.apps";
        assert!(matches!(
            check(Condition::Ready, ds, &json!({})),
            Check::NotYet(_)
        ));
        assert_eq!(
            check(
                Condition::Ready,
                ds,
                &json!({"status": {"desiredNumberScheduled": 3, "numberReady": 3}})
            ),
            Check::Met
        );
        let pod = |phase: &str, ready: &str| json!({"status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}});
        assert_eq!(
            check(Condition::Ready, "pods", &pod("Running", "True")),
            Check::Met
        );
        assert_eq!(
            check(Condition::Ready, "pods", &pod("Running", "False")),
            Check::NotYet("phase Running, not Ready".into())
        );
        assert!(matches!(
            check(Condition::Ready, "pods", &pod("Failed", "False")),
            Check::Failed(_)
        ));
    }

    #[test]
    fn claims_of_wait_for_first_consumer_classes_bind_late() {
        let classes = [
            json!({"metadata": {"name": "local-path"}, "volumeBindingMode": "WaitForFirstConsumer"}),
            json!({"metadata": {"name": "fast", "annotations":
                      {"storageclass.kubernetes.io/is-default-class": "true"}},
                   "volumeBindingMode": "Immediate"}),
        ];
        let claim = |spec: Value| json!({"spec": spec});
        assert!(binds_late(
            &claim(json!({"storageClassName": "local-path"})),
            &classes
        ));
        assert!(!binds_late(
            &claim(json!({"storageClassName": "local-path", "volumeName": "pv-1"})),
            &classes
        ));
        assert!(!binds_late(
            &claim(json!({"storageClassName": "fast"})),
            &classes
        ));
        assert!(!binds_late(
            &claim(json!({"storageClassName": ""})),
            &classes
        ));
        assert!(!binds_late(
            &claim(json!({"storageClassName": "gone"})),
            &classes
        ));
        // Without a class, the default one's mode counts.
        assert!(!binds_late(&claim(json!({})), &classes));
        let mut lazy_default = classes.clone();
        lazy_default[0]["metadata"]["annotations"] =
            json!({"storageclass.kubernetes.io/is-default-class": "true"});
        lazy_default[1]["metadata"]["annotations"] = json!({});
        assert!(binds_late(&claim(json!({})), &lazy_default));
    }

    #[test]
    fn only_crds_claims_and_workloads_are_waited_for() {
        assert_eq!(
            Condition::of("customresourcedefinitions.apiextensions.k8s.io"),
            Some(Condition::Established)
        );
        assert_eq!(
            Condition::of("persistentvolumeclaims"),
            Some(Condition::Bound)
        );
        assert_eq!(Condition::of("statefulsets.apps"), Some(Condition::Ready));
        assert_eq!(Condition::of("jobs.batch"), None);
        assert_eq!(Condition::of("configmaps"), None);
    }
}
