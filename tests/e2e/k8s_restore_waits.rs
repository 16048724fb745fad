//! `cairn k8s restore` into a cluster that reacts: the test double's emulated controllers
//! establish CRDs, bind claims and start pods, and cairn waits for each before what needs it, then
//! runs post-restore hooks in the restored pods.

use std::fs;
use std::time::{Duration, Instant};

use cairn_k8s_double::{Establish, Readiness};
use serde_json::{json, Value};

use crate::k8s::{cluster, Cluster};
use crate::util::*;

/// Backs up the shop (no volume data).
fn backup(c: &Cluster, s: &Scratch) {
    c.cairn(s, &["backup", "-n", "shop", "--volume-method", "none"])
        .ok();
}

/// The report's wait for `resource/name`.
fn wait_of<'a>(report: &'a Value, resource: &str, name: &str) -> &'a Value {
    report["waits"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|w| w["resource"] == resource && w["name"] == name)
        .unwrap_or_else(|| panic!("no wait for {resource}/{name} in {report}"))
}

/// The report's item of `resource/name`.
fn item_of<'a>(report: &'a Value, resource: &str, name: &str) -> &'a Value {
    report["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["resource"] == resource && i["name"] == name)
        .unwrap_or_else(|| panic!("no item for {resource}/{name} in {report}"))
}

const CRD: &str = "customresourcedefinitions.apiextensions.k8s.io";
const CRD_URL: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const WIDGETS_URL: &str = "/apis/example.com/v1/namespaces/shop/widgets";

/// Removes the recorded CRD and its widget, so that a restore creates them again.
fn remove_widgets(c: &Cluster) {
    c.server.remove(CRD, None, "widgets.example.com").unwrap();
    c.server
        .remove("widgets.example.com", Some("shop"), "blue")
        .unwrap()
        .unwrap();
    c.server.clear_requests();
}

#[test]
fn k8s_restore_creates_custom_resources_once_their_crd_is_established() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| {
        b.establish_crds(Establish::After(Duration::from_millis(1500)))
    });
    backup(&c, &s);
    remove_widgets(&c);
    let report = c
        .cairn(
            &s,
            &[
                "restore",
                "latest",
                "--include-resources",
                "customresourcedefinitions.apiextensions.k8s.io,widgets.example.com",
                "--json",
            ],
        )
        .ok()
        .json();
    assert_eq!(
        item_of(&report, CRD, "widgets.example.com")["action"],
        "created"
    );
    assert_eq!(
        item_of(&report, "widgets.example.com", "blue")["action"],
        "created"
    );
    let wait = wait_of(&report, CRD, "widgets.example.com");
    assert_eq!(wait["for"], "established", "{wait}");
    assert_eq!(wait["outcome"], "done", "{wait}");
    assert!(wait["seconds"].as_f64().unwrap() >= 1.4, "{wait}");
    // In the request log: the CRD is created, read until it is established, and only then is the
    // widget created.
    let requests = c.server.requests();
    let at = |method: &str, path: &str| {
        requests
            .iter()
            .position(|r| r.method == method && r.path == path)
            .unwrap_or_else(|| panic!("no {method} {path}"))
    };
    let crd_created = at("POST", CRD_URL);
    let widget_created = at("POST", WIDGETS_URL);
    let reads = requests[crd_created..widget_created]
        .iter()
        .filter(|r| r.method == "GET" && r.path == format!("{CRD_URL}/widgets.example.com"))
        .count();
    assert!(reads >= 2, "{reads} reads of the CRD before the widget");
    let crd = c
        .server
        .get(CRD, None, "widgets.example.com")
        .unwrap()
        .unwrap();
    let conditions = crd["status"]["conditions"].as_array().unwrap();
    assert!(conditions
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True"));
    assert!(c
        .server
        .get("widgets.example.com", Some("shop"), "blue")
        .unwrap()
        .is_some());
}

#[test]
fn k8s_restore_fails_custom_resources_whose_crd_is_never_established() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b.establish_crds(Establish::Never));
    backup(&c, &s);
    remove_widgets(&c);
    let run = c
        .cairn(
            &s,
            &[
                "restore",
                "latest",
                "--include-resources",
                "customresourcedefinitions.apiextensions.k8s.io,widgets.example.com",
                "--wait-timeout",
                "1s",
                "--json",
            ],
        )
        .code(3);
    let report = run.json();
    let wait = wait_of(&report, CRD, "widgets.example.com");
    assert_eq!(wait["outcome"], "timed out", "{wait}");
    let widget = item_of(&report, "widgets.example.com", "blue");
    assert_eq!(widget["action"], "failed");
    let reason = widget["reason"].as_str().unwrap();
    assert!(reason.contains("was not established"), "{reason}");
    assert!(!c.server.requests().iter().any(|r| r.path == WIDGETS_URL));
    assert!(run.stderr.contains("incomplete"), "{}", run.stderr);
}

/// A claim in the shop of class `class` asking for `size`.
fn claim(name: &str, class: &str, size: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": name, "namespace": "shop"},
           "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": size}}}})
}

