//! `cairn find`: entries of snapshots by name or path pattern, and files that hold given data blobs.
//!
//! Both walk the snapshots' trees one node (leaf or branch piece) at a time and share work between
//! snapshots. A pattern search remembers which nodes held no match (for patterns on full paths, at
//! which directory path), so a subtree unchanged since an earlier snapshot is not read again unless it
//! matched; a blob search reads every node once over all snapshots.

use std::collections::{HashMap, HashSet};

use cairn_repo_format::{BlobId, ContentRef, Entry, EntryKind, Node, Snapshot, SnapshotId};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Serialize;

use crate::commands::ls::child_path;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::indexed::not_a_directory;
use crate::indexed::Indexed;

/// An entry that matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FindMatch {
    /// The snapshot it is in.
    pub snapshot: SnapshotId,
    /// Its full path in the snapshot, e.g. `/home/a`.
    pub path: String,
    /// The entry.
    pub entry: Entry,
}

/// Calls `visit` with every entry of `snapshots` that matches one of `patterns`, snapshot by snapshot
/// in the order given, each depth first in name order.
///
/// Patterns are globs (`*`, `?`, `[...]`, `{a,b}`, `**`). A pattern without `/` is matched against
/// the entry's name; one with `/` against its full path, where `*` stops at `/` and `**` crosses it. A
/// path pattern that does not start with `/` may match the end of a path (`a/*.txt` matches
/// `/x/a/b.txt`). An invalid pattern, or none, is [`ErrorKind::InvalidInput`].
pub fn find(
    repo: &Indexed,
    snapshots: &[(SnapshotId, Snapshot)],
    patterns: &[String],
    visit: &mut dyn FnMut(FindMatch) -> Result<()>,
) -> Result<()> {
    let matcher = Matcher::new(patterns)?;
    let mut search = PatternSearch {
        matcher,
        no_match: HashSet::new(),
        snapshot: SnapshotId::default(),
        visit,
    };
    for (id, snap) in snapshots {
        search.snapshot = *id;
        walk(repo, snap.tree, &mut search).context(format!("snapshot {}", id.short()))?;
    }
    Ok(())
}

/// Finds the files (and hard links) of `snapshots` whose content holds one of the data blobs
/// `blob_ids`, as restic's `find --blob`. A subtree already searched in an earlier snapshot is not
/// searched again, so a file is reported in the first snapshot (in the order given) that holds it
/// where it is. Use [`resolve_blob_prefixes`] to turn short ids into blob ids.
pub fn find_blobs(
    repo: &Indexed,
    snapshots: &[(SnapshotId, Snapshot)],
    blob_ids: &[BlobId],
) -> Result<Vec<FindMatch>> {
    let mut search = BlobSearch {
        repo,
        wanted: blob_ids.iter().copied().collect(),
        seen_nodes: HashSet::new(),
        lists: HashMap::new(),
        snapshot: SnapshotId::default(),
        found: Vec::new(),
    };
    if search.wanted.is_empty() {
        return Ok(Vec::new());
    }
    for (id, snap) in snapshots {
        search.snapshot = *id;
        walk(repo, snap.tree, &mut search).context(format!("snapshot {}", id.short()))?;
    }
    Ok(search.found)
}

/// The data blobs of the index whose hex id starts with one of `prefixes` (case-insensitive). A
/// prefix that is not hex is [`ErrorKind::InvalidInput`]; one that matches no data blob is
/// [`ErrorKind::NotFound`]. A short prefix may match several blobs; all are returned, in id order.
pub fn resolve_blob_prefixes(repo: &Indexed, prefixes: &[String]) -> Result<Vec<BlobId>> {
    let prefixes: Vec<String> = prefixes.iter().map(|p| p.to_ascii_lowercase()).collect();
    if let Some(bad) = prefixes
        .iter()
        .find(|p| p.is_empty() || p.len() > 64 || !p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{bad:?} is not a blob id or a prefix of one (hex digits)"),
        ));
    }
    let mut hits = vec![false; prefixes.len()];
    let mut out = Vec::new();
    for (id, _) in repo.index().blobs(cairn_repo_format::BlobKind::Data) {
        let hex = id.to_hex();
        let mut any = false;
        for (p, hit) in prefixes.iter().zip(hits.iter_mut()) {
            if hex.starts_with(p.as_str()) {
                *hit = true;
                any = true;
            }
        }
        if any {
            out.push(id);
        }
    }
    if let Some((p, _)) = prefixes.iter().zip(&hits).find(|(_, hit)| !**hit) {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("no data blob in the index has an id starting with {p}"),
        ));
    }
    Ok(out)
}

