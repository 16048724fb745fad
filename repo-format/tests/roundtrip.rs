//! Round-trip properties (issue 8): for every type with a public encoder and decoder, decoding what
//! was encoded gives the value back; for the sealed envelopes (blobs, packs, files, key files),
//! opening what was sealed gives the plaintext back.
//!
//! The generators cover every field with varied contents: names in any script, with control
//! characters and bytes that are not UTF-8, up to [`NAME_MAX`] bytes; empty and non-empty lists;
//! integers at their extremes. Where a decoder validates (tree names and types, config ranges,
//! format versions), only values it accepts are generated. The case counts are modest so the file
//! runs in a few seconds; the runner's seed is fixed so a run can never flake.

use cairn_repo_format::{
    content_len, decode_pack_header, header_len_from_trailer, open_blob, open_file, seal_blob,
    seal_file, Base64Bytes, BlobId, BlobKind, Child, ChunkerAlgorithm, ChunkerParams, Compression,
    CompressionSetting, Config, ContentRef, DeletionPlan, Entry, EntryKind, FileKind, KdfParams,
    KeyFile, MasterSecret, Name, Node, Nonce, PackBuilder, PackId, PackTally, PolicyFile, RepoId,
    SessionFile, SessionParams, Snapshot, SnapshotId, Source, Summary, Xattr, FORMAT_VERSION,
    NAME_MAX, PACK_SIZE_RANGE,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use rand::{RngCore, SeedableRng};
use serde_json::Value;

/// A fixed seed and no failure files: every run draws the same cases.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(8),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars

/// An integer in `lo..=hi`, often at one of the ends.
fn int_in_u32(lo: u32, hi: u32) -> impl Strategy<Value = u32> {
    prop_oneof![1 => Just(lo), 1 => Just(hi), 4 => lo..=hi]
}

fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => Just(i64::MAX as u64 + 1),
        4 => any::<u64>(),
        4 => 0u64..100_000,
    ]
}

fn any_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => Just(0i64),
        1 => Just(-1i64),
        4 => any::<i64>(),
    ]
}

/// Any finite float, including zeros, subnormals and the extremes: serde_json reads them back
/// exactly only with its `float_roundtrip` feature (see `json_floats_round_trip_exactly`).
fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        1 => Just(0.0),
        1 => Just(-0.0),
        1 => Just(f64::MAX),
        1 => Just(f64::MIN_POSITIVE),
        1 => Just(5e-324),
        4 => 0.0f64..100_000.0,
        4 => any::<f64>().prop_filter("finite", |f| f.is_finite()),
    ]
}

/// A float with at most 15 significant digits and up to 6 decimals, e.g. a duration in
/// microseconds or a rule like `1.5`: its shortest decimal form has at most 15 digits, which
/// serde_json's default parser reads back exactly (one correctly rounded division by a power of
/// ten).
fn exact_f64() -> impl Strategy<Value = f64> {
    const M: i64 = 999_999_999_999_999;
    (
        prop_oneof![Just(0i64), Just(M), Just(-M), -M..=M, 0i64..100_000_000],
        0u32..=6,
    )
        .prop_map(|(m, d)| m as f64 / 10f64.powi(d as i32))
}

/// Any string: proptest's `char` favours control characters, surrogate neighbours and astral
/// planes.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        4 => vec(any::<char>(), 0..max).prop_map(String::from_iter),
        2 => "[a-z0-9._-]{1,12}",
    ]
}

fn blob_id() -> impl Strategy<Value = BlobId> {
    any::<[u8; 32]>().prop_map(BlobId)
}

fn snapshot_id() -> impl Strategy<Value = SnapshotId> {
    any::<[u8; 32]>().prop_map(SnapshotId)
}

fn pack_id() -> impl Strategy<Value = PackId> {
    any::<[u8; 32]>().prop_map(PackId)
}

