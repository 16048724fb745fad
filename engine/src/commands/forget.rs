//! `cairn forget`: remove the snapshots that a retention policy does not keep.
//!
//! The snapshots that pass the filter are split into groups (`--group-by`), and the policy applies
//! to each group on its own (see [`crate::KeepPolicy`] for the rules, which are restic's). Only
//! snapshot files are deleted: the data that only they referenced stays until prune.
//!
//! Two refusals protect against a mistaken command line, both before anything is removed, as in
//! restic: a policy with no rules (it would remove every snapshot), and a policy that keeps no
//! snapshot of some group (possible only when `tags` is the only rule and no snapshot of the group
//! has the tags; every other rule keeps at least the newest snapshot).

use cairn_repo_format::SnapshotId;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::policy::{policies, policy_for};
use crate::repository::Repository;
use crate::retention::{apply_at, group, Decision, GroupBy, GroupKey, KeepPolicy};
use crate::snapshots::SnapshotFilter;

/// Options of `forget`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ForgetOptions {
    /// The rules; must not be empty.
    pub policy: KeepPolicy,
    /// How snapshots are grouped before the policy applies to each group.
    pub group_by: GroupBy,
    /// Which snapshots are considered at all; the others are left alone.
    pub filter: SnapshotFilter,
    /// Decide and report, but remove nothing.
    pub dry_run: bool,
    /// The zone whose calendar defines hours, days, weeks, months and years.
    pub tz: TimeZone,
}

impl Default for ForgetOptions {
    /// No rules (which `forget` refuses), [`GroupBy::default`], no filter, not a dry run, and the
    /// system's time zone (`TZ` respected).
    fn default() -> Self {
        ForgetOptions {
            policy: KeepPolicy::default(),
            group_by: GroupBy::default(),
            filter: SnapshotFilter::default(),
            dry_run: false,
            tz: TimeZone::system(),
        }
    }
}

impl ForgetOptions {
    /// Options applying `policy`, otherwise as [`ForgetOptions::default`].
    pub fn new(policy: KeepPolicy) -> Self {
        ForgetOptions {
            policy,
            ..ForgetOptions::default()
        }
    }
}

/// The decisions on one group.
#[derive(Clone, Debug, Serialize)]
pub struct GroupDecisions {
    /// What the group's snapshots share.
    pub key: GroupKey,
    /// One per snapshot of the group, newest first.
    pub decisions: Vec<Decision>,
}

/// What `forget` decided and did.
#[derive(Clone, Debug, Serialize)]
pub struct ForgetReport {
    /// Every group, in the order of their keys.
    pub groups: Vec<GroupDecisions>,
    /// The snapshots removed (on a dry run: that would be removed), oldest first.
    pub removed: Vec<SnapshotId>,
}

/// Applies `options.policy` to the repository's snapshots and, unless it is a dry run, deletes
/// those it does not keep.
///
/// An empty policy, or one that would keep nothing of some group, is
/// [`ErrorKind::InvalidInput`] and removes nothing. Deletion stops at the first failure; the
/// error says how many snapshots were already removed, and running `forget` again finishes the
/// job.
pub fn forget(repo: &Repository, options: &ForgetOptions) -> Result<ForgetReport> {
    // Without rules on the command line, the policies stored in the repository apply.
    let stored = if options.policy.is_empty() {
        let stored = policies(repo)?;
        if stored.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "no policy given: forget removes every snapshot that no --keep-* rule keeps, so \
                 without rules it would remove them all; give at least one rule, or store one with \
                 `cairn policy set`; nothing was removed",
            ));
        }
        Some(stored)
    } else {
        None
    };
    let snapshots = options.filter.apply(repo.snapshots()?);
    let now = Timestamp::now();
    let mut groups = Vec::new();
    let mut removed = Vec::new();
    for (key, members) in group(snapshots, options.group_by) {
        let policy = match &stored {
            None => &options.policy,
            Some(stored) => match policy_for(stored, &key)? {
                Some(p) => &p.keep,
                // No stored policy governs this group: it keeps everything.
                None => continue,
            },
        };
        let decisions = apply_at(policy, &members, &options.tz, now);
        if !decisions.iter().any(|d| d.keep) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "refusing to remove every snapshot of the group {key}: the policy \
                     ({policy}) keeps none of its {} snapshots; nothing was removed",
                    decisions.len()
                ),
            ));
        }
        removed.extend(
            decisions
                .iter()
                .filter(|d| !d.keep)
                .map(|d| (d.snapshot.time, d.id)),
        );
        groups.push(GroupDecisions { key, decisions });
    }
    removed.sort();
    let removed: Vec<SnapshotId> = removed.into_iter().map(|(_, id)| id).collect();
    if !options.dry_run {
        delete_all(repo, &removed)?;
    }
    Ok(ForgetReport { groups, removed })
}

