//! The command line itself: help, usage errors, where the repository and password come from.

use std::fs;

use crate::util::*;

#[test]
fn help_lists_every_command_and_the_exit_codes() {
    let s = Scratch::new();
    let help = s.cairn(&["--help"]).ok().stdout();
    for cmd in [
        "init",
        "backup",
        "snapshots",
        "ls",
        "cat",
        "restore",
        "check",
        "diff",
        "find",
        "stats",
        "tag",
        "key",
        "forget",
        "prune",
        "policy",
    ] {
        assert!(
            help.contains(&format!("\n  {cmd} ")),
            "--help lacks {cmd}:\n{help}"
        );
    }
    for line in [
        "0    success",
        "2    usage error",
        "3    incomplete",
        "4    check found damage",
        "10   repository does not exist",
        "12   wrong password",
        "13   unsupported repository format version",
        "14   repository damaged",
        "15   the command of --stdin-from-command failed",
        "130  interrupted",
    ] {
        assert!(help.contains(line), "--help lacks exit code line {line:?}");
    }
    // The hidden test flags stay hidden.
    let init_help = s.cairn(&["init", "--help"]).ok().stdout();
    assert!(init_help.contains("--pack-size"));
    assert!(!init_help.contains("kdf-memory"));
}

#[test]
fn usage_errors_exit_2() {
    let s = Scratch::new();
    let r = s.cairn(&["backup", "--no-such-flag"]).code(2);
    assert!(r.stderr.contains("--no-such-flag"));
    s.cairn(&["no-such-command"]).code(2);
    s.cairn(&["restore", "latest"]).code(2); // --target is required
    s.cairn(&["init", "--compression", "fast"]).code(2);
}

#[test]
fn a_missing_or_empty_location_is_not_a_repository() {
    let s = Scratch::new();
    let r = s.cairn(&["snapshots"]).code(10);
    assert!(r.stderr.starts_with("cairn: "), "{}", r.stderr);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    fs::create_dir(s.repo()).unwrap();
    let r = s.cairn(&["snapshots"]).code(10);
    assert!(r.stderr.contains("not a cairn repository"), "{}", r.stderr);
    // A file is not a repository either.
    let file = s.join("file");
    fs::write(&file, "x").unwrap();
    s.cairn(&["-r", file.to_str().unwrap(), "snapshots"])
        .code(10);
}

#[test]
fn no_repository_given_is_a_clear_error() {
    let s = Scratch::new();
    let mut cmd = s.command(&["snapshots"]);
    cmd.env_remove("CAIRN_REPOSITORY");
    let r = s.run(cmd, &["snapshots"]).code(1);
    assert!(r.stderr.contains("no repository given"), "{}", r.stderr);
    assert!(r.stderr.contains("CAIRN_REPOSITORY"), "{}", r.stderr);
}

#[test]
fn init_creates_a_repository_once() {
    let s = Scratch::new();
    let r = s.init_with(&["--json", "--compression", "max"]);
    let v = r.json();
    assert_eq!(v["config"]["compression"]["level"], 19);
    assert_eq!(v["config"]["pack_size"], 256 << 10);
    assert_eq!(v["config"]["chunker"]["avg_size"], 16 << 10);
    assert_eq!(v["id"].as_str().unwrap().len(), 64);
    assert!(s.repo().join("config").is_file());
    assert_eq!(fs::read_dir(s.repo().join("keys")).unwrap().count(), 1);
    let r = s
        .cairn(&["init", "--kdf-memory-kib", "8", "--kdf-iterations", "1"])
        .code(1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    // An empty repository lists no snapshots.
    assert_eq!(
        s.cairn(&["snapshots", "--json"]).ok().json(),
        serde_json::json!([])
    );
    let text = s.cairn(&["snapshots"]).ok().stdout();
    assert!(text.contains("0 snapshots"), "{text}");
}

#[test]
fn init_rejects_bad_parameters() {
    let s = Scratch::new();
    let r = s.cairn(&[
        "init",
        "--pack-size",
        "1KiB",
        "--kdf-memory-kib",
        "8",
        "--kdf-iterations",
        "1",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("pack size"), "{}", r.stderr);
    s.cairn(&["init", "--pack-size", "lots"]).code(2);
}

#[test]
fn password_sources_file_command_and_env() {
    let s = Scratch::new();
    s.init();
    let file = s.join("pw");
    fs::write(&file, format!("{PASSWORD}\nignored second line\n")).unwrap();
    // A password file wins over CAIRN_PASSWORD.
    let r = s.cairn_env(
        &["snapshots", "--password-file", file.to_str().unwrap()],
        &[("CAIRN_PASSWORD", "wrong")],
    );
    r.ok();
    s.cairn_env(
        &["snapshots"],
        &[("CAIRN_PASSWORD_FILE", file.to_str().unwrap())],
    )
    .ok();
    let cmd = format!("printf '%s\\n' '{PASSWORD}'");
    s.cairn(&["snapshots", "--password-command", &cmd]).ok();
    s.cairn_env(
        &["snapshots"],
        &[("CAIRN_PASSWORD_COMMAND", "printf wrong")],
    )
    .code(12);
    let r = s
        .cairn(&["snapshots", "--password-command", "exit 7"])
        .code(1);
    assert!(r.stderr.contains("password command failed"), "{}", r.stderr);
    let r = s
        .cairn(&["snapshots", "--password-file", "/nonexistent/pw"])
        .code(1);
    assert!(r.stderr.contains("/nonexistent/pw"), "{}", r.stderr);
}

#[test]
fn no_password_off_a_terminal_is_a_clear_error() {
    let s = Scratch::new();
    s.init();
    let mut cmd = s.command(&["snapshots"]);
    cmd.env_remove("CAIRN_PASSWORD");
    let r = s.run(cmd, &["snapshots"]).code(1);
    assert!(r.stderr.contains("no password given"), "{}", r.stderr);
    assert!(r.stderr.contains("CAIRN_PASSWORD"), "{}", r.stderr);
}

#[test]
fn runs_without_a_cache_and_with_one() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    write(&src.join("a"), "hello");
    let _ = fs::remove_dir_all(s.join("cache"));
    s.cairn(&["--no-cache", "backup", src.to_str().unwrap()])
        .ok();
    assert!(!s.join("cache").exists(), "--no-cache wrote a cache");
    s.cairn(&["ls", "latest"]).ok();
    assert!(s.join("cache").is_dir(), "the cache was not used");
    let other = s.join("other-cache");
    s.cairn(&["--cache-dir", other.to_str().unwrap(), "ls", "latest"])
        .ok();
    assert!(other.is_dir());
}
