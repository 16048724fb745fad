//! Which files need a lost blob: the snapshots walked again, skipping what is known to be whole.

use std::collections::{HashMap, HashSet};

use cairn_repo_format::{BlobId, BlobKind, ContentRef, Entry, EntryKind, Node, SnapshotId};

use super::trees::read_node;
use super::{AffectedFile, MAX_CONTENT_DEPTH};
use crate::commands::ls::{child_path, display_dir};
use crate::index::Index;
use crate::repository::Repository;

/// Finds the files and directories that need a lost blob, snapshot by snapshot. A node known to
/// need none is not read again.
pub(super) struct Affected<'a> {
    repo: &'a Repository,
    index: &'a Index,
    lost: &'a HashSet<(BlobKind, BlobId)>,
    /// Tree nodes below which nothing is lost.
    clean: HashSet<BlobId>,
    /// Content lists, and whether they need a lost blob.
    lists: HashMap<BlobId, bool>,
    out: Vec<AffectedFile>,
}

impl<'a> Affected<'a> {
    /// A walker for files that need one of `lost`.
    pub(super) fn new(
        repo: &'a Repository,
        index: &'a Index,
        lost: &'a HashSet<(BlobKind, BlobId)>,
    ) -> Self {
        Affected {
            repo,
            index,
            lost,
            clean: HashSet::new(),
            lists: HashMap::new(),
            out: Vec::new(),
        }
    }

    /// What was found, sorted and without duplicates.
    pub(super) fn finish(mut self) -> Vec<AffectedFile> {
        self.out.sort();
        self.out.dedup();
        self.out
    }
}

enum Items {
    Entries(std::vec::IntoIter<Entry>),
    Children(std::vec::IntoIter<BlobId>),
}

struct Frame {
    id: BlobId,
    dir: String,
    items: Items,
    dirty: bool,
}

enum Opened {
    Clean,
    Lost,
    Frame(Frame),
}

impl Affected<'_> {
    /// Records what in the snapshot with root `root` needs a lost blob.
    pub(super) fn snapshot(&mut self, snapshot: SnapshotId, root: BlobId) {
        let mut stack = match self.open(snapshot, root, String::new()) {
            Opened::Frame(f) => vec![f],
            Opened::Clean | Opened::Lost => return,
        };
        while let Some(top) = stack.last_mut() {
            let next = match &mut top.items {
                Items::Entries(entries) => entries.next().map(|e| {
                    let path = child_path(&top.dir, &e.name);
                    match (e.kind, e.subtree) {
                        (EntryKind::Dir, Some(sub)) => Some((sub, path)),
                        (EntryKind::File | EntryKind::Hardlink, _) => {
                            if self.needs_lost(&e.content, 0) {
                                self.out.push(AffectedFile { snapshot, path });
                                top.dirty = true;
                            }
                            None
                        }
                        _ => None,
                    }
                }),
                Items::Children(children) => children.next().map(|c| Some((c, top.dir.clone()))),
            };
            match next {
                None => {
                    let done = stack.pop().expect("the top frame");
                    match stack.last_mut() {
                        Some(parent) if done.dirty => parent.dirty = true,
                        _ if !done.dirty => {
                            self.clean.insert(done.id);
                        }
                        _ => {}
                    }
                }
                Some(Some((id, dir))) => match self.open(snapshot, id, dir) {
                    Opened::Clean => {}
                    Opened::Lost => stack.last_mut().expect("the parent").dirty = true,
                    Opened::Frame(f) => stack.push(f),
                },
                Some(None) => {}
            }
        }
    }

    /// Opens a directory node, or records the directory as affected when it cannot be read.
    fn open(&mut self, snapshot: SnapshotId, id: BlobId, dir: String) -> Opened {
        if self.clean.contains(&id) {
            return Opened::Clean;
        }
        let node = if self.lost.contains(&(BlobKind::Tree, id)) {
            None
        } else {
            read_node(self.repo, self.index, &id).ok()
        };
        let items = match node {
            Some(Node::Leaf(entries)) => Items::Entries(entries.into_iter()),
            Some(Node::Branch(children)) => Items::Children(
                children
                    .into_iter()
                    .map(|c| c.tree)
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            _ => {
                self.out.push(AffectedFile {
                    snapshot,
                    path: display_dir(&dir).to_string(),
                });
                return Opened::Lost;
            }
        };
        Opened::Frame(Frame {
            id,
            dir,
            items,
            dirty: false,
        })
    }

    /// Whether content needs a lost blob, or a content list that cannot be read.
    fn needs_lost(&mut self, parts: &[ContentRef], depth: usize) -> bool {
        if depth > MAX_CONTENT_DEPTH {
            return true;
        }
        for part in parts {
            let lost = match *part {
                ContentRef::Chunk { id, .. } => self.lost.contains(&(BlobKind::Data, id)),
                ContentRef::List { id, .. } => {
                    if self.lost.contains(&(BlobKind::Tree, id)) {
                        true
                    } else if let Some(known) = self.lists.get(&id) {
                        *known
                    } else {
                        let lost = match read_node(self.repo, self.index, &id) {
                            Ok(Node::Content(sub)) => self.needs_lost(&sub, depth + 1),
                            _ => true,
                        };
                        self.lists.insert(id, lost);
                        lost
                    }
                }
            };
            if lost {
                return true;
            }
        }
        false
    }
}
