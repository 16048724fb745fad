//! The API surface: the discovery documents served verbatim, and the resources they describe.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use serde_json::{json, Value};

use crate::error::Error;
use crate::fixtures::Document;

/// One resource (e.g. `deployments` in `apps`) as discovery describes it.
#[derive(Debug)]
pub(crate) struct ResourceInfo {
    /// API group, empty for the core group.
    pub group: String,
    /// The version objects are stored and served in (see the crate documentation).
    pub version: String,
    /// Plural resource name.
    pub resource: String,
    /// Kind of one object.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Verbs discovery lists for the resource.
    pub verbs: Vec<String>,
    /// Subresources discovery lists (`status`, `exec`, ...).
    pub subresources: Vec<String>,
    /// Whether a CustomResourceDefinition defines it: list items then carry `kind` and
    /// `apiVersion`, as the real server sends them; built-in types' list items do not.
    pub custom: bool,
}

impl ResourceInfo {
    /// `resource` for the core group, else `resource.group` (as kubectl and error messages
    /// name it).
    pub fn qualified(&self) -> String {
        qualified(&self.group, &self.resource)
    }

    /// `apiVersion` of the stored objects.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether discovery lists `verb` for the resource.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// `resource` or `resource.group`.
pub(crate) fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

/// Splits `resource[.group]` (as in the fixture file names) into group and resource.
pub(crate) fn split_qualified(name: &str) -> (&str, &str) {
    match name.split_once('.') {
        Some((resource, group)) => (group, resource),
        None => ("", name),
    }
}

/// Discovery documents and the resources they describe.
pub(crate) struct Catalog {
    documents: HashMap<String, Bytes>,
    resources: HashMap<(String, String), Arc<ResourceInfo>>,
    served: HashMap<(String, String, String), Arc<ResourceInfo>>,
    /// What established CustomResourceDefinitions added while the server runs (see
    /// [`Catalog::add_custom`]); its documents replace the recorded ones at the same path.
    added: RwLock<Added>,
}

/// Resources and discovery documents added at run time.
#[derive(Default)]
struct Added {
    documents: HashMap<String, Bytes>,
    resources: HashMap<(String, String), Arc<ResourceInfo>>,
    served: HashMap<(String, String, String), Arc<ResourceInfo>>,
}

/// A resource a CustomResourceDefinition defines, for [`Catalog::add_custom`].
pub(crate) struct CustomResource<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub plural: &'a str,
    pub singular: &'a str,
    pub kind: &'a str,
    pub namespaced: bool,
}

