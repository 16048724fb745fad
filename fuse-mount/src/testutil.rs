//! Repositories in memory with trees written directly, for the unit tests.

use cairn_engine::format::{
    BlobId, BlobKind, Entry, EntryKind, Name, Snapshot, SnapshotId, Source, FORMAT_VERSION,
};
use cairn_engine::{
    Backend, BlobWriter, ContentBuilder, DirBuilder, Indexed, InitOptions, KdfCost, OpenOptions,
    Repository,
};

/// A new repository in memory with small packs and chunks, index loaded.
pub(crate) fn memory_repo() -> Indexed {
    let options = InitOptions::default()
        .kdf(KdfCost {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        })
        .pack_size(256 << 10);
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

/// `len` bytes that differ with `seed`.
pub(crate) fn bytes(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A file entry holding `data` in chunks of `chunk` bytes.
pub(crate) fn file(w: &BlobWriter, name: &str, data: &[u8], chunk: usize) -> Entry {
    let mut e = Entry::new(Name::new(name), EntryKind::File);
    let mut content = ContentBuilder::new(w);
    for piece in data.chunks(chunk) {
        let (id, _) = w.add(BlobKind::Data, piece).unwrap();
        content.push(id, piece.len() as u64).unwrap();
    }
    e.content = content.finish().unwrap();
    e.size = data.len() as u64;
    e.mode = 0o644;
    e
}

/// A directory entry listing `entries` (sorted here).
pub(crate) fn dir(w: &BlobWriter, name: &str, mut entries: Vec<Entry>) -> Entry {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut b = DirBuilder::new(w);
    for e in entries {
        b.push(e).unwrap();
    }
    let mut e = Entry::new(Name::new(name), EntryKind::Dir);
    e.subtree = Some(b.finish().unwrap());
    e.mode = 0o755;
    e
}

/// Writes `root` (a directory entry's listing is the snapshot's root) and a snapshot of it at
/// `time`; returns the repository reopened, the snapshot id and its root tree.
pub(crate) fn commit(
    repo: &Indexed,
    root: impl FnOnce(&BlobWriter) -> Vec<Entry>,
    time: &str,
) -> (Indexed, SnapshotId, BlobId) {
    let w = BlobWriter::new(repo.clone());
    let tree = dir(&w, "root", root(&w)).subtree.unwrap();
    w.finish().unwrap();
    let snap = Snapshot {
        version: FORMAT_VERSION,
        time: time.parse().unwrap(),
        host: "host".into(),
        username: String::new(),
        tags: vec![],
        paths: vec!["/".into()],
        excludes: vec![],
        parent: None,
        original: None,
        tree,
        source: Source::Files,
        summary: Default::default(),
        program_version: String::new(),
    };
    let id = repo.save_snapshot(&snap).unwrap();
    let reopened = Repository::open(repo.backend().clone(), b"test", &OpenOptions::default())
        .unwrap()
        .load_index()
        .unwrap();
    (reopened, id, tree)
}
