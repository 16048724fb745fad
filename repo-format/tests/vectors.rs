//! Test vectors: a tiny repository built from fixed inputs, checked in under `spec/vectors/`.
//!
//! `generate` builds every file deterministically (fixed master secret, nonces, salt, times) and
//! the first test asserts that each equals the checked-in bytes. The second test decodes the
//! checked-in files from disk on its own, the way a reader would, and asserts the plaintexts. Run
//! with `CAIRN_UPDATE_VECTORS=1` to rewrite the files after a deliberate format change; see
//! `spec/vectors/README.md` for the inputs.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use cairn_repo_format::{
    decode_pack_header, header_len_from_trailer, open_blob, open_file, seal_blob, seal_file,
    BlobId, BlobKind, ChunkerAlgorithm, ChunkerParams, Compression, CompressionSetting, Config,
    ContentRef, Entry, EntryKind, FileKind, FormatError, IndexFile, IndexId, IndexPack, KdfParams,
    KeyFile, KeyId, Keys, MasterSecret, Name, Node, Nonce, PackBuilder, PackEntry, PackId, RepoId,
    SessionParams, Snapshot, SnapshotId, Source, Summary, Xattr, FORMAT_VERSION, SEAL_OVERHEAD,
};

const PASSWORD: &[u8] = b"cairn test vectors";
const CREATED: &str = "2026-11-01T00:00:00Z";
const SNAPSHOT_TIME: &str = "2026-11-01T12:00:00Z";
const HOST: &str = "vectors-host";
const USER: &str = "vectors-user";
const CHUNKER_SEED: u64 = 0x0123_4567_89ab_cdef;
const ZSTD_LEVEL: i32 = 3;
const MTIME: i64 = 1_793_491_200_000_000_000; // 2026-11-01T00:00:00Z in nanoseconds
const CTIME: i64 = 1_793_491_200_123_456_789;

/// Known answers that do not depend on zstd or on nonces: keyed BLAKE3 of the data blob plaintexts
/// under the blob id key derived from the vectors' master secret (computed independently of this
/// crate, see spec/vectors/README.md).
const BLOB_ID_A: &str = "babdbac3e3576f3574fcf1d92f330e7f05e3e8e8b37d98cf96ee27634617c17b";
const BLOB_ID_B: &str = "4161f5f9475bfc250fced75a522a3419af8e431237943ea68f11c388e11c86b9";
const BLOB_ID_C: &str = "a51ea949b97296c7ebca6caf0c2513206afa3627778036e07fbd5a955bdc624c";

/// The master secret: bytes 0x00 to 0x1f.
fn master_secret() -> MasterSecret {
    MasterSecret::from_bytes(std::array::from_fn(|i| i as u8))
}

/// The n-th nonce: 24 bytes, each equal to n.
fn nonce(n: u8) -> Nonce {
    [n; 24]
}

/// Nonce numbers, one per seal operation, in the order the repository is built.
mod nonces {
    pub const KEY_FILE: u8 = 1;
    pub const CONFIG: u8 = 2;
    pub const DATA_BLOBS: [u8; 3] = [3, 4, 5];
    pub const DATA_PACK_HEADER: u8 = 6;
    pub const TREE_SUB: u8 = 7;
    pub const TREE_ROOT: u8 = 8;
    pub const TREE_PACK_HEADER: u8 = 9;
    pub const INDEX: u8 = 10;
    pub const SNAPSHOT: u8 = 11;
}

/// The salt of the key file: bytes 0xa0 to 0xbf.
fn salt() -> [u8; 32] {
    std::array::from_fn(|i| 0xa0 + i as u8)
}

/// The repository id: bytes 0x40 to 0x5f.
fn repo_id() -> RepoId {
    RepoId(std::array::from_fn(|i| 0x40 + i as u8))
}

/// Data blob A: compressible, stored zstd-compressed.
fn data_a() -> Vec<u8> {
    b"cairn test vector: this line repeats.\n".repeat(64)
}

