//! Running commands in containers through the `exec` subresource: hooks, whose outcome is recorded,
//! and streams (tar, a block device) whose standard output becomes volume data.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::FutureExt;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, AttachedProcess};
use kube::Api;
use serde::Serialize;
use tokio::io::AsyncReadExt;

use super::client::Cluster;
use super::error::K8sError;

/// Bytes of a hook's stderr kept for the record.
const STDERR_KEPT: usize = 2048;

/// How a command run in a container ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Exit status 0.
    Ok,
    /// It could not be started or exited non-zero.
    Failed,
    /// It did not end within its timeout.
    #[serde(rename = "timed out")]
    TimedOut,
}

/// Where to run a command.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    /// The pod's namespace.
    pub namespace: &'a str,
    /// The pod.
    pub pod: &'a str,
    /// The container.
    pub container: &'a str,
}

/// The exit status a command reports when it ends.
type ExitStatus = Pin<
    Box<dyn Future<Output = Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>> + Send>,
>;

/// A command that holds a lock in its session, kept running until [`Held::release`].
pub struct Held {
    process: AttachedProcess,
    status: Option<ExitStatus>,
}

impl Held {
    /// Ends the command's session; true when it was still holding (had not ended by itself).
    pub fn release(mut self) -> bool {
        let ended = self
            .status
            .as_mut()
            .is_some_and(|s| s.as_mut().now_or_never().is_some());
        self.process.abort();
        !ended
    }
}

/// Reads a command's standard error to its end, keeping its first bytes for the record.
pub async fn kept_stderr(stderr: &mut (impl tokio::io::AsyncRead + Unpin)) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = STDERR_KEPT.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    kept
}

impl Cluster {
    /// Starts `command` in the container, its standard output piped back.
    pub async fn exec_stream(
        &self,
        target: &Target<'_>,
        command: &[String],
    ) -> Result<AttachedProcess, K8sError> {
        self.exec_with(target, command, false).await
    }

    /// Starts `command` in the container with its standard input open, for data streamed into it;
    /// closing the input (dropping the writer) ends it.
    pub async fn exec_input(
        &self,
        target: &Target<'_>,
        command: &[String],
    ) -> Result<AttachedProcess, K8sError> {
        self.exec_with(target, command, true).await
    }

    async fn exec_with(
        &self,
        target: &Target<'_>,
        command: &[String],
        stdin: bool,
    ) -> Result<AttachedProcess, K8sError> {
        let pods: Api<Pod> = Api::namespaced(self.client().clone(), target.namespace);
        let params = AttachParams::default()
            .container(target.container)
            .stdin(stdin)
            .stdout(true)
            .stderr(true)
            .max_stdout_buf_size(1 << 20);
        pods.exec(target.pod, command.to_vec(), &params)
            .await
            .map_err(|e| {
                self.error(
                    &format!("exec in pod {}/{}", target.namespace, target.pod),
                    e,
                )
            })
    }

    /// Starts a command that prints `marker` once it holds a lock, and waits for that line at most
    /// `timeout`; the command then keeps running until the [`Held`] is released.
    pub async fn exec_hold(
        &self,
        target: &Target<'_>,
        command: &[String],
        marker: &str,
        timeout: Duration,
    ) -> (Outcome, Option<String>, Option<Held>) {
        let mut process = match self.exec_stream(target, command).await {
            Ok(p) => p,
            Err(e) => return (Outcome::Failed, Some(e.to_string()), None),
        };
        let mut status: Option<ExitStatus> = process.take_status().map(|s| Box::pin(s) as _);
        let stderr = process
            .stderr()
            .map(|mut err| tokio::spawn(async move { kept_stderr(&mut err).await }));
        let Some(mut stdout) = process.stdout() else {
            return (Outcome::Failed, Some("no output stream".into()), None);
        };
        let wait = async {
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                match stdout.read(&mut buf).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
                if String::from_utf8_lossy(&seen)
                    .lines()
                    .any(|l| l.trim() == marker)
                {
                    return true;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(true) => {
                // Whatever else it prints is read and dropped, so it never blocks on a full pipe.
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await;
                });
                (Outcome::Ok, None, Some(Held { process, status }))
            }
            Ok(false) => {
                let why = match status.as_mut() {
                    Some(s) => s.await.and_then(|s| s.message),
                    None => None,
                };
                let stderr = match stderr {
                    Some(task) => task.await.unwrap_or_default(),
                    None => Vec::new(),
                };
                let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
                let why = format!(
                    "ended before it said {marker:?}: {} {stderr}",
                    why.unwrap_or_default()
                );
                (Outcome::Failed, Some(why.trim().to_string()), None)
            }
            Err(_) => {
                process.abort();
                let why = format!("did not say {marker:?} within {}s", timeout.as_secs_f64());
                (Outcome::TimedOut, Some(why), None)
            }
        }
    }

    /// Runs a command to its end or its timeout; returns its outcome and, when it failed, why.
    /// Its standard output is read and dropped; a little of its standard error is kept.
    pub async fn exec_hook(
        &self,
        target: &Target<'_>,
        command: &[String],
        timeout: Duration,
    ) -> (Outcome, Option<String>) {
        let run = async {
            let mut process = self.exec_stream(target, command).await?;
            let status = process.take_status();
            let mut stdout = process.stdout();
            let mut stderr = process.stderr();
            let drain = async {
                if let Some(out) = stdout.as_mut() {
                    let mut sink = tokio::io::sink();
                    let _ = tokio::io::copy(out, &mut sink).await;
                }
            };
            let collect = async {
                match stderr.as_mut() {
                    Some(err) => kept_stderr(err).await,
                    None => Vec::new(),
                }
            };
            let ((), kept) = tokio::join!(drain, collect);
            let status = match status {
                Some(s) => s.await,
                None => None,
            };
            Ok::<_, K8sError>((status, kept))
        };
        match tokio::time::timeout(timeout, run).await {
            Err(_) => (
                Outcome::TimedOut,
                Some(format!("did not end within {}s", timeout.as_secs_f64())),
            ),
            Ok(Err(e)) => (Outcome::Failed, Some(e.to_string())),
            Ok(Ok((status, stderr))) => {
                let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
                match status {
                    Some(s) if s.status.as_deref() == Some("Success") => (Outcome::Ok, None),
                    Some(s) => {
                        let mut why = s.message.unwrap_or_default();
                        if !stderr.is_empty() {
                            why = format!("{why}: {stderr}");
                        }
                        (Outcome::Failed, Some(why))
                    }
                    None => (
                        Outcome::Failed,
                        Some("the server sent no exit status".into()),
                    ),
                }
            }
        }
    }
}
