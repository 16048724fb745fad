//! Volume data and the hooks around it: pre hooks of the pods in scope, then each claim's data by
//! the method that reaches it, then the post hooks — which run also when reading failed.

use std::collections::BTreeMap;
use std::path::Path;

use cairn_repo_format::{BlobId, EntryKind, Name};
use serde::Serialize;
use serde_json::Value;
use tokio::runtime::Runtime;
use tokio_util::io::SyncIoBridge;

use super::client::Cluster;
use super::error::K8sError;
use super::exec::{kept_stderr, Held, Outcome, Target};
use super::hooks::{pod_hooks, Hook, OnError, Phase, Rule, HOLD_LIMIT, HOLD_MARKER};
use super::memtree::{MemDir, Stamp};
use super::mover::{self, MoverOptions};
use super::plan::{Listing, StoredObject};
use super::select::{skip_reason, Selection};
use super::tar_stream::{unpack, StreamFailure};
use super::volumes::{mounts, node_local_path, stream_command, Claim, Mount, VolumeMethod};
use crate::archiver::{store_content, Archiver, ReadFailure};

/// A hook that ran, as recorded.
#[derive(Clone, Debug, Serialize)]
pub struct HookRecord {
    /// The pod.
    pub pod: String,
    /// The container.
    pub container: String,
    /// `pre` or `post`.
    pub phase: Phase,
    /// `annotation` or `rule:<name>`.
    pub source: String,
    /// The command.
    pub command: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A claim's volume, as recorded.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VolumeRecord {
    /// Namespace.
    pub namespace: String,
    /// The claim.
    pub claim: String,
    /// The PV it is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// How it was read.
    pub method: &'static str,
    /// `filesystem` or `block`.
    pub mode: &'static str,
    /// Where its data lies in the snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `application` or `crash`, when stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<&'static str>,
    /// The hooks of the pods that mount it.
    pub hooks: Vec<HookRecord>,
    /// Bytes of data stored.
    pub bytes: u64,
    /// Why it was not (fully) stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the csi-snapshot mover created but could not delete, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leftovers: Vec<String>,
    /// True when the missing data makes the backup incomplete.
    #[serde(skip)]
    pub incomplete: bool,
}

/// What reading volume data needs.
pub struct DataContext<'a> {
    /// The runtime the cluster's requests run on.
    pub rt: &'a Runtime,
    /// The cluster.
    pub cluster: &'a Cluster,
    /// The selection (for the pods in scope).
    pub selection: &'a Selection,
    /// Namespaced lists (pods among them).
    pub namespaced: &'a [Listing],
    /// The PersistentVolumes, by name.
    pub volumes: BTreeMap<String, &'a Value>,
    /// The rules to apply.
    pub rules: &'a [&'static Rule],
    /// `--volume-method`.
    pub method: VolumeMethod,
    /// This node's name, for node affinity.
    pub node: &'a str,
    /// The archiver that stores node-local data.
    pub archiver: &'a Archiver<'a>,
    /// Owner and time of made-up entries.
    pub stamp: &'a Stamp,
    /// The root tree of the parent snapshot, whose unchanged node-local files are not read again.
    pub parent_tree: Option<BlobId>,
    /// What the csi-snapshot method's Job needs, when it may be used.
    pub mover: Option<&'a MoverOptions>,
}

