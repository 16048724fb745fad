//! The one error type of the format crate.
//!
//! Every decoder of repository bytes returns [`FormatError`]; none panics, whatever the input. The engine
//! wraps these errors and adds where the bytes came from (a pack id, a snapshot id, a path).

use thiserror::Error;

/// Why bytes could not be encoded or decoded as a repository object.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Authentication failed: wrong key, or the bytes were changed after they were written.
    #[error(
        "authentication failed for {what}: the data is damaged or was written with another key"
    )]
    Authentication {
        /// The kind of object that failed to authenticate.
        what: &'static str,
    },
    /// The password does not unwrap the master key of this key file.
    #[error("wrong password for this key file")]
    WrongPassword,
    /// A blob decrypted and decompressed but its content does not hash to its id.
    #[error("blob content does not match its id {expected}")]
    IdMismatch {
        /// The id the blob was stored under.
        expected: String,
    },
    /// The bytes are too short or too long for the structure they should hold.
    #[error("{what} is truncated or malformed: {detail}")]
    Malformed {
        /// The kind of object being decoded.
        what: &'static str,
        /// What exactly was wrong.
        detail: String,
    },
    /// A JSON document (config, key file, snapshot, tree) did not match its schema.
    #[error("{what} is not valid: {source}")]
    Json {
        /// The kind of object being decoded.
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The object says it was written by a format version this program does not read.
    #[error(
        "{what} has format version {found}, this cairn reads version {supported}; upgrade cairn"
    )]
    UnsupportedVersion {
        /// The kind of object.
        what: &'static str,
        /// The version found in the object.
        found: u32,
        /// The version this build supports.
        supported: u32,
    },
    /// Decompression failed or the output would exceed the permitted size.
    #[error("{what} does not decompress: {detail}")]
    Decompression {
        /// The kind of object.
        what: &'static str,
        /// The decompressor's complaint.
        detail: String,
    },
    /// The key derivation function rejected its parameters.
    #[error("key derivation failed: {0}")]
    Kdf(String),
}

impl FormatError {
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        FormatError::Malformed {
            what,
            detail: detail.into(),
        }
    }

    pub(crate) fn json(what: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| FormatError::Json { what, source }
    }
}

/// Result with [`FormatError`].
pub type Result<T, E = FormatError> = std::result::Result<T, E>;
