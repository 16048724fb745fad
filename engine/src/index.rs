//! The in-memory index: for every blob, the pack and byte range that hold it.
//!
//! Compact by design: one 48-byte slot per blob (id, pack number, offset, length, raw length) in two
//! sorted arrays, one per blob kind, searched by binary search. Pack ids are stored once, in a table the
//! slots point into. Ten million blobs take about 480 MB; there is no per-entry allocation.

use std::collections::{HashMap, HashSet};

use cairn_repo_format::{BlobId, BlobKind, IndexFile, PackEntry, PackId};

/// Where a blob lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobLocation {
    /// The pack holding it.
    pub pack: PackId,
    /// Offset of the sealed blob in the pack.
    pub offset: u32,
    /// Length of the sealed blob.
    pub length: u32,
    /// Length of its plaintext.
    pub raw_len: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    id: [u8; 32],
    pack: u32,
    offset: u32,
    length: u32,
    raw_len: u32,
}

/// The index of a repository, built from its index files.
#[derive(Debug, Default)]
pub struct Index {
    packs: Vec<PackId>,
    data: Vec<Slot>,
    trees: Vec<Slot>,
}

/// Collects index files into an [`Index`].
#[derive(Debug, Default)]
pub struct IndexBuilder {
    pack_numbers: HashMap<PackId, u32>,
    demoted: HashSet<PackId>,
    index: Index,
}

impl IndexBuilder {
    /// Adds every pack of an index file.
    pub fn add_file(&mut self, file: &IndexFile) {
        for pack in &file.packs {
            self.add_pack(pack.id, &pack.blobs);
        }
    }

    /// Adds one pack's blobs.
    pub fn add_pack(&mut self, id: PackId, blobs: &[PackEntry]) {
        let packs = &mut self.index.packs;
        let number = *self.pack_numbers.entry(id).or_insert_with(|| {
            packs.push(id);
            (packs.len() - 1) as u32
        });
        for b in blobs {
            let slot = Slot {
                id: b.id.0,
                pack: number,
                offset: b.offset,
                length: b.length,
                raw_len: b.raw_len,
            };
            match b.kind {
                BlobKind::Data => self.index.data.push(slot),
                BlobKind::Tree => self.index.trees.push(slot),
            }
        }
    }

    /// Makes blobs in these packs the last choice: a blob stored elsewhere too is found there.
    pub fn demote(&mut self, packs: HashSet<PackId>) {
        self.demoted = packs;
    }

    /// Sorts and deduplicates. A blob stored in several packs is found in the first added, unless
    /// that pack is demoted and another is not.
    pub fn build(mut self) -> Index {
        let rank: Vec<u64> = self
            .index
            .packs
            .iter()
            .enumerate()
            .map(|(i, p)| i as u64 + if self.demoted.contains(p) { 1 << 32 } else { 0 })
            .collect();
        for table in [&mut self.index.data, &mut self.index.trees] {
            // In place: a stable sort would allocate half the table again.
            table.sort_unstable_by_key(|s| (s.id, rank[s.pack as usize]));
            table.dedup_by(|later, first| later.id == first.id);
            table.shrink_to_fit();
        }
        self.index.packs.shrink_to_fit();
        self.index
    }
}

impl Index {
    fn table(&self, kind: BlobKind) -> &[Slot] {
        match kind {
            BlobKind::Data => &self.data,
            BlobKind::Tree => &self.trees,
        }
    }

    /// Where a blob lies, if the index has it.
    pub fn get(&self, kind: BlobKind, id: &BlobId) -> Option<BlobLocation> {
        let table = self.table(kind);
        let i = table.binary_search_by(|s| s.id.cmp(&id.0)).ok()?;
        let s = &table[i];
        Some(BlobLocation {
            pack: self.packs[s.pack as usize],
            offset: s.offset,
            length: s.length,
            raw_len: s.raw_len,
        })
    }

    /// The blob's position in the index's order for its kind (for per-blob bitmaps).
    pub fn position(&self, kind: BlobKind, id: &BlobId) -> Option<usize> {
        self.table(kind).binary_search_by(|s| s.id.cmp(&id.0)).ok()
    }

    /// True when the index has the blob.
    pub fn contains(&self, kind: BlobKind, id: &BlobId) -> bool {
        self.table(kind)
            .binary_search_by(|s| s.id.cmp(&id.0))
            .is_ok()
    }

    /// Number of blobs of `kind`.
    pub fn len(&self, kind: BlobKind) -> usize {
        self.table(kind).len()
    }

    /// True when the index holds no blob.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.trees.is_empty()
    }

    /// Every pack the index names.
    pub fn packs(&self) -> &[PackId] {
        &self.packs
    }

    /// Every blob of `kind` with its location, in id order.
    pub fn blobs(&self, kind: BlobKind) -> impl Iterator<Item = (BlobId, BlobLocation)> + '_ {
        self.table(kind).iter().map(move |s| {
            (
                BlobId(s.id),
                BlobLocation {
                    pack: self.packs[s.pack as usize],
                    offset: s.offset,
                    length: s.length,
                    raw_len: s.raw_len,
                },
            )
        })
    }

    /// Bytes of memory the index occupies.
    pub fn memory_bytes(&self) -> usize {
        (self.data.capacity() + self.trees.capacity()) * std::mem::size_of::<Slot>()
            + self.packs.capacity() * std::mem::size_of::<PackId>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: BlobKind, id: u8, offset: u32) -> PackEntry {
        PackEntry {
            kind,
            id: BlobId([id; 32]),
            offset,
            length: 50,
            raw_len: 10,
        }
    }

    #[test]
    fn finds_blobs_by_kind_and_keeps_slots_at_48_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 48);
        let mut b = IndexBuilder::default();
        b.add_pack(
            PackId([1; 32]),
            &[entry(BlobKind::Data, 9, 0), entry(BlobKind::Data, 3, 50)],
        );
        b.add_pack(PackId([2; 32]), &[entry(BlobKind::Tree, 9, 0)]);
        b.add_pack(PackId([3; 32]), &[entry(BlobKind::Data, 3, 100)]);
        let index = b.build();
        let loc = index.get(BlobKind::Data, &BlobId([3; 32])).unwrap();
        assert_eq!((loc.pack, loc.offset), (PackId([1; 32]), 50));
        assert_eq!(
            index.get(BlobKind::Tree, &BlobId([9; 32])).unwrap().pack,
            PackId([2; 32])
        );
        assert!(!index.contains(BlobKind::Tree, &BlobId([3; 32])));
        assert_eq!(index.len(BlobKind::Data), 2);
    }
}
