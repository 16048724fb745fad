//! `cairn k8s backup` by the csi-snapshot method: the double emulates a CSI driver on a local
//! directory with the snapshot controller, and runs the mover Job as a local process of this very
//! `cairn` binary, which writes into the same repository.

use std::fs;
use std::path::{Path, PathBuf};

use cairn_k8s_double::Builder;
use serde_json::{json, Value};

use crate::k8s::{cluster, details, listing, put_bound_claim, Cluster};
use crate::util::*;

const DRIVER: &str = "hostpath.csi.k8s.io";
const IMAGE: &str = "ghcr.io/cairn-backup/cairn";

/// The double with the CSI driver's volumes under `csi/`, its snapshot class, Jobs of the cairn
/// image run by `mover`, and a claim `vault/data` on a CSI volume whose files are returned.
fn csi_cluster(
    s: &Scratch,
    mover: &Path,
    configure: impl FnOnce(Builder) -> Builder,
) -> (Cluster, PathBuf) {
    let root = s.join("csi");
    let c = cluster(s, |b| {
        configure(b.csi_driver(DRIVER, &root).run_jobs(IMAGE, mover))
    });
    c.server
        .put(
            "volumesnapshotclasses.snapshot.storage.k8s.io",
            json!({"metadata": {"name": "csi-hostpath-snapclass"}, "driver": DRIVER,
                   "deletionPolicy": "Delete"}),
        )
        .unwrap();
    let csi = json!({"csi": {"driver": DRIVER, "volumeHandle": "vol-vault"}});
    put_bound_claim(&c, "vault", "data", "pv-vault-data", csi, false);
    let data = root.join("vol-vault");
    let mut rng = Rng::new(23);
    write(&data.join("secrets.db"), rng.bytes(700_000));
    write(&data.join("logs/today.log"), "opened\nsealed\n");
    std::os::unix::fs::symlink("secrets.db", data.join("current")).unwrap();
    (c, data)
}

/// What the mover left in the cluster, as `resource/name`: snapshots and contents, Jobs, claims,
/// Secrets in `vault` but the test's own claims, and PVs of the driver but the test's own.
fn left_in_cluster(c: &Cluster) -> Vec<String> {
    let mut out = Vec::new();
    let own = ["data", "disk", "pv-vault-data", "pv-vault-disk"];
    for (resource, ns) in [
        ("volumesnapshots.snapshot.storage.k8s.io", Some("vault")),
        ("volumesnapshotcontents.snapshot.storage.k8s.io", None),
        ("jobs.batch", Some("vault")),
        ("persistentvolumeclaims", Some("vault")),
        ("secrets", Some("vault")),
        ("persistentvolumes", None),
    ] {
        for o in c.server.objects(resource, ns).unwrap() {
            let name = o["metadata"]["name"].as_str().unwrap().to_string();
            let other_app = resource == "persistentvolumes" && o["spec"]["csi"]["driver"] != DRIVER;
            if !own.contains(&name.as_str()) && !other_app {
                out.push(format!("{resource}/{name}"));
            }
        }
    }
    out
}

/// The claim `ns/name` and the directory of the driver's volume it is bound to.
fn claim_data(c: &Cluster, s: &Scratch, ns: &str, name: &str) -> (Value, PathBuf) {
    let claim = c
        .server
        .get("persistentvolumeclaims", Some(ns), name)
        .unwrap()
        .unwrap_or_else(|| panic!("no claim {ns}/{name}"));
    let pv = claim["spec"]["volumeName"].as_str().unwrap();
    let pv = c
        .server
        .get("persistentvolumes", None, pv)
        .unwrap()
        .unwrap();
    let dir = s
        .join("csi")
        .join(pv["spec"]["csi"]["volumeHandle"].as_str().unwrap());
    (claim, dir)
}

fn vault_volume(s: &Scratch) -> Value {
    details(s)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["namespace"] == "vault" && v["claim"] == "data")
        .cloned()
        .unwrap()
}

