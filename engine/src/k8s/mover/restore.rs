//! The restore direction of the mover: a fresh claim, filled by a Job that runs
//! `cairn restore <snapshot>:<path> --target /data` with the claim mounted at `/data`.
//!
//! The Secret and the Job are deleted when the Job has ended, whatever happened; the claim is kept
//! when the restore succeeded and deleted when it did not, so no half-restored claim is left.

use serde_json::{json, Value};
use tokio::time::Instant;

use super::lifecycle::{create, delete_all, humanize, wait_job, Created};
use super::objects::{self, Access};
use super::MoverOptions;
use crate::k8s::client::Cluster;
use crate::k8s::error::K8sError;

/// A claim to create and fill from a snapshot of the repository.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VolumeRestore {
    /// The namespace of the claim (and of the Job that fills it).
    pub namespace: String,
    /// The name of the new claim.
    pub claim: String,
    /// Its storage class (the cluster's default when `None`).
    pub storage_class: Option<String>,
    /// The storage it requests (`10Gi`).
    pub size: String,
    /// The snapshot: `latest` or an id.
    pub snapshot: String,
    /// The directory of the snapshot whose contents fill the claim (`volumes/shop/data`).
    pub path: String,
    /// The claim to create, as a restore plans it (sanitised and renamed); when `None`, one is
    /// made of the fields above.
    pub template: Option<Value>,
}

impl VolumeRestore {
    /// Restores directory `path` of `snapshot` into a new claim `namespace/claim` of `size`.
    pub fn new(namespace: &str, claim: &str, size: &str, snapshot: &str, path: &str) -> Self {
        VolumeRestore {
            namespace: namespace.to_string(),
            claim: claim.to_string(),
            storage_class: None,
            size: size.to_string(),
            snapshot: snapshot.to_string(),
            path: path.to_string(),
            template: None,
        }
    }
}

/// A volume restored by a Job.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RestoredVolume {
    /// The claim, filled.
    pub claim: String,
    /// What the restore created but could not delete (the Secret, the Job), with the reason.
    pub leftovers: Vec<String>,
}

/// Creates the claim of `request` and fills it with a Job that runs cairn (`options.image`)
/// restoring `request.snapshot:request.path` from the repository of `options`, within
/// `options.timeout`. A failure deletes the claim too and is [`K8sError::VolumeRestore`].
pub async fn restore_volume(
    cluster: &Cluster,
    options: &MoverOptions,
    request: &VolumeRestore,
) -> Result<RestoredVolume, K8sError> {
    let deadline = Instant::now() + options.timeout;
    let mut created = Vec::new();
    let outcome = steps(cluster, options, request, deadline, &mut created).await;
    // The claim is the result: it stays when the restore succeeded.
    let claim_path = format!(
        "{}/{}",
        objects::collection("persistentvolumeclaims", &request.namespace),
        request.claim
    );
    if outcome.is_ok() {
        created.retain(|c: &Created| c.path != claim_path);
    }
    let leftovers = delete_all(cluster, &created).await;
    match outcome {
        Ok(()) => Ok(RestoredVolume {
            claim: request.claim.clone(),
            leftovers,
        }),
        Err(message) => Err(K8sError::VolumeRestore {
            claim: format!("{}/{}", request.namespace, request.claim),
            message,
            leftovers,
        }),
    }
}

async fn steps(
    cluster: &Cluster,
    options: &MoverOptions,
    request: &VolumeRestore,
    deadline: Instant,
    created: &mut Vec<Created>,
) -> Result<(), String> {
    let ns = request.namespace.as_str();
    let secret = objects::secret(ns, options);
    let secret = create(cluster, "secrets", "Secret", ns, &secret, created).await?;
    let claim = claim(request);
    let claim = create(
        cluster,
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        ns,
        &claim,
        created,
    )
    .await?;
    let job = objects::job(
        ns,
        options,
        restore_args(request),
        &secret.name,
        &claim.name,
        Access::ReadWrite,
    );
    let job = create(cluster, "jobs", "Job", ns, &job, created).await?;
    wait_job(cluster, &job, ns, deadline, &humanize(options.timeout)).await
}

/// The new claim: the template, else one with cairn's label, but not excluded from backups (it
/// is the application's).
fn claim(request: &VolumeRestore) -> Value {
    if let Some(template) = &request.template {
        return template.clone();
    }
    let mut spec = json!({
        "accessModes": ["ReadWriteOnce"],
        "volumeMode": "Filesystem",
        "resources": {"requests": {"storage": request.size}},
    });
    if let Some(class) = &request.storage_class {
        spec["storageClassName"] = class.as_str().into();
    }
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": request.claim, "namespace": request.namespace,
                        "labels": {"app.kubernetes.io/managed-by": "cairn"}},
           "spec": spec})
}

/// `restore --no-cache <snapshot>:<path> --target /data`.
fn restore_args(request: &VolumeRestore) -> Vec<String> {
    let path = request.path.trim_start_matches('/');
    vec![
        "restore".into(),
        "--no-cache".into(),
        format!("{}:/{path}", request.snapshot),
        "--target".into(),
        objects::DATA_PATH.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_restores_the_path_into_the_claim_mounted_writable() {
        let mut request = VolumeRestore::new("shop", "data", "2Gi", "latest", "volumes/shop/data");
        request.storage_class = Some("csi-fast".into());
        assert_eq!(
            restore_args(&request),
            [
                "restore",
                "--no-cache",
                "latest:/volumes/shop/data",
                "--target",
                "/data"
            ]
        );
        let c = claim(&request);
        assert_eq!(c["metadata"]["name"], "data");
        assert_eq!(c["spec"]["storageClassName"], "csi-fast");
        assert!(c["metadata"]["labels"]
            .get("backup.cairn.io/exclude")
            .is_none());
        let options = MoverOptions::new("/srv/repo", b"pw");
        let j = objects::job(
            "shop",
            &options,
            restore_args(&request),
            "s",
            "data",
            Access::ReadWrite,
        );
        let pod = &j["spec"]["template"]["spec"];
        assert_eq!(pod["containers"][0]["volumeMounts"][0]["readOnly"], false);
        assert_eq!(
            pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "data"
        );
    }
}
