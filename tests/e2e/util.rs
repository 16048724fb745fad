//! Helpers of the end-to-end tests: scratch directories, running the real `cairn` binary against a
//! repository in one, and comparing file trees.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

/// The password every test repository gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// A scratch directory holding a repository (`repo/`), a cache (`cache/`) and whatever the test
/// creates; removed when dropped.
pub struct Scratch {
    dir: tempfile::TempDir,
    /// The repository location when it is not the `repo` directory, and the environment it needs.
    remote: Option<(String, Vec<(String, String)>)>,
}

/// The outcome of one run of `cairn`.
pub struct Run {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error, as text.
    pub stderr: String,
    /// The command line, for messages.
    pub args: String,
}

impl Run {
    fn from_output(out: Output, args: String) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            args,
        }
    }

    /// Stdout as text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts exit code `code`, showing the output otherwise.
    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            code,
            "`cairn {}` exited {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.args,
            self.code,
            self.stdout(),
            self.stderr
        );
        self
    }

    /// Asserts success.
    #[track_caller]
    pub fn ok(self) -> Run {
        self.code(0)
    }

    /// Stdout parsed as one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`cairn {}` printed no JSON ({e}):\n{}",
                self.args,
                self.stdout()
            )
        })
    }

    /// Stdout parsed as JSON lines.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| {
                    panic!(
                        "`cairn {}` printed a line that is not JSON ({e}): {l}",
                        self.args
                    )
                })
            })
            .collect()
    }
}

