//! `cairn k8s`: backups of Kubernetes applications from the test double of the API server, seeded
//! with the objects a real v1.24 server returned (`testdata/k8s`). cairn reaches it through a
//! kubeconfig, over HTTP, exactly as it would reach a cluster; volumes are real directories and
//! files that the double's hostPath and local PVs point at.

use std::fs;
use std::path::{Path, PathBuf};

use cairn_k8s_double::{ApiServer, Builder, LocalProcess, ProcessSetup};
use serde_json::{json, Value};

use crate::util::*;

/// The recorded cluster.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/k8s");

/// A running double, its kubeconfig, the directory its PVs' paths lead to, and the log the stub
/// hook commands write.
pub struct Cluster {
    pub server: ApiServer,
    pub kubeconfig: PathBuf,
    pub node: PathBuf,
    pub hook_log: PathBuf,
}

/// The recorded shop pods whose annotations name hooks (`psql`, `nginx`).
const HOOKED_PODS: &[&str] = &["db-0", "web-7d5f96d47f-qnswn", "web-7d5f96d47f-zlq4h"];

/// Runs the recorded pods' hooks as local processes, with `psql` and `nginx` found first in a
/// directory of scripts that log their command line and succeed.
fn stub_hooks(s: &Scratch, log: &Path) -> LocalProcess {
    let bin = s.join("bin");
    for tool in ["psql", "nginx"] {
        let script = format!("#!/bin/sh\necho \"{tool} $*\" >> '{}'\n", log.display());
        write(&bin.join(tool), script);
        chmod(&bin.join(tool), 0o755);
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    HOOKED_PODS.iter().fold(LocalProcess::new(), |exec, pod| {
        exec.setup(
            "shop",
            pod,
            None,
            ProcessSetup::default().env("PATH", &path),
        )
    })
}

/// Starts the double over the recorded cluster, with the volumes of the shop and the blog filled
/// with files under `node/`; `configure` adds tokens, denials, ...
pub fn cluster(s: &Scratch, configure: impl FnOnce(Builder) -> Builder) -> Cluster {
    let node = s.join("node");
    let mut rng = Rng::new(7);
    write(&node.join("shop/data-db-0/PG_VERSION"), "15\n");
    write(&node.join("shop/data-db-0/base/1/1259"), rng.bytes(300_000));
    write(
        &node.join("shop/data-db-0/global/pg_control"),
        rng.bytes(8192),
    );
    std::os::unix::fs::symlink("base/1/1259", node.join("shop/data-db-0/link")).unwrap();
    write(&node.join("blog/mysql/ibdata1"), rng.bytes(200_000));
    write(&node.join("blog/wordpress/index.php"), "<?php echo 'hi';");
    let hook_log = s.join("hooks.log");
    let builder = ApiServer::builder(FIXTURES)
        .map_host_paths("/var/lib/cairn-fixtures", &node)
        .exec_handler(stub_hooks(s, &hook_log));
    let server = configure(builder).start().unwrap();
    let kubeconfig = s.join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, "double").unwrap();
    Cluster {
        server,
        kubeconfig,
        node,
        hook_log,
    }
}

impl Cluster {
    /// Runs `cairn k8s ARGS --kubeconfig ...`.
    pub fn cairn(&self, s: &Scratch, args: &[&str]) -> Run {
        let mut all = vec!["k8s"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--kubeconfig", self.kubeconfig.to_str().unwrap()]);
        s.cairn(&all)
    }
}

/// The paths `cairn ls` lists in the latest snapshot.
pub fn listing(s: &Scratch) -> Vec<String> {
    s.cairn(&["ls", "latest"])
        .ok()
        .stdout()
        .lines()
        .map(String::from)
        .collect()
}

/// The latest snapshot's `kubernetes` source.
pub fn details(s: &Scratch) -> Value {
    s.cairn(&["cat", "snapshot", "latest", "--json"])
        .ok()
        .json()["source"]
        .clone()
}

fn has(paths: &[String], p: &str) -> bool {
    paths.iter().any(|x| x == p)
}

/// Puts namespace `ns` (when it is new) and claim `ns/claim` bound to a new PV `volume` whose
/// source is `source` (`{"hostPath": ...}`, `{"nfs": ...}`), in `Block` mode when `block`.
pub fn put_bound_claim(
    c: &Cluster,
    ns: &str,
    claim: &str,
    volume: &str,
    source: Value,
    block: bool,
) {
    let put = |resource: &str, object: Value| c.server.put(resource, object).unwrap();
    if c.server.get("namespaces", None, ns).unwrap().is_none() {
        put(
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        );
    }
    let mode = if block { "Block" } else { "Filesystem" };
    let mut spec = json!({"capacity": {"storage": "1Gi"}, "volumeMode": mode,
                          "accessModes": ["ReadWriteOnce"],
                          "claimRef": {"namespace": ns, "name": claim}});
    spec.as_object_mut()
        .unwrap()
        .extend(source.as_object().unwrap().clone());
    put(
        "persistentvolumes",
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": volume},
               "spec": spec}),
    );
    put(
        "persistentvolumeclaims",
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": {"name": claim, "namespace": ns},
               "spec": {"volumeMode": mode, "volumeName": volume, "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}}}),
    );
}

