//! Writing a batch of files: plan first, then fetch.
//!
//! Every file of the batch is created at its final length (sparse), then the blobs the batch needs are
//! grouped by pack and sorted by offset, and blobs of one pack that lie close together are fetched with
//! one ranged read. Reads run [`READS_IN_FLIGHT`] at a time on the backend's runtime; each fetched range
//! is opened (authenticated, id checked) and written on a blocking thread, to every place in every file
//! that needs it. A blob is fetched once per batch however many files use it. At most
//! `READS_IN_FLIGHT` + writer-count ranges are held at once, so memory stays bounded.
//!
//! A blob that cannot be read or fails to open is never written: every file needing it fails, and a
//! failed file is removed, so no wrong bytes are left looking like a restored file.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use cairn_repo_format::{BlobId, BlobKind, Entry, PackId};
use futures::StreamExt;
use rayon::prelude::*;

use crate::backend::{Backend, FileType};
use crate::index::BlobLocation;
use crate::indexed::Indexed;
use crate::progress::Progress;

/// Ranged pack reads in flight at once.
pub(super) const READS_IN_FLIGHT: usize = 4;
/// Blobs of one pack closer than this are fetched with one read (the gap is read and dropped).
pub(super) const MAX_GAP: u64 = 1 << 20;
/// A read is not grown past this many bytes (a single larger blob is read alone).
pub(super) const MAX_RANGE: u64 = 2 << 20;

/// One file to write.
pub(super) struct FileJob {
    /// Where it goes, below the target.
    pub local: PathBuf,
    /// Its path in the snapshot.
    pub snap: Vec<u8>,
    /// Its entry; the content list is dropped once `chunks` is known.
    pub entry: Entry,
    /// Data chunks: offset in the file, blob, length.
    pub chunks: Vec<(u64, BlobId, u64)>,
}

/// What every batch shares.
pub(super) struct BatchContext<'a> {
    pub repo: &'a Indexed,
    /// The id and length of the all-zero blob of the chunker's maximal size: never fetched.
    pub zero: Option<(BlobId, u64)>,
    pub verify: bool,
    pub progress: &'a dyn Progress,
}

/// A blob to fetch and the places it goes: (file number in the batch, offset).
pub(super) struct RangeBlob {
    pub id: BlobId,
    pub loc: BlobLocation,
    pub users: Vec<(u32, u64)>,
}

/// One ranged read of a pack.
pub(super) struct PackRange {
    pub pack: PackId,
    pub start: u64,
    pub end: u64,
    pub blobs: Vec<RangeBlob>,
}

/// State the writer threads share.
struct Shared {
    repo: Indexed,
    paths: Vec<PathBuf>,
    failed: Vec<OnceLock<String>>,
}

impl Shared {
    fn is_failed(&self, file: u32) -> bool {
        self.failed[file as usize].get().is_some()
    }

    /// Records the first failure of a file; later ones add nothing.
    fn fail(&self, file: u32, detail: impl std::fmt::Display) {
        let path = &self.paths[file as usize];
        let _ = self.failed[file as usize]
            .set(format!("restore of {} failed: {detail}", path.display()));
    }
}

/// Creates `path` as a new, empty file of `size` bytes (a hole), replacing any file or symlink there.
pub(super) fn create_file(path: &Path, size: u64) -> io::Result<()> {
    super::remove_existing(path)?;
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    f.set_len(size)
}

