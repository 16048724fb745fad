//! Throughput of every stage of the backup and restore pipelines, one core each.
//!
//! Run with `cargo bench -p cairn-benches`. Each benchmark reports bytes (or items) per second; the
//! ceiling for a backup on N cores is roughly N divided by the sum of the per-byte costs of hashing,
//! compressing and sealing, with chunking running beside them.

use std::hint::black_box;

use cairn_engine::format::{
    open_blob, seal_blob, BlobId, BlobKind, Compression, ContentRef, Entry, EntryKind,
    MasterSecret, Name, Node, PackBuilder, PackEntry, PackId,
};
use cairn_engine::{Chunker, IndexBuilder};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::{RngCore, SeedableRng};

const MIB: usize = 1 << 20;

fn random(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(42).fill_bytes(&mut v);
    v
}

/// Text-like data that compresses about 3:1, as source trees and logs do.
fn text(len: usize) -> Vec<u8> {
    let words: Vec<&[u8]> = b"the quick brown fox jumps over a lazy dog while backups run at night and keep every generation safe"
        .split(|b| *b == b' ')
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(words[(rng.next_u32() as usize) % words.len()]);
        out.push(if rng.next_u32() % 12 == 0 {
            b'\n'
        } else {
            b' '
        });
    }
    out.truncate(len);
    out
}

/// Disk-image-like data: 70% zero bytes, in runs of 64 KiB to 4 MiB, between runs of random bytes
/// 3/7 as long.
fn zero_heavy(len: usize) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(43);
    let mut out = Vec::with_capacity(len + 8 * MIB);
    while out.len() < len {
        let zeros = (64 << 10) + (rng.next_u32() as usize) % (4 * MIB - (64 << 10));
        out.resize(out.len() + zeros, 0);
        let start = out.len();
        out.resize(start + zeros * 3 / 7, 0);
        rng.fill_bytes(&mut out[start..]);
    }
    out.truncate(len);
    out
}

fn chunking(c: &mut Criterion) {
    let params = cairn_engine::format::ChunkerParams::with_seed(1);
    let mut g = c.benchmark_group("chunking");
    g.sample_size(10);
    for (name, data) in [
        ("random", random(64 * MIB)),
        ("zero-heavy", zero_heavy(64 * MIB)),
    ] {
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut chunker = Chunker::new(&data[..], params);
                let mut n = 0;
                while let Some(batch) = chunker.next_batch().unwrap() {
                    n += batch.chunks.len();
                }
                black_box(n)
            })
        });
    }
    g.finish();
}

fn per_chunk(c: &mut Criterion) {
    let keys = MasterSecret::from_bytes([1; 32]).keys();
    let rand_chunk = random(MIB);
    let text_chunk = text(MIB);
    let mut g = c.benchmark_group("per-chunk");
    g.throughput(Throughput::Bytes(MIB as u64));
    g.bench_function("keyed blake3", |b| {
        b.iter(|| keys.blob_id(black_box(&rand_chunk)))
    });
    g.bench_function("zstd-3 random", |b| {
        b.iter(|| Compression::Zstd(3).encode(black_box(&rand_chunk)))
    });
    g.bench_function("zstd-3 text", |b| {
        b.iter(|| Compression::Zstd(3).encode(black_box(&text_chunk)))
    });
    g.bench_function("xchacha20-poly1305 seal", |b| {
        b.iter(|| keys.seal(&[0; 24], b"aad", black_box(&rand_chunk)))
    });
    let id = keys.blob_id(&text_chunk);
    g.bench_function("seal_blob text (compress+seal)", |b| {
        b.iter(|| {
            seal_blob(
                &keys,
                BlobKind::Data,
                id,
                black_box(&text_chunk),
                Compression::Zstd(3),
                &[0; 24],
            )
        })
    });
    let sealed = seal_blob(
        &keys,
        BlobKind::Data,
        id,
        &text_chunk,
        Compression::Zstd(3),
        &[0; 24],
    );
    g.bench_function("open_blob text (open+decompress+verify)", |b| {
        b.iter(|| {
            open_blob(
                &keys,
                BlobKind::Data,
                &id,
                sealed.raw_len,
                black_box(&sealed.bytes),
            )
            .unwrap()
        })
    });
    g.finish();
}

