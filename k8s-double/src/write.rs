//! `create`, `update`, `patch` and `delete`: the server-side rules a restore meets, and no more
//! (no admission, defaulting, validation of the object's schema, or controllers).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::catalog::ResourceInfo;
use crate::meta::{generate_name, new_uid, now_rfc3339, object_mut, set};
use crate::patch::{json_patch, merge_patch};
use crate::query::Query;
use crate::route::Target;
use crate::state::State;
use crate::status::ApiError;
use crate::store::{object_key, Store};

/// A write's answer: the HTTP code and the body.
pub(crate) type Written = (u16, Value);

/// `POST` to a collection.
pub(crate) fn create(state: &State, target: &Target, body: &[u8]) -> Result<Written, ApiError> {
    let object = decode_object(&target.info, body)?;
    let mut store = state.store();
    create_object(state, &mut store, target, object)
}

fn create_object(
    state: &State,
    store: &mut Store,
    target: &Target,
    mut object: Value,
) -> Result<Written, ApiError> {
    let info = &target.info;
    let meta = metadata_mut(&mut object);
    if let Some(ns) = &target.namespace {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on \
                     the request",
                ))
            }
            _ => {
                meta.insert("namespace".into(), json!(ns));
            }
        }
    } else {
        meta.remove("namespace");
    }
    let name = match (str_field(meta, "name"), str_field(meta, "generateName")) {
        (Some(name), _) => name,
        (None, Some(prefix)) => generate_name(&prefix),
        (None, None) => {
            return Err(ApiError::invalid(
                &info.group,
                &info.kind,
                "",
                "metadata.name",
                "FieldValueRequired",
                "Required value: name or generateName is required",
            ))
        }
    };
    if str_field(meta, "resourceVersion").is_some() {
        return Err(ApiError::internal(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    meta.insert("name".into(), json!(name));
    meta.insert("uid".into(), json!(new_uid()));
    meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    if let Some(ns) = &target.namespace {
        let namespaces = (String::new(), "namespaces".to_string());
        match store.get(&namespaces, ns) {
            None => return Err(ApiError::namespace_not_found(ns)),
            Some(namespace) if !namespace["metadata"]["deletionTimestamp"].is_null() => {
                return Err(ApiError::forbidden_terminating(info, &name, ns))
            }
            Some(_) => {}
        }
    }
    if info.group.is_empty() && info.resource == "namespaces" {
        default_namespace(&mut object, &name);
    }
    let key = object_key(target.namespace.as_deref(), &name);
    let collection = state.collection(info);
    if store.get(&collection, &key).is_some() {
        return Err(ApiError::already_exists(info, &name));
    }
    let stored = store.write(&collection, key, Some(object));
    Ok((201, stored.map(|o| (*o).clone()).unwrap_or_default()))
}

/// What a new namespace gets from the server: the `kubernetes` finalizer, phase Active and the
/// `kubernetes.io/metadata.name` label.
fn default_namespace(object: &mut Value, name: &str) {
    set(
        object,
        &["metadata", "labels", "kubernetes.io/metadata.name"],
        json!(name),
    );
    if object["spec"]["finalizers"].is_null() {
        set(object, &["spec", "finalizers"], json!(["kubernetes"]));
    }
    set(object, &["status"], json!({"phase": "Active"}));
}

/// `PUT` of an object.
pub(crate) fn update(
    state: &State,
    target: &Target,
    name: &str,
    body: &[u8],
) -> Result<Written, ApiError> {
    let info = &target.info;
    let mut object = decode_object(info, body)?;
    let meta = metadata_mut(&mut object);
    match str_field(meta, "name") {
        Some(body_name) if body_name != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )))
        }
        _ => {}
    }
    let mut store = state.store();
    let collection = state.collection(info);
    let key = object_key(target.namespace.as_deref(), name);
    let current = store
        .get(&collection, &key)
        .ok_or_else(|| ApiError::not_found(info, name))?;
    if let Some(rv) = str_field(meta, "resourceVersion") {
        if Some(rv.as_str()) != current["metadata"]["resourceVersion"].as_str() {
            return Err(ApiError::conflict(info, name));
        }
    }
    if target.subresource.as_deref() == Some("status") {
        object = with_status_of(&current, &mut object);
    } else if info.subresources.iter().any(|s| s == "status") {
        keep_status(&mut object, &current);
    }
    keep_identity(&mut object, &current);
    let stored = store.write(&collection, key, Some(object));
    Ok((200, stored.map(|o| (*o).clone()).unwrap_or_default()))
}