/// Data blob B: 256 bytes that do not compress (BLAKE3 output stream), stored raw.
fn data_b() -> Vec<u8> {
    let mut out = vec![0u8; 256];
    blake3::Hasher::new()
        .update(b"cairn test vector: incompressible")
        .finalize_xof()
        .fill(&mut out);
    out
}

/// Data blob C: short text, stored raw because a zstd frame would not be shorter.
fn data_c() -> Vec<u8> {
    b"hello, cairn\n".to_vec()
}

fn data_blobs() -> [Vec<u8>; 3] {
    [data_a(), data_b(), data_c()]
}

fn config() -> Config {
    Config {
        version: FORMAT_VERSION,
        id: repo_id(),
        chunker: ChunkerParams::with_seed(CHUNKER_SEED),
        pack_size: 16 << 20,
        compression: CompressionSetting::Zstd { level: ZSTD_LEVEL },
        sessions: SessionParams::default(),
    }
}

fn entry(name: &[u8], kind: EntryKind) -> Entry {
    let mut e = Entry::new(Name::new(name), kind);
    e.mode = 0o644;
    e.uid = 1000;
    e.gid = 1000;
    e.user = USER.into();
    e.group = USER.into();
    e.mtime = MTIME;
    e.ctime = CTIME;
    e
}

/// The subdirectory `sub`: an empty file and a fifo whose name is not UTF-8.
fn sub_node() -> Node {
    let empty = entry(b"empty", EntryKind::File);
    let mut fifo = entry(b"n\xff", EntryKind::Fifo);
    fifo.mode = 0o600;
    Node::Leaf(vec![empty, fifo])
}

/// The root directory: `hello.txt` (blobs A, B, C, with an xattr), `link` -> `hello.txt`, `sub/`.
fn root_node(keys: &Keys, sub_id: BlobId) -> Node {
    let mut file = entry(b"hello.txt", EntryKind::File);
    file.content = data_blobs()
        .iter()
        .map(|d| ContentRef::Chunk {
            id: keys.blob_id(d),
            len: d.len() as u64,
        })
        .collect();
    file.size = file.content.iter().map(|c| c.len()).sum();
    file.inode = 42;
    file.device = 2049;
    file.links = 1;
    file.xattrs = vec![Xattr {
        name: Name::new("user.comment"),
        value: cairn_repo_format::Base64Bytes(b"test vector".to_vec()),
    }];
    let mut link = entry(b"link", EntryKind::Symlink);
    link.mode = 0o777;
    link.target = Some(Name::new("hello.txt"));
    let mut dir = entry(b"sub", EntryKind::Dir);
    dir.mode = 0o755;
    dir.subtree = Some(sub_id);
    Node::Leaf(vec![file, link, dir])
}

fn snapshot(root: BlobId) -> Snapshot {
    Snapshot {
        version: FORMAT_VERSION,
        time: SNAPSHOT_TIME.parse().unwrap(),
        host: HOST.into(),
        username: USER.into(),
        tags: vec!["vectors".into()],
        paths: vec!["/vectors".into()],
        excludes: vec![],
        parent: None,
        original: None,
        tree: root,
        source: Source::Files,
        summary: Summary {
            files_new: 2,
            dirs: 2,
            others: 2,
            bytes_read: data_blobs().iter().map(|d| d.len() as u64).sum(),
            bytes_total: data_blobs().iter().map(|d| d.len() as u64).sum(),
            data_blobs_added: 3,
            tree_blobs_added: 2,
            duration_secs: 1.5,
            ..Summary::default()
        },
        program_version: "cairn test-vectors".into(),
    }
}

/// The repository as (path relative to `spec/vectors/repo`, bytes), plus readable plaintexts as
/// (path relative to `spec/vectors/plaintext`, bytes).
struct Generated {
    repo: BTreeMap<String, Vec<u8>>,
    plaintext: BTreeMap<String, Vec<u8>>,
}

