//! `cairn diff`: what changed between two snapshots.
//!
//! The two trees are merge-joined directory by directory in name order. Whatever has the same id on
//! both sides is skipped without being read: a whole subtree, and inside a large directory split into
//! pieces, every piece (leaf or branch) that both sides share. Because pieces are cut at
//! content-defined boundaries, a change to one entry of a directory of a million entries reads the
//! few pieces around it, not the whole directory.

use std::cmp::Ordering;

use cairn_repo_format::{BlobId, Entry, EntryKind, Name, Node, Snapshot};
use serde::Serialize;

use crate::commands::ls::{child_path, display_dir};
use crate::error::{Result, ResultExt};
use crate::indexed::not_a_directory;
use crate::indexed::Indexed;

/// How an entry differs between the two snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Only in the second snapshot (restic's `+`).
    Added,
    /// Only in the first snapshot (`-`).
    Removed,
    /// Same type, different content: a file's data, a link's target, a device's number (`M`).
    Modified,
    /// The entry changed type, e.g. a file became a directory (`T`).
    TypeChanged,
    /// Same content, but mode, owner, modification time or extended attributes differ (`U`).
    MetadataOnly,
}

/// One changed path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Full snapshot path, e.g. `/home/a`.
    pub path: String,
    /// What changed.
    pub kind: ChangeKind,
}

/// What [`diff`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    /// Every change, depth first in name order (a directory before what is below it). An added or
    /// removed directory is followed by every entry below it.
    pub changes: Vec<Change>,
    /// Files (and hard links) present in the second snapshot only, counting those below added
    /// directories and the new side of a type change.
    pub added_files: u64,
    /// Files (and hard links) present in the first snapshot only, likewise.
    pub removed_files: u64,
    /// Total size of the added regular files (hard links add no bytes).
    pub added_bytes: u64,
    /// Total size of the removed regular files.
    pub removed_bytes: u64,
}

/// Compares snapshot `a` (older) with `b` (newer).
pub fn diff(repo: &Indexed, a: &Snapshot, b: &Snapshot) -> Result<DiffReport> {
    let mut report = DiffReport::default();
    if a.tree == b.tree {
        return Ok(report);
    }
    let mut stack = vec![Frame {
        path: String::new(),
        a: Cursor::new(repo, Some(a.tree)),
        b: Cursor::new(repo, Some(b.tree)),
    }];
    while let Some(frame) = stack.last_mut() {
        let Some(step) = decide(frame.a.peek(), frame.b.peek()) else {
            stack.pop();
            continue;
        };
        let context = display_dir(&frame.path).to_string();
        let push = match step {
            Step::ExpandA => frame.a.expand().context(&context).map(|_| None)?,
            Step::ExpandB => frame.b.expand().context(&context).map(|_| None)?,
            Step::SkipBoth => {
                frame.a.pop();
                frame.b.pop();
                None
            }
            Step::OnlyA => {
                let old = frame.a.pop_entry();
                let path = child_path(&frame.path, &old.name);
                report.one_sided(path, &old, Side::Removed)
            }
            Step::OnlyB => {
                let new = frame.b.pop_entry();
                let path = child_path(&frame.path, &new.name);
                report.one_sided(path, &new, Side::Added)
            }
            Step::Both => {
                let (old, new) = (frame.a.pop_entry(), frame.b.pop_entry());
                let path = child_path(&frame.path, &new.name);
                report.compare(path, &old, &new)
            }
        };
        if let Some((path, old, new)) = push {
            stack.push(Frame {
                path,
                a: Cursor::new(repo, old),
                b: Cursor::new(repo, new),
            });
        }
    }
    Ok(report)
}

/// A directory to compare: its path and a cursor over each side (empty for an added or removed
/// directory).
struct Frame<'a> {
    path: String,
    a: Cursor<'a>,
    b: Cursor<'a>,
}

/// A subdirectory comparison to start: path, old subtree, new subtree.
type Push = Option<(String, Option<BlobId>, Option<BlobId>)>;

enum Side {
    Added,
    Removed,
}

