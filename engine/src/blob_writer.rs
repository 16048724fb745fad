//! Writing blobs: deduplicate, seal, pack, upload, index.
//!
//! [`BlobWriter`] is shared by every thread of a backup. A blob already in the index or already added in
//! this session is skipped after hashing; a new one is compressed and sealed on the calling thread, then
//! appended to the open pack of its kind (data and tree blobs never share a pack). In a local repository
//! the pack is a file the blobs are written to as they come, renamed into place when full, so no pack
//! is ever held in memory. For an object store the pack is assembled in memory and a full one is
//! uploaded on the I/O runtime while the caller goes on; at most [`MAX_UPLOADS_IN_FLIGHT`] packs are in
//! flight, and a caller that would exceed that waits, which bounds memory. After every few uploaded packs
//! an index file naming them is written, so an interrupted backup's packs are reused by the next one.
//! A snapshot is written only after [`BlobWriter::finish`], when every pack and index file is stored.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_repo_format::{
    random_nonce, seal_blob, BlobId, BlobKind, FileKind, IndexFile, IndexPack, PackBuilder,
    PackTally, SealedBlob,
};
use tokio::sync::Semaphore;

use crate::backend::{FileType, StagedFile};
use crate::chunker::zero_prefix;
use crate::error::{Error, ErrorKind, Result};
use crate::indexed::Indexed;

/// Packs uploading to an object store at once; each holds one pack in memory.
pub const MAX_UPLOADS_IN_FLIGHT: usize = 3;
/// An index file is written after this many packs were stored...
const INDEX_FLUSH_PACKS: usize = 8;
/// ...or this long after the oldest unindexed pack was stored.
const INDEX_FLUSH_AFTER: Duration = Duration::from_secs(15);
/// Lengths of all-zero chunks whose ids are remembered: zero runs are cut at one length (the
/// maximum chunk, unless the seed cuts them sooner), and only the ends of streams add others.
const ZERO_IDS: usize = 16;

/// Counters of what a [`BlobWriter`] added.
#[derive(Debug, Default)]
pub struct WriteStats {
    /// New data blobs.
    pub data_blobs: AtomicU64,
    /// New tree blobs.
    pub tree_blobs: AtomicU64,
    /// Stored bytes of new blobs.
    pub bytes_added: AtomicU64,
    /// Plaintext bytes of new blobs.
    pub raw_bytes_added: AtomicU64,
}

/// The pack being filled with one kind of blob.
enum OpenPack {
    /// No blob yet.
    Empty,
    /// Assembled in memory and uploaded whole (object stores).
    Memory(PackBuilder),
    /// Written to the repository's directory blob by blob (local repositories).
    Staged(StagedFile, PackTally),
}

