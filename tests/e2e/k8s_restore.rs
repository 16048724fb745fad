//! `cairn k8s restore --to-dir`: a backup of the recorded shop (`testdata/k8s`, served by the test
//! double) written back as YAML files that are sanitised, renamed and ordered for
//! `kubectl apply -f DIR --recursive`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use crate::k8s::{cluster, Cluster};
use crate::util::*;

/// Starts the double and backs up the shop's objects (no volume data).
fn backed_up_shop(s: &Scratch) -> Cluster {
    s.init();
    let c = cluster(s, |b| b);
    c.cairn(s, &["backup", "-n", "shop", "--volume-method", "none"])
        .ok();
    c
}

/// The files under `dir/manifests`, relative to it and in path order (the order kubectl reads
/// them in), each parsed as YAML.
fn objects(dir: &Path) -> Vec<(String, Value)> {
    let dir = &dir.join("manifests");
    let mut out: Vec<(String, Value)> = walk(dir)
        .into_iter()
        .filter(|(_, m)| m.is_file())
        .map(|(p, m)| {
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{}", p.display());
            let text = fs::read_to_string(dir.join(&p)).unwrap();
            let v: Value =
                serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn find<'a>(objects: &'a [(String, Value)], file: &str) -> &'a Value {
    &objects
        .iter()
        .find(|(p, _)| p == file)
        .unwrap_or_else(|| {
            panic!(
                "no {file} in {:?}",
                objects.iter().map(|o| &o.0).collect::<Vec<_>>()
            )
        })
        .1
}

#[test]
fn k8s_restore_to_dir_writes_sanitised_objects_in_dependency_order() {
    let s = Scratch::new();
    let _c = backed_up_shop(&s);
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
    let objects = objects(&out);
    assert!(objects.len() > 15, "{}", objects.len());
    for (path, v) in &objects {
        let meta = &v["metadata"];
        for field in [
            "uid",
            "resourceVersion",
            "managedFields",
            "creationTimestamp",
            "ownerReferences",
        ] {
            assert!(meta.get(field).is_none(), "{path} has metadata.{field}");
        }
        assert!(v.get("status").is_none(), "{path} has status");
    }
    // Path order is the restore's order: what an object needs comes before it.
    let position = |prefix: &str| {
        objects
            .iter()
            .position(|(p, _)| p.starts_with(prefix))
            .unwrap_or_else(|| panic!("nothing under {prefix}"))
    };
    let order = [
        "00-customresourcedefinitions.apiextensions.k8s.io/",
        "01-namespaces/",
        "02-storageclasses.storage.k8s.io/",
        "03-persistentvolumes/",
        "04-persistentvolumeclaims/shop/",
        "05-serviceaccounts/shop/",
        "10-secrets/shop/",
        "11-configmaps/shop/",
        "12-services/shop/",
        "15-deployments.apps/shop/",
        "16-statefulsets.apps/shop/",
        "22-ingresses.networking.k8s.io/shop/",
        "23-widgets.example.com/shop/",
    ];
    let positions: Vec<usize> = order.iter().map(|p| position(p)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    // The report lists what it wrote in the restore's order.
    let mut written: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "written")
        .map(|i| {
            let file = i["file"].as_str().unwrap();
            file.strip_prefix("manifests/")
                .unwrap_or_else(|| panic!("{file} is not under manifests/"))
        })
        .collect();
    let ranks: Vec<&str> = written.iter().map(|f| &f[..2]).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
    written.sort();
    let files: Vec<&str> = objects.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(written, files);

    let web = find(&objects, "12-services/shop/web.yaml");
    assert!(web["spec"].get("clusterIP").is_none(), "{web}");
    assert!(web["spec"].get("clusterIPs").is_none(), "{web}");
    let headless = find(&objects, "12-services/shop/db.yaml");
    assert_eq!(headless["spec"]["clusterIP"], "None");
    let node_port = find(&objects, "12-services/shop/web-external.yaml");
    assert!(
        node_port["spec"]["ports"][0].get("nodePort").is_none(),
        "{node_port}"
    );
    let claim = find(&objects, "04-persistentvolumeclaims/shop/data-db-0.yaml");
    assert!(claim["spec"].get("volumeName").is_none(), "{claim}");
    let annotations = claim["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(
        !annotations.contains_key("pv.kubernetes.io/bind-completed"),
        "{claim}"
    );
    let volume = find(&objects, "03-persistentvolumes/pvc-shop-data-db-0.yaml");
    assert_eq!(volume["spec"]["claimRef"]["name"], "data-db-0");
    assert!(volume["spec"]["claimRef"].get("uid").is_none(), "{volume}");
    // Nothing the controllers make was in the backup; nothing failed.
    assert!(
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["action"] == "written"),
        "{report}"
    );
    assert!(!objects.iter().any(|(p, _)| p.contains("endpoints")));

    // A directory that is not empty is refused, and left as it was.
    let run = s
        .cairn(&[
            "k8s",
            "restore",
            "latest",
            "--to-dir",
            out.to_str().unwrap(),
        ])
        .code(1);
    assert!(run.stderr.contains("not empty"), "{}", run.stderr);
    assert_eq!(self::objects(&out).len(), objects.len());
}

