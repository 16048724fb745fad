//! Decoded tree nodes (directory leaves and branches, content lists), kept in a bounded LRU.
//!
//! The engine reads a node from the local cache or the repository and decodes its JSON every time;
//! the mount asks for the same few nodes over and over (every `readdir` call, every lookup in a big
//! directory, every read of a long file), so it keeps them decoded, weighed by their size in memory.
//!
//! Directories are served straight from their pieces: a lookup descends branches by their first
//! names, and a listing position is found by the entry counts branches carry, so reading a directory
//! of any size at any offset costs O(log n) and holds only the pieces in the cache.

use std::sync::{Arc, Mutex, MutexGuard};

use cairn_engine::format::{BlobId, ContentRef, Entry, Node};
use cairn_engine::{Error, ErrorKind, Indexed, Result};

use crate::lru::Lru;

/// The node cache.
pub(crate) struct Nodes {
    lru: Mutex<Lru<BlobId, Arc<Node>>>,
}

/// Approximate bytes a decoded node occupies.
fn weigh(node: &Node) -> usize {
    use std::mem::size_of;
    let base = 64;
    match node {
        Node::Leaf(entries) => {
            base + entries
                .iter()
                .map(|e| {
                    size_of::<Entry>()
                        + e.name.0.len()
                        + e.user.len()
                        + e.group.len()
                        + e.target.as_ref().map_or(0, |t| t.0.len())
                        + e.content.len() * size_of::<ContentRef>()
                        + e.xattrs
                            .iter()
                            .map(|x| 64 + x.name.0.len() + x.value.0.len())
                            .sum::<usize>()
                })
                .sum::<usize>()
        }
        Node::Branch(children) => {
            base + children
                .iter()
                .map(|c| size_of::<cairn_engine::format::Child>() + c.first.0.len())
                .sum::<usize>()
        }
        Node::Content(parts) => base + parts.len() * size_of::<ContentRef>(),
    }
}

fn damaged(id: &BlobId, what: &str) -> Error {
    Error::new(ErrorKind::Damaged, format!("tree {} is {what}", id.short()))
}

/// Deepest branch nesting followed (a directory of 2^60 entries needs far fewer levels).
const MAX_DEPTH: usize = 32;