/// `PATCH` of an object, in the patch format `content_type` names.
pub(crate) fn patch(
    state: &State,
    target: &Target,
    name: &str,
    content_type: &str,
    query: &Query,
    body: &[u8],
) -> Result<Written, ApiError> {
    let info = &target.info;
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut store = state.store();
    let collection = state.collection(info);
    let key = object_key(target.namespace.as_deref(), name);
    let current = store.get(&collection, &key);
    if media_type == "application/apply-patch+yaml" && query.non_empty("fieldManager").is_none() {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            "fieldManager",
            "FieldValueRequired",
            "Required value: is required for apply patch",
        ));
    }
    let current = match (current, media_type.as_str()) {
        (Some(current), _) => current,
        (None, "application/apply-patch+yaml") => {
            let object = decode_object(info, body)?;
            if object["metadata"]["name"].as_str() != Some(name) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    object["metadata"]["name"].as_str().unwrap_or_default()
                )));
            }
            return create_object(state, &mut store, target, object);
        }
        (None, _) => return Err(ApiError::not_found(info, name)),
    };
    let mut object = (*current).clone();
    match media_type.as_str() {
        "application/merge-patch+json" | "application/apply-patch+yaml" => {
            merge_patch(&mut object, &patch)
        }
        "application/strategic-merge-patch+json" if !info.custom => {
            merge_patch(&mut object, &patch)
        }
        "application/json-patch+json" => {
            json_patch(&mut object, &patch).map_err(ApiError::unprocessable)?
        }
        _ => return Err(ApiError::unsupported_media_type(content_type)),
    }
    if let Some(rv) = object["metadata"]["resourceVersion"].as_str() {
        if Some(rv) != current["metadata"]["resourceVersion"].as_str() {
            return Err(ApiError::conflict(info, name));
        }
    }
    if target.subresource.as_deref() == Some("status") {
        object = with_status_of(&current, &mut object);
    } else if info.subresources.iter().any(|s| s == "status") {
        keep_status(&mut object, &current);
    }
    keep_identity(&mut object, &current);
    let stored = store.write(&collection, key, Some(object));
    Ok((200, stored.map(|o| (*o).clone()).unwrap_or_default()))
}

/// `DELETE` of an object. An object with finalizers (or a namespace) is only marked for deletion,
/// as nothing here runs the controllers that would finish it.
pub(crate) fn delete(
    state: &State,
    target: &Target,
    name: &str,
    body: &[u8],
) -> Result<Written, ApiError> {
    let info = &target.info;
    let options: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
    };
    let mut store = state.store();
    let collection = state.collection(info);
    let key = object_key(target.namespace.as_deref(), name);
    let current = store
        .get(&collection, &key)
        .ok_or_else(|| ApiError::not_found(info, name))?;
    check_preconditions(info, name, &options["preconditions"], &current)?;
    let is_namespace = info.group.is_empty() && info.resource == "namespaces";
    let has_finalizers = current["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if has_finalizers || is_namespace {
        let mut object = (*current).clone();
        if object["metadata"]["deletionTimestamp"].is_null() {
            set(
                &mut object,
                &["metadata", "deletionTimestamp"],
                json!(now_rfc3339()),
            );
            set(
                &mut object,
                &["metadata", "deletionGracePeriodSeconds"],
                json!(0),
            );
        }
        if is_namespace {
            set(&mut object, &["status", "phase"], json!("Terminating"));
        }
        let stored = store.write(&collection, key, Some(object));
        return Ok((200, stored.map(|o| (*o).clone()).unwrap_or_default()));
    }
    store.write(&collection, key, None);
    let mut details = Map::new();
    details.insert("name".into(), json!(name));
    if !info.group.is_empty() {
        details.insert("group".into(), json!(info.group));
    }
    details.insert("kind".into(), json!(info.resource));
    details.insert("uid".into(), current["metadata"]["uid"].clone());
    Ok((
        200,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }),
    ))
}

fn check_preconditions(
    info: &ResourceInfo,
    name: &str,
    preconditions: &Value,
    current: &Arc<Value>,
) -> Result<(), ApiError> {
    for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
        if let Some(wanted) = preconditions[field].as_str() {
            let actual = current["metadata"][field].as_str().unwrap_or_default();
            if wanted != actual {
                return Err(ApiError::precondition_failed(
                    info,
                    name,
                    format!(
                        "Precondition failed: {label} in precondition: {wanted}, {label} in \
                         object meta: {actual}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Parses a request body into an object of the resource's kind, checking `apiVersion` and `kind`
/// as the server's decoder does.
fn decode_object(info: &ResourceInfo, body: &[u8]) -> Result<Value, ApiError> {
    let mut object: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))?;
    let Value::Object(map) = &mut object else {
        return Err(ApiError::bad_request(
            "the request body is not a JSON object",
        ));
    };
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(api_version) if api_version != info.api_version() => {
            let (group, _) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            if group != info.group {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({api_version}) does not match the expected \
                     API version ({})",
                    info.api_version()
                )));
            }
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(kind) if kind != info.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                info.kind
            )))
        }
        _ => {}
    }
    map.insert("apiVersion".into(), json!(info.api_version()));
    map.insert("kind".into(), json!(info.kind));
    Ok(object)
}

/// Fields a client cannot change: name, namespace, uid, creation time.
fn keep_identity(object: &mut Value, current: &Value) {
    let meta = metadata_mut(object);
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
    ] {
        match current["metadata"].get(field) {
            Some(value) => {
                meta.insert(field.into(), value.clone());
            }
            None => {
                meta.remove(field);
            }
        }
    }
    let root = object_mut(object);
    for field in ["kind", "apiVersion"] {
        if let Some(value) = current.get(field) {
            root.insert(field.into(), value.clone());
        }
    }
}

/// `current` with the `status` of `object`: what a write to the status subresource changes.
fn with_status_of(current: &Value, object: &mut Value) -> Value {
    let mut whole = current.clone();
    let status = object
        .get_mut("status")
        .map(Value::take)
        .unwrap_or_default();
    set(&mut whole, &["status"], status);
    whole
}

/// `object` with the `status` of `current`: what a write to the object itself leaves of the status
/// when the resource has a status subresource.
fn keep_status(object: &mut Value, current: &Value) {
    match current.get("status") {
        Some(status) => set(object, &["status"], status.clone()),
        None => {
            object_mut(object).remove("status");
        }
    }
}

/// `metadata` as a map, creating it (or replacing a non-object) when needed.
fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    object_mut(object_mut(object).entry("metadata").or_insert(Value::Null))
}

fn str_field(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}