/// Runs the hooks and reads every stored claim's data into `root`; returns the records and the
/// warnings about malformed hook annotations.
pub fn back_up_volumes(
    ctx: &DataContext<'_>,
    stored: &[StoredObject],
    root: &mut MemDir,
) -> Result<(Vec<VolumeRecord>, Vec<String>), K8sError> {
    let pods = pods_in_scope(ctx);
    let claims: Vec<Claim<'_>> = stored
        .iter()
        .filter(|o| o.resource.name() == "persistentvolumeclaims")
        .map(|o| Claim::of(&o.object, o.namespace.as_deref().unwrap_or_default()))
        .collect();
    let mut warnings = Vec::new();
    if ctx.method == VolumeMethod::None {
        let records = claims
            .iter()
            .map(|c| VolumeRecord {
                method: "none",
                error: Some("not read: --volume-method none".into()),
                ..record(c)
            })
            .collect();
        return Ok((records, warnings));
    }
    let mut ran: Vec<(String, HookRecord, bool)> = Vec::new();
    let mut holding: Vec<(String, HookRecord, Held)> = Vec::new();
    for (ns, pod) in &pods {
        let (hooks, problems) = pod_hooks(pod, Phase::Pre, ctx.rules);
        warnings.extend(problems);
        for hook in hooks {
            let (rec, failed_hard, held) = run_hook(ctx, &hook);
            if let Some(held) = held {
                holding.push((ns.clone(), rec.clone(), held));
            }
            ran.push((ns.clone(), rec, failed_hard));
        }
    }
    let mut records = Vec::new();
    // The pods mounting each claim, in the order of `records`.
    let mut mounting: Vec<Vec<String>> = Vec::new();
    let mut fatal = None;
    for claim in &claims {
        let ns_pods: Vec<Value> = pods
            .iter()
            .filter(|(ns, _)| ns == claim.namespace)
            .map(|(_, p)| (*p).clone())
            .collect();
        let found = mounts(&ns_pods, claim);
        let mut rec = record(claim);
        let pre: Vec<&(String, HookRecord, bool)> = ran
            .iter()
            .filter(|(ns, r, _)| ns == claim.namespace && found.iter().any(|m| m.pod == r.pod))
            .collect();
        rec.hooks = pre.iter().map(|(_, r, _)| r.clone()).collect();
        if let Some((_, r, _)) = pre.iter().find(|(_, _, hard)| *hard) {
            rec.error = Some(format!(
                "not read: the pre hook in pod {} failed and its on-error is Fail",
                r.pod
            ));
            rec.incomplete = true;
        } else if let Err(e) = read_claim(ctx, claim, &found, root, &mut rec) {
            fatal = Some(e);
            records.push(rec);
            mounting.push(found.into_iter().map(|m| m.pod).collect());
            break;
        }
        let consistent = !pre.is_empty() && pre.iter().all(|(_, r, _)| r.outcome == Outcome::Ok);
        if rec.path.is_some() {
            rec.consistency = Some(if consistent { "application" } else { "crash" });
        }
        records.push(rec);
        mounting.push(found.into_iter().map(|m| m.pod).collect());
    }
    // Locks end first, then the post hooks run, whatever happened above.
    for (ns, pre, held) in holding {
        let still = held.release();
        let rec = HookRecord {
            phase: Phase::Post,
            outcome: if still { Outcome::Ok } else { Outcome::Failed },
            message: (!still).then(|| {
                format!(
                    "the lock ended by itself (after at most {}s) before the volumes were read",
                    HOLD_LIMIT.as_secs()
                )
            }),
            ..pre
        };
        for (v, pods) in records.iter_mut().zip(&mounting) {
            if v.namespace == ns && pods.contains(&rec.pod) {
                if !still && v.consistency.is_some() {
                    v.consistency = Some("crash");
                }
                v.hooks.push(rec.clone());
            }
        }
    }
    for (ns, pod) in &pods {
        let (hooks, problems) = pod_hooks(pod, Phase::Post, ctx.rules);
        warnings.extend(problems);
        for hook in hooks {
            let (rec, _, _) = run_hook(ctx, &hook);
            for (v, pods) in records.iter_mut().zip(&mounting) {
                if &v.namespace == ns && pods.contains(&rec.pod) {
                    v.hooks.push(rec.clone());
                }
            }
        }
    }
    match fatal {
        Some(e) => Err(e),
        None => Ok((records, warnings)),
    }
}

fn record(claim: &Claim<'_>) -> VolumeRecord {
    VolumeRecord {
        namespace: claim.namespace.into(),
        claim: claim.name.into(),
        volume: claim.volume.map(String::from),
        mode: if claim.block { "block" } else { "filesystem" },
        ..Default::default()
    }
}

/// The pods the selection took (stored or derived), with their namespaces.
fn pods_in_scope<'a>(ctx: &DataContext<'a>) -> Vec<(String, &'a Value)> {
    ctx.namespaced
        .iter()
        .filter(|l| l.resource.name() == "pods")
        .flat_map(|l| {
            let ns = l.namespace.clone().unwrap_or_default();
            l.items
                .iter()
                .filter(|p| skip_reason(p).is_none() && ctx.selection.labels_match(p))
                .map(move |p| (ns.clone(), p))
        })
        .collect()
}

