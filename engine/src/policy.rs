//! Retention policies stored in the repository, so an unattended `cairn forget --prune` needs no
//! flags.
//!
//! Each policy governs a group of snapshots named by a [`GroupKey`] whose fields are a selector: a
//! field that is set must equal the group's, an absent one matches anything, and the empty key is
//! the default policy. When several policies match a group, the one that sets the most fields
//! applies; two equally specific matches are an error rather than a guess.

use cairn_repo_format::{FileKind, PolicyFile, FORMAT_VERSION};

use crate::backend::FileType;
use crate::error::{Error, ErrorKind, Result};
use crate::repository::Repository;
use crate::retention::{GroupKey, KeepPolicy};

/// A policy as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredPolicy {
    /// Its file name.
    pub id: String,
    /// The groups it governs.
    pub group: GroupKey,
    /// Its rules.
    pub keep: KeepPolicy,
}

fn to_map<T: serde::Serialize>(v: &T) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

fn from_map<T: serde::de::DeserializeOwned>(
    what: &str,
    m: serde_json::Map<String, serde_json::Value>,
) -> Result<T> {
    serde_json::from_value(serde_json::Value::Object(m)).map_err(|e| {
        Error::new(
            ErrorKind::UnsupportedVersion,
            format!("{what} uses fields this cairn does not know ({e}); upgrade cairn"),
        )
    })
}

/// Every stored policy.
pub fn policies(repo: &Repository) -> Result<Vec<StoredPolicy>> {
    let mut out = Vec::new();
    for listed in repo.backend().list(FileType::Policy)? {
        let what = format!("policy {}", &listed.name[..8]);
        let file = PolicyFile::decode(&repo.read_file(FileKind::Policy, &listed.name)?)
            .map_err(|e| Error::format(&what, e))?;
        out.push(StoredPolicy {
            id: listed.name,
            group: from_map(&what, file.group)?,
            keep: from_map(&what, file.keep)?,
        });
    }
    Ok(out)
}

/// Stores `keep` for `group`, replacing a policy for exactly that group.
pub fn set_policy(repo: &Repository, group: &GroupKey, keep: &KeepPolicy) -> Result<StoredPolicy> {
    if keep.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "a policy needs at least one --keep-* rule (to remove a policy, use `policy unset`)",
        ));
    }
    let old: Vec<StoredPolicy> = policies(repo)?
        .into_iter()
        .filter(|p| p.group == *group)
        .collect();
    let file = PolicyFile {
        version: FORMAT_VERSION,
        group: to_map(group),
        keep: to_map(keep),
    };
    // The new one first: in between, the more recently written of two equal policies is the one
    // that `policies` readers see twice, and `policy_for` reports the tie instead of guessing.
    let id = hex::encode(repo.write_file(FileKind::Policy, &file.encode())?);
    for p in old.iter().filter(|p| p.id != id) {
        repo.backend().delete(FileType::Policy, &p.id)?;
    }
    Ok(StoredPolicy {
        id,
        group: group.clone(),
        keep: keep.clone(),
    })
}

/// Removes the policy for exactly `group`; returns whether there was one.
pub fn unset_policy(repo: &Repository, group: &GroupKey) -> Result<bool> {
    let mut found = false;
    for p in policies(repo)?.into_iter().filter(|p| p.group == *group) {
        repo.backend().delete(FileType::Policy, &p.id)?;
        found = true;
    }
    Ok(found)
}

fn specificity(g: &GroupKey) -> usize {
    g.host.is_some() as usize
        + g.paths.is_some() as usize
        + g.tags.is_some() as usize
        + g.app.is_some() as usize
}

fn matches(selector: &GroupKey, key: &GroupKey) -> bool {
    fn field<T: PartialEq>(sel: &Option<T>, key: &Option<T>) -> bool {
        sel.as_ref().is_none_or(|s| key.as_ref() == Some(s))
    }
    field(&selector.host, &key.host)
        && field(&selector.paths, &key.paths)
        && field(&selector.tags, &key.tags)
        && field(&selector.app, &key.app)
}

/// The policy that governs the group `key`, if any.
pub fn policy_for<'a>(
    policies: &'a [StoredPolicy],
    key: &GroupKey,
) -> Result<Option<&'a StoredPolicy>> {
    let mut best: Vec<&StoredPolicy> = policies.iter().filter(|p| matches(&p.group, key)).collect();
    best.sort_by_key(|p| std::cmp::Reverse(specificity(&p.group)));
    match best.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        [a, b, ..] if specificity(&a.group) > specificity(&b.group) => Ok(Some(a)),
        [a, b, ..] => Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "two stored policies match the group {key} equally ({} and {}); unset one",
                a.group, b.group
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::Count;
    use crate::testutil::memory_repo;

    fn keep_last(n: u32) -> KeepPolicy {
        KeepPolicy {
            last: Some(Count::Limit(n)),
            ..Default::default()
        }
    }

    #[test]
    fn set_replace_match_and_unset() {
        let repo = memory_repo();
        let default = GroupKey::default();
        let web = GroupKey {
            host: Some("web".into()),
            ..Default::default()
        };
        set_policy(&repo, &default, &keep_last(3)).unwrap();
        set_policy(&repo, &web, &keep_last(7)).unwrap();
        set_policy(&repo, &web, &keep_last(9)).unwrap();
        let all = policies(&repo).unwrap();
        assert_eq!(all.len(), 2);
        let key = GroupKey {
            host: Some("web".into()),
            paths: Some(vec!["/srv".into()]),
            ..Default::default()
        };
        assert_eq!(policy_for(&all, &key).unwrap().unwrap().keep, keep_last(9));
        let other = GroupKey {
            host: Some("db".into()),
            ..Default::default()
        };
        assert_eq!(
            policy_for(&all, &other).unwrap().unwrap().keep,
            keep_last(3)
        );
        assert!(unset_policy(&repo, &web).unwrap());
        assert!(!unset_policy(&repo, &web).unwrap());
        assert!(set_policy(&repo, &web, &KeepPolicy::default()).is_err());
    }

    #[test]
    fn equally_specific_matches_are_an_error() {
        let repo = memory_repo();
        let by_host = GroupKey {
            host: Some("web".into()),
            ..Default::default()
        };
        let by_tags = GroupKey {
            tags: Some(vec!["prod".into()]),
            ..Default::default()
        };
        set_policy(&repo, &by_host, &keep_last(1)).unwrap();
        set_policy(&repo, &by_tags, &keep_last(2)).unwrap();
        let key = GroupKey {
            host: Some("web".into()),
            tags: Some(vec!["prod".into()]),
            ..Default::default()
        };
        let all = policies(&repo).unwrap();
        assert_eq!(
            policy_for(&all, &key).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}
