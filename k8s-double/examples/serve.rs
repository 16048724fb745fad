//! Serves the recorded cluster (`testdata/k8s`) until interrupted, to try `cairn k8s` by hand:
//!
//! ```text
//! cargo run -p cairn-k8s-double --example serve -- /tmp/double/kubeconfig /tmp/double/node
//! cairn k8s apps -n shop --kubeconfig /tmp/double/kubeconfig
//! ```
//!
//! The hostPath and local volumes of the recording (`/var/lib/cairn-fixtures/...`) are served from
//! the second directory; CRDs become established, claims bind and workloads get ready pods, as
//! the controllers of a cluster would have them.

use std::path::PathBuf;

use cairn_k8s_double::{ApiServer, Establish, Readiness};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(kubeconfig), Some(node)) = (args.next(), args.next()) else {
        return Err("usage: serve KUBECONFIG NODE_DIR".into());
    };
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/k8s");
    let server = ApiServer::builder(fixtures)
        .map_host_paths("/var/lib/cairn-fixtures", &node)
        .establish_crds(Establish::Now)
        .bind_claims()
        .run_workloads(Readiness::Ready)
        .start()?;
    server.write_kubeconfig(&kubeconfig, "double")?;
    eprintln!(
        "serving the recorded cluster; kubeconfig at {}",
        kubeconfig.display()
    );
    loop {
        std::thread::park();
    }
}