/// Any JSON value, nested a few levels, numbers of every kind, floats drawn from `floats`.
fn json_value(floats: BoxedStrategy<f64>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any_i64().prop_map(Value::from),
        any_u64().prop_map(Value::from),
        floats.prop_map(Value::from),
        text(16).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            json_map(inner).prop_map(Value::Object),
        ]
    })
}

fn json_map(
    values: impl Strategy<Value = Value>,
) -> impl Strategy<Value = serde_json::Map<String, Value>> {
    btree_map(text(12), values, 0..5).prop_map(|m| m.into_iter().collect())
}

// ---------------------------------------------------------------------------------------------
// Trees

/// Bytes of a name that the decoder accepts as a path component: not empty, not `.` or `..`, no
/// `/` or NUL, at most [`NAME_MAX`] bytes. UTF-8 names and names that are not UTF-8 (which encode
/// as `{"b64": ...}`) alike.
fn component() -> impl Strategy<Value = Name> {
    let special = proptest::sample::select(vec![
        "...",
        ".a",
        "a.",
        " ",
        "\u{feff}",
        "\u{202e}rtl",
        "b64",
        "{\"b64\":\"AA==\"}",
        "\\",
        "é",
        "e\u{301}",
        "\u{10ffff}",
        "\u{7f}",
        "\n\t\r",
    ]);
    prop_oneof![
        4 => vec(any::<char>(), 1..24).prop_map(|c| String::from_iter(c).into_bytes()),
        3 => vec(any::<u8>(), 1..24),
        1 => special.prop_map(|s| s.as_bytes().to_vec()),
        // The longest names: bytes, or four-byte characters, up to exactly NAME_MAX bytes.
        1 => vec(any::<u8>(), NAME_MAX - 4..=NAME_MAX),
        1 => vec(proptest::char::range('\u{10000}', '\u{10ffff}'), NAME_MAX / 4 - 2..=NAME_MAX / 4)
            .prop_map(|c| String::from_iter(c).into_bytes()),
    ]
    .prop_map(|bytes| {
        // `/` and NUL are ASCII, so replacing them keeps UTF-8 valid.
        Name(
            bytes
                .into_iter()
                .map(|b| if b == b'/' || b == 0 { b'_' } else { b })
                .collect(),
        )
    })
    .prop_filter("a valid component", Name::is_valid_component)
}

/// Any bytes: link targets and xattr names are not path components.
fn any_name() -> impl Strategy<Value = Name> {
    prop_oneof![
        1 => Just(Name(Vec::new())),
        3 => vec(any::<char>(), 0..40).prop_map(|c| Name(String::from_iter(c).into_bytes())),
        2 => vec(any::<u8>(), 0..40).prop_map(Name),
        1 => "(/[a-z]{1,8}){1,6}".prop_map(Name::new),
    ]
}

fn xattr() -> impl Strategy<Value = Xattr> {
    (any_name(), vec(any::<u8>(), 0..64)).prop_map(|(name, value)| Xattr {
        name,
        value: Base64Bytes(value),
    })
}

fn entry_kind() -> impl Strategy<Value = EntryKind> {
    proptest::sample::select(ALL_KINDS.to_vec())
}

const ALL_KINDS: [EntryKind; 8] = [
    EntryKind::File,
    EntryKind::Dir,
    EntryKind::Symlink,
    EntryKind::Hardlink,
    EntryKind::Chardev,
    EntryKind::Blockdev,
    EntryKind::Fifo,
    EntryKind::Socket,
];

fn content_part(max_len: u64) -> impl Strategy<Value = ContentRef> {
    (
        any::<bool>(),
        blob_id(),
        prop_oneof![Just(0), Just(max_len), 0..=max_len, 0u64..(1 << 20)],
    )
        .prop_map(|(chunk, id, len)| {
            if chunk {
                ContentRef::Chunk { id, len }
            } else {
                ContentRef::List { id, len }
            }
        })
}

