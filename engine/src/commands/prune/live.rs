//! Which blobs the snapshots need: a walk of every snapshot's trees into one bit per indexed blob.

use std::sync::atomic::{AtomicU64, Ordering};

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

/// The blobs reachable from a set of snapshots.
pub(super) struct Live {
    pub data: Bitmap,
    pub trees: Bitmap,
}

impl Live {
    pub fn new(repo: &Indexed) -> Self {
        Live {
            data: Bitmap::new(repo.index().len(BlobKind::Data)),
            trees: Bitmap::new(repo.index().len(BlobKind::Tree)),
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
    pub fn mark(&self, repo: &Indexed, roots: &[(SnapshotId, BlobId)], strict: bool) -> Result<()> {
        roots.par_iter().try_for_each(|(snap, root)| {
            self.walk(repo, *root, strict)
                .map_err(|e| e.context(format!("snapshot {}", snap.short())))
        })
    }

    fn walk(&self, repo: &Indexed, root: BlobId, strict: bool) -> Result<()> {
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
