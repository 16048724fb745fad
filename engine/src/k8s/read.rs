//! Reading the cluster for a backup: the server's version, the resources it serves, the namespaces
//! that match, and every list the backup needs, all at one resource version where the server allows
//! (spec/kubernetes.md, "One point in time").

use serde::Serialize;
use serde_json::Value;

use super::client::{Cluster, NotAtVersion, Unreadable};
use super::discovery::ResourceType;
use super::error::K8sError;
use super::object::str_at;
use super::plan::{Listing, RELATED_CLUSTER_RESOURCES};
use super::select::Selection;

/// Namespaced resources listed whether or not they are stored: hooks and volumes need the pods,
/// derived Endpoints need the Services.
const HELPERS: &[&str] = &["pods", "services"];

/// A resource never listed, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedResource {
    /// The resource.
    pub resource: String,
    /// Why.
    pub reason: String,
}

/// What a backup read from the cluster.
#[derive(Debug, Default)]
pub struct ClusterState {
    /// `gitVersion` of the server.
    pub server_version: String,
    /// uid of `kube-system`, when readable.
    pub cluster_uid: Option<String>,
    /// The resource version every list was read at (where allowed).
    pub resource_version: String,
    /// The namespaces backed up, sorted.
    pub matched: Vec<String>,
    /// Lists of namespaced resources, one per resource and namespace.
    pub namespaced: Vec<Listing>,
    /// Lists of cluster-scoped resources, the namespaces first.
    pub cluster: Vec<Listing>,
    /// Lists that could not be read.
    pub unreadable: Vec<Unreadable>,
    /// Lists read as they are now, not at the resource version.
    pub not_at_version: Vec<NotAtVersion>,
    /// Resources never listed.
    pub skipped_resources: Vec<SkippedResource>,
}

impl ClusterState {
    /// Records that `r` was not read at the resource version, once per resource.
    fn not_at(&mut self, r: &ResourceType, reason: String) {
        let resource = r.name();
        if !self.not_at_version.iter().any(|n| n.resource == resource) {
            self.not_at_version.push(NotAtVersion { resource, reason });
        }
    }
}

fn namespaces_type() -> ResourceType {
    ResourceType {
        group: String::new(),
        version: "v1".into(),
        plural: "namespaces".into(),
        kind: "Namespace".into(),
        namespaced: false,
    }
}

/// One listing per matched namespace from a list across all namespaces; objects of other
/// namespaces are dropped.
fn split_by_namespace(r: &ResourceType, matched: &[String], all: Vec<Value>) -> Vec<Listing> {
    let mut by_ns: std::collections::BTreeMap<&str, Vec<Value>> =
        matched.iter().map(|ns| (ns.as_str(), Vec::new())).collect();
    for item in all {
        let ns = item
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(items) = by_ns.get_mut(ns.as_str()) {
            items.push(item);
        }
    }
    by_ns
        .into_iter()
        .map(|(ns, items)| Listing {
            resource: r.clone(),
            namespace: Some(ns.to_string()),
            items,
        })
        .collect()
}

