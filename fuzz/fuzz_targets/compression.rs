//! The compression byte and zstd decoding, through `open_file` on each `FileKind`: the input is an
//! envelope plaintext (compression byte || body) sealed with a fixed key, so decompression is
//! reached; also a `seal_file` round trip and stored bytes opened as given.
#![no_main]

mod common;

use cairn_repo_format::{open_file, seal_file, Compression, FileKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = common::keys();
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let kind = [FileKind::Config, FileKind::Index, FileKind::Snapshot][selector as usize % 3];

    // The envelope plaintext, sealed.
    let sealed = keys.seal(&common::NONCE, &common::file_aad(kind), rest);
    match open_file(keys, kind, &sealed) {
        Ok(payload) => {
            assert!(payload.len() <= kind.max_len(), "output over the limit");
            if rest[0] == 0 {
                assert_eq!(payload, &rest[1..]);
            }
        }
        Err(e) => assert!(
            rest.first() != Some(&0) || rest.len() - 1 > kind.max_len(),
            "a raw payload within the limit was refused: {e}"
        ),
    }

    // Round trip of `rest` as a payload.
    let level = 1 + (selector / 3) as i32 % 19;
    let stored = seal_file(keys, kind, rest, Compression::Zstd(level), &common::NONCE);
    assert_eq!(
        open_file(keys, kind, &stored).expect("own file opens"),
        rest
    );

    // Stored bytes as given: never authenticate.
    assert!(
        open_file(keys, kind, rest).is_err(),
        "unauthenticated bytes opened"
    );
});
