//! `cairn prune`: free the space of data no snapshot needs, while backups keep running.
//!
//! Prune never takes a lock. It registers a session like any writer, then
//! 1. marks: walks every snapshot, finds packs nothing needs and packs mostly unused (repacking
//!    their live blobs into new packs past `max_unused`), and condemns them in a deletion plan;
//! 2. sweeps: deletes the packs of every plan that all live writers have seen, reviving any pack a
//!    snapshot written in the meantime turned out to need.
//!
//! With no other writer at work both happen in one run; otherwise the new plan waits for the
//! writers that started before it and is swept by a later prune. Planning reads index files and
//! trees only; data packs are read only to repack. Memory is the index (48 bytes per blob) and a
//! bit per blob. spec/concurrency.md states the protocol and why it loses nothing.

mod live;
mod mark;
mod sweep;
mod view;

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::progress::Progress;
use crate::repository::Repository;
use crate::session::Session;
use view::View;

/// Options of prune.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PruneOptions {
    /// Share of the repository that may stay unused in partly used packs before they are repacked
    /// (restic's `--max-unused`, default 5%).
    pub max_unused: f64,
    /// Most bytes to repack in one run.
    pub max_repack_bytes: Option<u64>,
    /// Only report what would be done.
    pub dry_run: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            max_unused: 0.05,
            max_repack_bytes: None,
            dry_run: false,
        }
    }
}

impl PruneOptions {
    /// Sets the unused allowance (a fraction, 0.0 to 1.0).
    pub fn max_unused(mut self, fraction: f64) -> Self {
        self.max_unused = fraction;
        self
    }

    /// Sets the repack budget.
    pub fn max_repack_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_repack_bytes = bytes;
        self
    }

    /// Only report.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

/// What prune found and did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PruneStats {
    /// Snapshots walked.
    pub snapshots: u64,
    /// Packs considered (not already condemned).
    pub packs: u64,
    /// Their bytes.
    pub repository_bytes: u64,
    /// Bytes no snapshot needs, in those packs.
    pub bytes_unused: u64,
    /// Packs holding nothing any snapshot needs (including unindexed ones).
    pub packs_unused: u64,
    /// Packs on storage that no index file names (left by interrupted writers).
    pub unindexed_packs: u64,
    /// Partly used packs whose live blobs were copied to new packs.
    pub packs_repacked: u64,
    /// Bytes copied by repacking.
    pub bytes_repacked: u64,
    /// Packs condemned by this run's plan.
    pub packs_condemned: u64,
    /// Plans swept.
    pub plans_swept: u64,
    /// Plans still waiting for writers to see them.
    pub plans_waiting: u64,
    /// The writer sessions that plans wait for.
    pub waiting_for: Vec<String>,
    /// Packs deleted.
    pub packs_deleted: u64,
    /// Condemned packs kept because a newer snapshot needs them.
    pub packs_revived: u64,
    /// Bytes deleted.
    pub bytes_freed: u64,
    /// Session files of dead writers removed.
    pub expired_sessions: u64,
    /// Temporary files of writes killed midway removed (local repositories).
    pub temporaries_removed: u64,
}