fn packing(c: &mut Criterion) {
    let keys = MasterSecret::from_bytes([2; 32]).keys();
    let chunk = random(MIB);
    let blobs: Vec<_> = (0..16u8)
        .map(|i| {
            let id = BlobId([i; 32]);
            seal_blob(
                &keys,
                BlobKind::Data,
                id,
                &chunk,
                Compression::Off,
                &[0; 24],
            )
        })
        .collect();
    let mut g = c.benchmark_group("packing");
    g.throughput(Throughput::Bytes(16 * MIB as u64));
    g.bench_function("16 MiB pack", |b| {
        b.iter(|| {
            let mut p = PackBuilder::with_capacity(17 * MIB);
            for blob in &blobs {
                p.add(blob);
            }
            p.finish(&keys, &[0; 24])
        })
    });
    g.finish();
}

fn index(c: &mut Criterion) {
    const N: usize = 1_000_000;
    let ids: Vec<BlobId> = (0..N as u64)
        .map(|i| BlobId(*blake3::hash(&i.to_le_bytes()).as_bytes()))
        .collect();
    let entries: Vec<PackEntry> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| PackEntry {
            kind: BlobKind::Data,
            id: *id,
            offset: (i % 16) as u32 * MIB as u32,
            length: MIB as u32,
            raw_len: MIB as u32,
        })
        .collect();
    let mut g = c.benchmark_group("index");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("build 1M blobs", |b| {
        b.iter_batched(
            || entries.clone(),
            |entries| {
                let mut builder = IndexBuilder::default();
                for (i, pack) in entries.chunks(16).enumerate() {
                    builder.add_pack(PackId(*blake3::hash(&i.to_le_bytes()).as_bytes()), pack);
                }
                builder.build()
            },
            BatchSize::LargeInput,
        )
    });
    let mut builder = IndexBuilder::default();
    for (i, pack) in entries.chunks(16).enumerate() {
        builder.add_pack(PackId(*blake3::hash(&i.to_le_bytes()).as_bytes()), pack);
    }
    let built = builder.build();
    println!(
        "index of {N} blobs: {} bytes, {:.1} bytes per blob",
        built.memory_bytes(),
        built.memory_bytes() as f64 / N as f64
    );
    g.bench_function("lookup 1M blobs", |b| {
        b.iter(|| {
            ids.iter()
                .filter(|id| built.contains(BlobKind::Data, id))
                .count()
        })
    });
    g.finish();
}

fn trees(c: &mut Criterion) {
    let entries: Vec<Entry> = (0..1000)
        .map(|i| {
            let mut e = Entry::new(Name::new(format!("file-{i:06}.txt")), EntryKind::File);
            e.mode = 0o644;
            e.mtime = 1_700_000_000_000_000_000 + i;
            e.size = 4096;
            e.inode = 1000 + i as u64;
            e.content = vec![ContentRef::Chunk {
                id: BlobId(*blake3::hash(&i.to_le_bytes()).as_bytes()),
                len: 4096,
            }];
            e
        })
        .collect();
    let node = Node::Leaf(entries);
    let encoded = node.encode();
    let mut g = c.benchmark_group("trees");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("encode leaf of 1000 entries", |b| {
        b.iter(|| black_box(&node).encode())
    });
    g.bench_function("decode leaf of 1000 entries", |b| {
        b.iter(|| Node::decode(black_box(&encoded)).unwrap())
    });
    g.finish();
}

fn restore_write(c: &mut Criterion) {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let chunk = random(MIB);
    let mut g = c.benchmark_group("restore");
    g.throughput(Throughput::Bytes(64 * MIB as u64));
    g.sample_size(10);
    g.bench_function("positioned writes 64 x 1 MiB", |b| {
        b.iter(|| {
            let path = dir.path().join("out");
            let f = std::fs::File::create(&path).unwrap();
            f.set_len(64 * MIB as u64).unwrap();
            for i in (0..64).rev() {
                f.write_all_at(&chunk, (i * MIB) as u64).unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(
    stages,
    chunking,
    per_chunk,
    packing,
    index,
    trees,
    restore_write
);
criterion_main!(stages);