/// Compiled patterns: those matched against names, and those matched against full paths.
struct Matcher {
    names: GlobSet,
    paths: GlobSet,
}

impl Matcher {
    fn new(patterns: &[String]) -> Result<Self> {
        if patterns.is_empty() {
            return Err(Error::new(ErrorKind::InvalidInput, "no pattern to find"));
        }
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        for pattern in patterns {
            let trimmed = if pattern.len() > 1 {
                pattern.trim_end_matches('/')
            } else {
                pattern.as_str()
            };
            let (set, glob) = if !trimmed.contains('/') {
                (&mut names, trimmed.to_string())
            } else if trimmed.starts_with('/') {
                (&mut paths, trimmed.to_string())
            } else {
                (&mut paths, format!("**/{trimmed}"))
            };
            let compiled = GlobBuilder::new(&glob)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| {
                    Error::new(ErrorKind::InvalidInput, format!("pattern {pattern:?}: {e}"))
                })?;
            set.add(compiled);
        }
        let build = |b: GlobSetBuilder| {
            b.build()
                .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("patterns: {e}")))
        };
        Ok(Matcher {
            names: build(names)?,
            paths: build(paths)?,
        })
    }

    fn matches(&self, name: &str, path: &str) -> bool {
        self.names.is_match(name) || self.paths.is_match(path)
    }

    /// Whether a match can depend on where a subtree is, not only on what it holds.
    fn uses_paths(&self) -> bool {
        !self.paths.is_empty()
    }
}

/// What a tree walk does at each node and entry.
trait Visitor {
    /// True to skip the node `id` of the directory at `dir` without reading it.
    fn skip(&mut self, id: &BlobId, dir: &str) -> bool;
    /// Looks at one entry; returns whether it matched.
    fn entry(&mut self, path: &str, entry: &Entry) -> Result<bool>;
    /// The node `id` and everything below it was walked; `matched` tells whether anything did.
    fn done(&mut self, _id: &BlobId, _dir: &str, _matched: bool) {}
}

enum Items {
    Entries(std::vec::IntoIter<Entry>),
    Children(std::vec::IntoIter<BlobId>),
}

struct Frame {
    id: BlobId,
    dir: String,
    items: Items,
    matched: bool,
}

fn open(repo: &Indexed, id: BlobId, dir: String) -> Result<Frame> {
    let items = match repo
        .node(&id)
        .context(crate::commands::ls::display_dir(&dir))?
    {
        Node::Leaf(entries) => Items::Entries(entries.into_iter()),
        Node::Branch(children) => Items::Children(
            children
                .into_iter()
                .map(|c| c.tree)
                .collect::<Vec<_>>()
                .into_iter(),
        ),
        Node::Content(_) => {
            return Err(not_a_directory(&id).context(crate::commands::ls::display_dir(&dir)))
        }
    };
    Ok(Frame {
        id,
        dir,
        items,
        matched: false,
    })
}

/// Walks the tree at `root` node by node, depth first in name order.
fn walk(repo: &Indexed, root: BlobId, v: &mut dyn Visitor) -> Result<()> {
    let mut stack: Vec<Frame> = Vec::new();
    if !v.skip(&root, "") {
        stack.push(open(repo, root, String::new())?);
    }
    while let Some(top) = stack.last_mut() {
        let next = match &mut top.items {
            Items::Entries(entries) => match entries.next() {
                Some(entry) => {
                    let path = child_path(&top.dir, &entry.name);
                    if v.entry(&path, &entry)? {
                        top.matched = true;
                    }
                    match (entry.kind, entry.subtree) {
                        (EntryKind::Dir, Some(subtree)) => Some(Some((subtree, path))),
                        _ => Some(None),
                    }
                }
                None => None,
            },
            Items::Children(children) => {
                children.next().map(|child| Some((child, top.dir.clone())))
            }
        };
        match next {
            None => {
                let done = stack.pop().expect("the top frame");
                v.done(&done.id, &done.dir, done.matched);
                if done.matched {
                    if let Some(parent) = stack.last_mut() {
                        parent.matched = true;
                    }
                }
            }
            Some(Some((id, dir))) if !v.skip(&id, &dir) => stack.push(open(repo, id, dir)?),
            Some(_) => {}
        }
    }
    Ok(())
}

struct PatternSearch<'v> {
    matcher: Matcher,
    /// Nodes below which nothing matched, with a digest of their directory's path when patterns
    /// look at paths.
    no_match: HashSet<(BlobId, [u8; 16])>,
    snapshot: SnapshotId,
    visit: &'v mut dyn FnMut(FindMatch) -> Result<()>,
}

