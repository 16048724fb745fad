//! `cairn k8s backup`: read the cluster, plan, write manifests and volume data into one tree, and
//! save a snapshot whose `kubernetes` source says what was taken, skipped and missed.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use cairn_repo_format::{Snapshot, SnapshotId, Source, FORMAT_VERSION};
use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::client::{Cluster, ConnectOptions};
use super::data::{back_up_volumes, DataContext, VolumeRecord};
use super::error::K8sError;
use super::hooks::rules;
use super::manifests::write_manifests;
use super::memtree::{MemDir, Stamp};
use super::mover::MoverOptions;
use super::object::name_of;
use super::plan::{plan, ObjectPlan};
use super::read::{read_cluster, ClusterState};
use super::select::{Selection, SelectionOptions};
use super::volumes::VolumeMethod;
use crate::archiver::{Archiver, Excludes};
use crate::blob_writer::BlobWriter;
use crate::error::FileError;
use crate::indexed::Indexed;
use crate::progress::Progress;
use crate::retention::AppKey;
use crate::sys;

/// Options of a Kubernetes backup.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct K8sBackupOptions {
    /// How to reach the cluster.
    pub connect: ConnectOptions,
    /// The cluster's name to record (default: the kubeconfig's name for it).
    pub cluster: Option<String>,
    /// What to back up.
    pub selection: SelectionOptions,
    /// How to read volume data.
    pub volume_method: VolumeMethod,
    /// This machine's node name (default: the host name).
    pub node: Option<String>,
    /// Named hook rules (`postgres`, ...).
    pub rules: Vec<String>,
    /// Host name to record (default: this machine's).
    pub host: Option<String>,
    /// Tags to record.
    pub tags: Vec<String>,
    /// Time to record (default: now).
    pub time: Option<Timestamp>,
    /// The repository and credentials for the csi-snapshot method's Job; without them that method
    /// does not apply.
    pub mover: Option<MoverOptions>,
}

/// What a Kubernetes backup produced.
#[derive(Clone, Debug)]
pub struct K8sBackupOutcome {
    /// The new snapshot's id.
    pub id: SnapshotId,
    /// The new snapshot.
    pub snapshot: Snapshot,
    /// What is missing from it: unreadable lists, volumes and files (the backup is incomplete).
    pub errors: Vec<FileError>,
    /// Things worth saying that do not make it incomplete (unbound claims, malformed hooks).
    pub warnings: Vec<String>,
}

/// Runs a Kubernetes backup into `repo`.
pub fn backup(
    repo: &Indexed,
    options: &K8sBackupOptions,
    progress: &dyn Progress,
) -> Result<K8sBackupOutcome, K8sError> {
    let started = Instant::now();
    let selection = Selection::new(options.selection.clone())?;
    let rules = rules(&options.rules)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cairn-k8s")
        .enable_all()
        .build()
        .map_err(|e| K8sError::Config(format!("cannot start the I/O runtime: {e}")))?;
    let cluster = rt.block_on(Cluster::connect(&options.connect))?;
    let state = rt.block_on(read_cluster(&cluster, &selection))?;
    let objects = plan(
        &selection,
        &state.matched,
        &state.namespaced,
        &state.cluster,
    );
    let cluster_name = options
        .cluster
        .clone()
        .unwrap_or_else(|| cluster.name.clone());
    let parent = find_parent(repo, &app_key(&cluster_name, selection.options()))?;

    let time = options.time.unwrap_or_else(Timestamp::now);
    let stamp = Stamp::current_user(time.as_nanosecond() as i64);
    let writer = BlobWriter::new(repo.clone());
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("cairn-backup-{i}"))
        .stack_size(16 << 20)
        .build()
        .map_err(|e| K8sError::Config(format!("cannot start worker threads: {e}")))?;
    let archiver = Archiver::new(&writer, Excludes::new(&[])?, false, progress);
    let mut root = MemDir::new();
    pool.install(|| {
        write_manifests(
            &writer,
            &archiver.counters,
            &mut root,
            &objects.stored,
            &stamp,
        )
    })?;
    let node = options.node.clone().unwrap_or_else(sys::host_name);
    let ctx = DataContext {
        rt: &rt,
        cluster: &cluster,
        selection: &selection,
        namespaced: &state.namespaced,
        volumes: state
            .cluster
            .iter()
            .filter(|l| l.resource.name() == "persistentvolumes")
            .flat_map(|l| &l.items)
            .map(|pv| (name_of(pv), pv))
            .collect(),
        rules: &rules,
        method: options.volume_method,
        node: &node,
        archiver: &archiver,
        stamp: &stamp,
        parent_tree: parent.as_ref().map(|(_, p)| p.tree),
        mover: options.mover.as_ref(),
    };
    let (volumes, mut warnings) =
        pool.install(|| back_up_volumes(&ctx, &objects.stored, &mut root))?;
    let tree = pool.install(|| root.write(&writer, &stamp))?;
    writer.finish()?;

    let mut errors = list_errors(&state);
    errors.extend(volume_errors(&volumes));
    errors.extend(archiver.take_errors());
    // Volumes left unread by request need no warning; an unbound claim does.
    let asked_none = options.volume_method == VolumeMethod::None;
    warnings.extend(volumes.iter().flat_map(|v| {
        v.leftovers
            .iter()
            .map(|l| format!("volume {}/{}: left behind: {l}", v.namespace, v.claim))
    }));
    let unread = volumes.iter().filter(|v| !v.incomplete && !asked_none);
    warnings.extend(unread.filter_map(|v| {
        Some(format!(
            "volume {}/{}: {}",
            v.namespace,
            v.claim,
            v.error.as_ref()?
        ))
    }));
    let mut summary = archiver.counters.summary();
    let stats = writer.stats();
    summary.data_blobs_added = stats.data_blobs.load(Ordering::Relaxed);
    summary.tree_blobs_added = stats.tree_blobs.load(Ordering::Relaxed);
    summary.bytes_added = stats.bytes_added.load(Ordering::Relaxed);
    summary.errors = errors.len() as u64;
    summary.duration_secs = started.elapsed().as_secs_f64();
    let mut tags = options.tags.clone();
    tags.sort();
    tags.dedup();
    let snapshot = Snapshot {
        version: FORMAT_VERSION,
        time,
        host: options.host.clone().unwrap_or_else(sys::host_name),
        username: sys::user_name(),
        tags,
        paths: Vec::new(),
        excludes: Vec::new(),
        parent: parent.map(|(id, _)| id),
        original: None,
        tree,
        source: Source::Kubernetes {
            details: details(&cluster_name, &selection, &state, &objects, &volumes),
        },
        summary,
        program_version: format!("cairn {}", env!("CARGO_PKG_VERSION")),
    };
    let id = repo.save_snapshot(&snapshot)?;
    Ok(K8sBackupOutcome {
        id,
        snapshot,
        errors,
        warnings,
    })
}