/// A content list whose total fits in a u64 (the decoder refuses an overflowing one): up to 15
/// parts of at most `u64::MAX / 16` bytes, or one part of any length up to `u64::MAX`.
fn content_list(min_parts: usize) -> impl Strategy<Value = Vec<ContentRef>> {
    prop_oneof![
        4 => vec(content_part(u64::MAX / 16), min_parts..16),
        1 => vec(content_part(u64::MAX), 1..=1),
    ]
}

/// An entry of `kind` that the decoder accepts: a directory has a subtree and nothing else does; a
/// link has a target; a file's and hard link's size is the total of its content, and nothing else
/// has content. Everything else is arbitrary.
fn entry_of(kind: EntryKind) -> impl Strategy<Value = Entry> {
    (
        (component(), any::<u32>(), any::<u32>(), any::<u32>()),
        (text(16), text(16), any_i64(), any_i64()),
        (any_u64(), any_u64(), any_u64(), any_u64(), any_u64()),
        (
            vec(xattr(), 0..4),
            proptest::option::of(any_name()),
            content_list(0),
            blob_id(),
        ),
    )
        .prop_map(
            move |(
                (name, mode, uid, gid),
                (user, group, mtime, ctime),
                (size, inode, device, links, rdev),
                (xattrs, target, content, subtree),
            )| {
                let is_file = matches!(kind, EntryKind::File | EntryKind::Hardlink);
                let is_link = matches!(kind, EntryKind::Symlink | EntryKind::Hardlink);
                let content = if is_file { content } else { Vec::new() };
                Entry {
                    name,
                    kind,
                    mode,
                    uid,
                    gid,
                    user,
                    group,
                    mtime,
                    ctime,
                    size: if is_file {
                        content_len(&content).expect("generated content fits")
                    } else {
                        size
                    },
                    inode,
                    device,
                    links,
                    rdev,
                    xattrs,
                    target: if is_link {
                        Some(target.unwrap_or_default())
                    } else {
                        target
                    },
                    content,
                    subtree: (kind == EntryKind::Dir).then_some(subtree),
                }
            },
        )
}

fn entry() -> impl Strategy<Value = Entry> {
    entry_kind().prop_flat_map(entry_of)
}

/// A leaf: one entry of every kind plus some more, sorted by name bytes with duplicates dropped,
/// as the decoder requires; or an empty directory.
fn leaf() -> impl Strategy<Value = Node> {
    let every_kind: Vec<_> = ALL_KINDS.iter().map(|&k| entry_of(k)).collect();
    prop_oneof![
        1 => Just(Vec::new()),
        4 => (every_kind, vec(entry(), 0..8)).prop_map(|(mut a, b)| {
            a.extend(b);
            a
        }),
    ]
    .prop_map(|mut entries| {
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries.dedup_by(|a, b| a.name == b.name);
        Node::Leaf(entries)
    })
}

/// A branch: at least one child, sorted strictly by `first`.
fn branch() -> impl Strategy<Value = Node> {
    vec((component(), blob_id(), any_u64()), 1..12).prop_map(|children| {
        let mut children: Vec<Child> = children
            .into_iter()
            .map(|(first, tree, count)| Child { first, tree, count })
            .collect();
        children.sort_by(|a, b| a.first.cmp(&b.first));
        children.dedup_by(|a, b| a.first == b.first);
        Node::Branch(children)
    })
}

fn node() -> impl Strategy<Value = Node> {
    prop_oneof![
        3 => leaf(),
        1 => branch(),
        1 => content_list(1).prop_map(Node::Content),
    ]
}

// ---------------------------------------------------------------------------------------------
// Snapshots, config, key files, sessions, plans, policies

