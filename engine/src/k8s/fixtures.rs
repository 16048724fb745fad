//! Test-only access to the recorded cluster in `testdata/k8s/v1.24` (see its README).

use std::path::PathBuf;

use serde_json::Value;

/// The directory of the recorded cluster.
pub(crate) fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/k8s/v1.24")
}

fn read(path: PathBuf) -> Value {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// A discovery document by file stem: `api`, `api_v1`, `apis`, `apis_apps_v1`, ...
pub(crate) fn discovery(stem: &str) -> Value {
    read(dir().join("discovery").join(format!("{stem}.json")))
}

/// The items of a recorded list (`shop`, `configmaps`), or none when it was empty (absent).
pub(crate) fn items(scope: &str, resource: &str) -> Vec<Value> {
    let path = dir()
        .join("lists")
        .join(format!("{scope}__{resource}.json"));
    if !path.exists() {
        return Vec::new();
    }
    match read(path) {
        Value::Object(mut o) => match o.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}