#[test]
fn k8s_backup_of_the_shop_takes_what_it_needs_and_restores_its_volume_byte_for_byte() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    let out = c.cairn(&s, &["backup", "--namespace", "shop", "--node", "node-1"]);
    let out = out.ok();
    assert!(out.stdout().contains("snapshot"), "{}", out.stdout());
    let paths = listing(&s);
    for want in [
        "/manifests/namespaces/shop/deployments.apps/web.yaml",
        "/manifests/namespaces/shop/statefulsets.apps/db.yaml",
        "/manifests/namespaces/shop/secrets/shop-db.yaml",
        "/manifests/namespaces/shop/configmaps/shop-config.yaml",
        "/manifests/namespaces/shop/widgets.example.com/blue.yaml",
        "/manifests/namespaces/shop/pods/debug.yaml",
        "/manifests/cluster/namespaces/shop.yaml",
        "/manifests/cluster/persistentvolumes/pvc-shop-data-db-0.yaml",
        "/manifests/cluster/storageclasses.storage.k8s.io/local-path.yaml",
        "/manifests/cluster/customresourcedefinitions.apiextensions.k8s.io/widgets.example.com.yaml",
        "/manifests/cluster/clusterroles.rbac.authorization.k8s.io/shop-node-reader.yaml",
        "/manifests/cluster/clusterrolebindings.rbac.authorization.k8s.io/shop-node-reader.yaml",
        "/manifests/cluster/priorityclasses.scheduling.k8s.io/shop-critical.yaml",
        "/volumes/shop/data-db-0/base/1/1259",
        "/volumes/shop/data-db-0/link",
    ] {
        assert!(has(&paths, want), "{want} missing from {paths:#?}");
    }
    // Derived objects, the excluded ConfigMap, events, and other apps' objects are left out.
    for gone in [
        "/manifests/namespaces/shop/configmaps/scratch.yaml",
        "/manifests/namespaces/shop/pods/db-0.yaml",
        "/manifests/namespaces/shop/replicasets.apps",
        "/manifests/namespaces/shop/jobs.batch",
        "/manifests/namespaces/shop/endpoints",
        "/manifests/namespaces/shop/events",
        "/manifests/cluster/persistentvolumes/blog-mysql-pv.yaml",
        "/manifests/cluster/clusterroles.rbac.authorization.k8s.io/cluster-admin.yaml",
    ] {
        assert!(!paths.iter().any(|p| p.starts_with(gone)), "{gone} stored");
    }
    // What was skipped is recorded with the reason; the point in time too.
    let d = details(&s);
    assert_eq!(d["type"], "kubernetes");
    assert_eq!(d["cluster"], "double");
    assert_eq!(d["namespaces"], json!(["shop"]));
    assert!(d["server_version"].as_str().unwrap().starts_with("v1.24"));
    assert!(!d["resource_version"].as_str().unwrap().is_empty());
    let skipped = d["skipped"].as_array().unwrap();
    let reason = |name: &str| {
        skipped
            .iter()
            .find(|x| x["name"] == name)
            .map(|x| x["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{name} not recorded as skipped"))
    };
    assert!(reason("scratch").contains("backup.cairn.io/exclude"));
    assert_eq!(reason("web-7d5f96d47f"), "owned by Deployment web");
    assert_eq!(reason("db-0"), "owned by StatefulSet db");
    let volume = &d["volumes"][0];
    assert_eq!(volume["claim"], "data-db-0");
    assert_eq!(volume["method"], "node-local");
    assert_eq!(volume["path"], "volumes/shop/data-db-0");
    // The pods' pre hooks ran (through exec, as local processes here); the StatefulSet's made its
    // volume application-consistent.
    let log = fs::read_to_string(&c.hook_log).unwrap();
    assert!(log.contains("psql -U shop -c CHECKPOINT"), "{log}");
    assert_eq!(log.matches("nginx -s reload").count(), 2, "{log}");
    assert_eq!(volume["consistency"], "application");
    assert_eq!(volume["hooks"][0]["pod"], "db-0");
    assert_eq!(volume["hooks"][0]["outcome"], "ok");

    // Restored, the volume is the directory it was, and the Secret's manifest is the object the
    // server sent (its data, base64, included).
    let target = s.join("restore");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    assert_same_tree(
        &c.node.join("shop/data-db-0"),
        &target.join("volumes/shop/data-db-0"),
        Compare {
            owner: false,
            ..Compare::default()
        },
    );
    let secret =
        fs::read_to_string(target.join("manifests/namespaces/shop/secrets/shop-db.yaml")).unwrap();
    let served = &c.server.objects("secrets", Some("shop")).unwrap()[0];
    assert!(secret.contains(served["data"]["POSTGRES_PASSWORD"].as_str().unwrap()));
    assert!(secret.contains("kind: Secret") && secret.contains("apiVersion: v1"));
    assert!(secret.contains(served["metadata"]["uid"].as_str().unwrap()));
}

