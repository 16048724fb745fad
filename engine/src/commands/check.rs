//! `cairn check`: is the repository whole, and if not, which files of which snapshots are hurt.
//!
//! The structure check always runs: every index file decodes; every pack the index names exists with
//! the size its entries imply; every snapshot decodes; every tree node reachable from a snapshot
//! decodes, has the kind its parent expects and holds what its parent says (names within its piece's
//! bounds, entry counts, content lengths), and every blob a tree refers to is in the index. Tree
//! nodes are read straight from the backend (not the local cache, which would only show that the
//! cache is whole), several at a time, each once however many snapshots share it.
//!
//! With [`ReadData::All`] or [`ReadData::Subset`], packs are also downloaded whole: the name must be
//! the BLAKE3 of the bytes, the header must decode and agree with the index, and every blob must open
//! (authenticate, decompress, hash to its id). A few packs are read at a time, so memory stays at a
//! few packs.
//!
//! When a blob the index points to is missing or damaged, the snapshots are walked again to list
//! every file (or directory, for a tree blob) that needs it: [`CheckReport::affected`].

mod affected;
mod packs;
mod trees;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cairn_repo_format::{
    BlobId, BlobKind, IndexFile, IndexId, PackEntry, PackId, Snapshot, SnapshotId,
};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::Serialize;

use self::affected::Affected;
use self::packs::{check_pack, expected_pack_size, PackCheck};
use self::trees::{visit, Found, Job, Want};
use crate::backend::FileType;
use crate::error::{Error, ErrorKind, Result};
use crate::index::{Index, IndexBuilder};
use crate::progress::Progress;
use crate::repository::Repository;

/// Threads reading index files, snapshots and tree nodes: these are small reads, bound by latency.
const IO_THREADS: usize = 8;
/// Tree nodes handed to the threads at once.
const TREE_BATCH: usize = 256;
/// Packs downloaded at once, at most...
const MAX_PACKS_IN_FLIGHT: usize = 4;
/// ...and fewer when packs are big, to hold about this much.
const PACK_MEMORY: u64 = 256 << 20;
/// Deepest nesting of content lists accepted.
const MAX_CONTENT_DEPTH: usize = 16;

/// Which packs `check` downloads and verifies blob by blob.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ReadData {
    /// None: check the structure only.
    #[default]
    None,
    /// Every pack the index names.
    All,
    /// This fraction (0.0 to 1.0) of the packs, chosen at random, rounded up.
    Subset(f64),
}

/// Options of [`check`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CheckOptions {
    /// Which packs to read whole.
    pub read_data: ReadData,
}

impl CheckOptions {
    /// Sets which packs to read whole.
    pub fn read_data(mut self, read_data: ReadData) -> Self {
        self.read_data = read_data;
        self
    }
}

/// A blob whose stored bytes are wrong (or absent from their pack).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DamagedBlob {
    /// Data or tree.
    pub kind: BlobKind,
    /// The blob.
    pub id: BlobId,
    /// The pack that should hold it.
    pub pack: PackId,
    /// What is wrong.
    pub reason: String,
}

/// A file or directory of a snapshot that needs a missing or damaged blob: it cannot be restored
/// whole.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct AffectedFile {
    /// The snapshot.
    pub snapshot: SnapshotId,
    /// Full path in the snapshot (`/` when the root directory itself cannot be read).
    pub path: String,
}

/// What [`check`] found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    /// Problems that lose data or make the repository unreadable in part.
    pub errors: Vec<String>,
    /// Oddities that lose nothing (packs no index names, packs laid out unusually).
    pub warnings: Vec<String>,
    /// Blobs missing from their pack or damaged in it, sorted by pack.
    pub damaged: Vec<DamagedBlob>,
    /// Files (and directories) of snapshots that need a blob whose indexed copy is missing or
    /// damaged, sorted by snapshot and path.
    pub affected: Vec<AffectedFile>,
    /// Snapshot files in the repository.
    pub snapshots: u64,
    /// Packs the index names.
    pub packs: u64,
    /// Packs downloaded and verified (with [`ReadData`]).
    pub packs_read: u64,
    /// Blobs in the index.
    pub blobs: u64,
}

impl CheckReport {
    /// True when nothing is wrong: no errors and no damaged blob (warnings are fine).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty() && self.damaged.is_empty()
    }
}

