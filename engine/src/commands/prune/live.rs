//! Which blobs the snapshots need: a walk of every snapshot's trees into one bit per indexed blob,
//! and which group of snapshots (one application or path set) reached each blob first, so that
//! repacking can keep each group's blobs in packs of their own.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use cairn_repo_format::{BlobId, BlobKind, ContentRef, Node, SnapshotId};
use rayon::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::indexed::Indexed;

/// One bit per blob of one kind, by index position; set from many threads.
pub(super) struct Bitmap(Vec<AtomicU64>);

impl Bitmap {
    pub fn new(len: usize) -> Self {
        Bitmap((0..len.div_ceil(64)).map(|_| AtomicU64::new(0)).collect())
    }

    /// Sets bit `i`; returns whether it was already set.
    pub fn set(&self, i: usize) -> bool {
        let mask = 1u64 << (i % 64);
        self.0[i / 64].fetch_or(mask, Ordering::Relaxed) & mask != 0
    }

    pub fn get(&self, i: usize) -> bool {
        self.0[i / 64].load(Ordering::Relaxed) & (1u64 << (i % 64)) != 0
    }
}

/// The group of snapshots that first reached each blob, by index position: 0 for none, else the
/// group's number plus one. Four bytes per blob.
pub(super) struct Owners(Vec<AtomicU32>);

impl Owners {
    fn new(len: usize) -> Self {
        Owners((0..len).map(|_| AtomicU32::new(0)).collect())
    }

    fn claim(&self, i: usize, group: u32) {
        let _ = self.0[i].compare_exchange(0, group + 1, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The group that reached blob `i` first, if any did.
    pub fn get(&self, i: usize) -> Option<u32> {
        self.0[i].load(Ordering::Relaxed).checked_sub(1)
    }
}

/// The blobs reachable from a set of snapshots.
pub(super) struct Live {
    pub data: Bitmap,
    pub trees: Bitmap,
    pub data_owners: Owners,
    pub tree_owners: Owners,
}

/// A snapshot to mark from: its id, root tree, and the number of its group.
pub(super) type Root = (SnapshotId, BlobId, u32);

impl Live {
    pub fn new(repo: &Indexed) -> Self {
        let (data, trees) = (
            repo.index().len(BlobKind::Data),
            repo.index().len(BlobKind::Tree),
        );
        Live {
            data: Bitmap::new(data),
            trees: Bitmap::new(trees),
            data_owners: Owners::new(data),
            tree_owners: Owners::new(trees),
        }
    }

    /// The group that reached a blob first, if any did.
    pub fn owner(&self, repo: &Indexed, kind: BlobKind, id: &BlobId) -> Option<u32> {
        let i = repo.index().position(kind, id)?;
        match kind {
            BlobKind::Data => self.data_owners.get(i),
            BlobKind::Tree => self.tree_owners.get(i),
        }
    }

    pub fn contains(&self, repo: &Indexed, kind: BlobKind, id: &BlobId) -> bool {
        match repo.index().position(kind, id) {
            Some(i) => match kind {
                BlobKind::Data => self.data.get(i),
                BlobKind::Tree => self.trees.get(i),
            },
            None => false,
        }
    }

    /// Marks everything the snapshots' trees reach. A blob the index lacks is an error when
    /// `strict` (the repository is damaged and prune must not make it worse), and skipped otherwise
    /// (a snapshot written after the index was read may use packs it does not know).
    pub fn mark(&self, repo: &Indexed, roots: &[Root], strict: bool) -> Result<()> {
        roots.par_iter().try_for_each(|(snap, root, group)| {
            self.walk(repo, *root, *group, strict)
                .map_err(|e| e.context(format!("snapshot {}", snap.short())))
        })
    }

    fn walk(&self, repo: &Indexed, root: BlobId, group: u32, strict: bool) -> Result<()> {
        let missing = |kind: BlobKind, id: &BlobId| {
            Error::new(
                ErrorKind::Damaged,
                format!(
                    "{} blob {} is missing from the index; run `cairn check` (prune stops rather than make it worse)",
                    if kind == BlobKind::Data { "data" } else { "tree" },
                    id.short()
                ),
            )
        };
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            let Some(pos) = repo.index().position(BlobKind::Tree, &id) else {
                if strict {
                    return Err(missing(BlobKind::Tree, &id));
                }
                continue;
            };
            if self.trees.set(pos) {
                continue;
            }
            self.tree_owners.claim(pos, group);
            let mut parts: Vec<ContentRef> = Vec::new();
            match repo.node(&id)? {
                Node::Leaf(entries) => {
                    for e in entries {
                        stack.extend(e.subtree);
                        parts.extend(e.content);
                    }
                }
                Node::Branch(children) => stack.extend(children.iter().map(|c| c.tree)),
                Node::Content(p) => parts = p,
            }
            for part in parts {
                match part {
                    ContentRef::List { id, .. } => stack.push(id),
                    ContentRef::Chunk { id, .. } => {
                        match repo.index().position(BlobKind::Data, &id) {
                            Some(i) => {
                                self.data.set(i);
                                self.data_owners.claim(i, group);
                            }
                            None if strict => return Err(missing(BlobKind::Data, &id)),
                            None => {}
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
