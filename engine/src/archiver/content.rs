//! Reading a file or stream into data blobs: chunk, hash, deduplicate, seal, in parallel.
//!
//! While one window's chunks are hashed and sealed on all cores, the next window is read and cut, so
//! reading and processing overlap. At most two windows of one stream are in memory.

use std::io::Read;

use cairn_repo_format::{BlobId, BlobKind, ContentRef};
use rayon::prelude::*;

use crate::blob_writer::BlobWriter;
use crate::chunker::{ChunkBatch, Chunker};
use crate::error::Error;
use crate::progress::Progress;
use crate::tree_writer::ContentBuilder;

/// Why reading content stopped: the source failed (one file is lost) or the repository did (the
/// backup is lost).
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// Reading the source failed.
    Source(std::io::Error),
    /// Writing to the repository failed.
    Repository(Error),
}

impl From<Error> for ReadFailure {
    fn from(e: Error) -> Self {
        ReadFailure::Repository(e)
    }
}

/// A file's content as stored: its parts and how many bytes were read.
pub(crate) struct StoredContent {
    pub parts: Vec<ContentRef>,
    pub size: u64,
}

/// Reads `reader` (expected to hold about `size_hint` bytes) to its end into the repository.
pub(crate) fn store_content(
    writer: &BlobWriter,
    reader: impl Read + Send,
    size_hint: Option<u64>,
    progress: &dyn Progress,
) -> Result<StoredContent, ReadFailure> {
    let mut chunker = Chunker::with_size_hint(reader, writer.repo().config().chunker, size_hint);
    let mut builder = ContentBuilder::new(writer);
    let mut size = 0u64;
    let mut next = chunker.next_batch();
    loop {
        let batch = match next {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => return Err(ReadFailure::Source(e)),
        };
        let (following, stored) = rayon::join(
            || chunker.next_batch(),
            || store_batch(writer, &batch, progress),
        );
        next = following;
        for (id, len) in stored? {
            builder.push(id, len)?;
            size += len;
        }
    }
    Ok(StoredContent {
        parts: builder.finish()?,
        size,
    })
}

fn store_batch(
    writer: &BlobWriter,
    batch: &ChunkBatch,
    progress: &dyn Progress,
) -> Result<Vec<(BlobId, u64)>, Error> {
    batch
        .chunks
        .par_iter()
        .map(|range| {
            let data = &batch.buf[range.clone()];
            let id = writer.data_id(data);
            writer.add_with_id(BlobKind::Data, id, data)?;
            progress.add_bytes(data.len() as u64);
            Ok((id, data.len() as u64))
        })
        .collect()
}
