//! The objects a mover creates, as the API expects them: a Secret, a `VolumeSnapshot`, a claim
//! made from it and a Job. Every one is labelled as cairn's and excluded from backups (but for the
//! claim a restore fills, which is the application's).

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::MoverOptions;
use crate::k8s::volumes::Claim;

/// Where the clone is mounted in the Job's container.
pub(super) const DATA_PATH: &str = "/data";
/// Where a block clone appears in the Job's container.
pub(super) const DEVICE_PATH: &str = "/dev/cairn-data";
/// The prefix of every object's generated name.
const NAME_PREFIX: &str = "cairn-mover-";
/// How long a finished Job stays for `kubectl logs` if cairn could not delete it.
const JOB_TTL_SECONDS: u64 = 3600;
/// The list of `VolumeSnapshotClass` objects.
pub(super) const CLASSES_PATH: &str = "/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses";
/// The annotation that marks a default `VolumeSnapshotClass`.
const DEFAULT_CLASS: &str = "snapshot.storage.kubernetes.io/is-default-class";

/// What one claim's mover objects are made from.
pub(super) struct MoverSpec<'a> {
    /// The claim to copy.
    pub claim: &'a Claim<'a>,
    /// The `VolumeSnapshotClass`.
    pub class: &'a str,
    /// The temporary tag of the Job's snapshot.
    pub tag: &'a str,
    /// Repository, image, timeout.
    pub options: &'a MoverOptions,
}

/// The collection URL of `resource` (`secrets`, `volumesnapshots`, ...) in `namespace`.
pub(super) fn collection(resource: &str, namespace: &str) -> String {
    let group = match resource {
        "volumesnapshots" => "/apis/snapshot.storage.k8s.io/v1",
        "jobs" => "/apis/batch/v1",
        _ => "/api/v1",
    };
    format!("{group}/namespaces/{namespace}/{resource}")
}

/// The class to use for `driver`: one marked default, else the first; from a list of
/// `VolumeSnapshotClass` objects.
pub(super) fn class_for(list: &Value, driver: &str) -> Option<String> {
    let items = list.get("items")?.as_array()?;
    let of_driver: Vec<&Value> = items
        .iter()
        .filter(|c| c.get("driver").and_then(Value::as_str) == Some(driver))
        .collect();
    let default = of_driver.iter().find(|c| {
        c.pointer("/metadata/annotations")
            .and_then(|a| a.get(DEFAULT_CLASS))
            .and_then(Value::as_str)
            == Some("true")
    });
    default
        .or(of_driver.first())
        .and_then(|c| c.pointer("/metadata/name")?.as_str())
        .map(String::from)
}

/// The labels of the mover's objects: cairn's, and never backed up.
pub(super) fn labels() -> Value {
    json!({"app.kubernetes.io/managed-by": "cairn", "backup.cairn.io/exclude": "true"})
}

fn metadata(namespace: &str) -> Value {
    json!({"generateName": NAME_PREFIX, "namespace": namespace, "labels": labels()})
}

/// The Secret a Job in `namespace` takes its environment from: `CAIRN_REPOSITORY`,
/// `CAIRN_PASSWORD` and the object storage credentials.
pub(super) fn secret(namespace: &str, o: &MoverOptions) -> Value {
    let b64 = |bytes: &[u8]| Value::from(base64::engine::general_purpose::STANDARD.encode(bytes));
    let mut data = Map::new();
    data.insert("CAIRN_REPOSITORY".into(), b64(o.repository.as_bytes()));
    data.insert("CAIRN_PASSWORD".into(), b64(&o.password));
    for (k, v) in &o.env {
        data.insert(k.clone(), b64(v.as_bytes()));
    }
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata(namespace),
           "type": "Opaque", "data": data})
}

/// The `VolumeSnapshot` of the claim.
pub(super) fn volume_snapshot(spec: &MoverSpec<'_>) -> Value {
    json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
           "metadata": metadata(spec.claim.namespace),
           "spec": {"volumeSnapshotClassName": spec.class,
                    "source": {"persistentVolumeClaimName": spec.claim.name}}})
}

/// The clone: a claim of the same class and mode whose data source is the snapshot, of the
/// snapshot's `restoreSize` (else the claim's request).
pub(super) fn clone_claim(
    spec: &MoverSpec<'_>,
    snapshot: &str,
    restore_size: Option<&str>,
) -> Value {
    let c = spec.claim;
    let mut claim_spec = json!({
        "accessModes": ["ReadWriteOnce"],
        "volumeMode": if c.block { "Block" } else { "Filesystem" },
        "dataSource": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot",
                       "name": snapshot},
        "resources": {"requests": {"storage": restore_size.or(c.size).unwrap_or("1Gi")}},
    });
    if let Some(class) = c.storage_class {
        claim_spec["storageClassName"] = class.into();
    }
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": metadata(c.namespace), "spec": claim_spec})
}

/// The arguments of cairn in the Job: back up the mounted clone (a file tree at `/data`, or the
/// block device read whole as `<claim>.img`) with the temporary tag.
pub(super) fn mover_args(spec: &MoverSpec<'_>) -> Vec<String> {
    let mut args: Vec<String> = ["backup", "--no-cache", "--tag", spec.tag]
        .map(String::from)
        .to_vec();
    if spec.claim.block {
        let name = format!("{}.img", spec.claim.name);
        args.extend(["--stdin-from-command", "--stdin-filename", &name, "--"].map(String::from));
        args.extend(["cat", DEVICE_PATH].map(String::from));
    } else {
        args.push(DATA_PATH.into());
    }
    args
}

