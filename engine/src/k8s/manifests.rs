//! Manifests into the snapshot tree, straight from memory: `manifests/cluster/<resource>/<name>.yaml`
//! and `manifests/namespaces/<ns>/<resource>/<name>.yaml`. Nothing is staged on local disk, so a
//! Secret's bytes exist only in memory and, encrypted, in the repository.

use std::collections::HashSet;
use std::io::Cursor;

use cairn_repo_format::{EntryKind, Name};

use super::error::K8sError;
use super::memtree::{MemDir, Stamp};
use super::plan::StoredObject;
use super::yaml::to_yaml;
use crate::archiver::{store_content, Counters, ReadFailure};
use crate::blob_writer::BlobWriter;
use crate::progress::NoProgress;

/// A name as one path component: bytes that cannot be in one (`/`, NUL) and `%` written as `%XX`,
/// and an empty name, `.` and `..` escaped whole.
pub fn component(name: &str) -> String {
    match name {
        "" => "%".to_string(),
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ => name
            .chars()
            .map(|c| match c {
                '/' | '\0' | '%' => format!("%{:02X}", c as u32),
                c => c.to_string(),
            })
            .collect(),
    }
}

/// The path of an object's manifest in the snapshot, as components.
pub fn manifest_path(object: &StoredObject) -> Vec<String> {
    let file = format!("{}.yaml", component(&object.name));
    match &object.namespace {
        Some(ns) => vec![
            "manifests".into(),
            "namespaces".into(),
            component(ns),
            object.resource.name(),
            file,
        ],
        None => vec![
            "manifests".into(),
            "cluster".into(),
            object.resource.name(),
            file,
        ],
    }
}

/// Stores each object's YAML as a file of `root`. Two objects that would share a file (possible
/// only with names a server does not give) are both kept, the second as `<name>~2.yaml`.
pub fn write_manifests(
    writer: &BlobWriter,
    counters: &Counters,
    root: &mut MemDir,
    objects: &[StoredObject],
    stamp: &Stamp,
) -> Result<(), K8sError> {
    let mut used: HashSet<Vec<String>> = HashSet::new();
    for object in objects {
        let yaml = to_yaml(&object.object)?;
        let stored = match store_content(writer, Cursor::new(yaml.as_bytes()), None, &NoProgress) {
            Ok(s) => s,
            Err(ReadFailure::Repository(e)) => return Err(e.into()),
            Err(ReadFailure::Source(e)) => {
                return Err(K8sError::Protocol {
                    what: format!("storing the manifest of {}", object.name),
                    message: e.to_string(),
                })
            }
        };
        let mut path = manifest_path(object);
        let mut copy = 1;
        while !used.insert(path.clone()) {
            copy += 1;
            let last = path.len() - 1;
            path[last] = format!("{}~{copy}.yaml", component(&object.name));
        }
        let (file, dirs) = path.split_last().expect("a manifest path has a file name");
        let dirs: Vec<&[u8]> = dirs.iter().map(|d| d.as_bytes()).collect();
        let mut entry = stamp.entry(Name::new(file.as_str()), EntryKind::File, 0o600);
        entry.size = stored.size;
        entry.content = stored.parts;
        counters.count_file(false, stored.size);
        root.dir(&dirs).put(entry);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::discovery::ResourceType;
    use crate::testutil::{memory_repo, reopen};

    #[test]
    fn objects_that_would_share_a_file_are_both_kept() {
        let repo = memory_repo();
        let writer = BlobWriter::new(repo.clone());
        let stamp = Stamp::current_user(0);
        let object = |v: serde_json::Value| StoredObject {
            resource: ResourceType {
                group: String::new(),
                version: "v1".into(),
                plural: "configmaps".into(),
                kind: "ConfigMap".into(),
                namespaced: true,
            },
            namespace: Some("ns".into()),
            name: String::new(),
            object: v,
        };
        let mut root = MemDir::new();
        let objects = [object("first".into()), object("second".into())];
        write_manifests(&writer, &Counters::default(), &mut root, &objects, &stamp).unwrap();
        let tree = root.write(&writer, &stamp).unwrap();
        writer.finish().unwrap();
        let repo = reopen(&repo);
        let dir = "manifests/namespaces/ns/configmaps";
        assert!(repo
            .resolve(&tree, &format!("{dir}/%.yaml"))
            .unwrap()
            .is_some());
        assert!(repo
            .resolve(&tree, &format!("{dir}/%~2.yaml"))
            .unwrap()
            .is_some());
    }

    #[test]
    fn names_that_cannot_be_file_names_are_escaped() {
        assert_eq!(component("system:basic-user"), "system:basic-user");
        assert_eq!(component("a/b%c"), "a%2Fb%25c");
        assert_eq!(component(".."), "%2E%2E");
        assert_eq!(component(""), "%");
        assert_eq!(component("x\0"), "x%00");
        for n in ["", ".", "..", "/", "a/../b"] {
            assert!(Name::new(component(n)).is_valid_component(), "{n}");
        }
    }
}
