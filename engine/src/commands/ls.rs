//! `cairn ls`: the entries of a snapshot, or of one directory or file in it, with their full paths.
//!
//! Directories are read piece by piece ([`Indexed::dir_entries`]), so listing a directory of millions
//! of entries holds one leaf at a time; a recursive listing holds one leaf per level of depth.

use cairn_repo_format::{Entry, EntryKind, Name, Snapshot};

use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::indexed::{DirEntries, Indexed};

/// Lists `snapshot` below `path` (the root when `None`), calling `visit` with each entry and its full
/// snapshot path (`/home/a`), depth first in name order.
///
/// When `path` names an entry other than the root, that entry is visited first (so listing a file
/// shows the file), then, for a directory, its entries. Without `recursive` only the directory's own
/// entries are visited; with it, everything below, each directory before its contents, as restic's
/// `ls` does. A path that does not exist in the snapshot is [`ErrorKind::NotFound`]. An error from
/// `visit` stops the listing and is returned.
pub fn ls(
    repo: &Indexed,
    snapshot: &Snapshot,
    path: Option<&str>,
    recursive: bool,
    visit: &mut dyn FnMut(&str, &Entry) -> Result<()>,
) -> Result<()> {
    let parts: Vec<&str> = path
        .unwrap_or("/")
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() {
        return walk(repo, snapshot.tree, String::new(), recursive, visit);
    }
    let relative = parts.join("/");
    let full = format!("/{relative}");
    let entry = repo
        .resolve(&snapshot.tree, &relative)
        .context(&full)?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("{full}: no such file or directory in the snapshot"),
            )
        })?;
    visit(&full, &entry)?;
    match (entry.kind, entry.subtree) {
        (EntryKind::Dir, Some(subtree)) => walk(repo, subtree, full, recursive, visit),
        _ => Ok(()),
    }
}

/// The snapshot path of `name` in the directory at `dir` (`""` for the root).
pub(crate) fn child_path(dir: &str, name: &Name) -> String {
    format!("{dir}/{name}")
}

/// How a directory path is shown: the root, whose path is empty inside the walkers, as `/`.
pub(crate) fn display_dir(dir: &str) -> &str {
    if dir.is_empty() {
        "/"
    } else {
        dir
    }
}

