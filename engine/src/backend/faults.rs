//! A store wrapper that injects the faults networks and object stores produce, for tests: requests
//! that fail, requests delayed, downloads and listings cut off midway, and requests that take
//! effect although the client sees them fail (a lost response, so the client sends them again).
//!
//! It sits below [`super::Backend`]'s retries, exactly where a real store's errors arrive. Built
//! only for tests and with the `fault-injection` feature; never in a release binary.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which share of requests meets each fault. Shares are of all requests and add up to at most 1;
/// `delay` applies independently to any request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Fails before reaching the store.
    pub fail: f64,
    /// Cut off: a download or listing ends with an error midway; an upload fails and stores
    /// nothing (object stores publish whole objects).
    pub truncate: f64,
    /// Takes effect, but the client is told it failed.
    pub repeat: f64,
    /// Waits up to `max_delay` first.
    pub delay: f64,
    /// The longest delay.
    pub max_delay: Duration,
    /// Seed of the random choices, so a failing run can be repeated.
    pub seed: u64,
    /// An outage: once this many uploads went through, every request fails.
    pub outage_after_uploads: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    Fail,
    Truncate,
    Repeat,
}

/// An [`ObjectStore`] that injects [`Faults`] into the requests it passes to `inner`.
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    faults: Faults,
    rng: Mutex<StdRng>,
    injected: AtomicU64,
    uploads: AtomicU64,
}

impl FaultyStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>, faults: Faults) -> Self {
        FaultyStore {
            inner,
            faults,
            rng: Mutex::new(StdRng::seed_from_u64(faults.seed)),
            injected: AtomicU64::new(0),
            uploads: AtomicU64::new(0),
        }
    }

    /// How many faults (not counting delays) were injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// Draws this request's fault and delay.
    fn roll(&self) -> (Fault, Option<Duration>) {
        if self
            .faults
            .outage_after_uploads
            .is_some_and(|n| self.uploads.load(Ordering::Relaxed) >= n)
        {
            self.injected.fetch_add(1, Ordering::Relaxed);
            return (Fault::Fail, None);
        }
        let (roll, delay) = {
            let mut rng = self.rng.lock().expect("fault rng");
            let roll: f64 = rng.gen();
            let delay = (rng.gen::<f64>() < self.faults.delay)
                .then(|| self.faults.max_delay.mul_f64(rng.gen::<f64>()));
            (roll, delay)
        };
        let f = &self.faults;
        let fault = if roll < f.fail {
            Fault::Fail
        } else if roll < f.fail + f.truncate {
            Fault::Truncate
        } else if roll < f.fail + f.truncate + f.repeat {
            Fault::Repeat
        } else {
            Fault::None
        };
        if fault != Fault::None {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        (fault, delay)
    }

    /// Draws this request's fault and waits out its delay, if any.
    async fn draw(&self) -> Fault {
        let (fault, delay) = self.roll();
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        fault
    }
}

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "faults",
        source: format!("injected fault: {what}").into(),
    }
}

/// A byte stream that yields about half of `stream`'s bytes and then fails, as a connection cut
/// midway does.
fn cut_off(
    stream: BoxStream<'static, Result<Bytes>>,
    total: u64,
) -> BoxStream<'static, Result<Bytes>> {
    let mut budget = total / 2;
    stream
        .map(move |chunk| {
            let chunk = chunk?;
            if budget == 0 {
                return Err(injected("connection reset while downloading"));
            }
            let take = chunk.len().min(budget as usize);
            budget -= take as u64;
            Ok(chunk.slice(..take))
        })
        .chain(stream::once(async {
            Err(injected("connection reset while downloading"))
        }))
        .boxed()
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

