//! Reading a snapshot's trees ahead of a walk that needs all of them (restore).
//!
//! A walk reads one tree node at a time, and on object storage each read is a round trip: a
//! restore of 3,000 directories from S3 spent most of its time waiting. The prefetcher reads the
//! tree level by level, many nodes at a time, and keeps their plaintext until the walk takes it
//! (each node once), within a byte budget; a node the walk reaches first is simply read by the walk.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cairn_repo_format::{BlobId, BlobKind, ContentRef, Node};
use futures::StreamExt;

use crate::backend::FileType;
use crate::indexed::Indexed;

/// Nodes read at the same time.
const IN_FLIGHT: usize = 32;
/// Plaintext kept waiting for the walk, at most.
const BUDGET: usize = 64 << 20;

/// Prefetched tree nodes waiting for the walk.
#[derive(Debug, Default)]
pub(crate) struct Prefetched {
    nodes: Mutex<HashMap<BlobId, Vec<u8>>>,
    bytes: AtomicUsize,
    stop: AtomicBool,
}

impl Prefetched {
    /// Takes a node's plaintext, if it was prefetched.
    pub fn take(&self, id: &BlobId) -> Option<Vec<u8>> {
        let plain = self.nodes.lock().expect("prefetched nodes").remove(id)?;
        self.bytes.fetch_sub(plain.len(), Ordering::Relaxed);
        Some(plain)
    }
}

/// Stops the prefetch and frees what it holds when dropped.
pub struct PrefetchGuard {
    prefetched: Arc<Prefetched>,
}

impl Drop for PrefetchGuard {
    fn drop(&mut self) {
        self.prefetched.stop.store(true, Ordering::Relaxed);
        self.prefetched
            .nodes
            .lock()
            .expect("prefetched nodes")
            .clear();
    }
}

/// The trees a node points to: subdirectories, branch pieces and content lists.
fn children(node: &Node) -> Vec<BlobId> {
    let lists = |parts: &[ContentRef]| {
        parts
            .iter()
            .filter_map(|p| match p {
                ContentRef::List { id, .. } => Some(*id),
                ContentRef::Chunk { .. } => None,
            })
            .collect::<Vec<_>>()
    };
    match node {
        Node::Leaf(entries) => entries
            .iter()
            .flat_map(|e| e.subtree.into_iter().chain(lists(&e.content)))
            .collect(),
        Node::Branch(children) => children.iter().map(|c| c.tree).collect(),
        Node::Content(parts) => lists(parts),
    }
}

/// Starts reading the trees below `root` on a thread of its own; `repo` then serves them to
/// [`Indexed::read_blob`] until the guard is dropped.
pub(crate) fn start(repo: &Indexed, prefetched: Arc<Prefetched>, root: BlobId) -> PrefetchGuard {
    let guard = PrefetchGuard {
        prefetched: prefetched.clone(),
    };
    let repo = repo.clone();
    let spawned = std::thread::Builder::new()
        .name("cairn-prefetch".into())
        .spawn(move || run(&repo, &prefetched, root));
    if let Err(e) = spawned {
        tracing::debug!("tree prefetch not started: {e}");
    }
    guard
}

fn run(repo: &Indexed, prefetched: &Prefetched, root: BlobId) {
    let mut level = vec![root];
    while !level.is_empty() && !prefetched.stop.load(Ordering::Relaxed) {
        let read = |id: BlobId| async move {
            let loc = repo.index().get(BlobKind::Tree, &id)?;
            let range = loc.offset as u64..loc.offset as u64 + loc.length as u64;
            let stored = match repo.cache().and_then(|c| c.tree_blob(&id)) {
                Some(stored) => stored.into(),
                None => repo
                    .backend()
                    .read_range_async(FileType::Pack, &loc.pack.to_hex(), range)
                    .await
                    .ok()?,
            };
            let plain = repo.open_located(BlobKind::Tree, &id, &loc, &stored).ok()?;
            if let Some(cache) = repo.cache() {
                cache.put_tree_blob(&id, &stored);
            }
            Some((id, plain))
        };
        let fetched: Vec<(BlobId, Vec<u8>)> = repo.backend().runtime().block_on(
            futures::stream::iter(level)
                .map(read)
                .buffer_unordered(IN_FLIGHT)
                .filter_map(futures::future::ready)
                .collect(),
        );
        let mut next = Vec::new();
        for (id, plain) in fetched {
            if let Ok(node) = Node::decode(&plain) {
                next.extend(children(&node));
            }
            if prefetched.bytes.load(Ordering::Relaxed) + plain.len() > BUDGET {
                // Full: the walk reads the rest itself.
                return;
            }
            prefetched.bytes.fetch_add(plain.len(), Ordering::Relaxed);
            prefetched
                .nodes
                .lock()
                .expect("prefetched nodes")
                .insert(id, plain);
        }
        level = next;
    }
}
