//! Remapping: namespaces, storage classes and images of the restored objects renamed, as
//! `--namespace-mapping`, `--storage-class-mapping` and `--image-mapping` ask.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::k8s::error::K8sError;

/// The renamings of a restore.
#[derive(Clone, Debug, Default)]
pub struct Mappings {
    /// Old namespace to new.
    pub namespaces: BTreeMap<String, String>,
    /// Old storage class to new.
    pub storage_classes: BTreeMap<String, String>,
    /// Old image prefix to new, longest prefix first when several match.
    pub images: BTreeMap<String, String>,
}

/// Parses the `OLD:NEW` pairs of a `--...-mapping` flag, split at the first `:`. As image names
/// may hold `:` (a registry's port, a tag), an image mapping may be given as `OLD=NEW` instead.
pub fn parse_pairs(flag: &str, pairs: &[String]) -> Result<BTreeMap<String, String>, K8sError> {
    let mut out = BTreeMap::new();
    for p in pairs {
        let split = if flag == "--image-mapping" && p.contains('=') {
            p.split_once('=')
        } else {
            p.split_once(':')
        };
        match split {
            Some((old, new)) if !old.is_empty() && !new.is_empty() => {
                if out.insert(old.to_string(), new.to_string()).is_some() {
                    return Err(K8sError::InvalidInput(format!(
                        "{flag}: {old:?} is mapped twice"
                    )));
                }
            }
            _ => {
                return Err(K8sError::InvalidInput(format!(
                    "{flag} {p:?}: expected OLD:NEW"
                )))
            }
        }
    }
    Ok(out)
}

impl Mappings {
    /// The namespace an object of namespace `ns` is restored into.
    pub fn namespace<'a>(&'a self, ns: &'a str) -> &'a str {
        self.namespaces.get(ns).map_or(ns, String::as_str)
    }

    /// The storage class `class` becomes.
    pub fn storage_class<'a>(&'a self, class: &'a str) -> &'a str {
        self.storage_classes
            .get(class)
            .map_or(class, String::as_str)
    }

    /// The image `image` becomes: the longest mapped prefix replaced.
    pub fn image(&self, image: &str) -> Option<String> {
        self.images
            .iter()
            .filter(|(old, _)| image.starts_with(old.as_str()))
            .max_by_key(|(old, _)| old.len())
            .map(|(old, new)| format!("{new}{}", &image[old.len()..]))
    }

    /// Applies the renamings to an object of `resource`, in place.
    pub fn apply(&self, resource: &str, object: &mut Value) {
        rename(object, "/metadata/namespace", |s| {
            self.namespace(s).to_string()
        });
        match resource {
            "namespaces" => rename(object, "/metadata/name", |s| self.namespace(s).to_string()),
            "rolebindings.rbac.authorization.k8s.io"
            | "clusterrolebindings.rbac.authorization.k8s.io" => {
                for s in array(object, "/subjects") {
                    rename(s, "/namespace", |n| self.namespace(n).to_string());
                }
            }
            "persistentvolumes" => {
                rename(object, "/spec/claimRef/namespace", |n| {
                    self.namespace(n).to_string()
                });
                rename(object, "/spec/storageClassName", |c| {
                    self.storage_class(c).to_string()
                });
            }
            "persistentvolumeclaims" => self.claim(object),
            "storageclasses.storage.k8s.io" => rename(object, "/metadata/name", |c| {
                self.storage_class(c).to_string()
            }),
            "statefulsets.apps" => {
                for t in array(object, "/spec/volumeClaimTemplates") {
                    self.claim(t);
                }
            }
            _ => {}
        }
        for pointer in [
            "/spec",
            "/spec/template/spec",
            "/spec/jobTemplate/spec/template/spec",
        ] {
            let is_pod = pointer == "/spec";
            if is_pod != (resource == "pods") {
                continue;
            }
            let Some(spec) = object.pointer_mut(pointer) else {
                continue;
            };
            for list in ["containers", "initContainers", "ephemeralContainers"] {
                for c in array(spec, &format!("/{list}")) {
                    rename(c, "/image", |i| {
                        self.image(i).unwrap_or_else(|| i.to_string())
                    });
                }
            }
        }
    }

    /// A claim's (or a claim template's) storage class, by field and by the old annotation.
    fn claim(&self, claim: &mut Value) {
        rename(claim, "/spec/storageClassName", |c| {
            self.storage_class(c).to_string()
        });
        rename(
            claim,
            "/metadata/annotations/volume.beta.kubernetes.io~1storage-class",
            |c| self.storage_class(c).to_string(),
        );
    }
}

