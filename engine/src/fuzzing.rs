//! Entry points for the cargo-fuzz targets (`fuzz/`) of decoders that live in the engine rather
//! than in `cairn-repo-format`: the tar stream a pod sends for a volume, and a Kubernetes manifest
//! read back from a repository. Built only with the `fuzzing` feature.

use std::sync::OnceLock;

use crate::archiver::Counters;
use crate::blob_writer::BlobWriter;
use crate::k8s::memtree::{MemDir, Stamp};
use crate::k8s::restore::source;
use crate::k8s::tar_stream::unpack;
use crate::progress::NoProgress;
use crate::{Backend, Indexed, InitOptions, KdfCost, OpenOptions, Repository};

/// One in-memory repository for the whole fuzzing run.
fn repo() -> &'static Indexed {
    static REPO: OnceLock<Indexed> = OnceLock::new();
    REPO.get_or_init(|| {
        let cheap = KdfCost {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        };
        let backend = Backend::memory().expect("an in-memory backend");
        Repository::init(
            backend,
            b"fuzz",
            &InitOptions::default().kdf(cheap),
            &OpenOptions::default(),
        )
        .and_then(Repository::load_index)
        .expect("an in-memory repository")
    })
}

/// Unpacks `bytes` as a volume's tar stream and builds its tree; any outcome but a panic is fine.
pub fn tar_stream(bytes: &[u8]) {
    let writer = BlobWriter::new(repo().clone());
    let stamp = Stamp::current_user(0);
    let mut root = MemDir::new();
    if unpack(
        bytes,
        &writer,
        &Counters::default(),
        &NoProgress,
        &mut root,
        &stamp,
    )
    .is_ok()
    {
        let _ = root.write(&writer, &stamp);
    }
}

/// Parses `bytes` as a manifest stored in a snapshot; any outcome but a panic is fine.
pub fn manifest(bytes: &[u8]) {
    let _ = source::parse(bytes);
}
