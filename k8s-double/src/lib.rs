//! A test double of the Kubernetes API server, speaking the real HTTP API so that a client (kube,
//! kubectl) takes the same code path as against a cluster.
//!
//! It serves the recorded responses of a v1.24 kube-apiserver (`testdata/k8s/v1.24`) over plain
//! HTTP on `127.0.0.1`, and keeps the recorded objects as its state.
//!
//! ```no_run
//! # fn main() -> Result<(), cairn_k8s_double::Error> {
//! use cairn_k8s_double::ApiServer;
//! let server = ApiServer::builder(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/k8s"))
//!     .token("test-token")
//!     .forbid("secrets", Some("shop"))
//!     .start()?;
//! server.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"), "double")?;
//! // ... point the code under test at /tmp/kubeconfig, then:
//! assert!(server.requests().iter().any(|r| r.path == "/api/v1/namespaces/shop/configmaps"));
//! # Ok(()) }
//! ```
//!
//! # What it implements
//!
//! - `GET /version` and discovery (`/api`, `/api/v1`, `/apis`, `/apis/{group}`,
//!   `/apis/{group}/{version}`), the recorded documents verbatim (CRD-defined groups such as
//!   `example.com` included). Aggregated discovery did not exist in v1.24: a media type asking for
//!   it is skipped, so a client offering plain JSON after it gets the plain document, and one
//!   offering nothing else gets 406.
//! - Lists of every resource in discovery, cluster-wide, per namespace and across namespaces:
//!   `<Kind>List` with `metadata.resourceVersion`; `labelSelector` (`=`, `==`, `!=`, `in`,
//!   `notin`, `key`, `!key`, `>`, `<`); `fieldSelector` on `metadata.name`,
//!   `metadata.namespace` and the few per-type fields the real server supports; `limit` and
//!   `continue` (the real server's token format; every page is served at the first page's
//!   resourceVersion, with `remainingItemCount` when no selector is given).
//! - resourceVersion semantics: one global counter, starting at the highest recorded
//!   resourceVersion, bumped by every write; a history of every object, so
//!   `resourceVersionMatch=Exact` (or a resourceVersion with a limit) sees the objects as they were.
//!   Reads older than the compaction point (the recorded state at start, then whatever
//!   [`ApiServer::compact`] sets) answer 410 `Expired`, as do continue tokens from then (with a new
//!   token in the `Status`, as the real server sends); a resourceVersion not reached yet answers
//!   504 `Timeout` ("Too large resource version"). `resourceVersion=0` ignores `limit`, as the
//!   watch cache does. Invalid combinations answer 422 `ListOptions` errors.
//! - Metadata-only reads (`Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`).
//! - Get, create (uid, resourceVersion, creationTimestamp, `generateName`; 409 `AlreadyExists`;
//!   404 into a missing namespace; 500 for a body with a resourceVersion, as the real server),
//!   update (409 `Conflict` on a stale resourceVersion), patch (JSON merge patch, JSON patch;
//!   strategic merge patch is applied as a merge patch for built-in types and refused with 415
//!   for custom resources; server-side apply as create-or-merge), delete (with preconditions;
//!   objects with finalizers and namespaces are only marked for deletion), and the `status`
//!   subresource.
//! - Bearer token authentication (401) and per-resource RBAC denials (403), worded as the real
//!   server words them.
//! - `pods/{name}/exec` over WebSocket (`v5.channel.k8s.io` and `v4.channel.k8s.io`), run by an
//!   [`ExecHandler`]: by default [`LocalProcess`], a real process on this machine, with stdin,
//!   stdout and stderr streamed with backpressure and the exit status as the kubelet reports it.
//! - A log of every request ([`ApiServer::requests`]).
//! - Opt-in emulated controllers (module `controllers`), which act on objects written through the
//!   API (not on recorded objects, nor on those [`ApiServer::put`] writes), at once, in the same
//!   request, unless a delay is asked for:
//!   - [`Builder::establish_crds`]: a new CustomResourceDefinition gets `NamesAccepted` and
//!     `Established` ([`Establish::Now`], after a delay, or never), and once established its
//!     resource is served in discovery and at its URLs (the recorded CRD-defined groups are served
//!     from the start).
//!   - [`Builder::bind_claims`] and [`Builder::provisioner`]: a new PersistentVolumeClaim binds to
//!     an available PersistentVolume pre-bound to it or matching its class and size, or to a new
//!     hostPath volume made by a registered provisioner; otherwise it stays `Pending`.
//!   - [`Builder::run_workloads`]: Deployments (through a ReplicaSet), StatefulSets and
//!     DaemonSets get their pods, and every new pod is `Running` and `Ready` (or never ready,
//!     [`Readiness::Never`]); the workload's `status` counts them.
//! - Writes to an object (not to its `status` subresource) keep the stored `status` when the
//!   resource has a `status` subresource, as the real server does.
//! - Marking a group as served by an extension API server that rejects or ignores
//!   resourceVersion semantics ([`Builder::aggregated`]).
//! - Opt-in emulated controllers, told of every successful write through the API: CSI snapshots
//!   and claims provisioned from them on local directories ([`Builder::csi_driver`], which also
//!   serves the `snapshot.storage.k8s.io/v1` group), and Jobs run as local processes
//!   ([`Builder::run_jobs`]). Their own documentation says what they leave out.
//!
//! # What it leaves out
//!
//! - Watch (`watch=true` answers 400), `deletecollection`, logs, port-forward, attach, proxy,
//!   SPDY (exec needs a WebSocket), TLS, protobuf, YAML and Table output.
//! - Version conversion: objects are stored and served in the version they were recorded (or
//!   created) in, whichever version the URL names. Resources a real server stores once and serves
//!   under two groups (Events in `v1` and `events.k8s.io`) are two separate collections here.
//! - Admission, defaulting, schema validation, managedFields bookkeeping, generation, and every
//!   controller not opted into (below): by default nothing reacts to a write (no ReplicaSets for
//!   a new Deployment, no namespace cleanup). Server-side apply does not track field ownership or
//!   conflicts.
//! - Pod state: exec works in any recorded pod, although the recorded pods are Pending; no
//!   terminal is allocated for `tty=true`.
//! - Authentication beyond one bearer token (anonymous requests are refused, not given
//!   `system:anonymous`).

mod catalog;
mod continue_token;
mod controllers;
mod error;
mod exec;
mod fixtures;
mod kubeconfig;
mod log;
mod meta;
mod negotiate;
mod patch;
mod query;
mod read;
mod route;
mod selector;
mod server;
mod service;
mod state;
mod status;
mod store;
mod write;

pub use controllers::{Establish, Readiness};
pub use error::Error;
pub use exec::{
    ExecFuture, ExecHandler, ExecInput, ExecOutcome, ExecOutput, ExecRequest, ExecStreams,
    LocalProcess, ProcessSetup,
};
pub use log::LoggedRequest;
pub use server::{ApiServer, Builder};
pub use state::AggregatedRv;
