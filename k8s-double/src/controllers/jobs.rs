//! The Job controller and a kubelet in one, on this machine ([`Builder::run_jobs`]).
//!
//! A Job created through the API runs its pod template's first container as a local process, as
//! soon as every claim the pod mounts is bound to a PV whose data is local (hostPath, local, or a
//! CSI volume of [`Builder::csi_driver`]); until then it waits, as a pod stays `Pending`.
//!
//! - The program is the container's `command[0]` (looked up in `PATH`) when it has a `command`,
//!   else the binary the container's image is mapped to (an image maps when it is the name given
//!   or that name with a `:tag` or `@digest`). An image mapped to nothing fails the Job at once
//!   (reason `ImagePullBackOff`), where a real cluster would retry pulling it for good.
//! - The environment holds only `PATH` (this process's) and the container's `env` (`value`,
//!   `valueFrom.secretKeyRef`) and `envFrom` (`secretRef`) variables; Secrets' `data` is decoded.
//! - Volumes are not mounted: as a container runtime's bind mount would, every argument and
//!   environment value that is a `volumeMounts[].mountPath` or `volumeDevices[].devicePath`, or
//!   lies below it, is rewritten to the PV's data on this machine. `readOnly` is not enforced.
//! - When the process exits, the Job's status gets `succeeded: 1` and condition `Complete`, or
//!   `failed: 1` and condition `Failed` (reason `BackoffLimitExceeded`, whatever `backoffLimit`
//!   says: a pod is never retried); its output is written to this process's standard error.
//!   Deleting the Job kills the process.
//!
//! Left out: Pod objects (none is created), retries, parallelism, `activeDeadlineSeconds`,
//! `ttlSecondsAfterFinished`, init containers, other containers, and working directories.
//!
//! [`Builder::run_jobs`]: crate::Builder::run_jobs
//! [`Builder::csi_driver`]: crate::Builder::csi_driver

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::task::AbortHandle;

use super::{claim_data, Controller, CsiDriver, Write};
use crate::meta::now_rfc3339;
use crate::state::State;

const JOBS: &str = "jobs.batch";

/// How often a Job waiting for its claims looks again.
const WAIT: Duration = Duration::from_millis(100);

/// Runs Jobs as local processes.
pub(crate) struct JobRunner {
    /// Image names and the binaries they stand for.
    pub images: Vec<(String, PathBuf)>,
    /// The emulated CSI driver, whose volumes the pods may mount.
    pub driver: Option<CsiDriver>,
    /// The running Jobs by `namespace/name`.
    pub running: Mutex<HashMap<String, AbortHandle>>,
}

impl Controller for JobRunner {
    fn after_write(&self, state: &Arc<State>, write: &Write<'_>) {
        let (Some(namespace), JOBS, None) =
            (write.namespace, write.resource.as_str(), write.subresource)
        else {
            return;
        };
        let key = format!("{namespace}/{}", write.name);
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match (write.verb, write.object) {
            ("create", Some(job)) => {
                let run = Run {
                    state: state.clone(),
                    job: job.clone(),
                    images: self.images.clone(),
                    driver: self.driver.clone(),
                };
                running.retain(|_, task| !task.is_finished());
                running.insert(key, tokio::spawn(run.run()).abort_handle());
            }
            ("delete", None) => {
                if let Some(task) = running.remove(&key) {
                    task.abort();
                }
            }
            _ => {}
        }
    }
}

/// One Job's run.
struct Run {
    state: Arc<State>,
    job: Value,
    images: Vec<(String, PathBuf)>,
    driver: Option<CsiDriver>,
}

