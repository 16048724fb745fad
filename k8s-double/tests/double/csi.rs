//! The opt-in controllers: CSI snapshots and claims provisioned from them, and Jobs run as local
//! processes, driven through the API as a client would.

use std::path::Path;
use std::time::Duration;

use cairn_k8s_double::ApiServer;
use kube::Client;
use serde_json::{json, Value};

use crate::util::builder;

const DRIVER: &str = "hostpath.csi.k8s.io";
const SNAPSHOTS: &str = "/apis/snapshot.storage.k8s.io/v1/namespaces/shop/volumesnapshots";
const CLAIMS: &str = "/api/v1/namespaces/shop/persistentvolumeclaims";
const JOBS: &str = "/apis/batch/v1/namespaces/shop/jobs";

async fn send(client: &Client, method: &str, path: &str, body: Option<Value>) -> Value {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
        .unwrap();
    client.request::<Value>(request).await.unwrap()
}

/// A claim `shop/source` bound to a CSI volume `vol-1` of the driver holding `file`.
fn seed_source(server: &ApiServer, root: &Path) {
    std::fs::create_dir_all(root.join("vol-1/sub")).unwrap();
    std::fs::write(root.join("vol-1/sub/file"), b"snapshotted").unwrap();
    server
        .put(
            "persistentvolumes",
            json!({"metadata": {"name": "pv-source"},
                   "spec": {"csi": {"driver": DRIVER, "volumeHandle": "vol-1"},
                            "capacity": {"storage": "1Gi"}}}),
        )
        .unwrap();
    server
        .put(
            "persistentvolumeclaims",
            json!({"metadata": {"name": "source", "namespace": "shop"},
                   "spec": {"volumeName": "pv-source",
                            "resources": {"requests": {"storage": "1Gi"}}}}),
        )
        .unwrap();
}

fn snapshot() -> Value {
    json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
           "metadata": {"name": "snap"},
           "spec": {"source": {"persistentVolumeClaimName": "source"}}})
}

fn clone_claim() -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "clone"},
           "spec": {"dataSource": {"apiGroup": "snapshot.storage.k8s.io",
                                   "kind": "VolumeSnapshot", "name": "snap"},
                    "resources": {"requests": {"storage": "1Gi"}}}})
}

#[tokio::test]
async fn a_snapshot_is_taken_provisioned_from_and_cleaned_up() {
    let root = tempfile::tempdir().unwrap();
    let server = builder().csi_driver(DRIVER, root.path()).start().unwrap();
    let client = crate::util::client(&server).await;
    seed_source(&server, root.path());
    let list = send(&client, "GET", "/apis/snapshot.storage.k8s.io/v1", None).await;
    assert_eq!(list["resources"][3]["name"], "volumesnapshots");
    let taken = send(&client, "POST", SNAPSHOTS, Some(snapshot())).await;
    assert!(
        taken["status"].is_null(),
        "the answer is the object created"
    );
    let ready = send(&client, "GET", &format!("{SNAPSHOTS}/snap"), None).await;
    assert_eq!(ready["status"]["readyToUse"], true);
    assert_eq!(ready["status"]["restoreSize"], "1Gi");
    let content = ready["status"]["boundVolumeSnapshotContentName"]
        .as_str()
        .unwrap();
    assert!(server
        .get(
            "volumesnapshotcontents.snapshot.storage.k8s.io",
            None,
            content
        )
        .unwrap()
        .is_some());
    // The source changes after the snapshot; the clone has the data as it was.
    std::fs::write(root.path().join("vol-1/sub/file"), b"changed").unwrap();
    send(&client, "POST", CLAIMS, Some(clone_claim())).await;
    let clone = send(&client, "GET", &format!("{CLAIMS}/clone"), None).await;
    assert_eq!(clone["status"]["phase"], "Bound");
    let pv = clone["spec"]["volumeName"].as_str().unwrap().to_string();
    let data = root.path().join(&pv);
    assert_eq!(
        std::fs::read(data.join("sub/file")).unwrap(),
        b"snapshotted"
    );

    send(&client, "DELETE", &format!("{SNAPSHOTS}/snap"), None).await;
    send(&client, "DELETE", &format!("{CLAIMS}/clone"), None).await;
    let contents = server
        .objects("volumesnapshotcontents.snapshot.storage.k8s.io", None)
        .unwrap();
    assert!(contents.is_empty());
    assert!(server
        .get("persistentvolumes", None, &pv)
        .unwrap()
        .is_none());
    assert!(!data.exists());
    let snapshots = std::fs::read_dir(root.path().join("snapshots")).unwrap();
    assert_eq!(snapshots.count(), 0);
    assert!(
        root.path().join("vol-1/sub/file").exists(),
        "the source stays"
    );
}