fn generate() -> Generated {
    let secret = master_secret();
    let keys = secret.keys();
    let zstd = Compression::Zstd(ZSTD_LEVEL);
    let mut repo = BTreeMap::new();
    let mut plaintext = BTreeMap::new();

    let key_file = KeyFile::create(
        &secret,
        PASSWORD,
        KdfParams::with_cost(salt(), 8, 1, 1),
        &nonce(nonces::KEY_FILE),
        CREATED.into(),
        HOST.into(),
        USER.into(),
    )
    .unwrap()
    .encode();
    repo.insert(
        format!("keys/{}", KeyId::of_bytes(&key_file)),
        key_file.clone(),
    );

    let config_payload = config().encode();
    repo.insert(
        "config".into(),
        seal_file(
            &keys,
            FileKind::Config,
            &config_payload,
            zstd,
            &nonce(nonces::CONFIG),
        ),
    );
    plaintext.insert("envelope-config.bin".into(), zstd.encode(&config_payload));
    plaintext.insert("config.json".into(), config_payload);

    let mut data_pack = PackBuilder::default();
    for (i, (data, n)) in data_blobs().iter().zip(nonces::DATA_BLOBS).enumerate() {
        let id = keys.blob_id(data);
        data_pack.add(&seal_blob(&keys, BlobKind::Data, id, data, zstd, &nonce(n)));
        let name = ["a", "b", "c"][i];
        plaintext.insert(format!("envelope-data-{name}.bin"), zstd.encode(data));
        plaintext.insert(format!("data-{name}.bin"), data.clone());
    }
    let data_pack = data_pack.finish(&keys, &nonce(nonces::DATA_PACK_HEADER));

    let sub = sub_node().encode();
    let sub_id = keys.blob_id(&sub);
    let root = root_node(&keys, sub_id).encode();
    let root_id = keys.blob_id(&root);
    let mut tree_pack = PackBuilder::default();
    tree_pack.add(&seal_blob(
        &keys,
        BlobKind::Tree,
        sub_id,
        &sub,
        zstd,
        &nonce(nonces::TREE_SUB),
    ));
    tree_pack.add(&seal_blob(
        &keys,
        BlobKind::Tree,
        root_id,
        &root,
        zstd,
        &nonce(nonces::TREE_ROOT),
    ));
    let tree_pack = tree_pack.finish(&keys, &nonce(nonces::TREE_PACK_HEADER));
    plaintext.insert("envelope-tree-root.bin".into(), zstd.encode(&root));
    plaintext.insert("tree-sub.json".into(), sub);
    plaintext.insert("tree-root.json".into(), root);
    plaintext.insert(
        "pack-header-data.bin".into(),
        header_plaintext(&data_pack.entries),
    );
    plaintext.insert(
        "pack-header-tree.bin".into(),
        header_plaintext(&tree_pack.entries),
    );

    let index = IndexFile {
        supersedes: vec![],
        packs: [&data_pack, &tree_pack]
            .iter()
            .map(|p| IndexPack {
                id: p.id,
                blobs: p.entries.clone(),
            })
            .collect(),
    }
    .encode();
    let index_file = seal_file(&keys, FileKind::Index, &index, zstd, &nonce(nonces::INDEX));
    repo.insert(
        format!("index/{}", IndexId::of_bytes(&index_file)),
        index_file,
    );
    plaintext.insert("envelope-index.bin".into(), zstd.encode(&index));
    plaintext.insert("index.bin".into(), index);

    for pack in [data_pack, tree_pack] {
        let hex = pack.id.to_hex();
        repo.insert(format!("data/{}/{hex}", &hex[..2]), pack.bytes);
    }

    let snap = snapshot(root_id).encode();
    let snap_file = seal_file(
        &keys,
        FileKind::Snapshot,
        &snap,
        zstd,
        &nonce(nonces::SNAPSHOT),
    );
    repo.insert(
        format!("snapshots/{}", SnapshotId::of_bytes(&snap_file)),
        snap_file,
    );
    plaintext.insert("envelope-snapshot.bin".into(), zstd.encode(&snap));
    plaintext.insert("snapshot.json".into(), snap);

    Generated { repo, plaintext }
}

