//! Printing: human text, tables and JSON on stdout, notes on stderr.
//!
//! With `--json`, stdout carries exactly one JSON document per command (or one per line for streams
//! such as `ls` and `find`) and nothing else; human text is not printed. With `--quiet`, human text
//! is not printed either, but errors still are (on stderr). Write errors are returned, so a closed
//! pipe ends the command quietly instead of panicking.

use std::io::{self, Write};

use serde::Serialize;

/// How a command prints.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// `--json`.
    pub json: bool,
    /// `--quiet`.
    pub quiet: bool,
}

impl Output {
    /// An output for the given flags.
    pub fn new(json: bool, quiet: bool) -> Self {
        Output { json, quiet }
    }

    /// True when human text is printed.
    pub fn human(&self) -> bool {
        !self.json && !self.quiet
    }

    /// Prints a line of human text on stdout (not with --json or --quiet).
    pub fn line(&self, text: impl std::fmt::Display) -> io::Result<()> {
        if self.human() {
            writeln!(io::stdout().lock(), "{text}")?;
        }
        Ok(())
    }

    /// Prints a note on stderr (not with --quiet); used for warnings that are not the result.
    pub fn note(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Prints one JSON document, pretty, on stdout.
    pub fn json_doc(&self, value: &impl Serialize) -> io::Result<()> {
        let mut out = io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, value)?;
        writeln!(out)
    }

    /// Prints one JSON document on one line (for JSON lines streams).
    pub fn json_line(&self, value: &impl Serialize) -> io::Result<()> {
        let mut out = io::stdout().lock();
        serde_json::to_writer(&mut out, value)?;
        writeln!(out)
    }
}

/// Per-file errors as JSON: `[{"path": ..., "message": ...}]` (paths that are not UTF-8 lossily).
pub fn file_errors_json(errors: &[cairn_engine::FileError]) -> serde_json::Value {
    errors
        .iter()
        .map(|e| serde_json::json!({ "path": e.path.to_string_lossy(), "message": e.message }))
        .collect()
}

/// Prints each per-file error on stderr, then what they mean; returns the status they give.
pub fn report_file_errors(errors: &[cairn_engine::FileError], what: &str) -> crate::exit::Status {
    for e in errors {
        eprintln!("cairn: error: {}: {}", e.path.display(), e.message);
    }
    if errors.is_empty() {
        return crate::exit::Status::Ok;
    }
    eprintln!(
        "cairn: {what}: {} files or directories had errors",
        errors.len()
    );
    crate::exit::Status::Incomplete
}

/// Bytes as a person reads them: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A duration in seconds as `1:02:03` or `2:03`.
pub fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A timestamp in the local time zone, to the second.
pub fn local_time(t: jiff::Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Nanoseconds since the epoch (tree entries) in the local time zone.
pub fn local_time_nanos(nanos: i64) -> String {
    jiff::Timestamp::from_nanosecond(nanos as i128)
        .map(local_time)
        .unwrap_or_else(|_| "?".into())
}

/// A file mode as `ls -l` shows it, e.g. `drwxr-xr-x`.
pub fn mode_string(kind: cairn_engine::format::EntryKind, mode: u32) -> String {
    use cairn_engine::format::EntryKind as K;
    let t = match kind {
        K::Dir => 'd',
        K::Symlink => 'l',
        K::Chardev => 'c',
        K::Blockdev => 'b',
        K::Fifo => 'p',
        K::Socket => 's',
        K::File | K::Hardlink => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(t);
    let bit = |b: u32, c: char| if mode & b != 0 { c } else { '-' };
    let special = |x: bool, special: bool, set: char, unset: char| match (x, special) {
        (true, true) => set,
        (false, true) => unset,
        (true, false) => 'x',
        (false, false) => '-',
    };
    s.push(bit(0o400, 'r'));
    s.push(bit(0o200, 'w'));
    s.push(special(mode & 0o100 != 0, mode & 0o4000 != 0, 's', 'S'));
    s.push(bit(0o040, 'r'));
    s.push(bit(0o020, 'w'));
    s.push(special(mode & 0o010 != 0, mode & 0o2000 != 0, 's', 'S'));
    s.push(bit(0o004, 'r'));
    s.push(bit(0o002, 'w'));
    s.push(special(mode & 0o001 != 0, mode & 0o1000 != 0, 't', 'T'));
    s
}

/// A table with left-aligned columns.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders the table; cells may hold several lines.
    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                for line in cell.lines() {
                    widths[i] = widths[i].max(line.chars().count());
                }
            }
        }
        let mut out = String::new();
        let push_line = |out: &mut String, cells: &[&str]| {
            let mut line = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    line.push_str(c);
                } else {
                    line.push_str(&format!("{c:<w$}  ", w = widths[i]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        };
        let headers: Vec<&str> = self.headers.iter().map(|s| s.as_str()).collect();
        push_line(&mut out, &headers);
        let total: usize = widths.iter().sum::<usize>() + 2 * cols.saturating_sub(1);
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for row in &self.rows {
            let lines: Vec<Vec<&str>> = row.iter().map(|c| c.lines().collect()).collect();
            let height = lines.iter().map(|l| l.len()).max().unwrap_or(1).max(1);
            for k in 0..height {
                let cells: Vec<&str> = (0..cols)
                    .map(|i| lines.get(i).and_then(|l| l.get(k)).copied().unwrap_or(""))
                    .collect();
                push_line(&mut out, &cells);
            }
        }
        out.push_str(&"-".repeat(total));
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_engine::format::EntryKind;

    #[test]
    fn sizes_durations_and_modes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(duration(62.4), "1:02");
        assert_eq!(duration(3723.0), "1:02:03");
        assert_eq!(mode_string(EntryKind::Dir, 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(EntryKind::File, 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(EntryKind::Dir, 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(EntryKind::Symlink, 0o777), "lrwxrwxrwx");
    }

    #[test]
    fn tables_align_and_wrap_cells() {
        let mut t = Table::new(&["ID", "Paths"]);
        t.row(vec!["ab".into(), "/a\n/b".into()]);
        t.row(vec!["abcdef".into(), "/c".into()]);
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "ID      Paths");
        assert_eq!(lines[2], "ab      /a");
        assert_eq!(lines[3], "        /b");
        assert_eq!(lines[4], "abcdef  /c");
    }
}
