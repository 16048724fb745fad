//! The repository as the mount sees it: the loaded index and the snapshot list with its layout,
//! both replaced while mounted so new snapshots show up without a remount.
//!
//! The snapshot list is read again when a layout directory is visited and the last listing is older
//! than the refresh interval; only snapshot files not seen before are read. When a new snapshot's
//! root tree is not in the loaded index, the index is loaded again (cheap through the local cache)
//! and swapped in; readers that hold the old one finish with it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use cairn_engine::format::{BlobKind, Snapshot, SnapshotId};
use cairn_engine::{FileType, Indexed, Result, SnapshotFilter};

use crate::layout::Layout;

/// The loaded index and snapshot layout, with how to refresh them.
pub(crate) struct Catalog {
    repo: RwLock<Arc<Indexed>>,
    layout: RwLock<Arc<Layout>>,
    state: Mutex<State>,
    filter: SnapshotFilter,
    interval: Duration,
    stored: AtomicU64,
}

struct State {
    /// Snapshots read so far (those that failed to read are remembered as `None`).
    known: HashMap<SnapshotId, Option<Snapshot>>,
    listed: Instant,
    index_loaded: Instant,
}

impl Catalog {
    /// Reads the snapshot list of `repo` (keeping those `filter` passes) and builds the layout.
    pub(crate) fn new(
        repo: Indexed,
        filter: SnapshotFilter,
        interval: Duration,
    ) -> Result<Catalog> {
        let now = Instant::now();
        let catalog = Catalog {
            repo: RwLock::new(Arc::new(repo)),
            layout: RwLock::new(Arc::new(Layout::default())),
            state: Mutex::new(State {
                known: HashMap::new(),
                listed: now,
                index_loaded: now,
            }),
            filter,
            interval,
            stored: AtomicU64::new(0),
        };
        catalog.refresh(true)?;
        catalog.count_stored();
        Ok(catalog)
    }

    /// The index in use.
    pub(crate) fn repo(&self) -> Arc<Indexed> {
        self.repo.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The layout in use.
    pub(crate) fn layout(&self) -> Arc<Layout> {
        self.layout
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True when the snapshot list should be read again before it is used.
    pub(crate) fn is_stale(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.listed.elapsed() >= self.interval
    }

    /// Refreshes the snapshot list when the last listing is older than the interval. Errors are
    /// logged: the mount goes on with what it has.
    pub(crate) fn refresh_if_stale(&self) {
        if self.is_stale() {
            if let Err(e) = self.refresh(false) {
                tracing::warn!("cannot list the repository's snapshots: {e}");
            }
        }
    }

    /// Lists the snapshots again, reads new ones, and swaps in a new layout (and index) on change.
    fn refresh(&self, first: bool) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !first && state.listed.elapsed() < self.interval {
            return Ok(()); // another request refreshed while this one waited
        }
        let repo = self.repo();
        let listed = repo.backend().list(FileType::Snapshot)?;
        let ids: Vec<SnapshotId> = listed.iter().filter_map(|l| l.name.parse().ok()).collect();
        let mut changed = first || state.known.len() != ids.len();
        let mut new_trees = Vec::new();
        for id in &ids {
            if state.known.contains_key(id) {
                continue;
            }
            changed = true;
            let snap = match repo.load_snapshot(id) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("snapshot {} left out: {e}", id.short());
                    None
                }
            };
            if let Some(s) = &snap {
                new_trees.push(s.tree);
            }
            state.known.insert(*id, snap);
        }
        state.known.retain(|id, _| ids.contains(id));
        state.listed = Instant::now();
        if !changed {
            return Ok(());
        }
        if new_trees
            .iter()
            .any(|t| !repo.index().contains(BlobKind::Tree, t))
        {
            drop(repo);
            self.reload_index_locked(&mut state)?;
        }
        let mut snaps: Vec<(SnapshotId, Snapshot)> = state
            .known
            .iter()
            .filter_map(|(id, s)| Some((*id, s.clone()?)))
            .filter(|(_, s)| self.filter.matches(s))
            .collect();
        snaps.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        *self.layout.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Layout::new(&snaps));
        Ok(())
    }

    /// Loads the index again, unless it was loaded within the interval (a blob that is missing now
    /// will still be missing). Returns true when a new index was swapped in.
    pub(crate) fn reload_index(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.index_loaded.elapsed() < self.interval {
            return false;
        }
        match self.reload_index_locked(&mut state) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("cannot load the index again: {e}");
                false
            }
        }
    }

    fn reload_index_locked(&self, state: &mut State) -> Result<()> {
        let fresh = self.repo().repository().clone().load_index()?;
        *self.repo.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        state.index_loaded = Instant::now();
        self.count_stored();
        tracing::info!("loaded the index again for new snapshots");
        Ok(())
    }

    /// Bytes of stored blobs the index names (for `statfs`).
    pub(crate) fn stored_bytes(&self) -> u64 {
        self.stored.load(Ordering::Relaxed)
    }

    fn count_stored(&self) {
        let repo = self.repo();
        let index = repo.index();
        let total = [BlobKind::Data, BlobKind::Tree]
            .into_iter()
            .flat_map(|k| index.blobs(k))
            .map(|(_, loc)| u64::from(loc.length))
            .sum();
        self.stored.store(total, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{commit, file, memory_repo};

    #[test]
    fn snapshots_written_later_appear_with_their_index() {
        let (repo, first, _) = commit(
            &memory_repo(),
            |w| vec![file(w, "a", b"one", 10)],
            "2026-01-01T00:00:00Z",
        );
        let catalog =
            Catalog::new(repo.clone(), SnapshotFilter::default(), Duration::ZERO).unwrap();
        assert_eq!(catalog.layout().snapshots().len(), 1);
        assert_eq!(catalog.layout().snapshots()[0].id, first);
        let (_, second, tree) = commit(
            &repo,
            |w| vec![file(w, "b", b"two", 10)],
            "2026-01-02T00:00:00Z",
        );
        assert!(!catalog.repo().index().contains(BlobKind::Tree, &tree));
        catalog.refresh_if_stale();
        let layout = catalog.layout();
        assert_eq!(
            layout.snapshots().iter().map(|s| s.id).collect::<Vec<_>>(),
            [first, second]
        );
        assert!(
            catalog.repo().index().contains(BlobKind::Tree, &tree),
            "index reloaded"
        );
        assert!(catalog.stored_bytes() > 0);

        let only_other = SnapshotFilter::new(vec!["other".into()], vec![], vec![]);
        let filtered = Catalog::new(repo, only_other, Duration::from_secs(60)).unwrap();
        assert!(filtered.layout().snapshots().is_empty());
    }
}
