//! Errors of the engine, and the policy they follow.
//!
//! - Public functions return [`Error`]. Its [`ErrorKind`] tells the caller what went wrong in terms a
//!   user can act on (wrong password, not a repository, damaged data, ...); the CLI maps kinds to exit
//!   codes and never inspects messages.
//! - An error gains context on its way up (the object, pack or path it concerns) rather than being
//!   wrapped anew at every layer.
//! - Failures that concern one file of a backup or restore are counted and reported, not fatal: the
//!   run goes on and finishes as "incomplete".
//! - Nothing here ever holds a password or key material.

use std::path::PathBuf;

use cairn_repo_format::FormatError;
use thiserror::Error;

/// What kind of failure an [`Error`] is; each maps to one exit code of the CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The location holds no repository (no `config`).
    NotARepository,
    /// `init` found a repository already there.
    AlreadyExists,
    /// No key file accepts the password.
    WrongPassword,
    /// The repository has no usable key file.
    NoKey,
    /// The repository uses a format version this build does not read.
    UnsupportedVersion,
    /// Repository bytes failed authentication or decoding.
    Damaged,
    /// A snapshot, blob or path that was asked for does not exist.
    NotFound,
    /// The request was ambiguous or invalid (e.g. a short id prefix matching two snapshots).
    InvalidInput,
    /// Reading or writing the storage backend failed.
    Backend,
    /// Local file system I/O failed.
    Io,
    /// The run was interrupted.
    Interrupted,
    /// The source of a backup failed as a whole (e.g. `--stdin-from-command` exited non-zero); no
    /// snapshot was saved.
    SourceFailed,
}

/// A failure that concerns one file of a backup or restore: counted and reported, the run goes on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// An engine error.
#[derive(Debug, Error)]
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

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Prefixes the message with where the failure happened.
    pub fn context(mut self, context: impl std::fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// A repository object failed to decode.
    pub fn format(what: impl std::fmt::Display, e: FormatError) -> Self {
        let kind = match e {
            FormatError::WrongPassword => ErrorKind::WrongPassword,
            FormatError::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            _ => ErrorKind::Damaged,
        };
        Error::new(kind, format!("{what}: {e}")).with_source(e)
    }

    /// Local I/O on `path` failed.
    pub fn io(path: impl Into<PathBuf>, e: std::io::Error) -> Self {
        let path = path.into();
        Error::new(ErrorKind::Io, format!("{}: {e}", path.display())).with_source(e)
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds context to results.
pub trait ResultExt<T> {
    /// Prefixes an error's message with `context`.
    fn context(self, context: impl std::fmt::Display) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn context(self, context: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| e.context(context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_carries_context_and_kind_survives() {
        let e = Error::new(ErrorKind::Damaged, "bad tag").context("pack 1234abcd");
        assert_eq!(e.to_string(), "pack 1234abcd: bad tag");
        assert_eq!(e.kind(), ErrorKind::Damaged);
        let e = Error::format("key file 0011", FormatError::WrongPassword);
        assert_eq!(e.kind(), ErrorKind::WrongPassword);
    }
}
