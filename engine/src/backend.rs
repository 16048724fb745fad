//! Storage backends: where repository files live.
//!
//! Every backend is an [`object_store::ObjectStore`]: a local directory, S3 or an S3-compatible
//! server, Google Cloud Storage, Azure Blob Storage, or memory for tests ([`Location`] says how
//! each is written). One [`Backend`] puts the same face on all of them: synchronous for the
//! engine's threads, async for many transfers in flight, with one retry policy
//! ([`RetryPolicy`]) and request counters ([`Traffic`]). Writes are atomic: the local store
//! writes a temporary file and renames it, object stores publish an object whole, so no reader
//! ever sees half a file.

#[cfg(any(test, feature = "fault-injection"))]
pub mod faults;
mod location;
mod retry;
mod staged;
mod stores;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, PutPayload};
use tokio::runtime::Runtime;

pub use location::Location;
pub use retry::RetryPolicy;
use retry::{retry, Failure};
pub use staged::StagedFile;

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

/// Requests a backend sent and bytes it moved, for reports and measurements.
#[derive(Debug, Default)]
pub struct Traffic {
    requests: AtomicU64,
    retries: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

/// A copy of [`Traffic`]'s counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrafficCounts {
    /// Requests sent, retries included.
    pub requests: u64,
    /// Requests sent again after a passing failure.
    pub retries: u64,
    /// Bytes downloaded.
    pub bytes_read: u64,
    /// Bytes uploaded.
    pub bytes_written: u64,
}

impl Traffic {
    /// The counters now.
    pub fn counts(&self) -> TrafficCounts {
        TrafficCounts {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
        }
    }
}

