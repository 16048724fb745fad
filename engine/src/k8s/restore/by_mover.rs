//! `--volume-method data-mover`: each claim whose data the snapshot holds is created by a Job's
//! helper (spec/kubernetes.md, "Volume data"): a Secret, the claim as the restore plans it, and a
//! Job that runs cairn to restore the claim's directory of the snapshot into it, before any
//! workload is created. The Job and the Secret are deleted afterwards; a claim that could not be
//! filled is deleted too, and its data stays in the repository.

use tokio::runtime::Runtime;

use super::claim_data::{ClaimData, VolumeItem};
use super::plan::Planned;
use super::RestoreItem;
use crate::k8s::client::Cluster;
use crate::k8s::mover::{restore_volume, MoverOptions, VolumeRestore};
use crate::k8s::object::str_at;

/// Takes the claims the mover fills out of the plan, with their planned objects; block claims,
/// which it cannot fill, are reported failed. Returns the claims left (none but those failed).
pub fn take_claims(
    planned: &mut Vec<Planned>,
    claims: Vec<ClaimData>,
    volumes: &mut Vec<VolumeItem>,
) -> Vec<(ClaimData, Planned)> {
    let mut moved = Vec::new();
    for claim in claims {
        if claim.block() {
            volumes.push(
                claim
                    .item("data-mover", "failed")
                    .because("the data mover fills file systems only; restore a block image with node-local or exec"),
            );
            continue;
        }
        let at = planned.iter().position(|p| {
            p.resource == "persistentvolumeclaims"
                && p.namespace.as_deref() == Some(claim.namespace.as_str())
                && p.name == claim.name
        });
        if let Some(at) = at {
            moved.push((claim, planned.remove(at)));
        }
    }
    moved
}

/// Creates and fills each claim through a Job, one after the other.
pub fn fill(
    rt: &Runtime,
    cluster: &Cluster,
    mover: &MoverOptions,
    snapshot: &str,
    moved: Vec<(ClaimData, Planned)>,
    items: &mut Vec<RestoreItem>,
    volumes: &mut Vec<VolumeItem>,
) {
    for (claim, p) in moved {
        let size = str_at(&p.object, "/spec/resources/requests/storage").unwrap_or("1Gi");
        let mut request =
            VolumeRestore::new(&claim.namespace, &claim.name, size, snapshot, &claim.source);
        request.storage_class = str_at(&p.object, "/spec/storageClassName").map(String::from);
        request.template = Some(p.object.clone());
        let mut item = claim.item("data-mover", "restored");
        item.target = Some(format!(
            "claim {}/{} through a Job",
            claim.namespace, claim.name
        ));
        match rt.block_on(restore_volume(cluster, mover, &request)) {
            Ok(done) => {
                items.push(p.item("created", Some("by the data mover, with its data".into())));
                if !done.leftovers.is_empty() {
                    item.reason = Some(format!(
                        "left in the cluster: {}",
                        done.leftovers.join("; ")
                    ));
                }
                volumes.push(item);
            }
            Err(e) => {
                items.push(p.item("failed", Some(e.to_string())));
                volumes.push(
                    VolumeItem {
                        action: "failed",
                        ..item
                    }
                    .because(format!(
                        "{e}; its data stays in the repository at {}",
                        claim.source
                    )),
                );
            }
        }
    }
}
