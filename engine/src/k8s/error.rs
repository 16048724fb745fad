//! Errors of Kubernetes backups. Messages never hold a token, a password or object content.

use thiserror::Error;

/// A failure of a Kubernetes backup as a whole. Failures that concern one resource, one volume or one
/// hook are not errors: they are recorded in the snapshot and make it incomplete.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum K8sError {
    /// No kubeconfig, a context that does not exist, or a kubeconfig that does not parse.
    #[error("cannot configure the Kubernetes client: {0}")]
    Config(String),
    /// The API server could not be reached.
    #[error("cannot reach the Kubernetes API server at {server}: {message}")]
    Unreachable {
        /// The server's URL.
        server: String,
        /// What went wrong.
        message: String,
    },
    /// The server refused the credentials (401).
    #[error(
        "the Kubernetes API server at {server} refused the credentials (401 Unauthorized): the \
         token or certificate is wrong or expired; renew it or pick another --context"
    )]
    Unauthorized {
        /// The server's URL.
        server: String,
    },
    /// The server answered a request with an error this backup cannot do without.
    #[error("{what}: the API server answered {code} {reason}: {message}")]
    Api {
        /// What was asked.
        what: String,
        /// HTTP status.
        code: u16,
        /// The Status reason (`Forbidden`, `NotFound`, ...).
        reason: String,
        /// The Status message.
        message: String,
    },
    /// An answer that is not what the API promises (not JSON, not a list).
    #[error("{what}: unexpected answer from the API server: {message}")]
    Protocol {
        /// What was asked.
        what: String,
        /// What was wrong with it.
        message: String,
    },
    /// A flag or option that cannot be used.
    #[error("{0}")]
    InvalidInput(String),
    /// Writing a local file or directory failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Streaming volume data to or from a pod failed.
    #[error("{0}")]
    Stream(String),
    /// A volume could not be restored through a Job; what it created was deleted but for
    /// `leftovers`.
    #[error(
        "restoring the volume of claim {claim}: {message}{}",
        leftovers_text(leftovers)
    )]
    VolumeRestore {
        /// The claim, as `namespace/name`.
        claim: String,
        /// What went wrong.
        message: String,
        /// What could not be deleted, with the reason.
        leftovers: Vec<String>,
    },
    /// Reading or writing the repository failed.
    #[error(transparent)]
    Repository(#[from] crate::error::Error),
}

/// `; left behind: ...` when something could not be deleted.
fn leftovers_text(leftovers: &[String]) -> String {
    if leftovers.is_empty() {
        String::new()
    } else {
        format!("; left behind: {}", leftovers.join("; "))
    }
}

impl K8sError {
    /// The HTTP status of an API answer, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            K8sError::Api { code, .. } => Some(*code),
            K8sError::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }
}
