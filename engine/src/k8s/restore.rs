//! Kubernetes restores (spec/kubernetes.md, "Restore"): the manifests of a snapshot, chosen,
//! sanitised as the server expects new objects, renamed, and put in the order their dependencies
//! need.
//!
//! One job per module: `source` reads the manifests out of the snapshot; `choose` narrows them to
//! what was asked; `sanitise` and `remap` rewrite each object; `order` ranks them; `plan` puts it all
//! together; `to_dir` writes the result as YAML files that `kubectl apply` can take.

mod choose;
mod order;
mod plan;
mod remap;
mod sanitise;
mod source;
mod to_dir;

use serde::Serialize;
use serde_json::Value;

pub use choose::ChoiceOptions;
pub use plan::Planned;
pub use remap::Mappings;
pub use sanitise::SanitiseOptions;
pub use to_dir::{restore_to_dir, K8sRestoreOptions};

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
    /// `written`, `skipped` or `failed`.
    pub action: &'static str,
    /// The file written, relative to the target directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Why it was skipped or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The outcome of a restore: every object chosen, in the restore's order (skipped and failed
/// objects first).
#[derive(Clone, Debug, Default, Serialize)]
pub struct K8sRestoreReport {
    /// The objects.
    pub items: Vec<RestoreItem>,
}

impl K8sRestoreReport {
    /// How many objects failed.
    pub fn failed(&self) -> usize {
        self.items.iter().filter(|i| i.action == "failed").count()
    }
}
