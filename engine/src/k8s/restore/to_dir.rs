//! A restore into a directory: each object as one YAML file, at
//! `manifests/<rank>-<resource>/<name>.yaml` (cluster-scoped) or
//! `manifests/<rank>-<resource>/<namespace>/<name>.yaml`, and each claim's data under
//! `volumes/<namespace>/` (beside `manifests/`, so that files of the volumes, YAML ones too, are
//! never taken for objects). `kubectl apply -f DIR/manifests --recursive`, which reads files in
//! path order, creates the objects in the restore's order. The directory must be new or empty, and every directory and file in it is
//! created by cairn (files with `O_EXCL`), so nothing is written through a link out of it. Files
//! have mode 0600 (they may hold Secrets), directories 0700.

use std::collections::HashSet;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use cairn_repo_format::{Name, Snapshot};

use super::into_path::write_local;
use super::{K8sRestoreOptions, K8sRestoreReport, VolumeItem};
use crate::indexed::Indexed;
use crate::k8s::error::K8sError;
use crate::k8s::manifests::component;
use crate::k8s::yaml::to_yaml;

fn io_error(path: &Path, e: std::io::Error) -> K8sError {
    K8sError::Write {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Writes the objects of the snapshot into `dir`, chosen, sanitised, renamed and ordered, and the
/// data of their claims under `dir/volumes/<namespace>/` (a directory per claim, `<claim>.img` for
/// a block claim). Owner references are dropped, as the owners' new uids are not known without a
/// cluster.
pub fn restore_to_dir(
    repo: &Indexed,
    snapshot: &Snapshot,
    options: &K8sRestoreOptions,
    dir: &Path,
) -> Result<K8sRestoreReport, K8sError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(K8sError::InvalidInput(format!(
                    "--to-dir {}: the directory is not empty",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(dir)
            .map_err(|e| io_error(dir, e))?,
        Err(e) => return Err(io_error(dir, e)),
    }
    let (planned, mut items) = options.plan(repo, &snapshot.tree)?;
    let claims = options.claims_with_data(repo, &snapshot.tree, &planned)?;
    let volumes = claims
        .iter()
        .map(|claim| {
            let name = claim.source.rsplit('/').next().unwrap_or(&claim.name);
            let path = dir.join("volumes").join(&claim.namespace).join(name);
            if let Some(parent) = path.parent() {
                DirBuilder::new()
                    .mode(0o700)
                    .recursive(true)
                    .create(parent)
                    .map_err(|e| io_error(parent, e))?;
            }
            let item = write_local(repo, snapshot, claim, &path, false, "to-dir");
            Ok(match item.action {
                "restored" => VolumeItem {
                    action: "written",
                    ..item
                },
                _ => item,
            })
        })
        .collect::<Result<Vec<_>, K8sError>>()?;
    if !options.parts.objects() {
        return Ok(K8sRestoreReport {
            volumes,
            ..Default::default()
        });
    }
    let mut made: HashSet<PathBuf> = HashSet::new();
    for p in planned {
        let mut parts = vec![
            "manifests".to_string(),
            format!("{:02}-{}", p.rank, component(&p.resource)),
        ];
        parts.extend(p.namespace.as_deref().map(component));
        let mut file = format!("{}.yaml", component(&p.name));
        let mut copy = 1;
        let relative = loop {
            let r: PathBuf = parts.iter().chain([&file]).collect();
            if !made.contains(&r) {
                break r;
            }
            copy += 1;
            file = format!("{}~{copy}.yaml", component(&p.name));
        };
        if !relative
            .iter()
            .all(|c| Name::new(c.as_encoded_bytes()).is_valid_component())
        {
            items.push(p.item("failed", Some("its name cannot be a file name".into())));
            continue;
        }
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(parent)
                .map_err(|e| io_error(parent, e))?;
        }
        let yaml = to_yaml(&p.object)?;
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(yaml.as_bytes()))
            .map_err(|e| io_error(&path, e))?;
        let mut item = p.item("written", None);
        item.file = Some(relative.to_string_lossy().into_owned());
        made.insert(relative);
        items.push(item);
    }
    Ok(K8sRestoreReport {
        items,
        volumes,
        ..Default::default()
    })
}
