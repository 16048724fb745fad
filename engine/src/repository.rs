//! Opening and creating repositories, and the files that are not packs: keys, config, snapshots.
//!
//! A [`Repository`] is open: its password was accepted and its config read. Loading the index
//! ([`Repository::load_index`]) gives an [`crate::Indexed`] repository, which backup, restore and check
//! need.

use std::path::PathBuf;

use bytes::Bytes;
use cairn_repo_format::{
    open_file, random_nonce, seal_file, ChunkerParams, CompressionSetting, Config, FileKind,
    KdfParams, KeyFile, KeyId, Keys, MasterSecret, RepoId, SessionParams, Snapshot, SnapshotId,
    FORMAT_VERSION,
};
use rand::RngCore;

use crate::backend::{Backend, FileType};
use crate::cache::{Cache, CachedFile};
use crate::error::{Error, ErrorKind, Result};
use crate::sys;

/// Cost of the password-based key derivation (argon2id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

/// The default: 32 MiB, the memory of restic's scrypt key (N = 2^15, r = 8), with 8 passes, so a
/// guess costs more memory × time than the earlier 64 MiB × 3. Every command derives a key, so its
/// memory is the floor of every command's peak RSS: 64 MiB put it at 75 MiB.
impl Default for KdfCost {
    fn default() -> Self {
        KdfCost {
            memory_kib: 32 << 10,
            iterations: 8,
            parallelism: 1,
        }
    }
}

/// Options of `init`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct InitOptions {
    /// Cost of deriving the key from the password.
    pub kdf: KdfCost,
    /// Target pack size in bytes.
    pub pack_size: u32,
    /// Compression.
    pub compression: CompressionSetting,
    /// Chunk sizes (min, average, max) with a random seed.
    pub chunk_sizes: Option<(u32, u32, u32)>,
    /// Another repository's chunker parameters, seed included, so that the same files are cut
    /// into the same chunks in both and snapshots copied between them deduplicate (restic's
    /// `--copy-chunker-params`). Wins over `chunk_sizes`.
    pub chunker: Option<ChunkerParams>,
    /// Session refresh and expiry times.
    pub sessions: SessionParams,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            kdf: KdfCost::default(),
            pack_size: 16 << 20,
            compression: CompressionSetting::Zstd { level: 3 },
            chunk_sizes: None,
            chunker: None,
            sessions: SessionParams::default(),
        }
    }
}

impl InitOptions {
    /// Sets the key derivation cost.
    pub fn kdf(mut self, kdf: KdfCost) -> Self {
        self.kdf = kdf;
        self
    }

    /// Sets the target pack size.
    pub fn pack_size(mut self, bytes: u32) -> Self {
        self.pack_size = bytes;
        self
    }

    /// Sets the compression.
    pub fn compression(mut self, c: CompressionSetting) -> Self {
        self.compression = c;
        self
    }

    /// Sets session refresh and expiry times.
    pub fn sessions(mut self, sessions: SessionParams) -> Self {
        self.sessions = sessions;
        self
    }

    /// Sets chunk sizes (min, average, max).
    pub fn chunk_sizes(mut self, sizes: (u32, u32, u32)) -> Self {
        self.chunk_sizes = Some(sizes);
        self
    }

    /// Sets [`InitOptions::chunker`].
    pub fn copy_chunker(mut self, chunker: ChunkerParams) -> Self {
        self.chunker = Some(chunker);
        self
    }
}

/// Options for opening a repository.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Directory of the local cache; `None` runs without one.
    pub cache_dir: Option<PathBuf>,
}

impl OpenOptions {
    /// Uses a cache under `dir`.
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }
}

/// A key file as listed by [`Repository::list_keys`].
#[derive(Clone, Debug)]
pub struct KeyInfo {
    /// Its id.
    pub id: KeyId,
    /// The file.
    pub file: KeyFile,
    /// True for the key this session opened the repository with.
    pub current: bool,
}

/// An open repository.
#[derive(Clone, Debug)]
pub struct Repository {
    pub(crate) backend: Backend,
    pub(crate) config: Config,
    pub(crate) keys: Keys,
    secret: MasterSecret,
    key_id: KeyId,
    pub(crate) cache: Option<Cache>,
}

