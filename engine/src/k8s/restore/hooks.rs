//! Post-restore hooks: once a restored workload's pods (or a restored pod) are ready, the command
//! of each pod's `post.hook.restore.cairn.io/command` annotation (from the workload's pod
//! template) runs in the pod through `exec`, with its timeout; each run is reported, and a failed
//! hook whose `on-error` is `Fail` (the default) makes the restore incomplete.

use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::wait::{PodsReady, Readiness};
use crate::k8s::client::Cluster;
use crate::k8s::error::K8sError;
use crate::k8s::exec::{Outcome, Target};
use crate::k8s::hooks::{restore_hooks, OnError, RESTORE_HOOK_PREFIX};
use crate::k8s::object::str_at;

/// What became of one post-restore hook.
#[derive(Clone, Debug, Serialize)]
pub struct HookItem {
    /// The restored object whose pod it ran in (`deployments.apps`, `pods`).
    pub resource: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The pod, when one was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The command.
    pub command: Vec<String>,
    /// `ok`, `failed`, `timed out`, `not run` (its pods were not ready, or could not be found) or
    /// `skipped` (`--no-wait`).
    pub outcome: &'static str,
    /// `Fail` or `Continue`.
    pub on_error: OnError,
    /// How long it ran, in seconds.
    pub seconds: f64,
    /// Why it failed or did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl HookItem {
    /// Whether it makes the restore incomplete: it did not succeed, and its on-error is `Fail`.
    pub fn fails_restore(&self) -> bool {
        !matches!(self.outcome, "ok" | "skipped") && self.on_error == OnError::Fail
    }
}

/// Runs the post-restore hooks of the pods of `workloads` that are ready.
pub(super) async fn run_hooks(
    cluster: &Cluster,
    workloads: &[Readiness],
) -> Result<Vec<HookItem>, K8sError> {
    let mut items = Vec::new();
    for (restored, ready) in workloads {
        let template = if restored.resource == "pods" {
            &restored.object
        } else {
            &restored.object["spec"]["template"]
        };
        let has_hook = template["metadata"]["annotations"]
            .get(format!("{RESTORE_HOOK_PREFIX}/command"))
            .is_some();
        if !has_hook {
            continue;
        }
        let item = |pod: Option<&str>, outcome, on_error, seconds, reason: String| HookItem {
            resource: restored.resource.clone(),
            namespace: restored.namespace.clone().unwrap_or_default(),
            name: restored.name.clone(),
            pod: pod.map(String::from),
            container: None,
            command: Vec::new(),
            outcome,
            on_error,
            seconds,
            reason: Some(reason),
        };
        let not_run = match ready {
            PodsReady::Ready => None,
            PodsReady::NotReady(why) => Some(("not run", format!("not run: {why}"))),
            PodsReady::NotWaited => Some((
                "skipped",
                "not run: hooks run once pods are ready, and --no-wait waits for nothing".into(),
            )),
        };
        if let Some((outcome, why)) = not_run {
            let mut not_run = item(None, outcome, OnError::Fail, 0.0, why);
            if let Some(hook) = restore_hooks(template).0.into_iter().next() {
                not_run.on_error = hook.on_error;
                not_run.command = hook.command;
            }
            items.push(not_run);
            continue;
        }
        let pods = match pods_of(cluster, restored).await {
            Ok(pods) => pods,
            Err(e @ (K8sError::Unauthorized { .. } | K8sError::Unreachable { .. })) => {
                return Err(e)
            }
            Err(e) => {
                let why = format!("not run: its pods could not be listed: {e}");
                items.push(item(None, "not run", OnError::Fail, 0.0, why));
                continue;
            }
        };
        if pods.is_empty() {
            let why = "not run: no pod matches its selector".to_string();
            items.push(item(None, "not run", OnError::Fail, 0.0, why));
        }
        for pod in &pods {
            let pod_name = str_at(pod, "/metadata/name");
            let (hooks, problems) = restore_hooks(pod);
            if !problems.is_empty() {
                let why = format!("malformed annotations: {}", problems.join("; "));
                items.push(item(pod_name, "failed", OnError::Fail, 0.0, why));
                continue;
            }
            for hook in hooks {
                let target = Target {
                    namespace: &hook.namespace,
                    pod: &hook.pod,
                    container: &hook.container,
                };
                let start = Instant::now();
                let (outcome, why) = cluster
                    .exec_hook(&target, &hook.command, hook.timeout)
                    .await;
                let seconds = (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
                items.push(HookItem {
                    pod: Some(hook.pod.clone()),
                    container: Some(hook.container.clone()),
                    command: hook.command.clone(),
                    outcome: match outcome {
                        Outcome::Ok => "ok",
                        Outcome::Failed => "failed",
                        Outcome::TimedOut => "timed out",
                    },
                    reason: why,
                    ..item(pod_name, "ok", hook.on_error, seconds, String::new())
                });
            }
        }
    }
    Ok(items)
}

/// The pods of a restored workload (by its selector), or the restored pod itself, as they are now.
async fn pods_of(
    cluster: &Cluster,
    restored: &super::wait::Restored,
) -> Result<Vec<Value>, K8sError> {
    if restored.resource == "pods" {
        return Ok(vec![cluster.get_json(&restored.path).await?]);
    }
    let namespace = restored.namespace.as_deref().unwrap_or_default();
    let Some(selector) = label_selector(&restored.object["spec"]["selector"]) else {
        return Ok(Vec::new());
    };
    let path = format!(
        "/api/v1/namespaces/{}/pods?labelSelector={}",
        super::dry_run::segment(namespace),
        super::dry_run::segment(&selector)
    );
    let list = cluster.get_json(&path).await?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// A `LabelSelector` object as the `labelSelector` query parameter; `None` when it selects
/// nothing (no requirement, or one that cannot be written).
fn label_selector(selector: &Value) -> Option<String> {
    let mut parts = Vec::new();
    for (key, value) in selector["matchLabels"].as_object().into_iter().flatten() {
        parts.push(format!("{key}={}", value.as_str()?));
    }
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str()?;
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match e["operator"].as_str()? {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        });
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_become_query_parameters() {
        let s = json!({"matchLabels": {"app": "web", "tier": "front"},
                       "matchExpressions": [
                           {"key": "env", "operator": "In", "values": ["a", "b"]},
                           {"key": "old", "operator": "DoesNotExist"}]});
        assert_eq!(
            label_selector(&s).as_deref(),
            Some("app=web,tier=front,env in (a,b),!old")
        );
        assert_eq!(label_selector(&json!({})), None);
        assert_eq!(
            label_selector(&json!({"matchExpressions": [{"key": "k", "operator": "Near"}]})),
            None
        );
        assert_eq!(label_selector(&json!({"matchLabels": {"a": 1}})), None);
    }
}
