//! What the running server shares between connections: settings, the catalog, the objects and
//! the request log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::catalog::{Catalog, ResourceInfo};
use crate::controllers::Controller;
use crate::exec::ExecHandler;
use crate::log::LoggedRequest;
use crate::route::Target;
use crate::store::{CollectionKey, Store};

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
    /// The emulated controllers enabled, called after every write (see `controllers`).
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
}
