use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, AttachParams, ListParams};

use crate::util::{api_error, builder, client, client_with_token};

#[tokio::test]
async fn a_wrong_token_is_unauthorized() {
    let server = builder().start().unwrap();
    let secrets: Api<Secret> = Api::namespaced(client_with_token(&server, "wrong").await, "shop");
    let status = api_error(secrets.list(&ListParams::default()).await);
    assert_eq!((status.code, status.reason.as_str()), (401, "Unauthorized"));
    assert_eq!(server.requests().last().map(|r| r.status), Some(401));
}

#[tokio::test]
async fn forbidden_resources_answer_403_where_denied() {
    let server = builder()
        .forbid("secrets", Some("shop"))
        .forbid("pods/exec", None)
        .start()
        .unwrap();
    let client = client(&server).await;
    let shop: Api<Secret> = Api::namespaced(client.clone(), "shop");
    let status = api_error(shop.list(&ListParams::default()).await);
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert!(
        status.message.contains("cannot list resource \"secrets\""),
        "{}",
        status.message
    );
    let everywhere: Api<Secret> = Api::all(client.clone());
    assert_eq!(
        api_error(everywhere.list(&ListParams::default()).await).code,
        403
    );
    let blog: Api<Secret> = Api::namespaced(client.clone(), "blog");
    assert_eq!(
        blog.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );

    let pods: Api<Pod> = Api::namespaced(client, "shop");
    assert!(pods.get("debug").await.is_ok());
    match pods.exec("debug", ["true"], &AttachParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403),
        Err(other) => panic!("expected 403, got {other:?}"),
        Ok(_) => panic!("exec must be denied"),
    }
}
