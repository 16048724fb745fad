use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::util::{api_error, builder, client};

fn configmap(name: &str, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": data})).unwrap()
}

#[tokio::test]
async fn create_update_patch_and_delete() {
    let server = builder().start().unwrap();
    let client = client(&server).await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let rv_before = server.resource_version();

    let created = configmaps
        .create(
            &PostParams::default(),
            &configmap("restored", json!({"a": "1"})),
        )
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let rv: u64 = created
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(rv, rv_before + 1);
    let status = api_error(
        configmaps
            .create(&PostParams::default(), &configmap("restored", json!({})))
            .await,
    );
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );

    let mut stale = created.clone();
    let mut updated = created.clone();
    updated.data = Some([("a".to_string(), "2".to_string())].into());
    let updated = configmaps
        .replace("restored", &PostParams::default(), &updated)
        .await
        .unwrap();
    assert_eq!(updated.metadata.uid, created.metadata.uid);
    stale.data = Some(Default::default());
    let status = api_error(
        configmaps
            .replace("restored", &PostParams::default(), &stale)
            .await,
    );
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));

    let merged = configmaps
        .patch(
            "restored",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"b": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data.unwrap().len(), 2);
    // kube's Patch::Json needs its jsonpatch feature; send the JSON patch as kube would.
    let request = http::Request::patch("/api/v1/namespaces/shop/configmaps/restored")
        .header("content-type", "application/json-patch+json")
        .body(serde_json::to_vec(&json!([{"op": "remove", "path": "/data/a"}])).unwrap())
        .unwrap();
    let patched: ConfigMap = client.request(request).await.unwrap();
    assert_eq!(patched.data.unwrap().keys().collect::<Vec<_>>(), ["b"]);
    let stored = server
        .get("configmaps", Some("shop"), "restored")
        .unwrap()
        .unwrap();
    assert_eq!(stored["data"], json!({"b": "3"}));

    configmaps
        .delete("restored", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(configmaps.get("restored").await).code, 404);
    assert!(server
        .get("configmaps", Some("shop"), "restored")
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn writes_follow_the_server_s_rules() {
    let server = builder().start().unwrap();
    let client = client(&server).await;
    let missing: Api<ConfigMap> = Api::namespaced(client.clone(), "no-such-namespace");
    let status = api_error(
        missing
            .create(&PostParams::default(), &configmap("x", json!({})))
            .await,
    );
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert!(status
        .message
        .contains("namespaces \"no-such-namespace\" not found"));

    let configmaps: Api<ConfigMap> = Api::namespaced(client, "shop");
    let mut with_rv = configmap("with-rv", json!({}));
    with_rv.metadata.resource_version = Some("12".into());
    assert_eq!(
        api_error(configmaps.create(&PostParams::default(), &with_rv).await).code,
        500
    );

    let applied = configmaps
        .patch(
            "applied",
            &PatchParams::apply("cairn"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"k": "v"}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap()["k"], "v");
    assert_eq!(server.objects("configmaps", Some("shop")).unwrap().len(), 4);
}

#[tokio::test]
async fn host_paths_are_mapped_when_loading() {
    let dir = tempfile::tempdir().unwrap();
    let server = builder()
        .map_host_paths("/var/lib/cairn-fixtures", dir.path())
        .start()
        .unwrap();
    let volumes = server.objects("persistentvolumes", None).unwrap();
    let paths: Vec<String> = volumes
        .iter()
        .filter_map(|pv| {
            pv["spec"]["hostPath"]["path"]
                .as_str()
                .or(pv["spec"]["local"]["path"].as_str())
                .map(str::to_string)
        })
        .collect();
    assert_eq!(paths.len(), 3);
    let root = dir.path().display().to_string();
    assert!(paths.iter().all(|p| p.starts_with(&root)), "{paths:?}");
    assert!(paths.contains(&format!("{root}/shop/data-db-0")));
}
