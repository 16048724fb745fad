//! A snapshot tree assembled in memory from entries whose content is already stored: manifests
//! written from memory, volumes archived from a path or unpacked from a tar stream. Only names and
//! metadata are held; file content goes to the repository as it arrives.

use std::collections::BTreeMap;

use cairn_repo_format::{BlobId, Entry, EntryKind, Name};

use crate::blob_writer::BlobWriter;
use crate::error::Result;
use crate::tree_writer::DirBuilder;

/// Owner and time given to files and directories made up by the backup (not read from a disk).
#[derive(Clone, Debug)]
pub struct Stamp {
    /// Owner id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Owner's name.
    pub user: String,
    /// Modification time, nanoseconds since the epoch.
    pub mtime: i64,
}

impl Stamp {
    /// The user running cairn, at `mtime`.
    pub fn current_user(mtime: i64) -> Stamp {
        // SAFETY: getuid and getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        Stamp {
            uid,
            gid,
            user: crate::sys::user_name(),
            mtime,
        }
    }

    /// A made-up entry of `kind` named `name` with `mode`, owned as the stamp says.
    pub fn entry(&self, name: Name, kind: EntryKind, mode: u32) -> Entry {
        let mut e = Entry::new(name, kind);
        e.mode = mode;
        e.uid = self.uid;
        e.gid = self.gid;
        e.user = self.user.clone();
        e.mtime = self.mtime;
        e.ctime = self.mtime;
        e
    }
}

enum Node {
    Dir(MemDir),
    Leaf(Entry),
}

/// A directory in memory. Directories given an entry of their own ([`MemDir::set_dir_entry`]) keep
/// its metadata; others are made up from a [`Stamp`] with mode 0700.
#[derive(Default)]
pub struct MemDir {
    meta: Option<Entry>,
    children: BTreeMap<Vec<u8>, Node>,
}

impl MemDir {
    /// An empty directory.
    pub fn new() -> Self {
        MemDir::default()
    }

    /// The directory at `path` below this one, created as needed. A file on the way is replaced.
    pub fn dir(&mut self, path: &[&[u8]]) -> &mut MemDir {
        let mut d = self;
        for part in path {
            let node = d
                .children
                .entry(part.to_vec())
                .or_insert_with(|| Node::Dir(MemDir::new()));
            if let Node::Leaf(_) = node {
                *node = Node::Dir(MemDir::new());
            }
            d = match node {
                Node::Dir(d) => d,
                Node::Leaf(_) => unreachable!("replaced by a directory just above"),
            };
        }
        d
    }

    /// Puts a complete entry (file, symlink, or directory with its subtree) under its name.
    pub fn put(&mut self, entry: Entry) {
        self.children
            .insert(entry.name.as_bytes().to_vec(), Node::Leaf(entry));
    }

    /// Gives this directory its own metadata (name and subtree are ignored).
    pub fn set_dir_entry(&mut self, entry: Entry) {
        self.meta = Some(entry);
    }

    /// Writes the tree bottom-up; returns its root node.
    pub fn write(self, writer: &BlobWriter, stamp: &Stamp) -> Result<BlobId> {
        let mut builder = DirBuilder::new(writer);
        for (name, node) in self.children {
            let entry = match node {
                Node::Leaf(e) => e,
                Node::Dir(d) => {
                    let mut e = match &d.meta {
                        Some(m) => Entry {
                            name: Name(name),
                            ..m.clone()
                        },
                        None => stamp.entry(Name(name), EntryKind::Dir, 0o700),
                    };
                    e.kind = EntryKind::Dir;
                    e.subtree = Some(d.write(writer, stamp)?);
                    e
                }
            };
            builder.push(entry)?;
        }
        builder.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{memory_repo, reopen};

    #[test]
    fn nested_directories_are_written_in_name_order_and_found_again() {
        let repo = memory_repo();
        let writer = BlobWriter::new(repo.clone());
        let stamp = Stamp::current_user(1_000_000_000);
        let mut root = MemDir::new();
        for path in ["b/x", "a/z", "a/y", "b/a/deep"] {
            let parts: Vec<&[u8]> = path.split('/').map(str::as_bytes).collect();
            let (file, dirs) = parts.split_last().unwrap();
            root.dir(dirs)
                .put(stamp.entry(Name(file.to_vec()), EntryKind::File, 0o600));
        }
        let tree = root.write(&writer, &stamp).unwrap();
        writer.finish().unwrap();
        let repo = reopen(&repo);
        for path in ["a/y", "a/z", "b/x", "b/a/deep"] {
            let e = repo.resolve(&tree, path).unwrap().expect(path);
            assert_eq!(e.mode, 0o600);
        }
        let a = repo.resolve(&tree, "a").unwrap().unwrap();
        assert_eq!((a.kind, a.mode), (EntryKind::Dir, 0o700));
    }
}