#[test]
fn k8s_restore_into_a_new_namespace_with_another_storage_class_and_image() {
    let s = Scratch::new();
    let _c = backed_up_shop(&s);
    let out = s.join("out");
    s.cairn(&[
        "k8s",
        "restore",
        "latest",
        "--to-dir",
        out.to_str().unwrap(),
        "--namespace-mapping",
        "shop:shop2",
        "--storage-class-mapping",
        "local-path:fast",
        "--image-mapping",
        "postgres:registry.local/postgres",
    ])
    .ok();
    let objects = objects(&out);
    assert!(
        objects.iter().all(|(p, _)| !p.contains("/shop/")),
        "{:?}",
        objects.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    assert_eq!(
        find(&objects, "01-namespaces/shop2.yaml")["metadata"]["name"],
        "shop2"
    );
    let class = find(&objects, "02-storageclasses.storage.k8s.io/fast.yaml");
    assert_eq!(class["metadata"]["name"], "fast");
    let claim = find(&objects, "04-persistentvolumeclaims/shop2/data-db-0.yaml");
    assert_eq!(claim["metadata"]["namespace"], "shop2");
    assert_eq!(claim["spec"]["storageClassName"], "fast");
    let volume = find(&objects, "03-persistentvolumes/pvc-shop-data-db-0.yaml");
    assert_eq!(volume["spec"]["claimRef"]["namespace"], "shop2");
    assert_eq!(volume["spec"]["storageClassName"], "fast");
    let db = find(&objects, "16-statefulsets.apps/shop2/db.yaml");
    let image = db["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(image.starts_with("registry.local/postgres"), "{image}");
    for t in db["spec"]["volumeClaimTemplates"].as_array().unwrap() {
        assert_eq!(t["spec"]["storageClassName"], "fast", "{t}");
    }
}

#[test]
fn k8s_restore_of_chosen_objects_by_path_selector_and_resource() {
    let s = Scratch::new();
    let _c = backed_up_shop(&s);
    let files = |args: &[&str]| -> Vec<String> {
        let out = s.join(format!("out-{}", rand_suffix(args)));
        let mut all = vec![
            "k8s",
            "restore",
            "latest",
            "--to-dir",
            out.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        s.cairn(&all).ok();
        let found = objects(&out).into_iter().map(|(p, _)| p).collect();
        fs::remove_dir_all(&out).unwrap();
        found
    };
    assert_eq!(
        files(&["manifests/namespaces/shop/deployments.apps/web.yaml"]),
        ["15-deployments.apps/shop/web.yaml"]
    );
    let db = files(&[
        "-l",
        "tier=db",
        "--include-resources",
        "statefulsets.apps,services,namespaces",
    ]);
    assert_eq!(
        db,
        [
            "01-namespaces/shop.yaml",
            "12-services/shop/db.yaml",
            "16-statefulsets.apps/shop/db.yaml"
        ]
    );
    let blog = files(&["-n", "blog"]);
    assert!(
        !blog
            .iter()
            .any(|p| p.contains("/shop/") || p.ends_with("/shop.yaml")),
        "{blog:?}"
    );
    assert!(
        blog.iter()
            .any(|p| p.starts_with("00-customresourcedefinitions")),
        "{blog:?}"
    );
    let run = s
        .cairn(&[
            "k8s",
            "restore",
            "latest",
            "--to-dir",
            s.join("x").to_str().unwrap(),
            "--namespace-mapping",
            "shop",
        ])
        .code(1);
    assert!(run.stderr.contains("expected OLD:NEW"), "{}", run.stderr);
}

/// A directory name per argument list.
fn rand_suffix(args: &[&str]) -> String {
    args.join("_").replace(['/', ' ', ',', '='], "_")
}

#[test]
fn k8s_restore_output_is_accepted_by_kubectl_apply_dry_run() {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl is not installed: skipping the check that it accepts the output");
        return;
    }
    let s = Scratch::new();
    let c = backed_up_shop(&s);
    let out = s.join("out");
    s.cairn(&[
        "k8s",
        "restore",
        "latest",
        "--to-dir",
        out.to_str().unwrap(),
    ])
    .ok();
    let run = std::process::Command::new("kubectl")
        .args([
            "apply",
            "--dry-run=client",
            "--validate=false",
            "--recursive",
            "-f",
        ])
        .arg(out.join("manifests"))
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The double holds the shop still: kubectl says it would configure what exists.
    assert!(
        stdout.contains("deployment.apps/web configured (dry run)"),
        "{stdout}"
    );
    assert!(stdout.lines().all(|l| l.ends_with("(dry run)")), "{stdout}");
    assert_eq!(stdout.lines().count(), 28, "{stdout}");
}

/// The dry run's report items, by `resource/namespace/name`.
fn by_object(report: &Value) -> std::collections::BTreeMap<String, Value> {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let ns = i["namespace"]
                .as_str()
                .map(|n| format!("{n}/"))
                .unwrap_or_default();
            (
                format!(
                    "{}/{ns}{}",
                    i["resource"].as_str().unwrap(),
                    i["name"].as_str().unwrap()
                ),
                i.clone(),
            )
        })
        .collect()
}

