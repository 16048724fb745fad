//! Which listed objects a backup stores and which it skips, and why: the selection steps, derived
//! objects, and the cluster-scoped objects an application needs (spec/kubernetes.md, "Selection").
//!
//! Works on objects as JSON values: an object missing a field this code looks at is simply not
//! matched by the rule that needs it, and is stored rather than dropped.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::discovery::ResourceType;
use super::object::{name_of, str_at};
use super::select::{skip_reason, Selection};

/// The objects of one list: one resource, in one namespace or across the cluster.
#[derive(Clone, Debug)]
pub struct Listing {
    /// The resource listed.
    pub resource: ResourceType,
    /// The namespace, for a namespaced resource.
    pub namespace: Option<String>,
    /// The list's items, as the server sent them.
    pub items: Vec<Value>,
}

/// An object the backup stores.
#[derive(Clone, Debug)]
pub struct StoredObject {
    /// Its resource.
    pub resource: ResourceType,
    /// Its namespace, for a namespaced object.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// The object as the server sent it.
    pub object: Value,
}

/// An object the backup leaves out, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Its resource's name.
    pub resource: String,
    /// Its namespace, for a namespaced object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// The outcome of planning: what is stored, what is skipped.
#[derive(Debug, Default)]
pub struct ObjectPlan {
    /// Objects to store, namespaced first, each list in the order of the listings.
    pub stored: Vec<StoredObject>,
    /// Objects left out, with the reason.
    pub skipped: Vec<Skipped>,
}

/// Resources whose objects are derived when an object of the selection owns them.
const OWNED_DERIVED: &[&str] = &[
    "pods",
    "replicasets.apps",
    "jobs.batch",
    "controllerrevisions.apps",
];

/// Managers of EndpointSlices that controllers recreate.
const SLICE_CONTROLLERS: &[&str] = &[
    "endpointslice-controller.k8s.io",
    "endpointslicemirroring-controller.k8s.io",
];

/// Plans a backup from the lists of the selected namespaces (`namespaced`) and of cluster-scoped
/// resources (`cluster`, the Namespaces list among them), for the namespaces `matched`.
pub fn plan(
    selection: &Selection,
    matched: &[String],
    namespaced: &[Listing],
    cluster: &[Listing],
) -> ObjectPlan {
    let mut out = ObjectPlan::default();
    // Steps 1 to 3, namespaced objects.
    let mut taken: Vec<(&Listing, &Value)> = Vec::new();
    for listing in namespaced {
        for item in &listing.items {
            if let Some(why) = skip_reason(item) {
                out.skipped.push(skipped(listing, item, why.to_string()));
            } else if selection.labels_match(item) && selection.resource_wanted(&listing.resource) {
                taken.push((listing, item));
            }
        }
    }
    // Step 4: derived objects.
    let owners: BTreeMap<&str, (&str, String)> = taken
        .iter()
        .filter_map(|(l, o)| {
            let uid = str_at(o, "/metadata/uid")?;
            Some((uid, (l.resource.kind.as_str(), name_of(o))))
        })
        .collect();
    let services = selector_services(namespaced);
    let mut kept: Vec<(&Listing, &Value)> = Vec::new();
    for (listing, item) in &taken {
        match derived_reason(listing, item, &owners, &services) {
            Some(why) => out.skipped.push(skipped(listing, item, why)),
            None => kept.push((listing, item)),
        }
    }
    let needs = if selection.all_cluster_resources() {
        None
    } else {
        Some(needed_cluster_objects(&kept, &taken, cluster))
    };
    for (listing, item) in kept {
        out.stored.push(stored(listing, item));
    }
    // Cluster-scoped objects.
    for listing in cluster {
        let resource = listing.resource.name();
        if !selection.resource_wanted(&listing.resource) {
            continue;
        }
        for item in &listing.items {
            let name = name_of(item);
            let wanted = if resource == "namespaces" {
                matched.contains(&name)
            } else if selection.no_cluster_resources() {
                false
            } else {
                match &needs {
                    None => selection.labels_match(item),
                    Some(needs) => needs.contains(&(resource.clone(), name)),
                }
            };
            if !wanted {
                continue;
            }
            match skip_reason(item) {
                Some(why) => out.skipped.push(skipped(listing, item, why.to_string())),
                None => out.stored.push(stored(listing, item)),
            }
        }
    }
    out
}

