//! FastCDC 2020's `cut` (spec/chunking.md, "Cutting"), with runs of zero bytes skipped.
//!
//! Disk images are mostly zeros, and the gear loop spends most of an image backup's chunking time
//! there without ever cutting. Over zero bytes every 2-byte step is `hash = (hash << 2) + G_LS[0]`,
//! then `hash += G[0]`; after 32 such steps the old hash is shifted out and the hash sits at a fixed
//! point `H = -G[0]` (and `H - G[0]` after the half step), set by the seed alone. If neither value
//! matches the masks of the loop running, a step over two zero bytes starting at `H` leaves `H` and
//! cannot cut, so the loop jumps to the step holding the next non-zero byte. If one of them matches
//! (rare: it depends on the seed), that loop runs plainly. Either way the cut points are exactly the
//! spec's, and `fastcdc::v2020::FastCDC`'s (the tests compare them).

use fastcdc::v2020::{get_gear_with_seed, logarithm2, MASKS};

/// The spec's `cut` for one repository's parameters.
pub(crate) struct Cutter {
    min_size: usize,
    avg_size: usize,
    max_size: usize,
    /// The masks before the average size, with the fixed point's half and whole step values.
    small: Masks,
    /// The masks after it.
    large: Masks,
    gear: Box<[u64; 256]>,
    gear_ls: Box<[u64; 256]>,
}

/// One loop's masks, and the fixed point if zero runs may be skipped under them.
#[derive(Clone, Copy)]
struct Masks {
    mask_ls: u64,
    mask: u64,
    /// `H`, if neither it nor the half step before it matches a mask.
    skip_at: Option<u64>,
}

impl Masks {
    fn new(mask: u64, fixed: u64, half: u64) -> Self {
        let mask_ls = mask << 1;
        let cuts = half & mask_ls == 0 || fixed & mask == 0;
        Masks {
            mask_ls,
            mask,
            skip_at: (!cuts).then_some(fixed),
        }
    }
}

impl Cutter {
    /// A cutter with FastCDC's level 1 normalisation; the sizes must be within the crate's limits.
    pub(crate) fn new(min_size: u32, avg_size: u32, max_size: u32, seed: u64) -> Self {
        use fastcdc::v2020::{AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MAXIMUM_MIN};
        use fastcdc::v2020::{MINIMUM_MAX, MINIMUM_MIN};
        assert!((MINIMUM_MIN..=MINIMUM_MAX).contains(&min_size));
        assert!((AVERAGE_MIN..=AVERAGE_MAX).contains(&avg_size));
        assert!((MAXIMUM_MIN..=MAXIMUM_MAX).contains(&max_size));
        let bits = logarithm2(avg_size) as usize;
        let (gear, gear_ls) = get_gear_with_seed(seed);
        // A step over two zeros is hash = (hash << 2) + 3 * G[0] (G_LS[0] is G[0] << 1). After 32
        // of them, whatever the hash was: 3 * G[0] * (4^32 - 1) / 3 = -G[0] (mod 2^64).
        let fixed = gear[0].wrapping_neg();
        let half = fixed.wrapping_sub(gear[0]);
        Cutter {
            min_size: min_size as usize,
            avg_size: avg_size as usize,
            max_size: max_size as usize,
            small: Masks::new(MASKS[bits + 1], fixed, half),
            large: Masks::new(MASKS[bits - 1], fixed, half),
            gear,
            gear_ls,
        }
    }

    /// The length of the chunk at the start of `src`, the rest of the input.
    pub(crate) fn cut(&self, src: &[u8]) -> usize {
        let mut n = src.len();
        if n <= self.min_size {
            return n;
        }
        let mut center = self.avg_size;
        if n > self.max_size {
            n = self.max_size;
        } else if n < center {
            center = n;
        }
        let mut hash = 0;
        let i = self.min_size / 2;
        let i = match self.run(src, i, center / 2, &mut hash, self.small) {
            Ok(i) => i,
            Err(cut) => return cut,
        };
        match self.run(src, i, n / 2, &mut hash, self.large) {
            Ok(_) => n,
            Err(cut) => cut,
        }
    }

