//! The in-memory index: for every blob, the pack and byte range that hold it.
//!
//! Compact by design: one 47-byte slot per blob (id, pack number, offset, and both lengths in 27
//! bits each) in two sorted arrays, one per blob kind. Pack ids are stored once, in a table the
//! slots point into. Ten million blobs take about 476 MB; there is no per-entry allocation.
//!
//! Blob ids are keyed hashes, so they spread evenly: a directory of the first slot of each id
//! prefix (about one entry per 64 slots, 0.06 bytes per blob) narrows a lookup to one short run of
//! slots, a few kilobytes, instead of a binary search whose every step misses the CPU's caches.

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

/// Bits of a slot's lengths: a sealed blob is at most `MAX_BLOB_LEN` (64 MiB) plus its envelope.
const LEN_BITS: u32 = 27;
const LEN_MAX: u64 = (1 << LEN_BITS) - 1;

/// One blob: 47 bytes, byte-aligned, so that ten million slots take 470 MB, not 480.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    id: [u8; 32],
    pack: [u8; 4],
    offset: [u8; 4],
    /// `length` in the low 27 bits, `raw_len` in the next 27, little-endian.
    lengths: [u8; 7],
}

impl Slot {
    /// A slot; a length that cannot be a blob's (over 27 bits, which only a damaged index file
    /// names) is kept as the largest one, so reading the blob fails its authentication.
    fn new(id: [u8; 32], pack: u32, offset: u32, length: u32, raw_len: u32) -> Slot {
        let fit = |n: u32| u64::from(n).min(LEN_MAX);
        let packed = fit(length) | (fit(raw_len) << LEN_BITS);
        let mut lengths = [0u8; 7];
        lengths.copy_from_slice(&packed.to_le_bytes()[..7]);
        Slot {
            id,
            pack: pack.to_le_bytes(),
            offset: offset.to_le_bytes(),
            lengths,
        }
    }

    fn pack(&self) -> u32 {
        u32::from_le_bytes(self.pack)
    }

    fn offset(&self) -> u32 {
        u32::from_le_bytes(self.offset)
    }

    fn packed_lengths(&self) -> u64 {
        let mut bytes = [0u8; 8];
        bytes[..7].copy_from_slice(&self.lengths);
        u64::from_le_bytes(bytes)
    }

    fn length(&self) -> u32 {
        (self.packed_lengths() & LEN_MAX) as u32
    }

    fn raw_len(&self) -> u32 {
        ((self.packed_lengths() >> LEN_BITS) & LEN_MAX) as u32
    }
}

/// Slots sorted by id, with a directory of where each id prefix starts.
#[derive(Debug, Default)]
struct Table {
    slots: Vec<Slot>,
    /// `starts[p]` is the first slot whose id's top `bits` bits are at least `p`; one more entry
    /// closes the last run.
    starts: Vec<u32>,
    bits: u32,
}

impl Table {
    fn new(slots: Vec<Slot>) -> Table {
        // About 64 slots per prefix: runs of 3 KiB on average.
        let bits = (usize::BITS - (slots.len() / 64).leading_zeros()).min(24);
        let prefix = |s: &Slot| Self::prefix_of(&s.id, bits);
        let mut starts = Vec::with_capacity((1 << bits) + 1);
        let mut next = 0usize;
        for p in 0..=(1u32 << bits) {
            while next < slots.len() && prefix(&slots[next]) < p {
                next += 1;
            }
            starts.push(next as u32);
        }
        Table {
            slots,
            starts,
            bits,
        }
    }

    fn prefix_of(id: &[u8; 32], bits: u32) -> u32 {
        if bits == 0 {
            0
        } else {
            u32::from_be_bytes([id[0], id[1], id[2], id[3]]) >> (32 - bits)
        }
    }

    fn position(&self, id: &[u8; 32]) -> Option<usize> {
        let p = Self::prefix_of(id, self.bits) as usize;
        let (start, end) = (
            *self.starts.get(p)? as usize,
            *self.starts.get(p + 1)? as usize,
        );
        let run = self.slots.get(start..end)?;
        run.binary_search_by(|s| s.id.cmp(id))
            .ok()
            .map(|i| start + i)
    }

    fn memory_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.starts.capacity() * std::mem::size_of::<u32>()
    }
}

/// The index of a repository, built from its index files.
#[derive(Debug, Default)]
pub struct Index {
    packs: Vec<PackId>,
    data: Table,
    trees: Table,
}

