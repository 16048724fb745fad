//! The FUSE file system: the `fuser::Filesystem` implementation.
//!
//! Requests answered from memory (attributes, symlinks, extended attributes, `statfs`, `forget`, and
//! lookups whose tree pieces are cached) are answered on the session thread. Everything that may
//! read the repository (other lookups, listings, opens, reads) goes to the worker pool, which replies
//! when done, so one slow read never holds up another request.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::hash::{Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use cairn_engine::format::{Entry, EntryKind, Name};
use cairn_engine::{ErrorKind, Indexed};
use fuser::{
    Errno, FileAttr, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory,
    ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyXattr, Request,
};

use crate::attr::{self, Owner, BLOCK_SIZE};
use crate::blobs::Blobs;
use crate::catalog::Catalog;
use crate::files::OpenFile;
use crate::inodes::{Ino, Inodes, Item, Kind, SnapRoot};
use crate::layout::{Layout, Target};
use crate::nodes::Nodes;
use crate::workers::{Pool, Spawner};

/// How long the kernel may keep names and attributes below a snapshot's root: they never change.
const TREE_TTL: Duration = Duration::from_secs(3600);
/// How long the kernel may keep names and attributes of the layout, which changes with new snapshots.
const LAYOUT_TTL: Duration = Duration::from_secs(1);
/// Longest name the kernel accepts in a listing; longer names are left out of listings.
const NAME_MAX: usize = 255;

/// State shared by the session thread and the workers.
pub(crate) struct Shared {
    pub(crate) catalog: Catalog,
    pub(crate) inodes: Inodes,
    pub(crate) nodes: Nodes,
    pub(crate) blobs: Blobs,
    files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    next_fh: AtomicU64,
    owner: Owner,
}

/// The file system handed to fuser.
pub(crate) struct CairnFs {
    shared: Arc<Shared>,
    spawner: Spawner,
    _pool: Pool,
}

impl CairnFs {
    /// A file system over `catalog`, with `cache_bytes` for data blobs (and half as much for decoded
    /// tree nodes) and `workers` worker threads.
    pub(crate) fn new(
        catalog: Catalog,
        cache_bytes: usize,
        workers: usize,
    ) -> std::io::Result<Self> {
        let pool = Pool::new(workers)?;
        Ok(CairnFs {
            shared: Arc::new(Shared {
                catalog,
                inodes: Inodes::new(),
                nodes: Nodes::new(cache_bytes / 2),
                blobs: Blobs::new(cache_bytes),
                files: Mutex::new(HashMap::new()),
                next_fh: AtomicU64::new(1),
                owner: Owner::current(),
            }),
            spawner: pool.spawner(),
            _pool: pool,
        })
    }

    /// The shared state (for statistics).
    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Runs `f` with the shared state on a worker.
    fn spawn(&self, f: impl FnOnce(&Arc<Shared>, &Spawner) + Send + 'static) {
        let (shared, spawner) = (self.shared.clone(), self.spawner.clone());
        self.spawner.spawn(move || f(&shared, &spawner));
    }
}

/// A directory reply, with or without attributes.
enum Listing {
    Plain(ReplyDirectory),
    Plus(ReplyDirectoryPlus),
}

/// Where a tree directory's listing is: snapshot tree number and the directory's tree.
struct TreeDir {
    snap: u32,
    tree: cairn_engine::format::BlobId,
}

fn tree_dir(kind: &Kind) -> Option<TreeDir> {
    match kind {
        Kind::SnapshotRoot(r) => Some(TreeDir {
            snap: r.snap,
            tree: r.tree,
        }),
        Kind::Entry(Item {
            snap,
            subtree: Some(tree),
            kind: EntryKind::Dir,
            ..
        }) => Some(TreeDir {
            snap: *snap,
            tree: *tree,
        }),
        _ => None,
    }
}

fn eio(what: &str, e: &cairn_engine::Error) -> Errno {
    tracing::warn!("{what}: {e}");
    Errno::EIO
}

