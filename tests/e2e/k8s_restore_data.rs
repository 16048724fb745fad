//! `cairn k8s restore` of volume data: into volumes cairn provisions under `--volume-root`, into
//! the pod that mounts a claim (through the double's exec, a local `tar -x`), and into a
//! directory; data that is there already is kept unless `--overwrite-data`.

use std::fs;

use serde_json::{json, Value};

use cairn_k8s_double::{Builder, Establish, Readiness};

use crate::k8s::{cluster, put_block_vm, put_exec_app, Cluster};
use crate::util::*;

/// The report line of the one volume of a restore.
fn only_volume(report: &Value) -> &Value {
    let volumes = report["volumes"].as_array().expect("a volumes list");
    assert_eq!(volumes.len(), 1, "{report:#}");
    &volumes[0]
}

/// Backs up the shop with its database's node-local volume (`node/shop/data-db-0`) from a double
/// that `configure` sets up.
fn backed_up_shop(s: &Scratch, configure: impl FnOnce(Builder) -> Builder) -> Cluster {
    s.init();
    let c = cluster(s, configure);
    c.cairn(s, &["backup", "-n", "shop", "--node", "node-1"])
        .ok();
    c
}

#[test]
fn k8s_restore_provisions_volumes_under_volume_root_with_their_data_before_the_workloads() {
    let s = Scratch::new();
    // CRDs become established, claims bind, workloads get ready pods: the restore's waits hold.
    let c = backed_up_shop(&s, |b| {
        b.establish_crds(Establish::Now)
            .bind_claims()
            .run_workloads(Readiness::Ready)
    });
    let root = s.join("volumes");
    let args = [
        "restore",
        "latest",
        "-n",
        "shop",
        "--namespace-mapping",
        "shop:shop2",
        "--volume-root",
        root.to_str().unwrap(),
        "--node",
        "node-1",
        "--json",
    ];
    let report = c.cairn(&s, &args).ok().json();
    let data = root.join("shop2/data-db-0");
    assert_same_tree(&c.node.join("shop/data-db-0"), &data, Compare::FILES);
    let v = only_volume(&report);
    assert_eq!(
        (
            v["claim"].as_str(),
            v["action"].as_str(),
            v["method"].as_str()
        ),
        (Some("data-db-0"), Some("restored"), Some("node-local")),
        "{v}"
    );
    assert_eq!(v["target"], data.to_str().unwrap());
    // The claim is bound to a hostPath PV on this node, in place of the snapshot's PV.
    let pv = c
        .server
        .get("persistentvolumes", None, "cairn-shop2.data-db-0")
        .unwrap()
        .expect("the provisioned PV");
    assert_eq!(pv["spec"]["hostPath"]["path"], data.to_str().unwrap());
    assert_eq!(pv["spec"]["claimRef"]["namespace"], "shop2");
    let pvc = c
        .server
        .get("persistentvolumeclaims", Some("shop2"), "data-db-0")
        .unwrap()
        .expect("the restored claim");
    assert_eq!(pvc["spec"]["volumeName"], "cairn-shop2.data-db-0");
    let old = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["resource"] == "persistentvolumes" && i["name"] == "pvc-shop-data-db-0")
        .expect("the snapshot's PV in the report");
    assert_eq!(old["action"], "skipped", "{old}");
    // The volume comes before its claim, the claim before the StatefulSet that mounts it.
    let posts: Vec<String> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect();
    let at = |suffix: &str| {
        posts
            .iter()
            .position(|p| p.ends_with(suffix))
            .unwrap_or_else(|| panic!("no POST to {suffix} in {posts:?}"))
    };
    assert!(at("/persistentvolumes") < at("/shop2/persistentvolumeclaims"));
    assert!(at("/shop2/persistentvolumeclaims") < at("/shop2/statefulsets"));

    // Again, with the claim still there: its volume is its own, nothing is written beside it.
    write(&data.join("PG_VERSION"), "changed since\n");
    let v = only_volume(&c.cairn(&s, &args).ok().json()).clone();
    assert_eq!(v["action"], "skipped", "{v}");
    assert!(v["reason"]
        .as_str()
        .unwrap()
        .contains("not created by this restore"));
    // With the claim and PV gone but their directory kept (reclaim policy Retain), the new
    // claim's volume holds data and is left as it is ...
    let forget_claim = || {
        c.server
            .remove("persistentvolumeclaims", Some("shop2"), "data-db-0")
            .unwrap();
        c.server
            .remove("persistentvolumes", None, "cairn-shop2.data-db-0")
            .unwrap();
    };
    forget_claim();
    let v = only_volume(&c.cairn(&s, &args).ok().json()).clone();
    assert_eq!(v["action"], "skipped", "{v}");
    assert!(v["reason"].as_str().unwrap().contains("--overwrite-data"));
    assert_eq!(
        fs::read(data.join("PG_VERSION")).unwrap(),
        b"changed since\n"
    );
    // ... unless told to overwrite it.
    forget_claim();
    let mut again = args.to_vec();
    again.push("--overwrite-data");
    let v = c.cairn(&s, &again).ok().json()["volumes"][0].clone();
    assert_eq!(v["action"], "restored", "{v}");
    assert_same_tree(&c.node.join("shop/data-db-0"), &data, Compare::FILES);
}

