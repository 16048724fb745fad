//! The envelope of repository files that are not packs: config, index files and snapshots.
//!
//! Stored: `seal(compression byte || payload)` with associated data `"cairn/1/file/" || kind name`.

use crate::compression::{self, Compression};
use crate::crypto::{Keys, Nonce};
use crate::error::Result;

/// The kinds of sealed repository file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// The repository config (`config`).
    Config,
    /// An index file (`index/<id>`).
    Index,
    /// A snapshot (`snapshots/<id>`).
    Snapshot,
    /// A writer session (`sessions/<id>`).
    Session,
    /// A deletion plan (`deletions/<id>`).
    DeletionPlan,
    /// A retention policy (`policies/<id>`).
    Policy,
}

impl FileKind {
    /// The kind's name in associated data and in messages.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Config => "config",
            FileKind::Index => "index",
            FileKind::Snapshot => "snapshot",
            FileKind::Session => "session",
            FileKind::DeletionPlan => "deletion-plan",
            FileKind::Policy => "policy",
        }
    }

    fn aad(self) -> Vec<u8> {
        [b"cairn/1/file/".as_slice(), self.name().as_bytes()].concat()
    }

    /// The largest plaintext a reader accepts for this kind.
    pub fn max_len(self) -> usize {
        match self {
            FileKind::Config => 1 << 20,
            FileKind::Index => 1 << 30,
            FileKind::Snapshot => 64 << 20,
            FileKind::Session | FileKind::Policy => 1 << 20,
            FileKind::DeletionPlan => 256 << 20,
        }
    }
}

/// Compresses and seals a file's payload.
pub fn seal_file(
    keys: &Keys,
    kind: FileKind,
    payload: &[u8],
    compression: Compression,
    nonce: &Nonce,
) -> Vec<u8> {
    keys.seal(nonce, &kind.aad(), &compression.encode(payload))
}

/// Opens a sealed file and returns its payload.
pub fn open_file(keys: &Keys, kind: FileKind, stored: &[u8]) -> Result<Vec<u8>> {
    let plain = keys.open(kind.name(), &kind.aad(), stored)?;
    compression::decode(kind.name(), plain, kind.max_len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterSecret;

    #[test]
    fn a_file_of_one_kind_does_not_open_as_another() {
        let keys = MasterSecret::from_bytes([1; 32]).keys();
        let sealed = seal_file(
            &keys,
            FileKind::Snapshot,
            b"{}",
            Compression::Zstd(3),
            &[0; 24],
        );
        assert_eq!(
            open_file(&keys, FileKind::Snapshot, &sealed).unwrap(),
            b"{}"
        );
        assert!(open_file(&keys, FileKind::Index, &sealed).is_err());
    }
}
