//! Content-defined chunking: cuts a stream into chunks with FastCDC (2020), in windows.
//!
//! The reader fills a window of [`WINDOW`] bytes (or two maximal chunks, if that is more), FastCDC
//! (the module `cut`, which skips runs of zeros) finds the cut points, and every chunk but the last is handed out as a slice of one shared buffer;
//! the last is carried into the next window, because the window's end is not a content-defined
//! boundary. The cut points are exactly those of FastCDC run over the whole stream at once. The
//! buffer grows only as far as the stream goes, so a small file costs a small allocation.

use std::io::Read;
use std::ops::Range;

use bytes::Bytes;
use cairn_repo_format::ChunkerParams;

pub(crate) use self::cut::zero_prefix;
use self::cut::Cutter;

mod cut;

/// Bytes read per window (at least two maximal chunks are always read).
pub const WINDOW: usize = 4 << 20;

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
    cutter: Cutter,
    window: usize,
    /// Bytes to reserve for the next window: the size hint, then a full window.
    reserve: usize,
    carry: Vec<u8>,
    eof: bool,
}

impl<R: Read> Chunker<R> {
    /// A chunker over `reader` with the repository's parameters.
    pub fn new(reader: R, params: ChunkerParams) -> Self {
        Self::with_size_hint(reader, params, None)
    }

    /// A chunker over a stream expected to hold about `size` bytes (a file's length), so the first
    /// window is allocated once at the right size.
    pub fn with_size_hint(reader: R, params: ChunkerParams, size: Option<u64>) -> Self {
        let window = WINDOW.max(2 * params.max_size as usize);
        let reserve = size.map_or(0, |s| (s as usize).saturating_add(1).min(window));
        Chunker {
            reader,
            cutter: Cutter::new(
                params.min_size,
                params.avg_size,
                params.max_size,
                params.seed,
            ),
            window,
            reserve,
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
        if !self.eof {
            let want = self.window - buf.len();
            buf.reserve(self.reserve.saturating_sub(buf.len()));
            // read_to_end retries interrupted reads and stops at the window or at the end.
            let got = (&mut self.reader).take(want as u64).read_to_end(&mut buf)?;
            if got < want {
                self.eof = true;
            } else {
                self.reserve = self.window;
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let mut chunks: Vec<Range<usize>> = Vec::new();
        let mut start = 0;
        while start < buf.len() {
            let end = start + self.cutter.cut(&buf[start..]);
            chunks.push(start..end);
            start = end;
        }
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
    use fastcdc::v2020::{FastCDC, Normalization};
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
    fn the_largest_chunks_the_config_allows_get_a_window_that_fits_them() {
        let mut p = params();
        (p.min_size, p.avg_size, p.max_size) = (1 << 20, 4 << 20, 16 << 20);
        let data = vec![7u8; 40 << 20];
        let mut c = Chunker::new(&data[..], p);
        let mut total = 0;
        while let Some(b) = c.next_batch().unwrap() {
            assert!(b.chunks.iter().all(|r| r.len() <= 16 << 20));
            total += b.chunks.iter().map(|r| r.len()).sum::<usize>();
        }
        assert_eq!(total, data.len());
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
