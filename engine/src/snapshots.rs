//! Choosing snapshots: `latest`, unique id prefixes, and filters by host, tag and path.

use cairn_repo_format::{Snapshot, SnapshotId};

use crate::error::{Error, ErrorKind, Result};

/// Restricts which snapshots a command considers, as restic's `--host`, `--tag` and `--path` do.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SnapshotFilter {
    /// Keep snapshots of one of these hosts (any host when empty).
    pub hosts: Vec<String>,
    /// Keep snapshots that have every tag of one of these groups; each group is a comma-separated
    /// list (any tags when empty).
    pub tags: Vec<String>,
    /// Keep snapshots whose paths include all of these (any paths when empty).
    pub paths: Vec<String>,
}

impl SnapshotFilter {
    /// A filter on the given hosts, tag groups and paths.
    pub fn new(hosts: Vec<String>, tags: Vec<String>, paths: Vec<String>) -> Self {
        SnapshotFilter { hosts, tags, paths }
    }

    /// True when `s` passes the filter.
    pub fn matches(&self, s: &Snapshot) -> bool {
        let host_ok = self.hosts.is_empty() || self.hosts.contains(&s.host);
        let tags_ok = self.tags.is_empty()
            || self.tags.iter().any(|group| {
                group
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .all(|t| s.tags.iter().any(|st| st == t))
            });
        let paths_ok = self.paths.iter().all(|p| s.paths.iter().any(|sp| sp == p));
        host_ok && tags_ok && paths_ok
    }

    /// The snapshots that pass, in the order given.
    pub fn apply(&self, all: Vec<(SnapshotId, Snapshot)>) -> Vec<(SnapshotId, Snapshot)> {
        all.into_iter().filter(|(_, s)| self.matches(s)).collect()
    }
}

/// Picks one snapshot from `all` (oldest first) by `latest` or a unique prefix of its id.
pub fn select(all: Vec<(SnapshotId, Snapshot)>, spec: &str) -> Result<(SnapshotId, Snapshot)> {
    if spec == "latest" {
        return all.into_iter().next_back().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                "no snapshot matches: the repository has none that fit",
            )
        });
    }
    if spec.is_empty() || !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{spec:?} is neither `latest` nor a snapshot id (hex digits)"),
        ));
    }
    let spec = spec.to_ascii_lowercase();
    let mut matching: Vec<_> = all
        .into_iter()
        .filter(|(id, _)| id.to_hex().starts_with(&spec))
        .collect();
    match matching.len() {
        0 => Err(Error::new(
            ErrorKind::NotFound,
            format!("no snapshot with id {spec}"),
        )),
        1 => Ok(matching.remove(0)),
        n => Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{spec} is ambiguous: {n} snapshots start with it; give more digits"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_repo_format::{BlobId, Source, FORMAT_VERSION};

    fn snap(host: &str, tags: &[&str]) -> Snapshot {
        Snapshot {
            version: FORMAT_VERSION,
            time: "2026-01-01T00:00:00Z".parse().unwrap(),
            host: host.into(),
            username: String::new(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            paths: vec!["/data".into()],
            excludes: vec![],
            parent: None,
            original: None,
            tree: BlobId::default(),
            source: Source::Files,
            summary: Default::default(),
            program_version: String::new(),
        }
    }

    #[test]
    fn latest_prefix_and_ambiguity() {
        let all = vec![
            (SnapshotId([0xab; 32]), snap("a", &[])),
            (SnapshotId([0xac; 32]), snap("b", &[])),
        ];
        assert_eq!(
            select(all.clone(), "latest").unwrap().0,
            SnapshotId([0xac; 32])
        );
        assert_eq!(select(all.clone(), "ab").unwrap().0, SnapshotId([0xab; 32]));
        assert_eq!(
            select(all.clone(), "a").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            select(all.clone(), "ff").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            select(all, "nope").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            select(vec![], "latest").unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn filters_by_host_tag_groups_and_path() {
        let f = SnapshotFilter::new(vec![], vec!["x,y".into(), "z".into()], vec![]);
        assert!(f.matches(&snap("h", &["x", "y"])));
        assert!(f.matches(&snap("h", &["z"])));
        assert!(!f.matches(&snap("h", &["x"])));
        let f = SnapshotFilter::new(vec!["h".into()], vec![], vec!["/data".into()]);
        assert!(f.matches(&snap("h", &[])));
        assert!(!f.matches(&snap("g", &[])));
    }
}
