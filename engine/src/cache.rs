//! The local cache: index files and tree blobs, as stored (still encrypted), in sled.
//!
//! Everything here can be fetched again from the repository: deleting the cache directory loses
//! nothing. Entries are keyed by content-addressed ids, so they never go stale; index files that left
//! the repository are dropped when the index is loaded. A cache that cannot be opened (another cairn
//! process holds it, the disk is read-only) is skipped with a notice, never an error.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use cairn_repo_format::{BlobId, IndexId, RepoId};

/// The on-disk cache of one repository.
#[derive(Clone)]
pub struct Cache {
    index: sled::Tree,
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
                let trees = db.open_tree("trees").ok()?;
                Some(Cache { index, trees, path })
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

    /// A cached index file.
    pub fn index_file(&self, id: &IndexId) -> Option<Vec<u8>> {
        self.index
            .get(id.as_bytes())
            .ok()
            .flatten()
            .map(|v| v.to_vec())
    }

    /// Remembers an index file.
    pub fn put_index_file(&self, id: &IndexId, stored: &[u8]) {
        let _ = self.index.insert(id.as_bytes(), stored);
    }

    /// Drops cached index files that the repository no longer has.
    pub fn retain_index_files(&self, live: &HashSet<IndexId>) {
        for key in self.index.iter().keys().flatten() {
            let keep = <[u8; 32]>::try_from(key.as_ref())
                .map(|b| live.contains(&IndexId(b)))
                .unwrap_or(false);
            if !keep {
                let _ = self.index.remove(key);
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
            c.put_index_file(&IndexId([2; 32]), b"a");
            c.put_index_file(&IndexId([3; 32]), b"b");
            c.put_tree_blob(&BlobId([4; 32]), b"t");
        }
        let c = Cache::open(dir.path(), &repo).unwrap();
        assert_eq!(c.tree_blob(&BlobId([4; 32])).unwrap(), b"t");
        c.retain_index_files(&[IndexId([2; 32])].into_iter().collect());
        assert_eq!(c.index_file(&IndexId([2; 32])).unwrap(), b"a");
        assert!(c.index_file(&IndexId([3; 32])).is_none());
    }
}