impl fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({:?}, {:?})", self.inner, self.faults)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        match self.draw().await {
            Fault::Fail => Err(injected("upload refused")),
            Fault::Truncate => Err(injected("connection reset while uploading")),
            Fault::Repeat => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(injected("upload stored but its response was lost"))
            }
            Fault::None => {
                let put = self.inner.put_opts(location, payload, opts).await;
                self.uploads.fetch_add(1, Ordering::Relaxed);
                put
            }
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        match self.draw().await {
            Fault::Fail => Err(injected("download refused")),
            Fault::Repeat => {
                self.inner
                    .get_opts(location, options)
                    .await?
                    .bytes()
                    .await?;
                Err(injected("download served but its response was lost"))
            }
            Fault::Truncate if !options.head => {
                let got = self.inner.get_opts(location, options).await?;
                let total = got.range.end - got.range.start;
                let payload = match got.payload {
                    GetResultPayload::Stream(s) => GetResultPayload::Stream(cut_off(s, total)),
                    file => file,
                };
                Ok(GetResult { payload, ..got })
            }
            Fault::Truncate | Fault::None => self.inner.get_opts(location, options).await,
        }
    }

    async fn delete(&self, location: &Path) -> Result<()> {
        match self.draw().await {
            Fault::Fail | Fault::Truncate => Err(injected("delete refused")),
            Fault::Repeat => {
                self.inner.delete(location).await?;
                Err(injected("delete done but its response was lost"))
            }
            Fault::None => self.inner.delete(location).await,
        }
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner = self.inner.list(prefix);
        let (fault, delay) = self.roll();
        let wait = stream::once(async move {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
        })
        .filter_map(|()| futures::future::ready(None));
        let listing = match fault {
            Fault::Fail => stream::once(async { Err(injected("listing refused")) }).boxed(),
            Fault::Truncate => inner
                .take(3)
                .chain(stream::once(async {
                    Err(injected("connection reset while listing"))
                }))
                .boxed(),
            Fault::Repeat | Fault::None => inner,
        };
        wait.chain(listing).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        self.inner.copy(from, to).await
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> Result<()> {
        self.inner.copy_if_not_exists(from, to).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::backup::{backup, BackupOptions};
    use crate::commands::check::{check, CheckOptions, ReadData};
    use crate::commands::prune::{prune, PruneOptions};
    use crate::progress::NoProgress;
    use crate::testutil::TEST_KDF;
    use crate::{Backend, InitOptions, OpenOptions, Repository, RetryPolicy};
    use cairn_test_support::S3Server;

    /// Quick retries, so the test spends its time on requests rather than waiting.
    const QUICK: RetryPolicy = RetryPolicy {
        attempts: 12,
        first_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(40),
    };

    fn s3_backend(server: &S3Server, prefix: &str) -> Backend {
        for (k, v) in server.env() {
            // Every test of this binary sets the same values, so concurrent tests agree.
            std::env::set_var(k, v);
        }
        server.bucket("faults");
        Backend::open(&server.location("faults", prefix), true)
            .unwrap()
            .with_retry(QUICK)
    }

    /// A new repository with small packs and chunks under `prefix`; its backend, fault-free.
    fn new_s3_repo(server: &S3Server, prefix: &str) -> Backend {
        let backend = s3_backend(server, prefix);
        let options = InitOptions::default()
            .kdf(TEST_KDF)
            .pack_size(256 << 10)
            .chunk_sizes((16 << 10, 32 << 10, 64 << 10));
        Repository::init(backend.clone(), b"pw", &options, &OpenOptions::default()).unwrap();
        backend
    }

    fn write_generation(dir: &std::path::Path, generation: u64) {
        use rand::RngCore;
        for i in 0..6u64 {
            let mut bytes = vec![0u8; 150_000 + 40_000 * i as usize];
            StdRng::seed_from_u64(generation * 100 + i % (generation + 1)).fill_bytes(&mut bytes);
            std::fs::write(dir.join(format!("f{i}")), bytes).unwrap();
        }
    }

    /// Under 10% failed requests, 5% cut off, 5% lost responses and 10% delayed, against a real S3
    /// server: every backup and prune either completes or fails with an error, and after each run
    /// the repository checks clean, data included. A snapshot never points at missing data.
    #[test]
    fn backups_and_prune_under_faults_complete_or_fail_cleanly_and_check_passes() {
        let Some(server) = S3Server::start() else {
            return;
        };
        let clean = new_s3_repo(&server, "repo");
        let faults = Faults {
            fail: 0.10,
            truncate: 0.05,
            repeat: 0.05,
            delay: 0.10,
            max_delay: Duration::from_millis(30),
            seed: 7,
            outage_after_uploads: None,
        };
        let (faulty, store) = s3_backend(&server, "repo").with_faults(faults);
        let src = tempfile::tempdir().unwrap();
        let (mut completed, mut failed) = (0, 0);
        for generation in 0..6 {
            write_generation(src.path(), generation);
            let run = || -> crate::Result<()> {
                let repo = Repository::open(faulty.clone(), b"pw", &OpenOptions::default())?
                    .load_index_for_writing("backup")?;
                let opts = BackupOptions {
                    paths: vec![src.path().to_path_buf()],
                    ..Default::default()
                };
                backup(&repo, &opts, &NoProgress)?;
                if generation % 2 == 1 {
                    let snaps = repo.snapshots()?;
                    if let Some((oldest, _)) = snaps.iter().min_by_key(|(_, s)| s.time) {
                        repo.delete_snapshot(oldest)?;
                    }
                    prune(repo.repository(), &PruneOptions::default(), &NoProgress)?;
                }
                Ok(())
            };
            match run() {
                Ok(()) => completed += 1,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    failed += 1;
                }
            }
            let repo = Repository::open(clean.clone(), b"pw", &OpenOptions::default()).unwrap();
            let report = check(
                repo,
                &CheckOptions::default().read_data(ReadData::All),
                &NoProgress,
            )
            .unwrap();
            assert!(
                report.errors.is_empty(),
                "generation {generation}: {:?}",
                report.errors
            );
            assert!(report.affected.is_empty(), "{:?}", report.affected);
        }
        assert!(
            store.injected() > 20,
            "only {} faults injected",
            store.injected()
        );
        assert!(faulty.traffic().retries > 0, "{:?}", faulty.traffic());
        assert!(
            completed >= 3,
            "{completed} of 6 runs completed ({failed} failed)"
        );
    }

    /// The network goes down for good in the middle of a backup: the backup ends with an error
    /// that says it gave up, the repository checks clean, and the next backup uploads only what
    /// the first did not get indexed.
    #[test]
    fn a_backup_cut_off_by_an_outage_fails_clearly_and_the_next_one_resumes() {
        let Some(server) = S3Server::start() else {
            return;
        };
        let clean = new_s3_repo(&server, "outage");
        let src = tempfile::tempdir().unwrap();
        let mut bytes = vec![0u8; 8_000_000];
        rand::RngCore::fill_bytes(&mut StdRng::seed_from_u64(9), &mut bytes);
        std::fs::write(src.path().join("big"), &bytes).unwrap();
        let opts = BackupOptions {
            paths: vec![src.path().to_path_buf()],
            ..Default::default()
        };
        let outage = Faults {
            outage_after_uploads: Some(20),
            ..Faults::default()
        };
        let (faulty, _) = s3_backend(&server, "outage").with_faults(outage);
        let repo = Repository::open(faulty, b"pw", &OpenOptions::default())
            .unwrap()
            .load_index_for_writing("backup")
            .unwrap();
        let err = backup(&repo, &opts, &NoProgress).unwrap_err();
        assert!(err.to_string().contains("gave up after"), "{err}");

        let check_clean = || {
            let repo = Repository::open(clean.clone(), b"pw", &OpenOptions::default()).unwrap();
            let report = check(
                repo,
                &CheckOptions::default().read_data(ReadData::All),
                &NoProgress,
            )
            .unwrap();
            assert!(report.errors.is_empty(), "{:?}", report.errors);
        };
        check_clean();
        let repo = Repository::open(clean.clone(), b"pw", &OpenOptions::default())
            .unwrap()
            .load_index_for_writing("backup")
            .unwrap();
        assert!(repo.snapshots().unwrap().is_empty());
        let resumed = backup(&repo, &opts, &NoProgress).unwrap();
        let added = resumed.snapshot.summary.bytes_added;
        assert!(
            added < 6_500_000,
            "the resumed backup uploaded {added} of 8 MB again"
        );
        check_clean();
    }
}
