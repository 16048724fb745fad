//! Behaviour that depends on how cairn is run: interrupted with SIGINT, and on a terminal (progress
//! bars) or off one (no bars, only the summary).

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::*;

/// True once process `pid` catches SIGINT (its handler is installed).
fn catches_sigint(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGINT - 1)) != 0)
}

#[test]
fn sigint_exits_130_and_saves_no_snapshot() {
    let s = Scratch::new();
    s.init();
    let mut cmd = s.command(&["backup", "--stdin"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Some data, then the stream stays open: the backup is under way, waiting for more.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&Rng::new(9).bytes(1 << 20)).unwrap();
    let started = Instant::now();
    while !catches_sigint(child.id()) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "cairn never installed its handler"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cairn: interrupted"));
    assert!(s.snapshot_ids().is_empty());
    s.cairn(&["check"]).ok();
}

#[test]
fn off_a_terminal_there_are_no_progress_bars() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    write(&src.join("f"), Rng::new(10).bytes(100_000));
    let r = s.cairn(&["backup", src.to_str().unwrap()]).ok();
    assert!(r.stderr.is_empty(), "stderr off a terminal: {:?}", r.stderr);
    assert!(r.stdout().contains("snapshot "), "{}", r.stdout());
    let t = s.join("t");
    let r = s
        .cairn(&["restore", "latest", "--target", t.to_str().unwrap()])
        .ok();
    assert!(r.stderr.is_empty(), "{:?}", r.stderr);
}

/// Runs `cairn ARGS` on a pseudo-terminal (script(1)); returns whether it succeeded and what it drew.
fn on_terminal(s: &Scratch, args: &str) -> (bool, String) {
    let line = format!("{CAIRN} {args}");
    let out = std::process::Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .env("CAIRN_REPOSITORY", s.repo())
        .env("CAIRN_PASSWORD", PASSWORD)
        .env("CAIRN_CACHE_DIR", s.join("cache"))
        .env("COLUMNS", "120")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn on_a_terminal_backup_and_restore_draw_progress_bars() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: script(1) (bsdutils) is not installed");
        return;
    }
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    let mut rng = Rng::new(11);
    for i in 0..20 {
        write(&src.join(format!("f{i}")), rng.bytes(2 << 20));
    }
    let (ok, text) = on_terminal(&s, &format!("backup {}", src.display()));
    assert!(ok, "{text}");
    assert!(text.contains("snapshot "), "{text}");
    // The bar's elapsed-time field, and its file and byte counts.
    assert!(
        text.contains("[00:00:"),
        "no progress bar on a terminal: {text}"
    );
    assert!(text.contains(" files"), "{text}");
    assert!(text.contains("MiB"), "no byte counts on a terminal: {text}");

    // A whole-snapshot restore knows its totals from the snapshot, so its bar has an ETA.
    let (ok, text) = on_terminal(
        &s,
        &format!("restore latest --target {}", s.join("t").display()),
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("ETA"),
        "no restore progress on a terminal: {text}"
    );
    assert!(text.contains("/20 files"), "{text}");
}

/// Runs `cairn ARGS` on a pseudo-terminal without a password in the environment, answering each
/// prompt in `answers` once it appears; returns the exit code and everything shown.
fn on_terminal_answering(s: &Scratch, args: &str, answers: &[(&str, &str)]) -> (i32, String) {
    use std::io::Read;
    let line = format!("{CAIRN} {args}");
    let mut child = std::process::Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .env("CAIRN_REPOSITORY", s.repo())
        .env("CAIRN_CACHE_DIR", s.join("cache"))
        .env_remove("CAIRN_PASSWORD")
        .env_remove("CAIRN_PASSWORD_FILE")
        .env_remove("CAIRN_PASSWORD_COMMAND")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut shown = Vec::new();
    let mut buf = [0u8; 4096];
    for (prompt, answer) in answers {
        while !String::from_utf8_lossy(&shown).contains(prompt) {
            let n = stdout.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "no prompt {prompt:?}: {}",
                String::from_utf8_lossy(&shown)
            );
            shown.extend_from_slice(&buf[..n]);
        }
        // Answer after the prompt, then look for the next prompt after it.
        let cut = String::from_utf8_lossy(&shown).rfind(prompt).unwrap() + prompt.len();
        shown.drain(..cut);
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
    }
    stdout.read_to_end(&mut shown).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&shown).into_owned(),
    )
}

#[test]
fn on_a_terminal_the_password_is_asked_and_not_echoed() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: script(1) (bsdutils) is not installed");
        return;
    }
    let s = Scratch::new();
    let init = "init --kdf-memory-kib 8 --kdf-iterations 1";
    let (code, shown) = on_terminal_answering(
        &s,
        init,
        &[
            ("enter password for repository:", "typed secret"),
            ("again:", "typed secret"),
        ],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(
        !shown.contains("typed secret"),
        "the password was echoed: {shown}"
    );
    let (code, shown) = on_terminal_answering(
        &s,
        "snapshots",
        &[("enter password for repository:", "typed secret")],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("0 snapshots"), "{shown}");
    let (code, shown) = on_terminal_answering(
        &s,
        "snapshots",
        &[("enter password for repository:", "wrong")],
    );
    assert_eq!(code, 12, "{shown}");
    // A mistyped confirmation creates nothing.
    let other = Scratch::new();
    let (code, shown) = on_terminal_answering(
        &other,
        init,
        &[("enter password for repository:", "one"), ("again:", "two")],
    );
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("do not match"), "{shown}");
    assert!(!other.repo().exists());
}

#[test]
fn ctrl_c_at_the_password_prompt_exits_130_and_gives_the_echo_back() {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    use std::os::unix::process::CommandExt;
    let s = Scratch::new();
    s.init();
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors; the other arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    let mut cmd = s.command(&["snapshots"]);
    cmd.env_remove("CAIRN_PASSWORD");
    // SAFETY: dup of an open descriptor for each standard stream.
    let dup = |fd| unsafe { Stdio::from_raw_fd(libc::dup(fd)) };
    cmd.stdin(dup(slave)).stdout(dup(slave)).stderr(dup(slave));
    // SAFETY: only async-signal-safe calls between fork and exec: a new session whose
    // controlling terminal is the pseudo-terminal, as a shell would give.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    // SAFETY: the master descriptor is ours alone from here on.
    let mut terminal = unsafe { std::fs::File::from_raw_fd(master) };
    let mut shown = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&shown).contains("enter password") {
        let n = terminal.read(&mut buf).unwrap();
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&shown));
        shown.extend_from_slice(&buf[..n]);
    }
    let echo = |fd| {
        // SAFETY: tcgetattr into a zeroed termios for an open terminal descriptor.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0);
        t.c_lflag & libc::ECHO != 0
    };
    assert!(!echo(slave), "echo is on while the password is typed");
    terminal.write_all(b"\x03").unwrap(); // Ctrl-C: the terminal sends SIGINT
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&shown)
    );
    assert!(echo(slave), "the terminal was left without echo");
    // SAFETY: closing our copy of the slave descriptor.
    unsafe { libc::close(slave) };
}