#[test]
fn k8s_lists_are_paged_and_read_at_one_resource_version() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b.page_limit_max(2));
    c.cairn(&s, &["backup", "-n", "shop", "--volume-method", "none"])
        .ok();
    let requests = c.server.requests();
    let lists: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/api") && r.path.contains("/namespaces/shop/"))
        .collect();
    assert!(!lists.is_empty());
    let rv = details(&s)["resource_version"]
        .as_str()
        .unwrap()
        .to_string();
    for r in &lists {
        assert!(r.param("limit").is_some(), "{} {:?}", r.path, r.query);
        let exact = r.param("resourceVersion") == Some(rv.as_str())
            && r.param("resourceVersionMatch") == Some("Exact");
        assert!(
            exact || r.param("continue").is_some(),
            "{} {:?}",
            r.path,
            r.query
        );
    }
    // Two objects a page: the three shop ConfigMaps took a continued page, and all are there.
    assert!(lists.iter().any(|r| r.param("continue").is_some()));
    let paths = listing(&s);
    assert!(has(
        &paths,
        "/manifests/namespaces/shop/configmaps/kube-root-ca.crt.yaml"
    ));
    assert!(has(
        &paths,
        "/manifests/namespaces/shop/configmaps/shop-config.yaml"
    ));
}

#[test]
fn k8s_selection_by_namespace_glob_and_label_selector() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    c.cairn(
        &s,
        &[
            "backup", "-n", "sh*", "-n", "blo?", "-l", "tier=db", "--node", "node-1",
        ],
    )
    .ok();
    let paths = listing(&s);
    assert!(has(
        &paths,
        "/manifests/namespaces/shop/statefulsets.apps/db.yaml"
    ));
    assert!(has(
        &paths,
        "/manifests/namespaces/shop/persistentvolumeclaims/data-db-0.yaml"
    ));
    // Needed by the claim though the selector does not match them.
    assert!(has(
        &paths,
        "/manifests/cluster/persistentvolumes/pvc-shop-data-db-0.yaml"
    ));
    assert!(has(
        &paths,
        "/manifests/cluster/storageclasses.storage.k8s.io/local-path.yaml"
    ));
    assert!(has(&paths, "/manifests/cluster/namespaces/blog.yaml"));
    assert!(!has(
        &paths,
        "/manifests/namespaces/shop/deployments.apps/web.yaml"
    ));
    assert!(!paths
        .iter()
        .any(|p| p.starts_with("/manifests/namespaces/blog/deployments.apps")));
    let d = details(&s);
    assert_eq!(d["selector"], "tier=db");
    assert_eq!(
        d["selection"]["namespaces_matched"],
        json!(["blog", "shop"])
    );

    // --exclude-resources and the exclude label on an object the selector would take.
    c.server
        .put(
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "keep-out", "namespace": "blog",
                                "labels": {"backup.cairn.io/exclude": "true"}}}),
        )
        .unwrap();
    // An object being deleted (a finalizer holds it) is left out too.
    c.server
        .put(
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "leaving", "namespace": "blog",
                                "finalizers": ["example.com/wait"],
                                "deletionTimestamp": "2026-01-01T00:00:00Z"}}),
        )
        .unwrap();
    c.cairn(
        &s,
        &[
            "backup",
            "-n",
            "blog",
            "--exclude-resources",
            "secrets,services",
            "--volume-method",
            "none",
        ],
    )
    .ok();
    let paths = listing(&s);
    assert!(has(
        &paths,
        "/manifests/namespaces/blog/deployments.apps/wordpress.yaml"
    ));
    assert!(!paths
        .iter()
        .any(|p| p.contains("/secrets/") || p.contains("/services/")));
    assert!(!has(
        &paths,
        "/manifests/namespaces/blog/configmaps/keep-out.yaml"
    ));
    assert!(!has(
        &paths,
        "/manifests/namespaces/blog/configmaps/leaving.yaml"
    ));
    let skipped = details(&s)["skipped"].clone();
    let reason = |name: &str| {
        skipped
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .map(|x| x["reason"].clone())
    };
    assert_eq!(reason("leaving"), Some(json!("being deleted")));
    assert!(reason("keep-out").is_some());
}

