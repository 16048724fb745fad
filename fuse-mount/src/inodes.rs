//! The inode table: what each inode number the kernel holds stands for, created when the kernel
//! looks a name up (or lists it with attributes) and dropped when the kernel forgets it.
//!
//! Numbers are never reused, so generations are always 0. Each inode counts its lookups as FUSE
//! asks (`nlookup`); when `forget` brings the count to zero the inode is gone, so the table holds
//! only what the kernel's dentry cache holds, whatever is browsed. Tree entries keep their metadata
//! but not their content list: opening a file looks it up again in its directory (cheap, through the
//! node cache). Files hard-linked on the source share one inode within a snapshot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use cairn_engine::format::{BlobId, Entry, EntryKind, Name, SnapshotId, Xattr};

use crate::layout::Dir;

/// An inode number.
pub(crate) type Ino = u64;

/// The root's inode number (fixed by FUSE).
pub(crate) const ROOT: Ino = 1;

/// What an inode stands for.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A directory of the layout.
    Layout(Dir),
    /// A `latest` symlink.
    Link(String),
    /// A snapshot's root directory.
    SnapshotRoot(SnapRoot),
    /// An entry of a snapshot's tree.
    Entry(Item),
}

/// A snapshot's root directory.
#[derive(Debug)]
pub(crate) struct SnapRoot {
    /// The snapshot.
    pub id: SnapshotId,
    /// Its root tree.
    pub tree: BlobId,
    /// Its time, nanoseconds since the epoch.
    pub time_ns: i64,
    /// The number the table gives its tree (for hard links).
    pub snap: u32,
}

/// An entry of a snapshot's tree, without its content list.
#[derive(Debug)]
pub(crate) struct Item {
    /// The number of the snapshot tree it is in.
    pub snap: u32,
    /// The directory tree that lists it (to find its content again).
    pub dir: BlobId,
    /// Its name in that directory.
    pub name: Name,
    /// Type.
    pub kind: EntryKind,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime: i64,
    /// Status change time, nanoseconds since the epoch.
    pub ctime: i64,
    /// Hard links on the source.
    pub links: u64,
    /// Device number of a device node.
    pub rdev: u64,
    /// A directory's listing.
    pub subtree: Option<BlobId>,
    /// A symlink's target.
    pub target: Option<Name>,
    /// Extended attributes.
    pub xattrs: Vec<Xattr>,
}

impl Item {
    /// The item for `entry`, listed by directory tree `dir` of snapshot tree number `snap`.
    pub(crate) fn new(snap: u32, dir: BlobId, entry: &Entry) -> Item {
        Item {
            snap,
            dir,
            name: entry.name.clone(),
            kind: entry.kind,
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            size: entry.size,
            mtime: entry.mtime,
            ctime: entry.ctime,
            links: entry.links,
            rdev: entry.rdev,
            subtree: entry.subtree,
            target: match entry.kind {
                EntryKind::Symlink => entry.target.clone(),
                _ => None,
            },
            xattrs: entry.xattrs.clone(),
        }
    }
}

impl Kind {
    /// True when an inode of kind `self` can stand for `other` (the name still means the same).
    fn same_as(&self, other: &Kind) -> bool {
        match (self, other) {
            (Kind::Layout(a), Kind::Layout(b)) => a == b,
            (Kind::Link(a), Kind::Link(b)) => a == b,
            (Kind::SnapshotRoot(a), Kind::SnapshotRoot(b)) => a.id == b.id,
            // Below a snapshot's root nothing ever changes.
            (Kind::Entry(_), Kind::Entry(_)) => true,
            _ => false,
        }
    }
}

/// Source device and inode of a hard-linked file, within one snapshot tree.
type LinkKey = (u32, u64, u64);

struct Node {
    kind: Arc<Kind>,
    nlookup: u64,
    names: Vec<(Ino, Name)>,
    link: Option<LinkKey>,
}

#[derive(Default)]
struct Inner {
    nodes: HashMap<Ino, Node>,
    names: HashMap<(Ino, Name), Ino>,
    links: HashMap<LinkKey, Ino>,
    snaps: HashMap<BlobId, u32>,
    next: Ino,
}

/// The table.
pub(crate) struct Inodes {
    inner: Mutex<Inner>,
}

