//! `cairn restore`: writes a snapshot's tree, or part of it, into a local directory.
//!
//! The walk goes through the snapshot's tree in name order. Directories are created as they are
//! reached (or, with include patterns, when something below them is selected); files are collected into
//! batches of bounded size, and each batch is written by planning first and then fetching every blob it
//! needs once, in ranged reads grouped by pack ([`fetch`]). Special files are made as they are reached;
//! hard links, then symbolic links, are made once every file is written; directory metadata comes last,
//! deepest first, so writing into a directory never changes its restored times or locks it.
//!
//! Whatever the repository says, nothing is written outside the target: every path is the target joined
//! with validated names; a directory is only entered if it is a real directory (never a symlink); files
//! are created anew with `O_NOFOLLOW` after removing what was there; and the snapshot's own symlinks
//! exist only after every other write is done.
//!
//! Failures of one file go into [`RestoreStats::errors`] and the run goes on; a file whose content could
//! not be restored exactly is removed rather than left with wrong bytes.

mod fetch;
mod filter;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

use cairn_repo_format::{Entry, EntryKind, Name, Snapshot, MAX_BLOB_LEN};
use serde::Serialize;

use crate::error::{Error, ErrorKind, FileError, Result};
use crate::fsmeta::{make_node, set_mode, set_mtime, set_owner, write_xattr};
use crate::indexed::Indexed;
use crate::progress::Progress;

use fetch::{BatchContext, FileJob};
use filter::Filter;

/// A batch holds files until their chunks plus their count reach this; then it is written.
const BATCH_WEIGHT: usize = 10_000;
/// Longest snapshot path followed; deeper entries are reported and skipped.
const MAX_PATH_BYTES: usize = 4096;

/// What to restore and where.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RestoreOptions {
    /// Directory to restore into; created if missing, merged into if it exists.
    pub target: PathBuf,
    /// Glob patterns of snapshot paths to restore (everything when empty). A pattern without a leading
    /// `/` matches at any depth; an included directory includes everything below it, and the
    /// directories above an included entry are created with their metadata.
    pub include: Vec<String>,
    /// Glob patterns of snapshot paths to leave out, with everything below them; exclude wins over
    /// include.
    pub exclude: Vec<String>,
    /// Restore only this path of the snapshot (restic's `snapshot:subpath`): a directory's contents
    /// go directly into the target, anything else goes into the target under its own name.
    pub subpath: Option<String>,
    /// Read every restored file back and check it against its blob ids.
    pub verify: bool,
}

impl RestoreOptions {
    /// Restores everything into `target`.
    pub fn new(target: impl Into<PathBuf>) -> Self {
        RestoreOptions {
            target: target.into(),
            ..Default::default()
        }
    }

    /// Sets the target directory.
    pub fn target(mut self, target: impl Into<PathBuf>) -> Self {
        self.target = target.into();
        self
    }

    /// Sets the include patterns.
    pub fn include<S: Into<String>>(mut self, patterns: impl IntoIterator<Item = S>) -> Self {
        self.include = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the exclude patterns.
    pub fn exclude<S: Into<String>>(mut self, patterns: impl IntoIterator<Item = S>) -> Self {
        self.exclude = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Restores only `subpath` of the snapshot (`None` for all of it).
    pub fn subpath(mut self, subpath: Option<impl Into<String>>) -> Self {
        self.subpath = subpath.map(Into::into);
        self
    }

    /// Turns verification of written files on or off.
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }
}

/// What a restore did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RestoreStats {
    /// Regular files restored, hard links included.
    pub files: u64,
    /// Directories created or merged into (the target itself not counted).
    pub dirs: u64,
    /// Symlinks, devices, fifos and sockets created.
    pub others: u64,
    /// Bytes of file content restored.
    pub bytes: u64,
    /// What could not be restored, or restored only in part (e.g. metadata that could not be set).
    pub errors: Vec<FileError>,
}

/// Restores `snapshot` (or the part `options` selects) into `options.target`.
///
/// Returns an error only when the run cannot start or go on as a whole: invalid patterns, a subpath
/// that is not in the snapshot, an unreadable root tree, a target that cannot be created. Everything
/// else is reported per file in [`RestoreStats::errors`].
pub fn restore(
    repo: &Indexed,
    snapshot: &Snapshot,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreStats> {
    let tuning = Tuning {
        batch_limit: BATCH_WEIGHT,
        as_root: crate::is_root(),
    };
    let _prefetch = repo.prefetch_trees(&snapshot.tree);
    restore_tuned(repo, snapshot, options, progress, tuning)
}

/// Knobs the tests turn: a small batch size, and acting as if not root.
struct Tuning {
    batch_limit: usize,
    as_root: bool,
}

fn restore_tuned(
    repo: &Indexed,
    snapshot: &Snapshot,
    options: &RestoreOptions,
    progress: &dyn Progress,
    tuning: Tuning,
) -> Result<RestoreStats> {
    let filter = Filter::new(&options.include, &options.exclude)?;
    let target = &options.target;
    if target.as_os_str().is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "no target directory given",
        ));
    }
    let start = start_frame(repo, snapshot, options.subpath.as_deref(), target)?;
    std::fs::create_dir_all(target).map_err(|e| Error::io(target, e))?;
    if !std::fs::metadata(target)
        .map_err(|e| Error::io(target, e))?
        .is_dir()
    {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{} is not a directory", target.display()),
        ));
    }
    let max = u64::from(repo.config().chunker.max_size);
    let zero = (max as usize <= MAX_BLOB_LEN)
        .then(|| (repo.keys().blob_id(&vec![0u8; max as usize]), max));
    let mut run = Run {
        ctx: BatchContext {
            repo,
            zero,
            verify: options.verify,
            progress,
        },
        filter,
        is_root: tuning.as_root,
        batch: Vec::new(),
        batch_weight: 0,
        batch_limit: tuning.batch_limit,
        dirs: Vec::new(),
        symlinks: Vec::new(),
        links: Vec::new(),
        link_targets: HashSet::new(),
        restored: HashMap::new(),
        stats: RestoreStats::default(),
    };
    run.walk(start);
    run.flush();
    run.make_hardlinks();
    run.make_symlinks();
    run.finish_dirs();
    Ok(run.stats)
}