impl DiffReport {
    fn push(&mut self, path: &str, kind: ChangeKind) {
        self.changes.push(Change {
            path: path.to_string(),
            kind,
        });
    }

    fn count(&mut self, entry: &Entry, side: &Side) {
        if !matches!(entry.kind, EntryKind::File | EntryKind::Hardlink) {
            return;
        }
        let bytes = if entry.kind == EntryKind::File {
            entry.size
        } else {
            0
        };
        match side {
            Side::Added => {
                self.added_files += 1;
                self.added_bytes += bytes;
            }
            Side::Removed => {
                self.removed_files += 1;
                self.removed_bytes += bytes;
            }
        }
    }

    /// An entry on one side only; a directory's contents follow.
    fn one_sided(&mut self, path: String, entry: &Entry, side: Side) -> Push {
        let kind = match side {
            Side::Added => ChangeKind::Added,
            Side::Removed => ChangeKind::Removed,
        };
        self.push(&path, kind);
        self.count(entry, &side);
        let subtree = entry.subtree.filter(|_| entry.kind == EntryKind::Dir)?;
        Some(match side {
            Side::Added => (path, None, Some(subtree)),
            Side::Removed => (path, Some(subtree), None),
        })
    }

    /// An entry present on both sides.
    fn compare(&mut self, path: String, old: &Entry, new: &Entry) -> Push {
        if old.kind != new.kind {
            self.push(&path, ChangeKind::TypeChanged);
            self.count(old, &Side::Removed);
            self.count(new, &Side::Added);
            let old_dir = old.subtree.filter(|_| old.kind == EntryKind::Dir);
            let new_dir = new.subtree.filter(|_| new.kind == EntryKind::Dir);
            return (old_dir.is_some() || new_dir.is_some()).then_some((path, old_dir, new_dir));
        }
        if content_differs(old, new) {
            self.push(&path, ChangeKind::Modified);
        } else if metadata_differs(old, new) {
            self.push(&path, ChangeKind::MetadataOnly);
        }
        match (old.kind, old.subtree, new.subtree) {
            (EntryKind::Dir, Some(x), Some(y)) if x != y => Some((path, Some(x), Some(y))),
            _ => None,
        }
    }
}

/// What a user would call the entry's content; for a directory, its own entry only (the subtree is
/// compared entry by entry).
fn content_differs(old: &Entry, new: &Entry) -> bool {
    match old.kind {
        EntryKind::File | EntryKind::Hardlink => {
            old.content != new.content || old.size != new.size || old.target != new.target
        }
        EntryKind::Symlink => old.target != new.target,
        EntryKind::Chardev | EntryKind::Blockdev => old.rdev != new.rdev,
        EntryKind::Dir | EntryKind::Fifo | EntryKind::Socket => false,
    }
}

fn metadata_differs(old: &Entry, new: &Entry) -> bool {
    old.mode != new.mode
        || old.uid != new.uid
        || old.gid != new.gid
        || old.user != new.user
        || old.group != new.group
        || old.mtime != new.mtime
        || old.xattrs != new.xattrs
}

/// The next thing on one side of a directory: a tree node not read yet, or an entry.
enum Item {
    Node {
        id: BlobId,
        /// Smallest name below the node; `None` for a directory's root node.
        first: Option<Name>,
        /// Entries below the node (unknown for a root node: `u64::MAX`).
        count: u64,
    },
    Entry(Entry),
}

/// One side of a directory in name order, with unread nodes kept whole until they must be opened.
struct Cursor<'a> {
    repo: &'a Indexed,
    /// Reversed: the next item is last.
    stack: Vec<Item>,
}

impl<'a> Cursor<'a> {
    fn new(repo: &'a Indexed, root: Option<BlobId>) -> Self {
        let stack = root
            .map(|id| Item::Node {
                id,
                first: None,
                count: u64::MAX,
            })
            .into_iter()
            .collect();
        Cursor { repo, stack }
    }

    fn peek(&self) -> Option<&Item> {
        self.stack.last()
    }

    fn pop(&mut self) {
        self.stack.pop();
    }