impl PatternSearch<'_> {
    fn key(&self, id: &BlobId, dir: &str) -> (BlobId, [u8; 16]) {
        let mut where_ = [0u8; 16];
        if self.matcher.uses_paths() {
            where_.copy_from_slice(&blake3::hash(dir.as_bytes()).as_bytes()[..16]);
        }
        (*id, where_)
    }
}

impl Visitor for PatternSearch<'_> {
    fn skip(&mut self, id: &BlobId, dir: &str) -> bool {
        self.no_match.contains(&self.key(id, dir))
    }

    fn entry(&mut self, path: &str, entry: &Entry) -> Result<bool> {
        let name = entry.name.to_string();
        if !self.matcher.matches(&name, path) {
            return Ok(false);
        }
        (self.visit)(FindMatch {
            snapshot: self.snapshot,
            path: path.to_string(),
            entry: entry.clone(),
        })?;
        Ok(true)
    }

    fn done(&mut self, id: &BlobId, dir: &str, matched: bool) {
        if !matched {
            let key = self.key(id, dir);
            self.no_match.insert(key);
        }
    }
}

struct BlobSearch<'r> {
    repo: &'r Indexed,
    wanted: HashSet<BlobId>,
    /// Tree nodes already searched, in any snapshot.
    seen_nodes: HashSet<BlobId>,
    /// Content lists already expanded, and whether they hold a wanted blob.
    lists: HashMap<BlobId, bool>,
    snapshot: SnapshotId,
    found: Vec<FindMatch>,
}

impl BlobSearch<'_> {
    fn holds_wanted(&mut self, parts: &[ContentRef], depth: usize) -> Result<bool> {
        if depth > 16 {
            return Err(Error::new(
                ErrorKind::Damaged,
                "content lists nest deeper than 16 levels",
            ));
        }
        let mut any = false;
        for part in parts {
            any |= match *part {
                ContentRef::Chunk { id, .. } => self.wanted.contains(&id),
                ContentRef::List { id, .. } => match self.lists.get(&id) {
                    Some(known) => *known,
                    None => {
                        let sub = match self.repo.node(&id)? {
                            Node::Content(sub) => sub,
                            _ => {
                                return Err(Error::new(
                                    ErrorKind::Damaged,
                                    format!("tree {} should be a content list", id.short()),
                                ))
                            }
                        };
                        let holds = self.holds_wanted(&sub, depth + 1)?;
                        self.lists.insert(id, holds);
                        holds
                    }
                },
            };
        }
        Ok(any)
    }
}