fn timestamp() -> impl Strategy<Value = jiff::Timestamp> {
    let (lo, hi) = (
        jiff::Timestamp::MIN.as_nanosecond(),
        jiff::Timestamp::MAX.as_nanosecond(),
    );
    prop_oneof![
        1 => Just(lo),
        1 => Just(hi),
        1 => Just(0i128),
        4 => lo..=hi,
        // Around now, to the nanosecond.
        4 => 1_700_000_000_000_000_000i128..2_000_000_000_000_000_000,
    ]
    .prop_map(|ns| jiff::Timestamp::from_nanosecond(ns).expect("in range"))
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        Just(Source::Files),
        (text(24), proptest::option::of(vec(text(12), 0..4)))
            .prop_map(|(filename, command)| Source::Stream { filename, command }),
        // `type` is the tag the details are flattened next to, so no detail can be called that.
        json_map(json_value(exact_f64().boxed())).prop_map(|mut details| {
            details.remove("type");
            Source::Kubernetes { details }
        }),
    ]
}

fn summary() -> impl Strategy<Value = Summary> {
    (
        (any_u64(), any_u64(), any_u64(), any_u64(), any_u64()),
        (any_u64(), any_u64(), any_u64(), any_u64(), any_u64()),
        (any_u64(), exact_f64()),
    )
        .prop_map(
            |(
                (files_new, files_changed, files_unmodified, dirs, others),
                (bytes_read, bytes_total, bytes_added, data_blobs_added, tree_blobs_added),
                (errors, duration_secs),
            )| Summary {
                files_new,
                files_changed,
                files_unmodified,
                dirs,
                others,
                bytes_read,
                bytes_total,
                bytes_added,
                data_blobs_added,
                tree_blobs_added,
                errors,
                duration_secs,
            },
        )
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (
        (timestamp(), text(24), text(16), vec(text(12), 0..4)),
        (vec(text(24), 0..4), vec(text(12), 0..4)),
        (
            proptest::option::of(snapshot_id()),
            proptest::option::of(snapshot_id()),
            blob_id(),
        ),
        (source(), summary(), text(24)),
    )
        .prop_map(
            |(
                (time, host, username, tags),
                (paths, excludes),
                (parent, original, tree),
                (source, summary, program_version),
            )| Snapshot {
                version: FORMAT_VERSION,
                time,
                host,
                username,
                tags,
                paths,
                excludes,
                parent,
                original,
                tree,
                source,
                summary,
                program_version,
            },
        )
}

/// Chunker sizes within FastCDC's limits, min <= avg <= max, often at the limits.
fn chunker_params() -> impl Strategy<Value = ChunkerParams> {
    int_in_u32(64, 1 << 20)
        .prop_flat_map(|min| (Just(min), int_in_u32(min.max(256), 4 << 20)))
        .prop_flat_map(|(min, avg)| (Just(min), Just(avg), int_in_u32(avg.max(1024), 16 << 20)))
        .prop_flat_map(|(min_size, avg_size, max_size)| {
            any_u64().prop_map(move |seed| ChunkerParams {
                algorithm: ChunkerAlgorithm::FastCdc2020,
                min_size,
                avg_size,
                max_size,
                seed,
            })
        })
}

/// Session timing the config accepts: a refresh of at least a second and an expiry of at least
/// three refreshes.
fn session_params() -> impl Strategy<Value = SessionParams> {
    int_in_u32(1, u32::MAX / 3).prop_flat_map(|refresh_secs| {
        int_in_u32(3 * refresh_secs, u32::MAX).prop_map(move |expiry_secs| SessionParams {
            refresh_secs,
            expiry_secs,
        })
    })
}

fn repo_config() -> impl Strategy<Value = Config> {
    (
        any::<[u8; 32]>(),
        chunker_params(),
        int_in_u32(PACK_SIZE_RANGE.0, PACK_SIZE_RANGE.1),
        prop_oneof![
            Just(CompressionSetting::None),
            (1i32..=19).prop_map(|level| CompressionSetting::Zstd { level }),
        ],
        session_params(),
    )
        .prop_map(|(id, chunker, pack_size, compression, sessions)| Config {
            version: FORMAT_VERSION,
            id: RepoId(id),
            chunker,
            pack_size,
            compression,
            sessions,
        })
}

