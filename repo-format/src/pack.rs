//! Packs: many sealed blobs in one file, with an encrypted header that lists them.
//!
//! Layout: `blob_1 || ... || blob_n || sealed header || header length (u32 LE)`. The header's plaintext is
//! `version (u8 = 1) || count (u32 LE) || count × entry`, each entry `kind (u8) || id (32) || offset (u32 LE)
//! || length (u32 LE) || raw length (u32 LE)`. One ranged read of the last bytes finds the header, so the
//! index can be rebuilt from packs alone; one ranged read of `offset..offset+length` fetches any blob.

use serde::{Deserialize, Serialize};

use crate::blob::{BlobKind, SealedBlob, MAX_BLOB_LEN};
use crate::crypto::{Keys, Nonce, SEAL_OVERHEAD};
use crate::error::{FormatError, Result};
use crate::id::{BlobId, PackId, ID_LEN};

/// Version byte of the pack header plaintext.
pub const PACK_HEADER_VERSION: u8 = 1;
/// Associated data of the sealed pack header.
pub const PACK_HEADER_AAD: &[u8] = b"cairn/1/pack-header";
/// Bytes of one header entry.
pub const ENTRY_LEN: usize = 1 + ID_LEN + 4 + 4 + 4;
/// Largest pack a reader accepts.
pub const MAX_PACK_LEN: u64 = u32::MAX as u64;

/// Where one blob lies in a pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackEntry {
    /// Data or tree.
    pub kind: BlobKind,
    /// The blob's id.
    pub id: BlobId,
    /// Offset of the sealed blob from the start of the pack.
    pub offset: u32,
    /// Length of the sealed blob.
    pub length: u32,
    /// Length of the blob's plaintext.
    pub raw_len: u32,
}

impl PackEntry {
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        out.push(self.kind.to_byte());
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.length.to_le_bytes());
        out.extend_from_slice(&self.raw_len.to_le_bytes());
    }

    pub(crate) fn read_from(what: &'static str, r: &mut Reader<'_>) -> Result<Self> {
        let kind = BlobKind::from_byte(r.u8(what)?)?;
        let id = BlobId(r.array(what)?);
        let offset = r.u32(what)?;
        let length = r.u32(what)?;
        let raw_len = r.u32(what)?;
        if (length as usize) < SEAL_OVERHEAD + 1 || raw_len as usize > MAX_BLOB_LEN {
            return Err(FormatError::malformed(
                what,
                format!(
                    "blob {} has impossible lengths {length}/{raw_len}",
                    id.short()
                ),
            ));
        }
        Ok(PackEntry {
            kind,
            id,
            offset,
            length,
            raw_len,
        })
    }
}

/// The bookkeeping of a pack whose blobs are appended somewhere else (a file, as they are sealed):
/// their entries, the length so far and a running hash of the bytes. A writer that streams a pack
/// never holds it whole; [`PackBuilder`] is this plus the bytes in memory.
#[derive(Debug, Default)]
pub struct PackTally {
    entries: Vec<PackEntry>,
    len: usize,
    hasher: blake3::Hasher,
}

/// What [`PackTally::finish`] gives: the bytes that end the pack, its name and its blobs.
#[derive(Debug)]
pub struct PackTail {
    /// The sealed header and its length, to append after the blobs.
    pub bytes: Vec<u8>,
    /// BLAKE3 of the whole pack, tail included: the pack's file name.
    pub id: PackId,
    /// The blobs it holds, in order.
    pub entries: Vec<PackEntry>,
}

impl PackTally {
    /// Records a sealed blob appended at the current end of the pack.
    pub fn add(&mut self, blob: &SealedBlob) {
        self.entries.push(PackEntry {
            kind: blob.kind,
            id: blob.id,
            offset: self.len as u32,
            length: blob.bytes.len() as u32,
            raw_len: blob.raw_len,
        });
        self.hasher.update(&blob.bytes);
        self.len += blob.bytes.len();
    }

    /// Bytes of blobs so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no blob was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of blobs so far.
    pub fn blob_count(&self) -> usize {
        self.entries.len()
    }

    /// Seals the header and names the pack.
    pub fn finish(mut self, keys: &Keys, nonce: &Nonce) -> PackTail {
        let mut bytes = keys.seal(
            nonce,
            PACK_HEADER_AAD,
            &encode_header_plaintext(&self.entries),
        );
        let header_len = bytes.len() as u32;
        bytes.extend_from_slice(&header_len.to_le_bytes());
        self.hasher.update(&bytes);
        PackTail {
            id: PackId(*self.hasher.finalize().as_bytes()),
            bytes,
            entries: self.entries,
        }
    }
}

/// Assembles a pack in memory. Pure: the caller uploads the finished bytes.
#[derive(Debug, Default)]
pub struct PackBuilder {
    bytes: Vec<u8>,
    tally: PackTally,
}

/// A finished pack.
#[derive(Debug)]
pub struct FinishedPack {
    /// BLAKE3 of `bytes`: the pack's file name.
    pub id: PackId,
    /// The whole pack file.
    pub bytes: Vec<u8>,
    /// The blobs it holds, in order.
    pub entries: Vec<PackEntry>,
}