#[test]
fn k8s_restore_dry_run_tells_what_would_be_created_and_what_cannot_be_and_changes_nothing() {
    let s = Scratch::new();
    let c = backed_up_shop(&s);
    c.server.clear_requests();
    // Into a new namespace, with a storage class the cluster lacks and the restore does not bring.
    let run = c
        .cairn(
            &s,
            &[
                "restore",
                "latest",
                "--dry-run",
                "--json",
                "--namespace-mapping",
                "shop:shop2",
                "--storage-class-mapping",
                "local-path:fast",
                "--exclude-resources",
                "storageclasses.storage.k8s.io",
            ],
        )
        .code(3);
    let items = by_object(&run.json());
    let action = |k: &str| {
        items
            .get(k)
            .unwrap_or_else(|| panic!("no {k} in {items:?}"))["action"]
            .clone()
    };
    assert_eq!(action("namespaces/shop2"), "create");
    assert_eq!(action("deployments.apps/shop2/web"), "create");
    assert_eq!(action("widgets.example.com/shop2/blue"), "create");
    assert_eq!(
        action("customresourcedefinitions.apiextensions.k8s.io/widgets.example.com"),
        "exists"
    );
    let claim = &items["persistentvolumeclaims/shop2/data-db-0"];
    assert_eq!(claim["action"], "failed");
    assert_eq!(claim["reason"], "storage class fast does not exist");
    assert_eq!(
        items["persistentvolumes/pvc-shop-data-db-0"]["action"],
        "failed"
    );
    assert!(run.stderr.contains("incomplete"), "{}", run.stderr);
    // Only GETs were sent, and the cluster is as it was.
    let requests = c.server.requests();
    assert!(requests.len() > 20, "{}", requests.len());
    assert!(
        requests.iter().all(|r| r.method == "GET"),
        "{:?}",
        requests
            .iter()
            .map(|r| (&r.method, &r.path))
            .collect::<Vec<_>>()
    );
    assert!(c.server.get("namespaces", None, "shop2").unwrap().is_none());
    // Into the same namespace, everything exists and is left as it is.
    let run = c.cairn(&s, &["restore", "latest", "--dry-run"]).ok();
    assert!(
        run.stdout()
            .lines()
            .last()
            .unwrap()
            .starts_with("28 exists"),
        "{}",
        run.stdout()
    );
}

/// An object as the server holds it, without what the server sets on its own.
fn without_server_fields(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
        ] {
            m.remove(f);
        }
    }
    v
}

