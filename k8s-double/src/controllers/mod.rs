//! Emulated controllers, each opted into with a [`crate::Builder`] method: what a cluster's
//! controllers would do after a write, done at once (or after a delay) to the stored objects.
//!
//! The hook is one call: after a successful write through the API (create, update, patch, also of
//! a `status` subresource, and delete) of resource R, [`after_write`] hands it to every enabled
//! [`Controller`]. A controller's own writes go straight to the store, as a real controller's
//! would reach etcd through the server, and do not call the controllers again, except the new
//! objects it [`announce`]s (pods started for a workload, which the claim binder must see).

mod claims;
mod crds;
pub(crate) mod jobs;
pub(crate) mod snapshots;
mod workloads;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::catalog::ResourceInfo;
use crate::meta::now_rfc3339;
use crate::state::State;

pub(crate) use claims::Claims;
pub(crate) use crds::Crds;
pub use crds::Establish;
pub use workloads::Readiness;
pub(crate) use workloads::Workloads;

/// A successful write through the API.
pub(crate) struct Write<'a> {
    /// `create`, `update`, `patch` or `delete`.
    pub verb: &'a str,
    /// The resource written.
    pub info: &'a ResourceInfo,
    /// The resource as `resource[.group]` (`persistentvolumeclaims`, `jobs.batch`).
    pub resource: String,
    /// The subresource written (`status`), if any.
    pub subresource: Option<&'a str>,
    /// The object's namespace.
    pub namespace: Option<&'a str>,
    /// The object's name.
    pub name: &'a str,
    /// The object as stored; `None` after a delete.
    pub object: Option<&'a Value>,
}

impl<'a> Write<'a> {
    /// The resource and the object as stored, after a create, update or patch.
    fn stored(&self) -> Option<(&'a ResourceInfo, &'a Value)> {
        match self.verb {
            "create" | "update" | "patch" => Some((self.info, self.object?)),
            _ => None,
        }
    }
}

/// Something that reacts to writes, as a cluster's controller does.
pub(crate) trait Controller: Send + Sync {
    /// Acts on `write`, which has been stored.
    fn after_write(&self, state: &Arc<State>, write: &Write<'_>);
}

/// Tells every enabled controller of `write`.
pub(crate) fn after_write(state: &Arc<State>, write: &Write<'_>) {
    for controller in &state.settings.controllers {
        controller.after_write(state, write);
    }
}

/// Tells the controllers of an object a controller created (of `resource`, as stored), as they
/// would see it in a cluster.
fn announce(state: &Arc<State>, resource: &str, object: &Value) {
    if let Ok(info) = state.catalog.by_name(resource) {
        let write = Write {
            verb: "create",
            info: &info,
            resource: info.qualified(),
            subresource: None,
            namespace: object["metadata"]["namespace"].as_str(),
            name: object["metadata"]["name"].as_str().unwrap_or_default(),
            object: Some(object),
        };
        after_write(state, &write);
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
    state.get(resource, namespace, name).ok().flatten()
}

/// The current objects of `resource`, in `namespace` or everywhere.
fn list(state: &State, resource: &str, namespace: Option<&str>) -> Vec<Value> {
    state.objects(resource, namespace).unwrap_or_default()
}

/// Stores `object` of `resource` as a controller writes it, straight to the store (see
/// [`State::put`]). Returns the stored object.
fn put(state: &State, resource: &str, object: Value) -> Option<Value> {
    state.put(resource, object).ok()
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

/// Where CSI volumes of an emulated driver keep their data on this machine.
#[derive(Debug, Clone)]
pub(crate) struct CsiDriver {
    /// The driver's name (`spec.csi.driver`, a class's `driver`).
    pub name: String,
    /// A volume's data is at `root/<volumeHandle>`, a snapshot's at `root/snapshots/<handle>`.
    pub root: PathBuf,
}

/// The local file or directory holding a PV's data: its `hostPath` or `local` path, or for a CSI
/// volume of `driver`, `driver.root/<volumeHandle>`.
pub(crate) fn volume_data(pv: &Value, driver: Option<&CsiDriver>) -> Option<PathBuf> {
    let spec = &pv["spec"];
    if let Some(path) = spec["hostPath"]["path"]
        .as_str()
        .or(spec["local"]["path"].as_str())
    {
        return Some(PathBuf::from(path));
    }
    let driver = driver.filter(|d| spec["csi"]["driver"].as_str() == Some(d.name.as_str()))?;
    let handle = spec["csi"]["volumeHandle"].as_str()?;
    safe_component(handle).then(|| driver.root.join(handle))
}

/// The data of the claim `namespace/claim`, when it is bound to a PV whose data is local.
pub(crate) fn claim_data(
    state: &State,
    namespace: &str,
    claim: &str,
    driver: Option<&CsiDriver>,
) -> Option<PathBuf> {
    let pvc = state
        .get("persistentvolumeclaims", Some(namespace), claim)
        .ok()??;
    let volume = pvc["spec"]["volumeName"].as_str()?;
    let pv = state.get("persistentvolumes", None, volume).ok()??;
    volume_data(&pv, driver)
}

/// Whether `name` can be one path component (no `/`, not `.` or `..`, not empty).
pub(crate) fn safe_component(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

/// Copies a file, or a directory tree (files, directories, symlinks, permissions, modification
/// times of files and directories), from `from` to the new path `to`, as a snapshot keeps them.
pub(crate) fn copy_data(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        return std::os::unix::fs::symlink(std::fs::read_link(from)?, to);
    }
    if meta.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_data(&entry.path(), &to.join(entry.file_name()))?;
        }
        std::fs::set_permissions(to, meta.permissions())?;
    } else {
        std::fs::copy(from, to)?;
    }
    let times = std::fs::FileTimes::new().set_modified(meta.modified()?);
    std::fs::File::open(to)?.set_times(times)
}

/// Removes a file or a directory tree; one that is gone already is not an error.
pub(crate) fn remove_data(path: &Path) {
    let removed = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    };
    if let Err(e) = removed {
        eprintln!("k8s-double: cannot remove {}: {e}", path.display());
    }
}