impl PackBuilder {
    /// An empty pack with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        PackBuilder {
            bytes: Vec::with_capacity(capacity),
            tally: PackTally::default(),
        }
    }

    /// Appends a sealed blob.
    pub fn add(&mut self, blob: &SealedBlob) {
        self.tally.add(blob);
        self.bytes.extend_from_slice(&blob.bytes);
    }

    /// Bytes of blobs so far.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when no blob was added.
    pub fn is_empty(&self) -> bool {
        self.tally.is_empty()
    }

    /// Number of blobs so far.
    pub fn blob_count(&self) -> usize {
        self.tally.blob_count()
    }

    /// Seals the header, appends it and its length, and names the pack.
    pub fn finish(mut self, keys: &Keys, nonce: &Nonce) -> FinishedPack {
        let tail = self.tally.finish(keys, nonce);
        self.bytes.extend_from_slice(&tail.bytes);
        FinishedPack {
            id: tail.id,
            bytes: self.bytes,
            entries: tail.entries,
        }
    }
}

fn encode_header_plaintext(entries: &[PackEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + entries.len() * ENTRY_LEN);
    out.push(PACK_HEADER_VERSION);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        e.write_to(&mut out);
    }
    out
}

/// Reads the header length from a pack's last 4 bytes and checks it fits in a pack of `pack_len` bytes.
/// Returns the length of the sealed header, which ends 4 bytes before the end of the pack.
pub fn header_len_from_trailer(trailer: &[u8], pack_len: u64) -> Result<u32> {
    let t: [u8; 4] = trailer
        .try_into()
        .map_err(|_| FormatError::malformed("pack trailer", "not 4 bytes"))?;
    let len = u32::from_le_bytes(t);
    if pack_len > MAX_PACK_LEN {
        return Err(FormatError::malformed(
            "pack trailer",
            format!("a pack of {pack_len} bytes exceeds the maximum of {MAX_PACK_LEN}"),
        ));
    }
    if (len as usize) < SEAL_OVERHEAD + 5 || len as u64 + 4 > pack_len {
        return Err(FormatError::malformed(
            "pack trailer",
            format!("header length {len} does not fit a pack of {pack_len} bytes"),
        ));
    }
    Ok(len)
}

/// Opens and decodes a sealed pack header, checking every entry lies inside the pack's blob area.
pub fn decode_header(keys: &Keys, sealed: &[u8], pack_len: u64) -> Result<Vec<PackEntry>> {
    const WHAT: &str = "pack header";
    let plain = keys.open(WHAT, PACK_HEADER_AAD, sealed)?;
    let blob_area = pack_len
        .checked_sub(sealed.len() as u64 + 4)
        .ok_or_else(|| FormatError::malformed(WHAT, "longer than the pack"))?;
    let mut r = Reader::new(&plain);
    let version = r.u8(WHAT)?;
    if version != PACK_HEADER_VERSION {
        return Err(FormatError::UnsupportedVersion {
            what: WHAT,
            found: version.into(),
            supported: PACK_HEADER_VERSION.into(),
        });
    }
    let count = r.u32(WHAT)? as usize;
    if count.checked_mul(ENTRY_LEN) != Some(r.remaining()) {
        return Err(FormatError::malformed(
            WHAT,
            format!("{count} entries do not fit in {} bytes", r.remaining()),
        ));
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let e = PackEntry::read_from(WHAT, &mut r)?;
        if e.offset as u64 + e.length as u64 > blob_area {
            return Err(FormatError::malformed(
                WHAT,
                format!("blob {} lies outside the pack", e.id.short()),
            ));
        }
        entries.push(e);
    }
    Ok(entries)
}

/// A bounds-checked little-endian reader over untrusted bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(FormatError::malformed(what, "truncated"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(what, 1)?[0])
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(what, N)?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::seal_blob;
    use crate::compression::Compression;
    use crate::crypto::MasterSecret;

    #[test]
    fn a_trailer_is_refused_for_a_pack_longer_than_the_maximum() {
        // Found by the pack_header fuzz target, whose own expectation left this rule out.
        let trailer = ((SEAL_OVERHEAD + 5) as u32).to_le_bytes();
        assert!(header_len_from_trailer(&trailer, MAX_PACK_LEN).is_ok());
        let err = header_len_from_trailer(&trailer, MAX_PACK_LEN + 1).unwrap_err();
        assert!(err.to_string().contains("exceeds the maximum"), "{err}");
    }

    #[test]
    fn pack_round_trip_and_ranged_blob_reads() {
        let keys = MasterSecret::from_bytes([5; 32]).keys();
        let mut builder = PackBuilder::default();
        let chunks: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 1000 + i as usize]).collect();
        for c in &chunks {
            let id = keys.blob_id(c);
            builder.add(&seal_blob(
                &keys,
                BlobKind::Data,
                id,
                c,
                Compression::Zstd(3),
                &[9; 24],
            ));
        }
        let pack = builder.finish(&keys, &[1; 24]);
        assert_eq!(pack.id, PackId::of_bytes(&pack.bytes));
        let len = pack.bytes.len() as u64;
        let hl =
            header_len_from_trailer(&pack.bytes[pack.bytes.len() - 4..], len).unwrap() as usize;
        let header = &pack.bytes[pack.bytes.len() - 4 - hl..pack.bytes.len() - 4];
        let entries = decode_header(&keys, header, len).unwrap();
        assert_eq!(entries, pack.entries);
        for (e, c) in entries.iter().zip(&chunks) {
            let stored = &pack.bytes[e.offset as usize..(e.offset + e.length) as usize];
            let plain = crate::blob::open_blob(&keys, e.kind, &e.id, e.raw_len, stored).unwrap();
            assert_eq!(&plain, c);
        }
        assert!(decode_header(&keys, header, 10).is_err());
        assert!(header_len_from_trailer(&[0xff, 0xff, 0xff, 0x7f], len).is_err());
    }
}
