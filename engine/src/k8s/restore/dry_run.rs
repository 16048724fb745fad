//! A dry run of a restore into a cluster: for each object of the plan, whether it would be
//! created, exists already, or cannot be (its API is not served and no CRD of the restore brings
//! it; its storage class is missing). Only `GET` requests are sent.

use std::collections::{HashMap, HashSet};

use cairn_repo_format::Snapshot;

use super::plan::Planned;
use super::provision::provision;
use super::{K8sRestoreOptions, K8sRestoreReport, RestoreItem};
use crate::indexed::Indexed;
use crate::k8s::client::Cluster;
use crate::k8s::discovery::ResourceType;
use crate::k8s::error::K8sError;
use crate::k8s::object::str_at;

const CRDS: &str = "customresourcedefinitions.apiextensions.k8s.io";
const STORAGE_CLASSES: &str = "storageclasses.storage.k8s.io";

/// Plans the restore of the snapshot and checks each object against the cluster, changing
/// nothing; lists the claims whose data would be restored (with the volumes `--volume-root`
/// would provision in the plan).
pub fn dry_run(
    repo: &Indexed,
    snapshot: &Snapshot,
    options: &K8sRestoreOptions,
) -> Result<K8sRestoreReport, K8sError> {
    let (mut planned, mut items) = options.plan(repo, &snapshot.tree)?;
    let claims = options.claims_with_data(repo, &snapshot.tree, &planned)?;
    let mut volumes = Vec::new();
    let method = match options.data.mover {
        Some(_) => "data-mover",
        None => options.data.method.as_str(),
    };
    match &options.data.volume_root {
        Some(root) if options.parts.objects() => {
            let made = provision(
                &mut planned,
                &claims,
                root,
                &options.data.node,
                &mut items,
                &mut volumes,
            );
            volumes.extend(made.into_iter().map(|p| {
                let mut item = p.claim.item("node-local", "restore");
                item.target = Some(p.path.display().to_string());
                item
            }));
        }
        _ => volumes.extend(claims.iter().map(|c| c.item(method, "restore"))),
    }
    let (rt, cluster) = Cluster::connect_blocking(&options.connect)?;
    if options.parts.objects() {
        rt.block_on(check(&cluster, &planned, &mut items))?;
    }
    Ok(K8sRestoreReport {
        items,
        volumes,
        ..Default::default()
    })
}

/// A name as one segment of a URL path: bytes other than unreserved ones percent-encoded.
pub fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether the object exists: `Ok(true)` for 200, `Ok(false)` for 404.
async fn exists(
    cluster: &Cluster,
    resource: &ResourceType,
    namespace: Option<&str>,
    name: &str,
) -> Result<bool, K8sError> {
    let path = format!("{}/{}", resource.list_path(namespace), segment(name));
    match cluster.get_json(&path).await {
        Ok(_) => Ok(true),
        Err(e) if e.status() == Some(404) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The storage class an object of the plan needs, if any.
fn storage_class(p: &Planned) -> Option<&str> {
    match p.resource.as_str() {
        "persistentvolumeclaims" | "persistentvolumes" => {
            str_at(&p.object, "/spec/storageClassName").filter(|c| !c.is_empty())
        }
        _ => None,
    }
}

async fn check(
    cluster: &Cluster,
    planned: &[Planned],
    items: &mut Vec<RestoreItem>,
) -> Result<(), K8sError> {
    let (types, _) = cluster.discover().await?;
    let served: HashMap<String, &ResourceType> = types.iter().map(|t| (t.name(), t)).collect();
    let restored = |resource: &str| -> HashSet<&str> {
        planned
            .iter()
            .filter(|p| p.resource == resource)
            .map(|p| p.name.as_str())
            .collect()
    };
    let crds = restored(CRDS);
    let classes = restored(STORAGE_CLASSES);
    let mut class_found: HashMap<String, bool> = HashMap::new();
    for p in planned {
        let Some(resource) = served.get(&p.resource) else {
            items.push(if crds.contains(p.resource.as_str()) {
                p.item("create", Some("after its CustomResourceDefinition".into()))
            } else {
                p.item(
                    "failed",
                    Some(format!(
                        "the cluster serves no {} and the restore brings no \
                         CustomResourceDefinition for it",
                        p.resource
                    )),
                )
            });
            continue;
        };
        if let Some(class) = storage_class(p).filter(|c| !classes.contains(c)) {
            let found = match (class_found.get(class), served.get(STORAGE_CLASSES)) {
                (Some(f), _) => *f,
                (None, Some(sc)) => exists(cluster, sc, None, class).await?,
                (None, None) => false,
            };
            class_found.insert(class.to_string(), found);
            if !found {
                items.push(p.item(
                    "failed",
                    Some(format!("storage class {class} does not exist")),
                ));
                continue;
            }
        }
        let item = match exists(cluster, resource, p.namespace.as_deref(), &p.name).await {
            Ok(true) => p.item(
                "exists",
                Some("already in the cluster: left as it is".into()),
            ),
            Ok(false) => p.item("create", None),
            Err(e @ (K8sError::Unauthorized { .. } | K8sError::Unreachable { .. })) => {
                return Err(e)
            }
            Err(e) => p.item("failed", Some(e.to_string())),
        };
        items.push(item);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_url_segment() {
        assert_eq!(segment("system:basic-user"), "system:basic-user");
        assert_eq!(segment("a/b?c d%"), "a%2Fb%3Fc%20d%25");
        assert_eq!(segment("é"), "%C3%A9");
    }
}
