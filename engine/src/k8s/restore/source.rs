//! The manifests of a snapshot, read out of its tree: `manifests/cluster/<resource>/<name>.yaml`
//! and `manifests/namespaces/<ns>/<resource>/<name>.yaml`. A file that is not a YAML object is
//! reported by its path and line, never by its content (it may be a Secret).

use cairn_repo_format::{BlobId, Entry};
use serde_json::Value;

use super::Manifest;
use crate::indexed::Indexed;
use crate::k8s::error::K8sError;
use crate::k8s::object::str_at;

/// A manifest that could not be read as an object.
#[derive(Clone, Debug)]
pub struct Unreadable {
    /// Its path in the snapshot.
    pub path: String,
    /// Its resource.
    pub resource: String,
    /// Why.
    pub reason: String,
}

/// Every manifest of the snapshot whose tree is `root`, in tree order, and those that do not parse.
pub fn read_manifests(
    repo: &Indexed,
    root: &BlobId,
) -> Result<(Vec<Manifest>, Vec<Unreadable>), K8sError> {
    let mut out = (Vec::new(), Vec::new());
    let Some(manifests) = subtree(repo.resolve(root, "manifests")?) else {
        return Ok(out);
    };
    for top in entries(repo, &manifests)? {
        let Some(top_tree) = subtree(Some(top.clone())) else {
            continue;
        };
        match top.name.as_bytes() {
            b"cluster" => resources(repo, &top_tree, "manifests/cluster", &mut out)?,
            b"namespaces" => {
                for ns in entries(repo, &top_tree)? {
                    if let Some(t) = subtree(Some(ns.clone())) {
                        let prefix = format!("manifests/namespaces/{}", text(&ns));
                        resources(repo, &t, &prefix, &mut out)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn subtree(entry: Option<Entry>) -> Option<BlobId> {
    entry.and_then(|e| e.subtree)
}

fn text(e: &Entry) -> String {
    String::from_utf8_lossy(e.name.as_bytes()).into_owned()
}

fn entries(repo: &Indexed, dir: &BlobId) -> Result<Vec<Entry>, K8sError> {
    Ok(repo.dir_entries(dir).collect::<Result<Vec<_>, _>>()?)
}

/// The manifests of `<prefix>/<resource>/<file>`.
fn resources(
    repo: &Indexed,
    dir: &BlobId,
    prefix: &str,
    out: &mut (Vec<Manifest>, Vec<Unreadable>),
) -> Result<(), K8sError> {
    for r in entries(repo, dir)? {
        let Some(files) = subtree(Some(r.clone())) else {
            continue;
        };
        let resource = text(&r);
        for f in entries(repo, &files)? {
            if f.subtree.is_some() {
                continue;
            }
            let path = format!("{prefix}/{resource}/{}", text(&f));
            match parse(&read(repo, &f)?) {
                Ok(object) => out.0.push(Manifest {
                    namespace: str_at(&object, "/metadata/namespace").map(String::from),
                    name: str_at(&object, "/metadata/name")
                        .unwrap_or_default()
                        .to_string(),
                    path,
                    resource: resource.clone(),
                    object,
                }),
                Err(reason) => out.1.push(Unreadable {
                    path,
                    resource: resource.clone(),
                    reason,
                }),
            }
        }
    }
    Ok(())
}

/// A file's bytes.
fn read(repo: &Indexed, file: &Entry) -> Result<Vec<u8>, K8sError> {
    let mut bytes = Vec::new();
    repo.copy_content(file, &mut bytes)?;
    Ok(bytes)
}

/// A manifest's object, or why it is not one.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let v: Value = serde_norway::from_slice(bytes).map_err(|e| match e.location() {
        Some(l) => format!("not YAML (line {}, column {})", l.line(), l.column()),
        None => "not YAML".to_string(),
    })?;
    if str_at(&v, "/metadata/name").is_none_or(str::is_empty)
        || str_at(&v, "/kind").is_none()
        || str_at(&v, "/apiVersion").is_none()
    {
        return Err("not a Kubernetes object (no apiVersion, kind or metadata.name)".into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_objects_are_reasons_not_panics() {
        let secret =
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s\ndata: {password: aHVudGVyMg==}";
        let e = parse(secret.as_bytes()).unwrap_err();
        assert!(e.starts_with("not YAML (line"), "{e}");
        assert!(!e.contains("aHVudGVyMg"), "{e}");
        for bad in [
            &b"\xff\xfe"[..],
            b"",
            b"- a\n- b\n",
            b"kind: X\nmetadata: {name: a}\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let v = parse(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n").unwrap();
        assert_eq!(v["metadata"]["name"], "a");
    }
}
