//! Reading open files: each read fetches only the chunks that cover it (found by binary search over
//! the content list, level by level), through the blob cache; reads that follow on from the previous
//! one schedule the next chunks in the background.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_engine::format::{BlobId, ContentRef, Entry};
use cairn_engine::{Error, ErrorKind, Indexed, Result};

use crate::blobs::{Blob, Blobs};
use crate::nodes::Nodes;

/// How far ahead of a sequential reader chunks are fetched.
pub(crate) const READAHEAD_BYTES: u64 = 8 << 20;
/// Chunks scheduled at most per read.
const READAHEAD_CHUNKS: usize = 16;
/// A read starting this close to where the last one ended counts as sequential (the kernel sends
/// readahead requests in parallel, so they arrive a little out of order).
const SEQUENTIAL_SLACK: u64 = 2 << 20;

/// An open file.
pub(crate) struct OpenFile {
    parts: Vec<ContentRef>,
    size: u64,
    /// Where the last read ended.
    last_end: AtomicU64,
    /// Readahead has been scheduled up to here.
    ahead: AtomicU64,
}

/// The bytes of one read: a slice of one cached blob, or pieces of several copied together.
pub(crate) enum Data {
    /// Part of one blob.
    Slice(Blob, Range<usize>),
    /// Copied from several blobs.
    Owned(Vec<u8>),
}

impl Data {
    /// The bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Data::Slice(b, r) => &b[r.clone()],
            Data::Owned(v) => v,
        }
    }
}

impl OpenFile {
    /// Opens a file entry.
    pub(crate) fn new(entry: &Entry) -> OpenFile {
        OpenFile {
            parts: entry.content.clone(),
            size: entry.size,
            last_end: AtomicU64::new(0),
            ahead: AtomicU64::new(0),
        }
    }

    /// Reads up to `size` bytes at `offset` (fewer at the end of the file).
    pub(crate) fn read(
        &self,
        repo: &Indexed,
        nodes: &Nodes,
        blobs: &Blobs,
        offset: u64,
        size: u32,
    ) -> Result<Data> {
        let end = offset.saturating_add(u64::from(size)).min(self.size);
        if offset >= end {
            return Ok(Data::Owned(Vec::new()));
        }
        let mut out: Option<Vec<u8>> = None;
        let mut pos = offset;
        while pos < end {
            let (start, id, len) = nodes.chunk_at(repo, &self.parts, pos)?.ok_or_else(|| {
                Error::new(
                    ErrorKind::Damaged,
                    format!(
                        "the file's content list ends before byte {pos} of its {} bytes",
                        self.size
                    ),
                )
            })?;
            let blob = blobs.get(repo, &id, len)?;
            let from = (pos - start) as usize;
            let to = ((end - start).min(len)) as usize;
            if from >= to || to > blob.len() {
                return Err(Error::new(
                    ErrorKind::Damaged,
                    "a content list has an empty chunk",
                ));
            }
            if out.is_none() && pos == offset && start + len >= end {
                return Ok(Data::Slice(blob, from..to));
            }
            out.get_or_insert_with(|| Vec::with_capacity((end - offset) as usize))
                .extend_from_slice(&blob[from..to]);
            pos = start + to as u64;
        }
        Ok(Data::Owned(out.unwrap_or_default()))
    }

    /// Records a read of `offset..end` and tells whether it follows on from the one before.
    pub(crate) fn sequential(&self, offset: u64, end: u64) -> bool {
        let last = self.last_end.swap(end, Ordering::Relaxed);
        offset.abs_diff(last) <= SEQUENTIAL_SLACK
    }

    /// The chunks to fetch ahead of a sequential read that ended at `end` and are neither cached,
    /// being fetched, nor scheduled before; marks them scheduled.
    pub(crate) fn readahead(
        &self,
        repo: &Indexed,
        nodes: &Nodes,
        blobs: &Blobs,
        end: u64,
    ) -> Vec<(BlobId, u64)> {
        let limit = end.saturating_add(READAHEAD_BYTES).min(self.size);
        // Continue where the last readahead stopped, unless the reader moved elsewhere.
        let ahead = self.ahead.load(Ordering::Relaxed);
        let mut pos = if (end..limit).contains(&ahead) {
            ahead
        } else {
            end
        };
        let mut out = Vec::new();
        while pos < limit && out.len() < READAHEAD_CHUNKS {
            let Ok(Some((start, id, len))) = nodes.chunk_at(repo, &self.parts, pos) else {
                break;
            };
            if !blobs.has(&id) {
                out.push((id, len));
            }
            pos = start + len.max(1);
        }
        self.ahead.store(pos, Ordering::Relaxed);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{bytes, commit, file, memory_repo};

    #[test]
    fn reads_at_any_offset_and_reads_ahead_of_sequential_readers() {
        let data = bytes(5, 200_000);
        let (repo, _, root) = commit(
            &memory_repo(),
            |w| vec![file(w, "f", &data, 3000)],
            "2026-01-01T00:00:00Z",
        );
        let (nodes, blobs) = (Nodes::new(1 << 20), Blobs::new(1 << 20));
        let entry = nodes.lookup(&repo, &root, b"f").unwrap().unwrap();
        let f = OpenFile::new(&entry);
        for (offset, size) in [
            (0u64, 10u32),
            (2999, 2),
            (5000, 70_000),
            (199_990, 100),
            (300_000, 5),
        ] {
            let got = f.read(&repo, &nodes, &blobs, offset, size).unwrap();
            let from = (offset as usize).min(data.len());
            let to = (offset as usize + size as usize).min(data.len());
            assert_eq!(got.as_slice(), &data[from..to], "{size} bytes at {offset}");
        }
        assert!(matches!(
            f.read(&repo, &nodes, &blobs, 3000, 100).unwrap(),
            Data::Slice(..)
        ));

        assert!(f.sequential(0, 4096));
        assert!(f.sequential(4096, 8192));
        assert!(
            !f.sequential(150_000_000, 150_004_096),
            "a jump is not sequential"
        );
        let first = f.readahead(&repo, &nodes, &blobs, 8192);
        assert_eq!(first.len(), READAHEAD_CHUNKS);
        assert!(
            first.iter().all(|(id, _)| !blobs.has(id)),
            "cached chunks are skipped"
        );
        let second = f.readahead(&repo, &nodes, &blobs, 8192);
        assert!(
            !second.is_empty() && second.iter().all(|c| !first.contains(c)),
            "not scheduled twice"
        );
    }
}