/// Replaces the string at `pointer`, if there is one, by `f` of it.
fn rename(v: &mut Value, pointer: &str, f: impl FnOnce(&str) -> String) {
    if let Some(slot) = v.pointer_mut(pointer) {
        if let Some(s) = slot.as_str() {
            *slot = Value::String(f(s));
        }
    }
}

/// The elements of the array at `pointer`, none when there is no array.
fn array<'a>(v: &'a mut Value, pointer: &str) -> impl Iterator<Item = &'a mut Value> {
    v.pointer_mut(pointer)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mappings() -> Mappings {
        Mappings {
            namespaces: parse_pairs("--namespace-mapping", &["shop:shop2".into()]).unwrap(),
            storage_classes: parse_pairs("--storage-class-mapping", &["local:fast".into()])
                .unwrap(),
            images: parse_pairs(
                "--image-mapping",
                &[
                    "nginx=registry.local/nginx".into(),
                    "docker.io/:mirror/".into(),
                ],
            )
            .unwrap(),
        }
    }

    #[test]
    fn pairs_must_be_old_colon_new_and_unique() {
        for bad in ["shop", ":x", "x:", "a:b,a:c"] {
            let pairs: Vec<String> = bad.split(',').map(String::from).collect();
            assert!(parse_pairs("--namespace-mapping", &pairs).is_err(), "{bad}");
        }
        let images = parse_pairs("--image-mapping", &["r:5000/a=s/a".into()]).unwrap();
        assert_eq!(images["r:5000/a"], "s/a");
    }

    #[test]
    fn namespaces_move_with_their_bindings_and_claim_refs() {
        let m = mappings();
        let mut ns = json!({"metadata": {"name": "shop"}});
        m.apply("namespaces", &mut ns);
        assert_eq!(ns["metadata"]["name"], "shop2");
        let mut rb = json!({"metadata": {"namespace": "shop"}, "subjects": [
            {"kind": "ServiceAccount", "name": "a", "namespace": "shop"},
            {"kind": "ServiceAccount", "name": "b", "namespace": "other"}, {"kind": "User"}]});
        m.apply("rolebindings.rbac.authorization.k8s.io", &mut rb);
        assert_eq!(rb["metadata"]["namespace"], "shop2");
        assert_eq!(rb["subjects"][0]["namespace"], "shop2");
        assert_eq!(rb["subjects"][1]["namespace"], "other");
        let mut pv =
            json!({"spec": {"claimRef": {"namespace": "shop"}, "storageClassName": "local"}});
        m.apply("persistentvolumes", &mut pv);
        assert_eq!(pv["spec"]["claimRef"]["namespace"], "shop2");
        assert_eq!(pv["spec"]["storageClassName"], "fast");
    }

    #[test]
    fn storage_classes_are_renamed_in_claims_templates_and_classes() {
        let m = mappings();
        let mut pvc = json!({"metadata": {"annotations": {
            "volume.beta.kubernetes.io/storage-class": "local"}},
            "spec": {"storageClassName": "local"}});
        m.apply("persistentvolumeclaims", &mut pvc);
        assert_eq!(pvc["spec"]["storageClassName"], "fast");
        assert_eq!(
            pvc["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"],
            "fast"
        );
        let mut sts = json!({"spec": {"volumeClaimTemplates": [
            {"spec": {"storageClassName": "local"}}, {"spec": {"storageClassName": "other"}}]}});
        m.apply("statefulsets.apps", &mut sts);
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
            "fast"
        );
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][1]["spec"]["storageClassName"],
            "other"
        );
        let mut sc = json!({"metadata": {"name": "local"}});
        m.apply("storageclasses.storage.k8s.io", &mut sc);
        assert_eq!(sc["metadata"]["name"], "fast");
    }

    #[test]
    fn images_are_mapped_by_prefix_in_pods_and_pod_templates() {
        let m = mappings();
        let containers = json!({"containers": [{"image": "nginx:1.25"}, {"image": "busybox"}],
            "initContainers": [{"image": "docker.io/library/alpine"}]});
        let mut deploy = json!({"spec": {"template": {"spec": containers.clone()}}});
        m.apply("deployments.apps", &mut deploy);
        let spec = &deploy["spec"]["template"]["spec"];
        assert_eq!(spec["containers"][0]["image"], "registry.local/nginx:1.25");
        assert_eq!(spec["containers"][1]["image"], "busybox");
        assert_eq!(spec["initContainers"][0]["image"], "mirror/library/alpine");
        let mut cron =
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": containers.clone()}}}}});
        m.apply("cronjobs.batch", &mut cron);
        assert_eq!(
            cron.pointer("/spec/jobTemplate/spec/template/spec/containers/0/image"),
            Some(&json!("registry.local/nginx:1.25"))
        );
        let mut pod = json!({"spec": containers});
        m.apply("pods", &mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["image"],
            "registry.local/nginx:1.25"
        );
    }
}
