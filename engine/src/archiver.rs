//! The archiver: turns directory trees and streams into tree and data blobs.
//!
//! Directories are walked depth first; the entries of one directory are handled in batches, each
//! batch in parallel on the backup's thread pool, and pushed to the directory's [`DirBuilder`] in name
//! order. A file whose size, mtime, ctime and inode match its entry in the parent snapshot is not
//! read again: its content list is reused. Failures that concern one file are reported and the walk
//! goes on; failures of the repository end the backup.

mod content;
mod targets;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use cairn_repo_format::{BlobId, BlobKind, ContentRef, Entry, EntryKind, Name, Summary};
use rayon::prelude::*;

use crate::blob_writer::BlobWriter;
use crate::error::{Error, FileError, Result};
use crate::fsmeta;
use crate::indexed::Indexed;
use crate::progress::Progress;
use crate::sys::Names;
use crate::tree_writer::DirBuilder;

pub(crate) use content::{store_content, ReadFailure, StoredContent};
pub(crate) use targets::{absolute, Excludes, Targets};

/// Entries of one directory handled in parallel at a time; bounds memory per directory level.
const BATCH: usize = 256;

/// Counters a backup keeps; they become the snapshot's summary.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    files_new: AtomicU64,
    files_changed: AtomicU64,
    files_unmodified: AtomicU64,
    dirs: AtomicU64,
    others: AtomicU64,
    bytes_read: AtomicU64,
    bytes_total: AtomicU64,
}

impl Counters {
    pub fn summary(&self) -> Summary {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Summary {
            files_new: get(&self.files_new),
            files_changed: get(&self.files_changed),
            files_unmodified: get(&self.files_unmodified),
            dirs: get(&self.dirs),
            others: get(&self.others),
            bytes_read: get(&self.bytes_read),
            bytes_total: get(&self.bytes_total),
            ..Summary::default()
        }
    }

    /// Adds what another backup of the same data counted (a Kubernetes mover's snapshot).
    #[cfg(feature = "k8s")]
    pub fn add(&self, s: &Summary) {
        for (c, n) in [
            (&self.files_new, s.files_new),
            (&self.files_changed, s.files_changed),
            (&self.files_unmodified, s.files_unmodified),
            (&self.dirs, s.dirs),
            (&self.others, s.others),
            (&self.bytes_read, s.bytes_read),
            (&self.bytes_total, s.bytes_total),
        ] {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn count_file(&self, had_parent: bool, size: u64) {
        let c = if had_parent {
            &self.files_changed
        } else {
            &self.files_new
        };
        c.fetch_add(1, Ordering::Relaxed);
        self.bytes_read.fetch_add(size, Ordering::Relaxed);
        self.bytes_total.fetch_add(size, Ordering::Relaxed);
    }
}

/// Walks sources into a repository.
pub(crate) struct Archiver<'a> {
    pub writer: &'a BlobWriter,
    pub excludes: Excludes,
    pub one_file_system: bool,
    pub progress: &'a dyn Progress,
    pub counters: Counters,
    names: Names,
    errors: Mutex<Vec<FileError>>,
    hard_links: Mutex<HashMap<(u64, u64), Vec<u8>>>,
}

impl<'a> Archiver<'a> {
    pub fn new(
        writer: &'a BlobWriter,
        excludes: Excludes,
        one_file_system: bool,
        progress: &'a dyn Progress,
    ) -> Self {
        Archiver {
            writer,
            excludes,
            one_file_system,
            progress,
            counters: Counters::default(),
            names: Names::default(),
            errors: Mutex::new(Vec::new()),
            hard_links: Mutex::new(HashMap::new()),
        }
    }

    fn repo(&self) -> &Indexed {
        self.writer.repo()
    }

    /// The per-file failures so far.
    pub fn take_errors(&self) -> Vec<FileError> {
        std::mem::take(&mut *self.errors.lock().expect("errors lock"))
    }

    fn report(&self, path: &Path, message: impl std::fmt::Display) {
        let message = message.to_string();
        self.progress
            .warn(&format!("{}: {message}", path.display()));
        self.errors.lock().expect("errors lock").push(FileError {
            path: path.to_path_buf(),
            message,
        });
    }

    /// Backs up the targets; returns the root tree of the snapshot.
    pub fn targets(&self, targets: &Targets, parent_root: Option<BlobId>) -> Result<BlobId> {
        self.virtual_dir(Path::new("/"), targets, parent_root)
    }

