//! The cairn engine: repositories, backup, restore and check, over any storage backend.
//!
//! The engine is a library with a thin command line on top (`cairn-cli`). It opens a
//! [`Repository`] on a [`Backend`], loads its index into an [`Indexed`] repository, and runs
//! commands on it. The bytes it reads and writes are defined by `cairn-repo-format` and `spec/`.
//!
//! ```no_run
//! use cairn_engine::{Backend, Repository, OpenOptions};
//!
//! let backend = Backend::open("/srv/backups", false)?;
//! let repo = Repository::open(backend, b"password", &OpenOptions::default())?;
//! for (id, snap) in repo.snapshots()? {
//!     println!("{} {} {}", id.short(), snap.time, snap.host);
//! }
//! # Ok::<(), cairn_engine::Error>(())
//! ```
#![deny(missing_docs)]

mod archiver;
mod backend;
mod blob_writer;
mod cache;
mod chunker;
pub mod commands;
mod error;
mod fsmeta;
#[cfg(all(feature = "fuzzing", feature = "k8s"))]
pub mod fuzzing;
mod glob;
mod index;
mod indexed;
#[cfg(feature = "k8s")]
pub mod k8s;
mod policy;
mod progress;
mod repository;
mod retention;
mod session;
mod snapshots;
mod sys;
#[cfg(test)]
mod testutil;
mod tree_prefetch;
mod tree_writer;

#[cfg(any(test, feature = "fault-injection"))]
pub use backend::faults;
pub use backend::{Backend, FileType, Listed, Location, RetryPolicy, StoreHandle, TrafficCounts};
pub use blob_writer::{BlobWriter, WriteStats, MAX_UPLOADS_IN_FLIGHT};
pub use cache::{default_cache_dir, Cache};
pub use chunker::{ChunkBatch, Chunker, WINDOW};
pub use error::{Error, ErrorKind, FileError, Result, ResultExt};
pub use fsmeta::{
    entry_from_metadata, kind_of, make_node, read_xattrs, set_mode, set_mtime, set_owner,
    write_xattr,
};
pub use index::{BlobLocation, Index, IndexBuilder};
pub use indexed::{DirEntries, Indexed};
pub use policy::{policies, policy_for, set_policy, unset_policy, StoredPolicy};
pub use progress::{NoProgress, Progress};
pub use repository::{InitOptions, KdfCost, KeyInfo, OpenOptions, Repository};
pub use retention::{
    apply as apply_policy, apply_at as apply_policy_at, group as group_snapshots, parse_count,
    parse_span, AppKey, Count, Decision, GroupBy, GroupKey, KeepPolicy, KeepSpan, TagList,
};
pub use session::{condemned_packs, deletion_plans, sessions, FoundPlan, Session, SessionView};
pub use snapshots::{select as select_snapshot, SnapshotFilter};
pub use sys::{host_name, is_root, user_name, Names};
pub use tree_prefetch::PrefetchGuard;
pub use tree_writer::{ContentBuilder, DirBuilder};

/// The format crate, re-exported so users of the engine name one dependency.
pub use cairn_repo_format as format;
