//! Backup then restore gives back the same tree: bytes, types and metadata.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};

use crate::util::*;

/// Where `restore --target target` puts the backed-up path `src`: snapshots hold absolute paths.
pub fn restored(target: &Path, src: &Path) -> PathBuf {
    target.join(src.strip_prefix("/").unwrap())
}

#[test]
fn every_kind_of_entry_comes_back_with_its_metadata() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    let mut rng = Rng::new(1);
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
    // 4 KiB, a 64 MiB hole, 4 KiB.
    {
        let mut f = fs::File::create(src.join("sparse")).unwrap();
        f.write_all(&[7u8; 4096]).unwrap();
        f.seek(SeekFrom::Start(64 << 20)).unwrap();
        f.write_all(&[9u8; 4096]).unwrap();
    }
    fs::write(src.join(os(b"caf\xe9-latin1")), "not utf-8 name").unwrap();
    fs::create_dir(src.join(os(b"dir-\xff\xfe"))).unwrap();
    write(&src.join(os(b"dir-\xff\xfe")).join("inside"), "x");
    mkfifo(&src.join("pipe"));
    fs::create_dir(src.join("sticky")).unwrap();
    chmod(&src.join("sticky"), 0o1777);
    let xattrs_ok = set_xattr(&src.join("plain.txt"), "user.comment", b"a comment")
        && set_xattr(&src.join("dir"), "user.binary", &[0, 1, 2, 255]);
    if !xattrs_ok {
        eprintln!("note: this file system refuses user xattrs; they are not compared");
    }
    // Fixed times with nanoseconds, directories last (creating entries changes them).
    set_mtime(&src.join("plain.txt"), 1_600_000_000_123_456_789);
    set_mtime(&src.join("link"), 1_500_000_000_000_000_001);
    set_mtime(&src.join("dir/nested"), 1_400_000_000_999_999_999);
    set_mtime(&src.join("dir"), 1_300_000_000_000_000_000);
    set_mtime(&src, 1_700_000_000_500_000_000);

    let summary = s.backup(&[&src], &[]);
    assert_eq!(summary["errors"], serde_json::json!([]));
    // ls shows every entry with its type.
    let listing = s.cairn(&["ls", "--json", "latest"]).ok().json_lines();
    let kind_of = |name: &str| {
        listing
            .iter()
            .find(|v| {
                v["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(&format!("/src/{name}")))
            })
            .map(|v| v["type"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("ls lacks {name}"))
    };
    assert_eq!(kind_of("plain.txt"), "file");
    assert_eq!(kind_of("link"), "symlink");
    assert_eq!(kind_of("pipe"), "fifo");
    assert_eq!(kind_of("dir"), "dir");
    let link = listing
        .iter()
        .find(|v| v["path"].as_str().is_some_and(|p| p.ends_with("/link")))
        .unwrap();
    assert_eq!(link["target"], "plain.txt");

    let target = s.join("target");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    let back = restored(&target, &src);
    assert_same_tree(
        &src,
        &back,
        Compare {
            xattrs: xattrs_ok,
            ..Compare::default()
        },
    );
    if xattrs_ok {
        assert_eq!(
            xattrs(&back.join("plain.txt")),
            vec![(b"user.comment".to_vec(), b"a comment".to_vec())]
        );
    }
    // The hole stays a hole.
    let meta = fs::metadata(back.join("sparse")).unwrap();
    assert_eq!(meta.len(), (64 << 20) + 4096);
    assert!(
        meta.blocks() * 512 < 1 << 20,
        "the sparse file takes {} bytes on disk",
        meta.blocks() * 512
    );
    // Hard links are links again, not copies.
    let h1 = fs::metadata(back.join("h1")).unwrap();
    assert_eq!(
        h1.ino(),
        fs::metadata(back.join("dir/nested/h3")).unwrap().ino()
    );
    assert_eq!(h1.nlink(), 3);
}

#[test]
fn restore_selects_a_subpath_and_patterns() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    write(&src.join("keep/a.txt"), "a");
    write(&src.join("keep/b.log"), "b");
    write(&src.join("keep/sub/c.txt"), "c");
    write(&src.join("other/d.txt"), "d");
    s.backup(&[&src], &[]);

    // SNAPSHOT:PATH restores that directory's contents into the target.
    let t1 = s.join("t1");
    let spec = format!("latest:{}/keep", src.display());
    s.cairn(&["restore", &spec, "--target", t1.to_str().unwrap()])
        .ok();
    assert_eq!(fs::read_to_string(t1.join("a.txt")).unwrap(), "a");
    assert_eq!(fs::read_to_string(t1.join("sub/c.txt")).unwrap(), "c");
    assert!(!t1.join("other").exists() && !restored(&t1, &src).exists());

    let t2 = s.join("t2");
    s.cairn(&[
        "restore",
        "latest",
        "--target",
        t2.to_str().unwrap(),
        "--exclude",
        "*.log",
    ])
    .ok();
    let back = restored(&t2, &src);
    assert!(back.join("keep/a.txt").exists());
    assert!(!back.join("keep/b.log").exists());
    assert!(back.join("other/d.txt").exists());

    let t3 = s.join("t3");
    let include = format!("{}/keep/sub", src.display());
    s.cairn(&[
        "restore",
        "latest",
        "--target",
        t3.to_str().unwrap(),
        "--include",
        &include,
    ])
    .ok();
    let back = restored(&t3, &src);
    assert!(back.join("keep/sub/c.txt").exists());
    assert!(!back.join("keep/a.txt").exists());
    assert!(!back.join("other").exists());

    let t4 = s.join("t4");
    let r = s
        .cairn(&[
            "restore",
            "latest",
            "--target",
            t4.to_str().unwrap(),
            "--verify",
            "--json",
        ])
        .ok();
    assert_eq!(r.json()["files"], 4);
    let r = s.cairn(&[
        "restore",
        "latest:/no/such/dir",
        "--target",
        t4.to_str().unwrap(),
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("/no/such/dir"), "{}", r.stderr);
}

#[test]
fn a_second_backup_reads_only_what_changed() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    let mut rng = Rng::new(2);
    for i in 0..40 {
        write(
            &src.join(format!("d{}/f{i}", i % 4)),
            rng.bytes(20_000 + i * 1000),
        );
    }
    let first = s.backup(&[&src], &[]);
    let total = first["summary"]["bytes_total"].as_u64().unwrap();
    assert_eq!(first["summary"]["files_new"], 40);

    let second = s.backup(&[&src], &[]);
    let sum = &second["summary"];
    assert_eq!(sum["files_unmodified"], 40, "{sum}");
    assert_eq!(sum["files_new"], 0);
    assert_eq!(sum["files_changed"], 0);
    assert_eq!(sum["bytes_read"], 0);
    assert_eq!(sum["data_blobs_added"], 0);
    assert!(sum["bytes_added"].as_u64().unwrap() < 4096, "{sum}");
    assert_eq!(second["parent"], first["id"]);

    // Change one file: only it is read, and only about its size is added.
    let changed = src.join("d1/f5");
    write(&changed, rng.bytes(25_000));
    let third = s.backup(&[&src], &[]);
    let sum = &third["summary"];
    assert_eq!(sum["files_changed"], 1, "{sum}");
    assert_eq!(sum["files_unmodified"], 39);
    assert_eq!(sum["bytes_read"], 25_000);
    assert!(
        sum["bytes_added"].as_u64().unwrap() < 25_000 + 8192,
        "{sum}"
    );
    assert!(total > 40 * 20_000);

    // --force reads everything again but stores nothing new.
    let forced = s.backup(&[&src], &["--force"]);
    let sum = &forced["summary"];
    assert_eq!(sum["files_unmodified"], 0, "{sum}");
    assert_eq!(sum["data_blobs_added"], 0, "{sum}");

    // The latest snapshot restores the changed content.
    let target = s.join("target");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    assert_same_tree(&src, &restored(&target, &src), Compare::default());
}

/// A real tree of the system, the whole of /usr/share (~650 MB, ~45k files, symlinks, hard links,
/// setgid directories): every byte and the metadata come back.
#[test]
fn usr_share_round_trip() {
    let share = Path::new("/usr/share");
    if !share.is_dir() {
        eprintln!("skipped: /usr/share does not exist here");
        return;
    }
    let s = Scratch::new();
    s.init();
    let summary = s.backup(&[share], &[]);
    assert_eq!(summary["errors"], serde_json::json!([]), "{summary}");
    assert!(
        summary["summary"]["files_new"].as_u64().unwrap() > 1000,
        "{summary}"
    );
    let target = s.join("target");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    assert_same_tree(share, &restored(&target, share), Compare::default());
    s.cairn(&["check", "--read-data"]).ok();
}
