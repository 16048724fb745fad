//! `cairn copy`: copy snapshots into another repository, the disaster-recovery path from one site
//! to another.
//!
//! The two repositories have their own keys, so a blob's id differs between them: every copied
//! tree is rebuilt with the target's ids. Each data blob is read from the source and added to the
//! target, which stores it only when it lacks it, so only missing blobs are uploaded. A directory
//! already copied in this run (most of each next generation) is not walked again. A copy cut off
//! midway resumes: the packs it uploaded are in the target's index (or, if the run died before
//! indexing them, prune reclaims them), and the next run uploads only what is still missing.
//!
//! A snapshot is skipped when the target has one taken at the same time, on the same host, of the
//! same paths and source, by the same user: a copy made earlier.
//!
//! Memory: the map from source to target ids of blobs copied in this run, about 100 bytes per
//! blob, plus one directory's entries per level being copied.

use std::collections::HashMap;
use std::sync::Mutex;

use cairn_repo_format::{BlobId, BlobKind, Entry, Snapshot, SnapshotId};
use rayon::prelude::*;
use serde::Serialize;

use crate::blob_writer::BlobWriter;
use crate::error::{Result, ResultExt};
use crate::indexed::Indexed;
use crate::progress::Progress;
use crate::tree_writer::{ContentBuilder, DirBuilder};

/// What `copy` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CopyReport {
    /// Snapshots copied: (source id, new id in the target).
    pub copied: Vec<(SnapshotId, SnapshotId)>,
    /// Source snapshots the target already had a copy of.
    pub skipped: Vec<SnapshotId>,
    /// Data blobs uploaded to the target.
    pub data_blobs_added: u64,
    /// Tree blobs uploaded to the target.
    pub tree_blobs_added: u64,
    /// Stored bytes uploaded.
    pub bytes_added: u64,
    /// Plaintext bytes of data read from the source.
    pub bytes_read: u64,
    /// Whether the two repositories cut files into chunks differently (their chunker
    /// parameters differ), so that copied files do not deduplicate against the same files
    /// backed up into the target directly.
    pub chunking_differs: bool,
}

/// Whether `a` is a copy of `b` (or the other way round).
fn same_snapshot(a: &Snapshot, b: &Snapshot) -> bool {
    a.time == b.time
        && a.host == b.host
        && a.paths == b.paths
        && a.username == b.username
        && a.source == b.source
}

/// Maps source blob ids to target ids for one run.
struct Copier<'a> {
    source: &'a Indexed,
    writer: BlobWriter,
    chunks: Mutex<HashMap<BlobId, BlobId>>,
    trees: Mutex<HashMap<BlobId, BlobId>>,
    bytes_read: std::sync::atomic::AtomicU64,
    progress: &'a dyn Progress,
}

impl Copier<'_> {
    fn chunk(&self, id: &BlobId) -> Result<BlobId> {
        if let Some(mapped) = self.chunks.lock().expect("chunk map").get(id) {
            return Ok(*mapped);
        }
        let plain = self.source.read_blob(BlobKind::Data, id)?;
        self.bytes_read
            .fetch_add(plain.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.progress.add_bytes(plain.len() as u64);
        let (mapped, _) = self.writer.add(BlobKind::Data, &plain)?;
        self.chunks.lock().expect("chunk map").insert(*id, mapped);
        Ok(mapped)
    }

    fn entry(&self, mut entry: Entry) -> Result<Entry> {
        if let Some(subtree) = entry.subtree {
            entry.subtree = Some(self.tree(&subtree)?);
        }
        if !entry.content.is_empty() {
            let chunks = self.source.file_chunks(&entry.content)?;
            let mapped: Vec<(BlobId, u64)> = chunks
                .par_iter()
                .map(|(_, id, len)| Ok((self.chunk(id)?, *len)))
                .collect::<Result<_>>()?;
            let mut content = ContentBuilder::new(&self.writer);
            for (id, len) in mapped {
                content.push(id, len)?;
            }
            entry.content = content.finish()?;
        }
        self.progress.add_file();
        Ok(entry)
    }

    fn tree(&self, id: &BlobId) -> Result<BlobId> {
        if let Some(mapped) = self.trees.lock().expect("tree map").get(id) {
            return Ok(*mapped);
        }
        let entries: Vec<Entry> = self.source.dir_entries(id).collect::<Result<_>>()?;
        let copied: Vec<Entry> = entries
            .into_par_iter()
            .map(|e| self.entry(e))
            .collect::<Result<_>>()?;
        let mut dir = DirBuilder::new(&self.writer);
        for e in copied {
            dir.push(e)?;
        }
        let mapped = dir.finish()?;
        self.trees.lock().expect("tree map").insert(*id, mapped);
        Ok(mapped)
    }
}

