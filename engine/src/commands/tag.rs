//! `cairn tag`: add, remove or replace the tags of snapshots.
//!
//! Snapshots are immutable files named by their hash, so editing tags writes a new snapshot (whose
//! `original` names the first snapshot of the chain) and then deletes the old one. The new one is
//! written first: a crash between the two leaves both, never neither.

use cairn_repo_format::{Snapshot, SnapshotId};

use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::repository::Repository;

/// How to change tags, as restic's `--add`, `--remove` and `--set`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagChange {
    /// Tags to add.
    pub add: Vec<String>,
    /// Tags to remove.
    pub remove: Vec<String>,
    /// Tags to set, replacing all others; cannot be combined with `add` or `remove`.
    pub set: Option<Vec<String>>,
}

impl TagChange {
    /// The tags `old` becomes: sorted and without duplicates.
    pub fn apply(&self, old: &[String]) -> Vec<String> {
        let mut tags: Vec<String> = match &self.set {
            Some(set) => set.clone(),
            None => old.to_vec(),
        };
        tags.extend(self.add.iter().cloned());
        tags.retain(|t| !self.remove.contains(t));
        tags.sort();
        tags.dedup();
        tags
    }

    fn validate(&self) -> Result<()> {
        if self.set.is_some() && !(self.add.is_empty() && self.remove.is_empty()) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "--set replaces all tags and cannot be combined with --add or --remove",
            ));
        }
        if self.set.is_none() && self.add.is_empty() && self.remove.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "nothing to do: give tags to add, remove or set",
            ));
        }
        let all = self
            .add
            .iter()
            .chain(&self.remove)
            .chain(self.set.iter().flatten());
        if all.into_iter().any(|t| t.is_empty()) {
            return Err(Error::new(ErrorKind::InvalidInput, "a tag cannot be empty"));
        }
        Ok(())
    }
}

/// Changes the tags of `snapshots`. For each snapshot whose tags actually change, writes the new
/// snapshot, then deletes the old one; returns the (old id, new id) pairs, in the order given.
/// Snapshots whose tags stay the same are left alone. An empty or contradictory change (`set` with
/// `add` or `remove`) is [`ErrorKind::InvalidInput`].
pub fn tag(
    repo: &Repository,
    snapshots: &[(SnapshotId, Snapshot)],
    change: &TagChange,
) -> Result<Vec<(SnapshotId, SnapshotId)>> {
    change.validate()?;
    let mut out = Vec::new();
    for (old_id, old) in snapshots {
        let tags = change.apply(&old.tags);
        let mut current = old.tags.clone();
        current.sort();
        current.dedup();
        if tags == current {
            continue;
        }
        let what = format!("snapshot {}", old_id.short());
        let new = Snapshot {
            tags,
            original: Some(old.original.unwrap_or(*old_id)),
            ..old.clone()
        };
        let new_id = repo.save_snapshot(&new).context(&what)?;
        if new_id != *old_id {
            repo.delete_snapshot(old_id).context(&what)?;
        }
        out.push((*old_id, new_id));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::ls::fixture::{commit, dir, file};
    use crate::testutil::memory_repo;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn rewrites_changed_snapshots_and_keeps_the_first_original() {
        let (repo, id, snap) = commit(
            &memory_repo(),
            &dir(vec![("f", file(b"x"))]),
            "2026-01-01T00:00:00Z",
        );
        let add = TagChange {
            add: strings(&["b", "a", "b"]),
            ..Default::default()
        };
        let pairs = tag(&repo, &[(id, snap.clone())], &add).unwrap();
        assert_eq!(pairs.len(), 1);
        let (old, new) = pairs[0];
        assert_eq!(old, id);
        let all = repo.snapshots().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, new);
        assert_eq!(all[0].1.tags, strings(&["a", "b"]));
        assert_eq!(all[0].1.original, Some(id));
        assert_eq!(all[0].1.tree, snap.tree);
        assert_eq!(all[0].1.time, snap.time);

        // Nothing changes: nothing is written.
        assert!(tag(&repo, &all, &add).unwrap().is_empty());
        assert_eq!(repo.snapshots().unwrap()[0].0, new);

        // A second edit keeps pointing at the first snapshot.
        let edit = TagChange {
            remove: strings(&["a"]),
            add: strings(&["c"]),
            ..Default::default()
        };
        let pairs = tag(&repo, &all, &edit).unwrap();
        let (_, newer) = pairs[0];
        let s = repo.load_snapshot(&newer).unwrap();
        assert_eq!((s.tags, s.original), (strings(&["b", "c"]), Some(id)));
        let set = TagChange {
            set: Some(vec![]),
            ..Default::default()
        };
        let pairs = tag(&repo, &repo.snapshots().unwrap(), &set).unwrap();
        assert!(repo.load_snapshot(&pairs[0].1).unwrap().tags.is_empty());
        assert_eq!(repo.snapshots().unwrap().len(), 1);
    }

    #[test]
    fn refuses_empty_or_contradictory_changes() {
        let repo = memory_repo();
        for change in [
            TagChange::default(),
            TagChange {
                set: Some(strings(&["a"])),
                add: strings(&["b"]),
                ..Default::default()
            },
            TagChange {
                add: strings(&[""]),
                ..Default::default()
            },
        ] {
            assert_eq!(
                tag(&repo, &[], &change).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
        }
    }
}
