//! `IndexFile::decode` on a payload, and `open_file` on stored bytes with a fixed key.
#![no_main]

mod common;

use cairn_repo_format::{open_file, FileKind, IndexFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = IndexFile::decode(data) {
        // The binary encoding is canonical: what decodes re-encodes to the very same bytes.
        assert_eq!(
            index.encode(),
            data,
            "index payload does not re-encode to itself"
        );
    }
    // As a stored file: random bytes do not authenticate, but must be refused cleanly.
    if let Ok(payload) = open_file(common::keys(), FileKind::Index, data) {
        let _ = IndexFile::decode(&payload);
    }
});