impl Scratch {
    /// A new scratch directory under the system's temporary directory.
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("cairn-e2e-")
            .tempdir()
            .unwrap();
        Scratch { dir, remote: None }
    }

    /// A scratch directory whose commands use the repository at `location` (in object storage),
    /// with `env` (credentials) set.
    pub fn with_location(location: String, env: &[(&str, &str)]) -> Scratch {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Scratch {
            remote: Some((location, env)),
            ..Scratch::new()
        }
    }

    /// The scratch directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the scratch directory.
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(p)
    }

    /// The repository's directory.
    pub fn repo(&self) -> PathBuf {
        self.join("repo")
    }

    /// A `cairn` command with the repository, password and cache of this scratch directory.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_via(&[], args)
    }

    /// A `cairn` command run through a wrapper such as `setpriv ...` (empty: none).
    pub fn command_via(&self, wrapper: &[&str], args: &[&str]) -> Command {
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(CAIRN);
                c
            }
            None => Command::new(CAIRN),
        };
        cmd.args(args)
            .env("CAIRN_REPOSITORY", self.repo())
            .env("CAIRN_PASSWORD", PASSWORD)
            .env("CAIRN_CACHE_DIR", self.join("cache"))
            .env_remove("CAIRN_PASSWORD_FILE")
            .env_remove("CAIRN_PASSWORD_COMMAND")
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null());
        if let Some((location, env)) = &self.remote {
            cmd.env("CAIRN_REPOSITORY", location)
                .envs(env.iter().cloned());
        }
        cmd
    }

    /// Runs `cairn ARGS`.
    pub fn cairn(&self, args: &[&str]) -> Run {
        self.run(self.command(args), args)
    }

    /// Runs `cairn ARGS` with extra environment variables.
    pub fn cairn_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.run(cmd, args)
    }

    /// Runs a prepared command.
    pub fn run(&self, mut cmd: Command, args: &[&str]) -> Run {
        let out = cmd.output().expect("cairn runs");
        Run::from_output(out, args.join(" "))
    }

    /// Creates the repository with a cheap key derivation, small packs and small chunks, so tests
    /// are quick and still make many blobs and packs.
    pub fn init(&self) -> Run {
        self.init_with(&[])
    }

    /// Creates the repository with extra `init` flags.
    pub fn init_with(&self, extra: &[&str]) -> Run {
        let mut args = vec![
            "init",
            "--kdf-memory-kib",
            "8",
            "--kdf-iterations",
            "1",
            "--pack-size",
            "256KiB",
            "--chunk-min",
            "4KiB",
            "--chunk-avg",
            "16KiB",
            "--chunk-max",
            "64KiB",
        ];
        args.extend_from_slice(extra);
        self.cairn(&args).ok()
    }

    /// Backs up `paths` with `--json` and returns the summary document.
    pub fn backup(&self, paths: &[&Path], extra: &[&str]) -> serde_json::Value {
        let mut args: Vec<&str> = vec!["backup", "--json"];
        args.extend_from_slice(extra);
        args.extend(paths.iter().map(|p| p.to_str().unwrap()));
        self.cairn(&args).ok().json()
    }

    /// Ids of all snapshots, oldest first.
    pub fn snapshot_ids(&self) -> Vec<String> {
        self.cairn(&["snapshots", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every entry below the repository directory with its size and modification time, for
    /// before/after comparisons.
    pub fn repo_listing(&self) -> BTreeMap<PathBuf, (u64, i64, i64)> {
        walk(&self.repo())
            .into_iter()
            .map(|(path, m)| (path, (m.len(), m.mtime(), m.mtime_nsec())))
            .collect()
    }
}

/// Every entry below `root` (not `root` itself), relative, sorted, with its `lstat`.
pub fn walk(root: &Path) -> Vec<(PathBuf, fs::Metadata)> {
    fn go(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, fs::Metadata)>) {
        let mut entries: Vec<_> = fs::read_dir(root.join(rel))
            .unwrap_or_else(|e| panic!("read_dir {}: {e}", root.join(rel).display()))
            .map(|e| e.unwrap().file_name())
            .collect();
        entries.sort();
        for name in entries {
            let rel = rel.join(&name);
            let meta = fs::symlink_metadata(root.join(&rel)).unwrap();
            let is_dir = meta.is_dir();
            out.push((rel.clone(), meta));
            if is_dir {
                go(root, &rel, out);
            }
        }
    }
    let mut out = Vec::new();
    go(root, Path::new(""), &mut out);
    out
}

/// The extended attributes of a path (not following links), sorted; empty where unsupported.
pub fn xattrs(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 65536];
    // SAFETY: buffers are valid for their lengths; the path is NUL-terminated.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return Vec::new();
    }
    names.truncate(n as usize);
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = std::ffi::CString::new(name).unwrap();
        let mut value = vec![0u8; 65536];
        // SAFETY: as above.
        let len = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if len >= 0 {
            value.truncate(len as usize);
            out.push((name.to_vec(), value));
        }
    }
    out.sort();
    out
}

/// Sets a `user.` extended attribute; false when the file system refuses.
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid NUL-terminated strings and a buffer valid for its length.
    unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        ) == 0
    }
}

/// Sets a path's modification time (not following links), in nanoseconds since the epoch.
pub fn set_mtime(path: &Path, nanos: i64) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let ts = libc::timespec {
        tv_sec: nanos.div_euclid(1_000_000_000),
        tv_nsec: nanos.rem_euclid(1_000_000_000),
    };
    let times = [ts, ts];
    // SAFETY: a valid path and two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0, "utimensat {}", path.display());
}

/// Makes a named pipe.
pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o640) }, 0);
}

/// True when running as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Deterministic pseudo-random bytes (xorshift), so tests need no extra crate.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

/// What to compare besides content and type.
#[derive(Clone, Copy)]
pub struct Compare {
    /// Compare owners (needs root to restore them).
    pub owner: bool,
    /// Compare modification times of directories too.
    pub dir_mtime: bool,
    /// Compare extended attributes.
    pub xattrs: bool,
}

impl Compare {
    /// Content, types, permission bits and file times: what a tar stream or a copy made in a pod
    /// keeps, without owners, directory times or extended attributes.
    pub const FILES: Compare = Compare {
        owner: false,
        dir_mtime: false,
        xattrs: false,
    };
}