/// Checks `repo`. Problems found go into the report (and, as they are found, to
/// [`Progress::warn`]); an `Err` means the check itself could not run (the backend cannot be listed,
/// invalid options). With [`ReadData`], progress gets the number and bytes of the packs to read as
/// totals, then each pack as it is done.
pub fn check(
    repo: Repository,
    options: &CheckOptions,
    progress: &dyn Progress,
) -> Result<CheckReport> {
    if let ReadData::Subset(f) = options.read_data {
        if !(0.0..=1.0).contains(&f) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "the subset of packs to read must be between 0 and 1 (0% to 100%), not {f}"
                ),
            ));
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(IO_THREADS)
        .thread_name(|i| format!("cairn-check-{i}"))
        .build()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start threads: {e}")))?;
    let mut c = Checker {
        repo,
        pool,
        progress,
        report: CheckReport::default(),
        lost: HashSet::new(),
        missing: Vec::new(),
    };
    let (index, records) = c.load_index()?;
    c.report.packs = records.len() as u64;
    c.report.blobs = (index.len(BlobKind::Data) + index.len(BlobKind::Tree)) as u64;
    let sizes = c.check_packs(&index, &records)?;
    let snapshots = c.load_snapshots()?;
    c.walk_trees(&index, &snapshots);
    c.read_data(&index, &records, &sizes, options.read_data)?;
    c.judge_missing_packs(&index, &snapshots);
    if !c.lost.is_empty() {
        let mut walk = Affected::new(&c.repo, &index, &c.lost);
        for (id, snap) in &snapshots {
            walk.snapshot(*id, snap.tree);
        }
        c.report.affected = walk.finish();
    }
    c.report.damaged.sort_by_key(|d| (d.pack, d.kind, d.id));
    Ok(c.report)
}

struct Checker<'p> {
    repo: Repository,
    pool: rayon::ThreadPool,
    progress: &'p dyn Progress,
    report: CheckReport,
    /// Blobs whose indexed copy is missing or damaged: what makes files affected.
    lost: HashSet<(BlobKind, BlobId)>,
    /// Packs the index names that storage lacks.
    missing: Vec<MissingPack>,
}

/// A pack the index names that storage lacks: its id, its blob count, and the blobs the index
/// serves from it.
type MissingPack = (PackId, usize, HashSet<(BlobKind, BlobId)>);

/// The pack records of the index, in the order its files list them, each pack once.
type Records = Vec<(PackId, Vec<PackEntry>)>;