/// How a Job's container sees its claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    /// A file system mounted read-only at [`DATA_PATH`].
    ReadOnly,
    /// A file system mounted writable at [`DATA_PATH`].
    ReadWrite,
    /// A block device at [`DEVICE_PATH`].
    Device,
}

/// A Job in `namespace`: one pod, never retried, that runs cairn with `args` and the claim
/// `claim` as `access` says, its environment from the Secret `secret`.
pub(super) fn job(
    namespace: &str,
    options: &MoverOptions,
    args: Vec<String>,
    secret: &str,
    claim: &str,
    access: Access,
) -> Value {
    let mut container = json!({
        "name": "cairn",
        "image": options.image,
        "args": args,
        "envFrom": [{"secretRef": {"name": secret}}],
    });
    let read_only = access == Access::ReadOnly;
    if access == Access::Device {
        container["volumeDevices"] = json!([{"name": "data", "devicePath": DEVICE_PATH}]);
    } else {
        container["volumeMounts"] =
            json!([{"name": "data", "mountPath": DATA_PATH, "readOnly": read_only}]);
    }
    let volume = json!({"name": "data",
                        "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only}});
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata(namespace),
           "spec": {
               "backoffLimit": 0,
               "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
               "activeDeadlineSeconds": options.timeout.as_secs().max(1),
               "template": {
                   "metadata": {"labels": labels()},
                   "spec": {"restartPolicy": "Never",
                            "automountServiceAccountToken": false,
                            "containers": [container],
                            "volumes": [volume]}}}})
}

/// The backup mover's Job: `clone` mounted read-only, or as a device for a block claim (which
/// not every driver can attach read-only; the container only reads it).
pub(super) fn mover_job(spec: &MoverSpec<'_>, secret: &str, clone: &str) -> Value {
    let access = if spec.claim.block {
        Access::Device
    } else {
        Access::ReadOnly
    };
    let (ns, o) = (spec.claim.namespace, spec.options);
    job(ns, o, mover_args(spec), secret, clone, access)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(block: bool) -> Claim<'static> {
        Claim {
            namespace: "shop",
            name: "data",
            block,
            volume: Some("pv-1"),
            storage_class: Some("csi-fast"),
            size: Some("2Gi"),
        }
    }

    #[test]
    fn the_secret_holds_the_repository_and_password_and_the_job_reads_it() {
        let options = MoverOptions::new("/srv/repo", b"s3cret");
        let c = claim(false);
        let spec = MoverSpec {
            claim: &c,
            class: "snap",
            tag: "cairn-mover=01",
            options: &options,
        };
        let s = secret("shop", &options);
        assert_eq!(s["data"]["CAIRN_REPOSITORY"], "L3Nydi9yZXBv");
        assert_eq!(s["data"]["CAIRN_PASSWORD"], "czNjcmV0");
        assert_eq!(s["metadata"]["labels"]["backup.cairn.io/exclude"], "true");
        let j = mover_job(&spec, "cairn-mover-x", "cairn-mover-y");
        let pod = &j["spec"]["template"]["spec"];
        assert_eq!(j["spec"]["backoffLimit"], 0);
        assert_eq!(
            pod["containers"][0]["envFrom"][0]["secretRef"]["name"],
            "cairn-mover-x"
        );
        assert_eq!(
            pod["containers"][0]["args"],
            json!(["backup", "--no-cache", "--tag", "cairn-mover=01", "/data"])
        );
        assert_eq!(pod["containers"][0]["volumeMounts"][0]["readOnly"], true);
        assert_eq!(
            pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "cairn-mover-y"
        );
        let clone = clone_claim(&spec, "snap-1", Some("3Gi"));
        assert_eq!(clone["spec"]["dataSource"]["name"], "snap-1");
        assert_eq!(clone["spec"]["resources"]["requests"]["storage"], "3Gi");
        assert_eq!(clone["spec"]["storageClassName"], "csi-fast");
    }

    #[test]
    fn a_block_claim_is_streamed_from_its_device() {
        let options = MoverOptions::new("/srv/repo", b"pw");
        let c = claim(true);
        let spec = MoverSpec {
            claim: &c,
            class: "snap",
            tag: "t",
            options: &options,
        };
        let args = mover_args(&spec);
        assert!(args.ends_with(&["data.img", "--", "cat", DEVICE_PATH].map(String::from)));
        let j = mover_job(&spec, "s", "c");
        let container = &j["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["volumeDevices"][0]["devicePath"], DEVICE_PATH);
        assert_eq!(clone_claim(&spec, "x", None)["spec"]["volumeMode"], "Block");
    }

    #[test]
    fn the_default_class_of_the_driver_is_chosen() {
        let list = json!({"items": [
            {"metadata": {"name": "other"}, "driver": "b.csi"},
            {"metadata": {"name": "plain"}, "driver": "a.csi"},
            {"metadata": {"name": "chosen", "annotations": {DEFAULT_CLASS: "true"}},
             "driver": "a.csi"},
        ]});
        assert_eq!(class_for(&list, "a.csi").as_deref(), Some("chosen"));
        assert_eq!(class_for(&list, "b.csi").as_deref(), Some("other"));
        assert_eq!(class_for(&list, "c.csi"), None);
        assert_eq!(class_for(&json!({"kind": "Status"}), "a.csi"), None);
    }
}