#[test]
fn k8s_partial_rbac_saves_an_incomplete_snapshot_naming_what_it_could_not_read() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b.token("t0ken").forbid("secrets", Some("shop")));
    let run = c
        .cairn(&s, &["backup", "-n", "shop", "--volume-method", "none"])
        .code(3);
    assert!(
        run.stderr.contains("manifests/namespaces/shop/secrets") && run.stderr.contains("403"),
        "{}",
        run.stderr
    );
    let d = details(&s);
    assert_eq!(d["unreadable"][0]["resource"], "secrets");
    assert_eq!(d["unreadable"][0]["namespace"], "shop");
    let paths = listing(&s);
    assert!(has(
        &paths,
        "/manifests/namespaces/shop/configmaps/shop-config.yaml"
    ));
    assert!(!paths.iter().any(|p| p.contains("/secrets/")));
}

#[test]
fn k8s_wrong_token_and_unreachable_server_are_clear_errors() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b.token("right-token"));
    let text = fs::read_to_string(&c.kubeconfig).unwrap();
    assert!(text.contains("right-token"));
    fs::write(&c.kubeconfig, text.replace("right-token", "expired-token")).unwrap();
    let run = c.cairn(&s, &["backup", "-n", "shop"]).code(1);
    assert!(run.stderr.contains("401 Unauthorized"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("expired-token"),
        "the token is never printed"
    );
    assert!(s.snapshot_ids().is_empty());

    let url = c.server.url();
    drop(c.server);
    let run = s
        .cairn(&[
            "k8s",
            "backup",
            "-n",
            "shop",
            "--kubeconfig",
            c.kubeconfig.to_str().unwrap(),
        ])
        .code(1);
    assert!(
        run.stderr
            .contains("cannot reach the Kubernetes API server")
            && run.stderr.contains(&url),
        "{}",
        run.stderr
    );
}

#[test]
fn k8s_block_volume_from_a_disk_image_restores_byte_for_byte() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    let image = s.join("disks/blog-disk.img");
    write(&image, Rng::new(11).bytes(3 << 20));
    put_block_claim(&c, &image);
    c.cairn(&s, &["backup", "-n", "blog", "--node", "node-1"])
        .ok();
    let paths = listing(&s);
    assert!(has(&paths, "/volumes/blog/disk.img"), "{paths:#?}");
    assert!(has(&paths, "/volumes/blog/mysql-pv-claim/ibdata1"));
    assert!(has(&paths, "/volumes/blog/wp-pv-claim/index.php"));
    let target = s.join("restore");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    assert_eq!(
        fs::read(target.join("volumes/blog/disk.img")).unwrap(),
        fs::read(&image).unwrap()
    );
    let d = details(&s);
    let disk = d["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["claim"] == "disk")
        .unwrap()
        .clone();
    assert_eq!(disk["mode"], "block");
    assert_eq!(disk["bytes"], 3 << 20);
}

/// A PV of type hostPath on a disk image and a `volumeMode: Block` claim bound to it, in `blog`.
fn put_block_claim(c: &Cluster, image: &Path) {
    let source = json!({"hostPath": {"path": image.to_str().unwrap()}});
    put_bound_claim(c, "blog", "disk", "blog-disk-pv", source, true);
}

#[test]
fn k8s_volumes_no_method_reaches_make_the_backup_incomplete() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    // blog-wp-pv is a local volume on node-1; this machine says it is node-2, and no pod runs
    // a tar that could read /var/www/html here.
    let run = c
        .cairn(
            &s,
            &[
                "backup",
                "-n",
                "blog",
                "--node",
                "node-2",
                "--volume-method",
                "node-local",
            ],
        )
        .code(3);
    assert!(
        run.stderr.contains("volumes/blog/wp-pv-claim"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("node-1"), "{}", run.stderr);
    let paths = listing(&s);
    assert!(has(&paths, "/volumes/blog/mysql-pv-claim/ibdata1"));
    assert!(!paths
        .iter()
        .any(|p| p.starts_with("/volumes/blog/wp-pv-claim")));
}