#[test]
fn k8s_restore_data_only_streams_a_volume_into_the_pod_that_mounts_its_claim() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    let mount = s.join("pod-mount");
    let mut rng = Rng::new(11);
    write(&mount.join("uploads/a.bin"), rng.bytes(3_000_000));
    write(&mount.join("uploads/empty"), "");
    write(&mount.join("config.json"), "{\"x\": 1}");
    std::os::unix::fs::symlink("uploads/a.bin", mount.join("latest")).unwrap();
    chmod(&mount.join("config.json"), 0o640);
    for f in ["uploads/a.bin", "uploads/empty", "config.json"] {
        set_mtime(&mount.join(f), 1_700_000_000_000_000_000);
    }
    put_exec_app(&c, &mount, json!({}));
    c.cairn(&s, &["backup", "-n", "files"]).ok();
    let expected = s.join("expected");
    s.cairn(&[
        "restore",
        "latest:volumes/files/shared",
        "--target",
        expected.to_str().unwrap(),
    ])
    .ok();
    fs::remove_dir_all(&mount).unwrap();
    fs::create_dir_all(mount.join("lost+found")).unwrap();

    let args = [
        "restore",
        "latest",
        "--data-only",
        "-n",
        "files",
        "--wait-timeout",
        "2s",
        "--json",
    ];
    let report = c.cairn(&s, &args).ok().json();
    let v = only_volume(&report);
    assert_eq!(
        (v["action"].as_str(), v["method"].as_str()),
        (Some("restored"), Some("exec")),
        "{v}"
    );
    assert_eq!(v["files"], 3);
    assert_eq!(v["bytes"], 3_000_008);
    fs::remove_dir(mount.join("lost+found")).unwrap();
    assert_same_tree(&expected, &mount, Compare::FILES);
    // No object was created: data only.
    assert!(report["items"].as_array().unwrap().is_empty());
    assert!(!c
        .server
        .requests()
        .iter()
        .any(|r| r.method == "POST" && !r.path.ends_with("/exec")));
    // The volume holds data now: a second run leaves it alone.
    let v = c.cairn(&s, &args).ok().json()["volumes"][0].clone();
    assert_eq!(v["action"], "skipped", "{v}");
}

#[test]
fn k8s_restore_reports_a_claim_no_method_reaches_and_ends_incomplete() {
    let s = Scratch::new();
    let c = backed_up_shop(&s, |b| b);
    // Into another namespace without --volume-root: the claim is created but nothing binds it
    // (the double runs no provisioner) and no pod mounts it.
    let out = c
        .cairn(
            &s,
            &[
                "restore",
                "latest",
                "-n",
                "shop",
                "--namespace-mapping",
                "shop:shop3",
                "--include-resources",
                "namespaces,persistentvolumeclaims",
                "--wait-timeout",
                "1s",
                "--json",
            ],
        )
        .code(3);
    let report = out.json();
    let v = only_volume(&report);
    assert_eq!(v["action"], "failed", "{v}");
    let why = v["reason"].as_str().unwrap();
    assert!(why.contains("not bound"), "{why}");
    assert!(why.contains("no pod mounts it"), "{why}");
    assert!(why.contains("volumes/shop/data-db-0"), "{why}");
}

#[test]
fn k8s_restore_to_dir_writes_volume_data_beside_the_manifests() {
    let s = Scratch::new();
    let c = backed_up_shop(&s, |b| b);
    let out = s.join("out");
    let report = s
        .cairn(&[
            "k8s",
            "restore",
            "latest",
            "--to-dir",
            out.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    let v = only_volume(&report);
    assert_eq!(v["action"], "written", "{v}");
    assert_same_tree(
        &c.node.join("shop/data-db-0"),
        &out.join("volumes/shop/data-db-0"),
        Compare::FILES,
    );
    let manifests_only = s.join("manifests-only");
    let report = s
        .cairn(&[
            "k8s",
            "restore",
            "latest",
            "--manifests-only",
            "--to-dir",
            manifests_only.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert!(report["volumes"].as_array().unwrap().is_empty());
    assert!(!manifests_only.join("volumes").exists());
}

#[test]
fn k8s_restore_writes_a_block_image_back_into_the_device_of_the_pod_that_mounts_it() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    let device = s.join("dev/xvdb");
    let image = Rng::new(5).bytes(1_500_000);
    write(&device, &image);
    put_block_vm(&c, &device);
    c.cairn(&s, &["backup", "-n", "raw"]).ok();
    // A fresh (zeroed) device of the same size, as a new volume would be.
    write(&device, vec![0u8; image.len()]);
    let args = ["restore", "latest", "--data-only", "-n", "raw", "--json"];
    let v = c.cairn(&s, &args).ok().json()["volumes"][0].clone();
    assert_eq!(
        (
            v["method"].as_str(),
            v["action"].as_str(),
            v["bytes"].as_u64()
        ),
        (Some("exec"), Some("restored"), Some(1_500_000)),
        "{v}"
    );
    assert_eq!(v["source"], "volumes/raw/disk.img");
    assert!(fs::read(&device).unwrap() == image, "the device differs");
    // It holds data now: left alone without --overwrite-data.
    let v = c.cairn(&s, &args).ok().json()["volumes"][0].clone();
    assert_eq!(v["action"], "skipped", "{v}");
}
