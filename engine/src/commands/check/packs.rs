//! Reading packs whole (`--read-data`): name, header and every blob.

use std::collections::{HashMap, HashSet};

use cairn_repo_format::{
    decode_pack_header, header_len_from_trailer, open_blob, BlobId, BlobKind, PackEntry, PackId,
    PACK_ENTRY_LEN, SEAL_OVERHEAD,
};

use super::DamagedBlob;
use crate::backend::FileType;
use crate::repository::Repository;

/// The size a pack holding `blobs` (its complete header entries) has.
pub(super) fn expected_pack_size(blobs: &[PackEntry]) -> u64 {
    let area = blobs
        .iter()
        .map(|b| u64::from(b.offset) + u64::from(b.length))
        .max()
        .unwrap_or(0);
    area + (SEAL_OVERHEAD + 5 + PACK_ENTRY_LEN * blobs.len()) as u64 + 4
}

/// What reading one pack found.
#[derive(Default)]
pub(super) struct PackCheck {
    pub(super) read: bool,
    pub(super) errors: Vec<String>,
    pub(super) warnings: Vec<String>,
    pub(super) damaged: Vec<DamagedBlob>,
}

/// Downloads a pack and checks its name, its header against the index, and every blob.
pub(super) fn check_pack(repo: &Repository, id: PackId, blobs: &[PackEntry]) -> PackCheck {
    let mut out = PackCheck::default();
    let bytes = match repo.backend().read(FileType::Pack, &id.to_hex()) {
        Ok(b) => b,
        Err(e) => {
            out.errors
                .push(format!("pack {}: cannot be read: {e}", id.short()));
            return out;
        }
    };
    out.read = true;
    if PackId::of_bytes(&bytes) != id {
        out.errors.push(format!(
            "pack {}: its content does not match its name: the pack is damaged",
            id.short()
        ));
    }
    match pack_header(repo, &bytes) {
        Ok(header) => compare_header(&mut out, id, &header, blobs),
        Err(e) => out.errors.push(format!("pack {}: {e}", id.short())),
    }
    for b in blobs {
        let (start, end) = (b.offset as usize, b.offset as usize + b.length as usize);
        let reason = match bytes.get(start..end) {
            None => Some(format!("lies outside the pack ({} bytes)", bytes.len())),
            Some(stored) => open_blob(repo.keys(), b.kind, &b.id, b.raw_len, stored)
                .err()
                .map(|e| e.to_string()),
        };
        if let Some(reason) = reason {
            out.damaged.push(DamagedBlob {
                kind: b.kind,
                id: b.id,
                pack: id,
                reason,
            });
        }
    }
    out
}

fn pack_header(repo: &Repository, bytes: &[u8]) -> std::result::Result<Vec<PackEntry>, String> {
    let len = bytes.len();
    if len < 4 {
        return Err(format!("{len} bytes is too short to be a pack"));
    }
    let header_len =
        header_len_from_trailer(&bytes[len - 4..], len as u64).map_err(|e| e.to_string())? as usize;
    decode_pack_header(
        repo.keys(),
        &bytes[len - 4 - header_len..len - 4],
        len as u64,
    )
    .map_err(|e| e.to_string())
}

/// Reports where the pack's header and its index record differ, and layouts no writer produces.
fn compare_header(out: &mut PackCheck, id: PackId, header: &[PackEntry], index: &[PackEntry]) {
    let p = id.short();
    if header != index {
        let in_header: HashMap<(BlobKind, BlobId), &PackEntry> =
            header.iter().map(|e| ((e.kind, e.id), e)).collect();
        let in_index: HashSet<(BlobKind, BlobId)> = index.iter().map(|e| (e.kind, e.id)).collect();
        let before = out.errors.len();
        for e in index {
            match in_header.get(&(e.kind, e.id)) {
                None => out.errors.push(format!(
                    "pack {p}: the index lists {:?} blob {}, the pack header does not",
                    e.kind,
                    e.id.short()
                )),
                Some(h) if *h != e => out.errors.push(format!(
                    "pack {p}: blob {}: the index says offset {} length {} raw length {}, the header {} {} {}",
                    e.id.short(),
                    e.offset,
                    e.length,
                    e.raw_len,
                    h.offset,
                    h.length,
                    h.raw_len
                )),
                Some(_) => {}
            }
        }
        for h in header
            .iter()
            .filter(|h| !in_index.contains(&(h.kind, h.id)))
        {
            out.errors.push(format!(
                "pack {p}: the header lists {:?} blob {}, the index does not",
                h.kind,
                h.id.short()
            ));
        }
        if out.errors.len() == before {
            out.errors.push(format!(
                "pack {p}: the index lists the header's blobs in another order"
            ));
        }
    }
    if header.is_empty() {
        out.warnings.push(format!("pack {p} holds no blob"));
        return;
    }
    if header.iter().any(|e| e.kind != header[0].kind) {
        out.warnings
            .push(format!("pack {p} mixes data and tree blobs"));
    }
    let distinct: HashSet<(BlobKind, BlobId)> = header.iter().map(|e| (e.kind, e.id)).collect();
    if distinct.len() != header.len() {
        out.warnings.push(format!("pack {p} holds a blob twice"));
    }
    let mut spans: Vec<(u64, u64)> = header
        .iter()
        .map(|e| {
            (
                u64::from(e.offset),
                u64::from(e.offset) + u64::from(e.length),
            )
        })
        .collect();
    spans.sort_unstable();
    let mut end = 0;
    for (start, stop) in spans {
        if start != end {
            out.warnings.push(format!(
                "pack {p}: its blobs are not back to back (gap or overlap at {start})"
            ));
            break;
        }
        end = stop;
    }
}