/// A namespace `files` with a claim on a volume no node-local method reaches (NFS), mounted by pod
/// `app` at `mount`, a directory of this machine that the double's exec (a local process) sees;
/// `annotations` go on the pod.
pub fn put_exec_app(c: &Cluster, mount: &Path, annotations: Value) {
    let nfs = json!({"nfs": {"server": "nfs.example.test", "path": "/exports/files"}});
    put_bound_claim(c, "files", "shared", "files-pv", nfs, false);
    c.server
        .put(
            "pods",
            json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "app", "namespace": "files", "annotations": annotations},
               "spec": {"containers": [{"name": "main", "image": "busybox:1.36",
                                        "volumeMounts": [{"name": "data",
                                                          "mountPath": mount.to_str().unwrap()}]}],
                        "volumes": [{"name": "data",
                                     "persistentVolumeClaim": {"claimName": "shared"}}]},
               "status": {"phase": "Running"}}),
        )
        .unwrap();
}

#[test]
fn k8s_exec_streams_a_volume_as_tar_out_of_the_pod_that_mounts_it() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    let mount = s.join("pod-mount");
    let mut rng = Rng::new(3);
    write(&mount.join("uploads/a.bin"), rng.bytes(700_000));
    write(&mount.join("uploads/empty"), "");
    write(&mount.join("config.json"), "{\"x\": 1}");
    std::os::unix::fs::symlink("uploads/a.bin", mount.join("latest")).unwrap();
    chmod(&mount.join("config.json"), 0o600);
    // tar keeps whole seconds of modification time.
    for f in ["uploads/a.bin", "uploads/empty", "config.json"] {
        set_mtime(&mount.join(f), 1_700_000_000_000_000_000);
    }
    put_exec_app(&c, &mount, json!({}));
    c.cairn(&s, &["backup", "-n", "files"]).ok();
    let d = details(&s);
    let v = &d["volumes"][0];
    assert_eq!(
        (v["claim"].as_str(), v["method"].as_str()),
        (Some("shared"), Some("exec"))
    );
    assert_eq!(v["path"], "volumes/files/shared");
    let exec = c
        .server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/pods/app/exec"))
        .expect("an exec request");
    assert_eq!(exec.param("container"), Some("main"));
    let target = s.join("restore");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    assert_same_tree(&mount, &target.join("volumes/files/shared"), Compare::FILES);
}

#[test]
fn k8s_hooks_run_before_and_after_and_their_outcome_is_recorded() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    let mount = s.join("pod-mount");
    write(&mount.join("f"), "data");
    let log = s.join("app-hooks.log");
    let sh =
        |cmd: &str| json!(["/bin/sh", "-c", format!("{cmd} >> '{}'", log.display())]).to_string();
    put_exec_app(
        &c,
        &mount,
        json!({
            "pre.hook.backup.cairn.io/command": sh("echo pre"),
            "pre.hook.backup.cairn.io/container": "main",
            "post.hook.backup.cairn.io/command": sh("echo post"),
        }),
    );
    c.cairn(&s, &["backup", "-n", "files"]).ok();
    assert_eq!(fs::read_to_string(&log).unwrap(), "pre\npost\n");
    let v = &details(&s)["volumes"][0];
    assert_eq!(v["consistency"], "application");
    let phases: Vec<(&str, &str)> = v["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["phase"].as_str().unwrap(), h["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(phases, [("pre", "ok"), ("post", "ok")]);
}