impl Run {
    async fn run(self) {
        let container = &self.job["spec"]["template"]["spec"]["containers"][0];
        let mounts = loop {
            if !self.exists() {
                return;
            }
            if let Some(mounts) = self.mounts(container) {
                break mounts;
            }
            tokio::time::sleep(WAIT).await;
        };
        self.set_status(json!({"startTime": now_rfc3339(), "active": 1}));
        let outcome = match self.command(container, &mounts) {
            Ok(mut command) => match command.kill_on_drop(true).output().await {
                Ok(out) if out.status.success() => Ok(()),
                Ok(out) => {
                    eprintln!(
                        "k8s-double: Job {} failed ({}):\n{}{}",
                        self.name(),
                        out.status,
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    Err((
                        "BackoffLimitExceeded",
                        "Job has reached the specified backoff limit",
                    ))
                }
                Err(e) => {
                    eprintln!("k8s-double: Job {}: cannot start: {e}", self.name());
                    Err((
                        "BackoffLimitExceeded",
                        "Job has reached the specified backoff limit",
                    ))
                }
            },
            Err(why) => Err(why),
        };
        if !self.exists() {
            return;
        }
        let now = now_rfc3339();
        let status = match outcome {
            Ok(()) => json!({"startTime": now, "completionTime": now, "succeeded": 1,
                             "conditions": [{"type": "Complete", "status": "True",
                                             "lastProbeTime": now, "lastTransitionTime": now}]}),
            Err((reason, message)) => json!({"startTime": now, "failed": 1,
                             "conditions": [{"type": "Failed", "status": "True",
                                             "reason": reason, "message": message,
                                             "lastProbeTime": now, "lastTransitionTime": now}]}),
        };
        self.set_status(status);
    }

    fn namespace(&self) -> &str {
        self.job["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
    }

    fn name(&self) -> String {
        format!(
            "{}/{}",
            self.namespace(),
            self.job["metadata"]["name"].as_str().unwrap_or_default()
        )
    }

    /// Whether the Job (this one, by uid) still exists.
    fn exists(&self) -> bool {
        let name = self.job["metadata"]["name"].as_str().unwrap_or_default();
        self.state
            .get(JOBS, Some(self.namespace()), name)
            .ok()
            .flatten()
            .is_some_and(|j| j["metadata"]["uid"] == self.job["metadata"]["uid"])
    }

    fn set_status(&self, status: Value) {
        let name = self.job["metadata"]["name"].as_str().unwrap_or_default();
        let Ok(Some(mut job)) = self.state.get(JOBS, Some(self.namespace()), name) else {
            return;
        };
        job["status"] = status;
        if let Err(e) = self.state.put(JOBS, job) {
            eprintln!("k8s-double: Job {}: {e}", self.name());
        }
    }

    /// Each mount or device path of the container and the local data behind it; `None` while a
    /// claim is not bound to local data.
    fn mounts(&self, container: &Value) -> Option<Vec<(String, String)>> {
        let volumes = self.job["spec"]["template"]["spec"]["volumes"].as_array();
        let claim_of = |volume: &str| {
            volumes?.iter().find_map(|v| {
                (v["name"] == volume).then(|| v["persistentVolumeClaim"]["claimName"].as_str())?
            })
        };
        let mut out = Vec::new();
        for (list, key) in [
            ("volumeMounts", "mountPath"),
            ("volumeDevices", "devicePath"),
        ] {
            for m in container[list].as_array().into_iter().flatten() {
                let (Some(volume), Some(path)) = (m["name"].as_str(), m[key].as_str()) else {
                    continue;
                };
                let Some(claim) = claim_of(volume) else {
                    continue;
                };
                let data = claim_data(&self.state, self.namespace(), claim, self.driver.as_ref())?;
                out.push((path.to_string(), data.to_string_lossy().into_owned()));
            }
        }
        Some(out)
    }

    /// The process to run, or why the pod cannot start.
    fn command(
        &self,
        container: &Value,
        mounts: &[(String, String)],
    ) -> Result<tokio::process::Command, (&'static str, &'static str)> {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(|s| rewrite(s, mounts)))
                .collect()
        };
        let mut argv = strings(&container["command"]);
        argv.extend(strings(&container["args"]));
        let mut command = if container["command"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
        {
            let mut c = tokio::process::Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        } else {
            let image = container["image"].as_str().unwrap_or_default();
            let Some(binary) = self.binary(image) else {
                eprintln!(
                    "k8s-double: Job {}: no binary for image {image:?}",
                    self.name()
                );
                return Err(("ImagePullBackOff", "the double maps no binary to the image"));
            };
            let mut c = tokio::process::Command::new(binary);
            c.args(&argv);
            c
        };
        command.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        for (k, v) in self.env(container) {
            command.env(k, rewrite(&v, mounts));
        }
        command.stdin(std::process::Stdio::null());
        Ok(command)
    }

    fn binary(&self, image: &str) -> Option<&PathBuf> {
        self.images.iter().find_map(|(name, binary)| {
            let rest = image.strip_prefix(name.as_str())?;
            (rest.is_empty() || rest.starts_with(':') || rest.starts_with('@')).then_some(binary)
        })
    }

    /// The container's variables, `envFrom` first and `env` over them, as the kubelet sets them.
    fn env(&self, container: &Value) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for from in container["envFrom"].as_array().into_iter().flatten() {
            if let Some(secret) = from["secretRef"]["name"]
                .as_str()
                .and_then(|s| self.secret(s))
            {
                let data = secret["data"].as_object().cloned().unwrap_or_default();
                for (k, v) in data {
                    out.push((k, decode(&v)));
                }
            }
        }
        for e in container["env"].as_array().into_iter().flatten() {
            let Some(name) = e["name"].as_str() else {
                continue;
            };
            let value = match e["value"].as_str() {
                Some(v) => Some(v.to_string()),
                None => {
                    let r = &e["valueFrom"]["secretKeyRef"];
                    r["name"]
                        .as_str()
                        .and_then(|s| self.secret(s))
                        .and_then(|s| r["key"].as_str().map(|k| decode(&s["data"][k])))
                }
            };
            if let Some(v) = value {
                out.push((name.to_string(), v));
            }
        }
        out
    }

    fn secret(&self, name: &str) -> Option<Value> {
        self.state
            .get("secrets", Some(self.namespace()), name)
            .ok()
            .flatten()
    }
}

/// A Secret's base64 value, decoded (lossily, as the environment of a process is text here).
fn decode(v: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_default())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `value` with a leading mount path replaced by the local data behind it.
fn rewrite(value: &str, mounts: &[(String, String)]) -> String {
    for (path, data) in mounts {
        if let Some(rest) = value.strip_prefix(path.as_str()) {
            if rest.is_empty() || rest.starts_with('/') {
                return format!("{data}{rest}");
            }
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn paths_below_a_mount_are_rewritten_and_lookalikes_are_not() {
        let mounts = [("/data".to_string(), "/tmp/pv-1".to_string())];
        assert_eq!(rewrite("/data", &mounts), "/tmp/pv-1");
        assert_eq!(rewrite("/data/a/b", &mounts), "/tmp/pv-1/a/b");
        assert_eq!(rewrite("/database", &mounts), "/database");
        assert_eq!(rewrite("--tag", &mounts), "--tag");
    }
}
