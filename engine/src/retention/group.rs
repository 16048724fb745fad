//! Grouping snapshots before a policy applies to each group, as restic's `--group-by`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use cairn_repo_format::{Snapshot, SnapshotId, Source};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// Which fields of a snapshot put it into a group: snapshots that agree on all chosen fields form
/// one group, and a policy applies to each group on its own.
///
/// The [`Default`] is `host,paths,app`: restic's `host,paths`, plus the Kubernetes application,
/// which is absent for snapshots of files and streams (so for them it is exactly restic's default)
/// and keeps the snapshots of different applications apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupBy {
    /// The host name.
    pub host: bool,
    /// The set of backed-up paths.
    pub paths: bool,
    /// The set of tags.
    pub tags: bool,
    /// The Kubernetes application: cluster, namespaces and selector (see [`AppKey`]).
    pub app: bool,
}

impl GroupBy {
    /// No grouping: one group of all snapshots (restic's `--group-by ''`).
    pub const NONE: GroupBy = GroupBy {
        host: false,
        paths: false,
        tags: false,
        app: false,
    };

    /// Parses restic's comma-separated list: `host`, `paths`, `tags` (or `hosts`, `path`, `tag`),
    /// and `app`; empty items are ignored, so `""` is [`GroupBy::NONE`]. Anything else is
    /// [`ErrorKind::InvalidInput`].
    pub fn parse(s: &str) -> Result<GroupBy> {
        let mut by = GroupBy::NONE;
        for item in s.split(',').map(str::trim) {
            match item {
                "host" | "hosts" => by.host = true,
                "path" | "paths" => by.paths = true,
                "tag" | "tags" => by.tags = true,
                "app" | "apps" => by.app = true,
                "" => {}
                other => {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "unknown grouping {other:?}: group by host, paths, tags and/or app, \
                             separated by commas ('' for no grouping)"
                        ),
                    ))
                }
            }
        }
        Ok(by)
    }
}

impl Default for GroupBy {
    fn default() -> Self {
        GroupBy {
            host: true,
            paths: true,
            tags: false,
            app: true,
        }
    }
}

impl FromStr for GroupBy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        GroupBy::parse(s)
    }
}

impl fmt::Display for GroupBy {
    /// The list [`GroupBy::parse`] reads back, e.g. `host,paths,app`; empty for no grouping.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = [
            (self.host, "host"),
            (self.paths, "paths"),
            (self.tags, "tags"),
            (self.app, "app"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
        f.write_str(&parts.join(","))
    }
}

/// The Kubernetes application a snapshot is of, read from the details of a
/// [`Source::Kubernetes`]: keys `cluster`, `namespaces` (a list) or `namespace`, and `selector`.
///
/// Until spec/kubernetes.md defines these fields, values are read leniently: a string as it is, a
/// list as its items, an object (a label selector) as `key=value` pairs sorted and joined by
/// commas, anything else as its JSON text; `null` counts as absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppKey {
    /// The cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The namespaces, sorted and without duplicates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// The label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

impl AppKey {
    /// The application of `snapshot`: `None` when it is not a Kubernetes snapshot or has none of
    /// the three fields.
    pub fn of(snapshot: &Snapshot) -> Option<AppKey> {
        let Source::Kubernetes { details } = &snapshot.source else {
            return None;
        };
        let cluster = details.get("cluster").and_then(scalar);
        let mut namespaces: Vec<String> = ["namespaces", "namespace"]
            .iter()
            .filter_map(|k| details.get(*k))
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().filter_map(scalar).collect(),
                other => scalar(other).into_iter().collect::<Vec<_>>(),
            })
            .collect();
        namespaces.sort();
        namespaces.dedup();
        let selector = details.get("selector").and_then(scalar);
        let app = AppKey {
            cluster,
            namespaces,
            selector,
        };
        (app != AppKey::default()).then_some(app)
    }
}