impl OpenPack {
    fn add(&mut self, blob: &SealedBlob) -> Result<()> {
        match self {
            OpenPack::Empty => unreachable!("a pack is opened before blobs are added"),
            OpenPack::Memory(pack) => pack.add(blob),
            OpenPack::Staged(file, tally) => {
                file.append(&blob.bytes)?;
                tally.add(blob);
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        match self {
            OpenPack::Empty => 0,
            OpenPack::Memory(pack) => pack.len(),
            OpenPack::Staged(_, tally) => tally.len(),
        }
    }
}

struct Unindexed {
    packs: Vec<IndexPack>,
    since: Option<Instant>,
}

/// Adds blobs to a repository; see the module documentation.
pub struct BlobWriter {
    repo: Indexed,
    /// Repacking writes blobs the index already has (in packs about to go).
    ignore_index: bool,
    pack_size: usize,
    seen: Mutex<HashSet<(BlobKind, BlobId)>>,
    /// Ids of all-zero chunks, by length.
    zero_ids: Mutex<HashMap<usize, BlobId>>,
    data_pack: Mutex<OpenPack>,
    tree_pack: Mutex<OpenPack>,
    uploads: Arc<Semaphore>,
    unindexed: Arc<Mutex<Unindexed>>,
    failure: Arc<Mutex<Option<Error>>>,
    stats: WriteStats,
}

impl BlobWriter {
    /// A writer into `repo`.
    pub fn new(repo: Indexed) -> Self {
        let pack_size = repo.config().pack_size as usize;
        BlobWriter {
            repo,
            ignore_index: false,
            pack_size,
            seen: Mutex::new(HashSet::new()),
            zero_ids: Mutex::new(HashMap::new()),
            data_pack: Mutex::new(OpenPack::Empty),
            tree_pack: Mutex::new(OpenPack::Empty),
            uploads: Arc::new(Semaphore::new(MAX_UPLOADS_IN_FLIGHT)),
            unindexed: Arc::new(Mutex::new(Unindexed {
                packs: Vec::new(),
                since: None,
            })),
            failure: Arc::new(Mutex::new(None)),
            stats: WriteStats::default(),
        }
    }

    /// A writer that stores every blob given once, even those the index has: for repacking.
    pub fn for_repack(repo: Indexed) -> Self {
        BlobWriter {
            ignore_index: true,
            ..BlobWriter::new(repo)
        }
    }

    fn in_index(&self, kind: BlobKind, id: &BlobId) -> bool {
        !self.ignore_index && self.repo.index().contains(kind, id)
    }

    /// The repository written to.
    pub fn repo(&self) -> &Indexed {
        &self.repo
    }

    /// What was added so far.
    pub fn stats(&self) -> &WriteStats {
        &self.stats
    }

    /// True when the blob is in the repository or was added in this session.
    pub fn has(&self, kind: BlobKind, id: &BlobId) -> bool {
        self.in_index(kind, id) || self.seen.lock().expect("seen lock").contains(&(kind, *id))
    }

    /// The id of a data chunk. Disk images hold many all-zero chunks, nearly all of one length, so
    /// their ids are hashed once per length; the check stops at the first non-zero byte, so other
    /// data hardly pays for it.
    pub(crate) fn data_id(&self, data: &[u8]) -> BlobId {
        if zero_prefix(data) < data.len() {
            return self.repo.keys().blob_id(data);
        }
        let known = self
            .zero_ids
            .lock()
            .expect("zero ids lock")
            .get(&data.len())
            .copied();
        known.unwrap_or_else(|| {
            let id = self.repo.keys().blob_id(data);
            let mut ids = self.zero_ids.lock().expect("zero ids lock");
            if ids.len() < ZERO_IDS {
                ids.insert(data.len(), id);
            }
            id
        })
    }

    /// Adds a blob unless it is known; returns its id and whether it was new.
    pub fn add(&self, kind: BlobKind, plaintext: &[u8]) -> Result<(BlobId, bool)> {
        let id = self.repo.keys().blob_id(plaintext);
        let new = self.add_with_id(kind, id, plaintext)?;
        Ok((id, new))
    }

    /// Adds a blob whose id the caller computed; returns whether it was new.
    pub fn add_with_id(&self, kind: BlobKind, id: BlobId, plaintext: &[u8]) -> Result<bool> {
        self.check_failure()?;
        if self.in_index(kind, &id) || !self.seen.lock().expect("seen lock").insert((kind, id)) {
            return Ok(false);
        }
        let sealed = seal_blob(
            self.repo.keys(),
            kind,
            id,
            plaintext,
            self.repo.config().compression.codec(),
            &random_nonce(),
        );
        let stored = sealed.bytes.len() as u64;
        let full = {
            let mut pack = self.pack_for(kind).lock().expect("pack lock");
            if matches!(*pack, OpenPack::Empty) {
                *pack = self.open_pack(sealed.bytes.len())?;
            }
            if let Err(e) = pack.add(&sealed) {
                // A pack missing part of a blob is useless: drop it (and its file) and stop here.
                *pack = OpenPack::Empty;
                self.failure
                    .lock()
                    .expect("failure lock")
                    .get_or_insert(Error::new(e.kind(), e.to_string()));
                return Err(e);
            }
            (pack.len() >= self.pack_size).then(|| std::mem::replace(&mut *pack, OpenPack::Empty))
        };
        match kind {
            BlobKind::Data => self.stats.data_blobs.fetch_add(1, Ordering::Relaxed),
            BlobKind::Tree => self.stats.tree_blobs.fetch_add(1, Ordering::Relaxed),
        };
        self.stats.bytes_added.fetch_add(stored, Ordering::Relaxed);
        self.stats
            .raw_bytes_added
            .fetch_add(plaintext.len() as u64, Ordering::Relaxed);
        if let Some(pack) = full {
            self.store(pack)?;
        }
        Ok(true)
    }

    /// A new pack: a staged file in a local repository, else a buffer with room for a full pack, its
    /// last blob and its header, so it never regrows.
    fn open_pack(&self, first_blob: usize) -> Result<OpenPack> {
        Ok(match self.repo.backend().stage(FileType::Pack) {
            Some(file) => OpenPack::Staged(file?, PackTally::default()),
            None => OpenPack::Memory(PackBuilder::with_capacity(
                self.pack_size + first_blob + (1 << 20),
            )),
        })
    }

    fn pack_for(&self, kind: BlobKind) -> &Mutex<OpenPack> {
        match kind {
            BlobKind::Data => &self.data_pack,
            BlobKind::Tree => &self.tree_pack,
        }
    }

    fn check_failure(&self) -> Result<()> {
        match &*self.failure.lock().expect("failure lock") {
            Some(e) => Err(Error::new(e.kind(), e.to_string())),
            None => Ok(()),
        }
    }

    /// Completes a pack and stores it: a staged one is finished and renamed into place here, one in
    /// memory is uploaded.
    fn store(&self, pack: OpenPack) -> Result<()> {
        match pack {
            OpenPack::Empty => Ok(()),
            OpenPack::Memory(pack) => self.upload(pack),
            OpenPack::Staged(mut file, tally) => {
                let tail = tally.finish(self.repo.keys(), &random_nonce());
                file.append(&tail.bytes)?;
                file.publish(&tail.id.to_hex())?;
                record_stored(
                    &self.unindexed,
                    IndexPack {
                        id: tail.id,
                        blobs: tail.entries,
                    },
                );
                self.flush_index(false)
            }
        }
    }

    /// Seals a pack and starts its upload, waiting while too many are in flight.
    fn upload(&self, pack: PackBuilder) -> Result<()> {
        let finished = pack.finish(self.repo.keys(), &random_nonce());
        let runtime = self.repo.backend().runtime();
        let permit = runtime
            .block_on(self.uploads.clone().acquire_owned())
            .map_err(|_| Error::new(ErrorKind::Interrupted, "upload queue closed"))?;
        let unindexed = self.unindexed.clone();
        let failure = self.failure.clone();
        let store = self.repo.backend().handle();
        runtime.spawn(async move {
            let name = finished.id.to_hex();
            match store
                .write(FileType::Pack, &name, Bytes::from(finished.bytes))
                .await
            {
                Ok(()) => record_stored(
                    &unindexed,
                    IndexPack {
                        id: finished.id,
                        blobs: finished.entries,
                    },
                ),
                Err(e) => {
                    failure.lock().expect("failure lock").get_or_insert(e);
                }
            }
            drop(permit);
        });
        self.flush_index(false)
    }

    /// Writes an index file for stored packs when enough have gathered (or always, with `force`).
    fn flush_index(&self, force: bool) -> Result<()> {
        let packs = {
            let mut u = self.unindexed.lock().expect("unindexed lock");
            let due = u.packs.len() >= INDEX_FLUSH_PACKS
                || u.since.is_some_and(|t| t.elapsed() >= INDEX_FLUSH_AFTER);
            if u.packs.is_empty() || !(force || due) {
                return Ok(());
            }
            u.since = None;
            std::mem::take(&mut u.packs)
        };
        let file = IndexFile {
            supersedes: Vec::new(),
            packs,
        };
        self.repo.write_file(FileKind::Index, &file.encode())?;
        Ok(())
    }

    /// Uploads the open packs, waits for every upload and writes the last index file. After this
    /// returns, every blob added is stored and indexed.
    pub fn finish(&self) -> Result<()> {
        for kind in [BlobKind::Data, BlobKind::Tree] {
            let pack = std::mem::replace(
                &mut *self.pack_for(kind).lock().expect("pack lock"),
                OpenPack::Empty,
            );
            self.store(pack)?;
        }
        let all = self
            .repo
            .backend()
            .runtime()
            .block_on(self.uploads.acquire_many(MAX_UPLOADS_IN_FLIGHT as u32))
            .map_err(|_| Error::new(ErrorKind::Interrupted, "upload queue closed"))?;
        drop(all);
        self.check_failure()?;
        self.flush_index(true)
    }
}

/// Notes a stored pack for the next index file.
fn record_stored(unindexed: &Mutex<Unindexed>, pack: IndexPack) {
    let mut u = unindexed.lock().expect("unindexed lock");
    u.packs.push(pack);
    u.since.get_or_insert_with(Instant::now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::memory_repo;

    #[test]
    fn data_ids_are_blob_ids_and_all_zero_ones_are_remembered() {
        let writer = BlobWriter::new(memory_repo());
        let keys = writer.repo().keys();
        let zeros = vec![0u8; (1 << 20) + 1];
        let mut chunks: Vec<Vec<u8>> = [1 << 20, 1 << 20, 100_003]
            .into_iter()
            .chain(0..40)
            .chain([1 << 20])
            .map(|len| zeros[..len].to_vec())
            .collect();
        for at in [0, 63, 64, 65, 4095, 1 << 20] {
            let mut data = zeros.clone();
            data[at] = 1;
            chunks.push(data);
        }
        for data in &chunks {
            assert_eq!(
                writer.data_id(data),
                keys.blob_id(data),
                "{} bytes",
                data.len()
            );
        }
        let ids = writer.zero_ids.lock().unwrap();
        assert_eq!(ids.len(), ZERO_IDS);
        assert!(ids.contains_key(&(1 << 20)));
        assert!(ids
            .iter()
            .all(|(&len, id)| *id == keys.blob_id(&zeros[..len])));
    }
}