    /// Runs steps `i..end` under `m`: `Err(cut)` if it cuts, else `Ok(end)` with `hash` updated.
    fn run(
        &self,
        src: &[u8],
        mut i: usize,
        end: usize,
        hash: &mut u64,
        m: Masks,
    ) -> Result<usize, usize> {
        let mut h = *hash;
        while i < end {
            let a = 2 * i;
            h = (h << 2).wrapping_add(self.gear_ls[src[a] as usize]);
            if h & m.mask_ls == 0 {
                return Err(a);
            }
            h = h.wrapping_add(self.gear[src[a + 1] as usize]);
            if h & m.mask == 0 {
                return Err(a + 1);
            }
            i += 1;
            if Some(h) == m.skip_at {
                // At the fixed point, steps over two zero bytes change nothing: go to the step
                // holding the next non-zero byte (src[2 * i..] starts a step, so the phase holds).
                i = (i + zero_prefix(&src[2 * i..2 * end]) / 2).min(end);
            }
        }
        *hash = h;
        Ok(i)
    }
}

/// How many bytes at the start of `data` are zero.
pub(crate) fn zero_prefix(data: &[u8]) -> usize {
    const WORDS: usize = 8;
    let mut blocks = data.chunks_exact(WORDS * 8);
    let mut skipped = 0;
    for block in &mut blocks {
        let any = block.chunks_exact(8).fold(0, |acc, w| {
            acc | u64::from_ne_bytes(w.try_into().expect("8 bytes"))
        });
        if any != 0 {
            break;
        }
        skipped += block.len();
    }
    skipped + data[skipped..].iter().take_while(|&&b| b == 0).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_repo_format::ChunkerParams;
    use fastcdc::v2020::{FastCDC, Normalization};
    use proptest::prelude::*;
    use rand::{RngCore, SeedableRng};

    use crate::chunker::Chunker;

    /// (min, avg, max): the defaults, smaller and larger sets, the config's smallest and largest, and
    /// odd sizes.
    const PARAMS: [(u32, u32, u32); 7] = [
        (64 << 10, 256 << 10, 1 << 20),
        (16 << 10, 64 << 10, 256 << 10),
        (512 << 10, 1 << 20, 8 << 20),
        (64, 256, 1024),
        (1 << 20, 4 << 20, 16 << 20),
        (65, 257, 1025),
        (4097, 9999, 70001),
    ];

    fn ours(data: &[u8], (min, avg, max): (u32, u32, u32), seed: u64) -> Vec<usize> {
        let cutter = Cutter::new(min, avg, max, seed);
        let mut ends = Vec::new();
        let mut start = 0;
        while start < data.len() {
            start += cutter.cut(&data[start..]);
            ends.push(start);
        }
        ends
    }

    fn reference(data: &[u8], (min, avg, max): (u32, u32, u32), seed: u64) -> Vec<usize> {
        FastCDC::with_level_and_seed(data, min, avg, max, Normalization::Level1, seed)
            .map(|c| c.offset + c.length)
            .collect()
    }

    /// Chunk ends through the windows of a [`Chunker`].
    fn windowed(data: &[u8], (min, avg, max): (u32, u32, u32), seed: u64) -> Vec<usize> {
        let mut p = ChunkerParams::with_seed(seed);
        (p.min_size, p.avg_size, p.max_size) = (min, avg, max);
        let mut chunker = Chunker::new(data, p);
        let (mut ends, mut done) = (Vec::new(), 0);
        while let Some(batch) = chunker.next_batch().unwrap() {
            ends.extend(batch.chunks.iter().map(|r| done + r.end));
            done += batch.chunks.last().map_or(0, |r| r.end);
        }
        ends
    }

    /// A zero run's length: uniform, or near a size that matters to the cutter.
    fn zero_len(kind: u8, uniform: usize, delta: i64, (min, avg, max): (u32, u32, u32)) -> usize {
        let near = |size: u32| (size as i64 + delta).max(0) as usize;
        match kind {
            0 => uniform,
            1 => near(min),
            2 => near(avg),
            3 => near(max),
            _ => near(64),
        }
    }

    /// Random bytes and zero runs, in the order given.
    fn build(segments: &[(usize, usize)], seed: u64) -> Vec<u8> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut data = Vec::new();
        for &(random, zeros) in segments {
            let start = data.len();
            data.resize(start + random, 0);
            rng.fill_bytes(&mut data[start..]);
            data.resize(data.len() + zeros, 0);
        }
        data
    }

    /// Data with zero runs of the given lengths between random bytes.
    fn zero_heavy(params: (u32, u32, u32), seed: u64) -> Vec<u8> {
        let (min, avg, max) = (params.0 as usize, params.1 as usize, params.2 as usize);
        let segments = [
            (0, min),
            (1, avg + 1),
            (2, max + 3),
            (max, 3 * max + 1),
            (100, 64),
            (7, 65),
            (min / 2, 3 << 20),
            (1, 1),
        ];
        build(&segments, seed)
    }

    fn seeds() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0), any::<u64>()]
    }

    fn segments() -> impl Strategy<Value = Vec<(usize, u8, usize, i64)>> {
        let random = prop_oneof![0usize..3, 0usize..200_000];
        proptest::collection::vec((random, 0u8..5, 0usize..3 << 20, -70i64..70), 1..7)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn cuts_like_fastcdc(
            params in proptest::sample::select(&PARAMS[..]),
            seed in seeds(),
            segments in segments(),
            data_seed in any::<u64>(),
        ) {
            let segments: Vec<(usize, usize)> = segments
                .iter()
                .map(|&(random, kind, uniform, delta)| (random, zero_len(kind, uniform, delta, params)))
                .collect();
            let data = build(&segments, data_seed);
            let expected = reference(&data, params, seed);
            prop_assert_eq!(&ours(&data, params, seed), &expected);
            prop_assert_eq!(&windowed(&data, params, seed), &expected);
        }

        #[test]
        fn zero_prefix_finds_the_first_non_zero_byte(
            offset in 0usize..64,
            zeros in 0usize..1000,
            tail in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let mut buf = vec![0u8; offset + zeros];
            buf.extend(&tail);
            let expected = zeros + tail.iter().take_while(|&&b| b == 0).count();
            prop_assert_eq!(zero_prefix(&buf[offset..]), expected);
        }
    }

    #[test]
    fn seeds_whose_fixed_point_matches_a_mask_cut_like_fastcdc() {
        // Random seeds rarely match (one in 2^(bits in the mask)); more are made from the fixed point
        // wanted, since it is -G[0] = -(GEAR[0] ^ seed).
        let gear0 = get_gear_with_seed(0).0[0];
        let with_fixed = |h: u64| gear0 ^ h.wrapping_neg();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for params in PARAMS {
            let (min, avg, max) = params;
            let bits = logarithm2(avg) as usize;
            let (mask_s, mask_l) = (MASKS[bits + 1], MASKS[bits - 1]);
            let found: Vec<u64> = (0..100_000)
                .map(|_| rng.next_u64())
                .filter(|&seed| {
                    let c = Cutter::new(min, avg, max, seed);
                    c.small.skip_at.is_none() || c.large.skip_at.is_none()
                })
                .take(2)
                .collect();
            if params == (64, 256, 1024) {
                assert_eq!(found.len(), 2, "the smallest masks match for some seeds");
            }
            let made = [0, mask_s & !mask_l, mask_l & !mask_s].map(|fixed| {
                let c = Cutter::new(min, avg, max, with_fixed(fixed));
                assert_eq!(c.small.skip_at, (fixed & mask_s != 0).then_some(fixed));
                assert_eq!(c.large.skip_at, (fixed & mask_l != 0).then_some(fixed));
                with_fixed(fixed)
            });
            for seed in found.into_iter().chain(made) {
                let data = zero_heavy(params, seed);
                assert_eq!(ours(&data, params, seed), reference(&data, params, seed));
            }
        }
    }

    #[test]
    fn zeros_lead_any_hash_to_the_fixed_point_and_keep_it_there() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for seed in [0, 1, 7] {
            let c = Cutter::new(64 << 10, 256 << 10, 1 << 20, seed);
            let mut h = rng.next_u64();
            for _ in 0..32 {
                h = (h << 2).wrapping_add(c.gear_ls[0]).wrapping_add(c.gear[0]);
            }
            let half = (h << 2).wrapping_add(c.gear_ls[0]);
            assert_eq!(half.wrapping_add(c.gear[0]), h);
            // Under these seeds neither value matches the default masks: both loops skip.
            assert_eq!(c.small.skip_at, Some(h));
            assert_eq!(c.large.skip_at, Some(h));
        }
    }

    #[test]
    fn skipping_is_refused_when_either_step_matches() {
        let mask = MASKS[9];
        let (hit, miss) = (!mask, u64::MAX);
        assert_eq!(Masks::new(mask, miss, miss).skip_at, Some(miss));
        assert_eq!(Masks::new(mask, hit, miss).skip_at, None);
        assert_eq!(Masks::new(mask, miss, !(mask << 1)).skip_at, None);
    }

    #[test]
    fn the_gear_table_is_the_specs() {
        let (gear, gear_ls) = get_gear_with_seed(0);
        assert_eq!(gear[0], 0x3b5d3c7d207e37dc);
        assert_eq!(gear[1], 0x784d68ba91123086);
        assert_eq!(gear[255], 0xaabd2b2a451504e1);
        assert!((0..256).all(|i| gear_ls[i] == gear[i] << 1));
    }
}
