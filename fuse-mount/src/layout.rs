//! The directories above the snapshots' own trees: which names exist where, built from the list of
//! snapshots and rebuilt whenever that list changes.
//!
//! ```text
//! /snapshots/<time>/...        every snapshot, named by its time, plus `latest`
//! /ids/<short id>/...          every snapshot by the first 8 hex digits of its id
//! /hosts/<host>/<time>/...     per host, plus `latest`
//! /tags/<tag>/<time>/...       per tag, plus `latest`
//! ```
//!
//! Times are UTC, to the second, as restic names them (`2026-11-21T10:00:00Z`); two snapshots of the
//! same second get `-1`, `-2`, ... after the later ones. Listings go oldest first, so names sort by
//! time whichever way they are read; `latest` is a symlink to the newest entry of its group.
//!
//! Extension point: the Kubernetes views (`apps/<cluster>/<namespace>/<time>/` with `manifests/` and
//! `volumes/<pvc>/`) arrive with the Kubernetes backup. They will be further [`Dir`] variants filled
//! from `Source::Kubernetes` snapshots in [`Layout::new`], plus one more entry in [`TOP`]; everything
//! below a snapshot's root is served by the same tree code as any other snapshot.

use std::collections::{BTreeMap, HashMap};

use cairn_engine::format::{BlobId, Snapshot, SnapshotId};

/// The top-level directories, in listing order.
pub(crate) const TOP: [(&str, Dir); 4] = [
    ("snapshots", Dir::Snapshots),
    ("ids", Dir::Ids),
    ("hosts", Dir::Hosts),
    ("tags", Dir::Tags),
];

/// The name of the symlink to the newest snapshot of a group.
pub(crate) const LATEST: &str = "latest";

/// A directory of the layout (not of a snapshot's tree).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Dir {
    /// The mount's root.
    Root,
    /// `/snapshots`.
    Snapshots,
    /// `/ids`.
    Ids,
    /// `/hosts`.
    Hosts,
    /// `/hosts/<name>`.
    Host(String),
    /// `/tags`.
    Tags,
    /// `/tags/<name>`.
    Tag(String),
}

/// What a name in a layout directory is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Another layout directory.
    Dir(Dir),
    /// A snapshot's root directory: index into [`Layout::snapshots`].
    Snapshot(usize),
    /// A symlink (`latest`) with this target.
    Link(String),
}

/// What the layout needs of one snapshot.
#[derive(Clone, Debug)]
pub(crate) struct SnapshotInfo {
    /// Its id.
    pub id: SnapshotId,
    /// Its root tree.
    pub tree: BlobId,
    /// When it was taken, nanoseconds since the epoch.
    pub time_ns: i64,
}

/// The names of every layout directory.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    snapshots: Vec<SnapshotInfo>,
    dirs: HashMap<Dir, Listing>,
}

#[derive(Debug, Default)]
struct Listing {
    entries: Vec<(String, Target)>,
    by_name: HashMap<String, usize>,
    /// Newest snapshot time in the directory, for its mtime.
    newest_ns: i64,
}

impl Listing {
    fn push(&mut self, name: String, target: Target) {
        self.by_name.insert(name.clone(), self.entries.len());
        self.entries.push((name, target));
    }
}

/// Longest host or tag directory name, in bytes (the kernel takes at most 255).
const COMPONENT_MAX: usize = 200;

