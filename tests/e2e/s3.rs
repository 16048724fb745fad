//! Repositories in object storage: the CLI against a real S3 server process (s3s-fs, see
//! `cairn-test-support`) over HTTP with signed requests, as a backup job in a cluster would use
//! S3 or MinIO.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use cairn_test_support::S3Server;

use crate::roundtrip::restored;
use crate::util::{assert_same_tree, write, Compare, Rng, Scratch};

/// A scratch directory whose repository is `repo/` in a new bucket of `server`.
fn repo_on(server: &S3Server, bucket: &str) -> Scratch {
    server.bucket(bucket);
    Scratch::with_location(server.location(bucket, "repo"), &server.env())
}

fn make_tree(root: &Path, seed: u64) {
    let mut rng = Rng::new(seed);
    write(&root.join("big.bin"), rng.bytes(3_000_000));
    for d in 0..3 {
        for f in 0..20 {
            write(
                &root.join(format!("dir{d}/file{f}.txt")),
                rng.bytes(100 + 500 * f),
            );
        }
    }
}

#[test]
fn s3_round_trip_with_check_and_restore() {
    let Some(server) = S3Server::start() else {
        return;
    };
    let s = repo_on(&server, "roundtrip");
    s.init();
    let src = s.join("src");
    make_tree(&src, 1);
    s.backup(&[&src], &[]);
    write(&src.join("dir1/file3.txt"), "changed");
    let second = s.backup(&[&src], &[]);
    assert_eq!(second["summary"]["files_changed"], 1, "{second}");

    // The repository lives under the prefix in the bucket, as objects.
    let in_bucket = server.bucket("roundtrip").join("repo");
    assert!(in_bucket.join("config").is_file());
    assert!(in_bucket.join("data").is_dir());

    s.cairn(&["check", "--read-data"]).ok();
    let out = s.join("out");
    s.cairn(&["restore", "latest", "--target", out.to_str().unwrap()])
        .ok();
    assert_same_tree(&src, &restored(&out, &src), Compare::default());
}

#[test]
fn bad_credentials_and_missing_buckets_are_named_in_the_error() {
    let Some(server) = S3Server::start() else {
        return;
    };
    let s = repo_on(&server, "creds");
    s.init();
    let wrong = s.cairn_env(
        &["snapshots"],
        &[("AWS_SECRET_ACCESS_KEY", "not-the-secret")],
    );
    assert_ne!(wrong.code, 0);
    assert!(
        wrong.stderr.contains("config") && !wrong.stderr.contains("panicked"),
        "{}",
        wrong.stderr
    );
    let missing = s.cairn_env(
        &["snapshots"],
        &[("CAIRN_REPOSITORY", &server.location("no-such-bucket", "r"))],
    );
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("no-such-bucket"),
        "{}",
        missing.stderr
    );
    // A bucket name S3 refuses (too short) is a definite answer: reported, not retried.
    let refused = s.cairn_env(
        &["snapshots"],
        &[("CAIRN_REPOSITORY", &server.location("b", "r"))],
    );
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("400") && !refused.stderr.contains("gave up after"),
        "{}",
        refused.stderr
    );
}

/// Two backup jobs and a forget-and-prune job at the same time on one S3 repository: nothing is
/// lost, and every snapshot left restores byte for byte.
#[test]
fn s3_concurrent_backups_and_prune_lose_nothing() {
    let Some(server) = S3Server::start() else {
        return;
    };
    let s = repo_on(&server, "concurrent");
    s.init();
    let (a, b) = (s.join("a"), s.join("b"));
    for round in 0..3u64 {
        make_tree(&a, 10 + round);
        make_tree(&b, 20 + round);
        let spawn = |args: &[&str]| {
            s.command(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let jobs = [
            spawn(&["backup", a.to_str().unwrap()]),
            spawn(&["backup", b.to_str().unwrap()]),
            spawn(&["forget", "--keep-last", "1", "--prune"]),
        ];
        for job in jobs {
            let out = job.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    s.cairn(&["forget", "--keep-last", "1", "--prune"]).ok();
    s.cairn(&["check", "--read-data"]).ok();
    // The latest snapshot of each directory is its last round, which is what it holds now.
    for dir in [&a, &b] {
        let out = s.join("out");
        let _ = std::fs::remove_dir_all(&out);
        let path = format!("--path={}", dir.display());
        s.cairn(&[
            "restore",
            "latest",
            &path,
            "--target",
            out.to_str().unwrap(),
        ])
        .ok();
        assert_same_tree(dir, &restored(&out, dir), Compare::default());
    }
}

/// The S3 server goes away in the middle of a run and comes back: the backup rides it out with
/// retries, says so, and the repository checks clean.
#[test]
fn a_server_outage_is_ridden_out_by_retries() {
    let Some(mut server) = S3Server::start() else {
        return;
    };
    let s = repo_on(&server, "outage");
    s.init();
    let src = s.join("src");
    make_tree(&src, 5);
    server.stop();
    let job = s
        .command(&["backup", src.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    server.resume();
    let out = job.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("retrying"), "{stderr}");
    s.cairn(&["check", "--read-data"]).ok();
    assert_eq!(s.snapshot_ids().len(), 1);
}

/// Disaster recovery from site A to site B: two buckets, other keys. The copy restores alike,
/// checks clean, is not repeated, and (with copied chunker parameters) a backup of the same files
/// straight into site B stores next to nothing new.
#[test]
fn copy_between_two_buckets_sends_only_what_is_missing() {
    let Some(server) = S3Server::start() else {
        return;
    };
    let site_a = repo_on(&server, "site-a");
    let site_b = repo_on(&server, "site-b");
    site_a.init();
    let src = site_a.join("src");
    make_tree(&src, 30);
    site_a.backup(&[&src], &[]);
    write(&src.join("dir0/file0.txt"), "second generation");
    site_a.backup(&[&src], &[]);

    let from = server.location("site-a", "repo");
    let from_env = [("CAIRN_FROM_PASSWORD", crate::util::PASSWORD)];
    site_b
        .cairn_env(
            &[
                "init",
                "--kdf-memory-kib",
                "8",
                "--kdf-iterations",
                "1",
                "--from-repo",
                &from,
                "--copy-chunker-params",
            ],
            &from_env,
        )
        .ok();
    let copied = site_b
        .cairn_env(&["copy", "--from-repo", &from, "--json"], &from_env)
        .ok()
        .json();
    assert_eq!(copied["copied"].as_array().unwrap().len(), 2, "{copied}");
    assert_eq!(copied["chunking_differs"], false, "{copied}");
    site_b.cairn(&["check", "--read-data"]).ok();
    let out = site_b.join("out");
    site_b
        .cairn(&["restore", "latest", "--target", out.to_str().unwrap()])
        .ok();
    assert_same_tree(&src, &restored(&out, &src), Compare::default());

    let again = site_b
        .cairn_env(&["copy", "--from-repo", &from, "--json"], &from_env)
        .ok()
        .json();
    assert_eq!(again["copied"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(again["skipped"].as_array().unwrap().len(), 2, "{again}");
    assert_eq!(again["data_blobs_added"], 0, "{again}");

    let direct = site_b.backup(&[&src], &["--force"]);
    assert_eq!(direct["summary"]["data_blobs_added"], 0, "{direct}");
}
