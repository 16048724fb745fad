//! The flags of `backup`: excludes, file systems, streams, host, tags, time, parents, and naming
//! snapshots by `latest` and id prefixes.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use crate::roundtrip::restored;
use crate::util::*;

/// Paths of the files (not directories) a snapshot holds below `below`, relative to it.
fn files_in(s: &Scratch, snapshot: &str, below: &Path) -> Vec<String> {
    let prefix = format!("{}/", below.display());
    let mut out: Vec<String> = s
        .cairn(&["ls", "--json", snapshot])
        .ok()
        .json_lines()
        .into_iter()
        .filter(|v| v["struct_type"] == "node" && v["type"] == "file")
        .filter_map(|v| v["path"].as_str()?.strip_prefix(&prefix).map(String::from))
        .collect();
    out.sort();
    out
}

#[test]
fn exclude_globs_and_exclude_files() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    for f in [
        "a.txt",
        "b.log",
        "c.tmp",
        "cache/x.txt",
        "keep/cache/y.txt",
        "keep/z.txt",
    ] {
        write(&src.join(f), f);
    }
    let excludes = s.join("excludes");
    fs::write(
        &excludes,
        "# temporary files\n\n*.tmp\n   \n# and caches\ncache\n",
    )
    .unwrap();
    let v = s.backup(
        &[&src],
        &[
            "--exclude",
            "*.log",
            "--exclude-file",
            excludes.to_str().unwrap(),
        ],
    );
    assert_eq!(files_in(&s, "latest", &src), ["a.txt", "keep/z.txt"]);
    assert!(v["snapshot"]["excludes"].as_array().unwrap().len() >= 3);
    // An exclude file that cannot be read is an error, not an empty list.
    let r = s.cairn(&[
        "backup",
        "--exclude-file",
        "/nonexistent/list",
        src.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("/nonexistent/list"), "{}", r.stderr);
}

