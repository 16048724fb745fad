//! The worker threads that do every repository read, so the FUSE session thread never blocks on one.
//!
//! Two queues: requests the kernel waits for (lookups, listings, reads) and background work
//! (readahead). Workers always take a waiting request first, and at most all but one worker run
//! background work at a time, so a read is never stuck behind a queue of prefetches. The background
//! queue is bounded; work that does not fit is dropped (readahead is only a hint).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Background jobs queued at most; more are dropped.
const BACKGROUND_QUEUE_MAX: usize = 64;

/// A fixed set of worker threads; dropping it stops them (queued work is dropped).
pub(crate) struct Pool {
    spawner: Spawner,
    threads: Vec<JoinHandle<()>>,
}

/// Queues work for a [`Pool`]; cheap to clone into jobs. Work queued after the pool stopped is
/// dropped.
#[derive(Clone)]
pub(crate) struct Spawner {
    shared: Arc<Shared>,
}

struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
    background_max: usize,
}

#[derive(Default)]
struct Queues {
    foreground: VecDeque<Job>,
    background: VecDeque<Job>,
    background_running: usize,
    closed: bool,
}

fn lock(m: &Mutex<Queues>) -> MutexGuard<'_, Queues> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pool {
    /// Starts `threads` workers (at least 2).
    pub(crate) fn new(threads: usize) -> std::io::Result<Pool> {
        let threads = threads.max(2);
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
            background_max: threads - 1,
        });
        let handles = (0..threads)
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("cairn-mount-{i}"))
                    .spawn(move || work(&shared))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Pool {
            spawner: Spawner { shared },
            threads: handles,
        })
    }

    /// What queues work for this pool.
    pub(crate) fn spawner(&self) -> Spawner {
        self.spawner.clone()
    }
}

impl Spawner {
    /// Queues a request the kernel is waiting for.
    pub(crate) fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        let mut q = lock(&self.shared.queues);
        if q.closed {
            return;
        }
        q.foreground.push_back(Box::new(job));
        drop(q);
        self.shared.ready.notify_one();
    }

    /// Queues background work; returns false (and drops it) when the queue is full.
    pub(crate) fn spawn_background(&self, job: impl FnOnce() + Send + 'static) -> bool {
        let mut q = lock(&self.shared.queues);
        if q.background.len() >= BACKGROUND_QUEUE_MAX || q.closed {
            return false;
        }
        q.background.push_back(Box::new(job));
        drop(q);
        self.shared.ready.notify_one();
        true
    }
}

fn work(shared: &Shared) {
    loop {
        let (job, background) = {
            let mut q = lock(&shared.queues);
            loop {
                if let Some(job) = q.foreground.pop_front() {
                    break (job, false);
                }
                if q.background_running < shared.background_max {
                    if let Some(job) = q.background.pop_front() {
                        q.background_running += 1;
                        break (job, true);
                    }
                }
                if q.closed {
                    return;
                }
                q = shared.ready.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        // A panic is a bug; it must not take the worker down. The request's reply is dropped
        // unanswered, which fuser turns into EIO.
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a mount worker job panicked; the request failed with EIO");
        }
        if background {
            lock(&shared.queues).background_running -= 1;
            shared.ready.notify_one();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let shared = &self.spawner.shared;
        {
            let mut q = lock(&shared.queues);
            q.closed = true;
            q.background.clear();
        }
        shared.ready.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn runs_every_job_and_survives_panics() {
        let owner = Pool::new(3).unwrap();
        let pool = owner.spawner();
        let done = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        pool.spawn(|| panic!("boom"));
        for _ in 0..20 {
            let (done, tx) = (done.clone(), tx.clone());
            pool.spawn(move || {
                done.fetch_add(1, Ordering::SeqCst);
                tx.send(()).unwrap();
            });
        }
        let (bg_done, tx2) = (done.clone(), tx.clone());
        assert!(pool.spawn_background(move || {
            bg_done.fetch_add(100, Ordering::SeqCst);
            tx2.send(()).unwrap();
        }));
        for _ in 0..21 {
            rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 120);
        drop(owner);
        pool.spawn(|| unreachable!("the pool has stopped"));
    }
}
