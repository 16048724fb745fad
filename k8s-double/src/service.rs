//! One HTTP request: log it, authenticate, route, authorize, and hand it to the verb's handler.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Method, Request, Response};
use serde_json::Value;

use crate::controllers::{self, Write};
use crate::exec::websocket::{self, Wanted};
use crate::exec::ExecRequest;
use crate::log::LoggedRequest;
use crate::negotiate::negotiate;
use crate::query::Query;
use crate::read;
use crate::route::{route, Route, Target};
use crate::state::State;
use crate::status::ApiError;
use crate::store::object_key;
use crate::write;

/// The largest request body the server reads, as kube-apiserver's limit.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Answers one request.
pub(crate) async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let query = Query::parse(request.uri().query());
    let mut entry = LoggedRequest {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
        query: query.pairs().to_vec(),
        accept: header(&request, ACCEPT).map(str::to_string),
        status: 0,
    };
    let response = match dispatch(&state, request, &query).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    };
    entry.status = response.status().as_u16();
    state.log().push(entry);
    Ok(response)
}

fn header(request: &Request<Incoming>, name: hyper::header::HeaderName) -> Option<&str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn dispatch(
    state: &Arc<State>,
    request: Request<Incoming>,
    query: &Query,
) -> Result<Response<Full<Bytes>>, ApiError> {
    if let Some(token) = &state.settings.token {
        let presented = header(&request, hyper::header::AUTHORIZATION)
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if presented != Some(token.as_str()) {
            return Err(ApiError::unauthorized());
        }
    }
    let accept = header(&request, ACCEPT).map(str::to_string);
    let target = match route(&state.catalog, request.uri().path())? {
        Route::Version => {
            negotiate(accept.as_deref(), false)?;
            return Ok(bytes_response(200, state.version.clone()));
        }
        Route::Discovery(path) => {
            negotiate(accept.as_deref(), false)?;
            let document = state
                .catalog
                .document(&path)
                .ok_or_else(ApiError::no_such_path)?;
            return Ok(bytes_response(200, document));
        }
        Route::Resource(target) => target,
    };
    let verb = verb(request.method(), &target, query)?;
    if state.settings.is_forbidden(&target) {
        return Err(ApiError::forbidden(
            &target.info,
            target.subresource.as_deref(),
            verb,
            target.namespace.as_deref(),
            target.name.as_deref(),
        ));
    }
    if target.subresource.as_deref() == Some("exec") {
        return exec(state, request, &target, query);
    }
    if target.subresource.as_deref().is_some_and(|s| s != "status") {
        return Err(ApiError::no_such_path());
    }
    if !target.info.supports(verb) {
        return Err(ApiError::method_not_allowed());
    }
    let representation = negotiate(accept.as_deref(), true)?;
    let content_type = header(&request, CONTENT_TYPE)
        .unwrap_or_default()
        .to_string();
    let body = read_body(request).await?;
    let name = target.name.clone().unwrap_or_default();
    let (code, value) = match verb {
        "list" => (200, read::list(state, &target, query, representation)?),
        "get" => (200, read::get(state, &target, &name, representation)?),
        "create" => write::create(state, &target, &body)?,
        "update" => write::update(state, &target, &name, &body)?,
        "patch" => write::patch(state, &target, &name, &content_type, query, &body)?,
        "delete" => write::delete(state, &target, &name, &body)?,
        _ => return Err(ApiError::method_not_allowed()),
    };
    if verb != "list" && verb != "get" {
        let object_name = value["metadata"]["name"].as_str().unwrap_or(&name);
        controllers::after_write(
            state,
            &Write {
                verb,
                info: &target.info,
                resource: target.info.qualified(),
                subresource: target.subresource.as_deref(),
                namespace: target.namespace.as_deref(),
                name: object_name,
                object: (verb != "delete").then_some(&value),
            },
        );
    }
    Ok(json_response(code, &value))
}

/// The RBAC verb of a request.
fn verb(method: &Method, target: &Target, query: &Query) -> Result<&'static str, ApiError> {
    let on_object = target.name.is_some();
    Ok(match (method.as_str(), on_object) {
        ("GET", false) if query.flag("watch") => {
            return Err(ApiError::bad_request(
                "watch is not implemented by the Kubernetes API test double",
            ))
        }
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", false) => "create",
        ("POST", true) if target.subresource.is_some() => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return Err(ApiError::method_not_allowed()),
    })
}

async fn read_body(request: Request<Incoming>) -> Result<Bytes, ApiError> {
    match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::too_large_body())
        }
        Err(error) => Err(ApiError::bad_request(format!(
            "reading the request body: {error}"
        ))),
    }
}

/// `pods/{name}/exec`: checks the pod, container and streams, then upgrades to a WebSocket.
fn exec(
    state: &Arc<State>,
    mut request: Request<Incoming>,
    target: &Target,
    query: &Query,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let name = target.name.as_deref().unwrap_or_default();
    let namespace = target.namespace.clone().unwrap_or_default();
    let pod = state
        .store()
        .get(
            &state.collection(&target.info),
            &object_key(Some(&namespace), name),
        )
        .ok_or_else(|| ApiError::not_found(&target.info, name))?;
    let container = pick_container(&pod, name, query.non_empty("container"))?;
    let command = query.all("command");
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let wanted = Wanted {
        stdin: query.flag("stdin"),
        stdout: query.flag("stdout"),
        stderr: query.flag("stderr"),
    };
    if !(wanted.stdin || wanted.stdout || wanted.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    let (response, protocol) = websocket::accept(request.headers(), state.settings.exec_v5)?;
    let exec_request = ExecRequest {
        namespace,
        pod: name.to_string(),
        container,
        command,
        tty: query.flag("tty"),
    };
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(websocket::serve(
        upgrade,
        protocol,
        state.settings.exec.clone(),
        exec_request,
        wanted,
    ));
    Ok(response)
}

/// The container an exec runs in: the one named, or the pod's only one.
fn pick_container(pod: &Value, pod_name: &str, named: Option<&str>) -> Result<String, ApiError> {
    let names = |field: &str| -> Vec<String> {
        pod["spec"][field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    };
    let containers = names("containers");
    match named {
        Some(name) => {
            let known = containers
                .iter()
                .chain(&names("initContainers"))
                .chain(&names("ephemeralContainers"))
                .any(|c| c == name);
            if known {
                Ok(name.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {name} is not valid for pod {pod_name}"
                )))
            }
        }
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}"
            ))),
            many => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                many.join(" ")
            ))),
        },
    }
}

/// A `Status` error, with `Retry-After` when the status suggests a delay, as the real server sets
/// it.
fn error_response(error: &ApiError) -> Response<Full<Bytes>> {
    let mut response = json_response(error.code, &error.body);
    if let Some(seconds) = error.body["details"]["retryAfterSeconds"].as_u64() {
        response.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from(seconds),
        );
    }
    response
}

fn json_response(code: u16, value: &Value) -> Response<Full<Bytes>> {
    bytes_response(code, Bytes::from(value.to_string()))
}

fn bytes_response(code: u16, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::OK);
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}
