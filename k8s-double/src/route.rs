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