impl Catalog {
    /// Builds the catalog from the discovery documents (by URL path). `stored_versions` gives the
    /// version recorded lists were in, by (group, resource); other resources are stored in the
    /// group's preferred version. `custom_groups` are the groups CRDs define.
    pub fn new(
        discovery: Vec<Document>,
        stored_versions: &HashMap<(String, String), String>,
        custom_groups: &BTreeSet<String>,
    ) -> Self {
        let documents: HashMap<String, Value> = discovery
            .iter()
            .map(|doc| (doc.url.clone(), doc.json.clone()))
            .collect();
        let mut group_versions: Vec<(String, Vec<String>)> = vec![(String::new(), vec![])];
        if let Some(api) = documents.get("/api") {
            group_versions[0].1 = strings(&api["versions"]);
        }
        let mut served_bytes = HashMap::new();
        if let Some(apis) = documents.get("/apis") {
            for group in apis["groups"].as_array().into_iter().flatten() {
                let name = group["name"].as_str().unwrap_or_default().to_string();
                // Versions are listed in preference order; put the preferred one first anyway.
                let preferred = group["preferredVersion"]["version"].as_str();
                let mut versions: Vec<String> = group["versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v["version"].as_str().map(str::to_string))
                    .collect();
                if let Some(pos) = versions.iter().position(|v| Some(v.as_str()) == preferred) {
                    let preferred = versions.remove(pos);
                    versions.insert(0, preferred);
                }
                let mut document = group.clone();
                if let Value::Object(map) = &mut document {
                    map.insert("kind".into(), json!("APIGroup"));
                    map.insert("apiVersion".into(), json!("v1"));
                }
                served_bytes.insert(format!("/apis/{name}"), to_bytes(&document));
                group_versions.push((name, versions));
            }
        }

        let mut resources: HashMap<(String, String), ResourceInfo> = HashMap::new();
        let mut served_keys = Vec::new();
        for (group, versions) in &group_versions {
            for version in versions {
                let path = if group.is_empty() {
                    format!("/api/{version}")
                } else {
                    format!("/apis/{group}/{version}")
                };
                let Some(document) = documents.get(&path) else {
                    continue;
                };
                for entry in document["resources"].as_array().into_iter().flatten() {
                    let name = entry["name"].as_str().unwrap_or_default();
                    let key = |resource: &str| (group.clone(), resource.to_string());
                    if let Some((parent, sub)) = name.split_once('/') {
                        if let Some(info) = resources.get_mut(&key(parent)) {
                            if !info.subresources.iter().any(|s| s == sub) {
                                info.subresources.push(sub.to_string());
                            }
                        }
                        continue;
                    }
                    served_keys.push((group.clone(), version.clone(), name.to_string()));
                    if resources.contains_key(&key(name)) {
                        continue;
                    }
                    let version = stored_versions
                        .get(&key(name))
                        .cloned()
                        .unwrap_or_else(|| version.clone());
                    resources.insert(
                        key(name),
                        ResourceInfo {
                            group: group.clone(),
                            version,
                            resource: name.to_string(),
                            kind: entry["kind"].as_str().unwrap_or_default().to_string(),
                            namespaced: entry["namespaced"].as_bool().unwrap_or(false),
                            verbs: strings(&entry["verbs"]),
                            subresources: Vec::new(),
                            custom: custom_groups.contains(group),
                        },
                    );
                }
            }
        }
        let resources: HashMap<_, _> = resources
            .into_iter()
            .map(|(key, info)| (key, Arc::new(info)))
            .collect();
        let served = served_keys
            .into_iter()
            .filter_map(|(group, version, resource)| {
                let info = resources.get(&(group.clone(), resource.clone()))?.clone();
                Some(((group, version, resource), info))
            })
            .collect();
        for doc in discovery {
            served_bytes.insert(doc.url, doc.raw);
        }
        Catalog {
            documents: served_bytes,
            resources,
            served,
            added: RwLock::default(),
        }
    }

    /// The additions. A panic while holding the lock cannot leave them half-written (every
    /// addition is built first, then inserted), so a poisoned lock is taken over.
    fn added(&self) -> std::sync::RwLockReadGuard<'_, Added> {
        self.added.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The discovery document served at `path`, if any.
    pub fn document(&self, path: &str) -> Option<Bytes> {
        let added = self.added().documents.get(path).cloned();
        added.or_else(|| self.documents.get(path).cloned())
    }

    /// The resource served at `/apis/{group}/{version}/{resource}` (or `/api/{version}/...`).
    pub fn served(&self, group: &str, version: &str, resource: &str) -> Option<Arc<ResourceInfo>> {
        let key = (group.to_string(), version.to_string(), resource.to_string());
        let added = self.added().served.get(&key).cloned();
        added.or_else(|| self.served.get(&key).cloned())
    }

    /// The resource named `resource[.group]`.
    pub fn by_name(&self, qualified_name: &str) -> Result<Arc<ResourceInfo>, Error> {
        let (group, resource) = split_qualified(qualified_name);
        let key = (group.to_string(), resource.to_string());
        let added = self.added().resources.get(&key).cloned();
        added
            .or_else(|| self.resources.get(&key).cloned())
            .ok_or_else(|| Error::UnknownResource(qualified_name.to_string()))
    }

    /// Whether `group/version` is served at all.
    pub fn serves_group_version(&self, group: &str, version: &str) -> bool {
        let path = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        self.document(&path).is_some()
    }

    /// Serves a custom resource (and its `status` subresource) from now on, in discovery and at
    /// its URLs, as the real server does once its CustomResourceDefinition is established. A
    /// resource served already (a recorded one) is left as it is.
    pub fn add_custom(&self, custom: &CustomResource<'_>) {
        if self
            .served(custom.group, custom.version, custom.plural)
            .is_some()
        {
            return;
        }
        let info = Arc::new(ResourceInfo {
            group: custom.group.to_string(),
            version: custom.version.to_string(),
            resource: custom.plural.to_string(),
            kind: custom.kind.to_string(),
            namespaced: custom.namespaced,
            verbs: [
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "create",
                "update",
                "watch",
            ]
            .map(String::from)
            .to_vec(),
            subresources: vec!["status".into()],
            custom: true,
        });
        let group_version = format!("{}/{}", custom.group, custom.version);
        let version_path = format!("/apis/{group_version}");
        let mut resources = self
            .document(&version_path)
            .and_then(|d| serde_json::from_slice::<Value>(&d).ok())
            .and_then(|d| d["resources"].as_array().cloned())
            .unwrap_or_default();
        let entry = |name: String, kind: &str, verbs: Value| {
            json!({"name": name, "singularName": custom.singular, "namespaced": custom.namespaced,
                   "kind": kind, "verbs": verbs})
        };
        resources.push(entry(
            custom.plural.to_string(),
            custom.kind,
            json!(info.verbs),
        ));
        resources.push(entry(
            format!("{}/status", custom.plural),
            custom.kind,
            json!(["get", "patch", "update"]),
        ));
        let version_document = json!({"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": group_version, "resources": resources});
        let mut apis = self
            .document("/apis")
            .and_then(|d| serde_json::from_slice::<Value>(&d).ok())
            .unwrap_or_else(|| json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}));
        let version_entry = json!({"groupVersion": group_version, "version": custom.version});
        let groups = apis["groups"].as_array_mut();
        let group_document =
            match groups.and_then(|groups| groups.iter_mut().find(|g| g["name"] == custom.group)) {
                Some(group) => {
                    if let Some(versions) = group["versions"].as_array_mut() {
                        if !versions.contains(&version_entry) {
                            versions.push(version_entry);
                        }
                    }
                    group.clone()
                }
                None => {
                    let group = json!({"name": custom.group, "versions": [version_entry],
                                   "preferredVersion": version_entry});
                    if let Some(groups) = apis["groups"].as_array_mut() {
                        groups.push(group.clone());
                    }
                    group
                }
            };
        let mut group_document = group_document;
        if let Value::Object(map) = &mut group_document {
            map.insert("kind".into(), json!("APIGroup"));
            map.insert("apiVersion".into(), json!("v1"));
        }
        let mut added = self.added.write().unwrap_or_else(|p| p.into_inner());
        added
            .documents
            .insert(version_path, to_bytes(&version_document));
        added
            .documents
            .insert(format!("/apis/{}", custom.group), to_bytes(&group_document));
        added.documents.insert("/apis".into(), to_bytes(&apis));
        added.resources.insert(
            (custom.group.to_string(), custom.plural.to_string()),
            info.clone(),
        );
        added.served.insert(
            (
                custom.group.to_string(),
                custom.version.to_string(),
                custom.plural.to_string(),
            ),
            info,
        );
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn to_bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}
