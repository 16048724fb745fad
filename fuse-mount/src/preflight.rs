//! Checks before mounting, so a user learns what is wrong and what to do rather than reading an
//! errno from the kernel: FUSE present and usable, the mountpoint an empty directory that nothing is
//! mounted on.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

const DEV_FUSE: &str = "/dev/fuse";

/// True when running as root (then the mount is made with mount(2), not through fusermount).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The fusermount helper fuser would use, if one is on the PATH.
fn fusermount() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FUSERMOUNT_PATH") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    ["fusermount3", "fusermount"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Checks that FUSE can be used: `/dev/fuse` exists and opens (as root), or a fusermount helper
/// exists (otherwise); `--allow-other` by a user needs `user_allow_other` in /etc/fuse.conf.
pub(crate) fn check_fuse(allow_other: bool) -> Result<()> {
    let dev = Path::new(DEV_FUSE);
    if !dev.exists() {
        return Err(Error::new(
            ErrorKind::FuseUnavailable,
            "FUSE is not available: /dev/fuse does not exist; load the kernel module \
             (`modprobe fuse`), or give a container the device (`--device /dev/fuse`)",
        ));
    }
    if is_root() {
        if let Err(e) = OpenOptions::new().read(true).write(true).open(dev) {
            return Err(Error::new(
                ErrorKind::FuseUnavailable,
                format!(
                    "FUSE is not usable: cannot open /dev/fuse ({e}); a container needs the \
                     device and the SYS_ADMIN capability"
                ),
            )
            .with_source(e));
        }
        return Ok(());
    }
    if fusermount().is_none() {
        return Err(Error::new(
            ErrorKind::FuseUnavailable,
            "FUSE is not usable: mounting as a user needs fusermount3 (or fusermount); install the \
             fuse3 package",
        ));
    }
    if allow_other {
        let conf = std::fs::read_to_string("/etc/fuse.conf").unwrap_or_default();
        let allowed = conf.lines().any(|l| l.trim() == "user_allow_other");
        if !allowed {
            return Err(Error::new(
                ErrorKind::FuseUnavailable,
                "--allow-other needs `user_allow_other` in /etc/fuse.conf when not mounting as root",
            ));
        }
    }
    Ok(())
}

/// Decodes the octal escapes (`\040` for a space) of a mountinfo field.
fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Every mount point of this process's mount namespace, from `mountinfo` text.
pub(crate) fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|f| PathBuf::from(std::ffi::OsString::from_vec(unescape(f))))
        .collect()
}

/// True when something is mounted at `path` (which must be canonical).
pub(crate) fn is_mounted(path: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| mount_points(&m).iter().any(|p| p == path))
        .unwrap_or(false)
}

/// Checks the mountpoint and returns it canonical: an existing, empty directory that nothing is
/// mounted on.
pub(crate) fn check_mountpoint(path: &Path) -> Result<PathBuf> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::mountpoint(
                ErrorKind::BadMountpoint,
                path,
                "it does not exist; create an empty directory there first",
            ))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            return Err(Error::mountpoint(
                ErrorKind::Busy,
                path,
                format!(
                    "a FUSE file system there has lost its process; unmount it first \
                     (`fusermount3 -u {0}` or, as root, `umount {0}`)",
                    path.display()
                ),
            ))
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    if !meta.is_dir() {
        return Err(Error::mountpoint(
            ErrorKind::BadMountpoint,
            path,
            "it is not a directory",
        ));
    }
    let canonical = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    if is_mounted(&canonical) {
        return Err(Error::mountpoint(
            ErrorKind::Busy,
            path,
            "something is already mounted there (another `cairn mount`?); unmount it first",
        ));
    }
    let mut entries = std::fs::read_dir(&canonical).map_err(|e| Error::io(path, e))?;
    if entries.next().is_some() {
        return Err(Error::mountpoint(
            ErrorKind::BadMountpoint,
            path,
            "it is not empty; mount on an empty directory",
        ));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_points_are_unescaped() {
        let info = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n\
                    22 27 0:21 / /proc rw,relatime - proc proc rw\n";
        assert_eq!(
            mount_points(info),
            [PathBuf::from("/mnt/with space"), PathBuf::from("/proc")]
        );
        assert_eq!(unescape("a\\134b\\"), b"a\\b\\");
    }

    #[test]
    fn the_mountpoint_must_be_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = check_mountpoint(&missing).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadMountpoint);
        assert!(err.to_string().contains("does not exist"), "{err}");
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(check_mountpoint(&file)
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
        assert!(check_mountpoint(dir.path())
            .unwrap_err()
            .to_string()
            .contains("not empty"));
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert_eq!(
            check_mountpoint(&empty).unwrap(),
            empty.canonicalize().unwrap()
        );
        assert_eq!(
            check_mountpoint(Path::new("/proc")).unwrap_err().kind(),
            ErrorKind::Busy
        );
    }
}
