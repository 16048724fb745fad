//! Starting the double, and what a test can ask of it while it runs.

use std::collections::{BTreeSet, HashMap};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::catalog::{qualified, Catalog};
use crate::controllers::jobs::JobRunner;
use crate::controllers::snapshots::{self, SnapshotController};
use crate::controllers::{Claims, Controller, Crds, CsiDriver, Establish, Readiness, Workloads};
use crate::error::Error;
use crate::exec::{ExecHandler, LocalProcess};
use crate::fixtures::{Fixtures, RecordedList};
use crate::kubeconfig::kubeconfig;
use crate::log::LoggedRequest;
use crate::meta::set;
use crate::service;
use crate::state::{AggregatedRv, Forbidden, Settings, State};
use crate::store::{object_key, Store};

/// Configures an [`ApiServer`]; [`Builder::start`] loads the fixtures and starts serving.
pub struct Builder {
    fixtures: PathBuf,
    host_paths: Vec<(String, PathBuf)>,
    token: Option<String>,
    forbidden: Vec<(String, Option<String>)>,
    exec: Arc<dyn ExecHandler>,
    exec_v5: bool,
    page_limit_max: Option<usize>,
    aggregated: Vec<(String, AggregatedRv)>,
    establish: Option<Establish>,
    claims: Option<Vec<(String, PathBuf)>>,
    workloads: Option<Readiness>,
    csi: Option<CsiDriver>,
    snapshots_ready: bool,
    job_images: Vec<(String, PathBuf)>,
}

impl Builder {
    /// Rewrites `hostPath` and `local` volume paths under `from` (e.g.
    /// `/var/lib/cairn-fixtures`) to the same paths under `to` in every object loaded.
    pub fn map_host_paths(mut self, from: &str, to: impl Into<PathBuf>) -> Self {
        self.host_paths
            .push((from.trim_end_matches('/').to_string(), to.into()));
        self
    }

    /// Requires `Authorization: Bearer <token>` on every request; others get 401. Without a
    /// token, every request is let in.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    /// Denies every verb on `resource` (`secrets`, `deployments.apps`, `pods/exec`) with 403, in
    /// `namespace` only (and in lists across all namespaces) or everywhere when `None`.
    pub fn forbid(mut self, resource: &str, namespace: Option<&str>) -> Self {
        self.forbidden
            .push((resource.to_string(), namespace.map(str::to_string)));
        self
    }

    /// What `pods/exec` runs; [`LocalProcess`] by default.
    pub fn exec_handler(mut self, handler: impl ExecHandler) -> Self {
        self.exec = Arc::new(handler);
        self
    }

    /// Whether exec speaks `v5.channel.k8s.io` (on by default, as Kubernetes 1.30 and later do).
    /// Off, it speaks only `v4.channel.k8s.io`, like the v1.24 server the fixtures come from,
    /// where a client cannot close stdin without closing the whole connection.
    pub fn exec_v5(mut self, on: bool) -> Self {
        self.exec_v5 = on;
        self
    }

    /// Serves at most `max` items per page, whatever `limit` a client asks for.
    pub fn page_limit_max(mut self, max: usize) -> Self {
        self.page_limit_max = Some(max.max(1));
        self
    }

    /// Serves `group` as if an extension API server (through the aggregation layer) did, with
    /// `behaviour` for resourceVersion semantics on lists.
    pub fn aggregated(mut self, group: &str, behaviour: AggregatedRv) -> Self {
        self.aggregated.push((group.to_string(), behaviour));
        self
    }

    /// Emulates the CustomResourceDefinition controller: a CRD created (or written) through the
    /// API without the condition `Established` gets it as `establish` says, and its resource is
    /// served from then on (see the crate documentation).
    pub fn establish_crds(mut self, establish: Establish) -> Self {
        self.establish = Some(establish);
        self
    }

    /// Emulates the PersistentVolumeClaim binder: a claim written through the API binds to an
    /// available volume pre-bound to it or of its class with enough capacity, else stays
    /// `Pending` (see [`Builder::provisioner`] for dynamic provisioning).
    pub fn bind_claims(mut self) -> Self {
        self.claims.get_or_insert_with(Vec::new);
        self
    }

    /// Binds claims as [`Builder::bind_claims`], and provisions a hostPath volume in a new
    /// directory under `dir` for a claim without a volume whose StorageClass names `provisioner`.
    pub fn provisioner(mut self, provisioner: &str, dir: impl Into<PathBuf>) -> Self {
        self.claims
            .get_or_insert_with(Vec::new)
            .push((provisioner.to_string(), dir.into()));
        self
    }

    /// Emulates the Deployment, StatefulSet and DaemonSet controllers and the kubelet: workloads
    /// written through the API get pods, and pods run, ready or not as `readiness` says.
    pub fn run_workloads(mut self, readiness: Readiness) -> Self {
        self.workloads = Some(readiness);
        self
    }

