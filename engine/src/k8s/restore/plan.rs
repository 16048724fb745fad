//! The plan of a restore: the snapshot's manifests chosen, skipped where the cluster makes them,
//! sanitised, renamed and ordered.

use std::collections::BTreeMap;

use super::choose::Choice;
use super::order::{compare, rank};
use super::remap::Mappings;
use super::sanitise::{sanitise, skip_reason, SanitiseOptions, SelectorServices};
use super::source::Unreadable;
use super::transform::Transforms;
use super::{Manifest, RestoreItem};
use crate::k8s::object::str_at;

/// An object to restore, as it is to be created.
#[derive(Clone, Debug)]
pub struct Planned {
    /// Its rank in the restore's order.
    pub rank: usize,
    /// Its resource.
    pub resource: String,
    /// Its namespace, after mapping.
    pub namespace: Option<String>,
    /// Its name, after mapping (Namespaces and StorageClasses may be renamed).
    pub name: String,
    /// Its manifest in the snapshot.
    pub source: String,
    /// The object to create.
    pub object: serde_json::Value,
    /// Its uid in the snapshot.
    pub uid: Option<String>,
    /// Its owner references in the snapshot (the object has none: see [`sanitise`]).
    pub owner_references: Vec<serde_json::Value>,
}

impl Planned {
    /// A report line for it.
    pub fn item(&self, action: &'static str, reason: Option<String>) -> RestoreItem {
        RestoreItem {
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source: self.source.clone(),
            action,
            file: None,
            reason,
        }
    }
}

/// Plans the restore of `manifests`: returns the objects to create in order, and the report lines
/// of the chosen objects that are skipped, and of the unreadable manifests and the objects a
/// transform rule failed on, which fail.
/// Owner references are dropped from the objects and kept aside, for a restore that learns the
/// owners' new uids.
pub fn plan(
    manifests: Vec<Manifest>,
    unreadable: Vec<Unreadable>,
    choice: &Choice,
    mappings: &Mappings,
    options: &SanitiseOptions,
    transforms: &Transforms,
) -> (Vec<Planned>, Vec<RestoreItem>) {
    let mut report = Vec::new();
    for u in unreadable {
        let stub = Manifest {
            namespace: u
                .path
                .strip_prefix("manifests/namespaces/")
                .and_then(|p| p.split('/').next())
                .map(String::from),
            name: String::new(),
            path: u.path.clone(),
            resource: u.resource.clone(),
            object: serde_json::Value::Null,
        };
        if choice.wants(&stub) {
            report.push(RestoreItem {
                resource: u.resource,
                namespace: stub.namespace,
                name: String::new(),
                source: u.path,
                action: "failed",
                file: None,
                reason: Some(u.reason),
            });
        }
    }
    let chosen: Vec<Manifest> = manifests.into_iter().filter(|m| choice.wants(m)).collect();
    let services: SelectorServices = chosen
        .iter()
        .filter(|m| m.resource == "services")
        .filter(|m| {
            m.object
                .pointer("/spec/selector")
                .and_then(|s| s.as_object())
                .is_some_and(|s| !s.is_empty())
        })
        .map(|m| (m.namespace.clone().unwrap_or_default(), m.name.clone()))
        .collect();
    let mut planned = Vec::new();
    for m in chosen {
        let mut object = m.object;
        let skip = skip_reason(&m.resource, &object, &services);
        let uid = str_at(&object, "/metadata/uid").map(String::from);
        let owner_references = object
            .pointer("/metadata/ownerReferences")
            .and_then(|r| r.as_array().cloned())
            .unwrap_or_default();
        sanitise(&m.resource, &mut object, options, &BTreeMap::new());
        mappings.apply(&m.resource, &mut object);
        let transformed = transforms.apply(&m.resource, &mut object);
        let p = Planned {
            rank: rank(&m.resource),
            namespace: str_at(&object, "/metadata/namespace").map(String::from),
            name: str_at(&object, "/metadata/name")
                .unwrap_or_default()
                .to_string(),
            resource: m.resource,
            source: m.path,
            object,
            uid,
            owner_references,
        };
        match (skip, transformed) {
            (Some(reason), _) => report.push(p.item("skipped", Some(reason))),
            (None, Err(why)) => report.push(p.item("failed", Some(why))),
            (None, Ok(())) => planned.push(p),
        }
    }
    // Within a rank, objects owned by another object of the plan come after those that are not,
    // so that their owners exist (and have new uids) when they are created.
    let uids: std::collections::HashSet<String> =
        planned.iter().filter_map(|p| p.uid.clone()).collect();
    let owned = |p: &Planned| {
        p.owner_references
            .iter()
            .any(|r| r["uid"].as_str().is_some_and(|u| uids.contains(u)))
    };
    planned.sort_by(|a, b| {
        (a.rank, owned(a)).cmp(&(b.rank, owned(b))).then_with(|| {
            compare(
                (&a.resource, a.namespace.as_deref(), &a.name),
                (&b.resource, b.namespace.as_deref(), &b.name),
            )
        })
    });
    (planned, report)
}