#[test]
fn k8s_restore_reports_a_claim_that_does_not_bind_and_waits_for_one_that_does() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b.bind_claims());
    c.server
        .put("persistentvolumeclaims", claim("cache", "manual", "1Gi"))
        .unwrap();
    backup(&c, &s);
    for name in ["cache", "data-db-0"] {
        c.server
            .remove("persistentvolumeclaims", Some("shop"), name)
            .unwrap()
            .unwrap();
    }
    // A volume that fits `cache`; `data-db-0`'s recorded volume is still bound to the old claim,
    // and nothing provisions volumes of its class.
    c.server
        .put(
            "persistentvolumes",
            json!({"apiVersion": "v1", "kind": "PersistentVolume",
                   "metadata": {"name": "manual-pv"},
                   "spec": {"storageClassName": "manual", "capacity": {"storage": "2Gi"},
                            "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/x"}},
                   "status": {"phase": "Available"}}),
        )
        .unwrap();
    let start = Instant::now();
    let run = c
        .cairn(
            &s,
            &[
                "restore",
                "latest",
                "--include-resources",
                "persistentvolumeclaims",
                "--wait-timeout",
                "2s",
                "--json",
            ],
        )
        .code(3);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    let report = run.json();
    let bound = wait_of(&report, "persistentvolumeclaims", "cache");
    assert_eq!(
        (&bound["for"], &bound["outcome"]),
        (&json!("bound"), &json!("done"))
    );
    let pending = wait_of(&report, "persistentvolumeclaims", "data-db-0");
    assert_eq!(pending["outcome"], "timed out", "{pending}");
    assert!(pending["seconds"].as_f64().unwrap() >= 2.0, "{pending}");
    let reason = pending["reason"].as_str().unwrap();
    assert!(reason.contains("not bound within 2s"), "{reason}");
    assert!(reason.contains("stays in the repository"), "{reason}");
    assert!(run.stderr.contains("did not become"), "{}", run.stderr);
    let cache = c
        .server
        .get("persistentvolumeclaims", Some("shop"), "cache")
        .unwrap()
        .unwrap();
    assert_eq!(cache["spec"]["volumeName"], "manual-pv");
    let volume = c
        .server
        .get("persistentvolumes", None, "manual-pv")
        .unwrap()
        .unwrap();
    assert_eq!(volume["spec"]["claimRef"]["uid"], cache["metadata"]["uid"]);

    // With a provisioner for the class, the claim gets a new volume of its own. The class binds
    // when a pod uses the claim (WaitForFirstConsumer), so the claim is waited for only after the
    // StatefulSet that mounts it is created.
    let s = Scratch::new();
    s.init();
    let volumes = s.join("provisioned");
    let c = cluster(&s, |b| {
        b.provisioner("rancher.io/local-path", &volumes)
            .run_workloads(Readiness::Ready)
    });
    backup(&c, &s);
    c.server
        .remove("persistentvolumeclaims", Some("shop"), "data-db-0")
        .unwrap()
        .unwrap();
    c.server
        .remove("statefulsets.apps", Some("shop"), "db")
        .unwrap()
        .unwrap();
    c.server.clear_requests();
    let report = c
        .cairn(
            &s,
            &[
                "restore",
                "latest",
                "--include-resources",
                "persistentvolumeclaims,statefulsets.apps",
                "--json",
            ],
        )
        .ok()
        .json();
    let claim_wait = wait_of(&report, "persistentvolumeclaims", "data-db-0");
    assert_eq!(claim_wait["outcome"], "done", "{claim_wait}");
    let waits = report["waits"].as_array().unwrap();
    assert_eq!(waits[0]["resource"], "persistentvolumeclaims", "{report}");
    assert_eq!(waits[1]["resource"], "statefulsets.apps", "{report}");
    let requests = c.server.requests();
    let first = |method: &str, path: &str| {
        requests
            .iter()
            .position(|r| r.method == method && r.path == path)
            .unwrap_or_else(|| panic!("no {method} {path}"))
    };
    assert!(
        first("POST", "/apis/apps/v1/namespaces/shop/statefulsets")
            < first(
                "GET",
                "/api/v1/namespaces/shop/persistentvolumeclaims/data-db-0"
            )
    );
    let claim = c
        .server
        .get("persistentvolumeclaims", Some("shop"), "data-db-0")
        .unwrap()
        .unwrap();
    let volume = claim["spec"]["volumeName"].as_str().unwrap();
    assert_ne!(volume, "pvc-shop-data-db-0");
    assert!(volumes.join(volume).is_dir());
}

/// A Deployment of `replicas` pods whose template has a post-restore hook running `script`.
fn hooked_deployment(name: &str, replicas: u64, script: &str, on_error: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": "shop"},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}, "annotations": {
                            "post.hook.restore.cairn.io/command":
                                json!(["sh", "-c", script]).to_string(),
                            "post.hook.restore.cairn.io/container": "app",
                            "post.hook.restore.cairn.io/timeout": "20s",
                            "post.hook.restore.cairn.io/on-error": on_error}},
                        "spec": {"containers": [{"name": "app", "image": "busybox"}]}}}})
}

