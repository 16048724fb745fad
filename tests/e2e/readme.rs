//! The promises of README.md: its demo script works, and its exit-code and environment tables match
//! what the binary does and says.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::*;

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(path).unwrap()
}

/// The rows of the README table that follows `heading`, as cells.
fn table_after(text: &str, heading: &str) -> Vec<Vec<String>> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("README lacks {heading}"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn the_exit_code_table_matches_cairn_help() {
    let s = Scratch::new();
    let help = s.cairn(&["--help"]).ok().stdout();
    let rows = table_after(&readme(), "## Exit codes");
    let codes: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        codes,
        ["0", "1", "2", "3", "4", "10", "11", "12", "13", "14", "15", "130"]
    );
    for row in &rows {
        let (code, meaning) = (&row[0], row[1].replace('`', ""));
        // The help table wraps long meanings; compare its first words.
        let start: String = meaning
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        let line = format!("{code:<5}{start}");
        assert!(help.contains(&line), "--help lacks {line:?}");
    }
}

#[test]
fn every_environment_variable_of_the_readme_is_in_cairn_help() {
    let s = Scratch::new();
    let help = s.cairn(&["--help"]).ok().stdout();
    let rows = table_after(&readme(), "## Environment");
    assert!(rows.len() >= 5);
    for row in rows {
        let var = row[0].trim_matches('`');
        assert!(help.contains(var), "--help does not mention {var}");
    }
}

#[test]
fn the_demo_script_backs_up_and_restores() {
    let s = Scratch::new();
    let src = s.join("some files");
    write(&src.join("a.txt"), "demo");
    write(&src.join("sub/b.bin"), Rng::new(12).bytes(50_000));
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/demo.sh");
    let bin_dir = Path::new(CAIRN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg(&script)
        .arg(&src)
        .env("PATH", path)
        .env("CAIRN_DEMO_NO_INSTALL", "1")
        .env("CAIRN_DEMO_DIR", s.join("demo"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 snapshots"), "{stdout}");
    assert!(stdout.contains("is identical"), "{stdout}");
}