impl Visitor for BlobSearch<'_> {
    fn skip(&mut self, id: &BlobId, _dir: &str) -> bool {
        !self.seen_nodes.insert(*id)
    }

    fn entry(&mut self, path: &str, entry: &Entry) -> Result<bool> {
        if !matches!(entry.kind, EntryKind::File | EntryKind::Hardlink)
            || !self.holds_wanted(&entry.content, 0).context(path)?
        {
            return Ok(false);
        }
        self.found.push(FindMatch {
            snapshot: self.snapshot,
            path: path.to_string(),
            entry: entry.clone(),
        });
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::ls::fixture::{bytes, commit, dir, file, CHUNK};
    use crate::testutil::memory_repo;
    use cairn_repo_format::Name;

    fn run(repo: &Indexed, snaps: &[(SnapshotId, Snapshot)], patterns: &[&str]) -> Vec<String> {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        let mut out = Vec::new();
        find(repo, snaps, &patterns, &mut |m| {
            let i = snaps.iter().position(|(id, _)| *id == m.snapshot).unwrap();
            out.push(format!("{i}:{}", m.path));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn matches_names_and_paths_in_every_snapshot() {
        let first = dir(vec![
            (
                "home",
                dir(vec![("a.txt", file(b"a")), ("b.md", file(b"b"))]),
            ),
            (
                "srv",
                dir(vec![
                    ("a.txt", file(b"s")),
                    ("deep", dir(vec![("x.txt", file(b"x"))])),
                ]),
            ),
        ]);
        let second = dir(vec![
            (
                "home",
                dir(vec![
                    ("a.txt", file(b"a")),
                    ("b.md", file(b"b")),
                    ("c.txt", file(b"c")),
                ]),
            ),
            (
                "srv",
                dir(vec![
                    ("a.txt", file(b"s")),
                    ("deep", dir(vec![("x.txt", file(b"x"))])),
                ]),
            ),
        ]);
        let (repo, id1, s1) = commit(&memory_repo(), &first, "2026-01-01T00:00:00Z");
        let (repo, id2, s2) = commit(&repo, &second, "2026-01-02T00:00:00Z");
        let snaps = vec![(id1, s1), (id2, s2)];
        assert_eq!(
            run(&repo, &snaps, &["*.txt"]),
            [
                "0:/home/a.txt",
                "0:/srv/a.txt",
                "0:/srv/deep/x.txt",
                "1:/home/a.txt",
                "1:/home/c.txt",
                "1:/srv/a.txt",
                "1:/srv/deep/x.txt"
            ]
        );
        assert_eq!(
            run(&repo, &snaps, &["/home/*.txt"]),
            ["0:/home/a.txt", "1:/home/a.txt", "1:/home/c.txt"]
        );
        assert_eq!(
            run(&repo, &snaps, &["deep/*"]),
            ["0:/srv/deep/x.txt", "1:/srv/deep/x.txt"]
        );
        assert_eq!(
            run(&repo, &snaps, &["c.txt", "deep"]),
            ["0:/srv/deep", "1:/home/c.txt", "1:/srv/deep"]
        );
        assert!(run(&repo, &snaps, &["nothing*"]).is_empty());
        // Subtrees without a match are remembered and still give the right answer next time.
        assert_eq!(
            run(&repo, &snaps, &["b.md"]),
            ["0:/home/b.md", "1:/home/b.md"]
        );
        let err = find(&repo, &snaps, &["a[".to_string()], &mut |_| Ok(())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            find(&repo, &snaps, &[], &mut |_| Ok(()))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput
        );
    }

    #[test]
    fn path_patterns_see_a_moved_subtree_at_its_new_place() {
        let sub = dir(vec![("f.txt", file(b"same"))]);
        let (repo, id1, s1) = commit(
            &memory_repo(),
            &dir(vec![("old", sub.clone())]),
            "2026-01-01T00:00:00Z",
        );
        let (repo, id2, s2) = commit(&repo, &dir(vec![("new", sub)]), "2026-01-02T00:00:00Z");
        let snaps = vec![(id1, s1), (id2, s2)];
        assert_eq!(run(&repo, &snaps, &["/new/*"]), ["1:/new/f.txt"]);
        assert_eq!(run(&repo, &snaps, &["/old/*"]), ["0:/old/f.txt"]);
    }

    #[test]
    fn finds_files_holding_a_blob_also_through_content_lists() {
        // 100 chunks: more than fit inline, so the file's content goes through content lists.
        let long = bytes(7, 100 * CHUNK);
        let wanted_chunk = &long[57 * CHUNK..58 * CHUNK];
        let root = dir(vec![
            ("long", file(&long)),
            ("copy", dir(vec![("again", file(&long))])),
            ("other", file(bytes(8, 3 * CHUNK))),
        ]);
        let (repo, id1, s1) = commit(&memory_repo(), &root, "2026-01-01T00:00:00Z");
        let (repo, id2, s2) = commit(&repo, &root, "2026-01-02T00:00:00Z");
        let entry = repo.lookup(&s1.tree, &Name::new("long")).unwrap().unwrap();
        assert!(entry
            .content
            .iter()
            .any(|p| matches!(p, ContentRef::List { .. })));
        let wanted = repo.keys().blob_id(wanted_chunk);
        let snaps = vec![(id1, s1), (id2, s2)];
        let found = find_blobs(&repo, &snaps, &[wanted]).unwrap();
        let paths: Vec<(SnapshotId, &str)> = found
            .iter()
            .map(|m| (m.snapshot, m.path.as_str()))
            .collect();
        // The second snapshot is the same tree: already searched.
        assert_eq!(paths, [(id1, "/copy/again"), (id1, "/long")]);
        assert_eq!(found[1].entry.size, long.len() as u64);
        assert!(find_blobs(&repo, &snaps, &[BlobId([9; 32])])
            .unwrap()
            .is_empty());

        let hex = wanted.to_hex();
        assert_eq!(
            resolve_blob_prefixes(&repo, &[hex[..12].to_uppercase()]).unwrap(),
            [wanted]
        );
        assert_eq!(
            resolve_blob_prefixes(&repo, &["ffffffffffffffffffff".into()])
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            resolve_blob_prefixes(&repo, &["xyz".into()])
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput
        );
        // A one-digit prefix names many blobs at once (the files hold over a hundred).
        let first_digit = hex[..1].to_string();
        let many = resolve_blob_prefixes(&repo, std::slice::from_ref(&first_digit)).unwrap();
        assert!(
            many.contains(&wanted) && many.iter().all(|id| id.to_hex().starts_with(&first_digit))
        );
    }
}
