//! The local cache: index files, snapshot files and tree blobs, as stored (still encrypted), in
//! sled.
//!
//! Everything here can be fetched again from the repository: deleting the cache directory loses
//! nothing. Entries are keyed by content-addressed ids, so they never go stale; index and snapshot
//! files that left the repository are dropped when they are listed next. A cache that cannot be opened (another cairn
//! process holds it, the disk is read-only) is skipped with a notice, never an error.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use cairn_repo_format::{BlobId, RepoId};

/// The kinds of repository file the cache keeps whole, each keyed by its id (the hash of its
/// stored bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CachedFile {
    /// `index/<id>`.
    Index,
    /// `snapshots/<id>`.
    Snapshot,
}

/// The on-disk cache of one repository.
#[derive(Clone)]
pub struct Cache {
    index: sled::Tree,
    snapshots: sled::Tree,
    trees: sled::Tree,
    path: PathBuf,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cache({})", self.path.display())
    }
}

/// Where caches live by default: `$XDG_CACHE_HOME/cairn`, else `~/.cache/cairn`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("cairn"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("cairn"))
}

impl Cache {
    /// Opens (or creates) the cache of repository `repo` under `dir`. Returns `None`, after a notice,
    /// when it cannot be used.
    pub fn open(dir: &Path, repo: &RepoId) -> Option<Cache> {
        let path = dir.join(repo.to_hex());
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(16 << 20)
            .open();
        match db {
            Ok(db) => {
                let index = db.open_tree("index").ok()?;
                let snapshots = db.open_tree("snapshots").ok()?;
                let trees = db.open_tree("trees").ok()?;
                Some(Cache {
                    index,
                    snapshots,
                    trees,
                    path,
                })
            }
            Err(e) => {
                tracing::info!("cache {} not used: {e}", path.display());
                None
            }
        }
    }

    /// Where this cache lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn files(&self, kind: CachedFile) -> &sled::Tree {
        match kind {
            CachedFile::Index => &self.index,
            CachedFile::Snapshot => &self.snapshots,
        }
    }

    /// A cached file, as stored.
    pub fn file(&self, kind: CachedFile, id: &[u8; 32]) -> Option<Vec<u8>> {
        self.files(kind).get(id).ok().flatten().map(|v| v.to_vec())
    }

    /// Remembers a file.
    pub fn put_file(&self, kind: CachedFile, id: &[u8; 32], stored: &[u8]) {
        let _ = self.files(kind).insert(id, stored);
    }

    /// Drops cached files of `kind` that the repository no longer has.
    pub fn retain_files(&self, kind: CachedFile, live: &HashSet<[u8; 32]>) {
        let tree = self.files(kind);
        for key in tree.iter().keys().flatten() {
            let keep = <[u8; 32]>::try_from(key.as_ref()).is_ok_and(|b| live.contains(&b));
            if !keep {
                let _ = tree.remove(key);
            }
        }
    }

    /// A cached tree blob (as stored: sealed).
    pub fn tree_blob(&self, id: &BlobId) -> Option<Vec<u8>> {
        self.trees
            .get(id.as_bytes())
            .ok()
            .flatten()
            .map(|v| v.to_vec())
    }

    /// Remembers a tree blob.
    pub fn put_tree_blob(&self, id: &BlobId, stored: &[u8]) {
        let _ = self.trees.insert(id.as_bytes(), stored);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_persist_and_retain_drops_the_dead() {
        let dir = tempfile::tempdir().unwrap();
        let repo = RepoId([1; 32]);
        {
            let c = Cache::open(dir.path(), &repo).unwrap();
            c.put_file(CachedFile::Index, &[2; 32], b"a");
            c.put_file(CachedFile::Index, &[3; 32], b"b");
            c.put_file(CachedFile::Snapshot, &[3; 32], b"s");
            c.put_tree_blob(&BlobId([4; 32]), b"t");
        }
        let c = Cache::open(dir.path(), &repo).unwrap();
        assert_eq!(c.tree_blob(&BlobId([4; 32])).unwrap(), b"t");
        c.retain_files(CachedFile::Index, &[[2; 32]].into_iter().collect());
        assert_eq!(c.file(CachedFile::Index, &[2; 32]).unwrap(), b"a");
        assert!(c.file(CachedFile::Index, &[3; 32]).is_none());
        assert_eq!(c.file(CachedFile::Snapshot, &[3; 32]).unwrap(), b"s");
    }

    /// Opening a repository with a warm cache reads only its config, key and listings: every
    /// index and snapshot file comes from the cache.
    #[test]
    fn a_warm_cache_serves_index_and_snapshot_files_without_requests() {
        use crate::commands::backup::{backup, BackupOptions};
        use crate::progress::NoProgress;
        use crate::testutil::TEST_KDF;
        use crate::{Backend, InitOptions, OpenOptions, Repository};

        let (repo_dir, cache_dir, src) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let options = OpenOptions::default().cache_dir(Some(cache_dir.path().to_path_buf()));
        let open = || {
            let backend = Backend::local(repo_dir.path(), true).unwrap();
            Repository::open(backend, b"pw", &options).unwrap()
        };
        let init = InitOptions::default().kdf(TEST_KDF);
        drop(
            Repository::init(
                Backend::local(repo_dir.path(), true).unwrap(),
                b"pw",
                &init,
                &options,
            )
            .unwrap(),
        );
        for i in 0..5 {
            std::fs::write(src.path().join("f"), format!("generation {i}")).unwrap();
            let repo = open().load_index_for_writing("backup").unwrap();
            let opts = BackupOptions {
                paths: vec![src.path().to_path_buf()],
                ..Default::default()
            };
            backup(&repo, &opts, &NoProgress).unwrap();
        }
        std::fs::remove_dir_all(cache_dir.path()).unwrap();
        let requests = || {
            let repo = open();
            assert_eq!(repo.snapshots().unwrap().len(), 5);
            let indexed = repo.load_index().unwrap();
            indexed.backend().traffic().requests
        };
        let cold = requests();
        let warm = requests();
        assert!(cold >= warm + 10, "cold {cold} requests, warm {warm}");
        // The config, the key listing and file, and listings of snapshots, index files (twice, to
        // see it stable) and deletion plans.
        assert!(warm <= 8, "a warm open sent {warm} requests");
    }
}
