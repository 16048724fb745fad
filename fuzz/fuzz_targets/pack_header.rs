//! `header_len_from_trailer` and `decode_pack_header` with a fixed key: on the input as a whole pack,
//! on the input as a header plaintext sealed with the key, and a round trip through `PackBuilder`.
#![no_main]

mod common;

use cairn_repo_format::{
    decode_pack_header, header_len_from_trailer, open_blob, seal_blob, BlobKind, Compression,
    PackBuilder, MAX_BLOB_LEN, MAX_PACK_LEN, PACK_ENTRY_LEN, SEAL_OVERHEAD,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = common::keys();

    // 1. The input as a whole pack: trailer, then the header it points to (which will not
    //    authenticate, but must be refused cleanly whatever the lengths).
    let len = data.len() as u64;
    if data.len() >= 4 {
        if let Ok(h) = header_len_from_trailer(&data[data.len() - 4..], len) {
            let h = h as usize;
            assert!(
                h + 4 <= data.len(),
                "trailer accepted a header longer than the pack"
            );
            let _ = decode_pack_header(keys, &data[data.len() - 4 - h..data.len() - 4], len);
        }
    }

    // 2. The input as a header plaintext, sealed as a key holder would, in packs whose blob areas
    //    have several sizes.
    let sealed = keys.seal(&common::NONCE, common::PACK_HEADER_AAD, data);
    for blob_area in [0u64, 100, 1 << 20, u32::MAX as u64] {
        let pack_len = blob_area + sealed.len() as u64 + 4;
        if let Ok(entries) = decode_pack_header(keys, &sealed, pack_len) {
            assert_eq!(data.len(), 5 + entries.len() * PACK_ENTRY_LEN);
            for e in &entries {
                assert!(
                    e.offset as u64 + e.length as u64 <= blob_area,
                    "entry outside the pack"
                );
                assert!(e.length as usize > SEAL_OVERHEAD && e.raw_len as usize <= MAX_BLOB_LEN);
            }
        }
        let trailer = (sealed.len() as u32).to_le_bytes();
        assert_eq!(
            header_len_from_trailer(&trailer, pack_len).is_ok(),
            sealed.len() >= SEAL_OVERHEAD + 5 && pack_len <= MAX_PACK_LEN
        );
    }

    // 3. Round trip: the input cut into blobs, packed, found again through the trailer and header,
    //    and each blob read back with a ranged slice.
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let size = 1 + (first as usize & 0x7f) * 8;
    let compression = if first & 0x80 == 0 {
        Compression::Zstd(3)
    } else {
        Compression::Off
    };
    let chunks: Vec<&[u8]> = rest.chunks(size).take(32).collect();
    let mut builder = PackBuilder::default();
    for chunk in &chunks {
        let id = keys.blob_id(chunk);
        builder.add(&seal_blob(
            keys,
            BlobKind::Data,
            id,
            chunk,
            compression,
            &common::NONCE,
        ));
    }
    let pack = builder.finish(keys, &common::NONCE);
    let bytes = &pack.bytes;
    let len = bytes.len() as u64;
    let h = header_len_from_trailer(&bytes[bytes.len() - 4..], len).expect("own trailer") as usize;
    let header = &bytes[bytes.len() - 4 - h..bytes.len() - 4];
    let entries = decode_pack_header(keys, header, len).expect("own header");
    assert_eq!(entries, pack.entries);
    for (e, chunk) in entries.iter().zip(&chunks) {
        let stored = &bytes[e.offset as usize..(e.offset + e.length) as usize];
        let plain = open_blob(keys, e.kind, &e.id, e.raw_len, stored).expect("own blob");
        assert_eq!(plain, *chunk);
    }
});
