//! Index files: which blob lies in which pack, where.
//!
//! Payload (inside the file envelope): `version (u8 = 1) || superseded count (u32 LE) || superseded index
//! ids (32 each) || pack count (u32 LE) || packs`, each pack `id (32) || entry count (u32 LE) || entries` in
//! the pack header's entry layout. An index file that lists others as superseded replaces them: a reader
//! that sees both may ignore the superseded ones.

use crate::error::{FormatError, Result};
use crate::id::{IndexId, PackId};
use crate::pack::{PackEntry, Reader, ENTRY_LEN};

/// Version byte of the index payload.
pub const INDEX_VERSION: u8 = 1;

/// The blobs of one pack, as an index file lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexPack {
    /// The pack's id.
    pub id: PackId,
    /// Its blobs.
    pub blobs: Vec<PackEntry>,
}

/// The decoded payload of an index file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexFile {
    /// Index files this one replaces.
    pub supersedes: Vec<IndexId>,
    /// The packs it describes.
    pub packs: Vec<IndexPack>,
}

impl IndexFile {
    /// Encodes the payload.
    pub fn encode(&self) -> Vec<u8> {
        let blobs: usize = self.packs.iter().map(|p| p.blobs.len()).sum();
        let mut out = Vec::with_capacity(
            9 + self.supersedes.len() * 32 + self.packs.len() * 36 + blobs * ENTRY_LEN,
        );
        out.push(INDEX_VERSION);
        out.extend_from_slice(&(self.supersedes.len() as u32).to_le_bytes());
        for id in &self.supersedes {
            out.extend_from_slice(id.as_bytes());
        }
        out.extend_from_slice(&(self.packs.len() as u32).to_le_bytes());
        for pack in &self.packs {
            out.extend_from_slice(pack.id.as_bytes());
            out.extend_from_slice(&(pack.blobs.len() as u32).to_le_bytes());
            for e in &pack.blobs {
                e.write_to(&mut out);
            }
        }
        out
    }

    /// Decodes a payload, rejecting anything truncated, trailing or out of range.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        const WHAT: &str = "index file";
        let mut r = Reader::new(payload);
        let version = r.u8(WHAT)?;
        if version != INDEX_VERSION {
            return Err(FormatError::UnsupportedVersion {
                what: WHAT,
                found: version.into(),
                supported: INDEX_VERSION.into(),
            });
        }
        let n_superseded = r.u32(WHAT)? as usize;
        check_fits(&r, n_superseded, 32)?;
        let supersedes = (0..n_superseded)
            .map(|_| Ok(IndexId(r.array(WHAT)?)))
            .collect::<Result<_>>()?;
        let n_packs = r.u32(WHAT)? as usize;
        check_fits(&r, n_packs, 36)?;
        let mut packs = Vec::with_capacity(n_packs);
        for _ in 0..n_packs {
            let id = PackId(r.array(WHAT)?);
            let n_blobs = r.u32(WHAT)? as usize;
            check_fits(&r, n_blobs, ENTRY_LEN)?;
            let blobs = (0..n_blobs)
                .map(|_| PackEntry::read_from(WHAT, &mut r))
                .collect::<Result<_>>()?;
            packs.push(IndexPack { id, blobs });
        }
        if r.remaining() != 0 {
            return Err(FormatError::malformed(
                WHAT,
                format!("{} trailing bytes", r.remaining()),
            ));
        }
        Ok(IndexFile { supersedes, packs })
    }
}

/// Refuses counts that cannot fit in the bytes left, before allocating for them.
fn check_fits(r: &Reader<'_>, count: usize, each: usize) -> Result<()> {
    if count.saturating_mul(each) > r.remaining() {
        return Err(FormatError::malformed(
            "index file",
            format!(
                "claims {count} items but only {} bytes remain",
                r.remaining()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::BlobKind;
    use crate::id::BlobId;
    use proptest::prelude::*;

    fn entry(seed: u8) -> PackEntry {
        PackEntry {
            kind: if seed.is_multiple_of(2) {
                BlobKind::Data
            } else {
                BlobKind::Tree
            },
            id: BlobId([seed; 32]),
            offset: seed as u32 * 100,
            length: 100,
            raw_len: 90,
        }
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(packs in proptest::collection::vec((any::<u8>(), 0usize..20), 0..10),
                                          sup in proptest::collection::vec(any::<u8>(), 0..4)) {
            let file = IndexFile {
                supersedes: sup.iter().map(|b| IndexId([*b; 32])).collect(),
                packs: packs.iter().map(|(id, n)| IndexPack {
                    id: PackId([*id; 32]),
                    blobs: (0..*n as u8).map(entry).collect(),
                }).collect(),
            };
            prop_assert_eq!(IndexFile::decode(&file.encode()).unwrap(), file);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = IndexFile::decode(&bytes);
        }
    }

    #[test]
    fn rejects_trailing_and_truncated_bytes() {
        let file = IndexFile {
            supersedes: vec![],
            packs: vec![IndexPack {
                id: PackId([1; 32]),
                blobs: vec![entry(2)],
            }],
        };
        let mut bytes = file.encode();
        bytes.push(0);
        assert!(IndexFile::decode(&bytes).is_err());
        bytes.truncate(bytes.len() - 2);
        assert!(IndexFile::decode(&bytes).is_err());
        assert!(IndexFile::decode(&[2]).is_err());
    }
}