#[test]
fn k8s_a_hung_or_failing_pre_hook_obeys_its_timeout_and_on_error_and_post_hooks_still_run() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    let mount = s.join("pod-mount");
    write(&mount.join("f"), "data");
    let log = s.join("app-hooks.log");
    let post = json!(["/bin/sh", "-c", format!("echo post >> '{}'", log.display())]).to_string();
    // Hangs; its timeout is 1s and on-error Continue: the volume is read, crash-consistent.
    put_exec_app(
        &c,
        &mount,
        json!({
            "pre.hook.backup.cairn.io/command": "[\"sleep\", \"60\"]",
            "pre.hook.backup.cairn.io/timeout": "1s",
            "pre.hook.backup.cairn.io/on-error": "Continue",
            "post.hook.backup.cairn.io/command": post,
        }),
    );
    let started = std::time::Instant::now();
    c.cairn(&s, &["backup", "-n", "files"]).ok();
    assert!(
        started.elapsed().as_secs() < 30,
        "the hook's timeout did not hold"
    );
    let v = &details(&s)["volumes"][0];
    assert_eq!(v["hooks"][0]["outcome"], "timed out");
    assert_eq!(v["consistency"], "crash");
    assert_eq!(v["path"], "volumes/files/shared");
    assert_eq!(fs::read_to_string(&log).unwrap(), "post\n");

    // Fails with on-error Fail (the default): the volume is not read, the backup is incomplete,
    // the post hook runs all the same.
    let mut pod = c.server.get("pods", Some("files"), "app").unwrap().unwrap();
    pod["metadata"]["annotations"] = json!({
        "pre.hook.backup.cairn.io/command": "[\"/bin/sh\", \"-c\", \"echo locked >&2; exit 7\"]",
        "post.hook.backup.cairn.io/command": post,
    });
    c.server.put("pods", pod).unwrap();
    let run = c.cairn(&s, &["backup", "-n", "files"]).code(3);
    assert!(
        run.stderr.contains("volumes/files/shared"),
        "{}",
        run.stderr
    );
    let v = &details(&s)["volumes"][0];
    assert_eq!(v["hooks"][0]["outcome"], "failed");
    assert!(v["hooks"][0]["message"]
        .as_str()
        .unwrap()
        .contains("exit code 7"));
    assert!(v["path"].is_null());
    assert!(v["error"].as_str().unwrap().contains("on-error is Fail"));
    assert_eq!(fs::read_to_string(&log).unwrap(), "post\npost\n");
    assert!(!listing(&s).iter().any(|p| p.starts_with("/volumes/files")));
}

#[test]
fn k8s_snapshots_show_the_application_and_forget_groups_by_it() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    // The same megabyte in a volume of each application.
    let shared = Rng::new(99).bytes(1 << 20);
    write(&c.node.join("shop/data-db-0/shared.bin"), &shared);
    write(&c.node.join("blog/mysql/shared.bin"), &shared);
    for args in [
        vec!["backup", "-n", "shop", "--node", "node-1"],
        vec!["backup", "-n", "shop", "--node", "node-1"],
        vec![
            "backup",
            "-n",
            "blog",
            "-l",
            "app=wordpress",
            "--node",
            "node-1",
        ],
    ] {
        c.cairn(&s, &args).ok();
    }
    let table = s.cairn(&["snapshots"]).ok().stdout();
    assert!(table.contains("k8s double: shop"), "{table}");
    assert!(
        table.contains("k8s double: blog (app=wordpress)"),
        "{table}"
    );
    let ids = s.snapshot_ids();
    assert_eq!(ids.len(), 3);
    let stats: Vec<Value> = s
        .cairn(&["snapshots", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone();
    let added = |i: usize, what: &str| stats[i]["summary"][what].as_u64().unwrap();
    // Applications deduplicate against each other and themselves: the second backup of the shop
    // adds no data, the blog's stores the megabyte it shares with the shop once only.
    assert!(added(0, "bytes_added") > 1 << 20);
    assert_eq!(added(1, "data_blobs_added"), 0);
    assert!(
        added(2, "bytes_added") < 600_000,
        "{}",
        added(2, "bytes_added")
    );
    // The second backup of the shop compared its volume with the first and read no file again.
    assert_eq!(stats[1]["parent"], stats[0]["id"]);
    assert_eq!(added(1, "files_unmodified"), 4, "{}", stats[1]["summary"]);
    assert!(
        stats[2]["parent"].is_null(),
        "the blog is another application"
    );

    s.cairn(&["forget", "--keep-last", "1", "--group-by", "app"])
        .ok();
    let left = s.cairn(&["snapshots", "--json"]).ok().json();
    let apps: Vec<String> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"]["namespaces"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(apps, ["shop", "blog"]);
}

#[test]
fn k8s_apps_lists_workloads_their_volumes_and_the_newest_snapshot_covering_them() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    c.cairn(&s, &["backup", "-n", "shop", "--node", "node-1"])
        .ok();
    let id = s.snapshot_ids().pop().unwrap();
    let args = ["apps", "-n", "shop", "-n", "blog", "--node", "node-1"];
    let table = c.cairn(&s, &args).ok().stdout();
    println!("{table}");
    let line = |workload: &str| {
        table
            .lines()
            .find(|l| l.contains(workload))
            .unwrap_or_else(|| panic!("{workload} missing:\n{table}"))
            .to_string()
    };
    assert!(line("StatefulSet/db").contains(&id[..8]));
    assert!(line("StatefulSet/db").contains("data-db-0"));
    assert!(line("StatefulSet/db").contains("node-local"));
    assert!(line("Deployment/wordpress-mysql").contains("unprotected"));
    assert!(line("Deployment/wordpress ").contains("wp-pv-claim"));
    assert!(
        !table.contains("ReplicaSet/"),
        "derived workloads are not apps"
    );

    let mut args = args.to_vec();
    args.push("--json");
    let doc = c.cairn(&s, &args).ok().json();
    let db = doc
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "db")
        .unwrap();
    assert_eq!(db["protected_by"]["snapshot"], id.as_str());
    assert_eq!(db["claims"][0]["method"], "node-local");
    // On another node, the local volume of the blog is out of reach, and no pod runs to exec in.
    let other = c
        .cairn(&s, &["apps", "-n", "blog", "--node", "node-2", "--json"])
        .ok()
        .json();
    let wp = other
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "wordpress")
        .unwrap();
    assert_eq!(wp["claims"][0]["method"], "exec", "{wp}");
}

