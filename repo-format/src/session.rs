//! Writer sessions and deletion plans: the files of the lock-free protocol (spec/concurrency.md).
//!
//! A session file (`sessions/<id>`) says a writer is at work; the storage's last-modified time of the
//! file, refreshed by the writer, says whether it is alive. A deletion plan (`deletions/<id>`) names
//! packs that prune found unused; they are deleted only once every live session has seen the plan.

use serde::{Deserialize, Serialize};

use crate::error::{FormatError, Result};
use crate::id::{PackId, SnapshotId};
use crate::version::FORMAT_VERSION;

/// A writer's registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFile {
    /// Format version.
    pub version: u32,
    /// What the writer does: `backup`, `prune`, `tag`, `copy`, ...
    pub kind: String,
    /// Host it runs on (for messages only).
    pub host: String,
    /// Process id on that host (for messages only).
    pub pid: u32,
    /// Names (hex ids) of the deletion plans the writer read after registering. `None` until it has
    /// read them: such a session has seen no plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_plans: Option<Vec<String>>,
}

/// A deletion plan written by prune.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionPlan {
    /// Format version.
    pub version: u32,
    /// Packs to delete once the plan is ripe.
    pub packs: Vec<PackId>,
    /// Every snapshot that existed when the plan was made; a snapshot not listed here was written
    /// later and may need a condemned pack revived.
    pub snapshots: Vec<SnapshotId>,
    /// Host that made the plan (for messages only).
    pub host: String,
}

macro_rules! json_file {
    ($t:ty, $what:literal) => {
        impl $t {
            /// Encodes the payload.
            pub fn encode(&self) -> Vec<u8> {
                serde_json::to_vec(self).expect("serialises")
            }

            /// Decodes a payload.
            pub fn decode(payload: &[u8]) -> Result<Self> {
                let v: Self = serde_json::from_slice(payload).map_err(FormatError::json($what))?;
                if v.version != FORMAT_VERSION {
                    return Err(FormatError::UnsupportedVersion {
                        what: $what,
                        found: v.version,
                        supported: FORMAT_VERSION,
                    });
                }
                Ok(v)
            }
        }
    };
}

json_file!(SessionFile, "session");
json_file!(DeletionPlan, "deletion plan");

/// A retention policy stored in the repository (`policies/<id>`), for one group of snapshots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFile {
    /// Format version.
    pub version: u32,
    /// Which snapshots it governs: the group key as `forget --group-by` forms it (`host`, `paths`,
    /// `tags`, `app`); an absent field matches any value; an empty object is the default policy.
    pub group: serde_json::Map<String, serde_json::Value>,
    /// The keep rules (spec/retention.md).
    pub keep: serde_json::Map<String, serde_json::Value>,
}

json_file!(PolicyFile, "policy");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_version_check() {
        let s = SessionFile {
            version: FORMAT_VERSION,
            kind: "backup".into(),
            host: "h".into(),
            pid: 7,
            seen_plans: Some(vec!["ab".into()]),
        };
        assert_eq!(SessionFile::decode(&s.encode()).unwrap(), s);
        let p = DeletionPlan {
            version: FORMAT_VERSION,
            packs: vec![PackId([1; 32])],
            snapshots: vec![SnapshotId([2; 32])],
            host: "h".into(),
        };
        assert_eq!(DeletionPlan::decode(&p.encode()).unwrap(), p);
        let mut bad = p.clone();
        bad.version = 9;
        assert!(DeletionPlan::decode(&bad.encode()).is_err());
        assert!(PolicyFile::decode(b"[]").is_err());
    }
}
