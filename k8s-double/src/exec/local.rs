//! The default exec handler: the command runs as a process on this machine.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{ExecFuture, ExecHandler, ExecOutcome, ExecOutput, ExecRequest, ExecStreams};

/// Where and with what environment a pod's commands run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessSetup {
    /// The working directory; the test process's own when `None`.
    pub working_dir: Option<PathBuf>,
    /// Variables added to the test process's environment.
    pub env: Vec<(String, String)>,
}

impl ProcessSetup {
    /// Runs in `dir`.
    pub fn working_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// Adds `key=value` to the environment.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// Runs exec'd commands as local processes, so a test can exec `tar` or `pg_dump` "in a pod"
/// against a directory or a database on this machine. Each pod (or one container of it) can have
/// its own working directory and environment.
#[derive(Debug, Clone, Default)]
pub struct LocalProcess {
    setups: HashMap<(String, String, Option<String>), ProcessSetup>,
}

impl LocalProcess {
    /// Runs every command in the test process's directory and environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `setup` for commands in pod `namespace/pod`: in `container` only, or in every
    /// container without a setup of its own when `container` is `None`.
    pub fn setup(
        mut self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        setup: ProcessSetup,
    ) -> Self {
        let key = (
            namespace.to_string(),
            pod.to_string(),
            container.map(str::to_string),
        );
        self.setups.insert(key, setup);
        self
    }

    fn setup_for(&self, request: &ExecRequest) -> Option<&ProcessSetup> {
        let key =
            |container: Option<String>| (request.namespace.clone(), request.pod.clone(), container);
        self.setups
            .get(&key(Some(request.container.clone())))
            .or_else(|| self.setups.get(&key(None)))
    }
}

impl ExecHandler for LocalProcess {
    fn exec(&self, request: ExecRequest, streams: ExecStreams) -> ExecFuture {
        let setup = self.setup_for(&request).cloned().unwrap_or_default();
        Box::pin(run(request, streams, setup))
    }
}

fn piped_if<T>(stream: &Option<T>) -> Stdio {
    if stream.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    }
}

async fn run(request: ExecRequest, streams: ExecStreams, setup: ProcessSetup) -> ExecOutcome {
    let Some((program, args)) = request.command.split_first() else {
        return ExecOutcome::Failed("no command".into());
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(setup.env.iter().map(|(k, v)| (k, v)))
        .stdin(piped_if(&streams.stdin))
        .stdout(piped_if(&streams.stdout))
        .stderr(piped_if(&streams.stderr))
        .kill_on_drop(true);
    if let Some(dir) = &setup.working_dir {
        command.current_dir(dir);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return ExecOutcome::Failed(format!(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \
                 \"{program}\": executable file not found in $PATH: unknown"
            ))
        }
        Err(e) => return ExecOutcome::Failed(format!("starting {program:?}: {e}")),
    };
    // Standard input is copied on its own task: a command may exit without reading it all, and
    // a client may never close it.
    let stdin_copy = match (streams.stdin, child.stdin.take()) {
        (Some(mut from), Some(mut to)) => Some(tokio::spawn(async move {
            // A command that exits before reading all its input breaks the pipe: not an error.
            let _ = tokio::io::copy(&mut from, &mut to).await;
            let _ = to.shutdown().await;
        })),
        _ => None,
    };
    let stdout = copy_output(child.stdout.take(), streams.stdout);
    let stderr = copy_output(child.stderr.take(), streams.stderr);
    let (_, _, status) = tokio::join!(stdout, stderr, child.wait());
    if let Some(task) = stdin_copy {
        task.abort();
    }
    match status {
        Ok(status) => ExecOutcome::Exited(
            status
                .code()
                .or_else(|| status.signal().map(|signal| 128 + signal))
                .unwrap_or(-1),
        ),
        Err(e) => ExecOutcome::Failed(format!("waiting for {program:?}: {e}")),
    }
}

/// Copies a child's output to the client until the child closes it, then closes the client's
/// side. A client that went away makes the copy stop early; the command then sees a broken pipe.
async fn copy_output<R>(from: Option<R>, to: Option<ExecOutput>)
where
    R: tokio::io::AsyncRead + Unpin,
{
    if let (Some(mut from), Some(mut to)) = (from, to) {
        let _ = tokio::io::copy(&mut from, &mut to).await;
        let _ = to.shutdown().await;
    }
}