/// A name usable as one path component: `/` and NUL become `_`, empty, `.` and `..` get a `_`, and
/// names longer than [`COMPONENT_MAX`] bytes are cut.
fn component(s: &str) -> String {
    let mut s: String = s
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect();
    if s.len() > COMPONENT_MAX {
        let mut cut = COMPONENT_MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    match s.as_str() {
        "" | "." | ".." => format!("_{s}"),
        _ => s,
    }
}

/// `time` as restic names snapshot directories: UTC, to the second.
pub(crate) fn time_name(time: &jiff::Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A group of snapshots named by time: `<time>` directories oldest first, then `latest`.
fn time_group(snaps: &[usize], names: &[String], layout_snaps: &[SnapshotInfo]) -> Listing {
    let mut listing = Listing::default();
    for &i in snaps {
        listing.push(names[i].clone(), Target::Snapshot(i));
        listing.newest_ns = listing.newest_ns.max(layout_snaps[i].time_ns);
    }
    if let Some(&last) = snaps.last() {
        listing.push(LATEST.to_string(), Target::Link(names[last].clone()));
    }
    listing
}

impl Layout {
    /// The layout of `snapshots`, which must be oldest first (as `Repository::snapshots` gives them).
    pub(crate) fn new(snapshots: &[(SnapshotId, Snapshot)]) -> Layout {
        let infos: Vec<SnapshotInfo> = snapshots
            .iter()
            .map(|(id, s)| SnapshotInfo {
                id: *id,
                tree: s.tree,
                time_ns: i64::try_from(s.time.as_nanosecond()).unwrap_or(i64::MAX),
            })
            .collect();
        // Time names, unique: a later snapshot of the same second gets a suffix.
        let mut taken: HashMap<String, usize> = HashMap::new();
        let names: Vec<String> = snapshots
            .iter()
            .map(|(_, s)| {
                let base = time_name(&s.time);
                let n = taken.entry(base.clone()).or_insert(0);
                *n += 1;
                if *n == 1 {
                    base
                } else {
                    format!("{base}-{}", *n - 1)
                }
            })
            .collect();
        let all: Vec<usize> = (0..infos.len()).collect();
        let mut hosts: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut tags: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, (_, s)) in snapshots.iter().enumerate() {
            hosts.entry(component(&s.host)).or_default().push(i);
            let mut seen: Vec<String> = Vec::new();
            for t in &s.tags {
                let t = component(t);
                if !seen.contains(&t) {
                    tags.entry(t.clone()).or_default().push(i);
                    seen.push(t);
                }
            }
        }
        let newest = infos.iter().map(|s| s.time_ns).max().unwrap_or(0);
        let mut dirs = HashMap::new();

        let mut root = Listing::default();
        for (name, dir) in TOP {
            root.push(name.to_string(), Target::Dir(dir));
        }
        root.newest_ns = newest;
        dirs.insert(Dir::Root, root);

        dirs.insert(Dir::Snapshots, time_group(&all, &names, &infos));

        let mut ids = Listing::default();
        let mut id_taken: HashMap<String, usize> = HashMap::new();
        for (i, info) in infos.iter().enumerate() {
            // Eight digits are unique in practice; a collision gets the full id.
            let short = info.id.short();
            let name = if id_taken.contains_key(&short) {
                info.id.to_hex()
            } else {
                short
            };
            id_taken.insert(name.clone(), i);
            ids.push(name, Target::Snapshot(i));
        }
        ids.newest_ns = newest;
        dirs.insert(Dir::Ids, ids);

        for (group, parent, make) in [
            (&hosts, Dir::Hosts, Dir::Host as fn(String) -> Dir),
            (&tags, Dir::Tags, Dir::Tag as fn(String) -> Dir),
        ] {
            let mut listing = Listing::default();
            for (name, members) in group {
                let sub = time_group(members, &names, &infos);
                listing.newest_ns = listing.newest_ns.max(sub.newest_ns);
                listing.push(name.clone(), Target::Dir(make(name.clone())));
                dirs.insert(make(name.clone()), sub);
            }
            dirs.insert(parent, listing);
        }
        Layout {
            snapshots: infos,
            dirs,
        }
    }

    /// Every snapshot, oldest first.
    pub(crate) fn snapshots(&self) -> &[SnapshotInfo] {
        &self.snapshots
    }

    /// The entries of `dir` in listing order, or `None` when it no longer exists.
    pub(crate) fn entries(&self, dir: &Dir) -> Option<&[(String, Target)]> {
        self.dirs.get(dir).map(|l| l.entries.as_slice())
    }

    /// What `name` is in `dir`.
    pub(crate) fn lookup(&self, dir: &Dir, name: &str) -> Option<&Target> {
        let listing = self.dirs.get(dir)?;
        listing.by_name.get(name).map(|&i| &listing.entries[i].1)
    }

    /// The newest snapshot time under `dir` (its modification time), nanoseconds since the epoch;
    /// for an empty directory, the newest of all.
    pub(crate) fn newest_ns(&self, dir: &Dir) -> i64 {
        match self.dirs.get(dir).map(|l| l.newest_ns) {
            Some(ns) if ns != 0 => ns,
            _ => self.dirs.get(&Dir::Root).map_or(0, |l| l.newest_ns),
        }
    }

    /// Number of directories in `dir` (for its link count).
    pub(crate) fn subdirs(&self, dir: &Dir) -> usize {
        self.entries(dir).map_or(0, |e| {
            e.iter()
                .filter(|(_, t)| !matches!(t, Target::Link(_)))
                .count()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_engine::format::{Source, FORMAT_VERSION};

    fn snap(id: u8, time: &str, host: &str, tags: &[&str]) -> (SnapshotId, Snapshot) {
        (
            SnapshotId([id; 32]),
            Snapshot {
                version: FORMAT_VERSION,
                time: time.parse().unwrap(),
                host: host.into(),
                username: String::new(),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                paths: vec!["/".into()],
                excludes: vec![],
                parent: None,
                original: None,
                tree: BlobId([id; 32]),
                source: Source::Files,
                summary: Default::default(),
                program_version: String::new(),
            },
        )
    }

    fn names(layout: &Layout, dir: &Dir) -> Vec<String> {
        layout
            .entries(dir)
            .unwrap()
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    #[test]
    fn groups_by_time_id_host_and_tag_with_latest_links() {
        let layout = Layout::new(&[
            snap(1, "2026-11-21T10:00:00.1Z", "web", &["daily"]),
            snap(2, "2026-11-21T10:00:00.7Z", "db/1", &["daily", "x"]),
            snap(3, "2026-11-22T08:30:05Z", "web", &[]),
        ]);
        assert_eq!(
            names(&layout, &Dir::Root),
            ["snapshots", "ids", "hosts", "tags"]
        );
        assert_eq!(
            names(&layout, &Dir::Snapshots),
            [
                "2026-11-21T10:00:00Z",
                "2026-11-21T10:00:00Z-1",
                "2026-11-22T08:30:05Z",
                "latest"
            ]
        );
        assert_eq!(
            layout.lookup(&Dir::Snapshots, "latest"),
            Some(&Target::Link("2026-11-22T08:30:05Z".into()))
        );
        assert_eq!(
            names(&layout, &Dir::Ids),
            ["01010101", "02020202", "03030303"]
        );
        assert_eq!(names(&layout, &Dir::Hosts), ["db_1", "web"]);
        assert_eq!(
            names(&layout, &Dir::Host("web".into())),
            ["2026-11-21T10:00:00Z", "2026-11-22T08:30:05Z", "latest"]
        );
        assert_eq!(
            layout.lookup(&Dir::Host("db_1".into()), "2026-11-21T10:00:00Z-1"),
            Some(&Target::Snapshot(1))
        );
        assert_eq!(names(&layout, &Dir::Tags), ["daily", "x"]);
        assert_eq!(
            layout.lookup(&Dir::Tag("daily".into()), "latest"),
            Some(&Target::Link("2026-11-21T10:00:00Z-1".into()))
        );
        assert_eq!(layout.subdirs(&Dir::Snapshots), 3);
        assert!(layout.entries(&Dir::Host("gone".into())).is_none());
        assert_eq!(
            layout.newest_ns(&Dir::Tag("daily".into())),
            layout.snapshots()[1].time_ns
        );
    }

    #[test]
    fn awkward_names_become_components_and_an_empty_repository_has_empty_groups() {
        assert_eq!(component(""), "_");
        assert_eq!(component(".."), "_..");
        assert_eq!(component("a/b\0c"), "a_b_c");
        assert_eq!(component(&"é".repeat(150)).len(), 200);
        let layout = Layout::new(&[]);
        assert_eq!(names(&layout, &Dir::Snapshots), Vec::<String>::new());
        assert_eq!(names(&layout, &Dir::Hosts), Vec::<String>::new());
    }
}
