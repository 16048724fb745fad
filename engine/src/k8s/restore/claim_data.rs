//! Volume data of a restore (spec/kubernetes.md, "Volume data"): which restored claims the
//! snapshot holds data for, how it is put back, and the report of each.

use std::path::PathBuf;

use cairn_repo_format::{Entry, EntryKind};
use serde::Serialize;

use super::plan::Planned;
use crate::indexed::Indexed;
use crate::k8s::error::K8sError;
use crate::k8s::mover::MoverOptions;
use crate::k8s::volumes::VolumeMethod;

/// How volume data is restored.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DataOptions {
    /// `--volume-method`: `auto` (node-local, else exec), `node-local`, `exec` or `none`.
    pub method: VolumeMethod,
    /// `--volume-root`: provision a hostPath PV under this directory for each claim restored.
    pub volume_root: Option<PathBuf>,
    /// This machine's node name, for node affinity.
    pub node: String,
    /// `--overwrite-data`: write into volumes that hold data already.
    pub overwrite: bool,
    /// `--volume-method data-mover`: each claim is created and filled by a Job that runs cairn.
    pub mover: Option<MoverOptions>,
    /// The snapshot's id, for the mover's Job.
    pub snapshot: String,
}

impl Default for DataOptions {
    fn default() -> Self {
        DataOptions {
            method: VolumeMethod::Auto,
            volume_root: None,
            node: crate::sys::host_name(),
            overwrite: false,
            mover: None,
            snapshot: String::new(),
        }
    }
}

/// A restored claim whose data the snapshot holds.
#[derive(Clone, Debug)]
pub struct ClaimData {
    /// The namespace it is restored into.
    pub namespace: String,
    /// The claim.
    pub name: String,
    /// The data's path in the snapshot (`volumes/<ns>/<claim>` or `volumes/<ns>/<claim>.img`).
    pub source: String,
    /// The data's entry: a directory, or the image file of a block claim.
    pub entry: Entry,
}

impl ClaimData {
    /// Whether the data is a block image.
    pub fn block(&self) -> bool {
        self.entry.kind != EntryKind::Dir
    }

    /// A report line for it.
    pub fn item(&self, method: &'static str, action: &'static str) -> VolumeItem {
        VolumeItem {
            namespace: self.namespace.clone(),
            claim: self.name.clone(),
            source: self.source.clone(),
            method,
            action,
            target: None,
            files: 0,
            bytes: 0,
            reason: None,
        }
    }
}

/// What became of one claim's data.
#[derive(Clone, Debug, Serialize)]
pub struct VolumeItem {
    /// The namespace it was restored into.
    pub namespace: String,
    /// The claim.
    pub claim: String,
    /// The data's path in the snapshot.
    pub source: String,
    /// `node-local`, `exec`, `data-mover`, `to-dir`, or `none` when no method reached it.
    pub method: &'static str,
    /// `restored` (`written` into a directory), `skipped` or `failed`; in a dry run `restore`.
    pub action: &'static str,
    /// Where it went: a local path, or `pod/container:path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Regular files written.
    pub files: u64,
    /// Bytes of content written.
    pub bytes: u64,
    /// Why it was skipped or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl VolumeItem {
    /// The item with `reason`.
    pub fn because(mut self, reason: impl Into<String>) -> VolumeItem {
        self.reason = Some(reason.into());
        self
    }
}

/// The planned claims whose data the snapshot (tree `root`) holds, in the plan's order.
pub fn claims_with_data(
    repo: &Indexed,
    root: &cairn_repo_format::BlobId,
    planned: &[Planned],
) -> Result<Vec<ClaimData>, K8sError> {
    let mut out = Vec::new();
    for p in planned
        .iter()
        .filter(|p| p.resource == "persistentvolumeclaims")
    {
        let (Some(namespace), Some(old)) = (&p.namespace, source_namespace(&p.source)) else {
            continue;
        };
        for name in [p.name.clone(), format!("{}.img", p.name)] {
            let source = format!("volumes/{old}/{name}");
            if let Some(entry) = repo.resolve(root, &source)? {
                out.push(ClaimData {
                    namespace: namespace.clone(),
                    name: p.name.clone(),
                    source,
                    entry,
                });
                break;
            }
        }
    }
    Ok(out)
}

/// The namespace in the snapshot of a manifest at `manifests/namespaces/<ns>/...`.
fn source_namespace(path: &str) -> Option<&str> {
    path.strip_prefix("manifests/namespaces/")?
        .split('/')
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_namespace_comes_from_the_manifest_path() {
        assert_eq!(
            source_namespace("manifests/namespaces/shop/persistentvolumeclaims/data.yaml"),
            Some("shop")
        );
        assert_eq!(
            source_namespace("manifests/cluster/persistentvolumes/pv.yaml"),
            None
        );
    }
}