fn open_existing(path: &Path, write: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Writes a batch of files; returns, for each, `None` when it was written (and verified, when asked)
/// or the message of its failure. Failed files that this function created are removed.
pub(super) fn run_batch(ctx: &BatchContext<'_>, jobs: &[FileJob]) -> Vec<Option<String>> {
    let shared = Arc::new(Shared {
        repo: ctx.repo.clone(),
        paths: jobs.iter().map(|j| j.local.clone()).collect(),
        failed: jobs.iter().map(|_| OnceLock::new()).collect(),
    });
    let mut created = vec![false; jobs.len()];
    for (i, job) in jobs.iter().enumerate() {
        match create_file(&job.local, job.entry.size) {
            Ok(()) => created[i] = true,
            Err(e) => shared.fail(i as u32, format_args!("cannot create it: {e}")),
        }
    }
    let ranges = plan(ctx, jobs, &shared);
    fetch_and_write(&shared, ranges, ctx.progress);
    if ctx.verify {
        jobs.par_iter().enumerate().for_each(|(i, job)| {
            if !shared.is_failed(i as u32) {
                if let Err(detail) = verify_file(&shared.repo, job) {
                    shared.fail(i as u32, detail);
                }
            }
        });
    }
    jobs.iter()
        .enumerate()
        .map(|(i, job)| {
            let message = shared.failed[i].get()?.clone();
            Some(if created[i] {
                discard(&job.local, message)
            } else {
                message
            })
        })
        .collect()
}

/// Collects the blobs the batch needs, locates them, and groups them into ranged reads.
fn plan(ctx: &BatchContext<'_>, jobs: &[FileJob], shared: &Shared) -> Vec<PackRange> {
    let mut needs: HashMap<BlobId, (u64, Vec<(u32, u64)>)> = HashMap::new();
    for (i, job) in jobs.iter().enumerate() {
        let file = i as u32;
        if shared.is_failed(file) {
            continue;
        }
        for &(offset, id, len) in &job.chunks {
            if ctx.zero == Some((id, len)) {
                // A hole: the file was created sparse and this blob is known to be all zeros.
                ctx.progress.add_bytes(len);
                continue;
            }
            let need = needs.entry(id).or_insert_with(|| (len, Vec::new()));
            if need.0 != len {
                shared.fail(
                    file,
                    format_args!(
                        "blob {} is listed with two lengths ({} and {len})",
                        id.short(),
                        need.0
                    ),
                );
                break;
            }
            need.1.push((file, offset));
        }
    }
    let mut by_pack: HashMap<PackId, Vec<RangeBlob>> = HashMap::new();
    for (id, (len, users)) in needs {
        match ctx.repo.locate(BlobKind::Data, &id) {
            Err(e) => users.iter().for_each(|&(f, _)| shared.fail(f, &e)),
            Ok(loc) if u64::from(loc.raw_len) != len => {
                for &(f, _) in &users {
                    shared.fail(
                        f,
                        format_args!(
                            "blob {} in pack {} holds {} bytes, the tree says {len}",
                            id.short(),
                            loc.pack.short(),
                            loc.raw_len
                        ),
                    );
                }
            }
            Ok(loc) => by_pack
                .entry(loc.pack)
                .or_default()
                .push(RangeBlob { id, loc, users }),
        }
    }
    plan_ranges(by_pack)
}

/// Sorts each pack's blobs by offset and merges neighbours into reads: a gap under [`MAX_GAP`] is
/// read through, and a read stops growing at [`MAX_RANGE`].
pub(super) fn plan_ranges(by_pack: HashMap<PackId, Vec<RangeBlob>>) -> Vec<PackRange> {
    let mut packs: Vec<_> = by_pack.into_iter().collect();
    packs.sort_by_key(|p| p.0);
    let mut out: Vec<PackRange> = Vec::new();
    for (pack, mut blobs) in packs {
        blobs.sort_by_key(|b| b.loc.offset);
        let mut current: Option<PackRange> = None;
        for blob in blobs {
            let start = u64::from(blob.loc.offset);
            let end = start + u64::from(blob.loc.length);
            if let Some(r) = &mut current {
                let new_end = r.end.max(end);
                if start <= r.end + MAX_GAP && new_end - r.start <= MAX_RANGE {
                    r.end = new_end;
                    r.blobs.push(blob);
                    continue;
                }
            }
            out.extend(current.replace(PackRange {
                pack,
                start,
                end,
                blobs: vec![blob],
            }));
        }
        out.extend(current);
    }
    out
}

/// Reads a range; returns each blob's stored bytes or why they could not be read. When a read of
/// several blobs fails, each blob is read alone, so one bad spot costs only the blobs it covers.
async fn fetch_range(backend: &Backend, range: &PackRange) -> Vec<Result<Bytes, String>> {
    let name = range.pack.to_hex();
    let blob_range = |b: &RangeBlob| {
        let start = u64::from(b.loc.offset);
        start..start + u64::from(b.loc.length)
    };
    match backend
        .read_range_async(FileType::Pack, &name, range.start..range.end)
        .await
    {
        Ok(all) => range
            .blobs
            .iter()
            .map(|b| {
                let r = blob_range(b);
                Ok(all.slice((r.start - range.start) as usize..(r.end - range.start) as usize))
            })
            .collect(),
        Err(e) if range.blobs.len() == 1 => vec![Err(e.to_string())],
        Err(_) => {
            let mut out = Vec::with_capacity(range.blobs.len());
            for b in &range.blobs {
                let read = backend.read_range_async(FileType::Pack, &name, blob_range(b));
                out.push(read.await.map_err(|e| e.to_string()));
            }
            out
        }
    }
}

/// Runs the reads on the backend's runtime and the writes on its blocking threads.
fn fetch_and_write(shared: &Arc<Shared>, ranges: Vec<PackRange>, progress: &dyn Progress) {
    if ranges.is_empty() {
        return;
    }
    let backend = shared.repo.backend().clone();
    let runtime = backend.runtime().clone();
    let writers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    runtime.block_on(async {
        let mut done = futures::stream::iter(ranges)
            .map(|range| {
                let backend = backend.clone();
                async move {
                    let fetched = fetch_range(&backend, &range).await;
                    (range, fetched)
                }
            })
            .buffer_unordered(READS_IN_FLIGHT)
            .map(|(range, fetched)| {
                let shared = shared.clone();
                tokio::task::spawn_blocking(move || write_range(&shared, range, fetched))
            })
            .buffer_unordered(writers);
        while let Some(result) = done.next().await {
            match result {
                Ok(bytes) => progress.add_bytes(bytes),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("restore writer task did not finish: {e}"),
            }
        }
    });
}

/// Opens each blob of a fetched range and writes it where it goes; returns the bytes placed.
fn write_range(shared: &Shared, range: PackRange, fetched: Vec<Result<Bytes, String>>) -> u64 {
    let mut placed = 0u64;
    let mut open: Option<(u32, File)> = None;
    for (blob, stored) in range.blobs.iter().zip(fetched) {
        if blob.users.iter().all(|&(f, _)| shared.is_failed(f)) {
            continue;
        }
        let what = format!("blob {} in pack {}", blob.id.short(), range.pack.short());
        let opened = stored
            .map_err(|e| format!("{what} cannot be read: {e}"))
            .and_then(|bytes| {
                shared
                    .repo
                    .open_located(BlobKind::Data, &blob.id, &blob.loc, &bytes)
                    .map_err(|e| {
                        let detail = std::error::Error::source(&e)
                            .map_or_else(|| e.to_string(), |s| s.to_string());
                        format!("{what} is damaged: {detail}")
                    })
            });
        let plain = match opened {
            Ok(p) => p,
            Err(message) => {
                blob.users
                    .iter()
                    .for_each(|&(f, _)| shared.fail(f, &message));
                continue;
            }
        };
        // An all-zero blob is not written: the file was created sparse, the hole already reads zeros.
        let zero = plain.iter().all(|&b| b == 0);
        for &(file, offset) in &blob.users {
            if shared.is_failed(file) {
                continue;
            }
            if !zero {
                if let Err(e) = write_at(&mut open, shared, file, &plain, offset) {
                    shared.fail(file, format_args!("cannot write at offset {offset}: {e}"));
                    continue;
                }
            }
            placed += plain.len() as u64;
        }
    }
    placed
}

/// Writes `data` at `offset` of a file, keeping the last file opened for the next write.
fn write_at(
    open: &mut Option<(u32, File)>,
    shared: &Shared,
    file: u32,
    data: &[u8],
    offset: u64,
) -> io::Result<()> {
    if open.as_ref().is_none_or(|(f, _)| *f != file) {
        *open = None;
        *open = Some((file, open_existing(&shared.paths[file as usize], true)?));
    }
    let (_, handle) = open.as_ref().expect("opened above");
    handle.write_all_at(data, offset)
}

/// Reads a written file back and checks every chunk against its blob id.
fn verify_file(repo: &Indexed, job: &FileJob) -> Result<(), String> {
    let f = open_existing(&job.local, false).map_err(|e| format!("cannot verify it: {e}"))?;
    let len = f
        .metadata()
        .map_err(|e| format!("cannot verify it: {e}"))?
        .len();
    if len != job.entry.size {
        return Err(format!(
            "verification failed: it has {len} bytes instead of {}",
            job.entry.size
        ));
    }
    let mut buf = Vec::new();
    for &(offset, id, chunk_len) in &job.chunks {
        buf.resize(chunk_len as usize, 0);
        f.read_exact_at(&mut buf, offset)
            .map_err(|e| format!("cannot verify it: {e}"))?;
        if repo.keys().blob_id(&buf) != id {
            return Err(format!(
                "verification failed: bytes at offset {offset} do not match blob {}",
                id.short()
            ));
        }
    }
    Ok(())
}

/// Removes a failed file (or, if that fails, empties it) and returns the message naming it.
fn discard(path: &Path, message: String) -> String {
    match std::fs::remove_file(path) {
        Ok(()) => message,
        Err(e) if e.kind() == io::ErrorKind::NotFound => message,
        Err(e) => match open_existing(path, true).and_then(|f| f.set_len(0)) {
            Ok(()) => format!("{message} (it could not be removed: {e}; it was truncated to zero bytes)"),
            Err(e2) => format!("{message} (it could not be removed ({e}) or truncated ({e2}): its content is WRONG)"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_repo_format::{EntryKind, Name};

    #[test]
    fn verification_catches_bytes_that_differ_from_the_blobs() {
        let repo = crate::testutil::memory_repo();
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("f");
        std::fs::write(&local, b"abcdef").unwrap();
        let job = |chunks: &[&[u8]], size| {
            let mut entry = Entry::new(Name::new("f"), EntryKind::File);
            entry.size = size;
            let mut offset = 0;
            let chunks = chunks
                .iter()
                .map(|c| {
                    offset += c.len() as u64;
                    (
                        offset - c.len() as u64,
                        repo.keys().blob_id(c),
                        c.len() as u64,
                    )
                })
                .collect();
            FileJob {
                local: local.clone(),
                snap: b"/f".to_vec(),
                entry,
                chunks,
            }
        };
        assert!(verify_file(&repo, &job(&[b"abc", b"def"], 6)).is_ok());
        let err = verify_file(&repo, &job(&[b"abc", b"deg"], 6)).unwrap_err();
        assert!(err.contains("bytes at offset 3 do not match"), "{err}");
        let err = verify_file(&repo, &job(&[b"abc", b"def", b"g"], 7)).unwrap_err();
        assert!(err.contains("6 bytes instead of 7"), "{err}");
    }

    fn blob(n: u8, offset: u32, length: u32) -> RangeBlob {
        RangeBlob {
            id: BlobId([n; 32]),
            loc: BlobLocation {
                pack: PackId([0; 32]),
                offset,
                length,
                raw_len: length,
            },
            users: vec![(0, 0)],
        }
    }

    #[test]
    fn ranges_merge_near_blobs_of_one_pack_and_split_at_gaps_and_size() {
        let mib = 1u32 << 20;
        let mut by_pack = HashMap::new();
        by_pack.insert(
            PackId([1; 32]),
            vec![
                blob(3, 2 * mib + 100, 50),
                blob(1, 0, 100),
                blob(2, 200, 100),
                blob(4, 9 * mib, 7 * mib),
                blob(5, 16 * mib, 2 * mib),
            ],
        );
        by_pack.insert(PackId([2; 32]), vec![blob(6, 0, 10)]);
        let ranges = plan_ranges(by_pack);
        let shape: Vec<(u8, u64, u64, Vec<u8>)> = ranges
            .iter()
            .map(|r| {
                let ids = r.blobs.iter().map(|b| b.id.0[0]).collect();
                (r.pack.0[0], r.start, r.end, ids)
            })
            .collect();
        let m = u64::from(mib);
        assert_eq!(
            shape,
            vec![
                (1, 0, 300, vec![1, 2]),
                (1, 2 * m + 100, 2 * m + 150, vec![3]),
                (1, 9 * m, 16 * m, vec![4]),
                (1, 16 * m, 18 * m, vec![5]),
                (2, 0, 10, vec![6]),
            ]
        );
    }
}
