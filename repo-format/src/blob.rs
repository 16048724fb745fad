//! Blobs: the unit of deduplication.
//!
//! A blob's plaintext is a chunk of file data or an encoded tree node. Stored, it is
//! `seal(compression byte || payload)` with associated data `"cairn/1/blob" || kind || id`, so a blob
//! cannot be moved to another id or kind without failing authentication; after opening, the reader
//! checks that the plaintext hashes to the id.

use serde::{Deserialize, Serialize};

use crate::compression::{self, Compression};
use crate::crypto::{Keys, Nonce};
use crate::error::{FormatError, Result};
use crate::id::BlobId;

/// Largest plaintext a blob may hold. Readers reject anything that claims more.
pub const MAX_BLOB_LEN: usize = 64 << 20;

/// What a blob holds. Data blobs and tree blobs live in separate packs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobKind {
    /// A chunk of file content.
    Data,
    /// An encoded tree node (directory listing or content list).
    Tree,
}

impl BlobKind {
    /// The byte that stands for this kind in pack headers, index files and associated data.
    pub fn to_byte(self) -> u8 {
        match self {
            BlobKind::Data => 0,
            BlobKind::Tree => 1,
        }
    }

    /// The kind a byte stands for.
    pub fn from_byte(b: u8) -> Result<Self> {
        match b {
            0 => Ok(BlobKind::Data),
            1 => Ok(BlobKind::Tree),
            other => Err(FormatError::malformed(
                "blob kind",
                format!("unknown blob kind {other}"),
            )),
        }
    }
}

/// A blob ready to go into a pack.
#[derive(Clone, Debug)]
pub struct SealedBlob {
    /// Data or tree.
    pub kind: BlobKind,
    /// Keyed hash of the plaintext.
    pub id: BlobId,
    /// Length of the plaintext.
    pub raw_len: u32,
    /// The stored bytes.
    pub bytes: Vec<u8>,
}

fn associated_data(kind: BlobKind, id: &BlobId) -> [u8; 45] {
    let mut aad = [0u8; 45];
    aad[..12].copy_from_slice(b"cairn/1/blob");
    aad[12] = kind.to_byte();
    aad[13..].copy_from_slice(id.as_bytes());
    aad
}

/// Seals a plaintext whose id the caller already computed (the backup pipeline hashes first, to skip
/// known blobs before paying for compression).
pub fn seal_blob(
    keys: &Keys,
    kind: BlobKind,
    id: BlobId,
    plaintext: &[u8],
    compression: Compression,
    nonce: &Nonce,
) -> SealedBlob {
    assert!(
        plaintext.len() <= MAX_BLOB_LEN,
        "blob larger than MAX_BLOB_LEN"
    );
    let encoded = compression.encode(plaintext);
    SealedBlob {
        kind,
        id,
        raw_len: plaintext.len() as u32,
        bytes: keys.seal(nonce, &associated_data(kind, &id), &encoded),
    }
}

/// Opens a stored blob: authenticates, decompresses (at most `raw_len` bytes) and checks the id.
pub fn open_blob(
    keys: &Keys,
    kind: BlobKind,
    id: &BlobId,
    raw_len: u32,
    stored: &[u8],
) -> Result<Vec<u8>> {
    let limit = (raw_len as usize).min(MAX_BLOB_LEN);
    let plaintext = keys.open("blob", &associated_data(kind, id), stored)?;
    let data = compression::decode("blob", plaintext, limit)?;
    if data.len() != raw_len as usize {
        return Err(FormatError::malformed(
            "blob",
            format!("holds {} bytes, its index entry says {raw_len}", data.len()),
        ));
    }
    if keys.blob_id(&data) != *id {
        return Err(FormatError::IdMismatch {
            expected: id.to_hex(),
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterSecret;

    #[test]
    fn round_trip_and_binding_to_id_and_kind() {
        let keys = MasterSecret::from_bytes([3; 32]).keys();
        let data = b"some chunk of data that repeats repeats repeats repeats".to_vec();
        let id = keys.blob_id(&data);
        let sealed = seal_blob(
            &keys,
            BlobKind::Data,
            id,
            &data,
            Compression::Zstd(3),
            &[0; 24],
        );
        let raw = sealed.raw_len;
        assert_eq!(
            open_blob(&keys, BlobKind::Data, &id, raw, &sealed.bytes).unwrap(),
            data
        );
        assert!(open_blob(&keys, BlobKind::Tree, &id, raw, &sealed.bytes).is_err());
        let other = keys.blob_id(b"other");
        assert!(open_blob(&keys, BlobKind::Data, &other, raw, &sealed.bytes).is_err());
        assert!(open_blob(&keys, BlobKind::Data, &id, raw - 1, &sealed.bytes).is_err());
    }
}
