//! The cairn repository format: every byte a repository holds, as types with encoders and decoders.
//!
//! This crate does no I/O. It turns plaintext into sealed blobs, packs, index files, snapshots, trees,
//! the config and key files, and back; every decoder takes untrusted bytes and returns an error rather
//! than panicking. `spec/` in the workspace is the authoritative description of these bytes, and the
//! test vectors there are decoded byte for byte by this crate's tests.
//!
//! ```
//! use cairn_repo_format::{seal_blob, open_blob, BlobKind, Compression, MasterSecret};
//!
//! let keys = MasterSecret::generate().keys();
//! let data = b"hello, cairn";
//! let id = keys.blob_id(data);
//! let sealed = seal_blob(&keys, BlobKind::Data, id, data, Compression::Zstd(3),
//!                        &cairn_repo_format::random_nonce());
//! assert_eq!(open_blob(&keys, BlobKind::Data, &id, sealed.raw_len, &sealed.bytes).unwrap(), data);
//! ```
#![deny(missing_docs)]

mod blob;
mod compression;
mod config;
mod crypto;
mod error;
mod file;
mod id;
mod index;
mod key;
mod pack;
mod session;
mod snapshot;
mod tree;
mod version;

pub use blob::{open_blob, seal_blob, BlobKind, SealedBlob, MAX_BLOB_LEN};
pub use compression::Compression;
pub use config::{
    ChunkerAlgorithm, ChunkerParams, CompressionSetting, Config, SessionParams, PACK_SIZE_RANGE,
};
pub use crypto::{random_nonce, Keys, MasterSecret, Nonce, NONCE_LEN, SEAL_OVERHEAD, TAG_LEN};
pub use error::{FormatError, Result};
pub use file::{open_file, seal_file, FileKind};
pub use id::{BlobId, IndexId, KeyId, PackId, RepoId, SnapshotId, ID_LEN};
pub use index::{IndexFile, IndexPack, INDEX_VERSION};
pub use key::{
    KdfParams, KeyFile, MAX_KDF_ITERATIONS, MAX_KDF_MEMORY_KIB, MAX_KDF_PARALLELISM,
    MAX_KEY_FILE_LEN,
};
pub use pack::{
    decode_header as decode_pack_header, header_len_from_trailer, FinishedPack, PackBuilder,
    PackEntry, PackTail, PackTally, ENTRY_LEN as PACK_ENTRY_LEN, MAX_PACK_LEN, PACK_HEADER_VERSION,
};
pub use session::{DeletionPlan, PolicyFile, SessionFile};
pub use snapshot::{Snapshot, Source, Summary};
pub use tree::{
    content_len, Base64Bytes, Child, ContentRef, Entry, EntryKind, Name, Node, Splitter, Xattr,
    BRANCH_INLINE_MAX, CONTENT_INLINE_MAX, LEAF_INLINE_MAX, NAME_MAX, PIECE_MAX,
};
pub use version::FORMAT_VERSION;
