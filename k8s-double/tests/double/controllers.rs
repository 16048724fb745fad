//! The opt-in emulated controllers, seen through the API.

use std::time::Duration;

use cairn_k8s_double::{Establish, Readiness};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::discovery::Discovery;
use serde_json::json;

use crate::util::{api_error, builder, client};

/// A CRD of a group the recording does not have.
fn gadgets() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.acme.io"},
        "spec": {"group": "acme.io", "scope": "Namespaced",
                 "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget",
                           "listKind": "GadgetList"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]}
    }))
    .unwrap()
}

fn condition(crd: &CustomResourceDefinition, kind: &str) -> Option<String> {
    crd.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status.clone())
}

#[tokio::test]
async fn an_established_crd_serves_its_resource_in_discovery_and_at_its_urls() {
    let server = builder()
        .establish_crds(Establish::After(Duration::from_millis(300)))
        .start()
        .unwrap();
    let client = client(&server).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &gadgets())
        .await
        .unwrap();
    let installing = crds.get("gadgets.acme.io").await.unwrap();
    assert_eq!(
        condition(&installing, "NamesAccepted").as_deref(),
        Some("True")
    );
    assert_eq!(
        condition(&installing, "Established").as_deref(),
        Some("False")
    );
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.get("acme.io").is_none());

    tokio::time::sleep(Duration::from_millis(600)).await;
    let established = crds.get("gadgets.acme.io").await.unwrap();
    assert_eq!(
        condition(&established, "Established").as_deref(),
        Some("True")
    );
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (resource, _) = discovery
        .get("acme.io")
        .expect("the new group")
        .recommended_kind("Gadget")
        .expect("Gadget");
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client, "shop", &resource);
    let gadget: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "acme.io/v1", "kind": "Gadget", "metadata": {"name": "g1"}}))
    .unwrap();
    gadgets
        .create(&PostParams::default(), &gadget)
        .await
        .unwrap();
    let listed = gadgets.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
}

#[tokio::test]
async fn a_crd_never_established_serves_nothing() {
    let server = builder().establish_crds(Establish::Never).start().unwrap();
    let client = client(&server).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &gadgets())
        .await
        .unwrap();
    let crd = crds.get("gadgets.acme.io").await.unwrap();
    assert_eq!(condition(&crd, "Established").as_deref(), Some("False"));
    let request = http::Request::get("/apis/acme.io/v1/namespaces/shop/gadgets")
        .body(Vec::new())
        .unwrap();
    let answer = client.request_text(request).await;
    assert_eq!(api_error(answer).code, 404);
}

#[tokio::test]
async fn deployments_get_a_replica_set_and_ready_pods() {
    let server = builder().run_workloads(Readiness::Ready).start().unwrap();
    let client = client(&server).await;
    let deployments: Api<DynamicObject> = Api::namespaced_with(
        client,
        "shop",
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&()),
    );
    let deployment: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}},
                              "spec": {"containers": [{"name": "c", "image": "x"}]}}}}))
    .unwrap();
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let stored = server
        .get("deployments.apps", Some("shop"), "api")
        .unwrap()
        .unwrap();
    assert_eq!(stored["status"]["readyReplicas"], 3);
    let sets: Vec<_> = server
        .objects("replicasets.apps", Some("shop"))
        .unwrap()
        .into_iter()
        .filter(|r| r["metadata"]["ownerReferences"][0]["uid"] == stored["metadata"]["uid"])
        .collect();
    assert_eq!(sets.len(), 1);
    let set_name = sets[0]["metadata"]["name"].as_str().unwrap();
    let pods: Vec<_> = server
        .objects("pods", Some("shop"))
        .unwrap()
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["app"] == "api")
        .collect();
    assert_eq!(pods.len(), 3);
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with(&format!("{set_name}-")), "{name}");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["name"], set_name);
        assert_eq!(pod["status"]["phase"], "Running");
        let ready = pod["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        assert!(ready, "{pod}");
    }
}