/// A repository location with its store and the runtime that drives it.
#[derive(Clone)]
pub struct Backend {
    store: StoreHandle,
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
    fn new(
        store: Arc<dyn ObjectStore>,
        location: String,
        local_root: Option<PathBuf>,
        retry: RetryPolicy,
    ) -> Result<Self> {
        Ok(Backend {
            store: StoreHandle {
                store,
                retry,
                traffic: Arc::default(),
            },
            runtime: runtime()?,
            location,
            local_root,
        })
    }

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
        let location = abs.display().to_string();
        Self::new(Arc::new(store), location, Some(abs), RetryPolicy::NONE)
    }

    /// A repository in memory, gone when the last clone is dropped (tests).
    pub fn memory() -> Result<Self> {
        Self::new(
            Arc::new(InMemory::new()),
            "memory:".into(),
            None,
            RetryPolicy::NONE,
        )
    }

    /// Opens a location as the user writes it (see [`Location`]). `create` makes a missing local
    /// directory; buckets and containers must exist already.
    pub fn open(location: &str, create: bool) -> Result<Self> {
        match Location::parse(location)? {
            Location::Local(path) => Self::local(&path, create),
            Location::Memory => Self::memory(),
            remote => {
                let store = stores::remote(&remote)?;
                Self::new(store, remote.to_string(), None, RetryPolicy::REMOTE)
            }
        }
    }

    /// This backend with another retry policy.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.store.retry = policy;
        self
    }

    /// This backend with faults injected below its retries (tests).
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn with_faults(mut self, faults: faults::Faults) -> (Self, Arc<faults::FaultyStore>) {
        let faulty = Arc::new(faults::FaultyStore::new(self.store.store.clone(), faults));
        self.store.store = faulty.clone();
        (self, faulty)
    }

    /// Where this backend stores, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The runtime that drives I/O, for callers that keep many transfers in flight.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The requests sent and bytes moved so far.
    pub fn traffic(&self) -> TrafficCounts {
        self.store.traffic.counts()
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

    fn what(t: FileType, name: &str) -> String {
        match t {
            FileType::Config => "config".to_string(),
            _ => format!("{} {name}", t.name()),
        }
    }

    /// Reads a whole file.
    pub fn read(&self, t: FileType, name: &str) -> Result<Bytes> {
        self.runtime.block_on(self.read_async(t, name))
    }

    /// Reads a whole file, async.
    pub async fn read_async(&self, t: FileType, name: &str) -> Result<Bytes> {
        self.store.read(t, name).await
    }

    /// Reads many whole files, up to 32 at a time (object stores answer each request slowly but
    /// many at once); the results are in the order of `names`.
    pub fn read_many(&self, t: FileType, names: &[String]) -> Vec<Result<Bytes>> {
        use futures::StreamExt;
        self.runtime.block_on(
            futures::stream::iter(names)
                .map(|name| self.store.read(t, name))
                .buffered(32)
                .collect(),
        )
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
        self.store.read_range(t, name, range).await
    }

    /// Size of a file, or `None` when it does not exist.
    pub fn size(&self, t: FileType, name: &str) -> Result<Option<u64>> {
        Ok(self.head(t, name)?.map(|meta| meta.size))
    }

    /// When the storage last wrote a file (nanoseconds since the epoch, storage clock), or `None`
    /// when it does not exist.
    pub fn modified(&self, t: FileType, name: &str) -> Result<Option<i64>> {
        Ok(self.head(t, name)?.map(|meta| nanos(meta.last_modified)))
    }

    fn head(&self, t: FileType, name: &str) -> Result<Option<ObjectMeta>> {
        self.runtime.block_on(self.store.head(t, name))
    }

    /// Writes a whole file atomically.
    pub fn write(&self, t: FileType, name: &str, bytes: Bytes) -> Result<()> {
        self.runtime.block_on(self.write_async(t, name, bytes))
    }

    /// Writes a whole file atomically, async.
    pub async fn write_async(&self, t: FileType, name: &str, bytes: Bytes) -> Result<()> {
        self.store.write(t, name, bytes).await
    }

    /// The store without the runtime: what a task spawned on [`Backend::runtime`] may hold. (A task
    /// holding the backend itself could drop the runtime's last reference from inside the runtime.)
    pub fn handle(&self) -> StoreHandle {
        self.store.clone()
    }

    /// Deletes a file; deleting a missing file is not an error.
    pub fn delete(&self, t: FileType, name: &str) -> Result<()> {
        self.runtime.block_on(self.store.delete(t, name))
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
        let metas = self.runtime.block_on(self.store.list(t))?;
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

/// A backend's store without its runtime; see [`Backend::handle`]. Every request goes through
/// its retry policy and is counted.
#[derive(Clone)]
pub struct StoreHandle {
    store: Arc<dyn ObjectStore>,
    retry: RetryPolicy,
    traffic: Arc<Traffic>,
}

impl StoreHandle {
    /// Runs `op` under the retry policy, counting requests; `what` names the file for messages.
    async fn run<T, F, Fut>(&self, what: &(dyn Fn() -> String + Sync), op: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, Failure>>,
    {
        let counted = || {
            self.traffic.requests.fetch_add(1, Ordering::Relaxed);
            op()
        };
        let on_retry = || {
            self.traffic.retries.fetch_add(1, Ordering::Relaxed);
        };
        retry(self.retry, what, counted, on_retry)
            .await
            .map_err(|(failure, attempts)| {
                let gave_up = if attempts > 1 {
                    format!(" (gave up after {attempts} attempts)")
                } else {
                    String::new()
                };
                match failure {
                    Failure::Store(e @ object_store::Error::NotFound { .. }) => {
                        Error::new(ErrorKind::NotFound, format!("{} not found", what()))
                            .with_source(e)
                    }
                    Failure::Store(e) => {
                        Error::new(ErrorKind::Backend, format!("{}: {e}{gave_up}", what()))
                            .with_source(e)
                    }
                    short @ Failure::Short { .. } => Error::new(
                        ErrorKind::Damaged,
                        format!("{}: {}{gave_up}", what(), retry::describe(&short)),
                    ),
                }
            })
    }

    fn count_read(&self, bytes: &Bytes) {
        self.traffic
            .bytes_read
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }

    async fn read(&self, t: FileType, name: &str) -> Result<Bytes> {
        let path = Backend::path(t, name);
        let bytes = self
            .run(&|| Backend::what(t, name), || async {
                Ok(self.store.get(&path).await?.bytes().await?)
            })
            .await?;
        self.count_read(&bytes);
        Ok(bytes)
    }

    async fn read_range(
        &self,
        t: FileType,
        name: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes> {
        let path = Backend::path(t, name);
        let want = range.end - range.start;
        let bytes = self
            .run(&|| Backend::what(t, name), || async {
                let bytes = self.store.get_range(&path, range.clone()).await?;
                match bytes.len() as u64 {
                    got if got == want => Ok(bytes),
                    got => Err(Failure::Short { got, want }),
                }
            })
            .await?;
        self.count_read(&bytes);
        Ok(bytes)
    }

    async fn head(&self, t: FileType, name: &str) -> Result<Option<ObjectMeta>> {
        let path = Backend::path(t, name);
        let head = self
            .run(&|| Backend::what(t, name), || async {
                Ok(self.store.head(&path).await?)
            })
            .await;
        match head {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes a whole file atomically.
    pub async fn write(&self, t: FileType, name: &str, bytes: Bytes) -> Result<()> {
        let path = Backend::path(t, name);
        let len = bytes.len() as u64;
        self.run(&|| Backend::what(t, name), || async {
            self.store
                .put(&path, PutPayload::from_bytes(bytes.clone()))
                .await?;
            Ok(())
        })
        .await?;
        self.traffic.bytes_written.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    async fn delete(&self, t: FileType, name: &str) -> Result<()> {
        let path = Backend::path(t, name);
        let deleted = self
            .run(&|| Backend::what(t, name), || async {
                Ok(self.store.delete(&path).await?)
            })
            .await;
        match deleted {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    async fn list(&self, t: FileType) -> Result<Vec<ObjectMeta>> {
        let prefix = ObjectPath::from(t.prefix());
        self.run(&|| format!("listing {}s", t.name()), || async {
            Ok(self.store.list(Some(&prefix)).try_collect().await?)
        })
        .await
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
