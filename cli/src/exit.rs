//! Exit codes and how errors become them. The table here is part of cairn's interface: scripts rely
//! on it, so codes are never renumbered. It is printed by `cairn --help` and listed in README.md.

use cairn_engine::ErrorKind;

/// Success.
pub const OK: i32 = 0;
/// A fatal error not covered below.
pub const FATAL: i32 = 1;
/// Wrong usage: unknown flag, missing argument (from clap).
pub const USAGE: i32 = 2;
/// The run finished but is incomplete: some files could not be backed up or restored.
pub const INCOMPLETE: i32 = 3;
/// `check` found damage or errors.
pub const CHECK_FAILED: i32 = 4;
/// The location holds no repository.
pub const NOT_A_REPOSITORY: i32 = 10;
/// Reserved for "the repository is locked".
#[allow(dead_code)]
pub const LOCKED: i32 = 11;
/// Wrong password, or no usable key.
pub const WRONG_PASSWORD: i32 = 12;
/// The repository has a format version this cairn does not read.
pub const UNSUPPORTED_VERSION: i32 = 13;
/// Repository data failed to decode or authenticate.
pub const DAMAGED: i32 = 14;
/// The source command of `backup --stdin-from-command` failed; no snapshot was saved.
pub const SOURCE_FAILED: i32 = 15;
/// Interrupted (SIGINT).
pub const INTERRUPTED: i32 = 130;

/// The exit-code table as shown by `cairn --help`.
pub const TABLE: &str = "\
Exit codes:
    0    success
    1    fatal error
    2    usage error (unknown flag, missing argument)
    3    incomplete: backup saved a snapshot but could not read some files,
         or restore could not restore some files
    4    check found damage or errors
    10   repository does not exist or is not a repository
    11   (reserved: repository locked)
    12   wrong password, or no usable key
    13   unsupported repository format version
    14   repository damaged (data failed to decode or authenticate)
    15   the command of --stdin-from-command failed; no snapshot was saved
    130  interrupted (SIGINT)";

/// How a command that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything done.
    Ok,
    /// Done, but some files were left out (exit 3).
    Incomplete,
    /// `check` found problems (exit 4).
    CheckFailed,
}

impl Status {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Status::Ok => OK,
            Status::Incomplete => INCOMPLETE,
            Status::CheckFailed => CHECK_FAILED,
        }
    }
}

/// The engine error somewhere in the chain, if any.
fn engine_error(e: &anyhow::Error) -> Option<&cairn_engine::Error> {
    e.chain()
        .find_map(|c| c.downcast_ref::<cairn_engine::Error>())
}

/// The exit code for a failure.
pub fn code_for(e: &anyhow::Error) -> i32 {
    let Some(engine) = engine_error(e) else {
        return FATAL;
    };
    match engine.kind() {
        ErrorKind::NotARepository => NOT_A_REPOSITORY,
        ErrorKind::WrongPassword | ErrorKind::NoKey => WRONG_PASSWORD,
        ErrorKind::UnsupportedVersion => UNSUPPORTED_VERSION,
        ErrorKind::Damaged => DAMAGED,
        ErrorKind::SourceFailed => SOURCE_FAILED,
        ErrorKind::Interrupted => INTERRUPTED,
        _ => FATAL,
    }
}

fn hint(e: &anyhow::Error) -> Option<&'static str> {
    Some(match engine_error(e)?.kind() {
        ErrorKind::WrongPassword => "check CAIRN_PASSWORD, --password-file or --password-command",
        ErrorKind::NoKey => {
            "the repository's keys/ directory is empty or unreadable; restore its key files from a copy"
        }
        ErrorKind::NotARepository => "check -r/--repo or CAIRN_REPOSITORY",
        ErrorKind::Damaged => "run `cairn check --read-data` to find what is damaged",
        _ => return None,
    })
}

/// The message of an error and its causes, each said once: engine errors already carry their cause's
/// text, so a cause whose text the message holds is not repeated.
pub fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Prints `cairn: <message>` (and a hint where one helps) to stderr; returns the exit code.
pub fn report(e: &anyhow::Error) -> i32 {
    // A closed stdout (`cairn ls | head`) is not an error worth a message.
    if e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    {
        return OK;
    }
    eprintln!("cairn: {}", message(e));
    if let Some(h) = hint(e) {
        eprintln!("cairn: hint: {h}");
    }
    code_for(e)
}

/// Panics are bugs: say so in one line, without a backtrace unless RUST_BACKTRACE asks for one.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        eprintln!(
            "cairn: internal error in thread {thread}{at}: {msg}; please report this as a bug"
        );
        // RUST_BACKTRACE=1 adds the backtrace, for the report.
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_documented_codes() {
        let code = |k| code_for(&anyhow::Error::new(cairn_engine::Error::new(k, "x")));
        assert_eq!(code(ErrorKind::NotARepository), 10);
        assert_eq!(code(ErrorKind::WrongPassword), 12);
        assert_eq!(code(ErrorKind::NoKey), 12);
        assert_eq!(code(ErrorKind::UnsupportedVersion), 13);
        assert_eq!(code(ErrorKind::Damaged), 14);
        assert_eq!(code(ErrorKind::SourceFailed), 15);
        assert_eq!(code(ErrorKind::Interrupted), 130);
        assert_eq!(code(ErrorKind::Io), 1);
        assert_eq!(code_for(&anyhow::anyhow!("plain")), 1);
        // Context added by the CLI does not hide the kind.
        let e = anyhow::Error::new(cairn_engine::Error::new(ErrorKind::Damaged, "bad"))
            .context("restoring");
        assert_eq!(code_for(&e), 14);
    }

    #[test]
    fn causes_are_not_repeated() {
        let io = std::io::Error::other("disk on fire");
        let e = cairn_engine::Error::new(ErrorKind::Io, "/x: disk on fire").with_source(io);
        let e = anyhow::Error::new(e).context("reading exclude file");
        assert_eq!(message(&e), "reading exclude file: /x: disk on fire");
    }
}