fn kdf_params() -> impl Strategy<Value = KdfParams> {
    (
        prop_oneof![Just("argon2id".to_string()), text(12)],
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        text(48),
    )
        .prop_map(
            |(algorithm, memory_kib, iterations, parallelism, salt)| KdfParams {
                algorithm,
                memory_kib,
                iterations,
                parallelism,
                salt,
            },
        )
}

fn key_file() -> impl Strategy<Value = KeyFile> {
    (text(32), text(24), text(16), kdf_params(), text(80)).prop_map(
        |(created, host, username, kdf, master_key)| KeyFile {
            version: FORMAT_VERSION,
            created,
            host,
            username,
            kdf,
            master_key,
        },
    )
}

fn session_file() -> impl Strategy<Value = SessionFile> {
    (
        text(12),
        text(24),
        any::<u32>(),
        proptest::option::of(vec("[0-9a-f]{64}", 0..4)),
    )
        .prop_map(|(kind, host, pid, seen_plans)| SessionFile {
            version: FORMAT_VERSION,
            kind,
            host,
            pid,
            seen_plans,
        })
}

fn deletion_plan() -> impl Strategy<Value = DeletionPlan> {
    (vec(pack_id(), 0..8), vec(snapshot_id(), 0..8), text(24)).prop_map(
        |(packs, snapshots, host)| DeletionPlan {
            version: FORMAT_VERSION,
            packs,
            snapshots,
            host,
        },
    )
}

fn policy_file() -> impl Strategy<Value = PolicyFile> {
    (
        json_map(json_value(exact_f64().boxed())),
        json_map(json_value(exact_f64().boxed())),
    )
        .prop_map(|(group, keep)| PolicyFile {
            version: FORMAT_VERSION,
            group,
            keep,
        })
}

// ---------------------------------------------------------------------------------------------
// Blobs and packs

/// Plaintext of `len` bytes (from a seed, so a failure shrinks on the length): random bytes that do
/// not compress, a short pattern repeated that does, or zeros.
fn plaintext(max: usize) -> impl Strategy<Value = Vec<u8>> {
    (0..=max, any::<u64>(), 0u8..3).prop_map(|(len, seed, shape)| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut out = vec![0u8; len];
        match shape {
            0 => rng.fill_bytes(&mut out),
            1 => {
                let mut pattern = vec![0u8; 1 + (seed % 97) as usize];
                rng.fill_bytes(&mut pattern);
                for (i, b) in out.iter_mut().enumerate() {
                    *b = pattern[i % pattern.len()];
                }
            }
            _ => {}
        }
        out
    })
}

/// Off, or zstd: mostly the fast levels, now and then any level up to 19.
fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        2 => Just(Compression::Off),
        3 => (1i32..=3).prop_map(Compression::Zstd),
        1 => (1i32..=19).prop_map(Compression::Zstd),
    ]
}

fn blob_kind() -> impl Strategy<Value = BlobKind> {
    prop_oneof![Just(BlobKind::Data), Just(BlobKind::Tree)]
}