#[test]
fn one_file_system_stays_on_the_file_system_of_each_path() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    write(&src.join("a/b"), "same fs");
    write(&src.join("c"), "also");
    let mnt = src.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let v = s.backup(&[&src], &["-x"]);
    assert_eq!(v["errors"], serde_json::json!([]));
    assert_eq!(files_in(&s, "latest", &src), ["a/b", "c"]);

    // A second file system below the path: a tmpfs mounted in a private mount namespace (so it goes
    // away with the command), which needs root and unshare(1).
    let script = format!(
        "mount -t tmpfs cairn-test {m} && echo other > {m}/inside && exec {cairn} backup --json \"$@\" {src}",
        m = mnt.display(),
        cairn = CAIRN,
        src = src.display()
    );
    let run = |flags: &[&str]| {
        let mut cmd = std::process::Command::new("unshare");
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
        ]);
        cmd.args(flags);
        cmd.env("CAIRN_REPOSITORY", s.repo())
            .env("CAIRN_PASSWORD", PASSWORD)
            .env("CAIRN_CACHE_DIR", s.join("cache"))
            .stdin(Stdio::null());
        cmd.output()
    };
    match run(&[]) {
        Ok(out) if out.status.success() => {}
        other => {
            eprintln!(
                "skipped the mount part: cannot mount a tmpfs in a private namespace here ({:?})",
                other.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            );
            return;
        }
    }
    assert_eq!(files_in(&s, "latest", &src), ["a/b", "c", "mnt/inside"]);
    let out = run(&["-x"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(files_in(&s, "latest", &src), ["a/b", "c"]);
    // The mount point itself is kept, as an empty directory.
    let listing = s.cairn(&["ls", "--json", "latest"]).ok().json_lines();
    let mnt_path = mnt.to_str().unwrap();
    assert!(listing
        .iter()
        .any(|v| v["path"] == mnt_path && v["type"] == "dir"));
}

#[test]
fn stdin_is_stored_as_one_file() {
    let s = Scratch::new();
    s.init();
    let mut data = Rng::new(3).bytes(300_000);
    data.extend_from_slice(b"end");
    let mut cmd = s.command(&[
        "backup",
        "--json",
        "--stdin",
        "--stdin-filename",
        "dump.sql",
    ]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["snapshot"]["source"]["type"], "stream");
    assert_eq!(v["snapshot"]["source"]["filename"], "dump.sql");
    let target = s.join("t");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    assert_eq!(fs::read(target.join("dump.sql")).unwrap(), data);
    // The snapshot table says where the stream came from.
    assert!(s.cairn(&["snapshots"]).ok().stdout().contains("dump.sql"));
}

#[test]
fn stdin_from_command_saves_only_when_the_command_succeeds() {
    let s = Scratch::new();
    s.init();
    let v = s
        .cairn(&[
            "backup",
            "--json",
            "--stdin-filename",
            "out.txt",
            "--stdin-from-command",
            "--",
            "sh",
            "-c",
            "printf data",
        ])
        .ok()
        .json();
    assert_eq!(
        v["snapshot"]["source"]["command"],
        serde_json::json!(["sh", "-c", "printf data"])
    );
    let target = s.join("t");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    assert_eq!(fs::read(target.join("out.txt")).unwrap(), b"data");

    let before = s.snapshot_ids();
    let r = s
        .cairn(&[
            "backup",
            "--stdin-from-command",
            "--",
            "sh",
            "-c",
            "printf partial; exit 3",
        ])
        .code(15);
    assert!(r.stderr.contains("no snapshot was saved"), "{}", r.stderr);
    assert_eq!(s.snapshot_ids(), before, "a failed command left a snapshot");
    let r = s
        .cairn(&[
            "backup",
            "--stdin-from-command",
            "--",
            "/nonexistent/program",
        ])
        .code(15);
    assert!(r.stderr.contains("/nonexistent/program"), "{}", r.stderr);
    assert_eq!(s.snapshot_ids(), before);
    // A repository that then checks clean.
    s.cairn(&["check"]).ok();
}

#[test]
fn host_tags_and_time_are_recorded_and_filter() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    write(&src.join("f"), "x");
    let p = src.to_str().unwrap();
    s.cairn(&[
        "backup",
        "-H",
        "alpha",
        "--tag",
        "daily,db",
        "--time",
        "2026-01-02T03:04:05Z",
        p,
    ])
    .ok();
    s.cairn_env(
        &[
            "backup",
            "--host",
            "beta",
            "--tag",
            "weekly",
            "--time",
            "2026-01-03 10:00:00",
            p,
        ],
        &[("TZ", "UTC")],
    )
    .ok();
    s.cairn(&["backup", "-H", "alpha", p]).ok();
    let all = s.cairn(&["snapshots", "--json"]).ok().json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["host"], "alpha");
    assert_eq!(all[0]["tags"], serde_json::json!(["daily", "db"]));
    assert_eq!(all[0]["time"], "2026-01-02T03:04:05Z");
    assert_eq!(all[1]["host"], "beta");
    assert_eq!(all[1]["time"], "2026-01-03T10:00:00Z");
    let count = |args: &[&str]| {
        let mut a = vec!["snapshots", "--json"];
        a.extend_from_slice(args);
        s.cairn(&a).ok().json().as_array().unwrap().len()
    };
    assert_eq!(count(&["--host", "alpha"]), 2);
    assert_eq!(count(&["--tag", "daily"]), 1);
    assert_eq!(count(&["--tag", "daily,weekly"]), 0);
    assert_eq!(count(&["--tag", "daily", "--tag", "weekly"]), 2);
    assert_eq!(count(&["--path", p]), 3);
    assert_eq!(count(&["--latest", "1"]), 2); // one per host and paths
    let grouped = s
        .cairn(&["snapshots", "--json", "--group-by", "host"])
        .ok()
        .json();
    assert_eq!(grouped.as_array().unwrap().len(), 2);
    let table = s.cairn(&["snapshots", "--group-by", "host"]).ok().stdout();
    assert!(
        table.contains("host [alpha]") && table.contains("host [beta]"),
        "{table}"
    );
    s.cairn(&["backup", "--time", "yesterday-ish", p]).code(2);
}

#[test]
fn latest_and_id_prefixes_name_snapshots() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    write(&src.join("old"), "1");
    let first = s.backup(&[&src], &[])["id"].as_str().unwrap().to_string();
    write(&src.join("new"), "2");
    let second = s.backup(&[&src], &[])["id"].as_str().unwrap().to_string();
    assert_eq!(files_in(&s, "latest", &src), ["new", "old"]);
    assert_eq!(files_in(&s, &first[..8], &src), ["old"]);
    assert_eq!(files_in(&s, &second[..6], &src), ["new", "old"]);
    assert_eq!(files_in(&s, &first.to_uppercase(), &src), ["old"]);
    let snap = s.cairn(&["cat", "snapshot", &first[..10]]).ok().json();
    assert_eq!(snap["id"], first.as_str());
    let r = s.cairn(&["ls", "deadbeef"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("no snapshot"), "{}", r.stderr);
    let r = s.cairn(&["ls", "yesterday"]).code(1);
    assert!(r.stderr.contains("latest"), "{}", r.stderr);
    // --parent names the parent explicitly.
    let v = s.backup(&[&src], &["--parent", &first[..8]]);
    assert_eq!(v["parent"], first.as_str());
    let target = s.join("t");
    s.cairn(&["restore", &first[..8], "--target", target.to_str().unwrap()])
        .ok();
    assert!(restored(&target, &src).join("old").exists());
    assert!(!restored(&target, &src).join("new").exists());
}
