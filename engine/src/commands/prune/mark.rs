//! Prune's first phase: find packs nothing needs, repack mostly unused ones, and condemn both in a
//! deletion plan. Nothing is deleted here.

use std::collections::{BTreeMap, HashMap, HashSet};

use cairn_repo_format::{DeletionPlan, FileKind, PackEntry, PackId, FORMAT_VERSION};

use super::view::View;
use super::{PruneOptions, PruneStats};
use crate::backend::FileType;
use crate::blob_writer::BlobWriter;
use crate::error::Result;
use crate::progress::Progress;
use crate::sys;

/// How one pack is used.
#[derive(Default)]
struct PackUse {
    live_bytes: u64,
    dead_bytes: u64,
    live_blobs: u64,
}

/// The outcome of marking: the packs condemned (written as a plan unless dry-run), and of those
/// the ones whose live blobs were (or, in a dry run, would be) copied to new packs.
pub(super) struct Marked {
    pub condemned: Vec<PackId>,
    pub repacked: Vec<PackId>,
}

pub(super) fn mark(
    view: &View,
    options: &PruneOptions,
    stats: &mut PruneStats,
    progress: &dyn Progress,
) -> Result<Marked> {
    let mut uses: HashMap<PackId, PackUse> = HashMap::new();
    view.for_each_index_file(|_, file| {
        for pack in &file.packs {
            let u = uses.entry(pack.id).or_default();
            for e in &pack.blobs {
                if view.is_live_copy(e, &pack.id) {
                    u.live_bytes += e.length as u64;
                    u.live_blobs += 1;
                } else {
                    u.dead_bytes += e.length as u64;
                }
            }
        }
        Ok(())
    })?;

    let mut condemned: Vec<PackId> = Vec::new();
    let mut partial: Vec<(PackId, u64, u64)> = Vec::new();
    let mut total = 0u64;
    let mut unused = 0u64;
    for (id, size) in &view.on_storage {
        if view.condemned.contains(id) {
            continue;
        }
        stats.packs += 1;
        stats.repository_bytes += size;
        match uses.get(id) {
            None => {
                stats.unindexed_packs += 1;
                stats.bytes_unused += size;
                condemned.push(*id);
            }
            Some(u) if u.live_blobs == 0 => {
                stats.bytes_unused += size;
                condemned.push(*id);
            }
            Some(u) => {
                total += size;
                // The header and trailer count with the live part: they go when the pack goes.
                let dead = u.dead_bytes.min(*size);
                unused += dead;
                stats.bytes_unused += dead;
                if dead > 0 {
                    partial.push((*id, dead, *size));
                }
            }
        }
    }
    stats.packs_unused = condemned.len() as u64;

    // Repack the emptiest packs until what stays unused is within the allowance.
    let allowance = (options.max_unused * total as f64) as u64;
    partial.sort_by(|a, b| (b.1 * a.2).cmp(&(a.1 * b.2)).then(a.0.cmp(&b.0)));
    let mut to_repack = Vec::new();
    let mut repack_bytes = 0u64;
    for (id, dead, size) in partial {
        if unused <= allowance {
            break;
        }
        let live = size - dead;
        if options
            .max_repack_bytes
            .is_some_and(|max| repack_bytes + live > max)
        {
            continue;
        }
        repack_bytes += live;
        unused -= dead;
        to_repack.push(id);
    }
    stats.packs_repacked = to_repack.len() as u64;
    stats.bytes_repacked = repack_bytes;

    if !options.dry_run && !to_repack.is_empty() {
        repack(view, &to_repack, progress)?;
    }
    condemned.extend(to_repack.iter().copied());
    condemned.sort();
    stats.packs_condemned = condemned.len() as u64;
    if condemned.is_empty() || options.dry_run {
        return Ok(Marked {
            condemned,
            repacked: to_repack,
        });
    }
    let plan = DeletionPlan {
        version: FORMAT_VERSION,
        packs: condemned.clone(),
        snapshots: view.snapshots.iter().map(|(id, _)| *id).collect(),
        host: sys::host_name(),
    };
    view.repo
        .write_file(FileKind::DeletionPlan, &plan.encode())?;
    Ok(Marked {
        condemned,
        repacked: to_repack,
    })
}

/// Copies the live blobs of `packs` into new packs and indexes them. The old packs are condemned
/// by the caller; until the plan is swept, each blob is stored twice and readers may use either.
///
/// Each group of snapshots (see [`super::live::Owners`]) gets packs of its own, as its backups
/// did, so that when one group's generations expire later its packs go whole instead of being
/// repacked again. Each pack is read once per group, as one range from its first to its last
/// blob of that group.
fn repack(view: &View, packs: &[PackId], progress: &dyn Progress) -> Result<()> {
    let wanted: HashSet<PackId> = packs.iter().copied().collect();
    let mut by_group: BTreeMap<Option<u32>, BTreeMap<PackId, Vec<PackEntry>>> = BTreeMap::new();
    view.for_each_index_file(|_, file| {
        for pack in file.packs.iter().filter(|p| wanted.contains(&p.id)) {
            for e in pack.blobs.iter().filter(|e| view.is_live_copy(e, &pack.id)) {
                let owner = view.live.owner(&view.repo, e.kind, &e.id);
                by_group
                    .entry(owner)
                    .or_default()
                    .entry(pack.id)
                    .or_default()
                    .push(*e);
            }
        }
        Ok(())
    })?;
    for packs in by_group.into_values() {
        let writer = BlobWriter::for_repack(view.repo.clone());
        for (pack, mut entries) in packs {
            entries.sort_by_key(|e| e.offset);
            entries.dedup_by_key(|e| e.id);
            let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
                continue;
            };
            let start = first.offset as u64;
            let span = view.repo.backend().read_range(
                FileType::Pack,
                &pack.to_hex(),
                start..last.offset as u64 + last.length as u64,
            )?;
            for e in entries {
                let at = (e.offset as u64 - start) as usize;
                let stored = span.slice(at..at + e.length as usize);
                let loc = crate::index::BlobLocation {
                    pack,
                    offset: e.offset,
                    length: e.length,
                    raw_len: e.raw_len,
                };
                let plain = view.repo.open_located(e.kind, &e.id, &loc, &stored)?;
                writer.add_with_id(e.kind, e.id, &plain)?;
                progress.add_bytes(e.length as u64);
            }
        }
        writer.finish()?;
    }
    Ok(())
}
