//! Starting a double over the recorded fixtures and a kube client for it.

use cairn_k8s_double::{ApiServer, Builder};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// The recorded fixtures, beside the workspace.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/k8s");

/// The token the tests' servers require.
pub const TOKEN: &str = "test-token";

/// A builder over the fixtures, requiring [`TOKEN`].
pub fn builder() -> Builder {
    ApiServer::builder(FIXTURES).token(TOKEN)
}

/// A kube client configured from the kubeconfig file the server writes, as cairn would be.
pub async fn client(server: &ApiServer) -> Client {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path, "double").unwrap();
    client_from(Kubeconfig::read_from(&path).unwrap()).await
}

/// A kube client presenting `token` instead of the right one.
pub async fn client_with_token(server: &ApiServer, token: &str) -> Client {
    let text = server
        .kubeconfig("double")
        .replace(&format!("\"{TOKEN}\""), &format!("\"{token}\""));
    client_from(Kubeconfig::from_yaml(&text).unwrap()).await
}

/// A kube client that does not retry 429, 503 and 504 answers (kube retries them up to 15 times
/// by default, honouring `Retry-After`).
pub async fn client_without_retries(server: &ApiServer) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&server.kubeconfig("double")).unwrap();
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    config.default_retry = false;
    Client::try_from(config).unwrap()
}

async fn client_from(kubeconfig: Kubeconfig) -> Client {
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

/// The `Status` of a failed kube call.
pub fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> Box<kube::core::Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}
