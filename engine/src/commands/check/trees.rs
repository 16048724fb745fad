//! The structure check of trees: each node reachable from a snapshot, read once, checked against
//! what its parent says it is.

use std::sync::Arc;

use cairn_repo_format::{
    content_len, open_blob, BlobId, BlobKind, ContentRef, Entry, EntryKind, Name, Node, SnapshotId,
};

use crate::backend::FileType;
use crate::commands::ls::{child_path, display_dir};
use crate::error::{Error, ErrorKind, Result};
use crate::index::Index;
use crate::repository::Repository;

/// Reads, opens and decodes a tree node from the backend, bypassing the cache.
pub(super) fn read_node(repo: &Repository, index: &Index, id: &BlobId) -> Result<Node> {
    let loc = index.get(BlobKind::Tree, id).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("tree blob {} is missing from the index", id.short()),
        )
    })?;
    let start = u64::from(loc.offset);
    let stored = repo.backend().read_range(
        FileType::Pack,
        &loc.pack.to_hex(),
        start..start + u64::from(loc.length),
    )?;
    let what = format!("tree blob {} in pack {}", id.short(), loc.pack.short());
    let plain = open_blob(repo.keys(), BlobKind::Tree, id, loc.raw_len, &stored)
        .map_err(|e| Error::format(&what, e))?;
    Node::decode(&plain).map_err(|e| Error::format(&what, e))
}

/// A tree node to check, with what its parent says it must be.
pub(super) struct Job {
    pub(super) id: BlobId,
    pub(super) want: Want,
    /// The first snapshot found to reach it, and the path there (for messages).
    pub(super) snapshot: SnapshotId,
    pub(super) path: Arc<str>,
}

pub(super) enum Want {
    /// A directory's node: leaf or branch, its names within `lo..hi`, holding `count` entries.
    Dir {
        lo: Option<Name>,
        hi: Option<Name>,
        count: Option<u64>,
    },
    /// A content node whose parts cover `len` bytes.
    Content { len: u64 },
}

impl Want {
    pub(super) fn dir() -> Self {
        Want::Dir {
            lo: None,
            hi: None,
            count: None,
        }
    }
}

/// What checking one node found: problems, lost blobs and the nodes below it.
#[derive(Default)]
pub(super) struct Found {
    pub(super) errors: Vec<String>,
    pub(super) lost: Vec<(BlobKind, BlobId)>,
    pub(super) jobs: Vec<Job>,
}

impl Found {
    fn error(&mut self, job: &Job, path: &str, detail: impl std::fmt::Display) {
        self.errors.push(format!(
            "snapshot {}: {}: {detail}",
            job.snapshot.short(),
            display_dir(path)
        ));
    }

    fn lose(&mut self, job: &Job, path: &str, kind: BlobKind, id: BlobId, what: &str) {
        self.error(
            job,
            path,
            format!("{what} {} is missing from the index", id.short()),
        );
        self.lost.push((kind, id));
    }
}