/// Runs one hook; the record, whether it failed with on-error Fail, and the session of a hook that
/// holds a lock.
fn run_hook(ctx: &DataContext<'_>, hook: &Hook) -> (HookRecord, bool, Option<Held>) {
    let target = Target {
        namespace: &hook.namespace,
        pod: &hook.pod,
        container: &hook.container,
    };
    let (outcome, message, held) = if hook.hold {
        let cluster = ctx.cluster;
        ctx.rt
            .block_on(cluster.exec_hold(&target, &hook.command, HOLD_MARKER, hook.timeout))
    } else {
        let (outcome, message) =
            ctx.rt
                .block_on(ctx.cluster.exec_hook(&target, &hook.command, hook.timeout));
        (outcome, message, None)
    };
    if outcome != Outcome::Ok {
        tracing::warn!(
            "{} hook in pod {}/{} ({}): {outcome:?}: {}",
            if hook.phase == Phase::Pre {
                "pre"
            } else {
                "post"
            },
            hook.namespace,
            hook.pod,
            hook.source,
            message.as_deref().unwrap_or("")
        );
    }
    let hard = outcome != Outcome::Ok && hook.on_error == OnError::Fail;
    let rec = HookRecord {
        pod: hook.pod.clone(),
        container: hook.container.clone(),
        phase: hook.phase,
        source: hook.source.clone(),
        command: hook.command.clone(),
        outcome,
        message,
    };
    (rec, hard, held)
}

/// Reads one claim by the method that applies, filling `rec`. Errors only for failures that end
/// the backup (the repository); a volume that cannot be read is recorded in `rec`.
fn read_claim(
    ctx: &DataContext<'_>,
    claim: &Claim<'_>,
    found: &[Mount],
    root: &mut MemDir,
    rec: &mut VolumeRecord,
) -> Result<(), K8sError> {
    let Some(volume) = claim.volume else {
        rec.method = "none";
        rec.error = Some("not bound to a volume: there is no data yet".into());
        return Ok(());
    };
    let mut why_not = Vec::new();
    if matches!(ctx.method, VolumeMethod::Auto | VolumeMethod::NodeLocal) {
        let local = match ctx.volumes.get(volume) {
            Some(pv) => node_local_path(pv, ctx.node),
            None => Err(format!("its volume {volume} could not be read")),
        };
        match local {
            Ok(path) => return read_local(ctx, claim, &path, root, rec),
            Err(e) => why_not.push(format!("node-local: {e}")),
        }
    }
    if matches!(ctx.method, VolumeMethod::Auto | VolumeMethod::CsiSnapshot) {
        match mover::plan(ctx, ctx.volumes.get(volume).copied()) {
            Ok(plan) => return mover::back_up_claim(ctx, claim, &plan, root, rec),
            Err(e) => why_not.push(format!("csi-snapshot: {e}")),
        }
    }
    if matches!(ctx.method, VolumeMethod::Auto | VolumeMethod::Exec) {
        match found.first() {
            Some(mount) => return read_exec(ctx, claim, mount, root, rec),
            None => why_not.push("exec: no pod in the backup mounts it".into()),
        }
    }
    rec.method = ctx.method.as_str();
    rec.error = Some(format!("not read: {}", why_not.join("; ")));
    rec.incomplete = true;
    Ok(())
}

/// The directory of `namespace`'s volumes in the snapshot's tree.
pub(super) fn volumes_dir<'r>(root: &'r mut MemDir, namespace: &str) -> &'r mut MemDir {
    root.dir(&[b"volumes", namespace.as_bytes()])
}

fn read_local(
    ctx: &DataContext<'_>,
    claim: &Claim<'_>,
    path: &Path,
    root: &mut MemDir,
    rec: &mut VolumeRecord,
) -> Result<(), K8sError> {
    rec.method = VolumeMethod::NodeLocal.as_str();
    let is_dir = std::fs::metadata(path).is_ok_and(|m| m.is_dir());
    let block = claim.block || !is_dir;
    let name = if block {
        format!("{}.img", claim.name)
    } else {
        claim.name.to_string()
    };
    rec.mode = if block { "block" } else { "filesystem" };
    let before = ctx.archiver.counters.summary().bytes_total;
    let in_tree = format!("volumes/{}/{name}", claim.namespace);
    let parent = ctx.parent_tree.and_then(|tree| {
        // An unreadable parent only costs reading the files again.
        ctx.archiver
            .writer
            .repo()
            .resolve(&tree, &in_tree)
            .ok()
            .flatten()
    });
    match ctx
        .archiver
        .path_entry(path, Name::new(name.as_str()), parent.as_ref())?
    {
        Some(entry) => {
            volumes_dir(root, claim.namespace).put(entry);
            rec.path = Some(in_tree);
            rec.bytes = ctx.archiver.counters.summary().bytes_total - before;
        }
        None => {
            rec.error = Some(format!("{} could not be read", path.display()));
            rec.incomplete = true;
        }
    }
    Ok(())
}

