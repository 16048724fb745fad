//! An open repository with its index loaded: what backup, restore, check and browsing need.

use std::collections::HashSet;
use std::sync::Arc;

use cairn_repo_format::{
    open_blob, open_file, BlobId, BlobKind, ContentRef, Entry, FileKind, IndexFile, IndexId, Name,
    Node, PackId, Snapshot, SnapshotId,
};
use rayon::prelude::*;

use crate::backend::FileType;
use crate::cache::CachedFile;
use crate::error::{Error, ErrorKind, Result};
use crate::index::{BlobLocation, Index, IndexBuilder};
use crate::repository::Repository;
use crate::session::{condemned_packs, deletion_plans, Session};
use crate::tree_prefetch::{self, PrefetchGuard, Prefetched};

/// A repository whose index is loaded.
#[derive(Clone, Debug)]
pub struct Indexed {
    repo: Repository,
    index: Arc<Index>,
    index_files: Arc<Vec<IndexId>>,
    session: Option<Arc<Session>>,
    prefetched: Arc<Prefetched>,
}

impl Repository {
    /// Registers a writer session (spec/concurrency.md), then loads the index: what every command
    /// that writes snapshots must use. Snapshots saved through the result confirm the session first.
    pub fn load_index_for_writing(self, kind: &str) -> Result<Indexed> {
        let session = Session::begin(&self, kind)?;
        let mut indexed = self.load_index()?;
        indexed.session = Some(session);
        Ok(indexed)
    }

    /// Loads every index file (from the cache where it has them) and builds the in-memory index,
    /// leaving out packs that a deletion plan condemns.
    pub fn load_index(self) -> Result<Indexed> {
        let condemned = condemned_packs(&deletion_plans(&self)?);
        let (index, ids) = self.build_index(HashSet::new(), |builder, file| {
            for pack in file.packs.iter().filter(|p| !condemned.contains(&p.id)) {
                builder.add_pack(pack.id, &pack.blobs);
            }
        })?;
        Ok(Indexed::with_index(self, index, ids))
    }

    /// Reads every current index file and feeds each to `add`; returns the index and the ids of the
    /// current (not superseded) index files. Files are decoded in parallel batches and dropped once
    /// added, so building needs little memory beyond the index itself.
    pub(crate) fn build_index(
        &self,
        demoted: HashSet<PackId>,
        add: impl Fn(&mut IndexBuilder, &IndexFile),
    ) -> Result<(Index, Vec<IndexId>)> {
        let build = |skip: &HashSet<IndexId>| -> Result<(Index, Vec<IndexId>, HashSet<IndexId>)> {
            let mut builder = IndexBuilder::default();
            builder.demote(demoted.clone());
            let mut superseded = HashSet::new();
            let mut seen: HashSet<IndexId> = HashSet::new();
            let mut loaded = Vec::new();
            // A prune may replace index files while we read: it writes the replacement before it
            // deletes the old ones, so a file that vanished has a replacement that the next listing
            // shows. List again until a listing brings nothing new.
            loop {
                let fresh: Vec<IndexId> = self
                    .list_index_files()?
                    .into_iter()
                    .filter(|id| !skip.contains(id) && seen.insert(*id))
                    .collect();
                if fresh.is_empty() {
                    break;
                }
                for batch in fresh.chunks(256) {
                    let files: Vec<Option<(IndexId, IndexFile)>> = self
                        .load_index_files(batch)
                        .into_par_iter()
                        .zip(batch)
                        .map(|(file, id)| match file {
                            Ok(f) => Ok(Some((*id, f))),
                            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                            Err(e) => Err(e),
                        })
                        .collect::<Result<_>>()?;
                    for (id, file) in files.into_iter().flatten() {
                        superseded.extend(file.supersedes.iter().copied());
                        add(&mut builder, &file);
                        loaded.push(id);
                    }
                }
            }
            Ok((builder.build(), loaded, superseded))
        };
        let (mut index, mut loaded, superseded) = build(&HashSet::new())?;
        let stale: HashSet<IndexId> = loaded
            .iter()
            .filter(|id| superseded.contains(id))
            .copied()
            .collect();
        if !stale.is_empty() {
            // A prune stopped between writing a superseding index file and deleting the old ones
            // (or is between the two now): build again without the old ones, which may name packs
            // that are gone.
            (index, loaded, _) = build(&stale)?;
        }
        if let Some(cache) = &self.cache {
            cache.retain_files(
                CachedFile::Index,
                &loaded.iter().map(|id| *id.as_bytes()).collect(),
            );
        }
        Ok((index, loaded))
    }

