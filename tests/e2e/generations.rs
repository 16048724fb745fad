//! Generations: forget, prune and stored policies through the CLI, and a soak test of concurrent
//! backups and prune with processes killed at random moments.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::{write, Rng, Scratch};

fn data_bytes(s: &Scratch) -> u64 {
    crate::util::walk(&s.repo().join("data"))
        .iter()
        .filter(|(_, m)| m.is_file())
        .map(|(_, m)| m.len())
        .sum()
}

#[test]
fn prune_after_forget_frees_the_space_and_a_second_prune_does_nothing() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    write(&src.join("kept"), Rng::new(1).bytes(300_000));
    write(&src.join("changing"), Rng::new(2).bytes(2_000_000));
    s.backup(&[&src], &[]);
    write(&src.join("changing"), Rng::new(3).bytes(2_000_000));
    s.backup(&[&src], &[]);
    let before = data_bytes(&s);

    let dry = s
        .cairn(&[
            "forget",
            "--keep-last",
            "1",
            "--prune",
            "--dry-run",
            "--json",
        ])
        .ok();
    assert!(dry.stdout().contains("\"removed\""), "{}", dry.stdout());
    assert_eq!(s.snapshot_ids().len(), 2, "a dry run removes nothing");
    assert_eq!(data_bytes(&s), before);

    // With no unused space allowed, the pack the two files shared is repacked too.
    s.cairn(&[
        "forget",
        "--keep-last",
        "1",
        "--prune",
        "--max-unused",
        "0%",
    ])
    .ok();
    let after = data_bytes(&s);
    assert_eq!(s.snapshot_ids().len(), 1);
    assert!(
        before - after >= 1_990_000,
        "prune freed only {} of the ~2 MB only the forgotten snapshot used",
        before - after
    );
    let second = s.cairn(&["prune", "--json"]).ok().json();
    assert_eq!(second["packs_deleted"], 0, "{second}");
    assert_eq!(second["packs_condemned"], 0, "{second}");
    assert_eq!(data_bytes(&s), after);
    s.cairn(&["check", "--read-data"]).ok();
    let out = s.join("out");
    s.cairn(&["restore", "latest", "--target", out.to_str().unwrap()])
        .ok();
    let restored = out.join(src.strip_prefix("/").unwrap());
    assert_eq!(
        std::fs::read(restored.join("changing")).unwrap(),
        Rng::new(3).bytes(2_000_000)
    );
}

/// Each backup run writes packs of its own, and prune's repacking keeps each group of snapshots
/// apart too, so two applications backed up at the same time never share a pack: after a rolling
/// forget that forces repacking, retiring one application frees its packs whole, with nothing to
/// repack even when no unused space is tolerated.
#[test]
fn retiring_one_source_frees_its_packs_whole_even_after_concurrent_backups_and_repacks() {
    let s = Scratch::new();
    s.init();
    let (a, b) = (s.join("app-a"), s.join("app-b"));
    write(&a.join("stable"), Rng::new(1).bytes(600_000));
    write(&b.join("stable"), Rng::new(2).bytes(600_000));
    for generation in 0..3 {
        write(&a.join("data"), Rng::new(10 + generation).bytes(1_000_000));
        write(&b.join("data"), Rng::new(20 + generation).bytes(1_000_000));
        let spawn = |dir: &Path| {
            s.command(&["backup", dir.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut ja, mut jb) = (spawn(&a), spawn(&b));
        assert!(ja.wait().unwrap().success() && jb.wait().unwrap().success());
    }
    // The first generation's packs hold the stable files, still needed: they are repacked.
    s.cairn(&["forget", "--keep-last", "2"]).ok();
    let rolling = s
        .cairn(&["prune", "--max-unused", "0%", "--json"])
        .ok()
        .json();
    assert!(
        rolling["packs_repacked"].as_u64().unwrap() >= 2,
        "{rolling}"
    );

    let before = data_bytes(&s);
    let listed = s
        .cairn(&["snapshots", "--path", b.to_str().unwrap(), "--json"])
        .ok()
        .json();
    let mut forget = vec!["forget", "--json"];
    forget.extend(
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap()),
    );
    let forgotten = s.cairn(&forget).ok().json();
    assert_eq!(
        forgotten["removed"].as_array().unwrap().len(),
        2,
        "{forgotten}"
    );
    assert_eq!(s.snapshot_ids().len(), 2, "app-a's snapshots stay");

    let retire = s
        .cairn(&["prune", "--max-unused", "0%", "--json"])
        .ok()
        .json();
    assert_eq!(retire["packs_repacked"], 0, "{retire}");
    assert_eq!(retire["bytes_repacked"], 0, "{retire}");
    assert!(
        before - data_bytes(&s) >= 2_500_000,
        "prune freed {} bytes of app-b's 2.6 MB",
        before - data_bytes(&s)
    );
    s.cairn(&["check", "--read-data"]).ok();
}

#[test]
fn forget_dry_run_lists_every_snapshot_with_its_decision_and_reasons() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    write(&src.join("f"), b"x");
    for day in 1..=3 {
        let time = format!("2026-03-0{day} 12:00:00");
        s.backup(&[&src], &["--time", &time]);
    }
    let report = s
        .cairn_env(
            &["forget", "--keep-daily", "2", "--dry-run", "--json"],
            &[("TZ", "UTC")],
        )
        .ok()
        .json();
    let decisions = report["groups"][0]["decisions"].as_array().unwrap();
    let keep: Vec<bool> = decisions
        .iter()
        .map(|d| d["keep"].as_bool().unwrap())
        .collect();
    assert_eq!(keep, vec![true, true, false], "{report}");
    assert_eq!(decisions[0]["reasons"][0], "daily snapshot");
    assert_eq!(s.snapshot_ids().len(), 3);
}