/// A directory being walked.
struct Frame<'a> {
    entries: Box<dyn Iterator<Item = Result<Entry>> + 'a>,
    local: PathBuf,
    snap: Vec<u8>,
    /// Selected by an include pattern (its own or an ancestor's).
    selected: bool,
    /// Exists on disk.
    created: bool,
    /// The directory's entry, for its metadata (`None` for the target itself).
    entry: Option<Entry>,
    /// The last name seen in it.
    last: Option<Name>,
}

/// Where the walk starts: the root tree, a subdirectory, or a single entry.
fn start_frame<'a>(
    repo: &'a Indexed,
    snapshot: &Snapshot,
    subpath: Option<&str>,
    target: &Path,
) -> Result<Frame<'a>> {
    let parts: Vec<&str> = subpath
        .unwrap_or("")
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let frame = |entries: Box<dyn Iterator<Item = Result<Entry>> + 'a>, snap: Vec<u8>| Frame {
        entries,
        local: target.to_path_buf(),
        snap,
        selected: false,
        created: true,
        entry: None,
        last: None,
    };
    let unreadable = |e: Error| e.context("cannot read the snapshot's tree");
    if parts.is_empty() {
        repo.node(&snapshot.tree).map_err(unreadable)?;
        return Ok(frame(
            Box::new(repo.dir_entries(&snapshot.tree)),
            Vec::new(),
        ));
    }
    let path = parts.join("/");
    let entry = repo
        .resolve(&snapshot.tree, &path)
        .map_err(|e| e.context(format!("cannot find /{path} in the snapshot")))?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("/{path} is not in the snapshot"),
            )
        })?;
    match (entry.kind, entry.subtree) {
        (EntryKind::Dir, Some(tree)) => {
            repo.node(&tree).map_err(unreadable)?;
            Ok(frame(
                Box::new(repo.dir_entries(&tree)),
                format!("/{path}").into_bytes(),
            ))
        }
        _ => {
            let parent = parts[..parts.len() - 1]
                .iter()
                .flat_map(|p| [b"/".as_slice(), p.as_bytes()])
                .flatten()
                .copied()
                .collect();
            Ok(frame(Box::new(std::iter::once(Ok(entry))), parent))
        }
    }
}

/// `dir` joined with one name, or `None` unless the name is exactly one normal component.
fn join_name(dir: &Path, name: &[u8]) -> Option<PathBuf> {
    let name = Path::new(OsStr::from_bytes(name));
    let mut components = name.components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(c)), None) if c.as_bytes() == name.as_os_str().as_bytes() => {
            Some(dir.join(c))
        }
        _ => None,
    }
}

/// Makes room for a new non-directory at `path`: removes a file, symlink or special file there (never
/// following it); a directory in the way is an error.
fn remove_existing(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a directory is in the way",
        )),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes sure `path` is a real directory: creates it, or accepts an existing directory. A symlink or
/// anything else in the way is an error (it is never followed or replaced).
fn make_dir(path: &Path) -> io::Result<()> {
    let check = |path: &Path| match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(true),
        Ok(m) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            if m.file_type().is_symlink() {
                "a symlink is in the way of a directory; nothing is restored below it"
            } else {
                "a file is in the way of a directory; nothing is restored below it"
            },
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    };
    if check(path)? {
        // A directory restored earlier may be read-only now; its final mode is set again at the end.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::symlink_metadata(path)?.permissions().mode();
        if mode & 0o700 != 0o700 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o700))?;
        }
        return Ok(());
    }
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && check(path)? => Ok(()),
        other => other,
    }
}

/// The state of one restore.
struct Run<'a> {
    ctx: BatchContext<'a>,
    filter: Filter,
    is_root: bool,
    batch: Vec<FileJob>,
    batch_weight: usize,
    batch_limit: usize,
    /// Directories created, with their depth, for their metadata at the end.
    dirs: Vec<(usize, PathBuf, Entry)>,
    symlinks: Vec<(PathBuf, Entry)>,
    /// Hard links: local path, snapshot path, entry.
    links: Vec<(PathBuf, Vec<u8>, Entry)>,
    /// Snapshot paths hard links seen so far point to.
    link_targets: HashSet<Vec<u8>>,
    /// Restored files a hard link may point to: snapshot path to local path.
    restored: HashMap<Vec<u8>, PathBuf>,
    stats: RestoreStats,
}

impl<'r> Run<'r> {
    fn error(&mut self, path: &Path, detail: impl std::fmt::Display) {
        let message = format!("restore of {} failed: {detail}", path.display());
        self.report(path, message);
    }

    fn report(&mut self, path: &Path, message: String) {
        self.ctx.progress.warn(&message);
        self.stats.errors.push(FileError {
            path: path.to_path_buf(),
            message,
        });
    }

