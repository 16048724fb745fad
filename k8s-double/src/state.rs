//! What the running server shares between connections: settings, the catalog, the objects and
//! the request log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::{json, Value};

use crate::catalog::{Catalog, ResourceInfo};
use crate::controllers::Controller;
use crate::error::Error;
use crate::exec::ExecHandler;
use crate::log::LoggedRequest;
use crate::meta::{new_uid, now_rfc3339, set};
use crate::route::Target;
use crate::store::{object_key, CollectionKey, Store};

/// How an aggregated API server (one served by an extension API server, such as metrics-server)
/// treats resourceVersion semantics on lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregatedRv {
    /// Answers 400 Bad Request to `resourceVersionMatch`.
    Reject,
    /// Ignores `resourceVersion`, `resourceVersionMatch`, `limit` and `continue`: every list is the
    /// whole current list.
    Ignore,
}

/// A resource (optionally in one namespace) RBAC denies.
#[derive(Debug, Clone)]
pub(crate) struct Forbidden {
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
}

/// Settings fixed when the server starts.
pub(crate) struct Settings {
    pub token: Option<String>,
    pub forbidden: Vec<Forbidden>,
    pub exec: Arc<dyn ExecHandler>,
    pub exec_v5: bool,
    pub page_limit_max: Option<usize>,
    pub aggregated: HashMap<String, AggregatedRv>,
    /// The emulated controllers enabled, told of every write through the API.
    pub controllers: Vec<Arc<dyn Controller>>,
}

impl Settings {
    /// Whether RBAC denies the request. A rule for one namespace also denies requests across all
    /// namespaces, since those would need a cluster-wide grant.
    pub fn is_forbidden(&self, target: &Target) -> bool {
        self.forbidden.iter().any(|rule| {
            rule.group == target.info.group
                && rule.resource == target.info.resource
                && rule.subresource == target.subresource
                && match (&rule.namespace, &target.namespace) {
                    (Some(rule_ns), Some(ns)) => rule_ns == ns,
                    _ => true,
                }
        })
    }
}

/// The server's shared state.
pub(crate) struct State {
    pub settings: Settings,
    pub catalog: Catalog,
    pub version: Bytes,
    store: Mutex<Store>,
    log: Mutex<Vec<LoggedRequest>>,
}

impl State {
    pub fn new(settings: Settings, catalog: Catalog, version: Bytes, store: Store) -> Self {
        State {
            settings,
            catalog,
            version,
            store: Mutex::new(store),
            log: Mutex::new(Vec::new()),
        }
    }

    /// The objects. A panic while holding the lock cannot leave them half-written (every write
    /// is one call), so a poisoned lock is taken over.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The request log.
    pub fn log(&self) -> MutexGuard<'_, Vec<LoggedRequest>> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The store's key for a resource's objects.
    pub fn collection(&self, info: &ResourceInfo) -> CollectionKey {
        (info.group.clone(), info.resource.clone())
    }

    /// The current object of `resource` (`pods`, `jobs.batch`), if it exists.
    pub fn get(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, Error> {
        let info = self.catalog.by_name(resource)?;
        let key = object_key(namespace.filter(|_| info.namespaced), name);
        let store = self.store();
        Ok(store
            .get(&self.collection(&info), &key)
            .map(|o| (*o).clone()))
    }

    /// Creates or replaces an object of `resource` behind the API's back (no checks but a name),
    /// as another client of the cluster would; it gets the next resourceVersion, and a uid and
    /// creation time when new. Returns the stored object.
    pub fn put(&self, resource: &str, mut object: Value) -> Result<Value, Error> {
        let info = self.catalog.by_name(resource)?;
        let name = object["metadata"]["name"]
            .as_str()
            .ok_or_else(|| Error::InvalidObject("no metadata.name".into()))?
            .to_string();
        let namespace = object["metadata"]["namespace"].as_str().map(str::to_string);
        if info.namespaced && namespace.is_none() {
            return Err(Error::InvalidObject(format!(
                "{} is namespaced: metadata.namespace is required",
                info.qualified()
            )));
        }
        let key = object_key(namespace.as_deref().filter(|_| info.namespaced), &name);
        let collection = self.collection(&info);
        let mut store = self.store();
        let existing = store.get(&collection, &key);
        let (uid, created) = match &existing {
            Some(current) => (
                current["metadata"]["uid"].clone(),
                current["metadata"]["creationTimestamp"].clone(),
            ),
            None => (json!(new_uid()), json!(now_rfc3339())),
        };
        set(&mut object, &["kind"], json!(info.kind));
        set(&mut object, &["apiVersion"], json!(info.api_version()));
        set(&mut object, &["metadata", "uid"], uid);
        set(&mut object, &["metadata", "creationTimestamp"], created);
        let stored = store.write(&collection, key, Some(object));
        Ok(stored.map(|o| (*o).clone()).unwrap_or_default())
    }

    /// Deletes an object behind the API's back; returns it if it existed.
    pub fn remove(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, Error> {
        let info = self.catalog.by_name(resource)?;
        let key = object_key(namespace.filter(|_| info.namespaced), name);
        let collection = self.collection(&info);
        let mut store = self.store();
        let existing = store.get(&collection, &key);
        if existing.is_some() {
            store.write(&collection, key, None);
        }
        Ok(existing.map(|o| (*o).clone()))
    }

    /// The current objects of `resource` in `namespace`, or in all namespaces.
    pub fn objects(&self, resource: &str, namespace: Option<&str>) -> Result<Vec<Value>, Error> {
        let info = self.catalog.by_name(resource)?;
        let prefix = namespace.map(|ns| format!("{ns}/")).unwrap_or_default();
        let store = self.store();
        let page = store.list(
            &self.collection(&info),
            &prefix,
            store.current(),
            None,
            None,
            &|_| true,
        );
        Ok(page.items.iter().map(|o| (**o).clone()).collect())
    }
}