#[test]
fn stored_policies_drive_forget_without_flags() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    write(&src.join("f"), b"x");
    for host in ["web", "db"] {
        for i in 0..3 {
            s.backup(
                &[&src],
                &[
                    "--host",
                    host,
                    "--time",
                    &format!("2026-01-0{} 10:00:00", i + 1),
                ],
            );
        }
    }
    // No policy at all: forget refuses and removes nothing.
    s.cairn(&["forget"]).code(1);
    s.cairn(&["policy", "set", "--for-host", "web", "--keep-last", "1"])
        .ok();
    s.cairn(&["policy", "set", "--keep-last", "2"]).ok();
    let shown = s.cairn(&["policy", "show", "--json"]).ok().json();
    assert_eq!(shown.as_array().unwrap().len(), 2, "{shown}");
    s.cairn(&["forget", "--prune"]).ok();
    let snaps = s.cairn(&["snapshots", "--json"]).ok().json();
    let hosts: Vec<&str> = snaps
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts.iter().filter(|h| **h == "web").count(),
        1,
        "{hosts:?}"
    );
    assert_eq!(hosts.iter().filter(|h| **h == "db").count(), 2, "{hosts:?}");
    s.cairn(&["policy", "unset", "--for-host", "web"]).ok();
    let shown = s.cairn(&["policy", "show", "--json"]).ok().json();
    assert_eq!(shown.as_array().unwrap().len(), 1);
}

/// The content of one file of host `host` at generation `generation`: file `i` changes every
/// `i + 1` generations, and `shared` is the same on every host, so generations and hosts share data.
fn source_file(host: u64, generation: u64, i: u64) -> Vec<u8> {
    let len = 20_000 + (i as usize) * 30_000;
    Rng::new(host * 1_000_003 + i * 7919 + generation / (i + 1)).bytes(len)
}

fn shared_file(generation: u64) -> Vec<u8> {
    Rng::new(424_242 + generation / 4).bytes(150_000)
}

fn make_source(dir: &Path, host: u64, generation: u64) {
    for i in 0..5 {
        write(
            &dir.join(format!("file{i}")),
            source_file(host, generation, i),
        );
    }
    write(&dir.join("shared"), shared_file(generation));
}

fn expected(host: u64, generation: u64, name: &str) -> Vec<u8> {
    match name.strip_prefix("file") {
        Some(i) => source_file(host, generation, i.parse().unwrap()),
        None => shared_file(generation),
    }
}

/// How a child process ended.
enum End {
    Killed,
    Succeeded,
    /// It found its session had lapsed (the machine starved it longer than the expiry) and saved
    /// nothing: the protocol's safe refusal, not a failure.
    RefusedLapsedSession,
    Failed(String),
}