    fn walk(&mut self, start: Frame<'r>) {
        let repo: &'r Indexed = self.ctx.repo;
        let mut stack: Vec<Frame<'r>> = vec![start];
        while let Some(top) = stack.last_mut() {
            let entry = match top.entries.next() {
                None => {
                    stack.pop();
                    continue;
                }
                Some(Ok(entry)) => entry,
                Some(Err(e)) => {
                    let local = top.local.clone();
                    stack.pop();
                    self.error(&local, format_args!("cannot read its listing: {e}"));
                    continue;
                }
            };
            // Names come in strictly increasing order; a hostile branch could list a leaf twice or
            // out of range, which would restore one path twice.
            if top.last.as_ref().is_some_and(|last| entry.name <= *last) {
                let shown = top.local.join(entry.name.to_string());
                self.error(&shown, "its directory lists it twice or out of order");
                continue;
            }
            top.last = Some(entry.name.clone());
            let name = entry.name.as_bytes();
            let Some(local) =
                join_name(&top.local, name).filter(|_| entry.name.is_valid_component())
            else {
                let shown = top.local.join(entry.name.to_string());
                self.error(&shown, "the snapshot names it with an invalid name");
                continue;
            };
            let snap = [top.snap.as_slice(), b"/", name].concat();
            if snap.len() > MAX_PATH_BYTES {
                self.error(&local, "its path is too long");
                continue;
            }
            if self.filter.excluded(&snap) {
                continue;
            }
            let selected = top.selected || self.filter.included(&snap);
            if entry.kind == EntryKind::Dir {
                let Some(tree) = entry.subtree else { continue };
                if !selected && !self.filter.may_include_below(&snap) {
                    continue;
                }
                stack.push(Frame {
                    entries: Box::new(repo.dir_entries(&tree)),
                    local,
                    snap,
                    selected,
                    created: false,
                    entry: Some(entry),
                    last: None,
                });
                if selected {
                    self.create_dirs(&mut stack);
                }
            } else if selected && self.create_dirs(&mut stack) {
                self.leaf(local, snap, entry);
            }
        }
    }

    /// Creates every directory of the stack not yet created; on failure reports it, drops it and what
    /// is below it from the walk, and returns false.
    fn create_dirs(&mut self, stack: &mut Vec<Frame<'_>>) -> bool {
        // A directory is created only after its parents, so a created top means all are.
        if stack.last().is_none_or(|f| f.created) {
            return true;
        }
        for depth in 0..stack.len() {
            let frame = &mut stack[depth];
            if frame.created {
                continue;
            }
            if let Err(e) = make_dir(&frame.local) {
                let local = frame.local.clone();
                stack.truncate(depth);
                self.error(&local, e);
                return false;
            }
            frame.created = true;
            self.stats.dirs += 1;
            if let Some(entry) = frame.entry.take() {
                self.dirs.push((depth, frame.local.clone(), entry));
            }
        }
        true
    }

    fn leaf(&mut self, local: PathBuf, snap: Vec<u8>, entry: Entry) {
        match entry.kind {
            EntryKind::File => self.plan_file(local, snap, entry),
            EntryKind::Hardlink => {
                if let Some(target) = &entry.target {
                    self.link_targets.insert(target.as_bytes().to_vec());
                }
                self.links.push((local, snap, entry));
            }
            EntryKind::Symlink => self.symlinks.push((local, entry)),
            EntryKind::Chardev | EntryKind::Blockdev | EntryKind::Fifo | EntryKind::Socket => {
                self.special(&local, &entry)
            }
            EntryKind::Dir => unreachable!("directories are walked, not restored as leaves"),
        }
    }

    /// Adds a file to the batch, writing the batch when it is full.
    fn plan_file(&mut self, local: PathBuf, snap: Vec<u8>, mut entry: Entry) {
        let chunks = match self.ctx.repo.file_chunks(&entry.content) {
            Ok(c) => c,
            Err(e) => return self.error(&local, format_args!("cannot read its content list: {e}")),
        };
        if let Some((_, id, len)) = chunks.iter().find(|c| c.2 > MAX_BLOB_LEN as u64) {
            let detail = format!(
                "blob {} claims {len} bytes, more than a blob holds",
                id.short()
            );
            return self.error(&local, detail);
        }
        entry.content = Vec::new();
        self.batch_weight += 1 + chunks.len();
        self.batch.push(FileJob {
            local,
            snap,
            entry,
            chunks,
        });
        if self.batch_weight >= self.batch_limit {
            self.flush();
        }
    }