impl Inodes {
    /// A table holding only the root.
    pub(crate) fn new() -> Inodes {
        let mut inner = Inner {
            next: ROOT + 1,
            ..Default::default()
        };
        inner.nodes.insert(
            ROOT,
            Node {
                kind: Arc::new(Kind::Layout(Dir::Root)),
                nlookup: 1,
                names: Vec::new(),
                link: None,
            },
        );
        Inodes {
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `ino` stands for, if the kernel still holds it.
    pub(crate) fn get(&self, ino: Ino) -> Option<Arc<Kind>> {
        self.lock().nodes.get(&ino).map(|n| n.kind.clone())
    }

    /// A small number for a snapshot tree, the same for the same tree.
    pub(crate) fn snap_number(&self, tree: &BlobId) -> u32 {
        let mut inner = self.lock();
        let next = inner.snaps.len() as u32;
        *inner.snaps.entry(*tree).or_insert(next)
    }

    /// The inode of `name` in `parent`, counting one lookup: the existing one when it still stands
    /// for the same thing (or, for a file hard-linked on the source, the inode of another of its
    /// names), else a new one made from `kind`.
    pub(crate) fn lookup(
        &self,
        parent: Ino,
        name: &Name,
        kind: Kind,
        source_inode: Option<(u64, u64)>,
    ) -> (Ino, Arc<Kind>) {
        let mut inner = self.lock();
        let key = (parent, name.clone());
        if let Some(&ino) = inner.names.get(&key) {
            if let Some(node) = inner.nodes.get_mut(&ino) {
                if node.kind.same_as(&kind) {
                    node.nlookup += 1;
                    return (ino, node.kind.clone());
                }
            }
        }
        let link = match (&kind, source_inode) {
            (Kind::Entry(item), Some((dev, ino)))
                if item.links > 1
                    && ino != 0
                    && matches!(item.kind, EntryKind::File | EntryKind::Hardlink) =>
            {
                Some((item.snap, dev, ino))
            }
            _ => None,
        };
        if let Some(existing) = link.and_then(|l| inner.links.get(&l).copied()) {
            if let Some(node) = inner.nodes.get_mut(&existing) {
                node.nlookup += 1;
                node.names.push(key.clone());
                let kind = node.kind.clone();
                inner.names.insert(key, existing);
                return (existing, kind);
            }
        }
        let ino = inner.next;
        inner.next += 1;
        let kind = Arc::new(kind);
        inner.nodes.insert(
            ino,
            Node {
                kind: kind.clone(),
                nlookup: 1,
                names: vec![key.clone()],
                link,
            },
        );
        inner.names.insert(key, ino);
        if let Some(l) = link {
            inner.links.insert(l, ino);
        }
        (ino, kind)
    }

    /// The kernel dropped `n` lookups of `ino`; at zero the inode is gone.
    pub(crate) fn forget(&self, ino: Ino, n: u64) {
        if ino == ROOT {
            return;
        }
        let mut inner = self.lock();
        let Some(node) = inner.nodes.get_mut(&ino) else {
            return;
        };
        node.nlookup = node.nlookup.saturating_sub(n);
        if node.nlookup > 0 {
            return;
        }
        let Some(node) = inner.nodes.remove(&ino) else {
            return;
        };
        for key in node.names {
            // The name may stand for a newer inode by now.
            if inner.names.get(&key) == Some(&ino) {
                inner.names.remove(&key);
            }
        }
        if let Some(l) = node.link {
            if inner.links.get(&l) == Some(&ino) {
                inner.links.remove(&l);
            }
        }
    }

    /// The inode of `name` in `parent` if the kernel holds one; counts nothing.
    pub(crate) fn find(&self, parent: Ino, name: &[u8]) -> Option<Ino> {
        self.lock()
            .names
            .get(&(parent, Name(name.to_vec())))
            .copied()
    }

    /// Number of inodes held (the root included).
    pub(crate) fn len(&self) -> usize {
        self.lock().nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, links: u64) -> (Kind, Option<(u64, u64)>) {
        let mut e = Entry::new(Name::new(name), EntryKind::File);
        e.links = links;
        (
            Kind::Entry(Item::new(0, BlobId([9; 32]), &e)),
            Some((5, 77)),
        )
    }

    #[test]
    fn lookups_reuse_inodes_until_forgotten() {
        let t = Inodes::new();
        let (k, s) = file("a", 1);
        let (a, _) = t.lookup(ROOT, &Name::new("a"), k, s);
        let (k, s) = file("a", 1);
        assert_eq!(t.lookup(ROOT, &Name::new("a"), k, s).0, a);
        assert_eq!(t.len(), 2);
        t.forget(a, 1);
        assert!(t.get(a).is_some(), "one lookup is left");
        t.forget(a, 1);
        assert!(t.get(a).is_none());
        let (k, s) = file("a", 1);
        assert_ne!(
            t.lookup(ROOT, &Name::new("a"), k, s).0,
            a,
            "numbers are not reused"
        );
        t.forget(ROOT, 100);
        assert!(t.get(ROOT).is_some(), "the root stays");
    }

    #[test]
    fn hard_links_share_an_inode_and_changed_layout_names_get_new_ones() {
        let t = Inodes::new();
        let (k, s) = file("x", 2);
        let (x, _) = t.lookup(ROOT, &Name::new("x"), k, s);
        let (k, s) = file("y", 2);
        let (y, _) = t.lookup(ROOT, &Name::new("y"), k, s);
        assert_eq!(x, y);
        t.forget(x, 2);
        assert_eq!(t.len(), 1);

        let name = Name::new("latest");
        let (l1, _) = t.lookup(ROOT, &name, Kind::Link("a".into()), None);
        let (l2, _) = t.lookup(ROOT, &name, Kind::Link("b".into()), None);
        assert_ne!(l1, l2);
        t.forget(l1, 1);
        let (l3, _) = t.lookup(ROOT, &name, Kind::Link("b".into()), None);
        assert_eq!(l2, l3, "forgetting the old inode keeps the name's new one");
    }
}