/// The application a backup is of, as `forget --group-by app` reads it from its snapshots.
fn app_key(cluster: &str, options: &SelectionOptions) -> AppKey {
    let mut namespaces = options.namespaces.clone();
    namespaces.sort();
    namespaces.dedup();
    AppKey {
        cluster: Some(cluster.to_string()),
        namespaces,
        selector: options.selector_text(),
    }
}

/// The latest snapshot of the same application: its unchanged volume files are not read again.
fn find_parent(repo: &Indexed, app: &AppKey) -> Result<Option<(SnapshotId, Snapshot)>, K8sError> {
    Ok(repo
        .snapshots()?
        .into_iter()
        .rfind(|(_, s)| AppKey::of(s).as_ref() == Some(app)))
}

fn list_errors(state: &ClusterState) -> Vec<FileError> {
    state
        .unreadable
        .iter()
        .map(|u| FileError {
            path: match &u.namespace {
                Some(ns) => format!("manifests/namespaces/{ns}/{}", u.resource),
                // A discovery document: its URL path.
                None if u.resource.starts_with('/') => format!("discovery{}", u.resource),
                None => format!("manifests/cluster/{}", u.resource),
            }
            .into(),
            message: u.reason.clone(),
        })
        .collect()
}

fn volume_errors(volumes: &[VolumeRecord]) -> Vec<FileError> {
    volumes
        .iter()
        .filter(|v| v.incomplete)
        .map(|v| FileError {
            path: format!("volumes/{}/{}", v.namespace, v.claim).into(),
            message: v.error.clone().unwrap_or_default(),
        })
        .collect()
}

/// The fields of the snapshot's `kubernetes` source (spec/kubernetes.md, "`source` fields").
fn details(
    cluster: &str,
    selection: &Selection,
    state: &ClusterState,
    objects: &ObjectPlan,
    volumes: &[VolumeRecord],
) -> Map<String, Value> {
    let options = selection.options();
    let mut counts: BTreeMap<String, (String, bool, u64)> = BTreeMap::new();
    for l in state.namespaced.iter().chain(&state.cluster) {
        counts.entry(l.resource.name()).or_insert((
            l.resource.api_version(),
            l.resource.namespaced,
            0,
        ));
    }
    for o in &objects.stored {
        if let Some(c) = counts.get_mut(&o.resource.name()) {
            c.2 += 1;
        }
    }
    let resources: Vec<Value> = counts
        .into_iter()
        .map(|(name, (gv, namespaced, n))| {
            json!({"resource": name, "group_version": gv, "namespaced": namespaced, "objects": n})
        })
        .collect();
    let mut namespaces = options.namespaces.clone();
    namespaces.sort();
    let mut selection_json = serde_json::to_value(options).unwrap_or_default();
    if let Some(s) = selection_json.as_object_mut() {
        s.insert("namespaces_matched".into(), json!(state.matched));
    }
    let mut d = json!({
        "cluster": cluster,
        "server_version": state.server_version,
        "namespaces": namespaces,
        "selection": selection_json,
        "resource_version": state.resource_version,
        "resources": resources,
        "not_at_resource_version": state.not_at_version,
        "unreadable": state.unreadable,
        "skipped": objects.skipped,
        "skipped_resources": state.skipped_resources,
        "volumes": volumes,
    });
    let map = d.as_object_mut().expect("an object literal");
    if let Some(uid) = &state.cluster_uid {
        map.insert("cluster_uid".into(), uid.clone().into());
    }
    if let Some(s) = options.selector_text() {
        map.insert("selector".into(), s.into());
    }
    std::mem::take(map)
}