    /// Emulates the CSI driver `driver`, whose volumes (PVs with `spec.csi.driver` of that name)
    /// keep their data at `root/<volumeHandle>` on this machine, with the external snapshotter:
    /// serves `snapshot.storage.k8s.io/v1`, takes `VolumeSnapshot`s of claims by copying their
    /// data under `root/snapshots/`, and provisions claims whose `dataSource` is a snapshot (see
    /// the crate documentation).
    pub fn csi_driver(mut self, driver: &str, root: impl Into<PathBuf>) -> Self {
        self.csi = Some(CsiDriver {
            name: driver.to_string(),
            root: root.into(),
        });
        self
    }

    /// Leaves every `VolumeSnapshot` `readyToUse: false` for good, as a snapshotter that is stuck.
    pub fn snapshots_never_ready(mut self) -> Self {
        self.snapshots_ready = false;
        self
    }

    /// Runs Jobs whose container image is `image` (with any `:tag` or `@digest`) as local
    /// processes of `binary`, the image's entrypoint (see the crate documentation). Repeatable;
    /// the first call enables the Job runner. To make Jobs fail, map the image to a program that
    /// exits non-zero.
    pub fn run_jobs(mut self, image: &str, binary: impl Into<PathBuf>) -> Self {
        self.job_images.push((image.to_string(), binary.into()));
        self
    }

    /// The emulated controllers enabled.
    fn controllers(&self) -> Vec<Arc<dyn Controller>> {
        let mut out: Vec<Arc<dyn Controller>> = Vec::new();
        if let Some(establish) = self.establish {
            out.push(Arc::new(Crds(establish)));
        }
        if let Some(provisioners) = &self.claims {
            out.push(Arc::new(Claims {
                provisioners: provisioners.clone(),
            }));
        }
        if let Some(readiness) = self.workloads {
            out.push(Arc::new(Workloads(readiness)));
        }
        if let Some(driver) = &self.csi {
            out.push(Arc::new(SnapshotController {
                driver: driver.clone(),
                ready: self.snapshots_ready,
            }));
        }
        if !self.job_images.is_empty() {
            out.push(Arc::new(JobRunner {
                images: self.job_images.clone(),
                driver: self.csi.clone(),
                running: Mutex::default(),
            }));
        }
        out
    }

    /// Loads the fixtures and starts serving on `127.0.0.1` at a free port, on a thread of its
    /// own; the server stops when the [`ApiServer`] is dropped.
    pub fn start(self) -> Result<ApiServer, Error> {
        let mut fixtures = Fixtures::load(&recording_dir(&self.fixtures))?;
        if self.csi.is_some() {
            snapshots::serve_api(&mut fixtures.discovery);
        }
        let (catalog, store) = self.load(fixtures.discovery, fixtures.lists)?;
        let mut forbidden = Vec::new();
        for (resource, namespace) in &self.forbidden {
            let (main, subresource) = match resource.split_once('/') {
                Some((main, rest)) => {
                    let (group_suffix, sub) = match rest.split_once('.') {
                        Some((sub, group)) => (format!(".{group}"), sub.to_string()),
                        None => (String::new(), rest.to_string()),
                    };
                    (format!("{main}{group_suffix}"), Some(sub))
                }
                None => (resource.clone(), None),
            };
            let info = catalog.by_name(&main)?;
            forbidden.push(Forbidden {
                group: info.group.clone(),
                resource: info.resource.clone(),
                subresource,
                namespace: namespace.clone(),
            });
        }
        let controllers = self.controllers();
        let settings = Settings {
            controllers,
            token: self.token,
            forbidden,
            exec: self.exec,
            exec_v5: self.exec_v5,
            page_limit_max: self.page_limit_max,
            aggregated: self.aggregated.into_iter().collect(),
        };
        let state = Arc::new(State::new(settings, catalog, fixtures.version, store));
        ApiServer::serve(state)
    }

    /// Builds the catalog and the store from the recorded documents and lists.
    fn load(
        &self,
        discovery: Vec<crate::fixtures::Document>,
        lists: Vec<RecordedList>,
    ) -> Result<(Catalog, Store), Error> {
        let mut custom_groups: BTreeSet<String> = lists
            .iter()
            .filter(|l| {
                l.group == "apiextensions.k8s.io" && l.resource == "customresourcedefinitions"
            })
            .flat_map(|l| &l.items)
            .filter_map(|crd| crd["spec"]["group"].as_str().map(str::to_string))
            .collect();
        if self.csi.is_some() {
            // A cluster serves the snapshot group through the external snapshotter's CRDs.
            custom_groups.insert(snapshots::GROUP.to_string());
        }
        let stored_versions: HashMap<(String, String), String> = lists
            .iter()
            .map(|l| {
                let version = l.api_version.rsplit('/').next().unwrap_or_default();
                ((l.group.clone(), l.resource.clone()), version.to_string())
            })
            .collect();
        let catalog = Catalog::new(discovery, &stored_versions, &custom_groups);
        let mut store = Store::default();
        for list in lists {
            let info = catalog.by_name(&qualified(&list.group, &list.resource))?;
            let collection = (info.group.clone(), info.resource.clone());
            for mut item in list.items {
                self.map_paths(&mut item);
                if item.get("kind").is_none() {
                    set(&mut item, &["kind"], json!(list.kind));
                    set(&mut item, &["apiVersion"], json!(list.api_version));
                }
                let name = item["metadata"]["name"].as_str().unwrap_or_default();
                let namespace = item["metadata"]["namespace"].as_str();
                let key = object_key(namespace.filter(|_| info.namespaced), name);
                store.seed(&collection, key, item);
            }
            if let Some(rv) = list.resource_version {
                store.observe(rv);
            }
        }
        store.compact();
        Ok((catalog, store))
    }