/// An inode number for a plain listing of a name the kernel holds no inode for: any stable number
/// does, as no other call can ask about it.
fn listing_ino(parent: Ino, name: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (parent, name).hash(&mut h);
    (h.finish() | (1 << 63)) & !1
}

impl Shared {
    fn files(&self) -> MutexGuard<'_, HashMap<u64, Arc<OpenFile>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Attributes of an inode and how long they hold.
    fn attr(&self, ino: Ino, kind: &Kind, layout: &Layout) -> (FileAttr, Duration) {
        match kind {
            Kind::Layout(dir) => {
                let nlink = u32::try_from(2 + layout.subdirs(dir)).unwrap_or(u32::MAX);
                let attr = attr::layout_dir(ino, layout.newest_ns(dir), nlink, self.owner);
                (attr, LAYOUT_TTL)
            }
            Kind::Link(target) => {
                let newest = layout.newest_ns(&crate::layout::Dir::Root);
                (
                    attr::layout_link(ino, target, newest, self.owner),
                    LAYOUT_TTL,
                )
            }
            Kind::SnapshotRoot(r) => {
                let nlink = attr::dir_nlink(self.nodes.peek(&r.tree).as_deref());
                (
                    attr::layout_dir(ino, r.time_ns, nlink, self.owner),
                    TREE_TTL,
                )
            }
            Kind::Entry(item) => {
                let nlink = match item.subtree {
                    Some(t) => attr::dir_nlink(self.nodes.peek(&t).as_deref()),
                    None => 1,
                };
                (attr::item(ino, item, nlink), TREE_TTL)
            }
        }
    }

    /// The inode kind a layout target stands for.
    fn layout_kind(&self, layout: &Layout, target: &Target) -> Option<Kind> {
        Some(match target {
            Target::Dir(d) => Kind::Layout(d.clone()),
            Target::Link(t) => Kind::Link(t.clone()),
            Target::Snapshot(i) => {
                let s = layout.snapshots().get(*i)?;
                Kind::SnapshotRoot(SnapRoot {
                    id: s.id,
                    tree: s.tree,
                    time_ns: s.time_ns,
                    snap: self.inodes.snap_number(&s.tree),
                })
            }
        })
    }

    /// Runs `f` on the index; when it reports a missing object, loads the index again (new
    /// snapshots may need it) and retries once.
    fn with_repo<T>(
        &self,
        f: impl Fn(&Indexed) -> cairn_engine::Result<T>,
    ) -> cairn_engine::Result<T> {
        match f(&self.catalog.repo()) {
            Err(e) if e.kind() == ErrorKind::NotFound && self.catalog.reload_index() => {
                f(&self.catalog.repo())
            }
            other => other,
        }
    }

    /// Answers a lookup. Without `may_read`, gives the reply back instead when answering needs a
    /// read (a tree piece not cached, or a stale snapshot list): the caller hands it to a worker.
    fn lookup(
        &self,
        parent: Ino,
        name: &[u8],
        reply: ReplyEntry,
        may_read: bool,
    ) -> Option<ReplyEntry> {
        let Some(kind) = self.inodes.get(parent) else {
            reply.error(Errno::ENOENT);
            return None;
        };
        if let Kind::Layout(dir) = &*kind {
            if self.catalog.is_stale() {
                if !may_read {
                    return Some(reply);
                }
                self.catalog.refresh_if_stale();
            }
            let layout = self.catalog.layout();
            let target = std::str::from_utf8(name)
                .ok()
                .and_then(|n| layout.lookup(dir, n));
            let Some(new) = target.and_then(|t| self.layout_kind(&layout, t)) else {
                reply.error(Errno::ENOENT);
                return None;
            };
            let (ino, kind) = self.inodes.lookup(parent, &Name(name.to_vec()), new, None);
            let (attr, ttl) = self.attr(ino, &kind, &layout);
            reply.entry(&ttl, &attr, Generation(0));
            return None;
        }
        let Some(dir) = tree_dir(&kind) else {
            reply.error(Errno::ENOTDIR);
            return None;
        };
        let found = if may_read {
            self.with_repo(|repo| self.nodes.lookup(repo, &dir.tree, name))
        } else {
            match self.nodes.lookup_cached(&dir.tree, name) {
                Some(found) => Ok(found),
                None => return Some(reply),
            }
        };
        match found {
            Ok(Some(entry)) => {
                let (ino, kind) = self.tree_inode(parent, &dir, &entry);
                let (attr, ttl) = self.attr(ino, &kind, &self.catalog.layout());
                reply.entry(&ttl, &attr, Generation(0));
            }
            Ok(None) => reply.error(Errno::ENOENT),
            Err(e) => reply.error(eio("lookup", &e)),
        }
        None
    }

