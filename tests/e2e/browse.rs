//! Looking into a repository: ls, cat, diff, find, stats, tag, and JSON output everywhere.

use std::fs;

use serde_json::Value;

use crate::util::*;

/// A repository with two snapshots of a small tree; the second adds, removes and changes files.
fn two_snapshots(s: &Scratch) -> (std::path::PathBuf, String, String) {
    s.init();
    let src = s.join("src");
    write(&src.join("same.txt"), "unchanged");
    write(&src.join("gone.txt"), "removed later");
    write(&src.join("sub/changed.txt"), "version 1");
    write(&src.join("sub/big.bin"), Rng::new(4).bytes(200_000));
    let a = s.backup(&[&src], &["--tag", "first"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::remove_file(src.join("gone.txt")).unwrap();
    write(&src.join("new.txt"), "added");
    write(&src.join("sub/changed.txt"), "version 2, longer");
    let b = s.backup(&[&src], &[])["id"].as_str().unwrap().to_string();
    (src, a, b)
}

#[test]
fn every_command_prints_json_with_json() {
    let s = Scratch::new();
    let (src, a, b) = two_snapshots(&s);
    let target = s.join("t");
    let pw = s.join("pw2");
    fs::write(&pw, "second password").unwrap();
    let sub = format!("latest:{}/sub", src.display());
    let docs: Vec<Vec<&str>> = vec![
        vec!["snapshots"],
        vec!["snapshots", "--group-by", "host,paths"],
        vec!["cat", "config"],
        vec!["cat", "snapshot", "latest"],
        vec!["cat", "tree", "latest"],
        vec!["cat", "tree", &sub],
        vec!["restore", "latest", "--target", target.to_str().unwrap()],
        vec!["check"],
        vec!["check", "--read-data-subset", "50%"],
        vec!["diff", &a, &b],
        vec!["stats"],
        vec!["stats", "latest"],
        vec!["key", "list"],
        vec![
            "key",
            "add",
            "--new-password-file",
            pw.to_str().unwrap(),
            "--kdf-memory-kib",
            "8",
            "--kdf-iterations",
            "1",
        ],
        vec!["tag", "--add", "x", "latest"],
    ];
    for args in docs {
        let mut full = vec!["--json"];
        full.extend_from_slice(&args);
        let r = s.cairn(&full).ok();
        let _ = r.json();
        assert!(!r.stdout().is_empty());
    }
    // Streams print one JSON document per line.
    for args in [vec!["ls", "latest"], vec!["find", "*.txt"]] {
        let mut full = vec!["--json"];
        full.extend_from_slice(&args);
        let lines = s.cairn(&full).ok().json_lines();
        assert!(lines.len() > 2, "{args:?} printed {lines:?}");
    }
    // And backup, init (a second repository).
    let other = s.join("other");
    let r = s
        .cairn(&[
            "--json",
            "-r",
            other.to_str().unwrap(),
            "init",
            "--kdf-memory-kib",
            "8",
            "--kdf-iterations",
            "1",
        ])
        .ok();
    assert_eq!(r.json()["location"], other.to_str().unwrap());
    let r = s.cairn(&["--json", "backup", src.to_str().unwrap()]).ok();
    assert!(r.json()["summary"]["files_unmodified"].as_u64().unwrap() > 0);
    // --quiet prints nothing on success.
    let r = s.cairn(&["-q", "backup", src.to_str().unwrap()]).ok();
    assert!(
        r.stdout.is_empty() && r.stderr.is_empty(),
        "{}{}",
        r.stdout(),
        r.stderr
    );
}

#[test]
fn cat_prints_every_kind_of_object() {
    let s = Scratch::new();
    let (src, a, _) = two_snapshots(&s);
    let config = s.cairn(&["cat", "config"]).ok().json();
    assert_eq!(config["version"], 1);

    let snap = s.cairn(&["cat", "snapshot", &a[..8]]).ok().json();
    assert_eq!(snap["id"], a.as_str());
    assert_eq!(snap["tags"], serde_json::json!(["first"]));

    // The tree at the source path, through the snapshot and through the tree id.
    let spec = format!("latest:{}", src.display());
    let node = s.cairn(&["cat", "tree", &spec]).ok().json();
    let entries = node["leaf"].as_array().expect("a leaf node");
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["new.txt", "same.txt", "sub"]);
    let root = snap["tree"].as_str().unwrap();
    let by_id = s.cairn(&["cat", "tree", &root[..12]]).ok().json();
    assert_eq!(
        by_id["leaf"][0]["name"],
        src.components()
            .nth(1)
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
    );

    // A data blob prints its bytes: same.txt is one chunk.
    let same = entries.iter().find(|e| e["name"] == "same.txt").unwrap();
    let blob = same["content"][0]["chunk"].as_str().unwrap();
    let r = s.cairn(&["cat", "blob", blob]).ok();
    assert_eq!(r.stdout, b"unchanged");
    let j = s.cairn(&["--json", "cat", "blob", &blob[..16]]).ok().json();
    assert_eq!(j["length"], 9);
    let tree_blob = s.cairn(&["cat", "blob", root]).ok().json();
    assert!(tree_blob["leaf"].is_array());

    // Index, pack and key by their file names.
    let first_file = |dir: &str| -> String {
        let mut names: Vec<String> = walk(&s.repo().join(dir))
            .into_iter()
            .filter(|(_, m)| m.is_file())
            .map(|(p, _)| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        names.sort();
        names.remove(0)
    };
    let index = s.cairn(&["cat", "index", &first_file("index")]).ok().json();
    let packs = index["packs"].as_array().unwrap();
    assert!(!packs.is_empty());
    let pack_id = packs[0]["id"].as_str().unwrap();
    let pack = s.cairn(&["cat", "pack", &pack_id[..10]]).ok().json();
    assert_eq!(pack["id"], pack_id);
    assert_eq!(
        pack["blobs"], packs[0]["blobs"],
        "the pack header and the index disagree"
    );
    let key = s
        .cairn(&["cat", "key", &first_file("keys")[..8]])
        .ok()
        .json();
    assert_eq!(key["kdf"]["algorithm"], "argon2id");
    assert!(!key.to_string().contains(PASSWORD));

    // Unknown ids are clear errors.
    let r = s.cairn(&["cat", "pack", "0000000000"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no pack"), "{}", r.stderr);
    s.cairn(&["cat", "blob", "zz"]).code(1);
}

#[test]
fn ls_long_and_one_directory() {
    let s = Scratch::new();
    let (src, _, _) = two_snapshots(&s);
    let sub = src.join("sub");
    let out = s
        .cairn(&["ls", "latest", sub.to_str().unwrap()])
        .ok()
        .stdout();
    let lines: Vec<&str> = out.lines().skip(1).collect();
    let expected = [
        sub.display().to_string(),
        format!("{}/big.bin", sub.display()),
        format!("{}/changed.txt", sub.display()),
    ];
    assert_eq!(lines, expected);
    let long = s
        .cairn(&["ls", "-l", "latest", sub.to_str().unwrap()])
        .ok()
        .stdout();
    assert!(long.contains("-rw-r--r--"), "{long}");
    assert!(long.contains("200000"), "{long}");
    let r = s.cairn(&["ls", "latest", "/no/such/path"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("/no/such/path"), "{}", r.stderr);
}

#[test]
fn diff_lists_added_removed_and_changed_files() {
    let s = Scratch::new();
    let (src, a, b) = two_snapshots(&s);
    let v = s.cairn(&["--json", "diff", &a[..8], &b[..8]]).ok().json();
    let changes: Vec<(String, String)> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let p = |rel: &str| format!("{}/{rel}", src.display());
    assert!(
        changes.contains(&(p("gone.txt"), "removed".into())),
        "{changes:?}"
    );
    assert!(
        changes.contains(&(p("new.txt"), "added".into())),
        "{changes:?}"
    );
    assert!(
        changes.contains(&(p("sub/changed.txt"), "modified".into())),
        "{changes:?}"
    );
    assert!(
        !changes.iter().any(|(path, _)| *path == p("same.txt")),
        "{changes:?}"
    );
    assert!(
        !changes.iter().any(|(path, _)| *path == p("sub/big.bin")),
        "{changes:?}"
    );
    assert_eq!(v["added_files"], 1);
    assert_eq!(v["removed_files"], 1);
    let text = s.cairn(&["diff", &a, "latest"]).ok().stdout();
    assert!(text.contains(&format!("+    {}", p("new.txt"))), "{text}");
    assert!(text.contains(&format!("-    {}", p("gone.txt"))), "{text}");
    assert!(
        text.contains(&format!("M    {}", p("sub/changed.txt"))),
        "{text}"
    );
}

#[test]
fn find_by_pattern_and_by_blob() {
    let s = Scratch::new();
    let (src, a, b) = two_snapshots(&s);
    let found = s.cairn(&["--json", "find", "*.txt"]).ok().json_lines();
    let in_snap = |id: &str| -> Vec<String> {
        let mut v: Vec<String> = found
            .iter()
            .filter(|m| m["snapshot"] == id)
            .map(|m| {
                m["path"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(in_snap(&a), ["changed.txt", "gone.txt", "same.txt"]);
    assert_eq!(in_snap(&b), ["changed.txt", "new.txt", "same.txt"]);
    let only_b = s
        .cairn(&["--json", "find", "gone.txt", "--snapshot", &b[..8]])
        .ok()
        .json_lines();
    assert!(only_b.is_empty(), "{only_b:?}");
    let text = s.cairn(&["find", "big.bin"]).ok().stdout();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains(&format!("{}/sub/big.bin", src.display())));

    // The blob of big.bin's first chunk leads back to the file.
    let spec = format!("latest:{}/sub", src.display());
    let node = s.cairn(&["cat", "tree", &spec]).ok().json();
    let big = node["leaf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "big.bin")
        .unwrap()
        .clone();
    let chunk = big["content"][0]["chunk"].as_str().unwrap().to_string();
    let hits = s
        .cairn(&["--json", "find", "--blob", &chunk[..12]])
        .ok()
        .json_lines();
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .all(|h| h["path"].as_str().unwrap().ends_with("/sub/big.bin")),
        "{hits:?}"
    );
}

#[test]
fn stats_show_deduplication_of_identical_trees() {
    let s = Scratch::new();
    s.init();
    let mut rng = Rng::new(5);
    let one = s.join("one");
    for i in 0..5 {
        write(&one.join(format!("f{i}")), rng.bytes(100_000));
    }
    let two = s.join("two");
    fs::create_dir(&two).unwrap();
    for i in 0..5 {
        fs::copy(one.join(format!("f{i}")), two.join(format!("f{i}"))).unwrap();
    }
    s.backup(&[&one], &[]);
    let second = s.backup(&[&two], &[]);
    assert_eq!(
        second["summary"]["data_blobs_added"], 0,
        "identical content was stored twice"
    );
    let st = s.cairn(&["--json", "stats"]).ok().json();
    assert_eq!(st["snapshots"], 2);
    assert_eq!(st["files"], 10);
    assert_eq!(st["restore_size"], 1_000_000);
    assert_eq!(st["raw_data_size"], 500_000);
    assert!(st["dedup_ratio"].as_f64().unwrap() > 1.9, "{st}");
    let one_snap = s.cairn(&["--json", "stats", "latest"]).ok().json();
    assert!(
        (one_snap["dedup_ratio"].as_f64().unwrap() - 1.0).abs() < 0.01,
        "{one_snap}"
    );
    let text = s.cairn(&["stats"]).ok().stdout();
    assert!(text.contains("Deduplication:      2.00x"), "{text}");
}

#[test]
fn tags_are_added_removed_and_set() {
    let s = Scratch::new();
    let (_, a, b) = two_snapshots(&s);
    let tags_of = |host_filter: &[&str]| -> Vec<Value> {
        let mut args = vec!["snapshots", "--json"];
        args.extend_from_slice(host_filter);
        s.cairn(&args)
            .ok()
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["tags"].clone())
            .collect()
    };
    s.cairn(&["tag", "--add", "keep,monthly", &b[..8]]).ok();
    assert_eq!(tags_of(&[])[1], serde_json::json!(["keep", "monthly"]));
    // The old id is gone; `latest` finds the new one.
    assert!(!s.snapshot_ids().contains(&b));
    s.cairn(&["tag", "--remove", "monthly", "latest"]).ok();
    assert_eq!(tags_of(&[])[1], serde_json::json!(["keep"]));
    s.cairn(&["tag", "--set", "only", "--tag", "first"]).ok();
    assert_eq!(tags_of(&[])[0], serde_json::json!(["only"]));
    assert!(!s.snapshot_ids().contains(&a));
    // Selecting by tag, then removing all tags of everything.
    let v = s
        .cairn(&[
            "--json", "tag", "--set", "", "--tag", "only", "--tag", "keep",
        ])
        .ok()
        .json();
    assert_eq!(v["changed"].as_array().unwrap().len(), 2);
    assert_eq!(
        tags_of(&[]),
        vec![serde_json::json!([]), serde_json::json!([])]
    );
    // Nothing to select, or nothing to do, is an error.
    s.cairn(&["tag", "--add", "x"]).code(1);
    s.cairn(&["tag", "latest"]).code(1);
    s.cairn(&["tag", "--set", "a", "--add", "b", "latest"])
        .code(2);
    s.cairn(&["check"]).ok();
}
