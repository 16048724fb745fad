//! The connection to a cluster: configured as kubectl is, and the few requests a backup makes —
//! discovery documents, paged lists at one resource version, and `GET`s — answered as JSON values.
//!
//! Answers are parsed here, never by kube's typed helpers, which log an answer they cannot parse:
//! an answer may hold a Secret, and secrets never reach a log.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::params::{ListParams, VersionMatch};
use serde_json::Value;

use super::discovery::{self, ResourceType};
use super::error::K8sError;

/// Objects asked for in one page of a list.
pub const PAGE_SIZE: u32 = 500;

/// How to reach the cluster.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// The kubeconfig file (else `KUBECONFIG`, else `~/.kube/config`, else in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (else its current context).
    pub context: Option<String>,
}

/// A connected cluster.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    server: String,
    /// The name the kubeconfig gives the cluster, or `in-cluster`.
    pub name: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server)
            .field("name", &self.name)
            .finish()
    }
}

/// A resource whose list could not be read, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Unreadable {
    /// The resource (or, for a discovery document, the group and version).
    pub resource: String,
    /// The namespace, for a list in one namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The server's answer.
    pub reason: String,
}

/// A resource that could not be read at the backup's resource version, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NotAtVersion {
    /// The resource.
    pub resource: String,
    /// The server's answer to the list at the resource version.
    pub reason: String,
}

/// The objects of one list and the resource version it was read at.
#[derive(Debug)]
pub struct ListAnswer {
    /// The items, as sent.
    pub items: Vec<Value>,
    /// `metadata.resourceVersion` of the (first page of the) list.
    pub resource_version: String,
}