fn file_kind() -> impl Strategy<Value = FileKind> {
    proptest::sample::select(vec![
        FileKind::Config,
        FileKind::Index,
        FileKind::Snapshot,
        FileKind::Session,
        FileKind::DeletionPlan,
        FileKind::Policy,
    ])
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn tree_nodes_round_trip(node in node()) {
        let bytes = node.encode();
        prop_assert_eq!(Node::decode(&bytes).unwrap(), node.clone());
        // Deterministic: equal nodes give equal bytes (hence equal blob ids).
        prop_assert_eq!(node.clone().encode(), bytes);
    }

    #[test]
    fn snapshots_round_trip(snap in snapshot()) {
        prop_assert_eq!(Snapshot::decode(&snap.encode()).unwrap(), snap);
    }

    #[test]
    fn configs_round_trip(config in repo_config()) {
        prop_assert_eq!(Config::decode(&config.encode()).unwrap(), config);
    }

    #[test]
    fn key_files_round_trip(key in key_file()) {
        prop_assert_eq!(KeyFile::decode(&key.encode()).unwrap(), key);
    }

    #[test]
    fn session_files_round_trip(session in session_file()) {
        prop_assert_eq!(SessionFile::decode(&session.encode()).unwrap(), session);
    }

    #[test]
    fn deletion_plans_round_trip(plan in deletion_plan()) {
        prop_assert_eq!(DeletionPlan::decode(&plan.encode()).unwrap(), plan);
    }

    #[test]
    fn policy_files_round_trip(policy in policy_file()) {
        prop_assert_eq!(PolicyFile::decode(&policy.encode()).unwrap(), policy);
    }

    #[test]
    fn sealed_blobs_open_to_their_plaintext(
        secret in any::<[u8; 32]>(),
        nonce in any::<Nonce>(),
        kind in blob_kind(),
        compression in compression(),
        data in plaintext(64 << 10),
    ) {
        let keys = MasterSecret::from_bytes(secret).keys();
        let id = keys.blob_id(&data);
        let sealed = seal_blob(&keys, kind, id, &data, compression, &nonce);
        prop_assert_eq!((sealed.kind, sealed.id, sealed.raw_len as usize), (kind, id, data.len()));
        let opened = open_blob(&keys, kind, &id, sealed.raw_len, &sealed.bytes).unwrap();
        prop_assert!(opened == data, "{} bytes came back as {}", data.len(), opened.len());
    }

    #[test]
    fn sealed_files_open_to_their_payload(
        secret in any::<[u8; 32]>(),
        nonce in any::<Nonce>(),
        kind in file_kind(),
        compression in compression(),
        payload in plaintext(16 << 10),
    ) {
        let keys = MasterSecret::from_bytes(secret).keys();
        let sealed = seal_file(&keys, kind, &payload, compression, &nonce);
        prop_assert!(open_file(&keys, kind, &sealed).unwrap() == payload);
    }

    #[test]
    fn packs_list_their_blobs_and_hash_to_their_id(
        secret in any::<[u8; 32]>(),
        header_nonce in any::<Nonce>(),
        blobs in vec((blob_kind(), compression(), plaintext(8 << 10), any::<Nonce>()), 1..10),
    ) {
        let keys = MasterSecret::from_bytes(secret).keys();
        let sealed: Vec<_> = blobs
            .iter()
            .map(|(kind, compression, data, nonce)| {
                seal_blob(&keys, *kind, keys.blob_id(data), data, *compression, nonce)
            })
            .collect();
        let mut tally = PackTally::default();
        let mut builder = PackBuilder::default();
        for s in &sealed {
            tally.add(s);
            builder.add(s);
        }
        prop_assert_eq!(tally.len(), builder.len());
        prop_assert_eq!(tally.blob_count(), sealed.len());
        let tail = tally.finish(&keys, &header_nonce);
        let pack = builder.finish(&keys, &header_nonce);
        prop_assert_eq!(pack.id, tail.id);
        prop_assert_eq!(&pack.entries, &tail.entries);
        prop_assert_eq!(PackId::of_bytes(&pack.bytes), tail.id);
        prop_assert!(pack.bytes.ends_with(&tail.bytes));

        let len = pack.bytes.len();
        let header_len =
            header_len_from_trailer(&pack.bytes[len - 4..], len as u64).unwrap() as usize;
        prop_assert_eq!(header_len + 4, tail.bytes.len());
        let header = &pack.bytes[len - 4 - header_len..len - 4];
        let entries = decode_pack_header(&keys, header, len as u64).unwrap();
        prop_assert_eq!(&entries, &tail.entries);
        prop_assert_eq!(entries.len(), blobs.len());
        for ((e, s), (kind, _, data, _)) in entries.iter().zip(&sealed).zip(&blobs) {
            prop_assert_eq!((e.kind, e.id, e.raw_len as usize), (*kind, s.id, data.len()));
            let stored = &pack.bytes[e.offset as usize..(e.offset + e.length) as usize];
            prop_assert_eq!(stored, &s.bytes[..]);
            prop_assert!(open_blob(&keys, e.kind, &e.id, e.raw_len, stored).unwrap() == *data);
        }
    }
}