    /// One path and everything below it as an entry named `name`, the way a backup path is taken (a
    /// block device is read as a file); files unchanged since `parent` (its entry in an earlier
    /// snapshot) are not read again. `Ok(None)` when it could not be read (reported).
    #[cfg(feature = "k8s")]
    pub fn path_entry(
        &self,
        path: &Path,
        name: Name,
        parent: Option<&Entry>,
    ) -> Result<Option<Entry>> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) => self.entry(path, name, &meta, parent, meta.dev(), true),
            Err(e) => {
                self.report(path, e);
                Ok(None)
            }
        }
    }

    /// A directory on the way to targets: its metadata, and only the children that lead to targets.
    fn virtual_dir(&self, path: &Path, node: &Targets, parent: Option<BlobId>) -> Result<BlobId> {
        let mut builder = DirBuilder::new(self.writer);
        for (name_bytes, child) in &node.children {
            let name = Name(name_bytes.clone());
            let child_path = path.join(std::ffi::OsStr::from_bytes(name_bytes));
            let parent_entry = self.parent_lookup(parent, &name);
            let entry = if child.is_target {
                let meta = match std::fs::symlink_metadata(&child_path) {
                    Ok(m) => m,
                    Err(e) => {
                        self.report(&child_path, e);
                        continue;
                    }
                };
                self.entry(
                    &child_path,
                    name,
                    &meta,
                    parent_entry.as_ref(),
                    meta.dev(),
                    true,
                )?
            } else {
                let meta = match std::fs::symlink_metadata(&child_path) {
                    Ok(m) => m,
                    Err(e) => {
                        self.report(&child_path, e);
                        continue;
                    }
                };
                let mut e = fsmeta::entry_from_metadata(name, EntryKind::Dir, &meta, &self.names);
                let parent_sub = parent_entry.and_then(|p| p.subtree);
                e.subtree = Some(self.virtual_dir(&child_path, child, parent_sub)?);
                Some(e)
            };
            if let Some(e) = entry {
                builder.push(e)?;
            }
        }
        builder.finish()
    }

    fn parent_lookup(&self, parent: Option<BlobId>, name: &Name) -> Option<Entry> {
        let dir = parent?;
        match self.repo().lookup(&dir, name) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!("parent snapshot tree unreadable, reading files again: {e}");
                None
            }
        }
    }

    /// One entry of any type. `Ok(None)` means it was skipped and reported.
    fn entry(
        &self,
        path: &Path,
        name: Name,
        meta: &Metadata,
        parent: Option<&Entry>,
        root_dev: u64,
        is_target: bool,
    ) -> Result<Option<Entry>> {
        let mut kind = fsmeta::kind_of(meta);
        // A block device given as a backup path is read as one stream: its content is the point.
        if is_target && kind == EntryKind::Blockdev {
            kind = EntryKind::File;
        }
        let mut e = fsmeta::entry_from_metadata(name, kind, meta, &self.names);
        match fsmeta::read_xattrs(path) {
            Ok(x) => e.xattrs = x,
            Err(err) => self.report(path, format_args!("extended attributes not read: {err}")),
        }
        match kind {
            EntryKind::Dir => {
                let parent_sub = parent
                    .filter(|p| p.kind == EntryKind::Dir)
                    .and_then(|p| p.subtree);
                let crosses = self.one_file_system && meta.dev() != root_dev;
                let subtree = if crosses {
                    DirBuilder::new(self.writer).finish()?
                } else {
                    match self.dir(path, parent_sub, root_dev)? {
                        Some(id) => id,
                        None => return Ok(None),
                    }
                };
                e.subtree = Some(subtree);
                self.counters.dirs.fetch_add(1, Ordering::Relaxed);
            }
            EntryKind::File => {
                if !self.file(path, meta, &mut e, parent)? {
                    return Ok(None);
                }
            }
            EntryKind::Symlink => match std::fs::read_link(path) {
                Ok(t) => {
                    e.target = Some(Name(t.as_os_str().as_bytes().to_vec()));
                    self.counters.others.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) => {
                    self.report(path, err);
                    return Ok(None);
                }
            },
            _ => {
                self.counters.others.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(Some(e))
    }

    /// A real directory and everything below it. `Ok(None)` when it could not be listed.
    fn dir(&self, path: &Path, parent: Option<BlobId>, root_dev: u64) -> Result<Option<BlobId>> {
        let mut names: Vec<OsString> = match std::fs::read_dir(path) {
            Ok(rd) => {
                let mut v = Vec::new();
                for item in rd {
                    match item {
                        Ok(d) => v.push(d.file_name()),
                        Err(e) => {
                            self.report(path, e);
                            return Ok(None);
                        }
                    }
                }
                v
            }
            Err(e) => {
                self.report(path, e);
                return Ok(None);
            }
        };
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut parent_entries = parent.map(|id| self.repo().dir_entries(&id).peekable());
        let mut builder = DirBuilder::new(self.writer);
        for batch in names.chunks(BATCH) {
            let work: Vec<(PathBuf, Name, Option<Entry>)> = batch
                .iter()
                .filter_map(|n| {
                    let child = path.join(n);
                    if self.excludes.is_excluded(&child) {
                        return None;
                    }
                    let name = Name(n.as_bytes().to_vec());
                    let p = parent_entries
                        .as_mut()
                        .and_then(|it| next_matching(it, &name));
                    Some((child, name, p))
                })
                .collect();
            let entries: Vec<Option<Entry>> = work
                .into_par_iter()
                .map(|(child, name, parent)| {
                    let meta = match std::fs::symlink_metadata(&child) {
                        Ok(m) => m,
                        Err(e) => {
                            self.report(&child, e);
                            return Ok(None);
                        }
                    };
                    self.entry(&child, name, &meta, parent.as_ref(), root_dev, false)
                })
                .collect::<Result<_>>()?;
            for e in entries.into_iter().flatten() {
                builder.push(e)?;
            }
        }
        builder.finish().map(Some)
    }

    /// Fills a file entry's content: reused from the parent when unchanged, else read. Returns
    /// false when the file could not be read (reported).
    fn file(
        &self,
        path: &Path,
        meta: &Metadata,
        e: &mut Entry,
        parent: Option<&Entry>,
    ) -> Result<bool> {
        if meta.nlink() > 1 && !meta.is_dir() {
            let mut links = self.hard_links.lock().expect("hard links lock");
            let key = (meta.dev(), meta.ino());
            match links.get(&key) {
                Some(first) => {
                    e.kind = EntryKind::Hardlink;
                    e.target = Some(Name(first.clone()));
                }
                None => {
                    links.insert(key, path.as_os_str().as_bytes().to_vec());
                }
            }
        }
        if let Some(p) = parent.filter(|p| self.unchanged(p, e, meta)) {
            e.content = p.content.clone();
            e.size = p.size;
            self.counters
                .files_unmodified
                .fetch_add(1, Ordering::Relaxed);
            self.counters
                .bytes_total
                .fetch_add(p.size, Ordering::Relaxed);
            self.progress.add_bytes(p.size);
            self.progress.add_file();
            return Ok(true);
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NOATIME)
            .open(path)
            .or_else(|_| {
                // O_NOATIME is only allowed to the file's owner.
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(path)
            });
        let file = match file {
            Ok(f) => f,
            Err(err) => {
                self.report(path, err);
                return Ok(false);
            }
        };
        match store_content(self.writer, file, Some(meta.len()), self.progress) {
            Ok(stored) => {
                e.content = stored.parts;
                e.size = stored.size;
                self.counters.count_file(parent.is_some(), stored.size);
                self.progress.add_file();
                Ok(true)
            }
            Err(ReadFailure::Source(err)) => {
                self.report(path, err);
                Ok(false)
            }
            Err(ReadFailure::Repository(err)) => Err(err),
        }
    }

    /// True when the parent's entry describes this file unchanged and every blob of its content,
    /// down through its content lists, is still stored outside condemned packs: a writer may only
    /// reference blobs it has seen in its index (spec/concurrency.md).
    fn unchanged(&self, parent: &Entry, now: &Entry, meta: &Metadata) -> bool {
        let same = matches!(parent.kind, EntryKind::File | EntryKind::Hardlink)
            && parent.size == meta.len()
            && parent.mtime == now.mtime
            && parent.ctime == now.ctime
            && parent.inode == now.inode;
        let lists_present = parent.content.iter().all(|part| match part {
            ContentRef::Chunk { id, .. } => self.writer.has(BlobKind::Data, id),
            ContentRef::List { id, .. } => self.writer.has(BlobKind::Tree, id),
        });
        if !same || !lists_present {
            return false;
        }
        let has_lists = parent
            .content
            .iter()
            .any(|p| matches!(p, ContentRef::List { .. }));
        !has_lists
            || self
                .repo()
                .file_chunks(&parent.content)
                .is_ok_and(|chunks| {
                    chunks
                        .iter()
                        .all(|(_, id, _)| self.writer.has(BlobKind::Data, id))
                })
    }
}

/// Advances a sorted entry iterator to `name`; returns the entry of that name, if any.
fn next_matching(
    it: &mut std::iter::Peekable<crate::indexed::DirEntries<'_>>,
    name: &Name,
) -> Option<Entry> {
    loop {
        match it.peek() {
            Some(Ok(e)) if e.name < *name => {
                it.next();
            }
            Some(Ok(e)) if e.name == *name => return it.next().and_then(|r| r.ok()),
            Some(Err(_)) => {
                // An unreadable parent listing only costs re-reading files.
                it.next();
                return None;
            }
            _ => return None,
        }
    }
}

/// Counts files and bytes under the targets, for a progress bar's total.
pub(crate) fn count(targets: &[PathBuf], excludes: &Excludes) -> (u64, u64) {
    let mut files = 0u64;
    let mut bytes = 0u64;
    let mut stack: Vec<PathBuf> = targets.to_vec();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&path) {
                stack.extend(
                    rd.flatten()
                        .map(|d| d.path())
                        .filter(|p| !excludes.is_excluded(p)),
                );
            }
        } else if meta.is_file() {
            files += 1;
            bytes += meta.len();
        }
    }
    (files, bytes)
}

/// Error for a stream source that could not be read.
pub(crate) fn stream_error(what: &str, e: std::io::Error) -> Error {
    Error::new(
        crate::error::ErrorKind::SourceFailed,
        format!("reading {what} failed: {e}; no snapshot was saved"),
    )
    .with_source(e)
}