#[test]
fn k8s_an_aggregated_api_that_refuses_the_resource_version_is_read_as_it_is_now_and_said_so() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| {
        b.aggregated("example.com", cairn_k8s_double::AggregatedRv::Reject)
    });
    c.cairn(&s, &["backup", "-n", "shop", "--volume-method", "none"])
        .ok();
    let d = details(&s);
    let late = d["not_at_resource_version"].as_array().unwrap();
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0]["resource"], "widgets.example.com");
    assert!(
        late[0]["reason"].as_str().unwrap().contains("400"),
        "{late:?}"
    );
    assert!(has(
        &listing(&s),
        "/manifests/namespaces/shop/widgets.example.com/blue.yaml"
    ));
}

#[test]
fn k8s_all_namespaces_lists_each_resource_once_and_falls_back_where_rbac_says_so() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b.forbid("secrets", Some("shop")));
    let run = c.cairn(&s, &["backup", "-A", "--node", "node-1"]).code(3);
    assert!(
        run.stderr.contains("manifests/namespaces/shop/secrets"),
        "{}",
        run.stderr
    );
    let requests = c.server.requests();
    let per_ns = |path: &str| requests.iter().filter(|r| r.path == path).count();
    // Deployments: one list across namespaces; secrets: denied across, so one per namespace.
    assert_eq!(per_ns("/apis/apps/v1/deployments"), 1);
    assert_eq!(per_ns("/apis/apps/v1/namespaces/shop/deployments"), 0);
    assert_eq!(per_ns("/api/v1/namespaces/blog/secrets"), 1);
    let paths = listing(&s);
    assert!(has(
        &paths,
        "/manifests/namespaces/blog/secrets/mysql-pass.yaml"
    ));
    assert!(has(
        &paths,
        "/manifests/namespaces/shop/deployments.apps/web.yaml"
    ));
    assert!(has(
        &paths,
        "/manifests/namespaces/blog/deployments.apps/wordpress.yaml"
    ));
    // A whole-cluster backup takes every cluster-scoped object.
    assert!(has(
        &paths,
        "/manifests/cluster/clusterroles.rbac.authorization.k8s.io/cluster-admin.yaml"
    ));
    assert!(has(
        &paths,
        "/manifests/cluster/namespaces/kube-system.yaml"
    ));
    assert_eq!(details(&s)["namespaces"], json!(["*"]));
}

/// A namespace `raw` with the block claim `disk` on a CSI volume no node-local method reaches,
/// attached by the running pod `vm` at `device`, a file of this machine that the double's exec sees.
pub fn put_block_vm(c: &Cluster, device: &Path) {
    let csi = json!({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"}});
    put_bound_claim(c, "raw", "disk", "raw-pv", csi, true);
    c.server
        .put(
            "pods",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "vm", "namespace": "raw"},
                   "spec": {"containers": [{"name": "qemu", "image": "qemu:8",
                                            "volumeDevices": [{"name": "d",
                                                               "devicePath": device.to_str().unwrap()}]}],
                            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "disk"}}]},
                   "status": {"phase": "Running"}}),
        )
        .unwrap();
}