fn skipped(listing: &Listing, item: &Value, reason: String) -> Skipped {
    Skipped {
        resource: listing.resource.name(),
        namespace: listing.namespace.clone(),
        name: name_of(item),
        reason,
    }
}

/// The object to store: as listed, with `apiVersion` and `kind` filled in where the list left them
/// out of its items (servers do for built-in resources).
fn stored(listing: &Listing, item: &Value) -> StoredObject {
    let mut object = item.clone();
    if let Some(o) = object.as_object_mut() {
        o.entry("apiVersion")
            .or_insert_with(|| listing.resource.api_version().into());
        o.entry("kind")
            .or_insert_with(|| listing.resource.kind.clone().into());
    }
    StoredObject {
        resource: listing.resource.clone(),
        namespace: listing.namespace.clone(),
        name: name_of(item),
        object,
    }
}

/// `(namespace, name)` of the Services that have a selector: their Endpoints are managed.
fn selector_services(namespaced: &[Listing]) -> BTreeSet<(String, String)> {
    namespaced
        .iter()
        .filter(|l| l.resource.name() == "services")
        .flat_map(|l| {
            l.items.iter().filter_map(|s| {
                let sel = s.pointer("/spec/selector")?.as_object()?;
                (!sel.is_empty()).then(|| (l.namespace.clone().unwrap_or_default(), name_of(s)))
            })
        })
        .collect()
}

fn derived_reason(
    listing: &Listing,
    item: &Value,
    owners: &BTreeMap<&str, (&str, String)>,
    services: &BTreeSet<(String, String)>,
) -> Option<String> {
    let resource = listing.resource.name();
    if OWNED_DERIVED.contains(&resource.as_str()) {
        let refs = item.pointer("/metadata/ownerReferences")?.as_array()?;
        return refs.iter().find_map(|r| {
            let (kind, name) = owners.get(str_at(r, "/uid")?)?;
            Some(format!("owned by {kind} {name}"))
        });
    }
    match resource.as_str() {
        "endpoints" => {
            let key = (listing.namespace.clone().unwrap_or_default(), name_of(item));
            services
                .contains(&key)
                .then(|| format!("managed by Service {}", key.1))
        }
        "endpointslices.discovery.k8s.io" => {
            let manager = str_at(
                item,
                "/metadata/labels/endpointslice.kubernetes.io~1managed-by",
            )?;
            SLICE_CONTROLLERS
                .contains(&manager)
                .then(|| "managed by the endpointslice controller".to_string())
        }
        _ => None,
    }
}

