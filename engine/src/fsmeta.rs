//! File metadata between the local file system and tree entries: reading it for backup, applying it
//! on restore. Links are never followed.

use std::ffi::CString;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use cairn_repo_format::{Base64Bytes, Entry, EntryKind, Name, Xattr};

use crate::sys::Names;

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// The entry kind of a file type.
pub fn kind_of(meta: &Metadata) -> EntryKind {
    let t = meta.file_type();
    if t.is_dir() {
        EntryKind::Dir
    } else if t.is_symlink() {
        EntryKind::Symlink
    } else if t.is_char_device() {
        EntryKind::Chardev
    } else if t.is_block_device() {
        EntryKind::Blockdev
    } else if t.is_fifo() {
        EntryKind::Fifo
    } else if t.is_socket() {
        EntryKind::Socket
    } else {
        EntryKind::File
    }
}

fn nanos(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// An entry with everything `lstat` tells; content, target and subtree are left to the caller.
pub fn entry_from_metadata(name: Name, kind: EntryKind, meta: &Metadata, names: &Names) -> Entry {
    let mut e = Entry::new(name, kind);
    e.mode = meta.mode() & 0o7777;
    e.uid = meta.uid();
    e.gid = meta.gid();
    e.user = names.user(e.uid).unwrap_or_default();
    e.group = names.group(e.gid).unwrap_or_default();
    e.mtime = nanos(meta.mtime(), meta.mtime_nsec());
    e.ctime = nanos(meta.ctime(), meta.ctime_nsec());
    e.inode = meta.ino();
    e.device = meta.dev();
    e.links = meta.nlink();
    if matches!(kind, EntryKind::Chardev | EntryKind::Blockdev) {
        e.rdev = meta.rdev();
    }
    e
}

/// Extended attributes of `path` (not following a final symlink), sorted by name. A file system
/// without xattr support gives none.
pub fn read_xattrs(path: &Path) -> io::Result<Vec<Xattr>> {
    let p = cpath(path)?;
    let mut names = vec![0u8; 1024];
    let len = loop {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::llistxattr(p.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ERANGE) => names.resize(names.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(err),
        }
    };
    let mut out = Vec::new();
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).expect("split on NUL");
        let mut value = vec![0u8; 256];
        loop {
            // SAFETY: the buffer is valid for its length.
            let n = unsafe {
                libc::lgetxattr(
                    p.as_ptr(),
                    cname.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            if n >= 0 {
                value.truncate(n as usize);
                break;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ERANGE) => value.resize(value.len() * 4, 0),
                // Removed between listing and reading.
                Some(libc::ENODATA) => {
                    value.clear();
                    break;
                }
                _ => return Err(err),
            }
        }
        out.push(Xattr {
            name: Name(name.to_vec()),
            value: Base64Bytes(value),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Sets one extended attribute on `path` (not following a final symlink).
pub fn write_xattr(path: &Path, xattr: &Xattr) -> io::Result<()> {
    let p = cpath(path)?;
    let name = CString::new(xattr.name.as_bytes().to_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "xattr name contains NUL"))?;
    let v = &xattr.value.0;
    // SAFETY: pointers and lengths describe valid buffers.
    let rc = unsafe { libc::lsetxattr(p.as_ptr(), name.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets owner and group of `path` without following a final symlink.
pub fn set_owner(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
}

/// Sets permission bits of `path` (never called on symlinks).
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
}

/// Sets access and modification time of `path` to `mtime_ns`, not following a final symlink.
pub fn set_mtime(path: &Path, mtime_ns: i64) -> io::Result<()> {
    let p = cpath(path)?;
    let ts = libc::timespec {
        tv_sec: mtime_ns.div_euclid(1_000_000_000),
        tv_nsec: mtime_ns.rem_euclid(1_000_000_000),
    };
    let times = [ts, ts];
    // SAFETY: valid C string and two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            p.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Creates a device node, fifo or socket file at `path`.
pub fn make_node(path: &Path, kind: EntryKind, mode: u32, rdev: u64) -> io::Result<()> {
    let p = cpath(path)?;
    let file_type = match kind {
        EntryKind::Chardev => libc::S_IFCHR,
        EntryKind::Blockdev => libc::S_IFBLK,
        EntryKind::Fifo => libc::S_IFIFO,
        EntryKind::Socket => libc::S_IFSOCK,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a special file",
            ))
        }
    };
    // SAFETY: valid C string.
    let rc = unsafe { libc::mknod(p.as_ptr(), file_type | (mode & 0o7777), rdev as libc::dev_t) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_metadata_and_round_trips_xattrs_and_times() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"abc").unwrap();
        set_mtime(&f, 1_600_000_000_123_456_789).unwrap();
        let meta = std::fs::symlink_metadata(&f).unwrap();
        let e = entry_from_metadata(Name::new("f"), kind_of(&meta), &meta, &Names::default());
        assert_eq!(e.kind, EntryKind::File);
        assert_eq!(e.mtime, 1_600_000_000_123_456_789);
        let x = Xattr {
            name: Name::new("user.cairn"),
            value: Base64Bytes(b"v".to_vec()),
        };
        if write_xattr(&f, &x).is_ok() {
            assert_eq!(read_xattrs(&f).unwrap(), vec![x]);
        }
    }
}