    /// Applies [`Builder::map_host_paths`] to `hostPath.path` and `local.path` anywhere in
    /// `value`.
    fn map_paths(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if key == "hostPath" || key == "local" {
                        if let Some(Value::String(path)) = child.get_mut("path") {
                            if let Some(mapped) = self.mapped(path) {
                                *path = mapped;
                            }
                        }
                    }
                    self.map_paths(child);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.map_paths(item)),
            _ => {}
        }
    }

    fn mapped(&self, path: &str) -> Option<String> {
        self.host_paths.iter().find_map(|(from, to)| {
            let rest = path.strip_prefix(from.as_str())?;
            if rest.is_empty() || rest.starts_with('/') {
                Some(format!("{}{rest}", to.display()))
            } else {
                None
            }
        })
    }
}

/// `dir` itself when it holds `version.json`, else its `v1.24` recording.
fn recording_dir(dir: &Path) -> PathBuf {
    if dir.join("version.json").exists() {
        dir.to_path_buf()
    } else {
        dir.join("v1.24")
    }
}

/// A running test double of the Kubernetes API server. See the crate documentation.
pub struct ApiServer {
    state: Arc<State>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Starts configuring a server over the fixtures in `fixtures` (the directory holding
    /// `version.json`, `discovery/` and `lists/`, or one with such a `v1.24/` in it, such as
    /// `testdata/k8s`).
    pub fn builder(fixtures: impl Into<PathBuf>) -> Builder {
        Builder {
            fixtures: fixtures.into(),
            host_paths: Vec::new(),
            token: None,
            forbidden: Vec::new(),
            exec: Arc::new(LocalProcess::new()),
            exec_v5: true,
            page_limit_max: None,
            aggregated: Vec::new(),
            establish: None,
            claims: None,
            workloads: None,
            csi: None,
            snapshots_ready: true,
            job_images: Vec::new(),
        }
    }

    fn serve(state: Arc<State>) -> Result<Self, Error> {
        let listener = StdTcpListener::bind("127.0.0.1:0").map_err(Error::Start)?;
        listener.set_nonblocking(true).map_err(Error::Start)?;
        let addr = listener.local_addr().map_err(Error::Start)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("k8s-double")
            .enable_all()
            .build()
            .map_err(Error::Start)?;
        let (shutdown, stop) = oneshot::channel();
        let served = state.clone();
        let thread = std::thread::Builder::new()
            .name("k8s-double".into())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, served, stop));
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(Error::Start)?;
        Ok(ApiServer {
            state,
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig for the server: cluster, user (with the token, if one is required) and
    /// context all named `context`, which is the current context.
    pub fn kubeconfig(&self, context: &str) -> String {
        kubeconfig(&self.url(), context, self.state.settings.token.as_deref())
    }

    /// Writes [`ApiServer::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path, context: &str) -> Result<(), Error> {
        std::fs::write(path, self.kubeconfig(context)).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.log().clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.state.log().clear();
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state.store().current()
    }

    /// Forgets all history, as an etcd compaction at the current resourceVersion does: lists at
    /// older resourceVersions (and continue tokens from them) then answer 410 Gone.
    pub fn compact(&self) {
        self.state.store().compact();
    }

    /// The current objects of `resource` (`configmaps`, `deployments.apps`), in `namespace` or
    /// in all namespaces, as stored (with `kind` and `apiVersion`).
    pub fn objects(&self, resource: &str, namespace: Option<&str>) -> Result<Vec<Value>, Error> {
        self.state.objects(resource, namespace)
    }

    /// One current object, if it exists.
    pub fn get(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, Error> {
        self.state.get(resource, namespace, name)
    }

    /// Creates or replaces an object of `resource` behind the API's back (no checks but a name),
    /// as another client of the cluster would; it gets the next resourceVersion, and a uid and
    /// creation time when new. Returns the stored object.
    pub fn put(&self, resource: &str, object: Value) -> Result<Value, Error> {
        self.state.put(resource, object)
    }

    /// Deletes an object behind the API's back; returns it if it existed.
    pub fn remove(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, Error> {
        self.state.remove(resource, namespace, name)
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: StdTcpListener, state: Arc<State>, mut stop: oneshot::Receiver<()>) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| service::handle(state.clone(), request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        }
    }
}
