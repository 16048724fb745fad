//! Errors from setting up and inspecting the double (not API errors, which are `Status` bodies).

use std::path::PathBuf;

/// An error starting or driving the [`ApiServer`](crate::ApiServer).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A fixture file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A fixture file is not what the fixtures layout promises.
    #[error("fixture {}: {message}", path.display())]
    Fixture {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A resource named in the builder or an inspection call is not in discovery.
    #[error("unknown resource {0:?}: not served by the recorded discovery documents")]
    UnknownResource(String),
    /// An object handed to the double lacks what it needs (e.g. `metadata.name`).
    #[error("invalid object: {0}")]
    InvalidObject(String),
    /// The server could not start (binding the port or starting its runtime).
    #[error("starting the API server: {0}")]
    Start(#[source] std::io::Error),
}