/// Runs prune.
pub fn prune(
    repo: &Repository,
    options: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneStats> {
    if !(0.0..=1.0).contains(&options.max_unused) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "--max-unused must be between 0% and 100%, not {}",
                options.max_unused * 100.0
            ),
        ));
    }
    let session = (!options.dry_run)
        .then(|| Session::begin(repo, "prune"))
        .transpose()?;
    let mut stats = PruneStats::default();
    let view = View::load(repo)?;
    stats.snapshots = view.snapshots.len() as u64;
    let marked = mark::mark(&view, options, &mut stats, progress)?;
    drop(view);
    let extra = (options.dry_run && !marked.condemned.is_empty())
        .then_some((marked.condemned, marked.repacked));
    sweep::sweep(repo, session.as_deref(), options.dry_run, extra, &mut stats)?;
    if let Some(s) = session {
        s.end()?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::FileType;
    use crate::commands::backup::{backup, BackupOptions};
    use crate::indexed::Indexed;
    use crate::progress::NoProgress;
    use crate::testutil::{file_bytes, memory_repo, memory_repo_with, reopen};
    use cairn_repo_format::{BlobKind, SessionParams, SnapshotId};

    fn stored_bytes(repo: &Indexed) -> u64 {
        repo.backend()
            .list(FileType::Pack)
            .unwrap()
            .iter()
            .map(|l| l.size)
            .sum()
    }

    fn backup_of(repo: &Indexed, dir: &std::path::Path, writing: bool) -> SnapshotId {
        let r = if writing {
            repo.repository()
                .clone()
                .load_index_for_writing("backup")
                .unwrap()
        } else {
            reopen(repo)
        };
        let opts = BackupOptions {
            paths: vec![dir.to_path_buf()],
            ..Default::default()
        };
        backup(&r, &opts, &NoProgress).unwrap().id
    }

    fn noise(seed: u64, len: usize) -> Vec<u8> {
        use rand::{RngCore, SeedableRng};
        let mut v = vec![0u8; len];
        rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
        v
    }

    #[test]
    fn prune_after_forget_frees_space_and_a_second_prune_does_nothing() {
        let repo = memory_repo();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep"), noise(1, 600_000)).unwrap();
        std::fs::write(dir.path().join("gone"), noise(2, 2_000_000)).unwrap();
        let old = backup_of(&repo, dir.path(), false);
        std::fs::remove_file(dir.path().join("gone")).unwrap();
        let new = backup_of(&repo, dir.path(), false);
        let before = stored_bytes(&repo);
        repo.delete_snapshot(&old).unwrap();

        let dry = prune(&repo, &PruneOptions::default().dry_run(true), &NoProgress).unwrap();
        assert!(dry.bytes_freed > 1_500_000, "{dry:?}");
        assert_eq!(stored_bytes(&repo), before, "a dry run deletes nothing");

        let stats = prune(&repo, &PruneOptions::default(), &NoProgress).unwrap();
        assert_eq!(stats.plans_swept, 1, "{stats:?}");
        let after = stored_bytes(&repo);
        assert!(before - after > 1_500_000, "freed {} bytes", before - after);
        assert!(repo
            .backend()
            .list(FileType::DeletionPlan)
            .unwrap()
            .is_empty());
        let p = dir.path().join("keep");
        assert_eq!(
            file_bytes(&repo, &new, p.to_str().unwrap()),
            noise(1, 600_000)
        );

        let again = prune(&repo, &PruneOptions::default(), &NoProgress).unwrap();
        assert_eq!(
            (again.packs_condemned, again.packs_deleted),
            (0, 0),
            "{again:?}"
        );
        assert_eq!(stored_bytes(&repo), after);
    }

    #[test]
    fn a_writer_that_started_before_the_plan_keeps_what_it_reuses() {
        let repo = memory_repo();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, noise(3, 1_000_000)).unwrap();
        let old = backup_of(&repo, dir.path(), false);

        // A writer registers and reads the index while the old snapshot still holds the data...
        let writer = repo
            .repository()
            .clone()
            .load_index_for_writing("backup")
            .unwrap();
        // ...then the snapshot is forgotten and prune condemns its packs; the plan must wait.
        repo.delete_snapshot(&old).unwrap();
        let first = prune(&repo, &PruneOptions::default(), &NoProgress).unwrap();
        assert_eq!(
            (first.plans_swept, first.plans_waiting),
            (0, 1),
            "{first:?}"
        );
        assert!(first.waiting_for.iter().any(|w| w.starts_with("backup")));

        // The writer backs up the same content, deduplicating against the condemned packs.
        let opts = BackupOptions {
            paths: vec![dir.path().to_path_buf()],
            ..Default::default()
        };
        let out = backup(&writer, &opts, &NoProgress).unwrap();
        assert_eq!(out.snapshot.summary.data_blobs_added, 0);
        drop(writer);

        let second = prune(&repo, &PruneOptions::default(), &NoProgress).unwrap();
        assert_eq!(second.plans_swept, 1, "{second:?}");
        assert!(second.packs_revived > 0, "{second:?}");
        assert_eq!(
            file_bytes(&repo, &out.id, file.to_str().unwrap()),
            noise(3, 1_000_000)
        );
    }

    #[test]
    fn a_writer_that_saw_the_plan_uploads_again_instead_of_relying_on_it() {
        let repo = memory_repo();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, noise(4, 800_000)).unwrap();
        let old = backup_of(&repo, dir.path(), false);
        let blocker = repo
            .repository()
            .clone()
            .load_index_for_writing("backup")
            .unwrap();
        repo.delete_snapshot(&old).unwrap();
        prune(&repo, &PruneOptions::default(), &NoProgress).unwrap();

        // Registered after the plan: condemned packs are not in its index.
        let late = repo
            .repository()
            .clone()
            .load_index_for_writing("backup")
            .unwrap();
        let opts = BackupOptions {
            paths: vec![dir.path().to_path_buf()],
            ..Default::default()
        };
        let out = backup(&late, &opts, &NoProgress).unwrap();
        assert!(out.snapshot.summary.data_blobs_added > 0);
        drop(late);
        drop(blocker);
        let stats = prune(&repo, &PruneOptions::default(), &NoProgress).unwrap();
        assert_eq!(
            (stats.plans_swept, stats.packs_revived),
            (1, 0),
            "{stats:?}"
        );
        assert!(stats.packs_deleted > 0);
        assert_eq!(
            file_bytes(&repo, &out.id, file.to_str().unwrap()),
            noise(4, 800_000)
        );
    }

    #[test]
    fn a_dead_writer_stops_holding_plans_back_once_its_session_expires() {
        let sessions = SessionParams {
            refresh_secs: 1,
            expiry_secs: 3,
        };
        let repo = memory_repo_with(crate::InitOptions::default().sessions(sessions));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), noise(5, 500_000)).unwrap();
        let old = backup_of(&repo, dir.path(), false);
        // A writer that died without a word: its session file stays, never refreshed again.
        let dead = cairn_repo_format::SessionFile {
            version: cairn_repo_format::FORMAT_VERSION,
            kind: "backup".into(),
            host: "gone".into(),
            pid: 1,
            seen_plans: Some(vec![]),
        };
        repo.write_named_file(
            cairn_repo_format::FileKind::Session,
            &"de".repeat(32),
            &dead.encode(),
        )
        .unwrap();
        repo.delete_snapshot(&old).unwrap();
        let first = prune(&repo, &PruneOptions::default(), &NoProgress).unwrap();
        assert_eq!(first.plans_waiting, 1);
        std::thread::sleep(std::time::Duration::from_secs(5));
        let second = prune(&repo, &PruneOptions::default(), &NoProgress).unwrap();
        assert_eq!(
            (second.plans_swept, second.expired_sessions),
            (1, 1),
            "{second:?}"
        );
        assert!(repo.backend().list(FileType::Session).unwrap().is_empty());
    }

    #[test]
    fn an_indexed_pack_gone_from_storage_that_no_snapshot_needs_is_dropped() {
        use crate::commands::check::{check, CheckOptions, ReadData};
        let repo = memory_repo();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), noise(6, 300_000)).unwrap();
        backup_of(&repo, dir.path(), false);
        // A writer taken for dead indexed a pack that a sweep had already deleted.
        let writer = crate::blob_writer::BlobWriter::new(reopen(&repo));
        writer.add(BlobKind::Data, &noise(7, 5000)).unwrap();
        writer.finish().unwrap();
        let repo = reopen(&repo);
        let orphan = repo
            .locate(BlobKind::Data, &repo.keys().blob_id(&noise(7, 5000)))
            .unwrap();
        repo.backend()
            .delete(FileType::Pack, &orphan.pack.to_hex())
            .unwrap();

        let options = CheckOptions {
            read_data: ReadData::All,
        };
        let report = check(repo.repository().clone(), &options, &NoProgress).unwrap();
        assert!(report.is_ok(), "{:?}", report.errors);
        assert!(report
            .warnings
            .iter()
            .any(|w| w.contains(&orphan.pack.short())));

        prune(&repo, &PruneOptions::default(), &NoProgress).unwrap();
        let report = check(repo.repository().clone(), &options, &NoProgress).unwrap();
        assert!(
            report.is_ok() && report.warnings.is_empty(),
            "{:?}",
            report.warnings
        );
    }
}
