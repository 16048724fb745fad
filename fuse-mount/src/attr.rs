//! File attributes as FUSE reports them, from tree entries and for the layout's own directories.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_engine::format::{EntryKind, Node};
use fuser::{FileAttr, FileType, INodeNo};

use crate::inodes::{Ino, Item};

/// Block size reported by `stat` and `statfs`.
pub(crate) const BLOCK_SIZE: u32 = 4096;

/// Owner of the layout's own directories and links: whoever mounted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Owner {
    /// The user and group of this process.
    pub(crate) fn current() -> Owner {
        // SAFETY: getuid and getgid cannot fail.
        unsafe {
            Owner {
                uid: libc::getuid(),
                gid: libc::getgid(),
            }
        }
    }
}

/// Nanoseconds since the epoch as a time, before the epoch too.
pub(crate) fn time(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

/// The FUSE file type of an entry type (a hard link is a regular file).
pub(crate) fn file_type(kind: EntryKind) -> FileType {
    match kind {
        EntryKind::File | EntryKind::Hardlink => FileType::RegularFile,
        EntryKind::Dir => FileType::Directory,
        EntryKind::Symlink => FileType::Symlink,
        EntryKind::Chardev => FileType::CharDevice,
        EntryKind::Blockdev => FileType::BlockDevice,
        EntryKind::Fifo => FileType::NamedPipe,
        EntryKind::Socket => FileType::Socket,
    }
}

/// A device number as the kernel's FUSE attributes carry it (`new_encode_dev`).
fn encode_rdev(rdev: u64) -> u32 {
    let major = libc::major(rdev);
    let minor = libc::minor(rdev);
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

fn attr(ino: Ino, kind: FileType, perm: u32, size: u64, ns: (i64, i64)) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: time(ns.0),
        mtime: time(ns.0),
        ctime: time(ns.1),
        crtime: time(ns.0),
        kind,
        perm: (perm & 0o7777) as u16,
        nlink: 1,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: BLOCK_SIZE,
        flags: 0,
    }
}

/// A directory of the layout or a snapshot's root: read-only, owned by whoever mounted.
pub(crate) fn layout_dir(ino: Ino, mtime_ns: i64, nlink: u32, owner: Owner) -> FileAttr {
    FileAttr {
        nlink,
        uid: owner.uid,
        gid: owner.gid,
        ..attr(ino, FileType::Directory, 0o555, 0, (mtime_ns, mtime_ns))
    }
}

/// A `latest` symlink to `target`.
pub(crate) fn layout_link(ino: Ino, target: &str, mtime_ns: i64, owner: Owner) -> FileAttr {
    FileAttr {
        uid: owner.uid,
        gid: owner.gid,
        ..attr(
            ino,
            FileType::Symlink,
            0o777,
            target.len() as u64,
            (mtime_ns, mtime_ns),
        )
    }
}

/// An entry of a snapshot's tree. `dir_nlink` is the link count of a directory.
pub(crate) fn item(ino: Ino, item: &Item, dir_nlink: u32) -> FileAttr {
    let kind = file_type(item.kind);
    let size = match item.kind {
        EntryKind::File | EntryKind::Hardlink => item.size,
        EntryKind::Symlink => item.target.as_ref().map_or(0, |t| t.0.len() as u64),
        _ => 0,
    };
    let nlink = match item.kind {
        EntryKind::Dir => dir_nlink,
        _ => u32::try_from(item.links.max(1)).unwrap_or(u32::MAX),
    };
    FileAttr {
        nlink,
        uid: item.uid,
        gid: item.gid,
        rdev: match item.kind {
            EntryKind::Chardev | EntryKind::Blockdev => encode_rdev(item.rdev),
            _ => 0,
        },
        ..attr(ino, kind, item.mode, size, (item.mtime, item.ctime))
    }
}

/// The link count of a directory whose listing is `root`: 2 plus its subdirectories when the listing
/// is a single piece at hand, else 1, which tells tools the count is unknown (as btrfs does).
pub(crate) fn dir_nlink(root: Option<&Node>) -> u32 {
    match root {
        Some(Node::Leaf(entries)) => {
            let dirs = entries.iter().filter(|e| e.kind == EntryKind::Dir).count();
            u32::try_from(dirs + 2).unwrap_or(u32::MAX)
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_the_epoch_and_device_numbers() {
        assert_eq!(
            time(-1_500_000_000),
            UNIX_EPOCH - Duration::from_millis(1500)
        );
        assert_eq!(time(2_000_000_001), UNIX_EPOCH + Duration::new(2, 1));
        assert_eq!(encode_rdev(libc::makedev(8, 1)), 0x801);
        assert_eq!(
            encode_rdev(libc::makedev(259, 300)),
            (300 & 0xff) | (259 << 8) | (256 << 12)
        );
    }
}
