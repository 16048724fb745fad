//! Data blobs, kept in a bounded LRU, each read from the repository once however many readers want
//! it at the same time: the first reader fetches, the others wait for its result.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use cairn_engine::format::{BlobId, BlobKind};
use cairn_engine::{Error, ErrorKind, Indexed, Result};

use crate::lru::Lru;

/// A blob's plaintext.
pub(crate) type Blob = Arc<Vec<u8>>;

/// How a failed fetch is told to the readers that waited for it.
#[derive(Clone, Debug)]
struct Failure {
    kind: ErrorKind,
    message: String,
}

#[derive(Default)]
struct Pending {
    result: Mutex<Option<std::result::Result<Blob, Failure>>>,
    done: Condvar,
}

struct Inner {
    lru: Lru<BlobId, Blob>,
    loading: HashMap<BlobId, Arc<Pending>>,
}

/// The blob cache.
pub(crate) struct Blobs {
    inner: Mutex<Inner>,
}

impl Blobs {
    /// A cache of at most `budget` bytes.
    pub(crate) fn new(budget: usize) -> Blobs {
        Blobs {
            inner: Mutex::new(Inner {
                lru: Lru::new(budget),
                loading: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when the blob is cached or being fetched.
    pub(crate) fn has(&self, id: &BlobId) -> bool {
        let inner = self.lock();
        inner.lru.contains(id) || inner.loading.contains_key(id)
    }

    /// Bytes held.
    pub(crate) fn weight(&self) -> usize {
        self.lock().lru.weight()
    }

    /// The plaintext of data blob `id`, which must be `len` bytes long.
    pub(crate) fn get(&self, repo: &Indexed, id: &BlobId, len: u64) -> Result<Blob> {
        let pending = {
            let mut inner = self.lock();
            if let Some(b) = inner.lru.get(id) {
                return Ok(b);
            }
            if let Some(p) = inner.loading.get(id).cloned() {
                drop(inner);
                return wait(&p);
            }
            let p = Arc::new(Pending::default());
            inner.loading.insert(*id, p.clone());
            p
        };
        // A panic while reading must still wake the waiters, with an error.
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            repo.read_blob(BlobKind::Data, id)
        }))
        .unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Damaged,
                format!("reading data blob {} failed (internal error)", id.short()),
            ))
        });
        let result = read.and_then(|plain| {
            if plain.len() as u64 == len {
                Ok(Arc::new(plain))
            } else {
                Err(Error::new(
                    ErrorKind::Damaged,
                    format!(
                        "data blob {} holds {} bytes where its file says {len}",
                        id.short(),
                        plain.len()
                    ),
                ))
            }
        });
        let shared = result.as_ref().map(Arc::clone).map_err(|e| Failure {
            kind: e.kind(),
            message: e.to_string(),
        });
        {
            let mut inner = self.lock();
            inner.loading.remove(id);
            if let Ok(b) = &shared {
                inner.lru.insert(*id, b.clone(), b.len());
            }
        }
        *pending.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(shared);
        pending.done.notify_all();
        result
    }
}

fn wait(p: &Pending) -> Result<Blob> {
    let mut slot = p.result.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(r) = slot.as_ref() {
            return r.clone().map_err(|f| Error::new(f.kind, f.message));
        }
        slot = p.done.wait(slot).unwrap_or_else(|e| e.into_inner());
    }
}
