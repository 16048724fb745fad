//! Helpers for the engine's unit tests.

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
