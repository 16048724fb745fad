//! Kubernetes restores (spec/kubernetes.md, "Restore"): the manifests of a snapshot, chosen,
//! sanitised as the server expects new objects, renamed, and put in the order their dependencies
//! need.
//!
//! One job per module: `source` reads the manifests out of the snapshot; `choose` narrows them to
//! what was asked; `sanitise` and `remap` rewrite each object; `order` ranks them; `plan` puts it all
//! together; `to_dir` writes the result as YAML files that `kubectl apply` can take,
//! `dry_run` tells what a restore into a cluster would do, and `apply` does it, with `wait` waiting
//! for what the next objects need and `hooks` running post-restore hooks.

mod apply;
mod by_mover;
mod choose;
mod claim_data;
mod dry_run;
mod hooks;
mod into_path;
mod into_pod;
mod order;
mod plan;
mod provision;
mod remap;
mod sanitise;
pub(crate) mod source;
mod tar_out;
mod to_dir;
mod transform;
mod volume_data;
mod wait;

use cairn_repo_format::BlobId;
use serde::Serialize;
use serde_json::Value;

use super::client::ConnectOptions;
use super::error::K8sError;
use super::volumes::VolumeMethod;
use crate::indexed::Indexed;
use choose::Choice;
use remap::parse_pairs;
use transform::Transforms;

pub use apply::{apply, Existing};
pub use choose::ChoiceOptions;
pub use claim_data::{DataOptions, VolumeItem};
pub use dry_run::dry_run;
pub use hooks::HookItem;
pub use plan::Planned;
pub use remap::Mappings;
pub use sanitise::SanitiseOptions;
pub use to_dir::restore_to_dir;
pub use wait::{WaitItem, WaitOptions};

/// Options of `k8s restore`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct K8sRestoreOptions {
    /// What to restore.
    pub choice: ChoiceOptions,
    /// `OLD:NEW` namespace renamings.
    pub namespace_mappings: Vec<String>,
    /// `OLD:NEW` storage class renamings.
    pub storage_class_mappings: Vec<String>,
    /// `OLD:NEW` (or `OLD=NEW`) image prefix renamings.
    pub image_mappings: Vec<String>,
    /// How objects are sanitised.
    pub sanitise: SanitiseOptions,
    /// How to reach the cluster, for a restore into one.
    pub connect: ConnectOptions,
    /// What a restore into a cluster does with objects that exist.
    pub existing: Existing,
    /// How a restore into a cluster waits for what objects need, and for their pods.
    pub wait: WaitOptions,
    /// `--transform`: a file of JSON-patch rules applied to the objects they match.
    pub transform: Option<std::path::PathBuf>,
    /// Objects, volume data, or both.
    pub parts: Parts,
    /// How volume data is restored.
    pub data: DataOptions,
}

/// What of a snapshot a restore takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parts {
    /// The objects and their claims' data.
    #[default]
    All,
    /// `--manifests-only`: the objects, no volume data.
    ManifestsOnly,
    /// `--data-only`: volume data into claims the cluster has, no objects.
    DataOnly,
}

impl Parts {
    /// Whether objects are created.
    pub fn objects(self) -> bool {
        self != Parts::DataOnly
    }

    /// Whether volume data is restored.
    pub fn data(self) -> bool {
        self != Parts::ManifestsOnly
    }
}

impl K8sRestoreOptions {
    /// The renamings, checked.
    pub fn mappings(&self) -> Result<Mappings, K8sError> {
        Ok(Mappings {
            namespaces: parse_pairs("--namespace-mapping", &self.namespace_mappings)?,
            storage_classes: parse_pairs("--storage-class-mapping", &self.storage_class_mappings)?,
            images: parse_pairs("--image-mapping", &self.image_mappings)?,
        })
    }

    /// Reads the manifests of the snapshot whose tree is `root` and plans their restore (see
    /// [`plan::plan`]).
    fn plan(
        &self,
        repo: &Indexed,
        root: &BlobId,
    ) -> Result<(Vec<Planned>, Vec<RestoreItem>), K8sError> {
        let choice = Choice::new(&self.choice)?;
        let mappings = self.mappings()?;
        let transforms = match &self.transform {
            Some(path) => Transforms::read(path)?,
            None => Transforms::default(),
        };
        let (manifests, unreadable) = source::read_manifests(repo, root)?;
        Ok(plan::plan(
            manifests,
            unreadable,
            &choice,
            &mappings,
            &self.sanitise,
            &transforms,
        ))
    }

    /// The planned claims whose data the snapshot holds and is to be restored.
    fn claims_with_data(
        &self,
        repo: &Indexed,
        root: &BlobId,
        planned: &[Planned],
    ) -> Result<Vec<claim_data::ClaimData>, K8sError> {
        if !self.parts.data() || self.data.method == VolumeMethod::None {
            return Ok(Vec::new());
        }
        claim_data::claims_with_data(repo, root, planned)
    }
}

/// One manifest of a snapshot.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// Its path in the snapshot (`manifests/namespaces/shop/deployments.apps/web.yaml`).
    pub path: String,
    /// Its resource (`deployments.apps`), from the path.
    pub resource: String,
    /// Its namespace, for a namespaced object.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// The object.
    pub object: Value,
}

/// What became of one object of the snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct RestoreItem {
    /// The resource.
    pub resource: String,
    /// The namespace it is restored into, for a namespaced object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The name it is restored as.
    pub name: String,
    /// Its manifest in the snapshot.
    pub source: String,
    /// `written`, `skipped` or `failed`; in a dry run, `create` or `exists` instead of `written`;
    /// into a cluster, `created`, `updated` or `exists`.
    pub action: &'static str,
    /// The file written, relative to the target directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Why it was skipped or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The outcome of a restore: every object chosen, in the restore's order (skipped and failed
/// objects first), the data of every claim restored, and into a cluster also the waits and the
/// post-restore hooks.
#[derive(Clone, Debug, Default, Serialize)]
pub struct K8sRestoreReport {
    /// The objects.
    pub items: Vec<RestoreItem>,
    /// The claims' data.
    pub volumes: Vec<VolumeItem>,
    /// What a restore into a cluster waited for, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waits: Vec<WaitItem>,
    /// The post-restore hooks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookItem>,
}

impl K8sRestoreReport {
    /// How many objects and volumes failed.
    pub fn failed(&self) -> usize {
        let objects = self.items.iter().filter(|i| i.action == "failed").count();
        objects + self.volumes.iter().filter(|v| v.action == "failed").count()
    }

    /// How many waits did not succeed (a claim not bound, pods not ready, ...).
    pub fn waits_failed(&self) -> usize {
        self.waits.iter().filter(|w| !w.done()).count()
    }

    /// How many hooks did not succeed with on-error `Fail`.
    pub fn hooks_failed(&self) -> usize {
        self.hooks.iter().filter(|h| h.fails_restore()).count()
    }
}