#[test]
fn k8s_restore_runs_post_restore_hooks_once_the_pods_are_ready() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b.run_workloads(Readiness::Ready));
    let marker = s.join("restored.log");
    let script = format!("echo restored >> '{}'", marker.display());
    c.server
        .put(
            "deployments.apps",
            hooked_deployment("hooked", 2, &script, "Fail"),
        )
        .unwrap();
    c.server
        .put(
            "deployments.apps",
            hooked_deployment("broken", 1, "exit 3", "Fail"),
        )
        .unwrap();
    c.server
        .put(
            "deployments.apps",
            hooked_deployment("tolerant", 1, "exit 4", "Continue"),
        )
        .unwrap();
    backup(&c, &s);
    for name in ["hooked", "broken", "tolerant"] {
        c.server
            .remove("deployments.apps", Some("shop"), name)
            .unwrap()
            .unwrap();
    }
    let path = |name: &str| format!("manifests/namespaces/shop/deployments.apps/{name}.yaml");
    let (hooked, tolerant) = (path("hooked"), path("tolerant"));

    // The hooks that succeed, or may fail, leave the restore complete.
    let report = c
        .cairn(&s, &["restore", "latest", &hooked, &tolerant, "--json"])
        .ok()
        .json();
    let wait = wait_of(&report, "deployments.apps", "hooked");
    assert_eq!(
        (&wait["for"], &wait["outcome"]),
        (&json!("ready"), &json!("done"))
    );
    let hooks = report["hooks"].as_array().unwrap();
    let of = |name: &str| -> Vec<&Value> { hooks.iter().filter(|h| h["name"] == name).collect() };
    let ran = of("hooked");
    assert_eq!(ran.len(), 2, "{hooks:?}");
    let pods: Vec<Value> = c
        .server
        .objects("pods", Some("shop"))
        .unwrap()
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["app"] == "hooked")
        .collect();
    assert_eq!(pods.len(), 2);
    for h in &ran {
        assert_eq!(h["outcome"], "ok", "{h}");
        assert_eq!(h["container"], "app");
        assert!(
            pods.iter().any(|p| p["metadata"]["name"] == h["pod"]),
            "{h}"
        );
    }
    assert_eq!(fs::read_to_string(&marker).unwrap(), "restored\nrestored\n");
    let tolerated = of("tolerant");
    assert_eq!(tolerated.len(), 1, "{hooks:?}");
    assert_eq!(tolerated[0]["outcome"], "failed");
    assert_eq!(tolerated[0]["on_error"], "Continue");

    // A hook that fails with on-error Fail makes the restore incomplete.
    let run = c.cairn(&s, &["restore", "latest", &path("broken")]).code(3);
    let out = run.stdout();
    let line = out
        .lines()
        .find(|l| l.starts_with("hook"))
        .unwrap_or_else(|| panic!("no hook line in {out}"));
    assert!(line.contains("failed"), "{line}");
    assert!(
        out.contains("wait     deployments.apps/shop/broken"),
        "{out}"
    );
    assert!(
        run.stderr.contains("1 post-restore hooks failed"),
        "{}",
        run.stderr
    );
}

#[test]
fn k8s_restore_does_not_run_hooks_in_pods_that_never_become_ready() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b.run_workloads(Readiness::Never));
    let marker = s.join("restored.log");
    let script = format!("echo restored >> '{}'", marker.display());
    c.server
        .put(
            "deployments.apps",
            hooked_deployment("hooked", 1, &script, "Fail"),
        )
        .unwrap();
    backup(&c, &s);
    c.server
        .remove("deployments.apps", Some("shop"), "hooked")
        .unwrap()
        .unwrap();
    let report = c
        .cairn(
            &s,
            &[
                "restore",
                "latest",
                "manifests/namespaces/shop/deployments.apps/hooked.yaml",
                "--wait-timeout",
                "1s",
                "--json",
            ],
        )
        .code(3)
        .json();
    let wait = wait_of(&report, "deployments.apps", "hooked");
    assert_eq!(wait["outcome"], "timed out", "{wait}");
    assert!(
        wait["reason"]
            .as_str()
            .unwrap()
            .contains("0 of 1 pods ready"),
        "{wait}"
    );
    let hook = &report["hooks"][0];
    assert_eq!(hook["outcome"], "not run", "{report}");
    assert!(!marker.exists());
    // Without waiting, nothing is waited for and no hook runs; the restore is complete.
    c.server
        .remove("deployments.apps", Some("shop"), "hooked")
        .unwrap()
        .unwrap();
    let report = c
        .cairn(
            &s,
            &[
                "restore",
                "latest",
                "manifests/namespaces/shop/deployments.apps/hooked.yaml",
                "--no-wait",
                "--json",
            ],
        )
        .ok()
        .json();
    assert!(report.get("waits").is_none(), "{report}");
    assert_eq!(report["hooks"][0]["outcome"], "skipped");
    assert!(report["hooks"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("--no-wait"));
    assert!(!marker.exists());
}
