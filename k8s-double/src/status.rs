//! `Status` error responses, worded as kube-apiserver words them.
//!
//! Each constructor mirrors one of apimachinery's `errors.New*` functions: the HTTP code, the
//! `reason`, the `message` and the `details` match what a v1.24 server sends, so client code that
//! matches on them (kube's `ErrorResponse`) behaves as it would against a cluster.

use serde_json::{json, Map, Value};

use crate::catalog::ResourceInfo;

/// The user name the double reports in `Forbidden` messages.
pub(crate) const USER: &str = "cairn-test";

/// An API error: an HTTP status code and the `Status` object sent as the body.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    /// The HTTP status code.
    pub code: u16,
    /// The `Status` object.
    pub body: Value,
}

impl ApiError {
    fn new(code: u16, reason: &str, message: String, details: Option<Value>) -> Self {
        let mut body = Map::new();
        body.insert("kind".into(), json!("Status"));
        body.insert("apiVersion".into(), json!("v1"));
        body.insert("metadata".into(), json!({}));
        body.insert("status".into(), json!("Failure"));
        body.insert("message".into(), json!(message));
        if !reason.is_empty() {
            body.insert("reason".into(), json!(reason));
        }
        if let Some(details) = details {
            body.insert("details".into(), details);
        }
        body.insert("code".into(), json!(code));
        ApiError {
            code,
            body: Value::Object(body),
        }
    }

    /// 401: no bearer token, or the wrong one.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized".into(), None)
    }

    /// 403 from RBAC. `name` is the object's name for requests on one object.
    pub fn forbidden(
        info: &ResourceInfo,
        subresource: Option<&str>,
        verb: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Self {
        let rbac_resource = match subresource {
            Some(sub) => format!("{}/{sub}", info.resource),
            None => info.resource.clone(),
        };
        let subject = match name {
            Some(name) => format!("{} \"{name}\"", info.qualified()),
            None => info.qualified(),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".into(),
        };
        let message = format!(
            "{subject} is forbidden: User \"{USER}\" cannot {verb} resource \"{rbac_resource}\" \
             in API group \"{}\" {scope}",
            info.group
        );
        Self::new(403, "Forbidden", message, Some(details(info, name)))
    }

    /// 404 for an object that does not exist.
    pub fn not_found(info: &ResourceInfo, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", info.qualified());
        Self::new(404, "NotFound", message, Some(details(info, Some(name))))
    }

    /// 403 on create in a namespace that is being deleted.
    pub fn forbidden_terminating(info: &ResourceInfo, name: &str, namespace: &str) -> Self {
        let message = format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} \
             because it is being terminated",
            info.qualified()
        );
        Self::new(403, "Forbidden", message, Some(details(info, Some(name))))
    }

    /// 404 for a namespace that does not exist, on create into it.
    pub fn namespace_not_found(namespace: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("namespaces \"{namespace}\" not found"),
            Some(json!({"name": namespace, "kind": "namespaces"})),
        )
    }

    /// 404 for a path the server does not serve.
    pub fn no_such_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            Some(json!({})),
        )
    }

    /// 409 on create of an object that exists.
    pub fn already_exists(info: &ResourceInfo, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", info.qualified());
        Self::new(
            409,
            "AlreadyExists",
            message,
            Some(details(info, Some(name))),
        )
    }

    /// 409 on an update whose resourceVersion is not the current one.
    pub fn conflict(info: &ResourceInfo, name: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            info.qualified()
        );
        Self::new(409, "Conflict", message, Some(details(info, Some(name))))
    }

    /// 409 on a delete whose preconditions do not hold.
    pub fn precondition_failed(info: &ResourceInfo, name: &str, message: String) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": {message}",
            info.qualified()
        );
        Self::new(409, "Conflict", message, Some(details(info, Some(name))))
    }

    /// 410 for a list at a resourceVersion that has been compacted.
    pub fn expired(message: &str) -> Self {
        Self::new(410, "Expired", message.into(), None)
    }

    /// 410 for a continue token whose resourceVersion has been compacted; `token` continues the
    /// list at the current resourceVersion.
    pub fn continue_expired(message: &str, token: String) -> Self {
        let mut error = Self::new(410, "Expired", message.into(), None);
        if let Value::Object(body) = &mut error.body {
            body.insert("metadata".into(), json!({ "continue": token }));
        }
        error
    }

    /// 504 for a resourceVersion the server has not reached.
    pub fn too_large_resource_version(wanted: u64, current: u64) -> Self {
        Self::new(
            504,
            "Timeout",
            format!("Too large resource version: {wanted}, current: {current}"),
            Some(json!({
                "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                "retryAfterSeconds": 1
            })),
        )
    }

    /// 400 with a free-form message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into(), None)
    }

    /// 422 for an invalid object or invalid options: `kind` and `name` say what was invalid,
    /// `field` and `cause` (e.g. `FieldValueRequired`) why.
    pub fn invalid(
        group: &str,
        kind: &str,
        name: &str,
        field: &str,
        cause: &str,
        detail: &str,
    ) -> Self {
        let qualified_kind = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let message = format!("{qualified_kind} \"{name}\" is invalid: {field}: {detail}");
        let mut details = Map::new();
        details.insert("name".into(), json!(name));
        if !group.is_empty() {
            details.insert("group".into(), json!(group));
        }
        details.insert("kind".into(), json!(kind));
        details.insert(
            "causes".into(),
            json!([{"reason": cause, "message": detail, "field": field}]),
        );
        Self::new(422, "Invalid", message, Some(Value::Object(details)))
    }

    /// 422 for a JSON patch that does not apply.
    pub fn unprocessable(message: String) -> Self {
        Self::new(422, "Invalid", message, None)
    }

    /// 405 for a verb the resource does not support.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".into(),
            Some(json!({})),
        )
    }

    /// 406 when no media type in `Accept` can be served.
    pub fn not_acceptable() -> Self {
        Self::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml, \
             application/vnd.kubernetes.protobuf"
                .into(),
            None,
        )
    }

    /// 415 for a patch in a format the server does not know.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: \
                 application/json-patch+json, application/merge-patch+json, \
                 application/apply-patch+yaml (got {content_type:?})"
            ),
            None,
        )
    }

    /// 413 for a request body over the server's limit.
    pub fn too_large_body() -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            "the request is too large".into(),
            None,
        )
    }

    /// 500 with the message a Go error without a status would produce (no reason).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "", message.into(), None)
    }
}

/// `details` naming the object (`kind` is the resource, as the real server sends it).
fn details(info: &ResourceInfo, name: Option<&str>) -> Value {
    let mut details = Map::new();
    if let Some(name) = name {
        details.insert("name".into(), json!(name));
    }
    if !info.group.is_empty() {
        details.insert("group".into(), json!(info.group));
    }
    details.insert("kind".into(), json!(info.resource));
    Value::Object(details)
}
