//! Storage backends: where repository files live.
//!
//! Every backend is an [`object_store::ObjectStore`] (local directory, memory; S3 and others arrive with
//! their own issue), behind one [`Backend`] with a synchronous face for the engine's threads and an async
//! one for many transfers in flight. Writes are atomic: the local store writes a temporary file and
//! renames it, object stores publish an object whole, so no reader ever sees half a file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use tokio::runtime::Runtime;

use crate::error::{Error, ErrorKind, Result};

/// The kinds of file a repository holds, each under its own prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// `config`.
    Config,
    /// `keys/<id>`.
    Key,
    /// `snapshots/<id>`.
    Snapshot,
    /// `index/<id>`.
    Index,
    /// `data/<2 hex digits>/<id>`.
    Pack,
    /// `sessions/<id>`: writers at work.
    Session,
    /// `deletions/<id>`: packs prune will delete.
    DeletionPlan,
    /// `policies/<id>`: stored retention policies.
    Policy,
}

impl FileType {
    fn prefix(self) -> &'static str {
        match self {
            FileType::Config => "",
            FileType::Key => "keys",
            FileType::Snapshot => "snapshots",
            FileType::Index => "index",
            FileType::Pack => "data",
            FileType::Session => "sessions",
            FileType::DeletionPlan => "deletions",
            FileType::Policy => "policies",
        }
    }

    /// Human name for messages.
    pub fn name(self) -> &'static str {
        match self {
            FileType::Config => "config",
            FileType::Key => "key file",
            FileType::Snapshot => "snapshot",
            FileType::Index => "index file",
            FileType::Pack => "pack",
            FileType::Session => "session",
            FileType::DeletionPlan => "deletion plan",
            FileType::Policy => "policy",
        }
    }
}

/// A file found by [`Backend::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The file's name (its id in hex).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// When the storage last wrote it, in nanoseconds since the Unix epoch, by the storage's clock.
    pub modified: i64,
}

fn nanos(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// A repository location with its store and the runtime that drives it.
#[derive(Clone)]
pub struct Backend {
    store: Arc<dyn ObjectStore>,
    runtime: Arc<Runtime>,
    location: String,
    /// The directory of a local repository, where interrupted writes leave temporary files.
    local_root: Option<PathBuf>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({})", self.location)
    }
}

fn runtime() -> Result<Arc<Runtime>> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name("cairn-io")
        .enable_all()
        .build()
        .map(Arc::new)
        .map_err(|e| Error::new(ErrorKind::Io, "cannot start the I/O runtime").with_source(e))
}

impl Backend {
    /// A repository in a local directory. With `create`, the directory is made if missing; without it,
    /// a missing directory is [`ErrorKind::NotARepository`].
    pub fn local(path: &Path, create: bool) -> Result<Self> {
        if create {
            std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        } else if !path.is_dir() {
            return Err(Error::new(
                ErrorKind::NotARepository,
                format!("{} does not exist or is not a directory", path.display()),
            ));
        }
        let abs: PathBuf = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
        let store = LocalFileSystem::new_with_prefix(&abs).map_err(|e| {
            Error::new(ErrorKind::Backend, format!("{}: {e}", abs.display())).with_source(e)
        })?;
        Ok(Backend {
            store: Arc::new(store),
            runtime: runtime()?,
            location: abs.display().to_string(),
            local_root: Some(abs),
        })
    }

    /// A repository in memory, gone when the last clone is dropped (tests).
    pub fn memory() -> Result<Self> {
        Ok(Backend {
            store: Arc::new(InMemory::new()),
            runtime: runtime()?,
            location: "memory".into(),
            local_root: None,
        })
    }