impl Nodes {
    /// A cache of at most `budget` bytes.
    pub(crate) fn new(budget: usize) -> Nodes {
        Nodes {
            lru: Mutex::new(Lru::new(budget)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lru<BlobId, Arc<Node>>> {
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node `id`, from the cache or read and decoded.
    pub(crate) fn get(&self, repo: &Indexed, id: &BlobId) -> Result<Arc<Node>> {
        if let Some(n) = self.lock().get(id) {
            return Ok(n);
        }
        let node = Arc::new(repo.node(id)?);
        self.lock().insert(*id, node.clone(), weigh(&node));
        Ok(node)
    }

    /// The node `id` if it is cached; never reads.
    pub(crate) fn peek(&self, id: &BlobId) -> Option<Arc<Node>> {
        self.lock().peek(id)
    }

    /// Bytes held.
    pub(crate) fn weight(&self) -> usize {
        self.lock().weight()
    }

    /// The entry `name` of directory `dir`, reading only the pieces on the way.
    pub(crate) fn lookup(
        &self,
        repo: &Indexed,
        dir: &BlobId,
        name: &[u8],
    ) -> Result<Option<Entry>> {
        Ok(self
            .find(dir, name, &mut |id| self.get(repo, id).map(Some))?
            .flatten())
    }

    /// Like [`Nodes::lookup`] but without reading: `None` when a piece on the way is not cached.
    pub(crate) fn lookup_cached(&self, dir: &BlobId, name: &[u8]) -> Option<Option<Entry>> {
        self.find(dir, name, &mut |id| Ok(self.lock().get(id)))
            .ok()
            .flatten()
    }

    /// Descends from `dir` to the leaf that would hold `name`, taking nodes from `fetch`; the outer
    /// `None` means `fetch` had one not at hand.
    fn find(
        &self,
        dir: &BlobId,
        name: &[u8],
        fetch: &mut dyn FnMut(&BlobId) -> Result<Option<Arc<Node>>>,
    ) -> Result<Option<Option<Entry>>> {
        let mut id = *dir;
        for _ in 0..MAX_DEPTH {
            let Some(node) = fetch(&id)? else {
                return Ok(None);
            };
            match &*node {
                Node::Leaf(entries) => {
                    return Ok(Some(
                        entries
                            .binary_search_by(|e| e.name.0.as_slice().cmp(name))
                            .ok()
                            .map(|i| entries[i].clone()),
                    ))
                }
                Node::Branch(children) => {
                    let i = children.partition_point(|c| c.first.0.as_slice() <= name);
                    if i == 0 {
                        return Ok(Some(None));
                    }
                    id = children[i - 1].tree;
                }
                Node::Content(_) => return Err(damaged(&id, "a content list, not a directory")),
            }
        }
        Err(damaged(dir, "nested too deeply"))
    }

    /// The entries of directory `dir` from position `pos` (0 is the first entry) on.
    pub(crate) fn entries_from<'a>(
        &'a self,
        repo: &'a Indexed,
        dir: &BlobId,
        mut pos: u64,
    ) -> Result<DirCursor<'a>> {
        let mut stack = Vec::new();
        let mut id = *dir;
        for _ in 0..MAX_DEPTH {
            let node = self.get(repo, &id)?;
            match &*node {
                Node::Leaf(entries) => {
                    let at = usize::try_from(pos)
                        .unwrap_or(usize::MAX)
                        .min(entries.len());
                    stack.push((node.clone(), at));
                    return Ok(DirCursor {
                        nodes: self,
                        repo,
                        stack,
                    });
                }
                Node::Branch(children) => {
                    let mut i = 0;
                    while i < children.len() && pos >= children[i].count {
                        pos -= children[i].count;
                        i += 1;
                    }
                    if i == children.len() {
                        // Past the end.
                        stack.push((node.clone(), i));
                        return Ok(DirCursor {
                            nodes: self,
                            repo,
                            stack,
                        });
                    }
                    id = children[i].tree;
                    stack.push((node.clone(), i + 1));
                }
                Node::Content(_) => return Err(damaged(&id, "a content list, not a directory")),
            }
        }
        Err(damaged(dir, "nested too deeply"))
    }

    /// The data chunk covering byte `pos` of a file with content `parts`: its start, id and length;
    /// `None` past the end. Binary search at each level of content lists.
    pub(crate) fn chunk_at(
        &self,
        repo: &Indexed,
        parts: &[ContentRef],
        pos: u64,
    ) -> Result<Option<(u64, BlobId, u64)>> {
        let mut holder: Option<Arc<Node>> = None;
        let mut base = 0u64;
        for _ in 0..=8 {
            let current: &[ContentRef] = match &holder {
                None => parts,
                Some(n) => match &**n {
                    Node::Content(sub) => sub,
                    _ => return Err(damaged(&BlobId::default(), "not a content list")),
                },
            };
            let mut starts = Vec::with_capacity(current.len());
            let mut acc = base;
            for p in current {
                starts.push(acc);
                acc = acc.saturating_add(p.len());
            }
            if pos >= acc || current.is_empty() {
                return Ok(None);
            }
            let i = starts.partition_point(|&s| s <= pos).saturating_sub(1);
            match current[i] {
                ContentRef::Chunk { id, len } => return Ok(Some((starts[i], id, len))),
                ContentRef::List { id, .. } => {
                    base = starts[i];
                    let node = self.get(repo, &id)?;
                    if !matches!(&*node, Node::Content(_)) {
                        return Err(damaged(&id, "not a content list"));
                    }
                    holder = Some(node);
                }
            }
        }
        Err(Error::new(
            ErrorKind::Damaged,
            "content lists nest deeper than 8 levels",
        ))
    }
}

/// A position in a directory's listing; yields its entries in name order.
pub(crate) struct DirCursor<'a> {
    nodes: &'a Nodes,
    repo: &'a Indexed,
    /// Nodes from the top down, each with the next index to take (for branches, the next child).
    stack: Vec<(Arc<Node>, usize)>,
}

impl Iterator for DirCursor<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        // Ids are hashes of content, so no node lists itself: the walk ends.
        loop {
            let (node, at) = self.stack.last_mut()?;
            match &**node {
                Node::Leaf(entries) => {
                    if let Some(e) = entries.get(*at) {
                        *at += 1;
                        return Some(Ok(e.clone()));
                    }
                    self.stack.pop();
                }
                Node::Branch(children) => {
                    let Some(child) = children.get(*at) else {
                        self.stack.pop();
                        continue;
                    };
                    *at += 1;
                    let id = child.tree;
                    if self.stack.len() > MAX_DEPTH {
                        self.stack.clear();
                        return Some(Err(damaged(&id, "nested too deeply")));
                    }
                    match self.nodes.get(self.repo, &id) {
                        Ok(n) => self.stack.push((n, 0)),
                        Err(e) => {
                            self.stack.clear();
                            return Some(Err(e));
                        }
                    }
                }
                Node::Content(_) => {
                    self.stack.clear();
                    return Some(Err(Error::new(
                        ErrorKind::Damaged,
                        "a content list where a directory was expected",
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{bytes, commit, dir, file, memory_repo};

    #[test]
    fn a_split_directory_lists_from_any_position_and_finds_every_name() {
        let names: Vec<String> = (0..3000).map(|i| format!("f{i:05}")).collect();
        let (repo, _, root) = commit(
            &memory_repo(),
            |w| {
                vec![dir(
                    w,
                    "big",
                    names.iter().map(|n| file(w, n, b"", 1)).collect(),
                )]
            },
            "2026-01-01T00:00:00Z",
        );
        let nodes = Nodes::new(1 << 20);
        let big = nodes
            .lookup(&repo, &root, b"big")
            .unwrap()
            .unwrap()
            .subtree
            .unwrap();
        assert!(matches!(&*nodes.get(&repo, &big).unwrap(), Node::Branch(_)));
        for pos in [0u64, 1, 511, 512, 1500, 2999, 3000, 5000] {
            let listed: Vec<String> = nodes
                .entries_from(&repo, &big, pos)
                .unwrap()
                .map(|e| e.unwrap().name.to_string())
                .collect();
            let want = &names[(pos as usize).min(names.len())..];
            assert_eq!(listed, want, "from position {pos}");
        }
        for n in names.iter().step_by(97) {
            assert_eq!(
                nodes
                    .lookup(&repo, &big, n.as_bytes())
                    .unwrap()
                    .unwrap()
                    .name
                    .to_string(),
                *n
            );
        }
        assert!(nodes.lookup(&repo, &big, b"a").unwrap().is_none());
        assert_eq!(
            nodes
                .lookup_cached(&big, b"f02000")
                .unwrap()
                .unwrap()
                .name
                .to_string(),
            "f02000"
        );
        assert_eq!(
            Nodes::new(1 << 20).lookup_cached(&big, b"f02000"),
            None,
            "nothing cached"
        );
        assert!(nodes.lookup(&repo, &big, b"zzz").unwrap().is_none());
        assert!(nodes.weight() > 0);
        // A cache too small for any node still answers, reading again.
        let tiny = Nodes::new(10);
        assert_eq!(tiny.entries_from(&repo, &big, 2000).unwrap().count(), 1000);
    }

    #[test]
    fn chunks_are_found_through_content_lists() {
        let data = bytes(3, 150_000);
        let (repo, _, root) = commit(
            &memory_repo(),
            |w| vec![file(w, "f", &data, 1000)],
            "2026-01-01T00:00:00Z",
        );
        let nodes = Nodes::new(1 << 20);
        let entry = nodes.lookup(&repo, &root, b"f").unwrap().unwrap();
        assert!(entry
            .content
            .iter()
            .any(|p| matches!(p, ContentRef::List { .. })));
        for pos in [0u64, 999, 1000, 64_500, 149_999] {
            let (start, id, len) = nodes.chunk_at(&repo, &entry.content, pos).unwrap().unwrap();
            assert_eq!((start, len), (pos / 1000 * 1000, 1000), "at {pos}");
            assert_eq!(
                repo.read_blob(cairn_engine::format::BlobKind::Data, &id)
                    .unwrap(),
                &data[start as usize..][..1000]
            );
        }
        assert!(nodes
            .chunk_at(&repo, &entry.content, 150_000)
            .unwrap()
            .is_none());
    }
}
