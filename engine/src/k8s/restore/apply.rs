//! A restore into a cluster: each object of the plan created in order (`POST`), an object that
//! exists skipped, replaced (`PUT` with its current resource version) or failed as `--existing`
//! says. Custom resources whose CRD the restore created wait until discovery serves them. Owner
//! references to owners this restore created or replaced are kept, with the owners' new uids.
//! Between ranks and at the end it waits (`wait`) and runs post-restore hooks (`hooks`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use cairn_repo_format::Snapshot;
use http::Method;

use super::by_mover::{fill, take_claims};
use super::hooks::run_hooks;
use super::into_path::write_local;
use super::order::rank;
use super::plan::Planned;
use super::provision::provision;
use super::sanitise::owner_references;
use super::volume_data::{into_node_local, into_pods, Pending};
use super::wait::Waiter;
use super::{K8sRestoreOptions, K8sRestoreReport, RestoreItem};
use crate::indexed::Indexed;
use crate::k8s::client::Cluster;
use crate::k8s::discovery::ResourceType;
use crate::k8s::error::K8sError;
use crate::k8s::object::str_at;

/// What to do with an object that exists already.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Existing {
    /// Leave it as it is (reported as `exists`).
    #[default]
    Skip,
    /// Replace it with the snapshot's (reported as `updated`).
    Update,
    /// Report it as `failed`.
    Fail,
}

impl std::str::FromStr for Existing {
    type Err = K8sError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "skip" => Ok(Existing::Skip),
            "update" => Ok(Existing::Update),
            "fail" => Ok(Existing::Fail),
            _ => Err(K8sError::InvalidInput(format!(
                "--existing {s:?}: expected skip, update or fail"
            ))),
        }
    }
}

/// How long to wait for the API of a restored CRD to be served.
const CRD_WAIT: Duration = Duration::from_secs(30);

/// Restores the snapshot into the cluster: the storage objects (up to the claims) first, then
/// the data of the claims that can be reached on this machine, then the other objects, then the
/// data that goes through the pods that mount the claims.
pub fn apply(
    repo: &Indexed,
    snapshot: &Snapshot,
    options: &K8sRestoreOptions,
) -> Result<K8sRestoreReport, K8sError> {
    let (mut planned, mut items) = options.plan(repo, &snapshot.tree)?;
    let claims = options.claims_with_data(repo, &snapshot.tree, &planned)?;
    let (rt, cluster) = Cluster::connect_blocking(&options.connect)?;
    let data = &options.data;
    let wait = if options.wait.enabled {
        options.wait.timeout
    } else {
        Duration::ZERO
    };
    let mut volumes = Vec::new();
    if !options.parts.objects() {
        let (done, pending) = into_node_local(&rt, &cluster, repo, snapshot, claims, data, wait)?;
        volumes.extend(done);
        volumes.extend(into_pods(&rt, &cluster, repo, pending, data)?);
        return Ok(K8sRestoreReport {
            items: Vec::new(),
            volumes,
            ..Default::default()
        });
    }
    // The mover and `--volume-root` take every claim; the others go node-local, then to the pods.
    let mut moved = Vec::new();
    let mut provisioned = Vec::new();
    let claims = if data.mover.is_some() {
        moved = take_claims(&mut planned, claims, &mut volumes);
        Vec::new()
    } else if let Some(root) = &data.volume_root {
        provisioned = provision(
            &mut planned,
            &claims,
            root,
            &data.node,
            &mut items,
            &mut volumes,
        );
        Vec::new()
    } else {
        claims
    };
    let mut waiter = Waiter::new(&cluster, options.wait);
    let mut created = BTreeMap::new();
    let after_claims = rank("persistentvolumeclaims") + 1;
    let storage = planned
        .iter()
        .position(|p| p.rank >= after_claims)
        .unwrap_or(planned.len());
    let (first, rest) = planned.split_at(storage);
    let existing = options.existing;
    rt.block_on(create_all(
        &cluster,
        first,
        existing,
        &mut items,
        &mut created,
        &mut waiter,
    ))?;
    // Claims bound by now have their data written before any workload is created; those that
    // bind once a pod uses them (WaitForFirstConsumer) get theirs once the workloads are up.
    rt.block_on(waiter.before(after_claims))?;
    for p in provisioned {
        // A claim the cluster had already keeps its own volume: the data is not put beside it.
        let made = items.iter().any(|i| {
            i.resource == "persistentvolumeclaims"
                && i.namespace.as_deref() == Some(p.claim.namespace.as_str())
                && i.name == p.claim.name
                && matches!(i.action, "created" | "updated")
        });
        volumes.push(if made {
            write_local(repo, snapshot, &p.claim, &p.path, data.overwrite, "node-local")
        } else {
            p.claim.item("node-local", "skipped").because(
                "the claim was not created by this restore: its volume is not the one under --volume-root",
            )
        });
    }
    if let Some(mover) = &data.mover {
        fill(
            &rt,
            &cluster,
            mover,
            &data.snapshot,
            moved,
            &mut items,
            &mut volumes,
        );
    }
    let (done, pending) =
        into_node_local(&rt, &cluster, repo, snapshot, claims, data, Duration::ZERO)?;
    volumes.extend(done);
    rt.block_on(create_all(
        &cluster,
        rest,
        existing,
        &mut items,
        &mut created,
        &mut waiter,
    ))?;
    rt.block_on(waiter.finish())?;
    let late = pending.into_iter().map(Pending::into_claim).collect();
    let (done, pending) =
        into_node_local(&rt, &cluster, repo, snapshot, late, data, Duration::ZERO)?;
    volumes.extend(done);
    volumes.extend(into_pods(&rt, &cluster, repo, pending, data)?);
    let hooks = rt.block_on(run_hooks(&cluster, &waiter.workloads))?;
    Ok(K8sRestoreReport {
        items,
        volumes,
        waits: waiter.waits,
        hooks,
    })
}