    /// Writes the batch, then sets the metadata of every file that was written.
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let jobs = std::mem::take(&mut self.batch);
        self.batch_weight = 0;
        let results = fetch::run_batch(&self.ctx, &jobs);
        for (job, failure) in jobs.into_iter().zip(results) {
            if let Some(message) = failure {
                self.report(&job.local, message);
                continue;
            }
            self.apply_metadata(&job.local, &job.entry);
            self.stats.files += 1;
            self.stats.bytes += job.entry.size;
            self.ctx.progress.add_file();
            if job.entry.links > 1 || self.link_targets.contains(&job.snap) {
                self.restored.insert(job.snap, job.local);
            }
        }
    }

    /// Makes each hard link to the file it names when that file was restored in this run; otherwise
    /// (or when linking fails) writes the link's own content as a file.
    fn make_hardlinks(&mut self) {
        for (local, snap, entry) in std::mem::take(&mut self.links) {
            let source = entry
                .target
                .as_ref()
                .and_then(|t| self.restored.get(t.as_bytes()));
            if let Some(source) = source {
                match remove_existing(&local).and_then(|()| std::fs::hard_link(source, &local)) {
                    Ok(()) => {
                        self.stats.files += 1;
                        self.ctx.progress.add_file();
                        continue;
                    }
                    Err(e) => self.ctx.progress.warn(&format!(
                        "cannot link {} to {}: {e}; writing it as a separate file",
                        local.display(),
                        source.display()
                    )),
                }
            }
            self.plan_file(local, snap, entry);
        }
        self.flush();
    }

    /// Creates the snapshot's symlinks, now that no other write can go through them.
    fn make_symlinks(&mut self) {
        for (local, entry) in std::mem::take(&mut self.symlinks) {
            let Some(target) = &entry.target else {
                continue;
            };
            let made = remove_existing(&local).and_then(|()| {
                std::os::unix::fs::symlink(OsStr::from_bytes(target.as_bytes()), &local)
            });
            match made {
                Ok(()) => {
                    self.apply_metadata(&local, &entry);
                    self.stats.others += 1;
                }
                Err(e) => self.error(&local, format_args!("cannot create symlink: {e}")),
            }
        }
    }

    /// Creates a device node, fifo or socket.
    fn special(&mut self, local: &Path, entry: &Entry) {
        let device = matches!(entry.kind, EntryKind::Chardev | EntryKind::Blockdev);
        if device && !self.is_root {
            return self.error(local, "device files can only be created by root");
        }
        let made = remove_existing(local)
            .and_then(|()| make_node(local, entry.kind, entry.mode, entry.rdev));
        match made {
            Ok(()) => {
                self.apply_metadata(local, entry);
                self.stats.others += 1;
            }
            Err(e) => self.error(
                local,
                format_args!("cannot create {:?} node: {e}", entry.kind),
            ),
        }
    }

    /// Sets directory metadata, deepest first, after everything inside is written.
    fn finish_dirs(&mut self) {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
        for (_, path, entry) in &dirs {
            self.apply_metadata(path, entry);
        }
    }

    /// Owner (as root), extended attributes, mode (not on symlinks) and modification time, in an
    /// order where each step cannot undo or block the next; problems are reported, not fatal.
    fn apply_metadata(&mut self, path: &Path, entry: &Entry) {
        let mut problems = Vec::new();
        if self.is_root {
            if let Err(e) = set_owner(path, entry.uid, entry.gid) {
                problems.push(format!("cannot set owner {}:{}: {e}", entry.uid, entry.gid));
            }
        }
        for x in &entry.xattrs {
            if let Err(e) = write_xattr(path, x) {
                problems.push(format!("cannot set extended attribute {}: {e}", x.name));
            }
        }
        if entry.kind != EntryKind::Symlink {
            if let Err(e) = set_mode(path, entry.mode) {
                problems.push(format!("cannot set mode {:o}: {e}", entry.mode));
            }
        }
        if let Err(e) = set_mtime(path, entry.mtime) {
            problems.push(format!("cannot set modification time: {e}"));
        }
        if !problems.is_empty() {
            let message = format!(
                "restore of {} is incomplete: {}",
                path.display(),
                problems.join("; ")
            );
            self.report(path, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::sync::atomic::{AtomicU64, Ordering};

    use bytes::Bytes;
    use cairn_repo_format::{
        Base64Bytes, BlobId, BlobKind, Child, ContentRef, Name, Node, Source, Summary, Xattr,
        FORMAT_VERSION,
    };

    use super::*;
    use crate::backend::FileType;
    use crate::testutil::{memory_repo, reopen};
    use crate::{read_xattrs, BlobWriter, ContentBuilder, DirBuilder, NoProgress};

    const MTIME: i64 = 1_600_000_000_123_456_789;
    const DIR_MTIME: i64 = 1_500_000_000_987_654_321;

    fn snapshot(tree: BlobId) -> Snapshot {
        Snapshot {
            version: FORMAT_VERSION,
            time: "2026-11-21T10:00:00Z".parse().unwrap(),
            host: "h".into(),
            username: "u".into(),
            tags: vec![],
            paths: vec!["/".into()],
            excludes: vec![],
            parent: None,
            original: None,
            tree,
            source: Source::Files,
            summary: Summary::default(),
            program_version: "cairn test".into(),
        }
    }

    /// Deterministic bytes that do not compress to nothing.
    fn data(seed: u8, len: usize) -> Vec<u8> {
        let mut x = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    fn content(w: &BlobWriter, bytes: &[u8], piece: usize) -> Vec<ContentRef> {
        let mut c = ContentBuilder::new(w);
        for p in bytes.chunks(piece) {
            let (id, _) = w.add(BlobKind::Data, p).unwrap();
            c.push(id, p.len() as u64).unwrap();
        }
        c.finish().unwrap()
    }

    fn file(w: &BlobWriter, name: &str, bytes: &[u8], piece: usize) -> Entry {
        let mut e = Entry::new(Name::new(name), EntryKind::File);
        e.content = content(w, bytes, piece);
        e.size = bytes.len() as u64;
        e.mode = 0o640;
        e.mtime = MTIME;
        e
    }

    fn tree(w: &BlobWriter, mut entries: Vec<Entry>) -> BlobId {
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let mut d = DirBuilder::new(w);
        for e in entries {
            d.push(e).unwrap();
        }
        d.finish().unwrap()
    }

    fn dir(w: &BlobWriter, name: &str, entries: Vec<Entry>) -> Entry {
        let mut e = Entry::new(Name::new(name), EntryKind::Dir);
        e.subtree = Some(tree(w, entries));
        e.mode = 0o750;
        e.mtime = DIR_MTIME;
        e
    }

    fn link(kind: EntryKind, name: &str, target: &[u8]) -> Entry {
        let mut e = Entry::new(Name::new(name), kind);
        e.target = Some(Name(target.to_vec()));
        e.mtime = MTIME;
        e.mode = 0o777;
        e
    }

    /// Writes a repository whose root tree `build` makes; returns it reopened with its snapshot.
    fn repo_with(build: impl FnOnce(&BlobWriter) -> BlobId) -> (Indexed, Snapshot) {
        let repo = memory_repo();
        let w = BlobWriter::new(repo.clone());
        let root = build(&w);
        w.finish().unwrap();
        (reopen(&repo), snapshot(root))
    }

    fn run(repo: &Indexed, snap: &Snapshot, options: &RestoreOptions) -> RestoreStats {
        restore(repo, snap, options, &NoProgress).unwrap()
    }

    fn mtime(meta: &std::fs::Metadata) -> i64 {
        meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
    }

    fn messages(stats: &RestoreStats) -> Vec<&str> {
        stats.errors.iter().map(|e| e.message.as_str()).collect()
    }

    #[derive(Default)]
    struct Counting {
        files: AtomicU64,
        bytes: AtomicU64,
    }

    impl Progress for Counting {
        fn add_bytes(&self, bytes: u64) {
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        fn add_file(&self) {
            self.files.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn full_tree(w: &BlobWriter) -> BlobId {
        let big = data(1, 100_000);
        let mut a = file(w, "a.txt", &big, 10_000);
        a.links = 2;
        a.uid = 1234;
        a.gid = 5678;
        a.xattrs = vec![Xattr {
            name: Name::new("user.cairn"),
            value: Base64Bytes(b"value".to_vec()),
        }];
        let mut hl = link(EntryKind::Hardlink, "hl", b"/home/a.txt");
        hl.content = content(w, &big, 10_000);
        hl.size = big.len() as u64;
        // 70 parts: more than fit in an entry, so the content goes through a content list.
        let long = file(w, "long", &data(2, 70 * 1024), 1024);
        let empty = file(w, "empty", b"", 1);
        let mut ro = file(w, "ro", b"read only", 4);
        ro.mode = 0o444;
        let mut fifo = Entry::new(Name::new("fifo"), EntryKind::Fifo);
        fifo.mode = 0o600;
        fifo.mtime = MTIME;
        let mut dev = Entry::new(Name::new("null"), EntryKind::Chardev);
        dev.mode = 0o666;
        dev.rdev = libc::makedev(1, 3);
        let mut locked = dir(w, "locked", vec![file(w, "inner", b"in a locked dir", 8)]);
        locked.mode = 0o500;
        let home = dir(
            w,
            "home",
            vec![
                a,
                hl,
                long,
                empty,
                ro,
                fifo,
                dev,
                locked,
                link(EntryKind::Symlink, "sym", b"a.txt"),
                link(EntryKind::Symlink, "dangling", b"/nonexistent/\xff"),
            ],
        );
        tree(w, vec![home, dir(w, "void", vec![])])
    }

    #[test]
    fn restores_every_kind_of_entry_with_its_metadata() {
        let (repo, snap) = repo_with(full_tree);
        let out = tempfile::tempdir().unwrap();
        let t = out.path().join("target");
        let progress = Counting::default();
        let stats = restore(&repo, &snap, &RestoreOptions::new(&t), &progress).unwrap();
        assert!(stats.errors.is_empty(), "{:?}", messages(&stats));
        let h = t.join("home");
        let big = data(1, 100_000);
        assert_eq!(std::fs::read(h.join("a.txt")).unwrap(), big);
        assert_eq!(std::fs::read(h.join("long")).unwrap(), data(2, 70 * 1024));
        assert_eq!(std::fs::read(h.join("empty")).unwrap(), b"");
        assert_eq!(
            std::fs::read(h.join("locked/inner")).unwrap(),
            b"in a locked dir"
        );
        let a = std::fs::symlink_metadata(h.join("a.txt")).unwrap();
        let hl = std::fs::symlink_metadata(h.join("hl")).unwrap();
        assert_eq!(a.ino(), hl.ino(), "the hard link shares the file's inode");
        assert_eq!(a.mode() & 0o7777, 0o640);
        assert_eq!(mtime(&a), MTIME);
        if crate::is_root() {
            assert_eq!((a.uid(), a.gid()), (1234, 5678));
        }
        let xattrs = read_xattrs(&h.join("a.txt")).unwrap();
        assert!(xattrs
            .iter()
            .any(|x| x.name == Name::new("user.cairn") && x.value.0 == b"value"));
        let ro = std::fs::symlink_metadata(h.join("ro")).unwrap();
        assert_eq!(ro.mode() & 0o7777, 0o444);
        assert_eq!(
            std::fs::read_link(h.join("sym")).unwrap(),
            Path::new("a.txt")
        );
        let dangling = std::fs::read_link(h.join("dangling")).unwrap();
        assert_eq!(dangling.as_os_str().as_bytes(), b"/nonexistent/\xff");
        assert_eq!(
            mtime(&std::fs::symlink_metadata(h.join("sym")).unwrap()),
            MTIME
        );
        let fifo = std::fs::symlink_metadata(h.join("fifo")).unwrap();
        assert!(fifo.file_type().is_fifo());
        assert_eq!(fifo.mode() & 0o7777, 0o600);
        let dev = std::fs::symlink_metadata(h.join("null"));
        if crate::is_root() {
            let dev = dev.unwrap();
            assert!(dev.file_type().is_char_device());
            assert_eq!(dev.rdev(), libc::makedev(1, 3));
        }
        for d in [&h, &h.join("locked"), &t.join("void")] {
            let m = std::fs::symlink_metadata(d).unwrap();
            assert!(m.is_dir());
            assert_eq!(mtime(&m), DIR_MTIME, "{}", d.display());
        }
        assert_eq!(
            std::fs::symlink_metadata(h.join("locked")).unwrap().mode() & 0o7777,
            0o500
        );
        assert_eq!(
            std::fs::symlink_metadata(&h).unwrap().mode() & 0o7777,
            0o750
        );
        // a.txt, hl, long, empty, ro, locked/inner.
        assert_eq!(stats.files, 6);
        assert_eq!(stats.dirs, 3);
        assert_eq!(stats.others, if crate::is_root() { 4 } else { 3 });
        let written = 100_000 + 70 * 1024 + 9 + 15;
        assert_eq!(stats.bytes, written);
        assert_eq!(progress.files.load(Ordering::Relaxed), stats.files);
        assert_eq!(progress.bytes.load(Ordering::Relaxed), written);
    }

    #[test]
    fn as_a_normal_user_devices_are_reported_and_the_rest_restored() {
        let (repo, snap) = repo_with(full_tree);
        let out = tempfile::tempdir().unwrap();
        let options = RestoreOptions::new(out.path()).verify(true);
        let tuning = Tuning {
            batch_limit: 3,
            as_root: false,
        };
        let stats = restore_tuned(&repo, &snap, &options, &NoProgress, tuning).unwrap();
        assert_eq!(messages(&stats).len(), 1, "{:?}", messages(&stats));
        assert!(stats.errors[0].path.ends_with("home/null"));
        assert!(stats.errors[0].message.contains("only be created by root"));
        assert!(std::fs::symlink_metadata(out.path().join("home/null")).is_err());
        assert_eq!(stats.files, 6);
        let h = out.path().join("home");
        // Batches of three: the hard link's file was written in an earlier batch and is still linked.
        let a = std::fs::symlink_metadata(h.join("a.txt")).unwrap();
        assert_eq!(
            a.ino(),
            std::fs::symlink_metadata(h.join("hl")).unwrap().ino()
        );
        assert_eq!(std::fs::read(h.join("long")).unwrap(), data(2, 70 * 1024));
        // Again into the same target, whose `locked` directory is read-only now.
        let tuning = Tuning {
            batch_limit: 3,
            as_root: false,
        };
        let again = restore_tuned(&repo, &snap, &options, &NoProgress, tuning).unwrap();
        assert_eq!(again, stats);
        let locked = std::fs::symlink_metadata(h.join("locked")).unwrap();
        assert_eq!(locked.mode() & 0o7777, 0o500);
    }

    #[test]
    fn zero_blobs_stay_holes_and_the_known_zero_blob_is_never_fetched() {
        let (repo, snap) = repo_with(|w| {
            let max = w.repo().config().chunker.max_size as usize;
            let zero_id = w.repo().keys().blob_id(&vec![0u8; max]);
            let (a, _) = w.add(BlobKind::Data, &data(3, 10_000)).unwrap();
            let (small_zero, _) = w.add(BlobKind::Data, &[0u8; 100_000]).unwrap();
            let (b, _) = w.add(BlobKind::Data, &data(4, 10_000)).unwrap();
            let mut c = ContentBuilder::new(w);
            c.push(a, 10_000).unwrap();
            // Not in the repository at all: a blob of zeros of the chunker's largest size.
            c.push(zero_id, max as u64).unwrap();
            c.push(small_zero, 100_000).unwrap();
            c.push(b, 10_000).unwrap();
            let mut e = Entry::new(Name::new("sparse"), EntryKind::File);
            e.content = c.finish().unwrap();
            e.size = (120_000 + max) as u64;
            e.mode = 0o600;
            tree(w, vec![e])
        });
        assert!(!repo.index().contains(
            BlobKind::Data,
            &repo
                .keys()
                .blob_id(&vec![0u8; repo.config().chunker.max_size as usize])
        ));
        let out = tempfile::tempdir().unwrap();
        let stats = run(&repo, &snap, &RestoreOptions::new(out.path()).verify(true));
        assert!(stats.errors.is_empty(), "{:?}", messages(&stats));
        let max = repo.config().chunker.max_size as usize;
        let mut expected = data(3, 10_000);
        expected.resize(10_000 + max + 100_000, 0);
        expected.extend(data(4, 10_000));
        let path = out.path().join("sparse");
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        let allocated = std::fs::metadata(&path).unwrap().blocks() * 512;
        assert!(
            allocated <= 64 << 10,
            "{allocated} bytes allocated: zeros were written"
        );
        assert_eq!(stats.bytes, expected.len() as u64);
    }

    fn filter_tree(w: &BlobWriter) -> BlobId {
        let docs = dir(
            w,
            "docs",
            vec![file(w, "a.txt", b"a", 1), file(w, "b.md", b"b", 1)],
        );
        let cache = dir(w, "cache", vec![file(w, "c.txt", b"c", 1)]);
        let x = dir(w, "x", vec![docs, cache, file(w, "notes.txt", b"n", 1)]);
        let srv = dir(w, "srv", vec![file(w, "y.txt", b"y", 1)]);
        tree(w, vec![dir(w, "home", vec![x]), srv])
    }

    /// Every path below `root`, relative, sorted.
    fn listing(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                out.push(p.strip_prefix(root).unwrap().display().to_string());
                if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn include_exclude_and_subpath_select_what_is_restored() {
        let (repo, snap) = repo_with(filter_tree);
        let case = |options: RestoreOptions| {
            let out = tempfile::tempdir().unwrap();
            let stats = run(&repo, &snap, &options.target(out.path()));
            assert!(stats.errors.is_empty(), "{:?}", messages(&stats));
            (listing(out.path()), out)
        };
        let (got, out) = case(
            RestoreOptions::default()
                .include(["*.txt"])
                .exclude(["cache"]),
        );
        assert_eq!(
            got,
            [
                "home",
                "home/x",
                "home/x/docs",
                "home/x/docs/a.txt",
                "home/x/notes.txt",
                "srv",
                "srv/y.txt"
            ]
        );
        // Parents of included entries are created with their own metadata.
        let x = std::fs::metadata(out.path().join("home/x")).unwrap();
        assert_eq!((x.mode() & 0o7777, mtime(&x)), (0o750, DIR_MTIME));

        let (got, _) = case(RestoreOptions::default().include(["/home/x/docs"]));
        let want = [
            "home",
            "home/x",
            "home/x/docs",
            "home/x/docs/a.txt",
            "home/x/docs/b.md",
        ];
        assert_eq!(got, want);

        let (got, _) = case(
            RestoreOptions::default()
                .include(["/home/x/*"])
                .exclude(["*.md"]),
        );
        assert!(got.contains(&"home/x/cache/c.txt".to_string()));
        assert!(!got.contains(&"home/x/docs/b.md".to_string()));

        let (got, _) = case(
            RestoreOptions::default()
                .subpath(Some("/home/x/"))
                .exclude(["/home/x/cache"]),
        );
        assert_eq!(got, ["docs", "docs/a.txt", "docs/b.md", "notes.txt"]);

        let (got, _) = case(RestoreOptions::default().subpath(Some("srv/y.txt")));
        assert_eq!(got, ["y.txt"]);

        for missing in ["nope", "home/x/../x", "srv/y.txt/z"] {
            let out = tempfile::tempdir().unwrap();
            let options = RestoreOptions::new(out.path()).subpath(Some(missing));
            let err = restore(&repo, &snap, &options, &NoProgress).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound, "{missing}: {err}");
        }
    }

    /// Flips a byte in the stored form of `id`.
    fn damage(repo: &Indexed, id: &BlobId) {
        let loc = repo.locate(BlobKind::Data, id).unwrap();
        let name = loc.pack.to_hex();
        let mut pack = repo.backend().read(FileType::Pack, &name).unwrap().to_vec();
        pack[loc.offset as usize + loc.length as usize / 2] ^= 0x40;
        repo.backend()
            .write(FileType::Pack, &name, Bytes::from(pack))
            .unwrap();
    }

    #[test]
    fn damaged_or_forged_blobs_fail_only_their_files_and_leave_no_wrong_bytes() {
        let (x, y, z) = (data(5, 5000), data(6, 5000), data(7, 5000));
        let forged = BlobId([0x66; 32]);
        let (repo, snap) = repo_with(|w| {
            // A blob sealed under an id that is not the hash of its content.
            w.add_with_id(BlobKind::Data, forged, b"not what the id says")
                .unwrap();
            let mut evil = Entry::new(Name::new("forged"), EntryKind::File);
            evil.content = vec![ContentRef::Chunk {
                id: forged,
                len: 20,
            }];
            evil.size = 20;
            let mut missing = Entry::new(Name::new("missing"), EntryKind::File);
            missing.content = vec![ContentRef::Chunk {
                id: BlobId([0x77; 32]),
                len: 3,
            }];
            missing.size = 3;
            tree(
                w,
                vec![
                    file(w, "bad", &[x.clone(), y.clone()].concat(), 5000),
                    file(w, "bad2", &x, 5000),
                    file(w, "good", &[y.clone(), z.clone()].concat(), 5000),
                    evil,
                    missing,
                ],
            )
        });
        damage(&repo, &repo.keys().blob_id(&x));
        let out = tempfile::tempdir().unwrap();
        std::fs::write(out.path().join("bad"), b"an older version").unwrap();
        let progress = Counting::default();
        let options = RestoreOptions::new(out.path()).verify(true);
        let stats = restore(&repo, &snap, &options, &progress).unwrap();
        let mut failed: Vec<_> = stats.errors.iter().map(|e| e.path.clone()).collect();
        failed.sort();
        let names = ["bad", "bad2", "forged", "missing"];
        assert_eq!(failed, names.map(|n| out.path().join(n)));
        for e in &stats.errors {
            assert!(e
                .message
                .starts_with(&format!("restore of {} failed: ", e.path.display())));
            if !e.path.ends_with("missing") {
                assert!(e.message.contains(" is damaged: "), "{}", e.message);
            }
            assert!(!e.path.exists(), "{} left behind", e.path.display());
        }
        assert_eq!(
            std::fs::read(out.path().join("good")).unwrap(),
            [y, z].concat()
        );
        assert_eq!(stats.files, 1);
        assert_eq!(progress.files.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_missing_pack_is_reported_per_file() {
        let (repo, snap) = repo_with(|w| tree(w, vec![file(w, "f", &data(8, 3000), 1000)]));
        let loc = repo
            .locate(BlobKind::Data, &repo.keys().blob_id(&data(8, 3000)[..1000]))
            .unwrap();
        repo.backend()
            .delete(FileType::Pack, &loc.pack.to_hex())
            .unwrap();
        let out = tempfile::tempdir().unwrap();
        let stats = run(&repo, &snap, &RestoreOptions::new(out.path()));
        assert_eq!(stats.errors.len(), 1);
        assert!(
            stats.errors[0].message.contains("cannot be read"),
            "{:?}",
            messages(&stats)
        );
        assert!(!out.path().join("f").exists());
    }

    #[test]
    fn a_hostile_tree_or_target_cannot_make_restore_write_outside_the_target() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"untouched").unwrap();
        let outside_path = outside.path().as_os_str().as_bytes().to_vec();
        let (repo, snap) = repo_with(|w| {
            // Names the decoder refuses, written raw: the directory is reported as unreadable.
            let mut names = Vec::new();
            for bad in ["..", "x/../../escape", "."] {
                names.push(file(w, bad, b"escaped", 1));
            }
            let raw = w
                .add(BlobKind::Tree, &Node::Leaf(names).encode())
                .unwrap()
                .0;
            let mut escapes = Entry::new(Name::new("escapes"), EntryKind::Dir);
            escapes.subtree = Some(raw);
            // A branch whose two pieces both list `a`, with different content.
            let piece = |bytes: &[u8]| {
                let leaf = Node::Leaf(vec![file(w, "a", bytes, 4)]);
                w.add(BlobKind::Tree, &leaf.encode()).unwrap().0
            };
            let (first, second) = (piece(b"first"), piece(b"second!"));
            let child = |name: &str, tree| Child {
                first: Name::new(name),
                tree,
                count: 1,
            };
            let branch = Node::Branch(vec![child("a", first), child("b", second)]);
            let mut twice = Entry::new(Name::new("twice"), EntryKind::Dir);
            twice.subtree = Some(w.add(BlobKind::Tree, &branch.encode()).unwrap().0);
            // A hard link naming a path outside: only ever looked up among restored files.
            let mut hl = link(EntryKind::Hardlink, "hl", b"/../../../etc/passwd");
            hl.content = content(w, b"own content", 4);
            hl.size = 11;
            tree(
                w,
                vec![
                    link(EntryKind::Symlink, "a", &outside_path),
                    escapes,
                    twice,
                    dir(w, "d", vec![file(w, "victim", b"overwritten", 4)]),
                    file(w, "g", b"replaces the symlink", 4),
                    file(w, "z", b"after the symlink", 4),
                    hl,
                ],
            )
        });
        let out = tempfile::tempdir().unwrap();
        let t = out.path();
        std::os::unix::fs::symlink(outside.path(), t.join("d")).unwrap();
        std::os::unix::fs::symlink(&victim, t.join("g")).unwrap();
        let stats = run(&repo, &snap, &RestoreOptions::new(t));
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
        assert_eq!(listing(outside.path()), ["victim"]);
        let mut failed: Vec<_> = stats.errors.iter().map(|e| e.path.clone()).collect();
        failed.sort();
        let want = [t.join("d"), t.join("escapes"), t.join("twice/a")];
        assert_eq!(failed, want, "{:?}", messages(&stats));
        assert_eq!(std::fs::read(t.join("twice/a")).unwrap(), b"first");
        // The snapshot's symlink is restored as stored, and the pre-existing one at `d` is left alone.
        assert_eq!(std::fs::read_link(t.join("a")).unwrap(), outside.path());
        assert_eq!(std::fs::read_link(t.join("d")).unwrap(), outside.path());
        let g = std::fs::symlink_metadata(t.join("g")).unwrap();
        assert!(g.is_file());
        assert_eq!(std::fs::read(t.join("g")).unwrap(), b"replaces the symlink");
        assert_eq!(std::fs::read(t.join("hl")).unwrap(), b"own content");
        assert!(std::fs::symlink_metadata(t.join("hl")).unwrap().is_file());
        // The directory exists in the snapshot and is created; its listing is refused, so it stays empty.
        assert!(std::fs::read_dir(t.join("escapes"))
            .unwrap()
            .next()
            .is_none());
        assert!(!out.path().parent().unwrap().join("escape").exists());
    }

    #[test]
    fn an_existing_target_is_merged_into_and_files_in_it_replaced() {
        let (repo, snap) = repo_with(|w| {
            let home = dir(w, "home", vec![file(w, "a.txt", b"new", 1)]);
            tree(w, vec![home])
        });
        let out = tempfile::tempdir().unwrap();
        let t = out.path();
        std::fs::create_dir(t.join("home")).unwrap();
        std::fs::write(t.join("keep"), b"mine").unwrap();
        std::fs::write(t.join("home/a.txt"), b"a much longer older content").unwrap();
        // Another name for the old file: replacing must not write through it.
        std::fs::hard_link(t.join("home/a.txt"), t.join("other")).unwrap();
        let stats = run(&repo, &snap, &RestoreOptions::new(t));
        assert!(stats.errors.is_empty(), "{:?}", messages(&stats));
        assert_eq!(std::fs::read(t.join("home/a.txt")).unwrap(), b"new");
        assert_eq!(std::fs::read(t.join("keep")).unwrap(), b"mine");
        assert_eq!(
            std::fs::read(t.join("other")).unwrap(),
            b"a much longer older content"
        );
        assert_eq!(stats.dirs, 1);
        // Twice in a row gives the same result.
        let again = run(&repo, &snap, &RestoreOptions::new(t));
        assert_eq!(again, stats);
    }

    #[test]
    fn a_hard_link_whose_file_is_not_restored_gets_its_own_content() {
        let (repo, snap) = repo_with(full_tree);
        let out = tempfile::tempdir().unwrap();
        let options = RestoreOptions::new(out.path()).include(["hl"]);
        let stats = run(&repo, &snap, &options);
        assert!(stats.errors.is_empty(), "{:?}", messages(&stats));
        assert_eq!(listing(out.path()), ["home", "home/hl"]);
        let hl = std::fs::symlink_metadata(out.path().join("home/hl")).unwrap();
        assert!(hl.is_file());
        assert_eq!(hl.nlink(), 1);
        assert_eq!(
            std::fs::read(out.path().join("home/hl")).unwrap(),
            data(1, 100_000)
        );
        assert_eq!((stats.files, stats.bytes), (1, 100_000));
    }

    #[test]
    fn only_failures_of_the_whole_run_are_errors() {
        let (repo, snap) = repo_with(filter_tree);
        let err = restore(&repo, &snap, &RestoreOptions::default(), &NoProgress).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let out = tempfile::tempdir().unwrap();
        let bad = RestoreOptions::new(out.path()).include(["[unclosed"]);
        let err = restore(&repo, &snap, &bad, &NoProgress).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let gone = snapshot(BlobId([9; 32]));
        let err = restore(&repo, &gone, &RestoreOptions::new(out.path()), &NoProgress).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        std::fs::write(out.path().join("file"), b"").unwrap();
        let not_dir = RestoreOptions::new(out.path().join("file"));
        assert!(restore(&repo, &snap, &not_dir, &NoProgress).is_err());
        let json = serde_json::to_value(RestoreStats::default()).unwrap();
        assert_eq!(json["errors"], serde_json::json!([]));
    }
}