/// The cluster-scoped objects the stored objects need, as `(resource name, object name)`.
/// `taken` holds derived objects too: their pods name PriorityClasses.
fn needed_cluster_objects(
    kept: &[(&Listing, &Value)],
    taken: &[(&Listing, &Value)],
    cluster: &[Listing],
) -> BTreeSet<(String, String)> {
    let mut need = BTreeSet::new();
    let mut claims = BTreeSet::new();
    let mut accounts = BTreeSet::new();
    for (listing, o) in kept {
        let ns = listing.namespace.clone().unwrap_or_default();
        match listing.resource.name().as_str() {
            "persistentvolumeclaims" => {
                add(
                    &mut need,
                    "persistentvolumes",
                    str_at(o, "/spec/volumeName").unwrap_or(""),
                );
                let class = str_at(o, "/spec/storageClassName").unwrap_or("");
                add(&mut need, "storageclasses.storage.k8s.io", class);
                claims.insert((ns, name_of(o)));
            }
            "serviceaccounts" => {
                accounts.insert((ns, name_of(o)));
            }
            "rolebindings.rbac.authorization.k8s.io"
                if str_at(o, "/roleRef/kind") == Some("ClusterRole") =>
            {
                let role = str_at(o, "/roleRef/name").unwrap_or("");
                add(&mut need, "clusterroles.rbac.authorization.k8s.io", role);
            }
            "ingresses.networking.k8s.io" => {
                let class = str_at(o, "/spec/ingressClassName").unwrap_or("");
                add(&mut need, "ingressclasses.networking.k8s.io", class);
            }
            _ => {}
        }
        if !listing.resource.is_builtin() {
            let crd = format!("{}.{}", listing.resource.plural, listing.resource.group);
            add(
                &mut need,
                "customresourcedefinitions.apiextensions.k8s.io",
                &crd,
            );
        }
    }
    for (_, o) in taken {
        for p in [
            "/spec/priorityClassName",
            "/spec/template/spec/priorityClassName",
            "/spec/jobTemplate/spec/template/spec/priorityClassName",
        ] {
            add(
                &mut need,
                "priorityclasses.scheduling.k8s.io",
                str_at(o, p).unwrap_or(""),
            );
        }
    }
    for listing in cluster {
        match listing.resource.name().as_str() {
            "persistentvolumes" => {
                for pv in &listing.items {
                    let claim = (
                        str_at(pv, "/spec/claimRef/namespace")
                            .unwrap_or("")
                            .to_string(),
                        str_at(pv, "/spec/claimRef/name").unwrap_or("").to_string(),
                    );
                    if claims.contains(&claim) {
                        add(&mut need, "persistentvolumes", &name_of(pv));
                    }
                }
            }
            "clusterrolebindings.rbac.authorization.k8s.io" => {
                for b in &listing.items {
                    if binds_account(b, &accounts) {
                        add(
                            &mut need,
                            "clusterrolebindings.rbac.authorization.k8s.io",
                            &name_of(b),
                        );
                        if str_at(b, "/roleRef/kind") == Some("ClusterRole") {
                            let role = str_at(b, "/roleRef/name").unwrap_or("");
                            add(&mut need, "clusterroles.rbac.authorization.k8s.io", role);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // The storage classes of the needed volumes.
    let classes: Vec<String> = cluster
        .iter()
        .filter(|l| l.resource.name() == "persistentvolumes")
        .flat_map(|l| &l.items)
        .filter(|pv| need.contains(&("persistentvolumes".to_string(), name_of(pv))))
        .filter_map(|pv| str_at(pv, "/spec/storageClassName").map(String::from))
        .collect();
    for class in classes {
        add(&mut need, "storageclasses.storage.k8s.io", &class);
    }
    need
}

fn add(need: &mut BTreeSet<(String, String)>, resource: &str, name: &str) {
    if !name.is_empty() {
        need.insert((resource.to_string(), name.to_string()));
    }
}

fn binds_account(binding: &Value, accounts: &BTreeSet<(String, String)>) -> bool {
    binding
        .get("subjects")
        .and_then(Value::as_array)
        .is_some_and(|subjects| {
            subjects.iter().any(|s| {
                str_at(s, "/kind") == Some("ServiceAccount")
                    && accounts.contains(&(
                        str_at(s, "/namespace").unwrap_or("").to_string(),
                        str_at(s, "/name").unwrap_or("").to_string(),
                    ))
            })
        })
}

/// The cluster-scoped resources to list when only what the application needs is stored.
pub const RELATED_CLUSTER_RESOURCES: &[&str] = &[
    "namespaces",
    "persistentvolumes",
    "storageclasses.storage.k8s.io",
    "customresourcedefinitions.apiextensions.k8s.io",
    "clusterroles.rbac.authorization.k8s.io",
    "clusterrolebindings.rbac.authorization.k8s.io",
    "priorityclasses.scheduling.k8s.io",
    "ingressclasses.networking.k8s.io",
];

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::k8s::discovery::tests::fixture_resources;
    use crate::k8s::fixtures;
    use crate::k8s::select::SelectionOptions;

    /// The recorded lists of the namespaces and the cluster-scoped resources, as a backup reads them.
    pub(crate) fn fixture_listings(namespaces: &[&str]) -> (Vec<Listing>, Vec<Listing>) {
        let mut namespaced = Vec::new();
        let mut cluster = Vec::new();
        for r in fixture_resources() {
            if Selection::never_listed(&r).is_some() {
                continue;
            }
            if r.namespaced {
                for ns in namespaces {
                    namespaced.push(Listing {
                        items: fixtures::items(ns, &r.name()),
                        namespace: Some(ns.to_string()),
                        resource: r.clone(),
                    });
                }
            } else {
                cluster.push(Listing {
                    items: fixtures::items("cluster", &r.name()),
                    namespace: None,
                    resource: r,
                });
            }
        }
        (namespaced, cluster)
    }

    fn run(namespaces: &[&str], f: impl FnOnce(&mut SelectionOptions)) -> ObjectPlan {
        let mut o = SelectionOptions {
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        f(&mut o);
        let s = Selection::new(o).unwrap();
        let (namespaced, cluster) = fixture_listings(namespaces);
        let matched: Vec<String> = namespaces.iter().map(|s| s.to_string()).collect();
        plan(&s, &matched, &namespaced, &cluster)
    }

    fn names(p: &ObjectPlan) -> BTreeSet<String> {
        p.stored
            .iter()
            .map(|o| match &o.namespace {
                Some(ns) => format!("{ns}/{}/{}", o.resource.name(), o.name),
                None => format!("{}/{}", o.resource.name(), o.name),
            })
            .collect()
    }

    fn reason(p: &ObjectPlan, resource: &str, name: &str) -> String {
        p.skipped
            .iter()
            .find(|s| s.resource == resource && s.name == name)
            .unwrap_or_else(|| panic!("{resource} {name} not skipped"))
            .reason
            .clone()
    }

    #[test]
    fn the_shop_keeps_its_objects_and_leaves_out_what_controllers_recreate() {
        let p = run(&["shop"], |_| {});
        let n = names(&p);
        for want in [
            "shop/deployments.apps/web",
            "shop/statefulsets.apps/db",
            "shop/cronjobs.batch/nightly-report",
            "shop/secrets/shop-db",
            "shop/configmaps/shop-config",
            "shop/persistentvolumeclaims/data-db-0",
            "shop/widgets.example.com/blue",
            "shop/pods/debug",
            "shop/services/web",
            "shop/horizontalpodautoscalers.autoscaling/web",
            "namespaces/shop",
        ] {
            assert!(n.contains(want), "{want} missing from {n:#?}");
        }
        // Derived: owned pods, replica sets, jobs, revisions; managed endpoints and slices.
        assert!(!n.iter().any(|x| x.contains("/pods/web-")));
        assert!(!n.iter().any(|x| x.contains("/replicasets.apps/")));
        assert!(!n.iter().any(|x| x.contains("/jobs.batch/")));
        assert!(!n.iter().any(|x| x.contains("/controllerrevisions.apps/")));
        assert!(!n.iter().any(|x| x.contains("/endpoints/")));
        assert!(!n.iter().any(|x| x.contains("/endpointslices")));
        assert_eq!(
            reason(&p, "replicasets.apps", "web-7d5f96d47f"),
            "owned by Deployment web"
        );
        assert_eq!(reason(&p, "pods", "db-0"), "owned by StatefulSet db");
        assert!(reason(&p, "pods", "nightly-report-29920656-8hwlf").starts_with("owned by Job"));
        assert_eq!(reason(&p, "endpoints", "web"), "managed by Service web");
        // The exclude label.
        assert!(!n.contains("shop/configmaps/scratch"));
        assert!(reason(&p, "configmaps", "scratch").contains("backup.cairn.io/exclude"));
        // Cluster-scoped objects the shop needs, and no others.
        for want in [
            "persistentvolumes/pvc-shop-data-db-0",
            "storageclasses.storage.k8s.io/local-path",
            "customresourcedefinitions.apiextensions.k8s.io/widgets.example.com",
            "clusterrolebindings.rbac.authorization.k8s.io/shop-node-reader",
            "clusterroles.rbac.authorization.k8s.io/shop-node-reader",
            "priorityclasses.scheduling.k8s.io/shop-critical",
            "ingressclasses.networking.k8s.io/nginx",
        ] {
            assert!(n.contains(want), "{want} missing");
        }
        assert!(!n.contains("persistentvolumes/blog-mysql-pv"));
        assert!(!n.contains("clusterroles.rbac.authorization.k8s.io/cluster-admin"));
        assert!(!n.contains("namespaces/blog"));
        assert!(!n.iter().any(|x| x.starts_with("flowschemas")));
    }

    #[test]
    fn a_label_selector_narrows_namespaced_objects_but_not_what_they_need() {
        let p = run(&["shop", "blog"], |o| o.selector = Some("tier=db".into()));
        let n = names(&p);
        assert!(n.contains("shop/statefulsets.apps/db"));
        assert!(n.contains("shop/persistentvolumeclaims/data-db-0"));
        assert!(n.contains("persistentvolumes/pvc-shop-data-db-0"));
        assert!(n.contains("storageclasses.storage.k8s.io/local-path"));
        assert!(!n.contains("shop/deployments.apps/web"));
        assert!(!n.contains("blog/deployments.apps/wordpress"));
        // Both namespaces' Namespace objects are stored whatever the selector.
        assert!(n.contains("namespaces/shop") && n.contains("namespaces/blog"));
        // The pod of the StatefulSet is owned by a selected object: derived.
        assert_eq!(reason(&p, "pods", "db-0"), "owned by StatefulSet db");
    }

    #[test]
    fn an_owner_left_out_of_the_selection_does_not_make_its_objects_derived() {
        let p = run(&["blog"], |o| {
            o.selector = Some("app=wordpress".into());
            o.exclude_resources = vec!["replicasets.apps".into()];
        });
        let n = names(&p);
        assert!(n.contains("blog/deployments.apps/wordpress"));
        assert!(n.contains("blog/pods/wordpress-5c58fb6ffb-gjddl"), "{n:#?}");
    }

    #[test]
    fn blog_volumes_pulled_in_through_volume_name_and_cluster_resources_false_keeps_none() {
        let p = run(&["blog"], |_| {});
        let n = names(&p);
        assert!(n.contains("persistentvolumes/blog-mysql-pv"));
        assert!(n.contains("persistentvolumes/blog-wp-pv"));
        let p = run(&["blog"], |o| {
            o.include_cluster_resources = crate::k8s::select::ClusterResources::False
        });
        let n = names(&p);
        assert!(!n.iter().any(|x| x.starts_with("persistentvolumes/")));
        assert!(n.contains("namespaces/blog"));
    }

    #[test]
    fn objects_of_any_shape_are_planned_without_a_panic_and_kept() {
        let s = Selection::new(SelectionOptions {
            namespaces: vec!["x".into()],
            selector: Some("a!=b".into()),
            ..Default::default()
        })
        .unwrap();
        let resource = |group: &str, plural: &str| ResourceType {
            group: group.into(),
            version: "v1".into(),
            plural: plural.into(),
            kind: "Thing".into(),
            namespaced: true,
        };
        let odd = vec![
            serde_json::json!("a string"),
            serde_json::json!(5),
            serde_json::json!(null),
            serde_json::json!({"metadata": "not an object"}),
            serde_json::json!({"metadata": {"name": 7, "labels": [1], "ownerReferences": "x"}}),
            serde_json::json!({"metadata": {"name": "ok", "deletionTimestamp": null}}),
        ];
        let listings = vec![
            Listing {
                resource: resource("apps", "replicasets"),
                namespace: Some("x".into()),
                items: odd.clone(),
            },
            Listing {
                resource: resource("", "persistentvolumeclaims"),
                namespace: Some("x".into()),
                items: odd.clone(),
            },
            Listing {
                resource: resource("x.io", "things"),
                namespace: Some("x".into()),
                items: odd.clone(),
            },
        ];
        let cluster = vec![Listing {
            resource: ResourceType {
                namespaced: false,
                ..resource("", "persistentvolumes")
            },
            namespace: None,
            items: odd.clone(),
        }];
        let p = plan(&s, &["x".into()], &listings, &cluster);
        assert_eq!(p.stored.len(), 3 * odd.len());
        assert!(p.skipped.is_empty());
    }

    #[test]
    fn all_namespaces_without_selector_takes_every_cluster_object() {
        let p = run(&["*"], |_| {});
        let n = names(&p);
        assert!(n.contains("clusterroles.rbac.authorization.k8s.io/cluster-admin"));
        assert!(n.iter().any(|x| x.starts_with("flowschemas")));
    }
}
