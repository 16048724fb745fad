//! Reading the recorded API server responses from a fixtures directory.
//!
//! The layout is that of `testdata/k8s/v1.24/`: `version.json`, `discovery/*.json` (one file per
//! discovery path, `/` written as `_`) and `lists/<namespace or cluster>__<resource>[.<group>].json`.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::Value;

use crate::error::Error;

/// Everything read from a fixtures directory.
pub(crate) struct Fixtures {
    /// The body of `GET /version`.
    pub version: Bytes,
    /// Discovery documents.
    pub discovery: Vec<Document>,
    /// The recorded lists.
    pub lists: Vec<RecordedList>,
}

/// One recorded discovery document.
pub(crate) struct Document {
    /// The URL path it is served at (`/api`, `/apis/apps/v1`, ...).
    pub url: String,
    /// The body as recorded.
    pub raw: Bytes,
    /// The body parsed.
    pub json: Value,
}

/// One recorded list response.
pub(crate) struct RecordedList {
    /// API group of the resource (empty for the core group).
    pub group: String,
    /// Resource name (plural, lower case).
    pub resource: String,
    /// `apiVersion` of the list.
    pub api_version: String,
    /// `kind` of the items (the list's kind without `List`).
    pub kind: String,
    /// `metadata.resourceVersion` of the list, when it had one.
    pub resource_version: Option<u64>,
    /// The items, as recorded.
    pub items: Vec<Value>,
}

impl Fixtures {
    /// Reads `dir` (the directory holding `version.json`, `discovery/` and `lists/`).
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let version = read(&dir.join("version.json"))?;
        let mut discovery = Vec::new();
        for path in json_files(&dir.join("discovery"))? {
            let raw = read(&path)?;
            discovery.push(Document {
                url: discovery_url(&path)?,
                json: parse_bytes(&path, &raw)?,
                raw: Bytes::from(raw),
            });
        }
        let mut lists = Vec::new();
        for path in json_files(&dir.join("lists"))? {
            lists.push(RecordedList::parse(&path)?);
        }
        Ok(Fixtures {
            version: Bytes::from(version),
            discovery,
            lists,
        })
    }
}

impl RecordedList {
    fn parse(path: &Path) -> Result<Self, Error> {
        let stem = file_stem(path)?;
        let (_scope, resource_and_group) = stem
            .split_once("__")
            .ok_or_else(|| bad_name(path, "expected <namespace>__<resource>[.<group>]"))?;
        let (resource, group) = match resource_and_group.split_once('.') {
            Some((resource, group)) => (resource.to_string(), group.to_string()),
            None => (resource_and_group.to_string(), String::new()),
        };
        let mut list = parse(path)?;
        let malformed = |what: &str| Error::Fixture {
            path: path.to_path_buf(),
            message: format!("not a list: {what}"),
        };
        let api_version = list["apiVersion"]
            .as_str()
            .ok_or_else(|| malformed("no apiVersion"))?
            .to_string();
        let kind = list["kind"]
            .as_str()
            .and_then(|kind| kind.strip_suffix("List"))
            .ok_or_else(|| malformed("kind does not end in List"))?
            .to_string();
        let resource_version = match list["metadata"]["resourceVersion"].as_str() {
            Some(rv) => Some(rv.parse().map_err(|_| malformed("resourceVersion"))?),
            None => None,
        };
        let items = match list["items"].take() {
            Value::Array(items) => items,
            _ => return Err(malformed("no items")),
        };
        Ok(RecordedList {
            group,
            resource,
            api_version,
            kind,
            resource_version,
            items,
        })
    }
}

/// `discovery/apis_apps_v1.json` → `/apis/apps/v1`; group names hold dots, never underscores.
fn discovery_url(path: &Path) -> Result<String, Error> {
    let stem = file_stem(path)?;
    let mut parts = stem.splitn(2, '_');
    let root = parts.next().unwrap_or_default();
    let url = match (root, parts.next()) {
        ("api" | "apis", None) => format!("/{root}"),
        ("api", Some(version)) => format!("/api/{version}"),
        ("apis", Some(group_version)) => match group_version.rsplit_once('_') {
            Some((group, version)) => format!("/apis/{group}/{version}"),
            None => format!("/apis/{group_version}"),
        },
        _ => {
            return Err(bad_name(
                path,
                "expected api[_<version>] or apis[_<group>_<version>]",
            ))
        }
    };
    Ok(url)
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn file_stem(path: &Path) -> Result<&str, Error> {
    path.file_stem()
        .and_then(|stem| stem.to_str())
        .ok_or_else(|| bad_name(path, "not UTF-8"))
}

fn bad_name(path: &Path, expected: &str) -> Error {
    Error::Fixture {
        path: path.to_path_buf(),
        message: format!("unexpected file name: {expected}"),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn parse(path: &Path) -> Result<Value, Error> {
    parse_bytes(path, &read(path)?)
}

fn parse_bytes(path: &Path, raw: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(raw).map_err(|source| Error::Fixture {
        path: path.to_path_buf(),
        message: source.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_file_names_map_to_urls() {
        let url = |name: &str| discovery_url(Path::new(name)).unwrap();
        assert_eq!(url("api.json"), "/api");
        assert_eq!(url("api_v1.json"), "/api/v1");
        assert_eq!(url("apis.json"), "/apis");
        assert_eq!(url("apis_apps_v1.json"), "/apis/apps/v1");
        assert_eq!(
            url("apis_flowcontrol.apiserver.k8s.io_v1beta2.json"),
            "/apis/flowcontrol.apiserver.k8s.io/v1beta2"
        );
        assert!(discovery_url(Path::new("other.json")).is_err());
    }
}
