//! Snapshots: one point in time of one source, pointing at a root tree.
//!
//! Stored sealed at `snapshots/<id>` as a JSON payload. Readers ignore fields they do not know, so
//! later versions may add fields; a change that old readers would misread bumps the format version.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{FormatError, Result};
use crate::id::{BlobId, SnapshotId};
use crate::version::FORMAT_VERSION;

/// What a snapshot was taken of.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Source {
    /// Directories and files of the host.
    Files,
    /// One stream: stdin, a command's output, or a file or block device read as one stream.
    Stream {
        /// The name the stream has in the snapshot's tree.
        filename: String,
        /// The command whose output was stored, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<Vec<String>>,
    },
    /// A Kubernetes application; its fields arrive with the Kubernetes backup (spec/snapshots.md).
    Kubernetes {
        /// The application's fields.
        #[serde(flatten)]
        details: serde_json::Map<String, serde_json::Value>,
    },
}

/// What a backup did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Files that were not in the parent snapshot.
    pub files_new: u64,
    /// Files that changed since the parent snapshot.
    pub files_changed: u64,
    /// Files taken unchanged from the parent snapshot without reading them.
    pub files_unmodified: u64,
    /// Directories.
    pub dirs: u64,
    /// Other entries (symlinks, devices, fifos, sockets).
    pub others: u64,
    /// Bytes of file content read from the source.
    pub bytes_read: u64,
    /// Bytes of file content in the snapshot.
    pub bytes_total: u64,
    /// Bytes of new blobs (compressed and sealed) added to the repository.
    pub bytes_added: u64,
    /// New data blobs.
    pub data_blobs_added: u64,
    /// New tree blobs.
    pub tree_blobs_added: u64,
    /// Entries that could not be read and are missing from the snapshot.
    pub errors: u64,
    /// Wall time of the backup in seconds.
    pub duration_secs: f64,
}

/// A snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version.
    pub version: u32,
    /// When the snapshot was taken (or the `--time` given).
    pub time: Timestamp,
    /// The host it was taken on (or `--host`).
    pub host: String,
    /// The user who took it.
    #[serde(default)]
    pub username: String,
    /// Tags, sorted.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The paths given to the backup, absolute.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Exclude patterns in effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    /// The snapshot this one was compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<SnapshotId>,
    /// The snapshot this one replaced when its tags were edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<SnapshotId>,
    /// Root tree node.
    pub tree: BlobId,
    /// What was backed up.
    pub source: Source,
    /// Counters of the backup.
    #[serde(default)]
    pub summary: Summary,
    /// `cairn <version>` of the writer.
    #[serde(default)]
    pub program_version: String,
}

impl Snapshot {
    /// Encodes the payload. A duration that is not a finite number is written as 0, since JSON has no
    /// other way to say it.
    pub fn encode(&self) -> Vec<u8> {
        if !self.summary.duration_secs.is_finite() {
            let mut fixed = self.clone();
            fixed.summary.duration_secs = 0.0;
            return fixed.encode();
        }
        serde_json::to_vec(self).expect("snapshot serialises")
    }

    /// Decodes a payload.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        let snap: Snapshot =
            serde_json::from_slice(payload).map_err(FormatError::json("snapshot"))?;
        if snap.version != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion {
                what: "snapshot",
                found: snap.version,
                supported: FORMAT_VERSION,
            });
        }
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_for_each_source() {
        for source in [
            Source::Files,
            Source::Stream {
                filename: "db.sql".into(),
                command: Some(vec!["pg_dump".into()]),
            },
            Source::Kubernetes {
                details: serde_json::json!({"cluster": "prod"})
                    .as_object()
                    .unwrap()
                    .clone(),
            },
        ] {
            let snap = Snapshot {
                version: FORMAT_VERSION,
                time: "2026-11-21T10:00:00.123456789Z".parse().unwrap(),
                host: "h".into(),
                username: "u".into(),
                tags: vec!["a".into()],
                paths: vec!["/x".into()],
                excludes: vec![],
                parent: None,
                original: None,
                tree: BlobId([4; 32]),
                source,
                summary: Summary::default(),
                program_version: "cairn test".into(),
            };
            assert_eq!(Snapshot::decode(&snap.encode()).unwrap(), snap);
        }
        assert!(Snapshot::decode(b"{}").is_err());
    }

    #[test]
    fn a_non_finite_duration_still_decodes() {
        let mut snap = Snapshot::decode(br#"{"version":1,"time":"2026-11-21T10:00:00Z","host":"h","tree":"0000000000000000000000000000000000000000000000000000000000000000","source":{"type":"files"}}"#).unwrap();
        snap.summary.duration_secs = f64::NAN;
        assert_eq!(
            Snapshot::decode(&snap.encode())
                .unwrap()
                .summary
                .duration_secs,
            0.0
        );
    }
}
