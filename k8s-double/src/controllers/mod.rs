//! Emulated controllers, each opted into with a [`crate::Builder`] method: what a cluster's
//! controllers would do after a write, done at once (or after a delay) to the stored objects.
//!
//! The hook is one call: after a successful write through the API (create, update, patch, also of
//! a `status` subresource) of resource R, [`after_write`] hands the stored object to every enabled
//! [`Controller`]. A controller's own writes go straight to the store, as a real controller's
//! would reach etcd through the server, and do not call the controllers again, except the new
//! objects it [`announce`]s (pods started for a workload, which the claim binder must see).

mod claims;
mod crds;
mod workloads;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::catalog::ResourceInfo;
use crate::meta::{new_uid, now_rfc3339, set};
use crate::state::State;
use crate::store::object_key;

pub(crate) use claims::Claims;
pub(crate) use crds::Crds;
pub use crds::Establish;
pub use workloads::Readiness;
pub(crate) use workloads::Workloads;

/// Something that reacts to writes, as a cluster's controller does.
pub(crate) trait Controller: Send + Sync {
    /// Reacts to `object` of resource `info` just stored by a write through the API.
    fn written(&self, state: &Arc<State>, info: &ResourceInfo, object: &Value);
}

/// Calls every enabled controller after a successful write of `object` (as stored) of `info`.
pub(crate) fn after_write(state: &Arc<State>, info: &ResourceInfo, object: &Value) {
    for controller in &state.settings.controllers {
        controller.written(state, info, object);
    }
}

/// Calls the controllers for an object a controller created (of `resource`, as stored), as they
/// would see it in a cluster.
fn announce(state: &Arc<State>, resource: &str, object: &Value) {
    if let Ok(info) = state.catalog.by_name(resource) {
        after_write(state, &info, object);
    }
}

/// Whether `info` is `resource` of `group`.
fn is(info: &ResourceInfo, group: &str, resource: &str) -> bool {
    info.group == group && info.resource == resource
}

/// Runs `work` after `delay` on the server's runtime, or at once when there is no delay (or no
/// runtime, which a write through the API always has).
fn later(delay: Duration, work: impl FnOnce() + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if !delay.is_zero() => {
            runtime.spawn(async move {
                tokio::time::sleep(delay).await;
                work();
            });
        }
        _ => work(),
    }
}

/// The current object of `resource` (`persistentvolumes`, `pods`), if any.
fn get(state: &State, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
    let info = state.catalog.by_name(resource).ok()?;
    let key = object_key(namespace.filter(|_| info.namespaced), name);
    let store = state.store();
    store
        .get(&state.collection(&info), &key)
        .map(|o| (*o).clone())
}

/// The current objects of `resource`, in `namespace` or everywhere.
fn list(state: &State, resource: &str, namespace: Option<&str>) -> Vec<Value> {
    let Ok(info) = state.catalog.by_name(resource) else {
        return Vec::new();
    };
    let prefix = namespace.map(|ns| format!("{ns}/")).unwrap_or_default();
    let store = state.store();
    let page = store.list(
        &state.collection(&info),
        &prefix,
        store.current(),
        None,
        None,
        &|_| true,
    );
    page.items.iter().map(|o| (**o).clone()).collect()
}

/// Stores `object` of `resource` as a controller writes it: a new one gets a uid and a creation
/// time, with `kind` and `apiVersion` of the resource. Returns the stored object.
fn put(state: &State, resource: &str, mut object: Value) -> Option<Value> {
    let info = state.catalog.by_name(resource).ok()?;
    let name = object["metadata"]["name"].as_str()?.to_string();
    let namespace = object["metadata"]["namespace"].as_str().map(str::to_string);
    let key = object_key(namespace.as_deref().filter(|_| info.namespaced), &name);
    let collection = state.collection(&info);
    let mut store = state.store();
    if object["metadata"]["uid"].is_null() {
        set(&mut object, &["metadata", "uid"], json!(new_uid()));
        set(
            &mut object,
            &["metadata", "creationTimestamp"],
            json!(now_rfc3339()),
        );
    }
    set(&mut object, &["kind"], json!(info.kind));
    set(&mut object, &["apiVersion"], json!(info.api_version()));
    store
        .write(&collection, key, Some(object))
        .map(|o| (*o).clone())
}

/// A condition as controllers write them.
fn condition(kind: &str, status: bool, reason: &str, message: &str) -> Value {
    json!({
        "type": kind,
        "status": if status { "True" } else { "False" },
        "lastTransitionTime": now_rfc3339(),
        "reason": reason,
        "message": message,
    })
}