pub(super) fn visit(repo: &Repository, index: &Index, job: &Job) -> Found {
    let mut f = Found::default();
    let node = match read_node(repo, index, &job.id) {
        Ok(node) => node,
        Err(e) => {
            f.error(job, &job.path, e);
            f.lost.push((BlobKind::Tree, job.id));
            return f;
        }
    };
    match (&job.want, node) {
        (Want::Dir { lo, hi, count }, Node::Leaf(entries)) => {
            let names = entries
                .first()
                .map(|e| &e.name)
                .zip(entries.last().map(|e| &e.name));
            check_piece(
                &mut f,
                job,
                names,
                lo,
                hi,
                *count,
                Some(entries.len() as u64),
            );
            for e in &entries {
                check_entry(&mut f, index, job, e);
            }
        }
        (Want::Dir { lo, hi, count }, Node::Branch(children)) => {
            let total = children
                .iter()
                .try_fold(0u64, |acc, c| acc.checked_add(c.count));
            let names = children
                .first()
                .map(|c| &c.first)
                .zip(children.last().map(|c| &c.first));
            check_piece(&mut f, job, names, lo, hi, *count, total);
            for (i, c) in children.iter().enumerate() {
                if !index.contains(BlobKind::Tree, &c.tree) {
                    f.lose(job, &job.path, BlobKind::Tree, c.tree, "directory piece");
                    continue;
                }
                let next = children.get(i + 1).map(|n| n.first.clone());
                f.jobs.push(Job {
                    id: c.tree,
                    want: Want::Dir {
                        lo: Some(c.first.clone()),
                        hi: next.or_else(|| hi.clone()),
                        count: Some(c.count),
                    },
                    snapshot: job.snapshot,
                    path: job.path.clone(),
                });
            }
        }
        (Want::Content { len }, Node::Content(parts)) => {
            match content_len(&parts) {
                Ok(sum) if sum == *len => {}
                Ok(sum) => f.error(
                    job,
                    &job.path,
                    format!(
                        "content list {} covers {sum} bytes, its parent says {len}",
                        job.id.short()
                    ),
                ),
                Err(e) => f.error(job, &job.path, e),
            }
            for p in &parts {
                check_part(&mut f, index, job, &job.path, p);
            }
        }
        (Want::Dir { .. }, Node::Content(_)) | (Want::Content { .. }, _) => {
            let expected = match job.want {
                Want::Dir { .. } => "a directory",
                Want::Content { .. } => "a content list",
            };
            f.error(
                job,
                &job.path,
                format!(
                    "tree {} is not {expected} as its parent says",
                    job.id.short()
                ),
            );
            f.lost.push((BlobKind::Tree, job.id));
        }
    }
    f
}

/// Checks a directory piece's first and last names against its bounds, and its entry count.
fn check_piece(
    f: &mut Found,
    job: &Job,
    names: Option<(&Name, &Name)>,
    lo: &Option<Name>,
    hi: &Option<Name>,
    count: Option<u64>,
    actual: Option<u64>,
) {
    let id = job.id.short();
    if let Some((first, last)) = names {
        if lo.as_ref().is_some_and(|lo| first < lo) {
            f.error(
                job,
                &job.path,
                format!("tree {id}: {first:?} sorts before its piece"),
            );
        }
        if hi.as_ref().is_some_and(|hi| last >= hi) {
            f.error(
                job,
                &job.path,
                format!("tree {id}: {last:?} sorts after its piece"),
            );
        }
    }
    if let Some(count) = count {
        if actual != Some(count) {
            let actual = actual.map_or("too many".into(), |n| n.to_string());
            f.error(
                job,
                &job.path,
                format!("tree {id} holds {actual} entries, its parent says {count}"),
            );
        }
    }
}

fn check_entry(f: &mut Found, index: &Index, job: &Job, e: &Entry) {
    let path = child_path(&job.path, &e.name);
    match (e.kind, e.subtree) {
        (EntryKind::File | EntryKind::Hardlink, _) => {
            for p in &e.content {
                check_part(f, index, job, &path, p);
            }
        }
        (EntryKind::Dir, Some(sub)) => {
            if index.contains(BlobKind::Tree, &sub) {
                f.jobs.push(Job {
                    id: sub,
                    want: Want::dir(),
                    snapshot: job.snapshot,
                    path: Arc::from(path),
                });
            } else {
                f.lose(job, &path, BlobKind::Tree, sub, "directory tree");
            }
        }
        _ => {}
    }
}

fn check_part(f: &mut Found, index: &Index, job: &Job, path: &str, part: &ContentRef) {
    match *part {
        ContentRef::Chunk { id, len } => match index.get(BlobKind::Data, &id) {
            None => f.lose(job, path, BlobKind::Data, id, "data blob"),
            Some(loc) if u64::from(loc.raw_len) != len => f.error(
                job,
                path,
                format!(
                    "data blob {} holds {} bytes, the content says {len}",
                    id.short(),
                    loc.raw_len
                ),
            ),
            Some(_) => {}
        },
        ContentRef::List { id, len } => {
            if index.contains(BlobKind::Tree, &id) {
                f.jobs.push(Job {
                    id,
                    want: Want::Content { len },
                    snapshot: job.snapshot,
                    path: Arc::from(path),
                });
            } else {
                f.lose(job, path, BlobKind::Tree, id, "content list");
            }
        }
    }
}
