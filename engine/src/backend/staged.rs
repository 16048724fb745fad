//! Files written into a local repository piece by piece, so that a pack goes to disk as its blobs
//! are sealed instead of being assembled in memory first (16 MiB per pack, several in flight).
//!
//! A staged file is written as `data/staged#N`, the temporary-name pattern of the local store: listings
//! skip it and [`Backend::remove_stale_temporaries`] sweeps it when a crash leaves it behind. Once
//! complete, it is renamed to its final name, so readers see a file whole or not at all, as with
//! [`Backend::write`]. Dropped before that, it is removed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rand::RngCore;

use super::{Backend, FileType, Traffic};
use crate::error::{Error, Result};

/// A file being written into a local repository; see the module documentation.
#[derive(Debug)]
pub struct StagedFile {
    file: File,
    path: PathBuf,
    root: PathBuf,
    kind: FileType,
    traffic: Arc<Traffic>,
    written: u64,
    published: bool,
}

impl Backend {
    /// A file of type `t` to write piece by piece, when this backend is a local directory; `None`
    /// for object stores, whose writes take whole bodies.
    pub fn stage(&self, t: FileType) -> Option<Result<StagedFile>> {
        let root = self.local_root.as_ref()?;
        let path = root.join(format!("data/staged#{}", rand::rngs::OsRng.next_u64()));
        let create = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
        };
        let created = match create() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(root.join("data")).and_then(|()| create())
            }
            other => other,
        };
        Some(match created {
            Ok(file) => Ok(StagedFile {
                file,
                path,
                root: root.clone(),
                kind: t,
                traffic: self.store.traffic.clone(),
                written: 0,
                published: false,
            }),
            Err(e) => Err(Error::io(&path, e)),
        })
    }
}

impl StagedFile {
    /// Appends `bytes`.
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Gives the complete file its final name.
    pub fn publish(mut self, name: &str) -> Result<()> {
        let target = self.root.join(Backend::path(self.kind, name).as_ref());
        let renamed = match std::fs::rename(&self.path, &target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let dir = target.parent().unwrap_or(Path::new("."));
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                std::fs::rename(&self.path, &target)
            }
            other => other,
        };
        renamed.map_err(|e| Error::io(&target, e))?;
        self.published = true;
        self.traffic.requests.fetch_add(1, Ordering::Relaxed);
        self.traffic
            .bytes_written
            .fetch_add(self.written, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_file_is_invisible_until_published_and_gone_if_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Backend::local(dir.path(), false).unwrap();
        let name = "cd".repeat(32);
        let mut staged = backend.stage(FileType::Pack).unwrap().unwrap();
        staged.append(b"hello ").unwrap();
        staged.append(b"world").unwrap();
        assert!(backend.list(FileType::Pack).unwrap().is_empty());
        staged.publish(&name).unwrap();
        assert_eq!(backend.read(FileType::Pack, &name).unwrap(), "hello world");
        assert_eq!(backend.list(FileType::Pack).unwrap().len(), 1);
        assert_eq!(backend.traffic().bytes_written, 11);

        let mut dropped = backend.stage(FileType::Pack).unwrap().unwrap();
        dropped.append(b"partial").unwrap();
        drop(dropped);
        let left: Vec<_> = std::fs::read_dir(dir.path().join("data"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["cd"], "only the published pack's directory is left");
        assert!(Backend::memory().unwrap().stage(FileType::Pack).is_none());
    }

    #[test]
    fn a_staged_file_left_by_a_crash_is_swept_as_a_stale_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Backend::local(dir.path(), false).unwrap();
        let mut crashed = backend.stage(FileType::Pack).unwrap().unwrap();
        crashed.append(b"half a pack").unwrap();
        std::mem::forget(crashed);
        let hour = std::time::Duration::from_secs(3600);
        assert_eq!(backend.remove_stale_temporaries(hour).unwrap(), 0);
        assert_eq!(
            backend
                .remove_stale_temporaries(std::time::Duration::ZERO)
                .unwrap(),
            1
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("data")).unwrap().count(),
            0
        );
    }
}