fn read_exec(
    ctx: &DataContext<'_>,
    claim: &Claim<'_>,
    mount: &Mount,
    root: &mut MemDir,
    rec: &mut VolumeRecord,
) -> Result<(), K8sError> {
    rec.method = VolumeMethod::Exec.as_str();
    let target = Target {
        namespace: claim.namespace,
        pod: &mount.pod,
        container: &mount.container,
    };
    let command = stream_command(mount, claim.block);
    let fail = |rec: &mut VolumeRecord, why: String| {
        rec.error = Some(format!(
            "`{}` in pod {}/{} container {}: {why}",
            command.join(" "),
            claim.namespace,
            mount.pod,
            mount.container
        ));
        rec.incomplete = true;
    };
    let mut process = match ctx.rt.block_on(ctx.cluster.exec_stream(&target, &command)) {
        Ok(p) => p,
        Err(e) => {
            fail(rec, e.to_string());
            return Ok(());
        }
    };
    let status = process.take_status();
    let stderr = process
        .stderr()
        .map(|mut err| ctx.rt.spawn(async move { kept_stderr(&mut err).await }));
    let Some(stdout) = process.stdout() else {
        fail(rec, "no output stream".into());
        return Ok(());
    };
    let reader = SyncIoBridge::new_with_handle(stdout, ctx.rt.handle().clone());
    let writer = ctx.archiver.writer;
    let progress = ctx.archiver.progress;
    let stored = if claim.block {
        let name = format!("{}.img", claim.name);
        match store_content(writer, reader, None, progress) {
            Ok(s) => {
                let mut e = ctx
                    .stamp
                    .entry(Name::new(name.as_str()), EntryKind::File, 0o600);
                (e.size, e.content) = (s.size, s.parts);
                ctx.archiver.counters.count_file(false, s.size);
                volumes_dir(root, claim.namespace).put(e);
                Ok((name, s.size, Vec::new()))
            }
            Err(ReadFailure::Repository(e)) => return Err(e.into()),
            Err(ReadFailure::Source(e)) => Err(format!("reading the stream: {e}")),
        }
    } else {
        let mut dir = MemDir::new();
        let counters = &ctx.archiver.counters;
        match unpack(reader, writer, counters, progress, &mut dir, ctx.stamp) {
            Ok((bytes, left_out)) => {
                *volumes_dir(root, claim.namespace).dir(&[claim.name.as_bytes()]) = dir;
                Ok((claim.name.to_string(), bytes, left_out))
            }
            Err(StreamFailure::Repository(e)) => return Err(e.into()),
            Err(StreamFailure::Source(e)) => Err(e),
        }
    };
    let status = match status {
        Some(s) => ctx.rt.block_on(s),
        None => None,
    };
    let stderr = match stderr {
        Some(task) => ctx.rt.block_on(task).unwrap_or_default(),
        None => Vec::new(),
    };
    let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
    let exit_ok = status
        .as_ref()
        .is_some_and(|s| s.status.as_deref() == Some("Success"));
    match stored {
        Ok((name, bytes, left_out)) => {
            rec.path = Some(format!("volumes/{}/{name}", claim.namespace));
            rec.bytes = bytes;
            if !exit_ok {
                let why = status.and_then(|s| s.message).unwrap_or_default();
                fail(
                    rec,
                    format!("ended with an error: {why} {stderr}").trim().into(),
                );
            } else if !left_out.is_empty() {
                fail(rec, format!("left out: {}", left_out.join("; ")));
            }
        }
        Err(why) => fail(rec, format!("{why} {stderr}").trim().into()),
    }
    Ok(())
}
