//! Discovery: which resources a cluster serves, each once, in its group's preferred version.
//!
//! Parses the discovery documents (`/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`) as JSON
//! values, so a document with fields this code does not know, or without fields it would like, never
//! stops a backup: what cannot be understood is left out and said so.

use serde_json::Value;

/// One resource type a cluster serves, in its group's preferred version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// The API group; empty for the core group.
    pub group: String,
    /// The version read (the group's preferred one).
    pub version: String,
    /// The plural resource name, as in URLs (`deployments`).
    pub plural: String,
    /// The kind of its objects (`Deployment`).
    pub kind: String,
    /// Whether its objects live in namespaces.
    pub namespaced: bool,
}

impl ResourceType {
    /// The name cairn uses for it: `<plural>.<group>`, or the plural alone for the core group.
    pub fn name(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `group/version`, or `version` for the core group: the objects' `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The URL path of its list: in one namespace, or across the cluster when `namespace` is `None`.
    pub fn list_path(&self, namespace: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{base}/namespaces/{ns}/{}", self.plural),
            _ => format!("{base}/{}", self.plural),
        }
    }

    /// True for a group of Kubernetes itself: core, a name without a dot, or one ending in `.k8s.io`.
    pub fn is_builtin(&self) -> bool {
        is_builtin_group(&self.group)
    }
}

/// True for a group of Kubernetes itself: core, a name without a dot, or one ending in `.k8s.io`.
pub fn is_builtin_group(group: &str) -> bool {
    !group.contains('.') || group.ends_with(".k8s.io")
}

/// A group and the version of it to read, from `/apis` (or `/api` for the core group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupVersion {
    /// The group; empty for core.
    pub group: String,
    /// Its preferred version.
    pub version: String,
}

impl GroupVersion {
    /// The URL path of its discovery document.
    pub fn path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

/// The preferred version of the core group, from `/api` (`{"versions":["v1"]}`): its first version.
pub fn core_version(api: &Value) -> Option<GroupVersion> {
    let version = api.get("versions")?.as_array()?.first()?.as_str()?;
    Some(GroupVersion {
        group: String::new(),
        version: version.to_string(),
    })
}

/// The groups of `/apis`, each with its preferred version (else its first), in the server's order.
pub fn groups(apis: &Value) -> Vec<GroupVersion> {
    let Some(groups) = apis.get("groups").and_then(Value::as_array) else {
        return Vec::new();
    };
    groups
        .iter()
        .filter_map(|g| {
            let name = g.get("name")?.as_str()?;
            let version = g
                .pointer("/preferredVersion/version")
                .and_then(Value::as_str)
                .or_else(|| g.pointer("/versions/0/version").and_then(Value::as_str))?;
            Some(GroupVersion {
                group: name.to_string(),
                version: version.to_string(),
            })
        })
        .collect()
}

/// The listable resources of one `APIResourceList`, subresources left out.
pub fn resources(gv: &GroupVersion, list: &Value) -> Vec<ResourceType> {
    let Some(items) = list.get("resources").and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|r| {
            let plural = r.get("name")?.as_str()?;
            let listable = r
                .get("verbs")
                .and_then(Value::as_array)
                .is_some_and(|v| v.iter().any(|v| v.as_str() == Some("list")));
            if plural.contains('/') || !listable {
                return None;
            }
            Some(ResourceType {
                group: gv.group.clone(),
                version: gv.version.clone(),
                plural: plural.to_string(),
                kind: r.get("kind")?.as_str()?.to_string(),
                namespaced: r.get("namespaced").and_then(Value::as_bool)?,
            })
        })
        .collect()
}

/// Keeps one of each resource served under several built-in groups with the same plural and kind:
/// the core group's, else one not in `extensions`, else the first (spec/kubernetes.md).
pub fn dedup(all: Vec<ResourceType>) -> Vec<ResourceType> {
    let rank = |r: &ResourceType| match r.group.as_str() {
        "" => 0,
        "extensions" => 2,
        _ => 1,
    };
    let mut kept: Vec<ResourceType> = Vec::with_capacity(all.len());
    for r in all {
        let twin = kept.iter().position(|k| {
            k.is_builtin() && r.is_builtin() && k.plural == r.plural && k.kind == r.kind
        });
        match twin {
            Some(i) if rank(&r) < rank(&kept[i]) => kept[i] = r,
            Some(_) => {}
            None => kept.push(r),
        }
    }
    kept
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::k8s::fixtures;

    /// Every resource of the recorded cluster, as a backup discovers it.
    pub(crate) fn fixture_resources() -> Vec<ResourceType> {
        let mut all = Vec::new();
        let core = core_version(&fixtures::discovery("api")).unwrap();
        all.extend(resources(&core, &fixtures::discovery("api_v1")));
        for gv in groups(&fixtures::discovery("apis")) {
            let doc = format!("apis_{}_{}", gv.group, gv.version);
            all.extend(resources(&gv, &fixtures::discovery(&doc)));
        }
        dedup(all)
    }

    #[test]
    fn every_group_is_read_in_its_preferred_version_and_each_resource_kept_once() {
        let all = fixture_resources();
        let names: Vec<String> = all.iter().map(ResourceType::name).collect();
        let find = |n: &str| all.iter().find(|r| r.name() == n).cloned();
        // autoscaling serves v2, v1, v2beta1 and v2beta2; v2 is preferred.
        assert_eq!(
            find("horizontalpodautoscalers.autoscaling")
                .unwrap()
                .version,
            "v2"
        );
        // events are served by core and events.k8s.io: kept once, as core.
        assert!(names.contains(&"events".to_string()));
        assert!(!names.contains(&"events.events.k8s.io".to_string()));
        // Custom resources are discovered like any other.
        let widgets = find("widgets.example.com").unwrap();
        assert!(widgets.namespaced);
        assert_eq!(widgets.kind, "Widget");
        assert_eq!(
            widgets.list_path(Some("shop")),
            "/apis/example.com/v1/namespaces/shop/widgets"
        );
        // Subresources and resources that cannot be listed are left out.
        assert!(!names.iter().any(|n| n.contains('/')));
        assert!(!names.contains(&"bindings".to_string()));
        assert!(!names.contains(&"selfsubjectaccessreviews.authorization.k8s.io".to_string()));
        assert!(!find("persistentvolumes").unwrap().namespaced);
        assert_eq!(
            find("configmaps").unwrap().list_path(None),
            "/api/v1/configmaps"
        );
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn a_custom_resource_sharing_a_builtin_name_is_not_merged() {
        let mk = |group: &str| ResourceType {
            group: group.into(),
            version: "v1".into(),
            plural: "events".into(),
            kind: "Event".into(),
            namespaced: true,
        };
        let kept = dedup(vec![mk("events.k8s.io"), mk("example.com"), mk("")]);
        let groups: Vec<&str> = kept.iter().map(|r| r.group.as_str()).collect();
        assert_eq!(groups, ["", "example.com"]);
    }

    #[test]
    fn odd_documents_give_what_they_can() {
        assert!(groups(&serde_json::json!({"groups": "no"})).is_empty());
        assert!(core_version(&serde_json::json!({})).is_none());
        let gv = GroupVersion {
            group: "x.io".into(),
            version: "v1".into(),
        };
        let doc = serde_json::json!({"resources": [
            {"name": "ok", "kind": "Ok", "namespaced": true, "verbs": ["list"]},
            {"name": "nokind", "namespaced": true, "verbs": ["list"]},
            {"name": 7},
            "junk"
        ]});
        let got = resources(&gv, &doc);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name(), "ok.x.io");
    }
}
