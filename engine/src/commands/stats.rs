//! `cairn stats`: how big snapshots are when restored, and what they take in the repository.
//!
//! Totals are computed per tree node (a directory's leaf or branch piece) and remembered by node id,
//! so a subtree or piece that several snapshots share is read once; its data blobs are counted once
//! anyway, since each is remembered in a set.

use std::collections::{HashMap, HashSet};
use std::ops::AddAssign;

use cairn_repo_format::{
    BlobId, BlobKind, ContentRef, Entry, EntryKind, Node, Snapshot, SnapshotId,
};
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::indexed::not_a_directory;
use crate::indexed::Indexed;

/// Statistics of a set of snapshots.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Snapshots counted.
    pub snapshots: u64,
    /// Files (regular files and hard links) over all snapshots, counted once per snapshot.
    pub files: u64,
    /// Directories over all snapshots, counted once per snapshot (a snapshot's root not included).
    pub dirs: u64,
    /// Bytes a restore of every snapshot would write: the sizes of regular files, summed over
    /// snapshots (a hard link writes no bytes of its own).
    pub restore_size: u64,
    /// Distinct data blobs the snapshots refer to.
    pub unique_data_blobs: u64,
    /// Plaintext bytes of those blobs.
    pub raw_data_size: u64,
    /// Bytes those blobs take in packs (compressed and sealed).
    pub stored_size: u64,
    /// `restore_size / raw_data_size`: how much deduplication saves (0 when there is no data).
    pub dedup_ratio: f64,
    /// `raw_data_size / stored_size`: how much compression saves (0 when there is no data).
    pub compression_ratio: f64,
}

/// Computes [`Stats`] over `snapshots`. A data blob missing from the index, or a tree that cannot be
/// read, is an error: run `check` on such a repository.
pub fn stats(repo: &Indexed, snapshots: &[(SnapshotId, Snapshot)]) -> Result<Stats> {
    let mut walker = Walker {
        repo,
        totals: HashMap::new(),
        blobs: HashSet::new(),
        lists: HashSet::new(),
        raw: 0,
        stored: 0,
    };
    let mut all = Totals::default();
    for (id, snap) in snapshots {
        all += walker
            .tree(snap.tree)
            .context(format!("snapshot {}", id.short()))?;
    }
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(Stats {
        snapshots: snapshots.len() as u64,
        files: all.files,
        dirs: all.dirs,
        restore_size: all.bytes,
        unique_data_blobs: walker.blobs.len() as u64,
        raw_data_size: walker.raw,
        stored_size: walker.stored,
        dedup_ratio: ratio(all.bytes, walker.raw),
        compression_ratio: ratio(walker.raw, walker.stored),
    })
}

/// What lies below one tree node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Totals {
    files: u64,
    dirs: u64,
    bytes: u64,
}

impl AddAssign for Totals {
    fn add_assign(&mut self, o: Totals) {
        self.files += o.files;
        self.dirs += o.dirs;
        self.bytes += o.bytes;
    }
}

enum Items {
    Entries(std::vec::IntoIter<Entry>),
    Children(std::vec::IntoIter<BlobId>),
}

struct Frame {
    id: BlobId,
    items: Items,
    totals: Totals,
}

fn top_of(stack: &mut [Frame]) -> &mut Frame {
    stack.last_mut().expect("a frame until the root is done")
}

struct Walker<'r> {
    repo: &'r Indexed,
    /// Totals below every tree node walked so far.
    totals: HashMap<BlobId, Totals>,
    /// Data blobs counted.
    blobs: HashSet<BlobId>,
    /// Content lists expanded (all their blobs are counted).
    lists: HashSet<BlobId>,
    raw: u64,
    stored: u64,
}