/// The tags of every snapshot in the repository.
fn all_tags(s: &Scratch) -> Vec<Vec<String>> {
    s.cairn(&["snapshots", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|snap| {
            snap["tags"]
                .as_array()
                .map(|t| t.iter().map(|t| t.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        })
        .collect()
}

fn posted(c: &Cluster, collection_suffix: &str) -> usize {
    c.server
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(collection_suffix))
        .count()
}

#[test]
fn k8s_csi_snapshot_moves_a_volume_through_a_job_and_restores_it_byte_for_byte() {
    let s = Scratch::new();
    s.init();
    let (c, data) = csi_cluster(&s, Path::new(CAIRN), |b| b);
    let run = c
        .cairn(&s, &["backup", "-n", "vault", "--node", "node-1"])
        .ok();
    assert!(
        run.stdout().contains("volumes/vault/data (csi-snapshot"),
        "{}",
        run.stdout()
    );
    let paths = listing(&s);
    for want in [
        "/volumes/vault/data/secrets.db",
        "/volumes/vault/data/logs/today.log",
        "/volumes/vault/data/current",
        "/manifests/namespaces/vault/persistentvolumeclaims/data.yaml",
    ] {
        assert!(paths.iter().any(|p| p == want), "{want} not in {paths:#?}");
    }
    let v = vault_volume(&s);
    assert_eq!(v["method"], "csi-snapshot");
    assert_eq!(v["path"], "volumes/vault/data");
    assert_eq!(v["bytes"], 700_000 + 14);
    assert!(v.get("error").is_none(), "{v}");
    let target = s.join("restored");
    s.cairn(&[
        "restore",
        "latest:/volumes/vault/data",
        "--target",
        target.to_str().unwrap(),
    ])
    .ok();
    assert_same_tree(&data, &target, Compare::FILES);
    // The mover's objects were made, and are all gone; so is its temporary snapshot.
    for made in [
        "/secrets",
        "/volumesnapshots",
        "/persistentvolumeclaims",
        "/jobs",
    ] {
        assert_eq!(posted(&c, made), 1, "POST …{made}");
    }
    assert_eq!(left_in_cluster(&c), Vec::<String>::new());
    assert_eq!(fs::read_dir(s.join("csi/snapshots")).unwrap().count(), 0);
    let tags = all_tags(&s);
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert!(!tags[0].iter().any(|t| t.starts_with("cairn-mover=")));
    s.cairn(&["check"]).ok();
}

#[test]
fn k8s_csi_snapshot_job_that_fails_leaves_the_volume_unread_and_cleans_up() {
    let s = Scratch::new();
    s.init();
    let mover = s.join("bin/failing-mover");
    write(
        &mover,
        "#!/bin/sh\necho 'cannot open the repository' >&2\nexit 1\n",
    );
    chmod(&mover, 0o755);
    let (c, _) = csi_cluster(&s, &mover, |b| b);
    let run = c
        .cairn(
            &s,
            &["backup", "-n", "vault", "--volume-method", "csi-snapshot"],
        )
        .code(3);
    assert!(run.stderr.contains("volumes/vault/data"), "{}", run.stderr);
    let v = vault_volume(&s);
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("the mover Job vault/cairn-mover-"),
        "{error}"
    );
    assert!(error.contains("failed"), "{error}");
    assert_eq!(v["method"], "csi-snapshot");
    assert!(v.get("path").is_none());
    assert_eq!(posted(&c, "/jobs"), 1);
    assert_eq!(left_in_cluster(&c), Vec::<String>::new());
    assert_eq!(all_tags(&s).len(), 1);
}

#[test]
fn k8s_csi_snapshot_that_never_becomes_ready_times_out_and_cleans_up() {
    let s = Scratch::new();
    s.init();
    let (c, _) = csi_cluster(&s, Path::new(CAIRN), |b| b.snapshots_never_ready());
    let started = std::time::Instant::now();
    let run = c
        .cairn(
            &s,
            &[
                "backup",
                "-n",
                "vault",
                "--volume-method",
                "csi-snapshot",
                "--mover-timeout",
                "1s",
            ],
        )
        .code(3);
    assert!(started.elapsed().as_secs() < 30);
    let error = vault_volume(&s)["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("was not ready to use within 1s (--mover-timeout)"),
        "{error}"
    );
    assert!(run.stderr.contains("volumes/vault/data"), "{}", run.stderr);
    assert_eq!(posted(&c, "/volumesnapshots"), 1);
    assert_eq!(posted(&c, "/jobs"), 0, "no Job without a ready snapshot");
    assert_eq!(left_in_cluster(&c), Vec::<String>::new());
}

#[test]
fn k8s_csi_snapshot_applies_only_to_csi_volumes_with_a_snapshot_class() {
    let s = Scratch::new();
    s.init();
    let (c, _) = csi_cluster(&s, Path::new(CAIRN), |b| b);
    c.server
        .remove(
            "volumesnapshotclasses.snapshot.storage.k8s.io",
            None,
            "csi-hostpath-snapclass",
        )
        .unwrap();
    let run = c
        .cairn(&s, &["backup", "-n", "vault", "--node", "node-1"])
        .code(3);
    assert!(
        run.stderr.contains(&format!(
            "no VolumeSnapshotClass for the CSI driver {DRIVER}"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(posted(&c, "/secrets"), 0);
}

#[test]
fn k8s_csi_snapshot_of_a_block_claim_streams_its_device() {
    let s = Scratch::new();
    s.init();
    let (c, _) = csi_cluster(&s, Path::new(CAIRN), |b| b);
    let disk = s.join("csi/vol-disk");
    write(&disk, Rng::new(5).bytes(2 << 20));
    let csi = json!({"csi": {"driver": DRIVER, "volumeHandle": "vol-disk"}});
    put_bound_claim(&c, "vault", "disk", "pv-vault-disk", csi, true);
    c.cairn(&s, &["backup", "-n", "vault"]).ok();
    let target = s.join("restored");
    s.cairn(&[
        "restore",
        "latest:/volumes/vault",
        "--target",
        target.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(
        fs::read(target.join("disk.img")).unwrap(),
        fs::read(&disk).unwrap()
    );
    let disk_volume = details(&s)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["claim"] == "disk")
        .cloned()
        .unwrap();
    assert_eq!(disk_volume["mode"], "block");
    assert_eq!(disk_volume["method"], "csi-snapshot");
    assert_eq!(disk_volume["bytes"], 2 << 20);
    assert_eq!(left_in_cluster(&c), Vec::<String>::new());
}

#[test]
fn k8s_csi_restore_volume_fills_a_new_claim_through_a_job_and_deletes_it_when_that_fails() {
    use cairn_engine::k8s::{
        restore_volume, Cluster as K8sCluster, ConnectOptions, K8sError, MoverOptions,
        VolumeRestore,
    };
    let s = Scratch::new();
    s.init();
    let (c, data) = csi_cluster(&s, Path::new(CAIRN), |b| b);
    c.cairn(&s, &["backup", "-n", "vault"]).ok();
    c.server
        .put(
            "storageclasses.storage.k8s.io",
            json!({"metadata": {"name": "csi-hostpath"}, "provisioner": DRIVER}),
        )
        .unwrap();
    let mut connect = ConnectOptions::default();
    connect.kubeconfig = Some(c.kubeconfig.clone());
    let (rt, cluster) = K8sCluster::connect_blocking(&connect).unwrap();
    let options = MoverOptions::new(s.repo().to_str().unwrap(), PASSWORD.as_bytes());
    let mut request =
        VolumeRestore::new("vault", "restored", "1Gi", "latest", "volumes/vault/data");
    request.storage_class = Some("csi-hostpath".into());
    let done = rt
        .block_on(restore_volume(&cluster, &options, &request))
        .unwrap();
    assert_eq!(done.claim, "restored");
    assert!(done.leftovers.is_empty(), "{:?}", done.leftovers);
    let (_, filled) = claim_data(&c, &s, "vault", "restored");
    assert_same_tree(&data, &filled, Compare::FILES);
    assert!(c
        .server
        .objects("jobs.batch", Some("vault"))
        .unwrap()
        .is_empty());
    let secrets = c.server.objects("secrets", Some("vault")).unwrap();
    assert!(secrets.is_empty(), "{secrets:?}");

    // A path the snapshot does not hold: the Job fails, and the claim goes with the rest.
    request.claim = "broken".into();
    request.path = "volumes/vault/nothing".into();
    let err = rt
        .block_on(restore_volume(&cluster, &options, &request))
        .unwrap_err();
    match &err {
        K8sError::VolumeRestore {
            claim, leftovers, ..
        } => {
            assert_eq!(claim, "vault/broken");
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("failed"), "{err}");
    assert!(c
        .server
        .get("persistentvolumeclaims", Some("vault"), "broken")
        .unwrap()
        .is_none());
    assert!(c
        .server
        .objects("jobs.batch", Some("vault"))
        .unwrap()
        .is_empty());
    assert!(c
        .server
        .objects("secrets", Some("vault"))
        .unwrap()
        .is_empty());
    let claims: Vec<String> = c
        .server
        .objects("persistentvolumeclaims", Some("vault"))
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(claims, ["data", "restored"]);
}

#[test]
fn k8s_restore_data_mover_creates_each_claim_and_fills_it_through_a_job() {
    let s = Scratch::new();
    s.init();
    let (c, data) = csi_cluster(&s, Path::new(CAIRN), |b| b);
    // The claim has a class whose provisioner is the driver, so its copy is provisioned anew.
    c.server
        .put(
            "storageclasses.storage.k8s.io",
            json!({"metadata": {"name": "csi-hostpath"}, "provisioner": DRIVER}),
        )
        .unwrap();
    let mut claim = c
        .server
        .get("persistentvolumeclaims", Some("vault"), "data")
        .unwrap()
        .unwrap();
    claim["spec"]["storageClassName"] = "csi-hostpath".into();
    c.server.put("persistentvolumeclaims", claim).unwrap();
    c.cairn(&s, &["backup", "-n", "vault"]).ok();
    let report = c
        .cairn(
            &s,
            &[
                "restore",
                "latest",
                "-n",
                "vault",
                "--namespace-mapping",
                "vault:vault2",
                "--volume-method",
                "data-mover",
                "--no-wait",
                "--json",
            ],
        )
        .ok()
        .json();
    let v = &report["volumes"][0];
    assert_eq!(
        (
            v["claim"].as_str(),
            v["method"].as_str(),
            v["action"].as_str()
        ),
        (Some("data"), Some("data-mover"), Some("restored")),
        "{report:#}"
    );
    // The claim, as the snapshot had it, was created by the mover and holds the data.
    let (claim, filled) = claim_data(&c, &s, "vault2", "data");
    assert_eq!(claim["spec"]["storageClassName"], "csi-hostpath");
    assert_same_tree(&data, &filled, Compare::FILES);
    // Its Job and Secret are gone; the claim was created before the Job that filled it.
    assert!(c
        .server
        .objects("jobs.batch", Some("vault2"))
        .unwrap()
        .is_empty());
    assert!(c
        .server
        .objects("secrets", Some("vault2"))
        .unwrap()
        .iter()
        .all(|o| {
            !o["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("cairn-mover-")
        }));
    let posts: Vec<String> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.contains("/vault2/"))
        .map(|r| r.path)
        .collect();
    let job = posts.iter().position(|p| p.ends_with("/jobs")).unwrap();
    assert!(
        posts[..job]
            .iter()
            .any(|p| p.ends_with("/persistentvolumeclaims")),
        "{posts:?}"
    );
}