impl Cluster {
    /// A runtime and a cluster connected on it, for the commands that drive the cluster from
    /// synchronous code. Its one worker thread keeps streams moving while synchronous code reads
    /// or writes them through a `SyncIoBridge` (a current-thread runtime would only move them
    /// inside `block_on`).
    pub fn connect_blocking(
        options: &ConnectOptions,
    ) -> Result<(tokio::runtime::Runtime, Cluster), K8sError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cairn-k8s")
            .enable_all()
            .build()
            .map_err(|e| K8sError::Config(format!("cannot start the I/O runtime: {e}")))?;
        let cluster = rt.block_on(Cluster::connect(options))?;
        Ok((rt, cluster))
    }

    /// Connects as kubectl would; no request is sent yet.
    pub async fn connect(options: &ConnectOptions) -> Result<Cluster, K8sError> {
        let kube_options = KubeConfigOptions {
            context: options.context.clone(),
            ..Default::default()
        };
        let config_err = |e: &dyn std::fmt::Display| K8sError::Config(e.to_string());
        let kubeconfig = match &options.kubeconfig {
            Some(path) => Some(
                Kubeconfig::read_from(path)
                    .map_err(|e| K8sError::Config(format!("kubeconfig {}: {e}", path.display())))?,
            ),
            None => Kubeconfig::read().ok(),
        };
        let (config, name) = match kubeconfig {
            Some(kc) => {
                let name = cluster_name(&kc, options.context.as_deref());
                let config = kube::Config::from_custom_kubeconfig(kc, &kube_options)
                    .await
                    .map_err(|e| config_err(&e))?;
                (config, name)
            }
            None if options.context.is_some() => {
                return Err(K8sError::Config(
                    "--context needs a kubeconfig: none found in KUBECONFIG or ~/.kube/config"
                        .into(),
                ))
            }
            None => {
                let config = kube::Config::incluster().map_err(|e| {
                    K8sError::Config(format!(
                        "no kubeconfig (KUBECONFIG, ~/.kube/config or --kubeconfig) and not \
                         inside a pod: {e}"
                    ))
                })?;
                (config, "in-cluster".to_string())
            }
        };
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| config_err(&e))?;
        Ok(Cluster {
            client,
            server,
            name,
        })
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The kube client, for exec.
    pub(crate) fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Turns a kube error into ours, naming what was asked.
    pub(crate) fn error(&self, what: &str, e: kube::Error) -> K8sError {
        match e {
            kube::Error::Api(status) if status.code == 401 => K8sError::Unauthorized {
                server: self.server.clone(),
            },
            kube::Error::Api(status) => K8sError::Api {
                what: what.to_string(),
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) => K8sError::Unreachable {
                server: self.server.clone(),
                message: chain(&e),
            },
            other => K8sError::Protocol {
                what: what.to_string(),
                message: chain(&other),
            },
        }
    }

    /// `GET path`, as JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, K8sError> {
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| K8sError::InvalidInput(format!("{path}: {e}")))?;
        self.send(path, request).await
    }

    /// `POST path` (create) or `PUT path` (replace) of a JSON object; the server's answer.
    pub async fn write_json(
        &self,
        method: http::Method,
        path: &str,
        object: &Value,
    ) -> Result<Value, K8sError> {
        let body = serde_json::to_vec(object).map_err(|e| K8sError::InvalidInput(e.to_string()))?;
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| K8sError::InvalidInput(format!("{path}: {e}")))?;
        self.send(path, request).await
    }

    /// `DELETE path` with `propagationPolicy: Background`; an object that is already gone is not an
    /// error.
    pub async fn delete(&self, path: &str) -> Result<(), K8sError> {
        let body =
            br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}"#;
        let request = http::Request::delete(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .map_err(|e| K8sError::InvalidInput(format!("{path}: {e}")))?;
        match self.send(path, request).await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn send(&self, what: &str, request: http::Request<Vec<u8>>) -> Result<Value, K8sError> {
        let text = self
            .client
            .request_text(request)
            .await
            .map_err(|e| self.error(what, e))?;
        serde_json::from_str(&text).map_err(|e| K8sError::Protocol {
            what: what.to_string(),
            // The position only: the text may hold a Secret.
            message: format!("not JSON (line {}, column {})", e.line(), e.column()),
        })
    }

    /// The server's version (`gitVersion` of `/version`).
    pub async fn version(&self) -> Result<String, K8sError> {
        let v = self.get_json("/version").await?;
        Ok(v.get("gitVersion")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string())
    }

    /// Every listable resource in its preferred version, each once; and the group versions whose
    /// discovery document could not be read.
    pub async fn discover(&self) -> Result<(Vec<ResourceType>, Vec<Unreadable>), K8sError> {
        let mut versions = Vec::new();
        versions.extend(discovery::core_version(&self.get_json("/api").await?));
        versions.extend(discovery::groups(&self.get_json("/apis").await?));
        let mut all = Vec::new();
        let mut unreadable = Vec::new();
        for gv in versions {
            match self.get_json(&gv.path()).await {
                Ok(doc) => all.extend(discovery::resources(&gv, &doc)),
                Err(e @ (K8sError::Unauthorized { .. } | K8sError::Unreachable { .. })) => {
                    return Err(e)
                }
                Err(e) => unreadable.push(Unreadable {
                    resource: gv.path(),
                    namespace: None,
                    reason: e.to_string(),
                }),
            }
        }
        Ok((discovery::dedup(all), unreadable))
    }

    /// Reads a whole list page by page; at `resource_version` exactly when given.
    pub async fn list(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        resource_version: Option<&str>,
    ) -> Result<ListAnswer, K8sError> {
        let path = resource.list_path(namespace);
        let mut params = ListParams::default().limit(PAGE_SIZE);
        if let Some(rv) = resource_version {
            params = params.at(rv).matching(VersionMatch::Exact);
        }
        let mut items = Vec::new();
        let mut version = None;
        loop {
            let request = kube::core::Request::new(&path)
                .list(&params)
                .map_err(|e| K8sError::InvalidInput(format!("{path}: {e}")))?;
            let page = self.send(&path, request).await?;
            let Value::Object(mut page) = page else {
                return Err(K8sError::Protocol {
                    what: path,
                    message: "a list that is not an object".into(),
                });
            };
            let meta = page.remove("metadata").unwrap_or(Value::Null);
            if version.is_none() {
                version = meta
                    .get("resourceVersion")
                    .and_then(Value::as_str)
                    .map(String::from);
            }
            match page.remove("items") {
                Some(Value::Array(mut more)) => items.append(&mut more),
                Some(Value::Null) | None => {}
                Some(_) => {
                    return Err(K8sError::Protocol {
                        what: path,
                        message: "items is not an array".into(),
                    })
                }
            }
            match meta.get("continue").and_then(Value::as_str) {
                Some(token) if !token.is_empty() => {
                    // A continued list is read at the version its token holds.
                    params = ListParams::default().limit(PAGE_SIZE);
                    params.continue_token = Some(token.to_string());
                }
                _ => break,
            }
        }
        Ok(ListAnswer {
            items,
            resource_version: version.unwrap_or_default(),
        })
    }
}

/// The cluster name the kubeconfig gives the context in use.
fn cluster_name(kc: &Kubeconfig, context: Option<&str>) -> String {
    let context = context.or(kc.current_context.as_deref());
    kc.contexts
        .iter()
        .find(|c| Some(c.name.as_str()) == context)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

/// An error and its causes, each once, joined by `: `.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