/// Where files of each sealed kind live.
fn file_type(kind: FileKind) -> FileType {
    match kind {
        FileKind::Config => FileType::Config,
        FileKind::Index => FileType::Index,
        FileKind::Snapshot => FileType::Snapshot,
        FileKind::Session => FileType::Session,
        FileKind::DeletionPlan => FileType::DeletionPlan,
        FileKind::Policy => FileType::Policy,
    }
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

fn new_key_file(secret: &MasterSecret, password: &[u8], kdf: KdfCost) -> Result<(KeyId, Vec<u8>)> {
    let mut salt = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let params = KdfParams::with_cost(salt, kdf.memory_kib, kdf.iterations, kdf.parallelism);
    let file = KeyFile::create(
        secret,
        password,
        params,
        &random_nonce(),
        now_rfc3339(),
        sys::host_name(),
        sys::user_name(),
    )
    .map_err(|e| Error::format("new key", e))?;
    let bytes = file.encode();
    Ok((KeyId::of_bytes(&bytes), bytes))
}

impl Repository {
    /// Creates a repository at `backend`, which must not hold one.
    pub fn init(
        backend: Backend,
        password: &[u8],
        options: &InitOptions,
        open: &OpenOptions,
    ) -> Result<Repository> {
        if backend.size(FileType::Config, "config")?.is_some()
            || !backend.list(FileType::Key)?.is_empty()
        {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("a repository already exists at {}", backend.location()),
            ));
        }
        let mut seed = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        let mut chunker = ChunkerParams::with_seed(u64::from_le_bytes(seed));
        if let Some((min, avg, max)) = options.chunk_sizes {
            (chunker.min_size, chunker.avg_size, chunker.max_size) = (min, avg, max);
        }
        if let Some(copied) = options.chunker {
            chunker = copied;
        }
        let mut repo_id = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut repo_id);
        let config = Config {
            version: FORMAT_VERSION,
            id: RepoId(repo_id),
            chunker,
            pack_size: options.pack_size,
            compression: options.compression,
            sessions: options.sessions,
        };
        config
            .validate()
            .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        let secret = MasterSecret::generate();
        let keys = secret.keys();
        let (key_id, key_bytes) = new_key_file(&secret, password, options.kdf)?;
        // The key first, then the config: a repository is only one once its config exists, and a
        // config must always have a key that opens it.
        backend.write(FileType::Key, &key_id.to_hex(), Bytes::from(key_bytes))?;
        let sealed = seal_file(
            &keys,
            FileKind::Config,
            &config.encode(),
            config.compression.codec(),
            &random_nonce(),
        );
        backend.write(FileType::Config, "config", Bytes::from(sealed))?;
        Ok(Self::assemble(
            backend,
            config,
            (keys, secret),
            key_id,
            open,
        ))
    }

    /// An open repository from its parts, with the cache the options ask for.
    fn assemble(
        backend: Backend,
        config: Config,
        (keys, secret): (Keys, MasterSecret),
        key_id: KeyId,
        options: &OpenOptions,
    ) -> Repository {
        let cache = options
            .cache_dir
            .as_ref()
            .and_then(|d| Cache::open(d, &config.id));
        Repository {
            backend,
            config,
            keys,
            secret,
            key_id,
            cache,
        }
    }

    /// Opens the repository at `backend` with `password`, trying each key file.
    pub fn open(backend: Backend, password: &[u8], options: &OpenOptions) -> Result<Repository> {
        let stored_config = match backend.read(FileType::Config, "config") {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::new(
                    ErrorKind::NotARepository,
                    format!(
                    "{} is not a cairn repository (it has no config); create one with `cairn init`",
                    backend.location()
                ),
                ))
            }
            Err(e) => return Err(e),
        };
        let key_files = backend.list(FileType::Key)?;
        if key_files.is_empty() {
            return Err(Error::new(
                ErrorKind::NoKey,
                format!(
                    "{} has no key files: the repository cannot be opened without one",
                    backend.location()
                ),
            ));
        }
        let mut damaged = Vec::new();
        let mut found = None;
        for listed in &key_files {
            let bytes = backend.read(FileType::Key, &listed.name)?;
            let what = format!("key file {}", &listed.name[..8]);
            let file = match KeyFile::decode(&bytes) {
                Ok(f) => f,
                Err(e) => {
                    damaged.push(Error::format(&what, e));
                    continue;
                }
            };
            match file.unwrap(password) {
                Ok(secret) => {
                    found = Some((KeyId::of_bytes(&bytes), secret));
                    break;
                }
                Err(cairn_repo_format::FormatError::WrongPassword) => {}
                Err(e) => damaged.push(Error::format(&what, e)),
            }
        }
        let Some((key_id, secret)) = found else {
            return Err(match damaged.into_iter().next() {
                Some(e) if key_files.len() == 1 => e,
                _ => Error::new(
                    ErrorKind::WrongPassword,
                    "wrong password: no key file of this repository accepts it",
                ),
            });
        };
        let keys = secret.keys();
        let payload = open_file(&keys, FileKind::Config, &stored_config)
            .map_err(|e| Error::format("config", e))?;
        let config = Config::decode(&payload).map_err(|e| Error::format("config", e))?;
        Ok(Self::assemble(
            backend,
            config,
            (keys, secret),
            key_id,
            options,
        ))
    }

    /// The repository's config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The storage backend.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The derived keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The local cache, if one is in use.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// Seals and writes a config, index or snapshot file; returns the stored bytes' id.
    pub(crate) fn write_file(&self, kind: FileKind, payload: &[u8]) -> Result<[u8; 32]> {
        let sealed = self.seal(kind, payload);
        let id = *blake3::hash(&sealed).as_bytes();
        self.backend
            .write(file_type(kind), &hex::encode(id), Bytes::from(sealed))?;
        Ok(id)
    }

    /// Seals and writes a file under a name of the caller's choosing (session files keep their name
    /// when rewritten).
    pub(crate) fn write_named_file(
        &self,
        kind: FileKind,
        name: &str,
        payload: &[u8],
    ) -> Result<()> {
        let sealed = self.seal(kind, payload);
        self.backend
            .write(file_type(kind), name, Bytes::from(sealed))
    }

    /// Reads and opens a sealed file; returns its payload.
    pub(crate) fn read_file(&self, kind: FileKind, name: &str) -> Result<Vec<u8>> {
        let what = format!("{} {}", kind.name(), name.get(..8).unwrap_or(name));
        let stored = self
            .backend
            .read(file_type(kind), name)
            .map_err(|e| e.context(&what))?;
        open_file(&self.keys, kind, &stored).map_err(|e| Error::format(&what, e))
    }

    fn seal(&self, kind: FileKind, payload: &[u8]) -> Vec<u8> {
        seal_file(
            &self.keys,
            kind,
            payload,
            self.config.compression.codec(),
            &random_nonce(),
        )
    }

    // ---- keys ----

    /// Every key file, marking the one in use.
    pub fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        let mut out = Vec::new();
        for listed in self.backend.list(FileType::Key)? {
            let bytes = self.backend.read(FileType::Key, &listed.name)?;
            let id = KeyId::of_bytes(&bytes);
            let file = KeyFile::decode(&bytes)
                .map_err(|e| Error::format(format!("key file {}", id.short()), e))?;
            out.push(KeyInfo {
                current: id == self.key_id,
                id,
                file,
            });
        }
        Ok(out)
    }

    /// Adds a key file for `password`.
    pub fn add_key(&self, password: &[u8], kdf: KdfCost) -> Result<KeyId> {
        let (id, bytes) = new_key_file(&self.secret, password, kdf)?;
        self.backend
            .write(FileType::Key, &id.to_hex(), Bytes::from(bytes))?;
        Ok(id)
    }

    /// Removes a key file. The key in use cannot be removed (use [`Repository::change_password`]).
    pub fn remove_key(&self, id: &KeyId) -> Result<()> {
        if *id == self.key_id {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "refusing to remove the key this session is using; open with another key to remove it",
            ));
        }
        if self.backend.size(FileType::Key, &id.to_hex())?.is_none() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("key {} not found", id.short()),
            ));
        }
        self.backend.delete(FileType::Key, &id.to_hex())
    }

    /// Replaces the key in use by one for `new_password`. Only the key file is rewritten.
    pub fn change_password(&mut self, new_password: &[u8], kdf: KdfCost) -> Result<KeyId> {
        let new_id = self.add_key(new_password, kdf)?;
        let old = std::mem::replace(&mut self.key_id, new_id);
        self.backend.delete(FileType::Key, &old.to_hex())?;
        Ok(new_id)
    }

    /// The id of the key file in use.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    // ---- snapshots ----

    /// Reads one snapshot.
    pub fn load_snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        let payload = self.read_file(FileKind::Snapshot, &id.to_hex())?;
        Snapshot::decode(&payload).map_err(|e| Error::format(format!("snapshot {}", id.short()), e))
    }

    /// Every snapshot, oldest first. A snapshot removed between listing and reading (a concurrent
    /// `forget` or `tag`) is left out rather than failing the call. Snapshot files come from the
    /// cache when it has them, the rest many at a time.
    pub fn snapshots(&self) -> Result<Vec<(SnapshotId, Snapshot)>> {
        use rayon::prelude::*;
        let ids = self
            .backend
            .list(FileType::Snapshot)?
            .iter()
            .map(|l| {
                l.name
                    .parse()
                    .map_err(|e| Error::format("snapshot name", e))
            })
            .collect::<Result<Vec<SnapshotId>>>()?;
        let raw: Vec<[u8; 32]> = ids.iter().map(|id| *id.as_bytes()).collect();
        let stored = self.fetch_files(CachedFile::Snapshot, &raw);
        if let Some(cache) = &self.cache {
            cache.retain_files(CachedFile::Snapshot, &raw.iter().copied().collect());
        }
        let found = ids
            .par_iter()
            .zip(stored)
            .map(|(id, stored)| {
                let what = format!("snapshot {}", id.short());
                let stored = match stored {
                    Ok(s) => s,
                    Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e.context(&what)),
                };
                let payload = open_file(&self.keys, FileKind::Snapshot, &stored)
                    .map_err(|e| Error::format(&what, e))?;
                let snapshot = Snapshot::decode(&payload).map_err(|e| Error::format(&what, e))?;
                Ok(Some((*id, snapshot)))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut out: Vec<_> = found.into_iter().flatten().collect();
        out.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Files of one kind as stored, by id: from the cache where it has them, the rest fetched many
    /// at a time, checked against their ids (a file's id is the hash of its stored bytes) and
    /// cached. In the order of `ids`.
    pub(crate) fn fetch_files(&self, kind: CachedFile, ids: &[[u8; 32]]) -> Vec<Result<Bytes>> {
        let file_type = match kind {
            CachedFile::Index => FileType::Index,
            CachedFile::Snapshot => FileType::Snapshot,
        };
        let cached: Vec<Option<Bytes>> = ids
            .iter()
            .map(|id| {
                let bytes = self.cache.as_ref()?.file(kind, id)?;
                (blake3::hash(&bytes).as_bytes() == id).then(|| Bytes::from(bytes))
            })
            .collect();
        let missing: Vec<usize> = (0..ids.len()).filter(|&i| cached[i].is_none()).collect();
        let names: Vec<String> = missing.iter().map(|&i| hex::encode(ids[i])).collect();
        let check = |i: usize, bytes: Bytes| {
            if blake3::hash(&bytes).as_bytes() != &ids[i] {
                return Err(Error::new(
                    ErrorKind::Damaged,
                    format!(
                        "{} {}: content does not match its name",
                        file_type.name(),
                        hex::encode(&ids[i][..4])
                    ),
                ));
            }
            if let Some(cache) = &self.cache {
                cache.put_file(kind, &ids[i], &bytes);
            }
            Ok(bytes)
        };
        let mut fetched: std::collections::HashMap<usize, Result<Bytes>> = missing
            .into_iter()
            .zip(self.backend.read_many(file_type, &names))
            .map(|(i, r)| (i, r.and_then(|bytes| check(i, bytes))))
            .collect();
        cached
            .into_iter()
            .enumerate()
            .map(|(i, c)| match c {
                Some(bytes) => Ok(bytes),
                None => fetched
                    .remove(&i)
                    .unwrap_or_else(|| Err(Error::new(ErrorKind::NotFound, "file not fetched"))),
            })
            .collect()
    }

    /// Finds a snapshot by `latest` or a unique id prefix.
    pub fn find_snapshot(&self, spec: &str) -> Result<(SnapshotId, Snapshot)> {
        let all = self.snapshots()?;
        crate::snapshots::select(all, spec)
    }

    /// Writes a snapshot; returns its id.
    pub fn save_snapshot(&self, snapshot: &Snapshot) -> Result<SnapshotId> {
        Ok(SnapshotId(
            self.write_file(FileKind::Snapshot, &snapshot.encode())?,
        ))
    }

    /// Deletes a snapshot file.
    pub fn delete_snapshot(&self, id: &SnapshotId) -> Result<()> {
        self.backend.delete(FileType::Snapshot, &id.to_hex())
    }
}