    fn pop_entry(&mut self) -> Entry {
        match self.stack.pop() {
            Some(Item::Entry(e)) => e,
            _ => unreachable!("decide() only pops entries that it saw"),
        }
    }

    /// Replaces the next item, a node, by what it holds.
    fn expand(&mut self) -> Result<()> {
        let Some(Item::Node { id, .. }) = self.stack.pop() else {
            unreachable!("decide() only expands nodes")
        };
        #[cfg(test)]
        tests::EXPANDED.with(|n| n.set(n.get() + 1));
        match self.repo.node(&id)? {
            Node::Leaf(entries) => self
                .stack
                .extend(entries.into_iter().rev().map(Item::Entry)),
            Node::Branch(children) => {
                self.stack
                    .extend(children.into_iter().rev().map(|c| Item::Node {
                        id: c.tree,
                        first: Some(c.first),
                        count: c.count,
                    }))
            }
            Node::Content(_) => return Err(not_a_directory(&id)),
        }
        Ok(())
    }
}

enum Step {
    ExpandA,
    ExpandB,
    SkipBoth,
    OnlyA,
    OnlyB,
    Both,
}

/// The next step of the merge join, or `None` when both sides are done.
fn decide(a: Option<&Item>, b: Option<&Item>) -> Option<Step> {
    use Item::{Entry as E, Node as N};
    Some(match (a, b) {
        (None, None) => return None,
        (Some(N { .. }), None) => Step::ExpandA,
        (Some(E(_)), None) => Step::OnlyA,
        (None, Some(N { .. })) => Step::ExpandB,
        (None, Some(E(_))) => Step::OnlyB,
        (
            Some(N {
                id: x,
                first: fa,
                count: ca,
            }),
            Some(N {
                id: y,
                first: fb,
                count: cb,
            }),
        ) => {
            if x == y {
                // Same node, same entries, and both are next on their side: nothing changed there.
                Step::SkipBoth
            } else {
                match fa.cmp(fb) {
                    Ordering::Less => Step::ExpandA,
                    Ordering::Greater => Step::ExpandB,
                    // Open the bigger one: its pieces may then line up with the other side's.
                    Ordering::Equal if ca >= cb => Step::ExpandA,
                    Ordering::Equal => Step::ExpandB,
                }
            }
        }
        (Some(E(e)), Some(N { first, .. })) => {
            if first.as_ref().is_some_and(|f| e.name < *f) {
                Step::OnlyA
            } else {
                Step::ExpandB
            }
        }
        (Some(N { first, .. }), Some(E(e))) => {
            if first.as_ref().is_some_and(|f| e.name < *f) {
                Step::OnlyB
            } else {
                Step::ExpandA
            }
        }
        (Some(E(x)), Some(E(y))) => match x.name.cmp(&y.name) {
            Ordering::Less => Step::OnlyA,
            Ordering::Greater => Step::OnlyB,
            Ordering::Equal => Step::Both,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::ls::fixture::{bytes, commit, dir, file, file_mode, Item};
    use crate::testutil::memory_repo;

    thread_local! {
        /// Tree nodes the cursors of this thread opened.
        pub(super) static EXPANDED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn changes(report: &DiffReport) -> Vec<(String, ChangeKind)> {
        report
            .changes
            .iter()
            .map(|c| (c.path.clone(), c.kind))
            .collect()
    }

    fn c(path: &str, kind: ChangeKind) -> (String, ChangeKind) {
        (path.to_string(), kind)
    }

    #[test]
    fn reports_each_kind_of_change_in_path_order() {
        let old = dir(vec![
            ("same", dir(vec![("f", file(bytes(1, 3000)))])),
            ("mod", file(b"old content")),
            ("meta", file_mode(b"x", 0o644)),
            (
                "gone",
                dir(vec![
                    ("a", file(b"12345")),
                    ("sub", dir(vec![("b", file(b"1"))])),
                ]),
            ),
            ("typ", file(b"was a file")),
            ("link", Item::Symlink("a".into())),
        ]);
        let new = dir(vec![
            ("same", dir(vec![("f", file(bytes(1, 3000)))])),
            ("mod", file(b"new content!")),
            ("meta", file_mode(b"x", 0o600)),
            ("new", dir(vec![("n", file(b"abc"))])),
            ("typ", dir(vec![("inside", file(b"zz"))])),
            ("link", Item::Symlink("b".into())),
        ]);
        let (repo, _, a) = commit(&memory_repo(), &old, "2026-01-01T00:00:00Z");
        let (repo, _, b) = commit(&repo, &new, "2026-01-02T00:00:00Z");
        let report = diff(&repo, &a, &b).unwrap();
        use ChangeKind::*;
        assert_eq!(
            changes(&report),
            [
                c("/gone", Removed),
                c("/gone/a", Removed),
                c("/gone/sub", Removed),
                c("/gone/sub/b", Removed),
                c("/link", Modified),
                c("/meta", MetadataOnly),
                c("/mod", Modified),
                c("/new", Added),
                c("/new/n", Added),
                c("/typ", TypeChanged),
                c("/typ/inside", Added),
            ]
        );
        assert_eq!((report.added_files, report.added_bytes), (2, 5));
        assert_eq!((report.removed_files, report.removed_bytes), (3, 16));
        let back = diff(&repo, &b, &a).unwrap();
        assert_eq!(back.added_files, report.removed_files);
        assert!(back.changes.contains(&Change {
            path: "/new".into(),
            kind: Removed
        }));
        assert!(diff(&repo, &a, &a).unwrap().changes.is_empty());
    }

    #[test]
    fn finds_the_one_change_in_a_directory_split_into_pieces() {
        let names: Vec<String> = (0..5000).map(|i| format!("e{i:05}")).collect();
        let big = |changed: &str, extra: Option<&str>| {
            let mut items: Vec<(String, Item)> = names
                .iter()
                .map(|n| {
                    let data = if n == changed {
                        b"v2".to_vec()
                    } else {
                        Vec::new()
                    };
                    (n.clone(), file(data))
                })
                .collect();
            if let Some(x) = extra {
                items.push((x.to_string(), file(b"extra")));
            }
            dir(vec![("big", Item::Dir(items))])
        };
        let (repo, _, a) = commit(&memory_repo(), &big("", None), "2026-01-01T00:00:00Z");
        let (repo, _, b) = commit(
            &repo,
            &big("e02500", Some("e02500x")),
            "2026-01-02T00:00:00Z",
        );
        EXPANDED.with(|n| n.set(0));
        let report = diff(&repo, &a, &b).unwrap();
        let opened = EXPANDED.with(|n| n.get());
        let root = repo.lookup(&a.tree, &Name::new("big")).unwrap().unwrap();
        let Node::Branch(pieces) = repo.node(&root.subtree.unwrap()).unwrap() else {
            panic!("a directory of 5000 entries is split")
        };
        // Two roots, two top directories and the pieces around the change, not every piece twice.
        assert!(pieces.len() >= 5, "{} pieces", pieces.len());
        assert!(
            opened <= 4 + 2 * 2,
            "opened {opened} nodes for {} pieces",
            pieces.len()
        );
        assert_eq!(
            changes(&report),
            [
                c("/big/e02500", ChangeKind::Modified),
                c("/big/e02500x", ChangeKind::Added)
            ]
        );
        assert_eq!((report.added_files, report.added_bytes), (1, 5));
        // And against a snapshot that has the directory whole, in one leaf.
        let small: Vec<(String, Item)> =
            names[..10].iter().map(|n| (n.clone(), file(b""))).collect();
        let (repo, _, c2) = commit(
            &repo,
            &dir(vec![("big", Item::Dir(small))]),
            "2026-01-03T00:00:00Z",
        );
        let report = diff(&repo, &a, &c2).unwrap();
        assert_eq!(report.removed_files, 4990);
        assert!(report.changes.iter().all(|c| c.kind == ChangeKind::Removed));
        assert_eq!(report.changes[0].path, "/big/e00010");
    }
}