    /// Opens a location as the user writes it: a path, or `file:PATH`, or `memory:` (tests).
    pub fn open(location: &str, create: bool) -> Result<Self> {
        if location == "memory:" {
            return Self::memory();
        }
        let path = location.strip_prefix("file:").unwrap_or(location);
        if path.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "no repository given: use -r/--repo or CAIRN_REPOSITORY",
            ));
        }
        Self::local(Path::new(path), create)
    }

    /// Where this backend stores, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The runtime that drives I/O, for callers that keep many transfers in flight.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    fn path(t: FileType, name: &str) -> ObjectPath {
        match t {
            FileType::Config => ObjectPath::from("config"),
            FileType::Pack => {
                let shard = name.get(..2).unwrap_or("00");
                ObjectPath::from(format!("data/{shard}/{name}"))
            }
            _ => ObjectPath::from(format!("{}/{name}", t.prefix())),
        }
    }

    fn map_err(t: FileType, name: &str, e: object_store::Error) -> Error {
        let what = match t {
            FileType::Config => "config".to_string(),
            _ => format!("{} {name}", t.name()),
        };
        match e {
            object_store::Error::NotFound { .. } => {
                Error::new(ErrorKind::NotFound, format!("{what} not found")).with_source(e)
            }
            e => Error::new(ErrorKind::Backend, format!("{what}: {e}")).with_source(e),
        }
    }

    /// Reads a whole file.
    pub fn read(&self, t: FileType, name: &str) -> Result<Bytes> {
        self.runtime.block_on(self.read_async(t, name))
    }

    /// Reads a whole file, async.
    pub async fn read_async(&self, t: FileType, name: &str) -> Result<Bytes> {
        let path = Self::path(t, name);
        let get = self
            .store
            .get(&path)
            .await
            .map_err(|e| Self::map_err(t, name, e))?;
        get.bytes().await.map_err(|e| Self::map_err(t, name, e))
    }

    /// Reads `range` of a file.
    pub fn read_range(
        &self,
        t: FileType,
        name: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes> {
        self.runtime.block_on(self.read_range_async(t, name, range))
    }

    /// Reads `range` of a file, async.
    pub async fn read_range_async(
        &self,
        t: FileType,
        name: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes> {
        let path = Self::path(t, name);
        let want = range.end - range.start;
        let bytes = self
            .store
            .get_range(&path, range)
            .await
            .map_err(|e| Self::map_err(t, name, e))?;
        if bytes.len() as u64 != want {
            return Err(Error::new(
                ErrorKind::Damaged,
                format!(
                    "{} {name}: short read ({} of {want} bytes)",
                    t.name(),
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    /// Size of a file, or `None` when it does not exist.
    pub fn size(&self, t: FileType, name: &str) -> Result<Option<u64>> {
        let path = Self::path(t, name);
        match self.runtime.block_on(self.store.head(&path)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Self::map_err(t, name, e)),
        }
    }

    /// When the storage last wrote a file (nanoseconds since the epoch, storage clock), or `None`
    /// when it does not exist.
    pub fn modified(&self, t: FileType, name: &str) -> Result<Option<i64>> {
        let path = Self::path(t, name);
        match self.runtime.block_on(self.store.head(&path)) {
            Ok(meta) => Ok(Some(nanos(meta.last_modified))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Self::map_err(t, name, e)),
        }
    }

    /// Writes a whole file atomically.
    pub fn write(&self, t: FileType, name: &str, bytes: Bytes) -> Result<()> {
        self.runtime.block_on(self.write_async(t, name, bytes))
    }

    /// Writes a whole file atomically, async.
    pub async fn write_async(&self, t: FileType, name: &str, bytes: Bytes) -> Result<()> {
        self.handle().write(t, name, bytes).await
    }

    /// The store without the runtime: what a task spawned on [`Backend::runtime`] may hold. (A task
    /// holding the backend itself could drop the runtime's last reference from inside the runtime.)
    pub fn handle(&self) -> StoreHandle {
        StoreHandle {
            store: self.store.clone(),
        }
    }

    /// Deletes a file; deleting a missing file is not an error.
    pub fn delete(&self, t: FileType, name: &str) -> Result<()> {
        let path = Self::path(t, name);
        match self.runtime.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::map_err(t, name, e)),
        }
    }

    /// Removes the temporary files that writes killed midway left in a local repository (the local
    /// store writes `NAME#N` and renames it to `NAME`), once they are older than `min_age` by the
    /// file system's clock, so that a write still in progress is never touched. Object stores
    /// publish whole objects and leave nothing to remove. Returns how many were removed.
    pub fn remove_stale_temporaries(&self, min_age: std::time::Duration) -> Result<u64> {
        let Some(root) = &self.local_root else {
            return Ok(0);
        };
        let is_temporary = |name: &str| {
            name.rsplit_once('#')
                .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        let mut removed = 0;
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    dirs.push(path);
                } else if is_temporary(&entry.file_name().to_string_lossy())
                    && meta
                        .modified()
                        .is_ok_and(|m| m.elapsed().is_ok_and(|age| age >= min_age))
                    && std::fs::remove_file(&path).is_ok()
                {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Lists the files of one type.
    pub fn list(&self, t: FileType) -> Result<Vec<Listed>> {
        let prefix = ObjectPath::from(t.prefix());
        let metas: Vec<_> = self
            .runtime
            .block_on(self.store.list(Some(&prefix)).try_collect())
            .map_err(|e| Self::map_err(t, "(listing)", e))?;
        let mut out: Vec<Listed> = metas
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                // Ids are 64 hex digits; anything else (a stray temporary file) is not ours.
                (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())).then_some(
                    Listed {
                        name,
                        size: m.size,
                        modified: nanos(m.last_modified),
                    },
                )
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// A backend's store without its runtime; see [`Backend::handle`].
#[derive(Clone)]
pub struct StoreHandle {
    store: Arc<dyn ObjectStore>,
}

impl StoreHandle {
    /// Writes a whole file atomically.
    pub async fn write(&self, t: FileType, name: &str, bytes: Bytes) -> Result<()> {
        let path = Backend::path(t, name);
        self.store
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(|e| Backend::map_err(t, name, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_list_delete_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let b = Backend::local(dir.path(), false).unwrap();
        let name = "ab".repeat(32);
        b.write(FileType::Pack, &name, Bytes::from_static(b"hello"))
            .unwrap();
        assert!(dir.path().join("data/ab").join(&name).is_file());
        assert_eq!(b.read(FileType::Pack, &name).unwrap(), "hello");
        assert_eq!(b.read_range(FileType::Pack, &name, 1..3).unwrap(), "el");
        assert!(b.read_range(FileType::Pack, &name, 1..30).is_err());
        let listed = b.list(FileType::Pack).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].name.as_str(), listed[0].size),
            (name.as_str(), 5)
        );
        let stamp = b.modified(FileType::Pack, &name).unwrap().unwrap();
        assert_eq!(listed[0].modified, stamp);
        b.delete(FileType::Pack, &name).unwrap();
        b.delete(FileType::Pack, &name).unwrap();
        let err = b.read(FileType::Pack, &name).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn a_missing_directory_is_not_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        let err = Backend::local(&dir.path().join("nope"), false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotARepository);
    }
}