    fn list_index_files(&self) -> Result<Vec<IndexId>> {
        self.backend
            .list(FileType::Index)?
            .iter()
            .map(|l| {
                l.name
                    .parse()
                    .map_err(|e| Error::format("index file name", e))
            })
            .collect()
    }

    /// Reads and decodes one index file, through the cache.
    pub fn load_index_file(&self, id: &IndexId) -> Result<IndexFile> {
        let mut files = self.load_index_files(std::slice::from_ref(id));
        files
            .pop()
            .unwrap_or_else(|| Err(Error::new(ErrorKind::NotFound, "no index file")))
    }

    /// Reads index files through the cache, many at a time, and decodes them in parallel.
    fn load_index_files(&self, ids: &[IndexId]) -> Vec<Result<IndexFile>> {
        let raw: Vec<[u8; 32]> = ids.iter().map(|id| *id.as_bytes()).collect();
        self.fetch_files(CachedFile::Index, &raw)
            .into_par_iter()
            .zip(ids)
            .map(|(stored, id)| {
                let what = format!("index file {}", id.short());
                let stored = stored.map_err(|e| e.context(&what))?;
                let payload = open_file(&self.keys, FileKind::Index, &stored)
                    .map_err(|e| Error::format(&what, e))?;
                IndexFile::decode(&payload).map_err(|e| Error::format(&what, e))
            })
            .collect()
    }
}

impl std::ops::Deref for Indexed {
    type Target = Repository;
    fn deref(&self) -> &Repository {
        &self.repo
    }
}

impl Indexed {
    /// A repository with an index the caller built (prune builds one that includes condemned packs).
    pub(crate) fn with_index(repo: Repository, index: Index, files: Vec<IndexId>) -> Indexed {
        Indexed {
            repo,
            index: Arc::new(index),
            index_files: Arc::new(files),
            session: None,
            prefetched: Arc::default(),
        }
    }

    /// The open repository underneath.
    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// Writes a snapshot; a writer session (see [`Repository::load_index_for_writing`]) is confirmed
    /// alive first, so a writer that prune may have taken for dead never commits.
    pub fn save_snapshot(&self, snapshot: &Snapshot) -> Result<SnapshotId> {
        if let Some(s) = &self.session {
            s.confirm_alive()?;
        }
        self.repo.save_snapshot(snapshot)
    }

