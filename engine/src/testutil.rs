//! Helpers for the engine's unit tests.

use cairn_repo_format::{BlobKind, SnapshotId};

use crate::{Backend, Indexed, InitOptions, KdfCost, OpenOptions, Repository};

/// The cheapest argon2id cost, for tests only.
pub const TEST_KDF: KdfCost = KdfCost {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

/// A new repository in memory with small packs and chunks, index loaded.
pub fn memory_repo() -> Indexed {
    memory_repo_with(InitOptions::default())
}

/// Like [`memory_repo`], starting from other options.
pub fn memory_repo_with(options: InitOptions) -> Indexed {
    let options =
        options
            .kdf(TEST_KDF)
            .pack_size(256 << 10)
            .chunk_sizes((16 << 10, 64 << 10, 256 << 10));
    Repository::init(
        Backend::memory().unwrap(),
        b"test",
        &options,
        &OpenOptions::default(),
    )
    .unwrap()
    .load_index()
    .unwrap()
}

/// Reopens a repository and reloads its index, as a new process would.
pub fn reopen(repo: &Indexed) -> Indexed {
    Repository::open(repo.backend().clone(), b"test", &OpenOptions::default())
        .unwrap()
        .load_index()
        .unwrap()
}

/// The content of the file at `path` in snapshot `snap`, read through a fresh index.
pub fn file_bytes(repo: &Indexed, snap: &SnapshotId, path: &str) -> Vec<u8> {
    let repo = reopen(repo);
    let s = repo.load_snapshot(snap).unwrap();
    let e = repo.resolve(&s.tree, path).unwrap().unwrap();
    repo.file_chunks(&e.content)
        .unwrap()
        .iter()
        .flat_map(|(_, id, _)| repo.read_blob(BlobKind::Data, id).unwrap())
        .collect()
}