    fn tree_inode(&self, parent: Ino, dir: &TreeDir, entry: &Entry) -> (Ino, Arc<Kind>) {
        let item = Item::new(dir.snap, dir.tree, entry);
        self.inodes.lookup(
            parent,
            &entry.name,
            Kind::Entry(item),
            Some((entry.device, entry.inode)),
        )
    }

    /// Lists a directory from `offset`. Positions 0 and 1 are `.` and `..` (in plain listings
    /// only), entry `i` is at position `i + 2`; each listed name carries the position after it.
    fn list(&self, ino: Ino, offset: u64, mut reply: Listing) {
        let Some(kind) = self.inodes.get(ino) else {
            return reply_error(reply, Errno::ENOENT);
        };
        if let Listing::Plain(r) = &mut reply {
            for (pos, name) in [(0u64, "."), (1, "..")] {
                if offset <= pos && r.add(INodeNo(ino), pos + 1, fuser::FileType::Directory, name) {
                    return reply.ok();
                }
            }
        }
        let skip = offset.saturating_sub(2);
        if let Kind::Layout(dir) = &*kind {
            self.catalog.refresh_if_stale();
            let layout = self.catalog.layout();
            let Some(entries) = layout.entries(dir) else {
                return reply_error(reply, Errno::ENOENT);
            };
            let start = usize::try_from(skip).unwrap_or(usize::MAX);
            for (i, (name, target)) in entries.iter().enumerate().skip(start) {
                let next = i as u64 + 3;
                let full = match &mut reply {
                    Listing::Plain(r) => {
                        let ft = match target {
                            Target::Link(_) => fuser::FileType::Symlink,
                            _ => fuser::FileType::Directory,
                        };
                        let ino = self
                            .inodes
                            .find(ino, name.as_bytes())
                            .unwrap_or_else(|| listing_ino(ino, name.as_bytes()));
                        r.add(INodeNo(ino), next, ft, name)
                    }
                    Listing::Plus(r) => {
                        let Some(new) = self.layout_kind(&layout, target) else {
                            continue;
                        };
                        let name = Name::new(name.as_str());
                        let (child, kind) = self.inodes.lookup(ino, &name, new, None);
                        let (attr, ttl) = self.attr(child, &kind, &layout);
                        let full = r.add(
                            INodeNo(child),
                            next,
                            OsStr::from_bytes(&name.0),
                            &ttl,
                            &attr,
                            Generation(0),
                        );
                        if full {
                            self.inodes.forget(child, 1);
                        }
                        full
                    }
                };
                if full {
                    break;
                }
            }
            return reply.ok();
        }
        let Some(dir) = tree_dir(&kind) else {
            return reply_error(reply, Errno::ENOTDIR);
        };
        let repo = self.catalog.repo();
        let layout = self.catalog.layout();
        let cursor = match self.nodes.entries_from(&repo, &dir.tree, skip) {
            Ok(c) => c,
            Err(e) => return reply_error(reply, eio("listing", &e)),
        };
        for (i, entry) in cursor.enumerate() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    // Entries already added stay; the rest of the listing is lost.
                    eio("listing", &e);
                    break;
                }
            };
            let next = skip + i as u64 + 3;
            if entry.name.0.len() > NAME_MAX {
                continue;
            }
            let name = OsStr::from_bytes(&entry.name.0);
            let full = match &mut reply {
                Listing::Plain(r) => {
                    let child = self
                        .inodes
                        .find(ino, &entry.name.0)
                        .unwrap_or_else(|| listing_ino(ino, &entry.name.0));
                    r.add(INodeNo(child), next, attr::file_type(entry.kind), name)
                }
                Listing::Plus(r) => {
                    let (child, kind) = self.tree_inode(ino, &dir, &entry);
                    let (attr, ttl) = self.attr(child, &kind, &layout);
                    let full = r.add(INodeNo(child), next, name, &ttl, &attr, Generation(0));
                    if full {
                        self.inodes.forget(child, 1);
                    }
                    full
                }
            };
            if full {
                break;
            }
        }
        reply.ok()
    }

    fn open(&self, ino: Ino, reply: ReplyOpen) {
        let Some(kind) = self.inodes.get(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let Kind::Entry(item) = &*kind else {
            return reply.error(Errno::EISDIR);
        };
        match item.kind {
            EntryKind::File | EntryKind::Hardlink => {}
            EntryKind::Dir => return reply.error(Errno::EISDIR),
            // Devices, fifos and sockets are not opened through a FUSE file system (nodev).
            _ => return reply.error(Errno::ENXIO),
        }
        match self.with_repo(|repo| self.nodes.lookup(repo, &item.dir, &item.name.0)) {
            Ok(Some(entry)) => {
                let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
                self.files().insert(fh, Arc::new(OpenFile::new(&entry)));
                // The content never changes: the kernel may keep pages across opens.
                reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE);
            }
            Ok(None) => reply.error(Errno::ENOENT),
            Err(e) => reply.error(eio("open", &e)),
        }
    }

    fn read(
        self: &Arc<Self>,
        spawner: &Spawner,
        file: Arc<OpenFile>,
        offset: u64,
        size: u32,
        reply: ReplyData,
    ) {
        let end = offset.saturating_add(u64::from(size));
        if file.sequential(offset, end) {
            let repo = self.catalog.repo();
            for (id, len) in file.readahead(&repo, &self.nodes, &self.blobs, end) {
                let (repo, shared) = (repo.clone(), self.clone());
                let queued = spawner.spawn_background(move || {
                    // Only a hint: a failure shows when the data is read for real.
                    let _ = shared.blobs.get(&repo, &id, len);
                });
                if !queued {
                    break;
                }
            }
        }
        match self.with_repo(|repo| file.read(repo, &self.nodes, &self.blobs, offset, size)) {
            Ok(data) => reply.data(data.as_slice()),
            Err(e) => reply.error(eio("read", &e)),
        }
    }
}