/// Removes exactly the snapshots `ids`, as `restic forget ID...` does: no policy applies, so the
/// report has no groups. On a dry run nothing is removed.
pub fn forget_ids(repo: &Repository, ids: &[SnapshotId], dry_run: bool) -> Result<ForgetReport> {
    if !dry_run {
        delete_all(repo, ids)?;
    }
    Ok(ForgetReport {
        groups: Vec::new(),
        removed: ids.to_vec(),
    })
}

fn delete_all(repo: &Repository, ids: &[SnapshotId]) -> Result<()> {
    for (done, id) in ids.iter().enumerate() {
        repo.delete_snapshot(id).context(format_args!(
            "removing snapshot {} ({done} of {} removed before it)",
            id.short(),
            ids.len()
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::{parse_span, Count, TagList};
    use crate::testutil::memory_repo;
    use cairn_repo_format::{BlobId, Snapshot, Source, FORMAT_VERSION};

    fn snapshot(time: &str, host: &str, paths: &[&str], tags: &[&str]) -> Snapshot {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Snapshot {
            version: FORMAT_VERSION,
            time: time.parse().unwrap(),
            host: host.into(),
            username: "u".into(),
            tags: strings(tags),
            paths: strings(paths),
            excludes: vec![],
            parent: None,
            original: None,
            tree: BlobId::default(),
            source: Source::Files,
            summary: Default::default(),
            program_version: "cairn test".into(),
        }
    }

    /// Saves the snapshots; returns their ids in the order given.
    fn save(repo: &Repository, snaps: &[Snapshot]) -> Vec<SnapshotId> {
        snaps
            .iter()
            .map(|s| repo.save_snapshot(s).unwrap())
            .collect()
    }

    fn ids_in(repo: &Repository) -> Vec<SnapshotId> {
        let mut ids: Vec<_> = repo
            .snapshots()
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        ids
    }

    fn sorted(mut ids: Vec<SnapshotId>) -> Vec<SnapshotId> {
        ids.sort();
        ids
    }

    fn options(policy: KeepPolicy) -> ForgetOptions {
        ForgetOptions {
            tz: TimeZone::UTC,
            ..ForgetOptions::new(policy)
        }
    }

    fn daily(n: u32) -> KeepPolicy {
        KeepPolicy {
            daily: Some(Count::Limit(n)),
            ..Default::default()
        }
    }

    #[test]
    fn refuses_an_empty_policy_and_removes_nothing() {
        let repo = memory_repo();
        save(
            &repo,
            &[snapshot("2024-01-01T00:00:00Z", "a", &["/x"], &[])],
        );
        for policy in [
            KeepPolicy::default(),
            KeepPolicy {
                last: Some(Count::Limit(0)),
                within: Some(parse_span("0d").unwrap()),
                ..Default::default()
            },
        ] {
            let e = forget(&repo, &options(policy)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            let msg = e.to_string();
            assert!(msg.starts_with("no policy given: "), "{msg}");
            assert!(msg.ends_with("nothing was removed"), "{msg}");
        }
        assert_eq!(repo.snapshots().unwrap().len(), 1);
    }

    #[test]
    fn applies_the_policy_per_group_and_dry_run_removes_nothing() {
        let repo = memory_repo();
        let ids = save(
            &repo,
            &[
                // host a, /x: three days, two snapshots on the last.
                snapshot("2024-03-01T10:00:00Z", "a", &["/x"], &[]),
                snapshot("2024-03-02T10:00:00Z", "a", &["/x"], &[]),
                snapshot("2024-03-03T09:00:00Z", "a", &["/x"], &[]),
                snapshot("2024-03-03T18:00:00Z", "a", &["/x"], &[]),
                // host a, /y and /x (another group, paths in another order).
                snapshot("2024-03-01T11:00:00Z", "a", &["/y", "/x"], &[]),
                snapshot("2024-03-02T11:00:00Z", "a", &["/x", "/y"], &[]),
                // host b, /x: one snapshot.
                snapshot("2024-02-01T00:00:00Z", "b", &["/x"], &["weekly"]),
            ],
        );
        let all = ids_in(&repo);

        let dry = ForgetOptions {
            dry_run: true,
            ..options(daily(2))
        };
        let report = forget(&repo, &dry).unwrap();
        assert_eq!(ids_in(&repo), all, "a dry run removed something");
        // Oldest first.
        assert_eq!(report.removed, vec![ids[0], ids[2]]);
        let keys: Vec<String> = report.groups.iter().map(|g| g.key.to_string()).collect();
        assert_eq!(
            keys,
            [
                "host [a], paths [/x]",
                "host [a], paths [/x, /y]",
                "host [b], paths [/x]"
            ]
        );
        let first: Vec<(SnapshotId, bool, Vec<String>)> = report.groups[0]
            .decisions
            .iter()
            .map(|d| (d.id, d.keep, d.reasons.clone()))
            .collect();
        let kept = || vec!["daily snapshot".to_string()];
        assert_eq!(
            first,
            [
                (ids[3], true, kept()),
                (ids[2], false, vec![]),
                (ids[1], true, kept()),
                (ids[0], false, vec![]),
            ]
        );

        let report = forget(&repo, &options(daily(2))).unwrap();
        assert_eq!(report.removed, vec![ids[0], ids[2]]);
        assert_eq!(
            ids_in(&repo),
            sorted(vec![ids[1], ids[3], ids[4], ids[5], ids[6]])
        );
        // Forgetting again finds nothing more to remove.
        let again = forget(&repo, &options(daily(2))).unwrap();
        assert!(again.removed.is_empty());
        assert_eq!(ids_in(&repo).len(), 5);

        // The report serialises for --json.
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["groups"][0]["key"]["host"], "a");
        assert_eq!(
            json["groups"][0]["decisions"][0]["reasons"][0],
            "daily snapshot"
        );
        assert_eq!(json["removed"][0], ids[0].to_hex());
    }

    #[test]
    fn leaves_snapshots_outside_the_filter_alone() {
        let repo = memory_repo();
        let ids = save(
            &repo,
            &[
                snapshot("2024-03-01T10:00:00Z", "a", &["/x"], &[]),
                snapshot("2024-03-02T10:00:00Z", "a", &["/x"], &[]),
                snapshot("2024-03-01T10:00:00Z", "b", &["/x"], &[]),
                snapshot("2024-03-02T10:00:00Z", "b", &["/x"], &[]),
            ],
        );
        let opts = ForgetOptions {
            filter: SnapshotFilter::new(vec!["b".into()], vec![], vec![]),
            group_by: GroupBy::NONE,
            ..options(KeepPolicy {
                last: Some(Count::Limit(1)),
                ..Default::default()
            })
        };
        let report = forget(&repo, &opts).unwrap();
        assert_eq!(report.removed, vec![ids[2]]);
        assert_eq!(report.groups.len(), 1);
        assert_eq!(report.groups[0].decisions.len(), 2);
        assert_eq!(ids_in(&repo), sorted(vec![ids[0], ids[1], ids[3]]));
    }

    #[test]
    fn refuses_to_empty_a_group_when_only_tags_are_kept() {
        let repo = memory_repo();
        save(
            &repo,
            &[
                snapshot("2024-03-01T10:00:00Z", "a", &["/x"], &["keep"]),
                snapshot("2024-03-02T10:00:00Z", "a", &["/x"], &[]),
                snapshot("2024-03-01T10:00:00Z", "b", &["/x"], &["other"]),
            ],
        );
        let policy = KeepPolicy {
            tags: vec![TagList(vec!["keep".into()])],
            ..Default::default()
        };
        let e = forget(&repo, &options(policy.clone())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let msg = e.to_string();
        assert!(msg.contains("group host [b], paths [/x]"), "{msg}");
        assert!(msg.contains("all snapshots with tags [keep]"), "{msg}");
        assert!(msg.ends_with("nothing was removed"), "{msg}");
        assert_eq!(repo.snapshots().unwrap().len(), 3);

        // Restricted to host a, the tag keeps one and the other goes.
        let opts = ForgetOptions {
            filter: SnapshotFilter::new(vec!["a".into()], vec![], vec![]),
            ..options(policy)
        };
        assert_eq!(forget(&repo, &opts).unwrap().removed.len(), 1);
        assert_eq!(repo.snapshots().unwrap().len(), 2);
    }

    #[test]
    fn days_are_those_of_the_zone_given() {
        // 02:30 UTC on 2 July is the evening of 1 July in New York.
        let snaps = [
            snapshot("2024-07-01T15:00:00Z", "a", &["/x"], &[]),
            snapshot("2024-07-02T02:30:00Z", "a", &["/x"], &[]),
            snapshot("2024-07-02T14:00:00Z", "a", &["/x"], &[]),
        ];
        for (tz, removed) in [("UTC", 1), ("America/New_York", 0)] {
            let repo = memory_repo();
            let ids = save(&repo, &snaps);
            let opts = ForgetOptions {
                tz: TimeZone::get(tz).unwrap(),
                ..options(daily(2))
            };
            assert_eq!(
                forget(&repo, &opts).unwrap().removed,
                [ids[removed]],
                "{tz}"
            );
        }
    }

    #[test]
    fn groups_kubernetes_snapshots_by_application_by_default() {
        let repo = memory_repo();
        let app = |time: &str, ns: &str| {
            let mut s = snapshot(time, "node-1", &[], &[]);
            s.source = Source::Kubernetes {
                details: serde_json::json!({"cluster": "prod", "namespace": ns})
                    .as_object()
                    .cloned()
                    .unwrap(),
            };
            s
        };
        let ids = save(
            &repo,
            &[
                app("2024-03-01T10:00:00Z", "shop"),
                app("2024-03-02T10:00:00Z", "shop"),
                app("2024-03-01T10:00:00Z", "blog"),
            ],
        );
        let last = KeepPolicy {
            last: Some(Count::Limit(1)),
            ..Default::default()
        };
        let report = forget(&repo, &options(last)).unwrap();
        assert_eq!(report.removed, vec![ids[0]]);
        let keys: Vec<String> = report.groups.iter().map(|g| g.key.to_string()).collect();
        assert_eq!(
            keys,
            [
                "host [node-1], paths [], app [cluster prod, namespaces [blog]]",
                "host [node-1], paths [], app [cluster prod, namespaces [shop]]"
            ]
        );
    }

    #[test]
    fn without_rules_the_stored_policies_apply_per_group() {
        let repo = memory_repo();
        let ids = save(
            &repo,
            &[
                snapshot("2026-01-01T10:00:00Z", "web", &["/srv"], &[]),
                snapshot("2026-01-02T10:00:00Z", "web", &["/srv"], &[]),
                snapshot("2026-01-03T10:00:00Z", "web", &["/srv"], &[]),
                snapshot("2026-01-01T10:00:00Z", "db", &["/var"], &[]),
                snapshot("2026-01-02T10:00:00Z", "db", &["/var"], &[]),
            ],
        );
        let web = GroupKey {
            host: Some("web".into()),
            ..Default::default()
        };
        crate::policy::set_policy(&repo, &web, &daily(1)).unwrap();
        let report = forget(&repo, &options(KeepPolicy::default())).unwrap();
        // web keeps its newest; db has no policy and keeps everything.
        assert_eq!(sorted(report.removed.clone()), sorted(vec![ids[0], ids[1]]));
        assert_eq!(ids_in(&repo), sorted(vec![ids[2], ids[3], ids[4]]));
    }
}