    /// Ends the writer session, if any, removing its file. Dropping the last clone does the same.
    pub fn end_session(&mut self) -> Result<()> {
        match self.session.take() {
            Some(s) => s.end(),
            None => Ok(()),
        }
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Ids of the index files the index was built from.
    pub fn index_files(&self) -> &[IndexId] {
        &self.index_files
    }

    /// Where a blob lies, or a "not found" error naming it.
    pub fn locate(&self, kind: BlobKind, id: &BlobId) -> Result<BlobLocation> {
        self.index.get(kind, id).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("{kind:?} blob {} is not in the index", id.short()).to_lowercase(),
            )
        })
    }

    /// Reads, authenticates and checks one blob. Tree blobs go through the cache.
    pub fn read_blob(&self, kind: BlobKind, id: &BlobId) -> Result<Vec<u8>> {
        if kind == BlobKind::Tree {
            if let Some(plain) = self.prefetched.take(id) {
                return Ok(plain);
            }
        }
        let loc = self.locate(kind, id)?;
        let cache = self.cache.as_ref().filter(|_| kind == BlobKind::Tree);
        if let Some(stored) = cache.and_then(|c| c.tree_blob(id)) {
            if let Ok(plain) = open_blob(&self.keys, kind, id, loc.raw_len, &stored) {
                return Ok(plain);
            }
        }
        let stored = self
            .backend
            .read_range(
                FileType::Pack,
                &loc.pack.to_hex(),
                loc.offset as u64..loc.offset as u64 + loc.length as u64,
            )
            .map_err(|e| e.context(format!("blob {}", id.short())))?;
        let plain = self.open_located(kind, id, &loc, &stored)?;
        if let Some(c) = cache {
            c.put_tree_blob(id, &stored);
        }
        Ok(plain)
    }

    /// Starts reading every tree below `root` ahead of a walk that will need them all (see
    /// [`crate::tree_prefetch`]); [`Indexed::read_blob`] serves them until the guard is dropped.
    pub fn prefetch_trees(&self, root: &BlobId) -> PrefetchGuard {
        tree_prefetch::start(self, self.prefetched.clone(), *root)
    }

    /// Opens a blob whose stored bytes the caller fetched (restore reads many blobs in one request).
    pub fn open_located(
        &self,
        kind: BlobKind,
        id: &BlobId,
        loc: &BlobLocation,
        stored: &[u8],
    ) -> Result<Vec<u8>> {
        open_blob(&self.keys, kind, id, loc.raw_len, stored).map_err(|e| {
            Error::format(
                format!("blob {} in pack {}", id.short(), loc.pack.short()),
                e,
            )
        })
    }

    /// Reads and decodes a tree node.
    pub fn node(&self, id: &BlobId) -> Result<Node> {
        let payload = self.read_blob(BlobKind::Tree, id)?;
        Node::decode(&payload).map_err(|e| Error::format(format!("tree {}", id.short()), e))
    }

    /// Iterates over a directory's entries in name order, reading its pieces as they are needed.
    pub fn dir_entries(&self, dir: &BlobId) -> DirEntries<'_> {
        DirEntries {
            repo: self,
            stack: vec![*dir],
            current: Vec::new().into_iter(),
            failed: false,
        }
    }

    /// Finds one entry of a directory by name, reading only the pieces on the way.
    pub fn lookup(&self, dir: &BlobId, name: &Name) -> Result<Option<Entry>> {
        let mut id = *dir;
        loop {
            match self.node(&id)? {
                Node::Leaf(entries) => {
                    return Ok(entries
                        .binary_search_by(|e| e.name.cmp(name))
                        .ok()
                        .map(|i| entries[i].clone()))
                }
                Node::Branch(children) => {
                    let i = children.partition_point(|c| c.first <= *name);
                    if i == 0 {
                        return Ok(None);
                    }
                    id = children[i - 1].tree;
                }
                Node::Content(_) => return Err(not_a_directory(&id)),
            }
        }
    }

    /// Resolves a `/`-separated path below a root tree to its entry.
    pub fn resolve(&self, root: &BlobId, path: &str) -> Result<Option<Entry>> {
        let mut dir = *root;
        let mut found: Option<Entry> = None;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if let Some(e) = &found {
                match e.subtree {
                    Some(sub) => dir = sub,
                    None => return Ok(None),
                }
            }
            match self.lookup(&dir, &Name::new(part))? {
                Some(e) => found = Some(e),
                None => return Ok(None),
            }
        }
        Ok(found)
    }

    /// Writes a file's content to `out`, one chunk at a time; returns the bytes written.
    pub fn copy_content(&self, file: &Entry, out: &mut dyn std::io::Write) -> Result<u64> {
        let mut written = 0u64;
        for (_, id, len) in self.file_chunks(&file.content)? {
            let chunk = self.read_blob(BlobKind::Data, &id)?;
            if chunk.len() as u64 != len {
                return Err(Error::new(
                    ErrorKind::Damaged,
                    format!("chunk {} is not the length its file says", id.short()),
                ));
            }
            out.write_all(&chunk)
                .map_err(|e| Error::new(ErrorKind::Io, format!("writing file content: {e}")))?;
            written += len;
        }
        Ok(written)
    }

    /// The data chunks of a file in order, with the offset each starts at, expanding content lists.
    pub fn file_chunks(&self, parts: &[ContentRef]) -> Result<Vec<(u64, BlobId, u64)>> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        self.expand(parts, &mut offset, &mut out, 0)?;
        Ok(out)
    }

    fn expand(
        &self,
        parts: &[ContentRef],
        offset: &mut u64,
        out: &mut Vec<(u64, BlobId, u64)>,
        depth: usize,
    ) -> Result<()> {
        if depth > 8 {
            return Err(Error::new(
                ErrorKind::Damaged,
                "content lists nest deeper than 8 levels",
            ));
        }
        for part in parts {
            match *part {
                ContentRef::Chunk { id, len } => {
                    out.push((*offset, id, len));
                    *offset += len;
                }
                ContentRef::List { id, len } => {
                    let before = *offset;
                    match self.node(&id)? {
                        Node::Content(sub) => self.expand(&sub, offset, out, depth + 1)?,
                        _ => {
                            return Err(Error::new(
                                ErrorKind::Damaged,
                                format!("tree {} should be a content list", id.short()),
                            ))
                        }
                    }
                    if *offset - before != len {
                        return Err(Error::new(
                            ErrorKind::Damaged,
                            format!(
                                "content list {} covers a different length than recorded",
                                id.short()
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The chunk covering byte `pos` of a file, found by binary search at each level of its content
    /// lists: returns the chunk's start offset, id and length.
    pub fn chunk_at(&self, parts: &[ContentRef], pos: u64) -> Result<Option<(u64, BlobId, u64)>> {
        let mut parts: Vec<ContentRef> = parts.to_vec();
        let mut base = 0u64;
        for _ in 0..=8 {
            let mut starts = Vec::with_capacity(parts.len());
            let mut acc = base;
            for p in &parts {
                starts.push(acc);
                acc += p.len();
            }
            if pos >= acc {
                return Ok(None);
            }
            let i = starts.partition_point(|&s| s <= pos) - 1;
            match parts[i] {
                ContentRef::Chunk { id, len } => return Ok(Some((starts[i], id, len))),
                ContentRef::List { id, .. } => {
                    base = starts[i];
                    parts = match self.node(&id)? {
                        Node::Content(sub) => sub,
                        _ => {
                            return Err(Error::new(
                                ErrorKind::Damaged,
                                format!("tree {} should be a content list", id.short()),
                            ))
                        }
                    };
                }
            }
        }
        Err(Error::new(
            ErrorKind::Damaged,
            "content lists nest deeper than 8 levels",
        ))
    }
}

/// The error for a tree that should be a directory but is a content list.
pub(crate) fn not_a_directory(id: &BlobId) -> Error {
    Error::new(
        ErrorKind::Damaged,
        format!(
            "tree {} is a content list where a directory was expected",
            id.short()
        ),
    )
}

/// Entries of a directory in name order; see [`Indexed::dir_entries`].
pub struct DirEntries<'a> {
    repo: &'a Indexed,
    stack: Vec<BlobId>,
    current: std::vec::IntoIter<Entry>,
    failed: bool,
}

impl Iterator for DirEntries<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.current.next() {
                return Some(Ok(e));
            }
            if self.failed {
                return None;
            }
            let id = self.stack.pop()?;
            match self.repo.node(&id) {
                Ok(Node::Leaf(entries)) => self.current = entries.into_iter(),
                Ok(Node::Branch(children)) => {
                    self.stack.extend(children.iter().rev().map(|c| c.tree));
                }
                Ok(Node::Content(_)) => {
                    self.failed = true;
                    return Some(Err(not_a_directory(&id)));
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