/// Collects index files into an [`Index`].
#[derive(Debug, Default)]
pub struct IndexBuilder {
    pack_numbers: HashMap<PackId, u32>,
    demoted: HashSet<PackId>,
    packs: Vec<PackId>,
    data: Vec<Slot>,
    trees: Vec<Slot>,
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
        let packs = &mut self.packs;
        let number = *self.pack_numbers.entry(id).or_insert_with(|| {
            packs.push(id);
            (packs.len() - 1) as u32
        });
        for b in blobs {
            let slot = Slot::new(b.id.0, number, b.offset, b.length, b.raw_len);
            match b.kind {
                BlobKind::Data => self.data.push(slot),
                BlobKind::Tree => self.trees.push(slot),
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
            .packs
            .iter()
            .enumerate()
            .map(|(i, p)| i as u64 + if self.demoted.contains(p) { 1 << 32 } else { 0 })
            .collect();
        for table in [&mut self.data, &mut self.trees] {
            // In place: a stable sort would allocate half the table again.
            table.sort_unstable_by_key(|s| (s.id, rank[s.pack() as usize]));
            table.dedup_by(|later, first| later.id == first.id);
            table.shrink_to_fit();
        }
        self.packs.shrink_to_fit();
        Index {
            packs: self.packs,
            data: Table::new(self.data),
            trees: Table::new(self.trees),
        }
    }
}

impl Index {
    fn table(&self, kind: BlobKind) -> &Table {
        match kind {
            BlobKind::Data => &self.data,
            BlobKind::Tree => &self.trees,
        }
    }

    /// Where a blob lies, if the index has it.
    pub fn get(&self, kind: BlobKind, id: &BlobId) -> Option<BlobLocation> {
        let table = self.table(kind);
        let s = &table.slots[table.position(&id.0)?];
        Some(BlobLocation {
            pack: self.packs[s.pack() as usize],
            offset: s.offset(),
            length: s.length(),
            raw_len: s.raw_len(),
        })
    }

    /// The blob's position in the index's order for its kind (for per-blob bitmaps).
    pub fn position(&self, kind: BlobKind, id: &BlobId) -> Option<usize> {
        self.table(kind).position(&id.0)
    }

    /// True when the index has the blob.
    pub fn contains(&self, kind: BlobKind, id: &BlobId) -> bool {
        self.table(kind).position(&id.0).is_some()
    }

    /// Number of blobs of `kind`.
    pub fn len(&self, kind: BlobKind) -> usize {
        self.table(kind).slots.len()
    }

    /// True when the index holds no blob.
    pub fn is_empty(&self) -> bool {
        self.data.slots.is_empty() && self.trees.slots.is_empty()
    }

    /// Every pack the index names.
    pub fn packs(&self) -> &[PackId] {
        &self.packs
    }

    /// Every blob of `kind` with its location, in id order.
    pub fn blobs(&self, kind: BlobKind) -> impl Iterator<Item = (BlobId, BlobLocation)> + '_ {
        self.table(kind).slots.iter().map(move |s| {
            (
                BlobId(s.id),
                BlobLocation {
                    pack: self.packs[s.pack() as usize],
                    offset: s.offset(),
                    length: s.length(),
                    raw_len: s.raw_len(),
                },
            )
        })
    }

    /// Bytes of memory the index occupies.
    pub fn memory_bytes(&self) -> usize {
        self.data.memory_bytes()
            + self.trees.memory_bytes()
            + self.packs.capacity() * std::mem::size_of::<PackId>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_47_bytes_and_keeps_the_largest_lengths_a_blob_can_have() {
        assert_eq!(std::mem::size_of::<Slot>(), 47);
        let big = (cairn_repo_format::MAX_BLOB_LEN + 4096) as u32;
        let s = Slot::new([7; 32], u32::MAX, u32::MAX - 1, big, big - 1);
        assert_eq!(
            (s.pack(), s.offset(), s.length(), s.raw_len()),
            (u32::MAX, u32::MAX - 1, big, big - 1)
        );
        let damaged = Slot::new([7; 32], 1, 2, u32::MAX, 5);
        assert_eq!((damaged.length(), damaged.raw_len()), (LEN_MAX as u32, 5));
    }

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
    fn finds_blobs_by_kind() {
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

    /// The prefix directory finds every stored id and no other, for sizes on both sides of
    /// every directory width, and for ids at the ends of the id space.
    #[test]
    fn the_prefix_directory_finds_exactly_the_stored_ids() {
        use rand::{RngCore, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut id = || {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            BlobId(b)
        };
        for n in [0usize, 1, 63, 64, 65, 200, 4096, 70_000] {
            let mut stored: Vec<BlobId> = (0..n).map(|_| id()).collect();
            if n > 1 {
                stored[0] = BlobId([0; 32]);
                stored[1] = BlobId([0xff; 32]);
            }
            let entries: Vec<PackEntry> = stored
                .iter()
                .map(|id| PackEntry {
                    kind: BlobKind::Data,
                    id: *id,
                    offset: 0,
                    length: 1,
                    raw_len: 1,
                })
                .collect();
            let mut b = IndexBuilder::default();
            b.add_pack(PackId([7; 32]), &entries);
            let index = b.build();
            let mut sorted = stored.clone();
            sorted.sort();
            for (i, s) in sorted.iter().enumerate() {
                assert_eq!(index.position(BlobKind::Data, s), Some(i), "n={n}");
            }
            for _ in 0..1000 {
                assert!(!index.contains(BlobKind::Data, &id()), "n={n}");
            }
        }
    }
}
