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
    use proptest::prelude::*;
    use proptest::test_runner::RngSeed;
    use rand::{RngCore, SeedableRng};

    fn params() -> ChunkerParams {
        let mut p = ChunkerParams::with_seed(7);
        (p.min_size, p.avg_size, p.max_size) = (16 << 10, 64 << 10, 256 << 10);
        p
    }

    fn all_chunks(data: &[u8], read_size: usize) -> Vec<Vec<u8>> {
        chunks_with(data, read_size, params())
    }

    fn chunks_with(data: &[u8], read_size: usize, params: ChunkerParams) -> Vec<Vec<u8>> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(out.len()).min(self.1);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut c = Chunker::new(Trickle(data, read_size), params);
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

    /// Chunk boundaries: the offset at which each chunk ends.
    fn ends(data: &[u8], params: ChunkerParams) -> Vec<usize> {
        chunks_with(data, 1 << 20, params)
            .iter()
            .scan(0, |end, c| {
                *end += c.len();
                Some(*end)
            })
            .collect()
    }

    /// Small chunks, so a few MiB hold hundreds of them.
    const SMALL: (u32, u32, u32) = (2 << 10, 8 << 10, 32 << 10);
    /// The repository defaults (64 KiB / 256 KiB / 1 MiB).
    const DEFAULTS: (u32, u32, u32) = (64 << 10, 256 << 10, 1 << 20);

    /// How far past the insertion, in maximal chunks, the old boundaries must all be back.
    ///
    /// A cut depends only on the bytes from its chunk's start up to and including the byte at the
    /// cut, and on how far the cut is from that start (the first `min` bytes are skipped, and the
    /// stricter mask applies before `avg`). So old and new boundaries agree before the insertion,
    /// and once the new stream has a boundary that the old one (shifted) also has, every later
    /// boundary agrees too. After the insertion the new chunker reaches each old content-defined
    /// cut and takes it unless it cuts earlier or the cut falls where its start makes another mask
    /// apply; each old boundary is missed with a probability well below one, so the distance to
    /// the first shared boundary has a geometric tail rather than a bound. Measured from the
    /// insertion point (`measure_resynchronisation`, over random data, random seeds, insertions
    /// of 1..=4096 bytes): with the small sizes (20,000 trials) the median is 0.22 maximal chunks,
    /// p99 1.04, p99.9 1.65, the worst 2.13; with the defaults (150 trials) the median is 0.17 and
    /// the worst 0.72. Each further 0.6 maximal chunk divides the tail by about ten, so 4 maximal
    /// chunks leave a chance around 1e-7 per case; the runner's seed is fixed besides, so the test
    /// cannot flake.
    const RESYNC_MAX_CHUNKS: usize = 4;

    /// Chunker parameters, the stream, the insertion point, the inserted bytes.
    fn insertion() -> impl Strategy<Value = (ChunkerParams, Vec<u8>, usize, Vec<u8>)> {
        let sizes = prop_oneof![
            7 => Just(SMALL).prop_flat_map(|s| (Just(s), (256usize << 10)..=(2 << 20))),
            1 => Just(DEFAULTS).prop_flat_map(|s| (Just(s), (6usize << 20)..=(10 << 20))),
        ];
        (
            sizes,
            any::<u64>(),
            any::<u64>(),
            prop_oneof![1 => Just(None), 1 => Just(Some(0.0)), 8 => (0.0f64..1.0).prop_map(Some)],
            1usize..=4096,
            any::<bool>(),
        )
            .prop_map(
                |(((min, avg, max), len), cdc_seed, data_seed, at, inserted, zeros)| {
                    let mut p = ChunkerParams::with_seed(cdc_seed);
                    (p.min_size, p.avg_size, p.max_size) = (min, avg, max);
                    let mut rng = rand::rngs::StdRng::seed_from_u64(data_seed);
                    let mut data = vec![0u8; len];
                    rng.fill_bytes(&mut data);
                    let mut ins = vec![0u8; inserted];
                    if !zeros {
                        rng.fill_bytes(&mut ins);
                    }
                    // Anywhere that leaves room for the resynchronised boundaries to be checked,
                    // or at the very end.
                    let room = len - RESYNC_MAX_CHUNKS * max as usize;
                    let pos = at.map_or(len, |f| (f * room as f64) as usize);
                    (p, data, pos, ins)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 64,
            rng_seed: RngSeed::Fixed(2),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn an_insertion_moves_only_nearby_boundaries((p, data, pos, ins) in insertion()) {
            let old = ends(&data, p);
            let mut changed = data;
            changed.splice(pos..pos, ins.iter().copied());
            let new = ends(&changed, p);
            prop_assert_eq!(new.last(), Some(&changed.len()));

            // (a) Every chunk that ends before the insertion is unchanged.
            let before = |ends: &[usize]| ends.iter().copied().take_while(|&e| e < pos).collect::<Vec<_>>();
            prop_assert_eq!(before(&new), before(&old));

            // (b) Past the insertion and K maximal chunks, every old boundary is a new one, shifted.
            let k = RESYNC_MAX_CHUNKS * p.max_size as usize;
            let new: std::collections::HashSet<usize> = new.into_iter().collect();
            for &e in old.iter().filter(|&&e| e >= pos + k) {
                prop_assert!(
                    new.contains(&(e + ins.len())),
                    "old boundary {} ({} past the insertion at {}) lost", e, e - pos, pos
                );
            }
        }
    }

    /// Prints how far past an insertion the first boundary shared by the old and new streams lies,
    /// in maximal chunks: the measurement behind [`RESYNC_MAX_CHUNKS`]. Takes about a minute.
    #[test]
    #[ignore = "a measurement, not a check: run with --ignored --nocapture"]
    fn measure_resynchronisation() {
        for (name, (min, avg, max), size, trials) in [
            ("small", SMALL, 256usize << 10, 20_000u64),
            ("defaults", DEFAULTS, 12 << 20, 150),
        ] {
            let mut dists = Vec::new();
            for t in 0..trials {
                let mut rng = rand::rngs::StdRng::seed_from_u64(t);
                let mut p = ChunkerParams::with_seed(rng.next_u64());
                (p.min_size, p.avg_size, p.max_size) = (min, avg, max);
                let mut data = vec![0u8; size];
                rng.fill_bytes(&mut data);
                let pos = (rng.next_u64() as usize) % (size / 4);
                let mut ins = vec![0u8; 1 + (rng.next_u64() as usize) % 4096];
                rng.fill_bytes(&mut ins);
                let old = ends(&data, p);
                data.splice(pos..pos, ins.iter().copied());
                let new: std::collections::HashSet<usize> = ends(&data, p).into_iter().collect();
                let shared = old
                    .iter()
                    .find(|&&e| e >= pos && new.contains(&(e + ins.len())));
                dists.push(shared.expect("the ends are shared") - pos);
            }
            dists.sort_unstable();
            let q = |f: f64| dists[((dists.len() - 1) as f64 * f) as usize] as f64 / max as f64;
            eprintln!(
                "{name}: first shared boundary past the insertion, in maximal chunks: \
                 median {:.2}, p90 {:.2}, p99 {:.2}, p99.9 {:.2}, worst {:.2}",
                q(0.5),
                q(0.9),
                q(0.99),
                q(0.999),
                q(1.0)
            );
        }
    }
}
