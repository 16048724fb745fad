//! Prune's second phase: delete what ripe plans condemn.
//!
//! A plan is ripe when every live writer session has seen it (spec/concurrency.md): no writer can
//! then rely on a pack it condemns, except through a snapshot already written, and those are walked
//! here afresh. A condemned pack that holds the only indexed copy of a blob some snapshot needs is
//! revived, not deleted. Index files that name deleted packs are replaced by one that does not.

use std::collections::HashSet;

use cairn_repo_format::{BlobKind, FileKind, IndexFile, IndexId, PackId};

use super::view::View;
use super::PruneStats;
use crate::backend::FileType;
use crate::error::Result;
use crate::repository::Repository;
use crate::session::{sessions, FoundPlan, Session};

/// Sweeps every ripe plan. `own` is prune's own session, left out of the ripeness test; `extra` is a
/// plan that a dry run did not write, with the packs whose live blobs it would have copied (and
/// which therefore need no reviving).
pub(super) fn sweep(
    repo: &Repository,
    own: Option<&Session>,
    dry_run: bool,
    extra: Option<(Vec<PackId>, Vec<PackId>)>,
    stats: &mut PruneStats,
) -> Result<()> {
    let expiry = repo.config().sessions.expiry_secs;
    let all_sessions = sessions(repo)?;
    let now = all_sessions
        .iter()
        .map(|s| s.refreshed)
        .max()
        .unwrap_or(i64::MIN);
    let others: Vec<_> = all_sessions
        .iter()
        .filter(|s| own.is_none_or(|o| o.name() != s.name))
        .collect();
    let (expired, live): (Vec<_>, Vec<_>) =
        others.into_iter().partition(|s| s.expired(now, expiry));

    let view = View::load(repo)?;
    let mut plans: Vec<FoundPlan> = view.plans.clone();
    let mut would_repack: HashSet<PackId> = HashSet::new();
    if let Some((packs, repacked)) = extra {
        would_repack.extend(repacked);
        plans.push(FoundPlan {
            name: "(dry run)".into(),
            plan: cairn_repo_format::DeletionPlan {
                version: cairn_repo_format::FORMAT_VERSION,
                packs,
                snapshots: Vec::new(),
                host: String::new(),
            },
            written: now,
        });
    }
    let (ripe, waiting): (Vec<_>, Vec<_>) = plans
        .into_iter()
        .partition(|p| live.iter().all(|s| s.has_seen(&p.name)));
    stats.plans_waiting = waiting.len() as u64;
    for p in &waiting {
        let blockers: Vec<String> = live
            .iter()
            .filter(|s| !s.has_seen(&p.name))
            .map(|s| match &s.file {
                Some(f) => format!("{} on {} (pid {})", f.kind, f.host, f.pid),
                None => format!("session {}", &s.name[..8]),
            })
            .collect();
        stats.waiting_for.extend(blockers);
    }
    stats.waiting_for.sort();
    stats.waiting_for.dedup();

    let doomed: HashSet<PackId> = ripe
        .iter()
        .flat_map(|p| p.plan.packs.iter().copied())
        .collect();
    let mut revived: HashSet<PackId> = HashSet::new();
    for kind in [BlobKind::Data, BlobKind::Tree] {
        for (id, loc) in view.repo.index().blobs(kind) {
            if doomed.contains(&loc.pack)
                && !would_repack.contains(&loc.pack)
                && view.live.contains(&view.repo, kind, &id)
            {
                revived.insert(loc.pack);
            }
        }
    }
    let delete: Vec<PackId> = doomed.difference(&revived).copied().collect();
    stats.packs_revived += revived.len() as u64;
    stats.plans_swept = ripe.len() as u64;
    stats.packs_deleted = delete.len() as u64;
    stats.bytes_freed = delete.iter().filter_map(|p| view.on_storage.get(p)).sum();
    stats.expired_sessions = expired.len() as u64;
    if dry_run {
        return Ok(());
    }

    // Packs the index names that storage no longer has (a writer taken for dead wrote an index file
    // for a pack already swept): an index file names a pack only after the pack is stored and only
    // a sweep deletes packs, so a listing taken after the index was read tells them apart.
    let stored: HashSet<String> = repo
        .backend()
        .list(FileType::Pack)?
        .into_iter()
        .map(|l| l.name)
        .collect();
    let mut gone: HashSet<PackId> = delete.iter().copied().collect();
    gone.extend(
        view.repo
            .index()
            .packs()
            .iter()
            .filter(|p| !stored.contains(&p.to_hex())),
    );
    rewrite_index(&view, &gone)?;
    for pack in &delete {
        repo.backend().delete(FileType::Pack, &pack.to_hex())?;
    }
    for plan in &ripe {
        repo.backend().delete(FileType::DeletionPlan, &plan.name)?;
    }
    // A dead writer's session would otherwise hold back every later plan; if it wakes up, it finds
    // it went silent too long and does not commit.
    for s in expired {
        repo.backend().delete(FileType::Session, &s.name)?;
    }
    stats.temporaries_removed = repo
        .backend()
        .remove_stale_temporaries(std::time::Duration::from_secs(expiry.into()))?;
    Ok(())
}

/// Replaces the index files that name any pack in `gone` by one that names the rest of their packs.
/// The new file is written first and lists the old ones as superseded, so a crash in between leaves
/// an index readers still understand.
fn rewrite_index(view: &View, gone: &HashSet<PackId>) -> Result<()> {
    if gone.is_empty() {
        return Ok(());
    }
    let mut replacement = IndexFile::default();
    let mut old: Vec<IndexId> = Vec::new();
    view.for_each_index_file(|id, file| {
        if file.packs.iter().any(|p| gone.contains(&p.id)) {
            old.push(id);
            replacement
                .packs
                .extend(file.packs.into_iter().filter(|p| !gone.contains(&p.id)));
        }
        Ok(())
    })?;
    if old.is_empty() {
        return Ok(());
    }
    replacement.supersedes = old.clone();
    view.repo
        .write_file(FileKind::Index, &replacement.encode())?;
    for id in old {
        view.repo.backend().delete(FileType::Index, &id.to_hex())?;
    }
    Ok(())
}