/// A pack header's plaintext, written here from the byte layout of spec/blobs-and-packs.md rather
/// than by the crate's encoder, so the decode test checks the crate against the spec.
fn header_plaintext(entries: &[PackEntry]) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        out.push(e.kind.to_byte());
        out.extend_from_slice(e.id.as_bytes());
        for v in [e.offset, e.length, e.raw_len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

/// Every file under `dir`, by path relative to it with `/` separators.
fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap();
                let rel: Vec<_> = rel.iter().map(|c| c.to_str().unwrap()).collect();
                out.insert(rel.join("/"), fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn write_tree(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap();
    }
    for (rel, bytes) in files {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
    }
}

fn assert_same(what: &str, expected: &BTreeMap<String, Vec<u8>>, dir: &Path) {
    let found = read_tree(dir);
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&found),
        names(expected),
        "{what}: the checked-in files differ from the generated ones \
         (after a deliberate format change, run with CAIRN_UPDATE_VECTORS=1)"
    );
    for (rel, bytes) in expected {
        assert!(
            found[rel] == *bytes,
            "{what}: {rel} differs from the generated bytes \
             (after a deliberate format change, run with CAIRN_UPDATE_VECTORS=1)"
        );
    }
}

/// With `CAIRN_UPDATE_VECTORS=1`, rewrites the checked-in files, once, before either test reads
/// them (the tests run in parallel).
fn update_if_asked() {
    static UPDATE: std::sync::Once = std::sync::Once::new();
    UPDATE.call_once(|| {
        if std::env::var_os("CAIRN_UPDATE_VECTORS").is_some_and(|v| v == "1") {
            let generated = generate();
            let dir = vectors_dir();
            write_tree(&dir.join("repo"), &generated.repo);
            write_tree(&dir.join("plaintext"), &generated.plaintext);
            eprintln!("wrote test vectors to {}", dir.display());
        }
    });
}

#[test]
fn generated_repository_equals_checked_in_bytes() {
    update_if_asked();
    let generated = generate();
    let dir = vectors_dir();
    assert_same("repo", &generated.repo, &dir.join("repo"));
    assert_same("plaintext", &generated.plaintext, &dir.join("plaintext"));
}

/// The only file in `dir`, checked to be named by the BLAKE3 of its bytes.
fn single_named_file(dir: &Path) -> (String, Vec<u8>) {
    let mut files = read_tree(dir).into_iter();
    let (name, bytes) = files.next().expect("one file");
    assert!(
        files.next().is_none(),
        "{}: more than one file",
        dir.display()
    );
    assert_eq!(
        name,
        blake3::hash(&bytes).to_hex().as_str(),
        "name is not BLAKE3 of the bytes"
    );
    (name, bytes)
}

fn file_by_name<'a>(node: &'a Node, name: &[u8]) -> &'a Entry {
    let Node::Leaf(entries) = node else {
        panic!("not a leaf: {node:?}")
    };
    let i = entries
        .binary_search_by(|e| e.name.as_bytes().cmp(name))
        .unwrap_or_else(|_| panic!("{name:?} not found"));
    &entries[i]
}

