//! Bad input and faults: wrong passwords, broken keys, unknown versions, damaged packs, a backup
//! killed half way, unreadable files. Each must give a clear message and its documented exit code,
//! and never silently wrong data.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cairn_engine::format::{random_nonce, seal_file, FileKind};
use cairn_engine::{Backend, OpenOptions, Repository};

use crate::roundtrip::restored;
use crate::util::*;

/// A repository with one snapshot of a small tree of random files.
fn repo_with_snapshot(s: &Scratch) -> PathBuf {
    s.init();
    let src = s.join("src");
    let mut rng = Rng::new(7);
    for i in 0..6 {
        write(
            &src.join(format!("file{i}.bin")),
            rng.bytes(60_000 + i * 7_000),
        );
    }
    write(&src.join("victim.bin"), rng.bytes(150_000));
    s.backup(&[&src], &[]);
    src
}

#[test]
fn a_wrong_password_exits_12_and_writes_nothing() {
    let s = Scratch::new();
    let src = repo_with_snapshot(&s);
    let before = s.repo_listing();
    let target = s.join("t");
    let wrong = [("CAIRN_PASSWORD", "not the password")];
    for args in [
        vec!["snapshots"],
        vec!["backup", src.to_str().unwrap()],
        vec!["restore", "latest", "--target", target.to_str().unwrap()],
        vec!["check", "--read-data"],
        vec!["tag", "--add", "x", "latest"],
        vec!["key", "list"],
        vec!["cat", "config"],
    ] {
        let r = s.cairn_env(&args, &wrong).code(12);
        assert!(
            r.stderr.starts_with("cairn: wrong password"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("CAIRN_PASSWORD"), "no hint: {}", r.stderr);
        assert!(
            !r.stderr.contains("not the password"),
            "the password was printed"
        );
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    assert_eq!(
        s.repo_listing(),
        before,
        "a wrong password changed the repository"
    );
    assert!(
        !target.exists(),
        "restore with a wrong password created the target"
    );
}

#[test]
fn missing_key_files_exit_12() {
    let s = Scratch::new();
    repo_with_snapshot(&s);
    for entry in fs::read_dir(s.repo().join("keys")).unwrap() {
        fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let r = s.cairn(&["snapshots"]).code(12);
    assert!(r.stderr.contains("no key files"), "{}", r.stderr);
}

fn key_files(s: &Scratch) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(s.repo().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn a_truncated_key_file_is_named() {
    let s = Scratch::new();
    repo_with_snapshot(&s);
    let key = key_files(&s).remove(0);
    let name = key.file_name().unwrap().to_str().unwrap().to_string();
    let bytes = fs::read(&key).unwrap();
    fs::write(&key, &bytes[..bytes.len() / 2]).unwrap();
    let r = s.cairn(&["snapshots"]);
    assert_eq!(r.code, 14, "a damaged key file is damage: {}", r.stderr);
    assert!(
        r.stderr.contains(&format!("key file {}", &name[..8])),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("truncated") || r.stderr.contains("not valid"),
        "{}",
        r.stderr
    );

    // With a second, intact key the repository still opens with that key's password.
    fs::write(&key, &bytes).unwrap();
    let pw = s.join("pw2");
    fs::write(&pw, "other").unwrap();
    s.cairn(&[
        "key",
        "add",
        "--new-password-file",
        pw.to_str().unwrap(),
        "--kdf-memory-kib",
        "8",
        "--kdf-iterations",
        "1",
    ])
    .ok();
    let other = key_files(&s).into_iter().find(|k| *k != key).unwrap();
    let b = fs::read(&other).unwrap();
    fs::write(&other, &b[..10]).unwrap();
    s.cairn(&["snapshots"]).ok();
}

#[test]
fn an_unknown_format_version_exits_13() {
    let s = Scratch::new();
    repo_with_snapshot(&s);
    // Rewrite the config as a later cairn would: same keys, version 2.
    let backend = Backend::open(s.repo().to_str().unwrap(), false).unwrap();
    let repo = Repository::open(backend, PASSWORD.as_bytes(), &OpenOptions::default()).unwrap();
    let mut config = repo.config().clone();
    config.version = 2;
    let sealed = seal_file(
        repo.keys(),
        FileKind::Config,
        &config.encode(),
        config.compression.codec(),
        &random_nonce(),
    );
    fs::write(s.repo().join("config"), sealed).unwrap();
    let r = s.cairn(&["snapshots"]).code(13);
    assert!(r.stderr.contains("version 2"), "{}", r.stderr);
    assert!(r.stderr.contains("upgrade"), "{}", r.stderr);
    s.cairn(&["backup", s.join("src").to_str().unwrap()])
        .code(13);
}

#[test]
fn a_damaged_config_exits_14() {
    let s = Scratch::new();
    repo_with_snapshot(&s);
    let path = s.repo().join("config");
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&path, bytes).unwrap();
    let r = s.cairn(&["snapshots"]).code(14);
    assert!(r.stderr.contains("config"), "{}", r.stderr);
}

/// Where a blob lies: (pack file, offset, length), from the index files via `cat index`.
fn locate_blob(s: &Scratch, blob: &str) -> (PathBuf, u64, u64) {
    for entry in fs::read_dir(s.repo().join("index")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let index = s.cairn(&["cat", "index", &name]).ok().json();
        for pack in index["packs"].as_array().unwrap() {
            for b in pack["blobs"].as_array().unwrap() {
                if b["id"] == blob {
                    let id = pack["id"].as_str().unwrap();
                    let path = s.repo().join("data").join(&id[..2]).join(id);
                    return (
                        path,
                        b["offset"].as_u64().unwrap(),
                        b["length"].as_u64().unwrap(),
                    );
                }
            }
        }
    }
    panic!("blob {blob} is in no index file");
}

#[test]
fn a_flipped_bit_is_found_named_and_never_restored_as_wrong_bytes() {
    let s = Scratch::new();
    let src = repo_with_snapshot(&s);
    let snapshot = s.snapshot_ids().remove(0);
    let spec = format!("latest:{}", src.display());
    let node = s.cairn(&["cat", "tree", &spec]).ok().json();
    let victim = node["leaf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "victim.bin")
        .unwrap()
        .clone();
    let blob = victim["content"][0]["chunk"].as_str().unwrap().to_string();
    let (pack, offset, length) = locate_blob(&s, &blob);
    let mut bytes = fs::read(&pack).unwrap();
    bytes[(offset + length / 2) as usize] ^= 0x10;
    fs::write(&pack, bytes).unwrap();

    let r = s.cairn(&["check", "--read-data"]).code(4);
    assert!(
        r.stderr.contains(&blob),
        "check does not name the blob:\n{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("victim.bin"),
        "check does not name the file:\n{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&snapshot[..8]),
        "check does not name the snapshot:\n{}",
        r.stderr
    );
    let v = s.cairn(&["--json", "check", "--read-data"]).code(4).json();
    assert_eq!(v["ok"], false);
    assert!(
        v["damaged"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == blob.as_str()),
        "{v}"
    );
    let affected = v["affected"].as_array().unwrap();
    assert_eq!(affected.len(), 1, "{v}");
    assert!(affected[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("/victim.bin"));
    assert_eq!(affected[0]["snapshot"], snapshot.as_str());

    // Reading the blob outside check is a damaged repository.
    let r = s.cairn(&["cat", "blob", &blob]).code(14);
    assert!(r.stderr.contains(&blob[..8]), "{}", r.stderr);

    // A restore brings back everything else, fails loudly for the victim, and leaves no wrong bytes.
    let target = s.join("t");
    let r = s
        .cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .code(3);
    assert!(r.stderr.contains("victim.bin"), "{}", r.stderr);
    let back = restored(&target, &src);
    for i in 0..6 {
        let name = format!("file{i}.bin");
        assert_eq!(
            fs::read(back.join(&name)).unwrap(),
            fs::read(src.join(&name)).unwrap()
        );
    }
    match fs::read(back.join("victim.bin")) {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        Ok(bytes) => assert_eq!(
            bytes,
            fs::read(src.join("victim.bin")).unwrap(),
            "wrong bytes restored"
        ),
    }
}

/// How many stored objects (files named by a 64-digit hex id) `dir` holds, at any depth. A writer's
/// temporary files (a pack being filled is `data/staged#N`) come and go while this looks and are
/// not counted.
fn count_objects(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => count_objects(&entry.path()),
            Ok(t) if t.is_file() => {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                usize::from(name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
            }
            _ => 0,
        })
        .sum()
}

#[test]
fn a_backup_killed_half_way_leaves_a_sound_repository_and_is_resumed() {
    let s = Scratch::new();
    s.init_with(&["--compression", "off"]);
    let src = s.join("src");
    // ~200 MB of random data in 50 files.
    let mut rng = Rng::new(8);
    let total: u64 = 50 * (4 << 20);
    for i in 0..50 {
        write(&src.join(format!("d{}/f{i}", i % 5)), rng.bytes(4 << 20));
    }
    let mut child = s
        .command(&["backup", src.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once packs and an index file naming some of them are stored, after a further random delay.
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the backup finished ({status}) before it could be killed half way");
        }
        if count_objects(&s.repo().join("index")) > 0 && count_objects(&s.repo().join("data")) > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no index file after 300 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    std::thread::sleep(Duration::from_millis(u64::from(nanos % 300)));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        status.code().is_none(),
        "the backup ended by itself ({status}) before the kill"
    );
    assert!(
        s.snapshot_ids().is_empty(),
        "a killed backup left a snapshot"
    );

    s.cairn(&["check"]).ok();
    let second = s.backup(&[&src], &[]);
    let added = second["summary"]["bytes_added"].as_u64().unwrap();
    assert_eq!(second["summary"]["bytes_total"], total);
    assert!(
        added + (256 << 10) < total,
        "the second backup stored {added} of {total} bytes: nothing of the killed run was reused"
    );
    s.cairn(&["check", "--read-data"]).ok();
    let target = s.join("t");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    assert_same_tree(&src, &restored(&target, &src), Compare::default());
}

#[test]
fn unreadable_files_are_named_and_the_rest_is_saved() {
    let s = Scratch::new();
    // When root, run cairn as nobody: root reads files whatever their mode.
    let wrapper: Vec<&str> = if is_root() {
        if std::process::Command::new("setpriv")
            .arg("--help")
            .output()
            .is_err()
        {
            eprintln!("skipped: running as root and setpriv (util-linux) is not installed");
            return;
        }
        vec![
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ]
    } else {
        vec![]
    };
    fs::set_permissions(s.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let run = |args: &[&str]| s.run(s.command_via(&wrapper, args), args);
    run(&["init", "--kdf-memory-kib", "8", "--kdf-iterations", "1"]).ok();
    let src = s.join("src");
    write(&src.join("ok.txt"), "readable");
    write(&src.join("secret.txt"), "nobody may read this");
    write(&src.join("locked/inner.txt"), "nor this");
    write(&src.join("open/fine.txt"), "fine");
    chmod(&src.join("secret.txt"), 0o000);
    chmod(&src.join("locked"), 0o000);
    let r = run(&["backup", "--json", src.to_str().unwrap()]).code(3);
    assert!(r.stderr.contains("secret.txt"), "{}", r.stderr);
    assert!(r.stderr.contains("locked"), "{}", r.stderr);
    assert!(r.stderr.contains("incomplete"), "{}", r.stderr);
    let v = r.json();
    let errors: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        errors.iter().any(|p| p.ends_with("/secret.txt")),
        "{errors:?}"
    );
    assert_eq!(
        v["summary"]["errors"].as_u64().unwrap() as usize,
        errors.len()
    );
    // The snapshot exists and holds the readable files.
    let listing = run(&["ls", "--json", "latest"]).ok().json_lines();
    let has = |suffix: &str| {
        listing
            .iter()
            .any(|e| e["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
    };
    assert!(has("/src/ok.txt") && has("/src/open/fine.txt"));
    assert!(!has("/src/secret.txt"));
    chmod(&src.join("locked"), 0o755);
}