#[test]
fn k8s_exec_streams_a_block_claim_and_reports_an_unbound_one() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    let device = s.join("dev/xvdb");
    write(&device, Rng::new(5).bytes(1_500_000));
    put_block_vm(&c, &device);
    c.server
        .put(
            "persistentvolumeclaims",
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "pending", "namespace": "raw"},
                   "spec": {"volumeMode": "Block", "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "2Mi"}}}}),
        )
        .unwrap();
    let run = c.cairn(&s, &["backup", "-n", "raw"]).ok();
    assert!(
        run.stderr.contains("raw/pending: not bound"),
        "{}",
        run.stderr
    );
    let d = details(&s);
    let disk = d["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["claim"] == "disk")
        .unwrap()
        .clone();
    assert_eq!(
        (disk["method"].as_str(), disk["mode"].as_str()),
        (Some("exec"), Some("block"))
    );
    let target = s.join("restore");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    assert_eq!(
        fs::read(target.join("volumes/raw/disk.img")).unwrap(),
        fs::read(&device).unwrap()
    );
}

/// A stub `mysql` for pod `files/app`: it prints the quiesce marker, holds for `hold` seconds,
/// and logs when it starts; the double runs it as a local process, as it would run the real client
/// in the container.
fn stub_mysql(s: &Scratch, hold: u32) -> LocalProcess {
    let bin = s.join("mysql-bin");
    let log = s.join("mysql.log");
    let script = format!(
        "#!/bin/sh\necho \"mysql $*\" >> '{}'\necho cairn-quiesced\nsleep {hold}\n",
        log.display()
    );
    write(&bin.join("mysql"), script);
    chmod(&bin.join("mysql"), 0o755);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    LocalProcess::new().setup(
        "files",
        "app",
        None,
        ProcessSetup::default().env("PATH", path),
    )
}

#[test]
fn k8s_mysql_rule_holds_its_lock_in_a_session_while_the_volume_is_read() {
    for (hold, consistency) in [(30, "application"), (0, "crash")] {
        let s = Scratch::new();
        s.init();
        let c = cluster(&s, |b| b.exec_handler(stub_mysql(&s, hold)));
        let mount = s.join("pod-mount");
        write(&mount.join("ibdata1"), Rng::new(1).bytes(3 << 20));
        put_exec_app(&c, &mount, json!({}));
        let mut pod = c.server.get("pods", Some("files"), "app").unwrap().unwrap();
        pod["spec"]["containers"][0]["image"] = "docker.io/library/mariadb:11.2".into();
        c.server.put("pods", pod).unwrap();
        let started = std::time::Instant::now();
        c.cairn(&s, &["backup", "-n", "files", "--rule", "mysql"])
            .ok();
        assert!(
            started.elapsed().as_secs() < 20,
            "cairn waited for the lock's session to end"
        );
        let log = fs::read_to_string(s.join("mysql.log")).unwrap();
        assert!(log.contains("FLUSH TABLES WITH READ LOCK"), "{log}");
        let v = &details(&s)["volumes"][0];
        let hooks: Vec<(&str, &str)> = v["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["phase"].as_str().unwrap(), h["outcome"].as_str().unwrap()))
            .collect();
        let released = if hold > 0 { "ok" } else { "failed" };
        assert_eq!(hooks, [("pre", "ok"), ("post", released)], "hold {hold}");
        assert_eq!(v["consistency"], consistency, "hold {hold}");
        assert_eq!(v["hooks"][0]["source"], "rule:mysql");
    }
}

#[test]
fn k8s_every_manifest_reads_back_as_the_object_the_server_sent_even_a_malformed_one() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    // Not what the schema allows (data values must be strings, labels too), stored all the same.
    c.server
        .put(
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "odd", "namespace": "shop",
                                "labels": {"app": "shop", "weight": 7}},
                   "data": {"n": 5, "yes": "no", "octal": "0777", "empty": ""},
                   "binaryData": "not base64 !!",
                   "x-extra": [1.5, {"y": null}, true]}),
        )
        .unwrap();
    c.cairn(&s, &["backup", "-n", "shop", "--volume-method", "none"])
        .ok();
    let target = s.join("restore");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    let root = target.join("manifests/namespaces/shop");
    let mut compared = 0;
    for resource in fs::read_dir(&root).unwrap() {
        let resource = resource.unwrap();
        let kind = resource.file_name().to_string_lossy().into_owned();
        for file in fs::read_dir(resource.path()).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(&file).unwrap();
            let stored: Value = serde_norway::from_str(&text).unwrap();
            let served = c.server.get(&kind, Some("shop"), &name).unwrap().unwrap();
            assert_eq!(stored, served, "{kind}/{name}");
            compared += 1;
        }
    }
    assert!(compared > 20, "{compared}");
    assert!(root.join("configmaps/odd.yaml").exists());
}
