use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::{verbs, Discovery, Scope};

use crate::util::{builder, client};

#[tokio::test]
async fn discovery_finds_built_in_and_custom_resources() {
    let server = builder().start().unwrap();
    let client = client(&server).await;

    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.minor, "24");

    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let apps = discovery.get("apps").expect("apps group");
    let (deployments, caps) = apps
        .recommended_resources()
        .into_iter()
        .find(|(ar, _)| ar.plural == "deployments")
        .expect("deployments");
    assert_eq!(deployments.api_version, "apps/v1");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(caps.supports_operation(verbs::LIST));

    let (widgets, _) = discovery
        .get("example.com")
        .expect("the CRD's group")
        .recommended_kind("Widget")
        .expect("Widget");
    let listed: Api<DynamicObject> = Api::namespaced_with(client, "shop", &widgets);
    let names: Vec<_> = listed
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|w| w.metadata.name)
        .collect();
    assert_eq!(names, ["blue"]);

    let paths: Vec<_> = server.requests().into_iter().map(|r| r.path).collect();
    for path in ["/version", "/apis", "/api", "/api/v1", "/apis/apps/v1"] {
        assert!(
            paths.iter().any(|p| p == path),
            "{path} not requested: {paths:?}"
        );
    }
}

#[tokio::test]
async fn aggregated_discovery_is_not_served_as_by_a_v1_24_server() {
    let server = builder().start().unwrap();
    let client = client(&server).await;
    // The server answers with the plain APIGroupList, which kube reads as an aggregated
    // discovery list without items: no error, and no groups. A client must notice and fall back
    // to Discovery::run.
    let aggregated = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    assert_eq!(aggregated.groups().count(), 0);
    let accept = server
        .requests()
        .into_iter()
        .find(|r| r.path == "/apis")
        .and_then(|r| r.accept)
        .unwrap();
    assert!(accept.contains("as=APIGroupDiscoveryList"), "{accept}");
}
