//! Kubernetes backups: an application's objects and volumes, read from a cluster at one point in
//! time, into one snapshot (spec/kubernetes.md).
//!
//! One job per module: `client` talks to the API server and `exec` runs commands in containers;
//! `discovery` finds the resources a cluster serves; `read` lists them at one resource version;
//! `select` and `plan` decide which objects are stored and why others are skipped; `manifests` and
//! `yaml` write them into the snapshot tree (`memtree`) from memory; `volumes`, `tar_stream`, `hooks`
//! and `data` read volume data with the hooks around it, `mover` through a CSI snapshot and a Job; `backup` runs it all, and `apps` tells
//! which workloads a repository protects. `restore` brings a snapshot's objects back.

mod apps;
mod backup;
mod client;
mod data;
mod discovery;
mod error;
mod exec;
#[cfg(test)]
mod fixtures;
mod hooks;
mod labels;
mod manifests;
pub(crate) mod memtree;
mod mover;
mod object;
mod plan;
mod read;
pub mod restore;
mod select;
pub(crate) mod tar_stream;
mod volumes;
mod yaml;

pub use apps::{apps, AppsOptions, ClaimStatus, Protection, Workload};
pub use backup::{backup, K8sBackupOptions, K8sBackupOutcome};
pub use client::{Cluster, ConnectOptions};
pub use data::{HookRecord, VolumeRecord};
pub use discovery::ResourceType;
pub use error::K8sError;
pub use hooks::RULES;
pub use labels::Selector;
pub use mover::{
    restore_volume, MoverOptions, RestoredVolume, VolumeRestore, DEFAULT_MOVER_IMAGE,
    DEFAULT_MOVER_TIMEOUT, MOVER_TAG_PREFIX,
};
pub use plan::{ObjectPlan, Skipped, StoredObject};
pub use select::{ClusterResources, SelectionOptions, EXCLUDE_LABEL};
pub use volumes::VolumeMethod;