fn reply_error(reply: Listing, e: Errno) {
    match reply {
        Listing::Plain(r) => r.error(e),
        Listing::Plus(r) => r.error(e),
    }
}

impl Listing {
    fn ok(self) {
        match self {
            Listing::Plain(r) => r.ok(),
            Listing::Plus(r) => r.ok(),
        }
    }
}

impl Filesystem for CairnFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Each is optional: an older kernel without one works, only slower. With POSIX ACLs on
        // (the mount checks permissions in the kernel anyway), the kernel caches each inode's ACL,
        // so `ls -l` asks for it once per inode rather than every time.
        for flag in [
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_READDIRPLUS_AUTO,
            InitFlags::FUSE_PARALLEL_DIROPS,
            InitFlags::FUSE_CACHE_SYMLINKS,
            InitFlags::FUSE_POSIX_ACL,
        ] {
            let _ = config.add_capabilities(flag);
        }
        if let Err(max) = config.set_max_readahead(1 << 20) {
            let _ = config.set_max_readahead(max);
        }
        if let Err(max) = config.set_max_background(64) {
            let _ = config.set_max_background(max);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        // Answered here when everything needed is in memory (`ls -l` of a listed directory looks up
        // every name); otherwise on a worker.
        let Some(reply) = self.shared.lookup(parent.0, name.as_bytes(), reply, false) else {
            return;
        };
        let name = name.as_bytes().to_vec();
        self.spawn(move |s, _| {
            s.lookup(parent.0, &name, reply, true);
        });
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.shared.inodes.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.shared.inodes.get(ino.0) {
            Some(kind) => {
                let layout = self.shared.catalog.layout();
                let (attr, ttl) = self.shared.attr(ino.0, &kind, &layout);
                reply.attr(&ttl, &attr);
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.shared.inodes.get(ino.0).as_deref() {
            Some(Kind::Link(target)) => reply.data(target.as_bytes()),
            Some(Kind::Entry(Item {
                target: Some(t), ..
            })) => reply.data(&t.0),
            Some(_) => reply.error(Errno::EINVAL),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        self.spawn(move |s, _| s.open(ino.0, reply));
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(file) = self.shared.files().get(&fh.0).cloned() else {
            return reply.error(Errno::EBADF);
        };
        self.spawn(move |s, spawner| s.read(spawner, file, offset, size, reply));
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Nothing is ever written, so there is nothing to flush.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.shared.files().remove(&fh.0);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.shared.inodes.get(ino.0).as_deref() {
            // The layout changes with new snapshots: list it afresh every time.
            Some(Kind::Layout(_)) => reply.opened(FileHandle(0), FopenFlags::empty()),
            // A snapshot's directories never change: the kernel may cache their listings.
            Some(k) if tree_dir(k).is_some() => reply.opened(
                FileHandle(0),
                FopenFlags::FOPEN_CACHE_DIR | FopenFlags::FOPEN_KEEP_CACHE,
            ),
            Some(_) => reply.error(Errno::ENOTDIR),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        self.spawn(move |s, _| s.list(ino.0, offset, Listing::Plain(reply)));
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        self.spawn(move |s, _| s.list(ino.0, offset, Listing::Plus(reply)));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let blocks = self.shared.catalog.stored_bytes() / u64::from(BLOCK_SIZE);
        let files = self.shared.catalog.layout().snapshots().len() as u64;
        reply.statfs(
            blocks,
            0,
            0,
            files,
            0,
            BLOCK_SIZE,
            NAME_MAX as u32,
            BLOCK_SIZE,
        );
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let kind = self.shared.inodes.get(ino.0);
        let value = match kind.as_deref() {
            Some(Kind::Entry(item)) => item
                .xattrs
                .iter()
                .find(|x| x.name.0 == name.as_bytes())
                .map(|x| x.value.0.as_slice()),
            Some(_) => None,
            None => return reply.error(Errno::ENOENT),
        };
        match value {
            None => reply.error(Errno::NO_XATTR),
            Some(v) => xattr_reply(reply, v, size),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let kind = self.shared.inodes.get(ino.0);
        let mut names = Vec::new();
        match kind.as_deref() {
            Some(Kind::Entry(item)) => {
                for x in &item.xattrs {
                    names.extend_from_slice(&x.name.0);
                    names.push(0);
                }
            }
            Some(_) => {}
            None => return reply.error(Errno::ENOENT),
        }
        xattr_reply(reply, &names, size);
    }
}

/// Replies with an attribute value or name list: its size when asked with 0, else the bytes if
/// they fit.
fn xattr_reply(reply: ReplyXattr, bytes: &[u8], size: u32) {
    let Ok(len) = u32::try_from(bytes.len()) else {
        return reply.error(Errno::E2BIG);
    };
    if size == 0 {
        reply.size(len);
    } else if len > size {
        reply.error(Errno::ERANGE);
    } else {
        reply.data(bytes);
    }
}