impl Checker<'_> {
    /// A pack the index names but storage lacks is damage when some snapshot needs one of its blobs.
    /// Otherwise it is the leftover of a writer that prune took for dead (its session expired while
    /// it still wrote an index file): a warning, and the next prune drops the entry.
    fn judge_missing_packs(&mut self, index: &Index, snapshots: &[(SnapshotId, Snapshot)]) {
        for (id, count, served) in std::mem::take(&mut self.missing) {
            let mut walk = Affected::new(&self.repo, index, &served);
            for (snap, s) in snapshots {
                walk.snapshot(*snap, s.tree);
            }
            if walk.finish().is_empty() {
                for b in &served {
                    self.lost.remove(b);
                }
                let message = format!(
                    "pack {} is named by the index but missing from the repository ({count} blobs); \
                     no snapshot needs them, the next prune drops the entry",
                    id.short()
                );
                self.progress.warn(&message);
                self.report.warnings.push(message);
            } else {
                self.error(format!(
                    "pack {} is named by the index but missing from the repository ({count} blobs)",
                    id.short()
                ));
            }
        }
    }

    fn error(&mut self, message: String) {
        self.progress.warn(&message);
        self.report.errors.push(message);
    }

    /// Loads the index files one by one (a damaged one is reported, not fatal) and builds the index
    /// from those that are not superseded, as [`Repository::load_index`] does.
    fn load_index(&mut self) -> Result<(Index, Records)> {
        let ids: Vec<IndexId> = self
            .repo
            .backend()
            .list(FileType::Index)?
            .iter()
            .filter_map(|l| l.name.parse().ok())
            .collect();
        let repo = &self.repo;
        let loaded: Vec<(IndexId, Result<IndexFile>)> = self.pool.install(|| {
            ids.par_iter()
                .map(|id| (*id, repo.load_index_file(id)))
                .collect()
        });
        let mut files = Vec::with_capacity(loaded.len());
        for (id, file) in loaded {
            match file {
                Ok(file) => files.push((id, file)),
                Err(e) => self.error(format!("index file {}: {e}", id.short())),
            }
        }
        let superseded: HashSet<IndexId> = files
            .iter()
            .flat_map(|(_, f)| f.supersedes.iter().copied())
            .collect();
        let mut records: Records = Vec::new();
        let mut position: HashMap<PackId, usize> = HashMap::new();
        for (file_id, file) in files {
            if superseded.contains(&file_id) {
                continue;
            }
            for pack in file.packs {
                match position.get(&pack.id) {
                    Some(&i) if records[i].1 != pack.blobs => self.error(format!(
                        "pack {} is listed twice in the index with different blobs (again in index file {})",
                        pack.id.short(),
                        file_id.short()
                    )),
                    Some(_) => {}
                    None => {
                        position.insert(pack.id, records.len());
                        records.push((pack.id, pack.blobs));
                    }
                }
            }
        }
        let mut builder = IndexBuilder::default();
        for (id, blobs) in &records {
            builder.add_pack(*id, blobs);
        }
        Ok((builder.build(), records))
    }

    /// Compares the packs the index names with those the backend holds; returns the sizes of the
    /// packs present.
    fn check_packs(&mut self, index: &Index, records: &Records) -> Result<HashMap<PackId, u64>> {
        let sizes: HashMap<PackId, u64> = self
            .repo
            .backend()
            .list(FileType::Pack)?
            .into_iter()
            .filter_map(|l| Some((l.name.parse().ok()?, l.size)))
            .collect();
        let mut unreferenced = sizes.clone();
        for (id, blobs) in records {
            unreferenced.remove(id);
            match sizes.get(id) {
                None => {
                    // Judged once the snapshots are walked: damage only if a snapshot needs it.
                    let served: HashSet<(BlobKind, BlobId)> = blobs
                        .iter()
                        .filter(|b| index.get(b.kind, &b.id).is_some_and(|l| l.pack == *id))
                        .map(|b| (b.kind, b.id))
                        .collect();
                    self.lost.extend(served.iter().copied());
                    self.missing.push((*id, blobs.len(), served));
                }
                Some(&size) => {
                    let expected = expected_pack_size(blobs);
                    if size != expected {
                        self.error(format!(
                            "pack {} is {size} bytes, its index entries imply {expected}",
                            id.short()
                        ));
                    }
                }
            }
        }
        let mut unreferenced: Vec<_> = unreferenced.into_iter().collect();
        unreferenced.sort();
        for (id, size) in unreferenced {
            self.report.warnings.push(format!(
                "pack {} ({size} bytes) is in no index file: unreferenced pack, left by an interrupted backup; prune removes it",
                id.short()
            ));
        }
        Ok(sizes)
    }

    /// Loads every snapshot; those that do not decode are reported. Oldest first.
    fn load_snapshots(&mut self) -> Result<Vec<(SnapshotId, Snapshot)>> {
        let ids: Vec<SnapshotId> = self
            .repo
            .backend()
            .list(FileType::Snapshot)?
            .iter()
            .filter_map(|l| l.name.parse().ok())
            .collect();
        self.report.snapshots = ids.len() as u64;
        let repo = &self.repo;
        let loaded: Vec<(SnapshotId, Result<Snapshot>)> = self.pool.install(|| {
            ids.par_iter()
                .map(|id| (*id, repo.load_snapshot(id)))
                .collect()
        });
        let mut out = Vec::with_capacity(loaded.len());
        for (id, snap) in loaded {
            match snap {
                Ok(s) => out.push((id, s)),
                Err(e) => self.error(e.to_string()),
            }
        }
        out.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Reads every tree node reachable from the snapshots once, checking each as its parent
    /// expects it.
    fn walk_trees(&mut self, index: &Index, snapshots: &[(SnapshotId, Snapshot)]) {
        let mut visited: HashSet<BlobId> = HashSet::new();
        let mut queue: Vec<Job> = Vec::new();
        for (sid, snap) in snapshots.iter().rev() {
            if !index.contains(BlobKind::Tree, &snap.tree) {
                self.error(format!(
                    "snapshot {}: root tree {} is missing from the index",
                    sid.short(),
                    snap.tree.short()
                ));
                self.lost.insert((BlobKind::Tree, snap.tree));
            } else if visited.insert(snap.tree) {
                queue.push(Job {
                    id: snap.tree,
                    want: Want::dir(),
                    snapshot: *sid,
                    path: Arc::from(""),
                });
            }
        }
        while !queue.is_empty() {
            let batch = queue.split_off(queue.len().saturating_sub(TREE_BATCH));
            let repo = &self.repo;
            let found: Vec<Found> = self.pool.install(|| {
                batch
                    .par_iter()
                    .map(|job| visit(repo, index, job))
                    .collect()
            });
            for f in found {
                for e in f.errors {
                    self.error(e);
                }
                self.lost.extend(f.lost);
                for job in f.jobs.into_iter().rev() {
                    if visited.insert(job.id) {
                        queue.push(job);
                    }
                }
            }
        }
    }

    /// Downloads the chosen packs and verifies them blob by blob.
    fn read_data(
        &mut self,
        index: &Index,
        records: &Records,
        sizes: &HashMap<PackId, u64>,
        which: ReadData,
    ) -> Result<()> {
        let present: Vec<&(PackId, Vec<PackEntry>)> = records
            .iter()
            .filter(|(id, _)| sizes.contains_key(id))
            .collect();
        let mut chosen: Vec<&(PackId, Vec<PackEntry>)> = match which {
            ReadData::None => return Ok(()),
            ReadData::All => present,
            ReadData::Subset(f) => {
                let n = ((present.len() as f64 * f).ceil() as usize).min(present.len());
                present
                    .choose_multiple(&mut rand::thread_rng(), n)
                    .copied()
                    .collect()
            }
        };
        chosen.sort_by_key(|(id, _)| *id);
        let total: u64 = chosen.iter().map(|(id, _)| sizes[id]).sum();
        self.progress.set_total(chosen.len() as u64, total);
        let pack_size = u64::from(self.repo.config().pack_size).max(1);
        let in_flight = ((PACK_MEMORY / pack_size) as usize).clamp(1, MAX_PACKS_IN_FLIGHT);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(in_flight)
            .thread_name(|i| format!("cairn-read-data-{i}"))
            .build()
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start threads: {e}")))?;
        let (repo, progress) = (&self.repo, self.progress);
        let results: Vec<PackCheck> = pool.install(|| {
            chosen
                .par_iter()
                .with_max_len(1)
                .map(|(id, blobs)| {
                    let r = check_pack(repo, *id, blobs);
                    progress.add_bytes(sizes[id]);
                    progress.add_file();
                    r
                })
                .collect()
        });
        for r in results {
            self.report.packs_read += u64::from(r.read);
            for e in r.errors {
                self.error(e);
            }
            self.report.warnings.extend(r.warnings);
            for d in r.damaged {
                self.progress.warn(&format!(
                    "{:?} blob {} in pack {} is damaged: {}",
                    d.kind,
                    d.id.short(),
                    d.pack.short(),
                    d.reason
                ));
                if index.get(d.kind, &d.id).is_some_and(|l| l.pack == d.pack) {
                    self.lost.insert((d.kind, d.id));
                }
                self.report.damaged.push(d);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::ls::fixture::{bytes, commit, dir, file, CHUNK};
    use crate::progress::NoProgress;
    use crate::testutil::memory_repo;
    use crate::Indexed;
    use cairn_repo_format::{ContentRef, Name};

    fn run(repo: &Indexed, read_data: ReadData) -> CheckReport {
        check(
            repo.repository().clone(),
            &CheckOptions::default().read_data(read_data),
            &NoProgress,
        )
        .unwrap()
    }

    /// Two snapshots sharing a file (at different paths), a long file with content lists, and a
    /// small one.
    fn two_snapshots() -> (Indexed, Vec<(SnapshotId, Snapshot)>, Vec<u8>) {
        let shared = bytes(11, 3 * CHUNK);
        let first = dir(vec![
            (
                "docs",
                dir(vec![("shared.bin", file(&shared)), ("note", file(b"hi"))]),
            ),
            ("long", file(bytes(12, 90 * CHUNK))),
        ]);
        let second = dir(vec![
            ("moved", dir(vec![("shared.bin", file(&shared))])),
            ("other", file(bytes(13, 2 * CHUNK))),
        ]);
        let (repo, id1, s1) = commit(&memory_repo(), &first, "2026-01-01T00:00:00Z");
        let (repo, id2, s2) = commit(&repo, &second, "2026-01-02T00:00:00Z");
        (repo, vec![(id1, s1), (id2, s2)], shared)
    }

    #[test]
    fn a_whole_repository_is_ok() {
        let (repo, snaps, _) = two_snapshots();
        let r = run(&repo, ReadData::All);
        assert!(r.is_ok(), "{r:#?}");
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.snapshots, 2);
        assert_eq!(r.packs, repo.index().packs().len() as u64);
        assert_eq!(r.packs_read, r.packs);
        assert!(r.blobs > 100);
        assert!(r.affected.is_empty());
        let none = run(&repo, ReadData::None);
        assert!(none.is_ok() && none.packs_read == 0);
        assert_eq!(run(&repo, ReadData::Subset(0.0)).packs_read, 0);
        assert_eq!(run(&repo, ReadData::Subset(1e-9)).packs_read, 1);
        let err = check(
            repo.repository().clone(),
            &CheckOptions::default().read_data(ReadData::Subset(1.5)),
            &NoProgress,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(run(&repo, ReadData::All).affected.is_empty() && snaps.len() == 2);
    }

    #[test]
    fn a_flipped_bit_names_the_blob_the_pack_and_every_file_that_needs_it() {
        let (repo, mut snaps, shared) = two_snapshots();
        // A third snapshot with the very same /docs tree as the first: checked once, hurt twice.
        let docs = dir(vec![("shared.bin", file(&shared)), ("note", file(b"hi"))]);
        let (repo, id3, s3) = commit(&repo, &dir(vec![("docs", docs)]), "2026-01-03T00:00:00Z");
        snaps.push((id3, s3));
        let victim = repo.keys().blob_id(&shared[CHUNK..2 * CHUNK]);
        let loc = repo.locate(BlobKind::Data, &victim).unwrap();
        let name = loc.pack.to_hex();
        let mut pack = repo.backend().read(FileType::Pack, &name).unwrap().to_vec();
        pack[loc.offset as usize + loc.length as usize / 2] ^= 0x10;
        repo.backend()
            .write(FileType::Pack, &name, bytes::Bytes::from(pack))
            .unwrap();

        // The structure alone looks whole: the index and the trees are untouched.
        assert!(run(&repo, ReadData::None).is_ok());

        let r = run(&repo, ReadData::All);
        assert!(!r.is_ok());
        assert_eq!(r.damaged.len(), 1, "{:?}", r.damaged);
        assert_eq!(
            (r.damaged[0].kind, r.damaged[0].id, r.damaged[0].pack),
            (BlobKind::Data, victim, loc.pack)
        );
        assert!(r
            .errors
            .iter()
            .any(|e| e.contains(&loc.pack.short()) && e.contains("does not match")));
        assert_eq!(
            r.affected,
            sorted(vec![
                AffectedFile {
                    snapshot: snaps[0].0,
                    path: "/docs/shared.bin".into()
                },
                AffectedFile {
                    snapshot: snaps[1].0,
                    path: "/moved/shared.bin".into()
                },
                AffectedFile {
                    snapshot: snaps[2].0,
                    path: "/docs/shared.bin".into()
                },
            ])
        );
    }

    fn sorted(mut v: Vec<AffectedFile>) -> Vec<AffectedFile> {
        v.sort();
        v
    }

    #[test]
    fn a_stray_pack_is_only_a_warning() {
        let (repo, _, _) = two_snapshots();
        let stray = PackId([7; 32]);
        repo.backend()
            .write(
                FileType::Pack,
                &stray.to_hex(),
                bytes::Bytes::from_static(b"junk"),
            )
            .unwrap();
        let r = run(&repo, ReadData::All);
        assert!(r.is_ok(), "{r:#?}");
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains(&stray.short()) && r.warnings[0].contains("unreferenced"));
        assert_eq!(r.packs_read, r.packs);
    }

    #[test]
    fn a_damaged_index_file_is_reported_with_what_it_listed() {
        let (repo, _, _) = two_snapshots();
        assert!(repo.index_files().len() >= 2);
        let index_file = repo.index_files()[0];
        let mut stored = repo
            .backend()
            .read(FileType::Index, &index_file.to_hex())
            .unwrap()
            .to_vec();
        stored[40] ^= 1;
        repo.backend()
            .write(
                FileType::Index,
                &index_file.to_hex(),
                bytes::Bytes::from(stored),
            )
            .unwrap();
        let r = run(&repo, ReadData::All);
        assert!(!r.is_ok());
        assert!(r.errors[0].contains(&index_file.short()), "{:?}", r.errors);
        // Its packs are now unreferenced, and what snapshots need from them is missing.
        assert!(r.warnings.iter().all(|w| w.contains("unreferenced")));
        assert!(!r.warnings.is_empty());
        assert!(r
            .errors
            .iter()
            .any(|e| e.contains("missing from the index")));
        assert!(!r.affected.is_empty());
    }

    #[test]
    fn a_damaged_tree_is_found_without_reading_data_and_hurts_what_is_below() {
        let (repo, snaps, _) = two_snapshots();
        let docs = repo
            .lookup(&snaps[0].1.tree, &Name::new("docs"))
            .unwrap()
            .unwrap();
        let tree = docs.subtree.unwrap();
        let loc = repo.locate(BlobKind::Tree, &tree).unwrap();
        let name = loc.pack.to_hex();
        let mut pack = repo.backend().read(FileType::Pack, &name).unwrap().to_vec();
        pack[loc.offset as usize + 30] ^= 1;
        repo.backend()
            .write(FileType::Pack, &name, bytes::Bytes::from(pack))
            .unwrap();
        let r = run(&repo, ReadData::None);
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        assert!(r.errors[0].contains("/docs") && r.errors[0].contains(&tree.short()));
        assert_eq!(
            r.affected,
            [AffectedFile {
                snapshot: snaps[0].0,
                path: "/docs".into()
            }]
        );
        let r = run(&repo, ReadData::All);
        assert!(r
            .damaged
            .iter()
            .any(|d| d.id == tree && d.kind == BlobKind::Tree));
    }

    #[test]
    fn a_missing_pack_is_an_error_and_its_files_are_affected() {
        let (repo, snaps, shared) = two_snapshots();
        let blob = repo.keys().blob_id(&shared[..CHUNK]);
        let pack = repo.locate(BlobKind::Data, &blob).unwrap().pack;
        repo.backend()
            .delete(FileType::Pack, &pack.to_hex())
            .unwrap();
        let r = run(&repo, ReadData::All);
        assert!(r
            .errors
            .iter()
            .any(|e| e.contains(&pack.short()) && e.contains("missing")));
        assert!(r.damaged.is_empty());
        assert_eq!(r.packs_read, r.packs - 1);
        for (i, path) in [(0, "/docs/shared.bin"), (1, "/moved/shared.bin")] {
            assert!(
                r.affected.contains(&AffectedFile {
                    snapshot: snaps[i].0,
                    path: path.into()
                }),
                "{:?}",
                r.affected
            );
        }
    }

    #[test]
    fn a_lost_content_list_affects_the_file_through_it() {
        let (repo, snaps, _) = two_snapshots();
        let long = repo
            .lookup(&snaps[0].1.tree, &Name::new("long"))
            .unwrap()
            .unwrap();
        assert!(matches!(long.content[0], ContentRef::List { .. }));
        let chunks = repo.file_chunks(&long.content).unwrap();
        let (_, victim, _) = chunks[40];
        let loc = repo.locate(BlobKind::Data, &victim).unwrap();
        // Drop the data pack holding chunk 40 of /long; /long is affected through its lists.
        repo.backend()
            .delete(FileType::Pack, &loc.pack.to_hex())
            .unwrap();
        let r = run(&repo, ReadData::None);
        assert!(r
            .errors
            .iter()
            .any(|e| e.contains(&loc.pack.short()) && e.contains("missing")));
        assert!(r.affected.contains(&AffectedFile {
            snapshot: snaps[0].0,
            path: "/long".into()
        }));
    }
}
