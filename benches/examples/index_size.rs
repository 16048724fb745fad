//! The in-memory index at repository scale: bytes per blob and lookup time for an index of
//! `--blobs` blobs (default 10 million), `--blobs-per-pack` to a pack (default 64: 16 MiB packs
//! of the default 256 KiB average chunk).
//!
//! It builds the index once from synthetic pack entries (random ids), then times lookups of every
//! stored id in a shuffled order (hits) and of as many absent ids (misses), on one core. Reported:
//! build time, the index's own bytes per blob (`Index::memory_bytes`), the process's peak RSS
//! (which includes the entries the build reads from), and nanoseconds per lookup.
//!
//! Run: `cargo run --release -p cairn-benches --example index_size [-- --blobs N --blobs-per-pack M]`

use std::time::Instant;

use cairn_engine::IndexBuilder;
use cairn_repo_format::{BlobId, BlobKind, PackEntry, PackId};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

fn random_id(rng: &mut rand::rngs::StdRng) -> [u8; 32] {
    let mut id = [0u8; 32];
    rng.fill_bytes(&mut id);
    id
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(default)
    };
    let blobs = flag("--blobs", 10_000_000);
    let per_pack = flag("--blobs-per-pack", 64).max(1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let ids: Vec<BlobId> = (0..blobs).map(|_| BlobId(random_id(&mut rng))).collect();

    let started = Instant::now();
    let mut builder = IndexBuilder::default();
    for pack in ids.chunks(per_pack) {
        let entries: Vec<PackEntry> = pack
            .iter()
            .enumerate()
            .map(|(i, id)| PackEntry {
                kind: BlobKind::Data,
                id: *id,
                offset: i as u32 * (1 << 18),
                length: 1 << 18,
                raw_len: 1 << 18,
            })
            .collect();
        builder.add_pack(PackId(random_id(&mut rng)), &entries);
    }
    let index = builder.build();
    let build = started.elapsed();
    let bytes = index.memory_bytes();

    let mut probes = ids.clone();
    probes.shuffle(&mut rng);
    let started = Instant::now();
    let hits = probes
        .iter()
        .filter(|id| index.contains(BlobKind::Data, id))
        .count();
    let hit_ns = started.elapsed().as_nanos() as f64 / blobs as f64;
    let absent: Vec<BlobId> = (0..blobs).map(|_| BlobId(random_id(&mut rng))).collect();
    let started = Instant::now();
    let misses = absent
        .iter()
        .filter(|id| !index.contains(BlobKind::Data, id))
        .count();
    let miss_ns = started.elapsed().as_nanos() as f64 / blobs as f64;
    assert_eq!((hits, misses), (blobs, blobs));

    println!("blobs:            {blobs}");
    println!("packs:            {}", index.packs().len());
    println!("build:            {:.2} s", build.as_secs_f64());
    println!(
        "index memory:     {:.1} MiB = {:.1} bytes per blob",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / blobs as f64
    );
    println!(
        "peak RSS:         {} MiB (with the ids and probes of the bench)",
        peak_rss_mib()
    );
    println!("lookup, hit:      {hit_ns:.0} ns");
    println!("lookup, miss:     {miss_ns:.0} ns");
}
