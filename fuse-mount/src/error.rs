//! Errors of the mount: what went wrong in terms a user can act on, with the cause kept as source.

use std::path::PathBuf;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// FUSE cannot be used here: no `/dev/fuse`, it cannot be opened, or no `fusermount` helper.
    FuseUnavailable,
    /// The mountpoint is missing, not a directory, or not empty.
    BadMountpoint,
    /// Something is already mounted there, or the mount is still in use.
    Busy,
    /// The kernel or the mount helper refused the mount.
    MountFailed,
    /// Reading the repository failed (the source is the engine's error).
    Repository,
    /// Any other local failure.
    Io,
}

/// A mount error.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// A problem with the mountpoint `path`.
    pub(crate) fn mountpoint(
        kind: ErrorKind,
        path: &std::path::Path,
        why: impl std::fmt::Display,
    ) -> Self {
        Error::new(kind, format!("cannot mount at {}: {why}", path.display()))
    }

    /// Local I/O on `path` failed.
    pub(crate) fn io(path: impl Into<PathBuf>, e: std::io::Error) -> Self {
        let path = path.into();
        Error::new(ErrorKind::Io, format!("{}: {e}", path.display())).with_source(e)
    }
}

impl From<cairn_engine::Error> for Error {
    fn from(e: cairn_engine::Error) -> Self {
        Error::new(ErrorKind::Repository, e.to_string()).with_source(e)
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
