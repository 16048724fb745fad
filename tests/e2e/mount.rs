//! `cairn mount`: the real binary mounts a repository with FUSE, ordinary tools browse it, and what
//! they see is compared with the source and with `cairn restore`.
//!
//! These tests need FUSE (`/dev/fuse`, and fusermount3 when not root). In CI (`CI=true`) its absence
//! is a failure; elsewhere the tests say why they skip.

use std::fs;
use std::os::unix::fs::{symlink, FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// Why FUSE cannot be used here, if it cannot.
fn fuse_missing() -> Option<String> {
    if !Path::new("/dev/fuse").exists() {
        return Some("there is no /dev/fuse".into());
    }
    if is_root() {
        return match fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
        {
            Ok(_) => None,
            Err(e) => Some(format!("/dev/fuse cannot be opened: {e}")),
        };
    }
    let helper = ["fusermount3", "fusermount"].iter().any(|h| {
        Command::new(h)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    (!helper).then(|| "not root and no fusermount3 or fusermount".into())
}

/// True when FUSE works; otherwise fails in CI and skips, saying why, elsewhere.
fn fuse_or_skip(test: &str) -> bool {
    let Some(why) = fuse_missing() else {
        return true;
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: FUSE is needed in CI but {why}; .ci/run must install fuse3");
    }
    eprintln!("{test}: skipped: {why}");
    false
}

/// Whether `path` (canonical) is a mount point of this process's namespace.
fn is_mount_point(path: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let want = path.to_str().unwrap().replace(' ', "\\040");
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

/// Polls `f` until it holds or `secs` pass.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A running `cairn mount`; killed and detached when dropped, should a test fail half-way.
struct Mounted {
    child: Option<Child>,
    at: PathBuf,
    log: PathBuf,
}

impl Mounted {
    /// Starts `cairn mount` on a new empty directory and waits until the kernel has the mount.
    fn start(s: &Scratch, name: &str) -> Mounted {
        let at = s.join(name);
        fs::create_dir_all(&at).unwrap();
        let at = at.canonicalize().unwrap();
        let log = s.join(format!("{name}.log"));
        let child = s
            .command(&["mount", at.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut m = Mounted {
            child: Some(child),
            at,
            log,
        };
        let up = eventually(60, || {
            if let Some(status) = m.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("cairn mount exited early ({status}):\n{}", m.log());
            }
            is_mount_point(&m.at)
        });
        assert!(up, "not mounted after 60 s:\n{}", m.log());
        m
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// A path inside the mount.
    fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.at.join(rel)
    }

    /// Sends `signal`, then checks that cairn exits 0 and leaves no mount behind.
    fn stop_with(mut self, signal: i32) {
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "cairn mount did not exit 30 s after signal {signal}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(
            status.code(),
            Some(0),
            "exit status after signal {signal}:\n{}",
            self.log()
        );
        assert!(
            !is_mount_point(&self.at),
            "still mounted after cairn exited"
        );
        assert!(
            fs::read_dir(&self.at).unwrap().next().is_none(),
            "the mountpoint is not its empty self again"
        );
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let c = std::ffi::CString::new(self.at.to_str().unwrap()).unwrap();
            // SAFETY: a valid path; failure (not mounted) is fine.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            let _ = Command::new("fusermount3")
                .args(["-u", "-z"])
                .arg(&self.at)
                .status();
        }
    }
}

/// A tree with every kind of entry, and a 40 MB file of many chunks.
fn make_source(src: &Path) -> Vec<u8> {
    let mut rng = Rng::new(7);
    write(&src.join("plain.txt"), "hello world\n");
    chmod(&src.join("plain.txt"), 0o640);
    write(&src.join("exec.sh"), "#!/bin/sh\necho hi\n");
    chmod(&src.join("exec.sh"), 0o4755);
    write(&src.join("dir/nested/deep.bin"), rng.bytes(300 << 10));
    write(&src.join("empty"), "");
    symlink("plain.txt", src.join("link")).unwrap();
    symlink("/nonexistent/target", src.join("dangling")).unwrap();
    write(&src.join("h1"), rng.bytes(50_000));
    fs::hard_link(src.join("h1"), src.join("dir/h2")).unwrap();
    fs::hard_link(src.join("h1"), src.join("dir/nested/h3")).unwrap();
    fs::write(src.join(os(b"caf\xe9-latin1")), "not utf-8 name").unwrap();
    mkfifo(&src.join("pipe"));
    fs::create_dir(src.join("sticky")).unwrap();
    chmod(&src.join("sticky"), 0o1777);
    for i in 0..300 {
        write(&src.join(format!("many/f{i:04}")), format!("file {i}\n"));
    }
    let big = rng.bytes(40 << 20);
    write(&src.join("big.bin"), &big);
    let _ = set_xattr(&src.join("plain.txt"), "user.comment", b"a comment")
        && set_xattr(&src.join("dir"), "user.binary", &[0, 1, 2, 255]);
    // A POSIX ACL (user nobody may read), as setfacl stores it; the mount lets the kernel cache
    // ACLs, which must still come back byte for byte.
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (1u16, 7u16, u32::MAX),
        (2, 4, 65534),
        (4, 5, u32::MAX),
        (0x10, 5, u32::MAX),
        (0x20, 5, u32::MAX),
    ] {
        acl.extend_from_slice(&tag.to_le_bytes());
        acl.extend_from_slice(&perm.to_le_bytes());
        acl.extend_from_slice(&id.to_le_bytes());
    }
    let _ = set_xattr(&src.join("exec.sh"), "system.posix_acl_access", &acl);
    set_mtime(&src.join("plain.txt"), 1_600_000_000_123_456_789);
    set_mtime(&src.join("dir/nested"), 1_400_000_000_999_999_999);
    set_mtime(&src.join("dir"), 1_300_000_000_000_000_000);
    big
}

fn count(out: &std::process::Output) -> usize {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
}

fn find(root: &Path, args: &[&str]) -> usize {
    count(&Command::new("find").arg(root).args(args).output().unwrap())
}

#[test]
fn a_mounted_snapshot_is_the_restored_snapshot() {
    if !fuse_or_skip("a_mounted_snapshot_is_the_restored_snapshot") {
        return;
    }
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    let big = make_source(&src);
    s.backup(&[&src], &["--host", "box", "--tag", "first"]);
    let first_id = s.snapshot_ids()[0].clone();
    let target = s.join("restored");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();

    let m = Mounted::start(&s, "mnt");
    let rel = src.strip_prefix("/").unwrap();
    let latest = m.path("snapshots/latest");
    let mounted = latest.join(rel);

    // The layout: groups with `latest` links, ids, hosts and tags.
    let names = |p: &Path| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&m.path("")), ["hosts", "ids", "snapshots", "tags"]);
    let snaps = names(&m.path("snapshots"));
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    assert_eq!(fs::read_link(&latest).unwrap(), Path::new(&snaps[0]));
    assert!(
        snaps[0].ends_with('Z') && snaps[0].contains('T'),
        "{snaps:?}"
    );
    assert!(m
        .path("ids")
        .join(&first_id[..8])
        .join(rel)
        .join("plain.txt")
        .is_file());
    assert_eq!(
        names(&m.path("hosts/box")),
        [snaps[0].clone(), "latest".into()]
    );
    assert!(m
        .path("tags/first/latest")
        .join(rel)
        .join("big.bin")
        .is_file());

    // diff -r against the restore (which reports any two fifos as different, so the pipe is left
    // to the next check), then every piece of metadata against the source.
    let diff = Command::new("diff")
        .args(["-r", "--no-dereference", "-x", "pipe"])
        .arg(target.join(rel))
        .arg(&mounted)
        .output()
        .unwrap();
    assert!(
        diff.status.success(),
        "diff -r found differences:\n{}{}",
        String::from_utf8_lossy(&diff.stdout),
        String::from_utf8_lossy(&diff.stderr)
    );
    assert_same_tree(&src, &mounted, Compare::default());
    assert_eq!(
        fs::read_link(mounted.join("dangling")).unwrap(),
        Path::new("/nonexistent/target")
    );
    let meta = fs::symlink_metadata(mounted.join("exec.sh")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(fs::metadata(mounted.join("dir/h2")).unwrap().nlink(), 3);
    assert!(fs::metadata(mounted.join("sticky")).unwrap().is_dir());

    // find, with counts of each type.
    assert_eq!(find(&mounted, &[]), find(&src, &[]));
    for t in ["f", "d", "l", "p"] {
        assert_eq!(
            find(&mounted, &["-type", t]),
            find(&src, &["-type", t]),
            "-type {t}"
        );
    }
    assert_eq!(find(&mounted.join("many"), &["-type", "f"]), 300);

    // Reads at random offsets of the multi-chunk file, byte for byte.
    let file = fs::File::open(mounted.join("big.bin")).unwrap();
    let mut rng = Rng::new(99);
    for _ in 0..300 {
        let len = (rng.next_u64() % (300 << 10)) as usize + 1;
        let at = rng.next_u64() % (big.len() as u64 + 1000);
        let mut buf = vec![0u8; len];
        let n = file.read_at(&mut buf, at).unwrap();
        let from = (at as usize).min(big.len());
        let want = &big[from..(from + len).min(big.len())];
        assert_eq!(&buf[..n], want, "read of {len} bytes at {at}");
    }

    // Two processes reading the whole file at once.
    let readers: Vec<Child> = (0..2)
        .map(|_| {
            Command::new("cmp")
                .arg(mounted.join("big.bin"))
                .arg(src.join("big.bin"))
                .spawn()
                .unwrap()
        })
        .collect();
    for mut r in readers {
        assert!(
            r.wait().unwrap().success(),
            "a concurrent reader saw other bytes"
        );
    }

    // A snapshot taken while mounted shows up without a remount.
    write(&src.join("plain.txt"), "changed after mounting\n");
    s.backup(&[&src], &["--host", "box"]);
    let appeared = eventually(30, || names(&m.path("snapshots")).len() == 3);
    assert!(
        appeared,
        "the new snapshot did not appear: {:?}",
        names(&m.path("snapshots"))
    );
    let new_latest = m.path("snapshots/latest").join(rel).join("plain.txt");
    assert!(
        eventually(10, || fs::read(&new_latest).ok().as_deref()
            == Some(&b"changed after mounting\n"[..])),
        "latest does not show the new snapshot"
    );
    assert_eq!(fs::read(mounted.join("big.bin")).unwrap().len(), big.len());

    // Writes are refused.
    let err = fs::write(mounted.join("new"), "x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");

    m.stop_with(libc::SIGTERM);
}

#[test]
fn interrupting_a_busy_mount_detaches_it_and_bad_mountpoints_are_refused() {
    if !fuse_or_skip("interrupting_a_busy_mount_detaches_it_and_bad_mountpoints_are_refused") {
        return;
    }
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    write(&src.join("a/b.txt"), "b");
    s.backup(&[&src], &[]);

    let full = s.join("full");
    write(&full.join("x"), "x");
    let run = s.cairn(&["mount", full.to_str().unwrap()]).code(1);
    assert!(run.stderr.contains("not empty"), "{}", run.stderr);
    let run = s
        .cairn(&["mount", s.join("missing").to_str().unwrap()])
        .code(1);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);

    let m = Mounted::start(&s, "mnt");
    // A second mount on the same place is refused while the first is up.
    let run = s.cairn(&["mount", m.at.to_str().unwrap()]).code(1);
    assert!(run.stderr.contains("already mounted"), "{}", run.stderr);

    // A process sitting inside the mount keeps it busy; Ctrl-C still ends cairn cleanly.
    let inside = m
        .path("snapshots/latest")
        .join(src.strip_prefix("/").unwrap())
        .join("a");
    let mut sitter = Command::new("sleep")
        .arg("60")
        .current_dir(&inside)
        .spawn()
        .unwrap();
    m.stop_with(libc::SIGINT);
    let _ = sitter.kill();
    let _ = sitter.wait();
}