/// The resource as the object's own `apiVersion` names it (the URL and body must agree).
fn in_own_version(resource: &ResourceType, object: &serde_json::Value) -> ResourceType {
    let mut r = resource.clone();
    if let Some(v) = str_at(object, "/apiVersion").map(|v| v.rsplit('/').next().unwrap_or(v)) {
        r.version = v.to_string();
    }
    r
}

/// Creates the objects of `planned` in order; `created` maps the old uids of the owners created
/// so far to their new ones.
async fn create_all(
    cluster: &Cluster,
    planned: &[Planned],
    existing: Existing,
    items: &mut Vec<RestoreItem>,
    created: &mut BTreeMap<String, String>,
    waiter: &mut Waiter<'_>,
) -> Result<(), K8sError> {
    let served = |types: Vec<ResourceType>| -> HashMap<String, ResourceType> {
        types.into_iter().map(|t| (t.name(), t)).collect()
    };
    let mut types = served(cluster.discover().await?.0);
    let crds: HashSet<&str> = planned
        .iter()
        .filter(|p| p.resource == "customresourcedefinitions.apiextensions.k8s.io")
        .map(|p| p.name.as_str())
        .collect();
    for p in planned {
        waiter.before(p.rank).await?;
        if let Some(reason) = waiter.blocked(&p.resource) {
            items.push(p.item("failed", Some(reason)));
            continue;
        }
        if !types.contains_key(&p.resource) && crds.contains(p.resource.as_str()) {
            let start = Instant::now();
            while !types.contains_key(&p.resource) && start.elapsed() < CRD_WAIT {
                tokio::time::sleep(Duration::from_millis(500)).await;
                types = served(cluster.discover().await?.0);
            }
        }
        let Some(resource) = types.get(&p.resource) else {
            items.push(p.item(
                "failed",
                Some(format!("the cluster serves no {}", p.resource)),
            ));
            continue;
        };
        let resource = in_own_version(resource, &p.object);
        let mut object = p.object.clone();
        let refs = owner_references(&p.owner_references, created);
        if let (false, Some(meta)) = (refs.is_empty(), object.get_mut("metadata")) {
            meta["ownerReferences"] = serde_json::Value::Array(refs);
        }
        let item = match create(cluster, &resource, p, &object, existing).await {
            Ok((item, new_uid)) => {
                if let (Some(old), Some(new)) = (&p.uid, new_uid) {
                    created.insert(old.clone(), new);
                }
                if matches!(item.action, "created" | "updated") {
                    waiter.restored(p, &resource, &object);
                }
                item
            }
            Err(e @ (K8sError::Unauthorized { .. } | K8sError::Unreachable { .. })) => {
                return Err(e)
            }
            Err(e) => p.item("failed", Some(e.to_string())),
        };
        items.push(item);
    }
    Ok(())
}

/// Creates one object (`object`, of the plan's `p`), or deals with the one that exists; and the
/// uid the object has now, when it was created or replaced.
async fn create(
    cluster: &Cluster,
    resource: &ResourceType,
    p: &Planned,
    object: &serde_json::Value,
    existing: Existing,
) -> Result<(RestoreItem, Option<String>), K8sError> {
    let uid = |v: &serde_json::Value| str_at(v, "/metadata/uid").map(String::from);
    let list = resource.list_path(p.namespace.as_deref());
    match cluster.write_json(Method::POST, &list, object).await {
        Ok(answer) => return Ok((p.item("created", None), uid(&answer))),
        Err(e) if e.status() == Some(409) => {}
        Err(e) => return Err(e),
    }
    let path = format!("{list}/{}", super::dry_run::segment(&p.name));
    Ok(match existing {
        Existing::Skip => (
            p.item(
                "exists",
                Some("already in the cluster: left as it is".into()),
            ),
            None,
        ),
        Existing::Fail => (
            p.item("failed", Some("already in the cluster".into())),
            None,
        ),
        Existing::Update => {
            let current = cluster.get_json(&path).await?;
            let mut object = object.clone();
            if let (Some(rv), Some(meta)) = (
                str_at(&current, "/metadata/resourceVersion"),
                object.get_mut("metadata").and_then(|m| m.as_object_mut()),
            ) {
                meta.insert("resourceVersion".into(), rv.into());
            }
            let answer = cluster.write_json(Method::PUT, &path, &object).await?;
            (p.item("updated", None), uid(&answer))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn existing_policies_parse_and_others_are_refused() {
        assert_eq!("skip".parse::<Existing>().unwrap(), Existing::Skip);
        assert_eq!("update".parse::<Existing>().unwrap(), Existing::Update);
        assert_eq!("fail".parse::<Existing>().unwrap(), Existing::Fail);
        assert!("Skip".parse::<Existing>().is_err());
    }

    #[test]
    fn objects_are_sent_in_the_version_they_name() {
        let deployments = ResourceType {
            group: "apps".into(),
            version: "v1".into(),
            plural: "deployments".into(),
            kind: "Deployment".into(),
            namespaced: true,
        };
        let old = in_own_version(&deployments, &json!({"apiVersion": "apps/v1beta2"}));
        assert_eq!(
            old.list_path(Some("shop")),
            "/apis/apps/v1beta2/namespaces/shop/deployments"
        );
        let core = ResourceType {
            group: String::new(),
            ..deployments.clone()
        };
        assert_eq!(
            in_own_version(&core, &json!({"apiVersion": "v1"})).version,
            "v1"
        );
        assert_eq!(in_own_version(&deployments, &json!({})).version, "v1");
    }
}