proptest! {
    // Each case derives a key with argon2id, at the smallest cost argon2 allows.
    #![proptest_config(config(16))]

    #[test]
    fn key_files_unwrap_to_their_secret(
        secret in any::<[u8; 32]>(),
        password in vec(any::<u8>(), 0..64),
        salt in any::<[u8; 32]>(),
        nonce in any::<Nonce>(),
        (created, host, username) in (text(32), text(24), text(16)),
    ) {
        let kdf = KdfParams::with_cost(salt, 8, 1, 1);
        let key = KeyFile::create(
            &MasterSecret::from_bytes(secret),
            &password,
            kdf,
            &nonce,
            created,
            host,
            username,
        )
        .unwrap();
        let decoded = KeyFile::decode(&key.encode()).unwrap();
        prop_assert_eq!(&decoded, &key);
        let unwrapped = decoded.unwrap(&password).unwrap();
        // MasterSecret hides its bytes; equal secrets give equal keys, hence equal blob ids.
        let probe = b"probe";
        prop_assert_eq!(
            unwrapped.keys().blob_id(probe),
            MasterSecret::from_bytes(secret).keys().blob_id(probe)
        );
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Floats of every magnitude in the places a payload holds one: a snapshot's duration, a
    /// Kubernetes source's details and a policy's rules.
    #[test]
    fn json_floats_round_trip_exactly(
        duration in finite_f64(),
        details in json_map(json_value(finite_f64().boxed())),
        keep in json_map(json_value(finite_f64().boxed())),
    ) {
        let mut snap = Snapshot::decode(MINIMAL_SNAPSHOT).unwrap();
        snap.summary.duration_secs = duration;
        snap.source = Source::Kubernetes { details };
        if let Source::Kubernetes { details } = &mut snap.source {
            details.remove("type");
        }
        prop_assert_eq!(Snapshot::decode(&snap.encode()).unwrap(), snap);
        let policy = PolicyFile { version: FORMAT_VERSION, group: Default::default(), keep };
        prop_assert_eq!(PolicyFile::decode(&policy.encode()).unwrap(), policy);
    }
}

const MINIMAL_SNAPSHOT: &[u8] = br#"{"version":1,"time":"2026-11-21T10:00:00Z","host":"h","tree":"0000000000000000000000000000000000000000000000000000000000000000","source":{"type":"files"}}"#;

/// The config decoder once computed `3 * refresh_secs` in u32: past `u32::MAX / 3` that overflowed,
/// a panic in a debug build and a wrapped bound in a release build, where refresh 1_500_000_000 s
/// with expiry 205_032_704 s was accepted although the expiry is shorter than one refresh.
#[test]
fn config_decode_of_a_huge_refresh_interval_is_an_error_not_a_panic() {
    for (refresh_secs, expiry_secs) in [(2_000_000_000, u32::MAX), (1_500_000_000, 205_032_704)] {
        let config = Config {
            version: FORMAT_VERSION,
            id: RepoId([1; 32]),
            chunker: ChunkerParams::with_seed(1),
            pack_size: 16 << 20,
            compression: CompressionSetting::None,
            sessions: SessionParams {
                refresh_secs,
                expiry_secs,
            },
        };
        let decoded = std::panic::catch_unwind(|| Config::decode(&config.encode()));
        assert!(
            matches!(decoded, Ok(Err(_))),
            "refresh {refresh_secs} s, expiry {expiry_secs} s: {decoded:?}"
        );
    }
}