#[tokio::test]
async fn a_snapshot_that_never_becomes_ready_provisions_nothing() {
    let root = tempfile::tempdir().unwrap();
    let server = builder()
        .csi_driver(DRIVER, root.path())
        .snapshots_never_ready()
        .start()
        .unwrap();
    let client = crate::util::client(&server).await;
    seed_source(&server, root.path());
    send(&client, "POST", SNAPSHOTS, Some(snapshot())).await;
    let snap = send(&client, "GET", &format!("{SNAPSHOTS}/snap"), None).await;
    assert_eq!(snap["status"]["readyToUse"], false);
    send(&client, "POST", CLAIMS, Some(clone_claim())).await;
    let clone = send(&client, "GET", &format!("{CLAIMS}/clone"), None).await;
    assert!(clone["spec"]["volumeName"].is_null());
}

/// Polls the Job until it has a condition; its type and reason.
async fn finished(client: &Client, name: &str) -> (String, String) {
    for _ in 0..200 {
        let job = send(client, "GET", &format!("{JOBS}/{name}"), None).await;
        if let Some(c) = job["status"]["conditions"].get(0) {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            return (text("type"), text("reason"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("Job {name} never finished");
}

fn job(name: &str, script: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
           "spec": {"backoffLimit": 0, "template": {"spec": {
               "restartPolicy": "Never",
               "containers": [{"name": "main", "image": "example.test/shell:1.0",
                               "args": ["-c", script, "sh", "/data/sub/file"],
                               "env": [{"name": "GREETING",
                                        "valueFrom": {"secretKeyRef": {"name": "words",
                                                                       "key": "greeting"}}},
                                       {"name": "OUT", "value": "/data/out"}],
                               "volumeMounts": [{"name": "v", "mountPath": "/data"}]}],
               "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "source"}}]}}}})
}

#[tokio::test]
async fn jobs_run_their_container_with_mounts_and_secrets_and_report_how_it_ended() {
    let root = tempfile::tempdir().unwrap();
    let server = builder()
        .csi_driver(DRIVER, root.path())
        .run_jobs("example.test/shell", "/bin/sh")
        .start()
        .unwrap();
    let client = crate::util::client(&server).await;
    seed_source(&server, root.path());
    server
        .put(
            "secrets",
            json!({"metadata": {"name": "words", "namespace": "shop"},
                   "data": {"greeting": "aGVsbG8="}}),
        )
        .unwrap();
    // Arguments and variables that name paths below a mount are rewritten, not a script's text.
    let script = r#"cat "$1" > "$OUT" && echo "$GREETING" >> "$OUT""#;
    send(&client, "POST", JOBS, Some(job("ok", script))).await;
    assert_eq!(finished(&client, "ok").await.0, "Complete");
    let out = std::fs::read_to_string(root.path().join("vol-1/out")).unwrap();
    assert_eq!(out, "snapshottedhello\n");

    send(&client, "POST", JOBS, Some(job("bad", "exit 3"))).await;
    assert_eq!(
        finished(&client, "bad").await,
        ("Failed".to_string(), "BackoffLimitExceeded".to_string())
    );
}