impl Default for Compare {
    fn default() -> Self {
        Compare {
            owner: is_root(),
            dir_mtime: true,
            xattrs: true,
        }
    }
}

/// Asserts that the trees below `a` and `b` are equal: the same names, types, permission bits,
/// owners, modification times, symlink targets, extended attributes, bytes, and hard-link structure.
pub fn assert_same_tree(a: &Path, b: &Path, cmp: Compare) {
    let mut left = walk(a);
    let mut right = walk(b);
    // The roots themselves are compared too, as entries named "".
    left.insert(0, (PathBuf::new(), fs::symlink_metadata(a).unwrap()));
    right.insert(0, (PathBuf::new(), fs::symlink_metadata(b).unwrap()));
    let names =
        |v: &[(PathBuf, fs::Metadata)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    let (ln, rn) = (names(&left), names(&right));
    if ln != rn {
        let missing: Vec<_> = ln.iter().filter(|p| !rn.contains(p)).take(10).collect();
        let extra: Vec<_> = rn.iter().filter(|p| !ln.contains(p)).take(10).collect();
        panic!(
            "trees differ: {} vs {} entries; missing from {}: {missing:?}; extra: {extra:?}",
            ln.len(),
            rn.len(),
            b.display()
        );
    }
    let mut links_a: HashMap<(u64, u64), Vec<PathBuf>> = HashMap::new();
    let mut links_b: HashMap<(u64, u64), Vec<PathBuf>> = HashMap::new();
    for ((path, ma), (_, mb)) in left.iter().zip(&right) {
        let (pa, pb) = (a.join(path), b.join(path));
        let what = path.display();
        assert_eq!(ma.file_type(), mb.file_type(), "{what}: type");
        assert_eq!(ma.mode() & 0o7777, mb.mode() & 0o7777, "{what}: mode");
        if cmp.owner {
            assert_eq!((ma.uid(), ma.gid()), (mb.uid(), mb.gid()), "{what}: owner");
        }
        let ft = ma.file_type();
        if !ft.is_symlink() && (cmp.dir_mtime || !ft.is_dir()) {
            assert_eq!(
                (ma.mtime(), ma.mtime_nsec()),
                (mb.mtime(), mb.mtime_nsec()),
                "{what}: mtime"
            );
        }
        if ft.is_symlink() {
            assert_eq!(
                fs::read_link(&pa).unwrap(),
                fs::read_link(&pb).unwrap(),
                "{what}: target"
            );
        } else if ft.is_file() {
            assert_eq!(ma.len(), mb.len(), "{what}: size");
            if fs::read(&pa).unwrap() != fs::read(&pb).unwrap() {
                panic!("{what}: content differs");
            }
            if ma.nlink() > 1 {
                links_a
                    .entry((ma.dev(), ma.ino()))
                    .or_default()
                    .push(path.clone());
                links_b
                    .entry((mb.dev(), mb.ino()))
                    .or_default()
                    .push(path.clone());
            }
        }
        if cmp.xattrs && !ft.is_symlink() {
            assert_eq!(xattrs(&pa), xattrs(&pb), "{what}: xattrs");
        }
    }
    // Files linked together in `a` are linked together in `b`.
    let mut groups_a: Vec<Vec<PathBuf>> = links_a.into_values().filter(|g| g.len() > 1).collect();
    let mut groups_b: Vec<Vec<PathBuf>> = links_b.into_values().filter(|g| g.len() > 1).collect();
    groups_a.iter_mut().for_each(|g| g.sort());
    groups_b.iter_mut().for_each(|g| g.sort());
    groups_a.sort();
    groups_b.sort();
    assert_eq!(groups_a, groups_b, "hard links differ");
}

/// Writes a file, creating its directory.
pub fn write(path: &Path, content: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, content).unwrap();
}

/// Sets permission bits.
pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// An `OsStr` from bytes (for names that are not UTF-8).
pub fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}
