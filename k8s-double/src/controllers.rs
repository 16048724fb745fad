//! Emulated controllers, each opt-in through a [`Builder`](crate::Builder) method: after a
//! successful write through the API, every enabled controller is told of it and may act as its
//! real counterpart would (write other objects, run a process), behind the API's back.
//!
//! Writes that controllers make themselves (through [`State::put`]) are not passed on to
//! controllers: each controller finishes its own work in one go.

pub(crate) mod jobs;
pub(crate) mod snapshots;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::state::State;

/// A successful write through the API.
pub(crate) struct Write<'a> {
    /// `create`, `update`, `patch` or `delete`.
    pub verb: &'a str,
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

/// Something that reacts to writes, as a controller of a cluster does.
pub(crate) trait Controller: Send + Sync + 'static {
    /// Acts on `write`, which has been stored.
    fn after_write(&self, state: &Arc<State>, write: &Write<'_>);
}

/// Tells every enabled controller of `write`.
pub(crate) fn after_write(state: &Arc<State>, write: &Write<'_>) {
    for controller in &state.settings.controllers {
        controller.after_write(state, write);
    }
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