fn walk(
    repo: &Indexed,
    dir: cairn_repo_format::BlobId,
    dir_path: String,
    recursive: bool,
    visit: &mut dyn FnMut(&str, &Entry) -> Result<()>,
) -> Result<()> {
    let mut stack: Vec<(DirEntries<'_>, String)> = vec![(repo.dir_entries(&dir), dir_path)];
    loop {
        let (next, parent) = match stack.last_mut() {
            None => return Ok(()),
            Some((entries, path)) => (entries.next(), path),
        };
        let entry = match next {
            None => {
                stack.pop();
                continue;
            }
            Some(entry) => entry.context(display_dir(parent))?,
        };
        let path = child_path(parent, &entry.name);
        visit(&path, &entry)?;
        if recursive && entry.kind == EntryKind::Dir {
            if let Some(subtree) = entry.subtree {
                stack.push((repo.dir_entries(&subtree), path));
            }
        }
    }
}

/// Builds trees and snapshots directly for the unit tests of the commands.
#[cfg(test)]
pub(crate) mod fixture {
    use cairn_repo_format::{
        BlobId, BlobKind, Entry, EntryKind, Name, Snapshot, SnapshotId, Source, FORMAT_VERSION,
    };

    use crate::{testutil, BlobWriter, ContentBuilder, DirBuilder, Indexed};

    /// Chunk size of fixture files: a file of more than 64 chunks gets content lists.
    pub(crate) const CHUNK: usize = 1000;

    /// Something to write into a tree.
    #[derive(Clone, Debug)]
    pub(crate) enum Item {
        File { data: Vec<u8>, mode: u32 },
        Dir(Vec<(String, Item)>),
        Symlink(String),
    }

    pub(crate) fn file(data: impl AsRef<[u8]>) -> Item {
        Item::File {
            data: data.as_ref().to_vec(),
            mode: 0o644,
        }
    }

    pub(crate) fn file_mode(data: impl AsRef<[u8]>, mode: u32) -> Item {
        Item::File {
            data: data.as_ref().to_vec(),
            mode,
        }
    }

    pub(crate) fn dir(items: Vec<(&str, Item)>) -> Item {
        Item::Dir(items.into_iter().map(|(n, i)| (n.to_string(), i)).collect())
    }

    /// `len` bytes that differ with `seed`.
    pub(crate) fn bytes(seed: u32, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    fn entry(w: &BlobWriter, name: &str, item: &Item) -> Entry {
        match item {
            Item::File { data, mode } => {
                let mut e = Entry::new(Name::new(name), EntryKind::File);
                let mut content = ContentBuilder::new(w);
                for chunk in data.chunks(CHUNK) {
                    let (id, _) = w.add(BlobKind::Data, chunk).unwrap();
                    content.push(id, chunk.len() as u64).unwrap();
                }
                e.content = content.finish().unwrap();
                e.size = data.len() as u64;
                e.mode = *mode;
                e.mtime = 1_700_000_000_000_000_000;
                e
            }
            Item::Dir(items) => {
                let mut e = Entry::new(Name::new(name), EntryKind::Dir);
                e.subtree = Some(write_dir(w, items));
                e.mode = 0o755;
                e
            }
            Item::Symlink(target) => {
                let mut e = Entry::new(Name::new(name), EntryKind::Symlink);
                e.target = Some(Name::new(target.as_str()));
                e.mode = 0o777;
                e
            }
        }
    }

    pub(crate) fn write_dir(w: &BlobWriter, items: &[(String, Item)]) -> BlobId {
        let mut sorted: Vec<&(String, Item)> = items.iter().collect();
        sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut builder = DirBuilder::new(w);
        for (name, item) in sorted {
            builder.push(entry(w, name, item)).unwrap();
        }
        builder.finish().unwrap()
    }

    /// Writes `root` (a directory) and a snapshot of it taken at `time`; returns the repository
    /// reopened with its index reloaded, the snapshot's id and the snapshot.
    pub(crate) fn commit(
        repo: &Indexed,
        root: &Item,
        time: &str,
    ) -> (Indexed, SnapshotId, Snapshot) {
        let Item::Dir(items) = root else {
            panic!("the root must be a directory")
        };
        let writer = BlobWriter::new(repo.clone());
        let tree = write_dir(&writer, items);
        writer.finish().unwrap();
        let snap = Snapshot {
            version: FORMAT_VERSION,
            time: time.parse().unwrap(),
            host: "host".into(),
            username: "user".into(),
            tags: vec![],
            paths: vec!["/".into()],
            excludes: vec![],
            parent: None,
            original: None,
            tree,
            source: Source::Files,
            summary: Default::default(),
            program_version: "cairn test".into(),
        };
        let id = repo.save_snapshot(&snap).unwrap();
        (testutil::reopen(repo), id, snap)
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{bytes, commit, dir, file, Item};
    use super::*;
    use crate::testutil::memory_repo;

    fn list(repo: &Indexed, snap: &Snapshot, path: Option<&str>, recursive: bool) -> Vec<String> {
        let mut out = Vec::new();
        ls(repo, snap, path, recursive, &mut |p, _| {
            out.push(p.to_string());
            Ok(())
        })
        .unwrap();
        out
    }

    fn sample() -> Item {
        dir(vec![
            (
                "home",
                dir(vec![
                    ("b.txt", file(b"bee")),
                    ("a", dir(vec![("x", file(bytes(1, 5000)))])),
                ]),
            ),
            ("etc", dir(vec![("passwd", file(b"root"))])),
            ("link", Item::Symlink("home/a".into())),
        ])
    }

    #[test]
    fn lists_recursively_in_name_order_with_full_paths() {
        let (repo, _, snap) = commit(&memory_repo(), &sample(), "2026-01-01T00:00:00Z");
        assert_eq!(
            list(&repo, &snap, None, true),
            [
                "/etc",
                "/etc/passwd",
                "/home",
                "/home/a",
                "/home/a/x",
                "/home/b.txt",
                "/link"
            ]
        );
        assert_eq!(
            list(&repo, &snap, Some("/"), false),
            ["/etc", "/home", "/link"]
        );
    }

    #[test]
    fn lists_below_a_path_and_a_single_file() {
        let (repo, _, snap) = commit(&memory_repo(), &sample(), "2026-01-01T00:00:00Z");
        assert_eq!(
            list(&repo, &snap, Some("/home/"), false),
            ["/home", "/home/a", "/home/b.txt"]
        );
        assert_eq!(
            list(&repo, &snap, Some("home"), true),
            ["/home", "/home/a", "/home/a/x", "/home/b.txt"]
        );
        let mut sizes = Vec::new();
        ls(&repo, &snap, Some("/home/a/x"), true, &mut |p, e| {
            sizes.push((p.to_string(), e.size));
            Ok(())
        })
        .unwrap();
        assert_eq!(sizes, [("/home/a/x".to_string(), 5000)]);
    }

    #[test]
    fn a_missing_path_is_not_found_and_visit_errors_stop_the_listing() {
        let (repo, _, snap) = commit(&memory_repo(), &sample(), "2026-01-01T00:00:00Z");
        for missing in ["/nope", "/home/b.txt/x", "/home/zzz"] {
            let err = ls(&repo, &snap, Some(missing), true, &mut |_, _| Ok(())).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound, "{missing}");
        }
        let mut seen = 0;
        let err = ls(&repo, &snap, None, true, &mut |_, _| {
            seen += 1;
            Err(Error::new(ErrorKind::Interrupted, "stop"))
        })
        .unwrap_err();
        assert_eq!((err.kind(), seen), (ErrorKind::Interrupted, 1));
    }

    #[test]
    fn lists_a_directory_split_into_pieces_in_order() {
        let names: Vec<String> = (0..3000).map(|i| format!("f{i:05}")).collect();
        let big = Item::Dir(names.iter().map(|n| (n.clone(), file(b""))).collect());
        let (repo, _, snap) = commit(
            &memory_repo(),
            &dir(vec![("big", big)]),
            "2026-01-01T00:00:00Z",
        );
        let root = repo.lookup(&snap.tree, &Name::new("big")).unwrap().unwrap();
        assert!(matches!(
            repo.node(&root.subtree.unwrap()).unwrap(),
            cairn_repo_format::Node::Branch(_)
        ));
        let listed = list(&repo, &snap, Some("/big"), false);
        let expected: Vec<String> = std::iter::once("/big".to_string())
            .chain(names.iter().map(|n| format!("/big/{n}")))
            .collect();
        assert_eq!(listed, expected);
    }
}
