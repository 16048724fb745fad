use cairn_k8s_double::AggregatedRv;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DynamicObject, ListParams, PostParams, VersionMatch};
use kube::core::{ApiResource, GroupVersionKind};
use kube::ResourceExt;
use serde_json::json;

use crate::util::{api_error, builder, client, client_without_retries};

fn names<K: ResourceExt>(items: &[K]) -> Vec<String> {
    items.iter().map(|o| o.name_any()).collect()
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists() {
    let server = builder().start().unwrap();
    let configmaps: Api<ConfigMap> = Api::namespaced(client(&server).await, "shop");
    let list = |selector: &'static str| {
        let configmaps = configmaps.clone();
        async move {
            let params = ListParams::default().labels(selector);
            names(&configmaps.list(&params).await.unwrap().items)
        }
    };
    assert_eq!(list("backup.cairn.io/exclude=true").await, ["scratch"]);
    assert_eq!(
        list("app=shop,!backup.cairn.io/exclude").await,
        ["shop-config"]
    );
    assert_eq!(list("app notin (shop)").await, ["kube-root-ca.crt"]);
    assert_eq!(
        list("app in (shop, blog)").await,
        ["scratch", "shop-config"]
    );

    let by_name = ListParams::default().fields("metadata.name=shop-config");
    assert_eq!(
        names(&configmaps.list(&by_name).await.unwrap().items),
        ["shop-config"]
    );
    let unknown_field = ListParams::default().fields("data.x=y");
    assert_eq!(api_error(configmaps.list(&unknown_field).await).code, 400);
}

#[tokio::test]
async fn pages_are_served_at_one_resource_version() {
    let server = builder().start().unwrap();
    let client = client(&server).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let everything = names(&pods.list(&ListParams::default()).await.unwrap().items);
    assert_eq!(everything.len(), 5);

    let mut paged = Vec::new();
    let mut params = ListParams::default().limit(2);
    let mut versions = Vec::new();
    loop {
        let page = pods.list(&params).await.unwrap();
        paged.extend(names(&page.items));
        versions.push(page.metadata.resource_version.clone().unwrap());
        if versions.len() == 1 {
            // A pod created after the first page must not show up on later ones.
            server
                .put(
                    "pods",
                    json!({"metadata": {"name": "zz-late", "namespace": "shop"}}),
                )
                .unwrap();
            assert_eq!(page.metadata.remaining_item_count, Some(3));
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(paged, everything);
    assert_eq!(versions.len(), 3);
    assert!(versions.iter().all(|v| *v == versions[0]), "{versions:?}");
    let continued = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/namespaces/shop/pods" && r.param("continue").is_some())
        .count();
    assert_eq!(continued, 2);
    assert!(
        names(&pods.list(&ListParams::default()).await.unwrap().items)
            .contains(&"zz-late".to_string())
    );
}

#[tokio::test]
async fn exact_reads_see_the_state_at_that_resource_version() {
    let server = builder().start().unwrap();
    let configmaps: Api<ConfigMap> = Api::namespaced(client(&server).await, "shop");
    let before = configmaps.list(&ListParams::default()).await.unwrap();
    let rv = before.metadata.resource_version.unwrap();

    let new: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "added"}})).unwrap();
    configmaps
        .create(&PostParams::default(), &new)
        .await
        .unwrap();

    let exact = ListParams::default().at(&rv).matching(VersionMatch::Exact);
    let then = configmaps.list(&exact).await.unwrap();
    assert_eq!(names(&then.items), names(&before.items));
    assert_eq!(then.metadata.resource_version.as_deref(), Some(rv.as_str()));
    let now = configmaps.list(&ListParams::default()).await.unwrap();
    assert!(names(&now.items).contains(&"added".to_string()));
    assert!(
        now.metadata
            .resource_version
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > rv.parse().unwrap()
    );

    let logged = server.requests();
    let exact_request = logged
        .iter()
        .find(|r| r.param("resourceVersionMatch") == Some("Exact"))
        .expect("an Exact list was logged");
    assert_eq!(exact_request.param("resourceVersion"), Some(rv.as_str()));
}

#[tokio::test]
async fn resource_versions_out_of_the_window_are_refused() {
    let server = builder().start().unwrap();
    let configmaps: Api<ConfigMap> = Api::namespaced(client(&server).await, "shop");
    let too_old = ListParams::default().at("1").matching(VersionMatch::Exact);
    let status = api_error(configmaps.list(&too_old).await);
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));

    // A resourceVersion that was current becomes too old once the history is compacted.
    let rv = server.resource_version().to_string();
    server
        .put(
            "configmaps",
            json!({"metadata": {"name": "n", "namespace": "shop"}}),
        )
        .unwrap();
    let at_rv = ListParams::default().at(&rv).matching(VersionMatch::Exact);
    assert_eq!(configmaps.list(&at_rv).await.unwrap().items.len(), 3);
    server.compact();
    assert_eq!(api_error(configmaps.list(&at_rv).await).code, 410);
}

#[tokio::test]
async fn resource_versions_not_reached_yet_time_out() {
    let server = builder().start().unwrap();
    let client = client_without_retries(&server).await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "shop");
    let future = (server.resource_version() + 10).to_string();
    let not_yet = ListParams::default()
        .at(&future)
        .matching(VersionMatch::NotOlderThan);
    let status = api_error(configmaps.list(&not_yet).await);
    assert_eq!((status.code, status.reason.as_str()), (504, "Timeout"));
    let logged = server.requests().pop().unwrap();
    assert_eq!(logged.status, 504);
}

#[tokio::test]
async fn continue_tokens_expire_with_compaction() {
    let server = builder().start().unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "shop");
    let first = pods.list(&ListParams::default().limit(2)).await.unwrap();
    let token = first.metadata.continue_.unwrap();
    server
        .put(
            "pods",
            json!({"metadata": {"name": "new", "namespace": "shop"}}),
        )
        .unwrap();
    server.compact();
    let status = api_error(
        pods.list(&ListParams::default().limit(2).continue_token(&token))
            .await,
    );
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
    let fresh = status
        .metadata
        .and_then(|m| m.continue_)
        .expect("a token to go on with");
    let rest = pods
        .list(&ListParams::default().continue_token(&fresh))
        .await
        .unwrap();
    assert!(names(&rest.items).contains(&"new".to_string()));
}

#[tokio::test]
async fn metadata_only_lists_carry_metadata() {
    let server = builder().start().unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "blog");
    let list = pods.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 2);
    assert!(list.items.iter().all(|p| p.metadata.uid.is_some()));
}

#[tokio::test]
async fn aggregated_groups_can_refuse_resource_version_semantics() {
    let server = builder()
        .aggregated("example.com", AggregatedRv::Reject)
        .start()
        .unwrap();
    let widgets = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client(&server).await, "shop", &widgets);
    let rv = server.resource_version().to_string();
    let exact = ListParams::default().at(&rv).matching(VersionMatch::Exact);
    assert_eq!(api_error(api.list(&exact).await).code, 400);
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
}

#[tokio::test]
async fn page_limit_max_caps_the_page_size() {
    let server = builder().page_limit_max(1).start().unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "shop");
    let page = pods.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.metadata.continue_.is_some());
}
