//! What the fuzz targets share: one fixed key, one fixed nonce, and the associated data of the spec.
//!
//! Random bytes never pass authentication, so to reach the decoders behind it the targets also seal
//! the fuzzer's bytes themselves with this key and then decode them, as a key holder could.
#![allow(dead_code)]

use std::sync::OnceLock;

use cairn_repo_format::{BlobId, BlobKind, FileKind, Keys, MasterSecret, Nonce};

/// The keys derived from the fixed master secret 0x42 × 32.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| MasterSecret::from_bytes([0x42; 32]).keys())
}

/// A fixed nonce: the targets do not test nonce handling.
pub const NONCE: Nonce = [7; 24];

/// Associated data of a sealed file (spec/crypto.md).
pub fn file_aad(kind: FileKind) -> Vec<u8> {
    [b"cairn/1/file/".as_slice(), kind.name().as_bytes()].concat()
}

/// Associated data of a sealed blob (spec/crypto.md).
pub fn blob_aad(kind: BlobKind, id: &BlobId) -> Vec<u8> {
    let mut aad = b"cairn/1/blob".to_vec();
    aad.push(kind.to_byte());
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// Associated data of a sealed pack header (spec/crypto.md).
pub const PACK_HEADER_AAD: &[u8] = b"cairn/1/pack-header";