#[test]
fn k8s_restore_round_trip_recreates_the_shop_as_sanitised_and_obeys_existing() {
    let s = Scratch::new();
    let c = backed_up_shop(&s);
    let out = s.join("out");
    s.cairn(&[
        "k8s",
        "restore",
        "latest",
        "--to-dir",
        out.to_str().unwrap(),
    ])
    .ok();
    let expected = objects(&out);
    // The shop's namespace and every object of it go.
    let mut removed = 0;
    for (path, _) in &expected {
        let parts: Vec<&str> = path.split('/').collect();
        if let [resource, "shop", file] = parts[..] {
            let name = file.trim_end_matches(".yaml");
            let resource = &resource[3..];
            assert!(
                c.server
                    .remove(resource, Some("shop"), name)
                    .unwrap()
                    .is_some(),
                "{path}"
            );
            removed += 1;
        }
    }
    c.server
        .remove("namespaces", None, "shop")
        .unwrap()
        .unwrap();
    assert!(removed > 15, "{removed}");
    c.server.clear_requests();

    // The double runs no controllers here: nothing would bind the claim or start the pods.
    let report = c
        .cairn(&s, &["restore", "latest", "--json", "--no-wait"])
        .ok()
        .json();
    let items = by_object(&report);
    assert_eq!(items["namespaces/shop"]["action"], "created");
    assert_eq!(items["deployments.apps/shop/web"]["action"], "created");
    assert_eq!(
        items["persistentvolumes/pvc-shop-data-db-0"]["action"],
        "exists"
    );
    assert_eq!(
        items["persistentvolumes/pvc-shop-data-db-0"]["reason"],
        "already in the cluster: left as it is"
    );
    // Each object is back as the snapshot held it, sanitised.
    for (path, want) in &expected {
        let parts: Vec<&str> = path.split('/').collect();
        let (resource, ns, name) = match parts[..] {
            [r, ns, f] => (&r[3..], Some(ns), f.trim_end_matches(".yaml")),
            [r, f] => (&r[3..], None, f.trim_end_matches(".yaml")),
            _ => panic!("{path}"),
        };
        let got = c
            .server
            .get(resource, ns, name)
            .unwrap()
            .unwrap_or_else(|| panic!("{path}"));
        if ns.is_some() || resource == "namespaces" {
            assert_eq!(without_server_fields(got), *want, "{path}");
        }
    }
    let requests = c.server.requests();
    assert!(requests.iter().any(|r| r.method == "POST"));
    assert!(requests
        .iter()
        .all(|r| r.method == "GET" || r.method == "POST"));

    // Everything exists now: skip (the default) leaves it, fail fails, update replaces.
    let skip = by_object(&c.cairn(&s, &["restore", "latest", "--json"]).ok().json());
    assert!(skip.values().all(|i| i["action"] == "exists"), "{skip:?}");
    let run = c
        .cairn(&s, &["restore", "latest", "--existing", "fail", "--json"])
        .code(3);
    let fail = by_object(&run.json());
    assert!(fail.values().all(|i| i["action"] == "failed"), "{fail:?}");
    assert_eq!(
        fail["configmaps/shop/shop-config"]["reason"],
        "already in the cluster"
    );
    c.server.clear_requests();
    let update = by_object(
        &c.cairn(
            &s,
            &[
                "restore",
                "latest",
                "--existing",
                "update",
                "--json",
                "--no-wait",
            ],
        )
        .ok()
        .json(),
    );
    assert!(
        update.values().all(|i| i["action"] == "updated"),
        "{update:?}"
    );
    assert!(c.server.requests().iter().any(|r| r.method == "PUT"));
}

#[test]
fn k8s_restore_keeps_owner_references_to_restored_owners_with_their_new_uid() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    let parent = c
        .server
        .put(
            "configmaps",
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "parent", "namespace": "shop"}}),
        )
        .unwrap();
    let owner = |uid: &str| serde_json::json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": uid}]);
    let old_uid = parent["metadata"]["uid"].as_str().unwrap().to_string();
    c.server
        .put(
            "configmaps",
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                "name": "child", "namespace": "shop", "ownerReferences": owner(&old_uid)}}),
        )
        .unwrap();
    c.cairn(&s, &["backup", "-n", "shop", "--volume-method", "none"])
        .ok();
    for name in ["parent", "child"] {
        c.server
            .remove("configmaps", Some("shop"), name)
            .unwrap()
            .unwrap();
    }
    c.cairn(
        &s,
        &["restore", "latest", "--include-resources", "configmaps"],
    )
    .ok();
    let parent = c
        .server
        .get("configmaps", Some("shop"), "parent")
        .unwrap()
        .unwrap();
    let new_uid = parent["metadata"]["uid"].as_str().unwrap();
    assert_ne!(new_uid, old_uid);
    let child = c
        .server
        .get("configmaps", Some("shop"), "child")
        .unwrap()
        .unwrap();
    assert_eq!(child["metadata"]["ownerReferences"], owner(new_uid));
    // Written to a directory, where new uids are unknown, the reference is dropped.
    let out = s.join("out");
    s.cairn(&[
        "k8s",
        "restore",
        "latest",
        "--to-dir",
        out.to_str().unwrap(),
    ])
    .ok();
    let child = &find(&objects(&out), "11-configmaps/shop/child.yaml").clone();
    assert!(
        child["metadata"].get("ownerReferences").is_none(),
        "{child}"
    );
}
