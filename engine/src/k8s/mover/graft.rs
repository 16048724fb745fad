//! Taking the mover Job's snapshot into the application's: its tree for the volume is grafted at
//! `volumes/<namespace>/<claim>` (or `<claim>.img`), and its snapshot file removed.
//!
//! The graft is safe against a concurrent prune (spec/concurrency.md): this backup's writer session
//! was registered before the Job wrote its packs, so no deletion plan written after the temporary
//! snapshot is removed can ripen before the application's snapshot, which references the same
//! blobs, is saved; the sweep then walks it and keeps them.

use cairn_repo_format::{Name, Snapshot, SnapshotId};

use crate::k8s::data::{volumes_dir, DataContext, VolumeRecord};
use crate::k8s::error::K8sError;
use crate::k8s::memtree::MemDir;
use crate::k8s::volumes::Claim;

/// Finds the snapshot tagged `tag`; grafts it when the Job `completed`, then removes every snapshot
/// with that tag (a failed Job may have saved an incomplete one). The inner error says why nothing
/// was grafted; the outer one is a failure of the repository.
pub(super) fn take(
    ctx: &DataContext<'_>,
    claim: &Claim<'_>,
    tag: &str,
    completed: bool,
    root: &mut MemDir,
    rec: &mut VolumeRecord,
) -> Result<Result<(), String>, K8sError> {
    let repo = ctx.archiver.writer.repo().repository();
    let tagged: Vec<(SnapshotId, Snapshot)> = repo
        .snapshots()?
        .into_iter()
        .filter(|(_, s)| s.tags.iter().any(|t| t == tag))
        .collect();
    let grafted = match (completed, tagged.first()) {
        (false, _) => Ok(()),
        (true, Some((_, snapshot))) => graft(ctx, claim, snapshot, root, rec)?,
        (true, None) => Err(format!(
            "the mover Job completed, but no snapshot tagged {tag} is in this repository: the \
             Job's pod must reach the repository at the same location ({})",
            ctx.mover.map(|m| m.repository.as_str()).unwrap_or("")
        )),
    };
    for (id, _) in &tagged {
        if let Err(e) = repo.delete_snapshot(id) {
            rec.leftovers.push(format!(
                "the mover's temporary snapshot {} (tag {tag}): {e}; forget it",
                id.short()
            ));
        }
    }
    Ok(grafted)
}

fn graft(
    ctx: &DataContext<'_>,
    claim: &Claim<'_>,
    snapshot: &Snapshot,
    root: &mut MemDir,
    rec: &mut VolumeRecord,
) -> Result<Result<(), String>, K8sError> {
    let (inside, name) = if claim.block {
        let name = format!("{}.img", claim.name);
        (name.clone(), name)
    } else {
        match snapshot.paths.first() {
            Some(path) => (path.clone(), claim.name.to_string()),
            None => return Ok(Err("the mover's snapshot names no path".into())),
        }
    };
    // This backup's index was read before the Job wrote its blobs: read the index again.
    let index = ctx
        .archiver
        .writer
        .repo()
        .repository()
        .clone()
        .load_index()?;
    let Some(mut entry) = index.resolve(&snapshot.tree, &inside)? else {
        return Ok(Err(format!("the mover's snapshot holds no {inside}")));
    };
    entry.name = Name::new(name.as_str());
    volumes_dir(root, claim.namespace).put(entry);
    rec.path = Some(format!("volumes/{}/{name}", claim.namespace));
    rec.bytes = snapshot.summary.bytes_total;
    ctx.archiver.counters.add(&snapshot.summary);
    Ok(Ok(()))
}