impl Walker<'_> {
    fn open(&self, id: BlobId) -> Result<Frame> {
        let items = match self.repo.node(&id)? {
            Node::Leaf(entries) => Items::Entries(entries.into_iter()),
            Node::Branch(children) => Items::Children(
                children
                    .into_iter()
                    .map(|c| c.tree)
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            Node::Content(_) => return Err(not_a_directory(&id)),
        };
        Ok(Frame {
            id,
            items,
            totals: Totals::default(),
        })
    }

    /// Totals of the directory tree at `root`, counting its data blobs on the way.
    fn tree(&mut self, root: BlobId) -> Result<Totals> {
        if let Some(t) = self.totals.get(&root) {
            return Ok(*t);
        }
        let mut stack = vec![self.open(root)?];
        loop {
            let top = stack.last_mut().expect("a frame until the root is done");
            // `None`: the node is done; `Some(child)`: one more item, maybe a subtree to add.
            let next = match &mut top.items {
                Items::Entries(entries) => match entries.next() {
                    Some(entry) => {
                        self.entry(&entry, &mut top.totals).context(&entry.name)?;
                        Some(entry.subtree.filter(|_| entry.kind == EntryKind::Dir))
                    }
                    None => None,
                },
                Items::Children(children) => children.next().map(Some),
            };
            match next {
                None => {
                    let done = stack.pop().expect("the top frame");
                    self.totals.insert(done.id, done.totals);
                    match stack.last_mut() {
                        Some(parent) => parent.totals += done.totals,
                        None => return Ok(done.totals),
                    }
                }
                Some(Some(id)) => match self.totals.get(&id) {
                    Some(t) => top_of(&mut stack).totals += *t,
                    None => {
                        let frame = self.open(id)?;
                        stack.push(frame);
                    }
                },
                Some(None) => {}
            }
        }
    }

    fn entry(&mut self, entry: &Entry, totals: &mut Totals) -> Result<()> {
        match entry.kind {
            EntryKind::Dir => totals.dirs += 1,
            EntryKind::File => {
                totals.files += 1;
                totals.bytes += entry.size;
                self.content(&entry.content, 0)?;
            }
            EntryKind::Hardlink => {
                totals.files += 1;
                self.content(&entry.content, 0)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn content(&mut self, parts: &[ContentRef], depth: usize) -> Result<()> {
        if depth > 16 {
            return Err(Error::new(
                ErrorKind::Damaged,
                "content lists nest deeper than 16 levels",
            ));
        }
        for part in parts {
            match *part {
                ContentRef::Chunk { id, .. } => {
                    if self.blobs.insert(id) {
                        let loc = self.repo.locate(BlobKind::Data, &id)?;
                        self.raw += u64::from(loc.raw_len);
                        self.stored += u64::from(loc.length);
                    }
                }
                ContentRef::List { id, .. } => {
                    if self.lists.insert(id) {
                        match self.repo.node(&id)? {
                            Node::Content(sub) => self.content(&sub, depth + 1)?,
                            _ => {
                                return Err(Error::new(
                                    ErrorKind::Damaged,
                                    format!("tree {} should be a content list", id.short()),
                                ))
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::ls::fixture::{bytes, commit, dir, file, Item, CHUNK};
    use crate::testutil::memory_repo;

    #[test]
    fn counts_restore_size_per_snapshot_and_blobs_once() {
        let long = bytes(3, 80 * CHUNK);
        let first = dir(vec![
            ("a", file(&long)),
            ("d", dir(vec![("b", file(b"hello")), ("e", dir(vec![]))])),
            ("l", Item::Symlink("a".into())),
        ]);
        let (repo, id1, s1) = commit(&memory_repo(), &first, "2026-01-01T00:00:00Z");
        let one = stats(&repo, &[(id1, s1.clone())]).unwrap();
        assert_eq!((one.snapshots, one.files, one.dirs), (1, 2, 2));
        assert_eq!(one.restore_size, long.len() as u64 + 5);
        assert_eq!(one.unique_data_blobs, 81);
        assert_eq!(one.raw_data_size, one.restore_size);
        assert_eq!(one.dedup_ratio, 1.0);
        assert!(one.stored_size > 0);
        assert!(
            (one.compression_ratio - one.raw_data_size as f64 / one.stored_size as f64).abs()
                < 1e-9
        );

        // The same file again under another name, and a new small file: only that adds data.
        let second = dir(vec![
            ("a", file(&long)),
            ("copy", file(&long)),
            ("d", dir(vec![("b", file(b"hello")), ("e", dir(vec![]))])),
            ("n", file(b"new!")),
        ]);
        let (repo, id2, s2) = commit(&repo, &second, "2026-01-02T00:00:00Z");
        let both = stats(&repo, &[(id1, s1), (id2, s2)]).unwrap();
        assert_eq!((both.snapshots, both.files, both.dirs), (2, 6, 4));
        assert_eq!(both.restore_size, 3 * long.len() as u64 + 2 * 5 + 4);
        assert_eq!(both.unique_data_blobs, 82);
        assert_eq!(both.raw_data_size, long.len() as u64 + 5 + 4);
        assert!(
            (both.dedup_ratio - both.restore_size as f64 / both.raw_data_size as f64).abs() < 1e-9
        );
        assert_eq!(stats(&repo, &[]).unwrap(), Stats::default());
    }

    #[test]
    fn shared_pieces_of_a_large_directory_are_counted_right() {
        let items = |n: usize| -> Item {
            Item::Dir(
                (0..n)
                    .map(|i| (format!("f{i:05}"), file(format!("content {i}"))))
                    .collect(),
            )
        };
        let (repo, id1, s1) = commit(
            &memory_repo(),
            &dir(vec![("big", items(3000))]),
            "2026-01-01T00:00:00Z",
        );
        let (repo, id2, s2) = commit(
            &repo,
            &dir(vec![("big", items(3001))]),
            "2026-01-02T00:00:00Z",
        );
        let s = stats(&repo, &[(id1, s1), (id2, s2)]).unwrap();
        assert_eq!((s.files, s.dirs), (6001, 2));
        assert_eq!(s.unique_data_blobs, 3001);
        let one_size: u64 = (0..3000).map(|i| format!("content {i}").len() as u64).sum();
        assert_eq!(s.restore_size, 2 * one_size + "content 3000".len() as u64);
    }
}