#[test]
fn checked_in_repository_decodes() {
    update_if_asked();
    let repo = vectors_dir().join("repo");
    let plain = vectors_dir().join("plaintext");

    // Key file: unwrap with the password; a wrong password is refused as such.
    let (_, key_bytes) = single_named_file(&repo.join("keys"));
    let key_file = KeyFile::decode(&key_bytes).unwrap();
    assert_eq!(key_file.kdf, KdfParams::with_cost(salt(), 8, 1, 1));
    assert_eq!(
        (key_file.host.as_str(), key_file.created.as_str()),
        (HOST, CREATED)
    );
    assert!(matches!(
        key_file.unwrap(b"not the password"),
        Err(FormatError::WrongPassword)
    ));
    let keys = key_file.unwrap(PASSWORD).unwrap().keys();

    // Known answers for the blob id key.
    for (data, expected) in data_blobs().iter().zip([BLOB_ID_A, BLOB_ID_B, BLOB_ID_C]) {
        assert_eq!(keys.blob_id(data).to_hex(), expected);
    }

    // Config.
    let envelope = |aad: &[u8], stored: &[u8], name: &str| {
        let opened = keys.open("vector", aad, stored).unwrap();
        assert_eq!(opened, fs::read(plain.join(name)).unwrap(), "{name}");
        opened
    };
    let opened = envelope(
        b"cairn/1/file/config",
        &fs::read(repo.join("config")).unwrap(),
        "envelope-config.bin",
    );
    assert_eq!(opened[0], 1, "the config is stored zstd-compressed");
    let config_payload = open_file(
        &keys,
        FileKind::Config,
        &fs::read(repo.join("config")).unwrap(),
    )
    .unwrap();
    assert_eq!(config_payload, fs::read(plain.join("config.json")).unwrap());
    let cfg = Config::decode(&config_payload).unwrap();
    assert_eq!(cfg.id, repo_id());
    assert_eq!(cfg.chunker.algorithm, ChunkerAlgorithm::FastCdc2020);
    assert_eq!(
        (
            cfg.chunker.min_size,
            cfg.chunker.avg_size,
            cfg.chunker.max_size,
            cfg.chunker.seed
        ),
        (64 << 10, 256 << 10, 1 << 20, CHUNKER_SEED)
    );
    assert_eq!(cfg.compression, CompressionSetting::Zstd { level: 3 });

    // Index: two packs, one of data blobs and one of tree blobs.
    let (_, index_bytes) = single_named_file(&repo.join("index"));
    envelope(b"cairn/1/file/index", &index_bytes, "envelope-index.bin");
    let index_payload = open_file(&keys, FileKind::Index, &index_bytes).unwrap();
    assert_eq!(index_payload, fs::read(plain.join("index.bin")).unwrap());
    let index = IndexFile::decode(&index_payload).unwrap();
    assert!(index.supersedes.is_empty());
    assert_eq!(index.packs.len(), 2);

    // Every pack: where the layout says, named by its hash, header equal to the index entries;
    // every blob read with a ranged slice of the pack.
    let mut blobs: BTreeMap<BlobId, (BlobKind, Vec<u8>, PackEntry)> = BTreeMap::new();
    let mut envelopes: BTreeMap<BlobId, Vec<u8>> = BTreeMap::new();
    for pack in &index.packs {
        let hex = pack.id.to_hex();
        let bytes = fs::read(repo.join("data").join(&hex[..2]).join(&hex)).unwrap();
        assert_eq!(PackId::of_bytes(&bytes), pack.id);
        let len = bytes.len() as u64;
        let header_len = header_len_from_trailer(&bytes[bytes.len() - 4..], len).unwrap() as usize;
        let header = &bytes[bytes.len() - 4 - header_len..bytes.len() - 4];
        assert_eq!(header_len, SEAL_OVERHEAD + 5 + 45 * pack.blobs.len());
        assert_eq!(decode_pack_header(&keys, header, len).unwrap(), pack.blobs);
        let kind_name = if pack.blobs[0].kind == BlobKind::Data {
            "data"
        } else {
            "tree"
        };
        envelope(
            b"cairn/1/pack-header",
            header,
            &format!("pack-header-{kind_name}.bin"),
        );
        let kinds: Vec<_> = pack.blobs.iter().map(|e| e.kind).collect();
        assert!(kinds.windows(2).all(|w| w[0] == w[1]), "a pack mixes kinds");
        let mut expected_offset = 0;
        for e in &pack.blobs {
            assert_eq!(e.offset, expected_offset, "blobs are back to back");
            expected_offset += e.length;
            let stored = &bytes[e.offset as usize..(e.offset + e.length) as usize];
            let plain = open_blob(&keys, e.kind, &e.id, e.raw_len, stored).unwrap();
            let mut aad = b"cairn/1/blob".to_vec();
            aad.push(e.kind.to_byte());
            aad.extend_from_slice(e.id.as_bytes());
            envelopes.insert(e.id, keys.open("blob", &aad, stored).unwrap());
            blobs.insert(e.id, (e.kind, plain, *e));
        }
    }
    assert_eq!(fs::read_dir(repo.join("data")).unwrap().count(), 2);

    // Data blobs: A compressed, B and C stored raw (a raw blob is its length plus 41 bytes).
    for (i, data) in data_blobs().iter().enumerate() {
        let (kind, blob, e) = &blobs[&keys.blob_id(data)];
        assert_eq!((kind, blob), (&BlobKind::Data, data));
        let raw = e.length as usize == data.len() + SEAL_OVERHEAD + 1;
        assert_eq!(raw, i != 0, "blob {i}: compressed or not as expected");
        let name = ["a", "b", "c"][i];
        assert_eq!(
            *blob,
            fs::read(plain.join(format!("data-{name}.bin"))).unwrap()
        );
        let opened = &envelopes[&keys.blob_id(data)];
        assert_eq!(
            *opened,
            fs::read(plain.join(format!("envelope-data-{name}.bin"))).unwrap()
        );
        assert_eq!(opened[0], if raw { 0 } else { 1 }, "compression byte");
    }

    // Snapshot, and the trees under it.
    let (_, snap_bytes) = single_named_file(&repo.join("snapshots"));
    envelope(
        b"cairn/1/file/snapshot",
        &snap_bytes,
        "envelope-snapshot.bin",
    );
    let snap_payload = open_file(&keys, FileKind::Snapshot, &snap_bytes).unwrap();
    assert_eq!(snap_payload, fs::read(plain.join("snapshot.json")).unwrap());
    let snap = Snapshot::decode(&snap_payload).unwrap();
    assert_eq!(snap.time, SNAPSHOT_TIME.parse().unwrap());
    assert_eq!((snap.host.as_str(), snap.username.as_str()), (HOST, USER));
    assert_eq!(snap.tags, ["vectors"]);
    assert_eq!(snap.source, Source::Files);
    assert_eq!(snap.summary.duration_secs, 1.5);

    let (kind, root_bytes, _) = &blobs[&snap.tree];
    assert_eq!(
        envelopes[&snap.tree],
        fs::read(plain.join("envelope-tree-root.bin")).unwrap()
    );
    assert_eq!(*kind, BlobKind::Tree);
    assert_eq!(*root_bytes, fs::read(plain.join("tree-root.json")).unwrap());
    let root = Node::decode(root_bytes).unwrap();
    let Node::Leaf(entries) = &root else {
        panic!("root is not a leaf")
    };
    let names: Vec<_> = entries.iter().map(|e| e.name.as_bytes()).collect();
    assert_eq!(names, [&b"hello.txt"[..], b"link", b"sub"]);

    let file = file_by_name(&root, b"hello.txt");
    assert_eq!(file.kind, EntryKind::File);
    let mut content = Vec::new();
    for part in &file.content {
        let ContentRef::Chunk { id, len } = part else {
            panic!("unexpected list part")
        };
        let (kind, data, e) = &blobs[id];
        assert_eq!((*kind, *len), (BlobKind::Data, e.raw_len as u64));
        content.extend_from_slice(data);
    }
    assert_eq!(content, data_blobs().concat());
    assert_eq!(file.size, content.len() as u64);
    assert_eq!(file.xattrs[0].value.0, b"test vector");

    let link = file_by_name(&root, b"link");
    assert_eq!(link.kind, EntryKind::Symlink);
    assert_eq!(link.target.as_ref().unwrap().as_bytes(), b"hello.txt");

    let dir = file_by_name(&root, b"sub");
    assert_eq!(dir.kind, EntryKind::Dir);
    let (kind, sub_bytes, _) = &blobs[&dir.subtree.unwrap()];
    assert_eq!(*kind, BlobKind::Tree);
    assert_eq!(*sub_bytes, fs::read(plain.join("tree-sub.json")).unwrap());
    let sub = Node::decode(sub_bytes).unwrap();
    let empty = file_by_name(&sub, b"empty");
    assert_eq!(
        (empty.kind, empty.size, empty.content.len()),
        (EntryKind::File, 0, 0)
    );
    let fifo = file_by_name(&sub, b"n\xff");
    assert_eq!(fifo.kind, EntryKind::Fifo);
    assert!(
        sub_bytes.windows(6).any(|w| w == b"\"b64\":"),
        "the non-UTF-8 name is stored as base64"
    );
    assert_eq!(blobs.len(), 5, "3 data blobs and 2 tree blobs");
}
