//! The `csi-snapshot` volume method: a data mover (spec/kubernetes.md, "Volumes").
//!
//! For one claim: a Secret with the repository's location and password, a `VolumeSnapshot` of the
//! claim, a claim made from that snapshot (the clone), and a Job that mounts the clone read-only
//! and runs `cairn backup` into the same repository with a temporary tag. The Job's snapshot is
//! then grafted into the application's tree and its snapshot file removed. Whatever was created in
//! the cluster is deleted at the end, also when a step failed or timed out.
//!
//! `objects` builds the objects, `lifecycle` creates, waits for and deletes them, and `graft`
//! takes the Job's snapshot into the application's tree. `restore` goes the other way: a new
//! claim filled by a Job that runs `cairn restore`.

mod graft;
mod lifecycle;
mod objects;
mod restore;

use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

use super::data::{DataContext, VolumeRecord};
use super::error::K8sError;
use super::memtree::MemDir;
use super::volumes::{Claim, VolumeMethod};

pub use restore::{restore_volume, RestoredVolume, VolumeRestore};

/// The image the mover Job runs by default: this version of cairn.
pub const DEFAULT_MOVER_IMAGE: &str =
    concat!("ghcr.io/cairn-backup/cairn:", env!("CARGO_PKG_VERSION"));

/// How long the mover of one claim may take by default (snapshot, clone and Job together).
pub const DEFAULT_MOVER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The label a mover's snapshot carries until it is grafted: `cairn-mover=<random>`.
pub const MOVER_TAG_PREFIX: &str = "cairn-mover=";

/// The credentials of object storage that a mover Job gets when the repository is in a bucket.
const CREDENTIAL_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ALLOW_HTTP",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_ACCOUNT_NAME",
    "AZURE_ACCOUNT_KEY",
];

/// What the mover Job needs: where the repository is and how to open it, and how to run.
#[derive(Clone)]
#[non_exhaustive]
pub struct MoverOptions {
    /// The repository's location, as the Job's pod must reach it (`CAIRN_REPOSITORY`).
    pub repository: String,
    /// The repository's password (`CAIRN_PASSWORD`).
    pub password: Zeroizing<Vec<u8>>,
    /// More variables for the Job, such as object storage credentials.
    pub env: Vec<(String, Zeroizing<String>)>,
    /// The image whose entrypoint is cairn (`--mover-image`).
    pub image: String,
    /// How long one claim's mover may take (`--mover-timeout`).
    pub timeout: Duration,
    /// The `VolumeSnapshotClass` to use (`--snapshot-class`); else one for the volume's driver.
    pub snapshot_class: Option<String>,
}

impl MoverOptions {
    /// Options for the repository at `repository` opened with `password`, with the default image
    /// and timeout, and the object storage credentials of this process's environment when the
    /// repository is in a bucket.
    pub fn new(repository: &str, password: &[u8]) -> Self {
        MoverOptions {
            repository: repository.to_string(),
            password: Zeroizing::new(password.to_vec()),
            env: credential_env(repository),
            image: DEFAULT_MOVER_IMAGE.to_string(),
            timeout: DEFAULT_MOVER_TIMEOUT,
            snapshot_class: None,
        }
    }
}

impl std::fmt::Debug for MoverOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoverOptions")
            .field("repository", &self.repository)
            .field("password", &"<redacted>")
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("image", &self.image)
            .field("timeout", &self.timeout)
            .field("snapshot_class", &self.snapshot_class)
            .finish()
    }
}

/// The object storage credentials set in this process's environment, when `location` is a bucket
/// (`s3:`, `gs:`, `azure:`); none for a path.
fn credential_env(location: &str) -> Vec<(String, Zeroizing<String>)> {
    let bucket = ["s3:", "gs:", "azure:"]
        .iter()
        .any(|p| location.starts_with(p));
    if !bucket {
        return Vec::new();
    }
    CREDENTIAL_VARIABLES
        .iter()
        .filter_map(|k| Some((k.to_string(), Zeroizing::new(std::env::var(k).ok()?))))
        .collect()
}

/// How one claim is moved: the facts the objects are made from.
#[derive(Clone, Debug)]
pub(super) struct Plan<'a> {
    /// The `VolumeSnapshotClass`.
    pub class: String,
    /// Repository, image, timeout.
    pub mover: &'a MoverOptions,
}

/// Whether the csi-snapshot method applies to a claim bound to `pv`, and with which class; else
/// why not.
pub(super) fn plan<'a>(ctx: &DataContext<'a>, pv: Option<&Value>) -> Result<Plan<'a>, String> {
    let Some(mover) = ctx.mover else {
        return Err("no repository credentials were given for the mover Job".into());
    };
    if let Some(class) = &mover.snapshot_class {
        return Ok(Plan {
            class: class.clone(),
            mover,
        });
    }
    let driver = pv
        .and_then(|pv| pv.pointer("/spec/csi/driver"))
        .and_then(Value::as_str)
        .ok_or("the volume is not a CSI volume (no spec.csi)")?;
    let classes = ctx
        .rt
        .block_on(ctx.cluster.get_json(objects::CLASSES_PATH))
        .map_err(|e| match e.status() {
            Some(404) => "the cluster serves no snapshot.storage.k8s.io/v1".to_string(),
            _ => format!("cannot list VolumeSnapshotClasses: {e}"),
        })?;
    objects::class_for(&classes, driver)
        .map(|class| Plan { class, mover })
        .ok_or_else(|| {
            format!(
                "no VolumeSnapshotClass for the CSI driver {driver}: create one or give \
                 --snapshot-class"
            )
        })
}

/// Reads one claim through a mover Job, filling `rec`; what it created in the cluster is deleted
/// before it returns. Errors only for failures of the repository that end the backup.
pub(super) fn back_up_claim(
    ctx: &DataContext<'_>,
    claim: &Claim<'_>,
    plan: &Plan<'_>,
    root: &mut MemDir,
    rec: &mut VolumeRecord,
) -> Result<(), K8sError> {
    rec.method = VolumeMethod::CsiSnapshot.as_str();
    let tag = format!(
        "{MOVER_TAG_PREFIX}{}",
        hex::encode(rand::random::<[u8; 8]>())
    );
    let spec = objects::MoverSpec {
        claim,
        class: &plan.class,
        tag: &tag,
        options: plan.mover,
    };
    let run = ctx.rt.block_on(lifecycle::run(ctx.cluster, &spec));
    rec.leftovers = run.leftovers;
    let moved = graft::take(ctx, claim, &tag, run.outcome.is_ok(), root, rec)?;
    if let Err(why) = run.outcome {
        rec.error = Some(why);
        rec.incomplete = true;
    } else if let Err(why) = moved {
        rec.error = Some(why);
        rec.incomplete = true;
    }
    Ok(())
}