fn has_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// Reads everything the backup needs.
pub async fn read_cluster(
    cluster: &Cluster,
    selection: &Selection,
) -> Result<ClusterState, K8sError> {
    let mut state = ClusterState {
        server_version: cluster.version().await?,
        ..Default::default()
    };
    let (resources, unreadable) = cluster.discover().await?;
    state.unreadable = unreadable;
    let ns_type = resources
        .iter()
        .find(|r| r.name() == "namespaces")
        .cloned()
        .unwrap_or_else(namespaces_type);
    let mut rv: Option<String> = None;
    let listed = list(cluster, &mut state, &ns_type, None, &mut rv).await?;
    let namespaces = items(&mut state, listed, &ns_type, None);
    match &namespaces {
        Some(items) => {
            state.cluster_uid = items
                .iter()
                .find(|n| str_at(n, "/metadata/name") == Some("kube-system"))
                .and_then(|n| n.pointer("/metadata/uid")?.as_str().map(String::from));
            state.matched = items
                .iter()
                .filter_map(|n| str_at(n, "/metadata/name"))
                .filter(|n| selection.namespace_wanted(n))
                .map(String::from)
                .collect();
        }
        None => {
            // Without the right to list namespaces, names given literally are still known.
            state.matched = selection
                .options()
                .namespaces
                .iter()
                .filter(|p| !has_glob(p) && selection.namespace_wanted(p))
                .cloned()
                .collect();
        }
    }
    state.matched.sort();
    state.matched.dedup();
    if state.matched.is_empty() {
        return Err(K8sError::InvalidInput(format!(
            "no namespace of the cluster matches --namespace {}",
            selection.options().namespaces.join(", ")
        )));
    }
    state.cluster.push(Listing {
        resource: ns_type,
        namespace: None,
        items: namespaces.unwrap_or_default(),
    });
    let across_all = selection.options().namespaces.iter().any(|n| n == "*");
    for r in resources {
        let name = r.name();
        if let Some(why) = Selection::never_listed(&r) {
            state.skipped_resources.push(SkippedResource {
                resource: name,
                reason: why.into(),
            });
            continue;
        }
        let wanted = selection.resource_wanted(&r);
        if r.namespaced {
            if !wanted && !HELPERS.contains(&name.as_str()) {
                continue;
            }
            // Across all namespaces, one list serves them all, unless the credentials may only
            // read the namespaces one by one.
            if across_all {
                match list(cluster, &mut state, &r, None, &mut rv).await? {
                    Listed::Items(all) => {
                        state
                            .namespaced
                            .extend(split_by_namespace(&r, &state.matched, all));
                        continue;
                    }
                    Listed::Failed => continue,
                    Listed::Forbidden(_) => {}
                }
            }
            for ns in state.matched.clone() {
                let listed = list(cluster, &mut state, &r, Some(&ns), &mut rv).await?;
                if let Some(items) = items(&mut state, listed, &r, Some(&ns)) {
                    state.namespaced.push(Listing {
                        resource: r.clone(),
                        namespace: Some(ns),
                        items,
                    });
                }
            }
        } else if name != "namespaces" {
            let needed = name == "persistentvolumes"
                || (wanted
                    && (selection.all_cluster_resources()
                        || (!selection.no_cluster_resources()
                            && RELATED_CLUSTER_RESOURCES.contains(&name.as_str()))));
            if needed {
                let listed = list(cluster, &mut state, &r, None, &mut rv).await?;
                if let Some(items) = items(&mut state, listed, &r, None) {
                    state.cluster.push(Listing {
                        resource: r,
                        namespace: None,
                        items,
                    });
                }
            }
        }
    }
    state.resource_version = rv.unwrap_or_default();
    Ok(state)
}

/// What became of one list.
enum Listed {
    /// Its items.
    Items(Vec<Value>),
    /// The credentials may not read it.
    Forbidden(K8sError),
    /// It could not be read, and that is recorded.
    Failed,
}

/// The items of a list, recording a denial as unreadable.
fn items(
    state: &mut ClusterState,
    listed: Listed,
    r: &ResourceType,
    ns: Option<&str>,
) -> Option<Vec<Value>> {
    match listed {
        Listed::Items(items) => Some(items),
        Listed::Forbidden(e) => {
            state.unreadable.push(Unreadable {
                resource: r.name(),
                namespace: ns.map(String::from),
                reason: e.to_string(),
            });
            None
        }
        Listed::Failed => None,
    }
}

/// One list at the resource version (the first list sets it). Errors only for failures that end
/// the backup (credentials, server unreachable); other failures are recorded.
async fn list(
    cluster: &Cluster,
    state: &mut ClusterState,
    r: &ResourceType,
    namespace: Option<&str>,
    rv: &mut Option<String>,
) -> Result<Listed, K8sError> {
    let unreadable = |e: K8sError| Unreadable {
        resource: r.name(),
        namespace: namespace.map(String::from),
        reason: e.to_string(),
    };
    let answer = match cluster.list(r, namespace, rv.as_deref()).await {
        Ok(a) => a,
        Err(e @ (K8sError::Unauthorized { .. } | K8sError::Unreachable { .. })) => return Err(e),
        Err(e) if matches!(e.status(), Some(403)) => return Ok(Listed::Forbidden(e)),
        Err(e) if matches!(e.status(), Some(404)) => return Ok(Listed::Items(Vec::new())),
        Err(e) if rv.is_some() => match cluster.list(r, namespace, None).await {
            Ok(a) => {
                state.not_at(r, e.to_string());
                a
            }
            Err(e @ (K8sError::Unauthorized { .. } | K8sError::Unreachable { .. })) => {
                return Err(e)
            }
            Err(e) => {
                state.unreadable.push(unreadable(e));
                return Ok(Listed::Failed);
            }
        },
        Err(e) => {
            state.unreadable.push(unreadable(e));
            return Ok(Listed::Failed);
        }
    };
    match rv {
        None if !answer.resource_version.is_empty() => *rv = Some(answer.resource_version),
        // A server that ignores the resource version answers at another one.
        Some(at) if !answer.resource_version.is_empty() && answer.resource_version != *at => {
            let reason = format!(
                "asked for resource version {at}, the server answered at {}",
                answer.resource_version
            );
            state.not_at(r, reason);
        }
        _ => {}
    }
    Ok(Listed::Items(answer.items))
}