/// One value as a string: see [`AppKey`].
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => {
            let mut pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect();
            pairs.sort();
            Some(pairs.join(","))
        }
        other => Some(other.to_string()),
    }
}

impl fmt::Display for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(c) = &self.cluster {
            parts.push(format!("cluster {c}"));
        }
        if !self.namespaces.is_empty() {
            parts.push(format!("namespaces [{}]", self.namespaces.join(", ")));
        }
        if let Some(s) = &self.selector {
            parts.push(format!("selector {s}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// What the snapshots of one group share: the fields chosen by [`GroupBy`], `None` for the others.
///
/// Paths and tags are sorted. With [`GroupBy::app`], `app` is `None` for snapshots that are not of
/// a Kubernetes application. Reading JSON with fields it does not know fails (as for
/// [`crate::KeepPolicy`]): a key stored by a newer version may name a narrower group than this
/// version could tell apart.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupKey {
    /// The host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The backed-up paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// The tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// The Kubernetes application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppKey>,
}

impl GroupKey {
    /// The key of `snapshot`'s group when grouping `by`.
    pub fn of(snapshot: &Snapshot, by: GroupBy) -> GroupKey {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        GroupKey {
            host: by.host.then(|| snapshot.host.clone()),
            paths: by.paths.then(|| sorted(&snapshot.paths)),
            tags: by.tags.then(|| sorted(&snapshot.tags)),
            app: if by.app { AppKey::of(snapshot) } else { None },
        }
    }
}

impl fmt::Display for GroupKey {
    /// As restic's group header, e.g. `host [db1], paths [/etc, /srv]`; `all snapshots` when the
    /// key has no fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(h) = &self.host {
            parts.push(format!("host [{h}]"));
        }
        if let Some(p) = &self.paths {
            parts.push(format!("paths [{}]", p.join(", ")));
        }
        if let Some(t) = &self.tags {
            parts.push(format!("tags [{}]", t.join(", ")));
        }
        if let Some(a) = &self.app {
            parts.push(format!("app [{a}]"));
        }
        if parts.is_empty() {
            f.write_str("all snapshots")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Splits `snapshots` into groups by the fields `by` chooses. Groups come in the order of their
/// keys; each keeps its snapshots in the order given.
pub fn group(
    snapshots: Vec<(SnapshotId, Snapshot)>,
    by: GroupBy,
) -> Vec<(GroupKey, Vec<(SnapshotId, Snapshot)>)> {
    let mut groups: BTreeMap<GroupKey, Vec<(SnapshotId, Snapshot)>> = BTreeMap::new();
    for (id, snap) in snapshots {
        groups
            .entry(GroupKey::of(&snap, by))
            .or_default()
            .push((id, snap));
    }
    groups.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::tests::snap;

    fn k8s(details: Value) -> Snapshot {
        let mut s = snap("2024-01-01T00:00:00Z", &[]);
        s.source = Source::Kubernetes {
            details: details.as_object().cloned().unwrap_or_default(),
        };
        s
    }

    #[test]
    fn parses_and_prints_restic_group_by_lists() {
        assert_eq!(GroupBy::parse("").unwrap(), GroupBy::NONE);
        assert_eq!(
            GroupBy::parse("host,paths").unwrap(),
            GroupBy {
                host: true,
                paths: true,
                tags: false,
                app: false
            }
        );
        let all = GroupBy::parse("hosts, path,tag,app,").unwrap();
        assert_eq!(all.to_string(), "host,paths,tags,app");
        assert_eq!(GroupBy::default().to_string(), "host,paths,app");
        assert_eq!(GroupBy::NONE.to_string(), "");
        for by in [GroupBy::default(), GroupBy::NONE, all] {
            assert_eq!(by.to_string().parse::<GroupBy>().unwrap(), by);
        }
        let e = GroupBy::parse("host,user").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("\"user\""), "{e}");
    }

    #[test]
    fn groups_by_the_chosen_fields_with_sorted_paths_and_tags() {
        let mut a = snap("2024-01-01T00:00:00Z", &["y", "x"]);
        a.paths = vec!["/b".into(), "/a".into()];
        let mut b = snap("2024-01-02T00:00:00Z", &["x", "y"]);
        b.paths = vec!["/a".into(), "/b".into()];
        let mut c = snap("2024-01-03T00:00:00Z", &[]);
        c.host = "other".into();
        let all = vec![
            (SnapshotId([1; 32]), a),
            (SnapshotId([2; 32]), b),
            (SnapshotId([3; 32]), c),
        ];

        let groups = group(all.clone(), GroupBy::parse("host,paths,tags").unwrap());
        assert_eq!(groups.len(), 2);
        let (key, members) = &groups[0];
        assert_eq!(
            key.to_string(),
            "host [h], paths [/a, /b], tags [x, y]",
            "{key:?}"
        );
        let ids: Vec<_> = members.iter().map(|(id, _)| id.0[0]).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(groups[1].0.host.as_deref(), Some("other"));
        assert_eq!(groups[1].0.tags, Some(vec![]));

        let groups = group(all.clone(), GroupBy::NONE);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].0, GroupKey::default());
        assert_eq!(groups[0].0.to_string(), "all snapshots");
        assert_eq!(groups[0].1.len(), 3);

        let tags_only = GroupBy {
            tags: true,
            ..GroupBy::NONE
        };
        let groups = group(all, tags_only);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0.tags, Some(vec![]));
        assert_eq!(groups[0].0.host, None);
    }

    #[test]
    fn groups_kubernetes_snapshots_by_application() {
        let by = GroupBy::default();
        let shop = k8s(serde_json::json!({
            "cluster": "prod", "namespaces": ["shop", "db", "shop"], "selector": {"tier": "web", "app": "shop"}
        }));
        let shop_again = k8s(serde_json::json!({
            "cluster": "prod", "namespaces": ["db", "shop"], "selector": {"app": "shop", "tier": "web"},
            "other": 1
        }));
        let staging = k8s(serde_json::json!({"cluster": "staging", "namespace": "shop"}));
        let bare = k8s(serde_json::json!({"unrelated": "x", "cluster": null}));
        let files = snap("2024-01-01T00:00:00Z", &[]);

        let app = AppKey::of(&shop).unwrap();
        assert_eq!(
            app,
            AppKey {
                cluster: Some("prod".into()),
                namespaces: vec!["db".into(), "shop".into()],
                selector: Some("app=shop,tier=web".into()),
            }
        );
        assert_eq!(
            app.to_string(),
            "cluster prod, namespaces [db, shop], selector app=shop,tier=web"
        );
        assert_eq!(AppKey::of(&shop_again), Some(app.clone()));
        assert_eq!(
            AppKey::of(&staging).unwrap().namespaces,
            vec!["shop".to_string()]
        );
        assert_eq!(AppKey::of(&bare), None);
        assert_eq!(AppKey::of(&files), None);

        let all: Vec<_> = [shop, shop_again, staging, bare, files]
            .into_iter()
            .enumerate()
            .map(|(i, s)| (SnapshotId([i as u8; 32]), s))
            .collect();
        let groups = group(all.clone(), by);
        // {no app: bare + files}, {prod shop}, {staging shop}
        let sizes: Vec<_> = groups.iter().map(|(_, m)| m.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert_eq!(groups[1].0.app.as_ref(), Some(&app));
        // Without `app`, the applications share one group.
        let groups = group(all, GroupBy { app: false, ..by });
        assert_eq!(groups.len(), 1);
    }

    #[test]
    fn keys_serialise_only_the_chosen_fields() {
        let s = snap("2024-01-01T00:00:00Z", &["b", "a"]);
        let key = GroupKey::of(&s, GroupBy::parse("host,tags").unwrap());
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, r#"{"host":"h","tags":["a","b"]}"#);
        let back: GroupKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back, key);
        assert!(serde_json::from_str::<GroupKey>(r#"{"host":"h","user":"u"}"#).is_err());
    }
}
