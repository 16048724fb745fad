//! Mapping a URL path to what it addresses.

use std::sync::Arc;

use crate::catalog::{Catalog, ResourceInfo};
use crate::status::ApiError;

/// What a request path addresses.
#[derive(Debug)]
pub(crate) enum Route {
    /// `/version`.
    Version,
    /// A discovery document (`/api`, `/apis/apps/v1`, ...).
    Discovery(String),
    /// A resource collection, an object, or an object's subresource.
    Resource(Target),
}

/// A resource path: `/api/v1[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]` or the same
/// under `/apis/{group}/{version}`.
#[derive(Debug)]
pub(crate) struct Target {
    /// The resource.
    pub info: Arc<ResourceInfo>,
    /// The namespace, for namespaced paths.
    pub namespace: Option<String>,
    /// The object's name, for paths to one object.
    pub name: Option<String>,
    /// The subresource (`exec`, `status`, ...).
    pub subresource: Option<String>,
}

/// Resolves `path` against the served resources.
pub(crate) fn route(catalog: &Catalog, path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(ApiError::no_such_path());
    }
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["api"] | ["apis"] | ["api", _] | ["apis", _] | ["apis", _, _] => {
            return Ok(Route::Discovery(format!("/{}", segments.join("/"))))
        }
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::no_such_path()),
    };
    if !catalog.serves_group_version(group, version) {
        return Err(ApiError::no_such_path());
    }
    let served = |resource: &str| catalog.served(group, version, resource);
    let namespaced_path = match rest {
        ["namespaces", namespace, resource, tail @ ..] => served(resource)
            .filter(|info| info.namespaced)
            .map(|info| (info, Some(*namespace), tail)),
        _ => None,
    };
    let (info, namespace, tail) = match namespaced_path {
        Some(found) => found,
        None => match rest {
            [resource, tail @ ..] => {
                let info = served(resource).ok_or_else(ApiError::no_such_path)?;
                // A namespaced resource without a namespace can only be listed across namespaces.
                if info.namespaced && !tail.is_empty() {
                    return Err(ApiError::no_such_path());
                }
                (info, None, tail)
            }
            [] => return Err(ApiError::no_such_path()),
        },
    };
    let (name, subresource) = match tail {
        [] => (None, None),
        [name] => (Some(name.to_string()), None),
        [name, sub] => (Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(ApiError::no_such_path()),
    };
    if let Some(sub) = &subresource {
        if !info.subresources.contains(sub) {
            return Err(ApiError::no_such_path());
        }
    }
    Ok(Route::Resource(Target {
        info,
        namespace: namespace.map(str::to_string),
        name,
        subresource,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use bytes::Bytes;
    use serde_json::json;

    use super::*;
    use crate::fixtures::Document;

    fn catalog() -> Catalog {
        let document = |url: &str, json: serde_json::Value| Document {
            url: url.into(),
            raw: Bytes::from(json.to_string()),
            json,
        };
        let resource = |name: &str, kind: &str, namespaced: bool| json!({"name": name, "kind": kind, "namespaced": namespaced, "verbs": ["get", "list"]});
        Catalog::new(
            vec![
                document("/api", json!({"versions": ["v1"]})),
                document(
                    "/api/v1",
                    json!({"resources": [
                        resource("namespaces", "Namespace", false),
                        resource("namespaces/status", "Namespace", false),
                        resource("pods", "Pod", true),
                        resource("pods/exec", "PodExecOptions", true),
                    ]}),
                ),
            ],
            &HashMap::new(),
            &BTreeSet::new(),
        )
    }

    fn target(path: &str) -> (String, Option<String>, Option<String>, Option<String>) {
        match route(&catalog(), path) {
            Ok(Route::Resource(t)) => (t.info.resource.clone(), t.namespace, t.name, t.subresource),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths_under_namespaces_are_told_apart() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            target("/api/v1/namespaces"),
            ("namespaces".into(), None, None, None)
        );
        assert_eq!(
            target("/api/v1/namespaces/shop"),
            ("namespaces".into(), None, some("shop"), None)
        );
        assert_eq!(
            target("/api/v1/namespaces/shop/status"),
            ("namespaces".into(), None, some("shop"), some("status"))
        );
        assert_eq!(
            target("/api/v1/namespaces/shop/pods"),
            ("pods".into(), some("shop"), None, None)
        );
        assert_eq!(
            target("/api/v1/namespaces/shop/pods/web/exec"),
            ("pods".into(), some("shop"), some("web"), some("exec"))
        );
        assert_eq!(target("/api/v1/pods"), ("pods".into(), None, None, None));
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in [
            "/api/v2/pods",
            "/api/v1/widgets",
            "/api/v1/pods/web",
            "/api/v1/namespaces/shop/pods/web/log",
            "/api/v1/namespaces/shop/pods/web/exec/more",
            "/api//v1",
            "/healthz",
        ] {
            let code = route(&catalog(), path).err().map(|e| e.code);
            assert_eq!(code, Some(404), "{path}");
        }
        assert!(matches!(route(&catalog(), "/version"), Ok(Route::Version)));
        assert!(matches!(
            route(&catalog(), "/apis/apps/v1"),
            Ok(Route::Discovery(_))
        ));
    }
}
