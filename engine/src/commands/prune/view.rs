//! What prune reads before deciding: packs on storage, plans, the index with condemned packs
//! demoted, the snapshots and the blobs they need.

use std::collections::{HashMap, HashSet};

use cairn_repo_format::{IndexFile, IndexId, PackId, Snapshot, SnapshotId};

use super::live::Live;
use crate::backend::FileType;
use crate::error::{Error, Result};
use crate::indexed::Indexed;
use crate::repository::Repository;
use crate::retention::{GroupBy, GroupKey};
use crate::session::{condemned_packs, deletion_plans, FoundPlan};

pub(super) struct View {
    /// The repository with every indexed pack, condemned ones demoted.
    pub repo: Indexed,
    /// Pack sizes on storage, listed before the index was read.
    pub on_storage: HashMap<PackId, u64>,
    pub plans: Vec<FoundPlan>,
    pub condemned: HashSet<PackId>,
    pub snapshots: Vec<(SnapshotId, Snapshot)>,
    pub live: Live,
}

impl View {
    /// Reads everything in the order the protocol needs: packs are listed before the index is read,
    /// so a pack that is on storage but in no index file was unindexed when prune looked.
    pub fn load(repo: &Repository) -> Result<View> {
        let on_storage = repo
            .backend()
            .list(FileType::Pack)?
            .into_iter()
            .map(|l| {
                let id: PackId = l.name.parse().map_err(|e| Error::format("pack name", e))?;
                Ok((id, l.size))
            })
            .collect::<Result<HashMap<_, _>>>()?;
        let plans = deletion_plans(repo)?;
        let condemned = condemned_packs(&plans);
        let (index, files) = repo.build_index(condemned.clone(), |b, f| b.add_file(f))?;
        let indexed = Indexed::with_index(repo.clone(), index, files);
        let snapshots = repo.snapshots()?;
        let live = Live::new(&indexed);
        // Number the groups (application, or host and paths) so that repacking keeps each
        // group's blobs apart, as backups do.
        let mut groups: HashMap<GroupKey, u32> = HashMap::new();
        let roots: Vec<_> = snapshots
            .iter()
            .map(|(id, s)| {
                let next = groups.len() as u32;
                let group = *groups
                    .entry(GroupKey::of(s, GroupBy::default()))
                    .or_insert(next);
                (*id, s.tree, group)
            })
            .collect();
        live.mark(&indexed, &roots, false)?;
        Ok(View {
            repo: indexed,
            on_storage,
            plans,
            condemned,
            snapshots,
            live,
        })
    }

    /// Calls `f` for each current (not superseded) index file, decoding one at a time. A file that
    /// another prune replaced meanwhile is skipped: its packs then look unindexed and are condemned,
    /// and the sweep's fresh walk revives any that a snapshot needs.
    pub fn for_each_index_file(
        &self,
        mut f: impl FnMut(IndexId, IndexFile) -> Result<()>,
    ) -> Result<()> {
        for id in self.repo.index_files() {
            match self.repo.load_index_file(id) {
                Ok(file) => f(*id, file)?,
                Err(e) if e.kind() == crate::error::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// True when this copy (in `pack`) of a live blob is the one the index serves.
    pub fn is_live_copy(&self, e: &cairn_repo_format::PackEntry, pack: &PackId) -> bool {
        self.live.contains(&self.repo, e.kind, &e.id)
            && self
                .repo
                .index()
                .get(e.kind, &e.id)
                .is_some_and(|loc| loc.pack == *pack)
    }
}