/// Copies `snapshots` of `source` into `target` (whose index was loaded for writing), oldest
/// first, skipping those the target already has.
pub fn copy(
    source: &Indexed,
    target: &Indexed,
    snapshots: Vec<(SnapshotId, Snapshot)>,
    progress: &dyn Progress,
) -> Result<CopyReport> {
    let existing = target.snapshots()?;
    let mut report = CopyReport {
        chunking_differs: source.config().chunker != target.config().chunker,
        ..CopyReport::default()
    };
    let copier = Copier {
        source,
        writer: BlobWriter::new(target.clone()),
        chunks: Mutex::default(),
        trees: Mutex::default(),
        bytes_read: Default::default(),
        progress,
    };
    let mut snapshots = snapshots;
    snapshots.sort_by_key(|(_, s)| s.time);
    let mut pending = Vec::new();
    for (id, snapshot) in snapshots {
        if existing.iter().any(|(_, t)| same_snapshot(t, &snapshot)) {
            report.skipped.push(id);
            continue;
        }
        let tree = copier
            .tree(&snapshot.tree)
            .context(format_args!("copying snapshot {}", id.short()))?;
        pending.push((
            id,
            Snapshot {
                tree,
                parent: None,
                original: None,
                ..snapshot
            },
        ));
    }
    // Snapshots are saved only after every blob they need is uploaded and indexed.
    copier.writer.finish()?;
    for (id, snapshot) in pending {
        report.copied.push((id, target.save_snapshot(&snapshot)?));
    }
    let stats = copier.writer.stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    report.data_blobs_added = load(&stats.data_blobs);
    report.tree_blobs_added = load(&stats.tree_blobs);
    report.bytes_added = load(&stats.bytes_added);
    report.bytes_read = load(&copier.bytes_read);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::backup::{backup, BackupOptions};
    use crate::progress::NoProgress;
    use crate::testutil::{file_bytes, memory_repo, memory_repo_with, reopen};
    use crate::InitOptions;

    fn backup_dir(repo: &Indexed, dir: &std::path::Path) -> SnapshotId {
        let repo = reopen(repo);
        let opts = BackupOptions {
            paths: vec![dir.to_path_buf()],
            ..Default::default()
        };
        backup(&repo, &opts, &NoProgress).unwrap().id
    }

    #[test]
    fn copies_restore_alike_upload_only_what_is_missing_and_are_not_repeated() {
        let source = memory_repo();
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..900_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(dir.path().join("big"), &big).unwrap();
        std::fs::write(dir.path().join("small"), b"one").unwrap();
        let first = backup_dir(&source, dir.path());
        std::fs::write(dir.path().join("small"), b"two").unwrap();
        let second = backup_dir(&source, dir.path());

        let source = reopen(&source);
        let target = memory_repo_with(InitOptions::default());
        let all = source.snapshots().unwrap();
        let report = copy(&source, &reopen(&target), all.clone(), &NoProgress).unwrap();
        assert_eq!(report.copied.len(), 2);
        assert!(report.chunking_differs, "each repository has its own seed");
        let target = reopen(&target);
        for (src_id, new_id) in &report.copied {
            for name in ["big", "small"] {
                let path = dir.path().join(name);
                let path = path.to_str().unwrap();
                assert_eq!(
                    file_bytes(&target, new_id, path),
                    file_bytes(&source, src_id, path)
                );
            }
        }
        // The second snapshot shares everything but `small`: its big file's chunks were not
        // uploaded twice.
        let big_chunks = source
            .file_chunks(
                &source
                    .resolve(
                        &source.load_snapshot(&first).unwrap().tree,
                        dir.path().join("big").to_str().unwrap(),
                    )
                    .unwrap()
                    .unwrap()
                    .content,
            )
            .unwrap()
            .len() as u64;
        assert_eq!(report.data_blobs_added, big_chunks + 2, "{report:?}");

        let again = copy(&source, &target, all, &NoProgress).unwrap();
        assert_eq!(again.copied.len(), 0);
        assert_eq!(again.skipped, vec![first, second]);
        assert_eq!(again.data_blobs_added, 0);
    }

    /// With the source's chunker parameters copied at init, a copy of files the target already
    /// backed up itself uploads no data; with its own parameters it stores them a second time.
    #[test]
    fn copied_chunker_parameters_let_copies_deduplicate_against_the_targets_own_backups() {
        let source = memory_repo();
        let dir = tempfile::tempdir().unwrap();
        let mut big = vec![0u8; 2_000_000];
        rand::RngCore::fill_bytes(
            &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3),
            &mut big,
        );
        std::fs::write(dir.path().join("big"), &big).unwrap();
        backup_dir(&source, dir.path());
        let source = reopen(&source);
        let chunker = source.config().chunker;
        for (shared, target) in [
            (
                true,
                memory_repo_with(InitOptions::default().copy_chunker(chunker)),
            ),
            (false, memory_repo()),
        ] {
            std::fs::write(dir.path().join("local"), b"only in the target").unwrap();
            backup_dir(&target, dir.path());
            std::fs::remove_file(dir.path().join("local")).unwrap();
            let report = copy(
                &source,
                &reopen(&target),
                source.snapshots().unwrap(),
                &NoProgress,
            )
            .unwrap();
            assert_eq!(report.chunking_differs, !shared);
            if shared {
                assert_eq!(report.data_blobs_added, 0, "{report:?}");
            } else {
                assert!(report.bytes_added > 1_000_000, "{report:?}");
            }
        }
    }
}
