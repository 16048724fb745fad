//! `open_blob` with a fixed key: on stored bytes as given, on an envelope plaintext sealed with the
//! key (reaching decompression, the length check and the id check), and a `seal_blob` round trip.
#![no_main]

mod common;

use cairn_repo_format::{open_blob, seal_blob, BlobId, BlobKind, Compression};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = common::keys();
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let kind = if selector & 1 == 0 {
        BlobKind::Data
    } else {
        BlobKind::Tree
    };
    match (selector >> 1) % 3 {
        // `rest` is what the envelope holds: compression byte || body. The id is that of the body, so
        // a raw envelope opens; the raw length is the body's, or off by one when asked.
        0 => {
            let Some((&compression_byte, body)) = rest.split_first() else {
                return;
            };
            let id = keys.blob_id(body);
            let raw_len = match selector >> 6 {
                0 | 1 => body.len() as u32,
                2 => body.len() as u32 + 1,
                _ => (body.len() as u32).saturating_sub(1),
            };
            let sealed = keys.seal(&common::NONCE, &common::blob_aad(kind, &id), rest);
            match open_blob(keys, kind, &id, raw_len, &sealed) {
                Ok(plain) => {
                    assert_eq!(plain.len(), raw_len as usize);
                    assert_eq!(keys.blob_id(&plain), id);
                }
                Err(e) => assert!(
                    compression_byte != 0 || raw_len as usize != body.len(),
                    "a valid raw blob was refused: {e}"
                ),
            }
        }
        // `rest` is a blob's plaintext: seal it and open it again.
        1 => {
            let id = keys.blob_id(rest);
            let level = 1 + (selector >> 3) as i32 % 19;
            let sealed = seal_blob(
                keys,
                kind,
                id,
                rest,
                Compression::Zstd(level),
                &common::NONCE,
            );
            let plain = open_blob(keys, kind, &id, sealed.raw_len, &sealed.bytes)
                .expect("a sealed blob opens");
            assert_eq!(plain, rest);
            let other = if kind == BlobKind::Data {
                BlobKind::Tree
            } else {
                BlobKind::Data
            };
            assert!(open_blob(keys, other, &id, sealed.raw_len, &sealed.bytes).is_err());
        }
        // `rest` is raw length (u32 LE) || stored bytes, opened as given: must be refused cleanly.
        _ => {
            if rest.len() < 4 {
                return;
            }
            let raw_len = u32::from_le_bytes(rest[..4].try_into().unwrap());
            let result = open_blob(keys, kind, &BlobId([0; 32]), raw_len, &rest[4..]);
            assert!(result.is_err(), "unauthenticated bytes opened");
        }
    }
});