/// Runs `child` (with stderr piped), killing it with SIGKILL after `kill_after` if given.
fn run_maybe_killed(mut child: Child, kill_after: Option<Duration>) -> End {
    if let Some(after) = kill_after {
        std::thread::sleep(after);
        let _ = child.kill();
        let _ = child.wait();
        return End::Killed;
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        End::Succeeded
    } else if stderr.contains("without renewing its session") {
        End::RefusedLapsedSession
    } else {
        End::Failed(stderr)
    }
}

#[test]
fn soak_concurrent_backups_and_prune_with_random_kills_lose_nothing() {
    let s = Arc::new(Scratch::new());
    s.init_with(&["--session-refresh-secs", "1", "--session-expiry-secs", "6"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for host in 1..=3u64 {
        let s = s.clone();
        workers.push(std::thread::spawn(move || {
            let mut rng = Rng::new(host);
            let mut ok = 0;
            let mut generation = 0u64;
            while Instant::now() < deadline {
                generation += 1;
                let dir = s.join(format!("src/h{host}-g{generation}"));
                make_source(&dir, host, generation);
                let child = s
                    .command(&[
                        "backup",
                        "-q",
                        "--host",
                        &format!("h{host}"),
                        "--tag",
                        &format!("g{generation}"),
                        dir.to_str().unwrap(),
                    ])
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                let kill =
                    (rng.next_u64() % 10 < 3).then(|| Duration::from_millis(rng.next_u64() % 400));
                match run_maybe_killed(child, kill) {
                    End::Succeeded => ok += 1,
                    End::Failed(stderr) => {
                        panic!("backup h{host} g{generation} failed without being killed: {stderr}")
                    }
                    End::Killed | End::RefusedLapsedSession => {}
                }
                std::fs::remove_dir_all(&dir).unwrap();
            }
            ok
        }));
    }
    let pruner = {
        let s = s.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut rng = Rng::new(99);
            let mut runs = 0;
            while !stop.load(Ordering::Relaxed) {
                let child = s
                    .command(&[
                        "forget",
                        "-q",
                        "--group-by",
                        "host",
                        "--keep-last",
                        "2",
                        "--prune",
                    ])
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                let kill =
                    (rng.next_u64() % 10 < 3).then(|| Duration::from_millis(rng.next_u64() % 600));
                match run_maybe_killed(child, kill) {
                    End::Succeeded => runs += 1,
                    End::Failed(stderr) => {
                        panic!("forget --prune failed without being killed: {stderr}")
                    }
                    End::Killed | End::RefusedLapsedSession => {}
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            runs
        })
    };
    let completed: i32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    stop.store(true, Ordering::Relaxed);
    let prunes = pruner.join().unwrap();
    assert!(completed >= 6, "only {completed} backups completed");
    assert!(prunes >= 2, "only {prunes} prunes completed");

    // Killed writers' sessions expire; then a quiet prune finishes every plan.
    std::thread::sleep(Duration::from_secs(7));
    let last = s.cairn(&["prune", "--json"]).ok().json();
    assert_eq!(last["plans_waiting"], 0, "{last}");
    let left: Vec<_> = std::fs::read_dir(s.repo().join("sessions"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "sessions left behind: {left:?}");
    s.cairn(&["check", "--read-data"]).ok();

    let snaps = s.cairn(&["snapshots", "--json"]).ok().json();
    let snaps = snaps.as_array().unwrap();
    assert!(snaps.len() >= 3, "{} snapshots survived", snaps.len());
    for snap in snaps {
        let host: u64 = snap["host"].as_str().unwrap()[1..].parse().unwrap();
        let generation: u64 = snap["tags"][0].as_str().unwrap()[1..].parse().unwrap();
        let path = snap["paths"][0].as_str().unwrap();
        let out = s.join(format!("out/{}", snap["short_id"].as_str().unwrap()));
        let spec = format!("{}:{path}", snap["id"].as_str().unwrap());
        s.cairn(&["restore", &spec, "--target", out.to_str().unwrap()])
            .ok();
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["file0", "file1", "file2", "file3", "file4", "shared"]
        );
        for name in names {
            assert!(
                std::fs::read(out.join(&name)).unwrap() == expected(host, generation, &name),
                "h{host} g{generation}: {name} differs from its source"
            );
        }
    }
}
