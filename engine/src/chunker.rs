//! Content-defined chunking: cuts a stream into chunks with FastCDC (2020), in windows.
//!
//! The reader fills a window of [`WINDOW`] bytes, FastCDC finds the cut points, and every chunk but
//! the last is handed out as a slice of one shared buffer; the last is carried into the next window,
//! because the window's end is not a content-defined boundary. The cut points are exactly those of
//! FastCDC run over the whole stream at once.

use std::io::Read;
use std::ops::Range;

use bytes::Bytes;
use cairn_repo_format::ChunkerParams;
use fastcdc::v2020::{FastCDC, Normalization};

/// Bytes read per window.
pub const WINDOW: usize = 16 << 20;

/// Chunks cut from one window of the stream.
#[derive(Debug)]
pub struct ChunkBatch {
    /// The window's bytes.
    pub buf: Bytes,
    /// The chunks, as ranges of `buf`, in stream order.
    pub chunks: Vec<Range<usize>>,
}

/// Cuts a reader into chunk batches.
pub struct Chunker<R> {
    reader: R,
    params: ChunkerParams,
    carry: Vec<u8>,
    eof: bool,
}

impl<R: Read> Chunker<R> {
    /// A chunker over `reader` with the repository's parameters.
    pub fn new(reader: R, params: ChunkerParams) -> Self {
        assert!(WINDOW >= 2 * params.max_size as usize);
        Chunker {
            reader,
            params,
            carry: Vec::new(),
            eof: false,
        }
    }

    /// The next batch, or `None` at the end of the stream.
    pub fn next_batch(&mut self) -> std::io::Result<Option<ChunkBatch>> {
        if self.eof && self.carry.is_empty() {
            return Ok(None);
        }
        let mut buf = std::mem::take(&mut self.carry);
        buf.reserve(WINDOW.saturating_sub(buf.len()));
        while !self.eof && buf.len() < WINDOW {
            let start = buf.len();
            buf.resize(WINDOW, 0);
            match self.reader.read(&mut buf[start..]) {
                Ok(0) => {
                    buf.truncate(start);
                    self.eof = true;
                }
                Ok(n) => buf.truncate(start + n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(start),
                Err(e) => return Err(e),
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let p = &self.params;
        let mut chunks: Vec<Range<usize>> = FastCDC::with_level_and_seed(
            &buf,
            p.min_size,
            p.avg_size,
            p.max_size,
            Normalization::Level1,
            p.seed,
        )
        .map(|c| c.offset..c.offset + c.length)
        .collect();
        if !self.eof {
            let last = chunks
                .pop()
                .expect("a full window holds at least two chunks");
            self.carry = buf.split_off(last.start);
        }
        Ok(Some(ChunkBatch {
            buf: Bytes::from(buf),
            chunks,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    fn params() -> ChunkerParams {
        let mut p = ChunkerParams::with_seed(7);
        (p.min_size, p.avg_size, p.max_size) = (16 << 10, 64 << 10, 256 << 10);
        p
    }

    fn all_chunks(data: &[u8], read_size: usize) -> Vec<Vec<u8>> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(out.len()).min(self.1);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut c = Chunker::new(Trickle(data, read_size), params());
        let mut out = Vec::new();
        while let Some(b) = c.next_batch().unwrap() {
            out.extend(b.chunks.iter().map(|r| b.buf[r.clone()].to_vec()));
        }
        out
    }

    #[test]
    fn windows_cut_exactly_where_one_pass_does() {
        let mut data = vec![0u8; 40 << 20];
        rand::rngs::StdRng::seed_from_u64(1).fill_bytes(&mut data);
        let p = params();
        let whole: Vec<Vec<u8>> = FastCDC::with_level_and_seed(
            &data,
            p.min_size,
            p.avg_size,
            p.max_size,
            Normalization::Level1,
            p.seed,
        )
        .map(|c| data[c.offset..c.offset + c.length].to_vec())
        .collect();
        assert_eq!(all_chunks(&data, 1 << 30), whole);
        assert_eq!(all_chunks(&data, 100_003), whole);
        assert!(all_chunks(&[], 10).is_empty());
    }

    #[test]
    fn an_insertion_moves_only_nearby_boundaries() {
        let mut data = vec![0u8; 8 << 20];
        rand::rngs::StdRng::seed_from_u64(2).fill_bytes(&mut data);
        let before = all_chunks(&data, usize::MAX);
        data.splice(1000..1000, *b"inserted");
        let after = all_chunks(&data, usize::MAX);
        let common = after.iter().filter(|c| before.contains(c)).count();
        assert!(
            common + 2 >= before.len(),
            "{common} of {} chunks kept",
            before.len()
        );
    }
}
