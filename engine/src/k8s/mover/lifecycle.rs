//! Creating the mover's objects in order, waiting for the snapshot and the Job by polling `GET`s
//! until the deadline, and deleting everything created, whatever happened.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::objects::{self, MoverSpec};
use crate::k8s::client::Cluster;

/// The first pause between two polls; it doubles up to [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(200);
/// The longest pause between two polls.
const POLL_MAX: Duration = Duration::from_secs(2);

/// How a mover run ended.
pub(super) struct Run {
    /// `Ok` when the Job completed; else why not.
    pub outcome: Result<(), String>,
    /// The objects that could not be deleted, with the reason.
    pub leftovers: Vec<String>,
}

/// An object a run created: how to name it and where to delete it.
pub(super) struct Created {
    what: String,
    /// Its URL path.
    pub path: String,
}

/// Runs the mover of one claim: Secret, `VolumeSnapshot`, clone, Job; then deletes them all.
pub(super) async fn run(cluster: &Cluster, spec: &MoverSpec<'_>) -> Run {
    let deadline = Instant::now() + spec.options.timeout;
    let mut created = Vec::new();
    let outcome = steps(cluster, spec, deadline, &mut created).await;
    let leftovers = delete_all(cluster, &created).await;
    Run { outcome, leftovers }
}

/// Deletes what a run created, dependents first (the Job uses the clone and the Secret, the clone
/// the snapshot); what could not be deleted, with the reason.
pub(super) async fn delete_all(cluster: &Cluster, created: &[Created]) -> Vec<String> {
    let mut leftovers = Vec::new();
    for c in created.iter().rev() {
        if let Err(e) = cluster.delete(&c.path).await {
            tracing::warn!("cannot delete {}: {e}", c.what);
            leftovers.push(format!("{}: {e}; delete it with kubectl", c.what));
        }
    }
    leftovers
}

async fn steps(
    cluster: &Cluster,
    spec: &MoverSpec<'_>,
    deadline: Instant,
    created: &mut Vec<Created>,
) -> Result<(), String> {
    let ns = spec.claim.namespace;
    let limit = humanize(spec.options.timeout);
    let secret = create(
        cluster,
        "secrets",
        "Secret",
        ns,
        &objects::secret(ns, spec.options),
        created,
    )
    .await?;
    let snapshot = objects::volume_snapshot(spec);
    let snapshot = create(
        cluster,
        "volumesnapshots",
        "VolumeSnapshot",
        ns,
        &snapshot,
        created,
    )
    .await?;
    let mut last_error = None;
    let ready = wait(cluster, &snapshot, deadline, |o| {
        if o.pointer("/status/readyToUse").and_then(Value::as_bool) == Some(true) {
            let size = o.pointer("/status/restoreSize").and_then(Value::as_str);
            return Some(size.map(String::from));
        }
        if let Some(e) = o.pointer("/status/error/message").and_then(Value::as_str) {
            last_error = Some(e.to_string());
        }
        None
    })
    .await?;
    let Some(restore_size) = ready else {
        let mut why = format!(
            "the VolumeSnapshot {ns}/{} was not ready to use within {limit} (--mover-timeout)",
            snapshot.name
        );
        if let Some(e) = &last_error {
            why.push_str(&format!("; the snapshot controller says: {e}"));
        }
        return Err(why);
    };
    let clone = objects::clone_claim(spec, &snapshot.name, restore_size.as_deref());
    let clone = create(
        cluster,
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        ns,
        &clone,
        created,
    )
    .await?;
    let job = objects::mover_job(spec, &secret.name, &clone.name);
    let job = create(cluster, "jobs", "Job", ns, &job, created).await?;
    wait_job(cluster, &job, ns, deadline, &limit).await
}

/// Waits until the Job has a `Complete` or `Failed` condition, or the deadline passes.
pub(super) async fn wait_job(
    cluster: &Cluster,
    job: &Object,
    ns: &str,
    deadline: Instant,
    limit: &str,
) -> Result<(), String> {
    let finished = wait(cluster, job, deadline, |o| {
        let conditions = o.pointer("/status/conditions")?.as_array()?;
        conditions.iter().find_map(|c| {
            if c.get("status")?.as_str()? != "True" {
                return None;
            }
            let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
            match c.get("type")?.as_str()? {
                "Complete" => Some(Ok(())),
                "Failed" => Some(Err(format!(
                    "the mover Job {ns}/{} failed ({}: {}); the log of its pod says why",
                    job.name,
                    text("reason"),
                    text("message")
                ))),
                _ => None,
            }
        })
    })
    .await?;
    finished.unwrap_or_else(|| {
        Err(format!(
            "the mover Job {ns}/{} did not finish within {limit} (--mover-timeout)",
            job.name
        ))
    })
}

/// A created object: the path of its collection and its name.
pub(super) struct Object {
    collection: String,
    /// Its name.
    pub name: String,
}

impl Object {
    /// Its URL path.
    pub fn path(&self) -> String {
        format!("{}/{}", self.collection, self.name)
    }
}

/// Creates `object` in `resource` of `namespace` and notes it in `created` for the cleanup.
pub(super) async fn create(
    cluster: &Cluster,
    resource: &str,
    kind: &str,
    namespace: &str,
    object: &Value,
    created: &mut Vec<Created>,
) -> Result<Object, String> {
    let collection = objects::collection(resource, namespace);
    let answer = cluster
        .write_json(http::Method::POST, &collection, object)
        .await
        .map_err(|e| format!("cannot create the mover's {kind} in namespace {namespace}: {e}"))?;
    let name = answer
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("the API server created a {kind} without a name"))?
        .to_string();
    let o = Object { collection, name };
    created.push(Created {
        what: format!("{kind} {namespace}/{}", o.name),
        path: o.path(),
    });
    Ok(o)
}

/// Polls `object` until `check` gives a value, or the deadline passes (`None`).
async fn wait<T>(
    cluster: &Cluster,
    object: &Object,
    deadline: Instant,
    mut check: impl FnMut(&Value) -> Option<T>,
) -> Result<Option<T>, String> {
    let mut pause = POLL_FIRST;
    loop {
        let current = cluster
            .get_json(&object.path())
            .await
            .map_err(|e| format!("cannot read {}: {e}", object.path()))?;
        if let Some(v) = check(&current) {
            return Ok(Some(v));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(POLL_MAX);
    }
}

/// A duration as `--mover-timeout` takes it, in whole seconds.
pub(super) fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}
