//! `pods/{name}/exec`: what a command run "in a pod" does is up to an [`ExecHandler`]; the
//! WebSocket streaming protocol around it is in `exec/websocket.rs`.

mod local;
pub(crate) mod websocket;

use std::future::Future;
use std::pin::Pin;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};

pub use local::{LocalProcess, ProcessSetup};

/// The exec request, as the API server passes it on to the kubelet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container (named in the request, or the pod's only container).
    pub container: String,
    /// The command and its arguments (the repeated `command` query parameter).
    pub command: Vec<String>,
    /// Whether the client asked for a terminal (`tty=true`). No terminal is allocated.
    pub tty: bool,
}

/// The command's standard input, as the client streams it.
pub type ExecInput = Box<dyn AsyncRead + Send + Unpin>;
/// Standard output or error, streamed to the client as written (with backpressure).
pub type ExecOutput = Box<dyn AsyncWrite + Send + Unpin>;

/// The streams the client asked for: each is `None` unless its query parameter was true.
pub struct ExecStreams {
    /// Standard input; it ends when the client closes it (protocol v5) or hangs up.
    pub stdin: Option<ExecInput>,
    /// Standard output.
    pub stdout: Option<ExecOutput>,
    /// Standard error.
    pub stderr: Option<ExecOutput>,
}

/// How the command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutcome {
    /// The command ran and exited with this code (128 + the signal when killed by one).
    Exited(i32),
    /// The command could not be run; the message says why (it becomes an `InternalError`
    /// status, as when the container runtime fails to start the process).
    Failed(String),
}

/// The future an [`ExecHandler`] returns.
pub type ExecFuture = Pin<Box<dyn Future<Output = ExecOutcome> + Send>>;

/// What runs a command in a pod. The default, [`LocalProcess`], runs it on this machine; a
/// closure `Fn(ExecRequest, ExecStreams) -> impl Future<Output = ExecOutcome>` is a handler too.
///
/// The streams must be dropped (or shut down) when the command is done: the exit status is sent
/// after standard output and error end.
pub trait ExecHandler: Send + Sync + 'static {
    /// Runs `request` with `streams`.
    fn exec(&self, request: ExecRequest, streams: ExecStreams) -> ExecFuture;
}

impl<F, Fut> ExecHandler for F
where
    F: Fn(ExecRequest, ExecStreams) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ExecOutcome> + Send + 'static,
{
    fn exec(&self, request: ExecRequest, streams: ExecStreams) -> ExecFuture {
        Box::pin(self(request, streams))
    }
}

/// The `Status` sent on the error channel when the command ends, as the kubelet writes it.
pub(crate) fn exit_status(command: &[String], outcome: &ExecOutcome) -> Value {
    match outcome {
        ExecOutcome::Exited(0) => json!({"metadata": {}, "status": "Success"}),
        ExecOutcome::Exited(code) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!(
                "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
                command.join(" ")
            ),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        ExecOutcome::Failed(why) => {
            let message = format!("error executing command in container: {why}");
            json!({
                "metadata": {},
                "status": "Failure",
                "message": format!("Internal error occurred: {message}"),
                "reason": "InternalError",
                "details": {"causes": [{"message": message}]},
                "code": 500,
            })
        }
    }
}
