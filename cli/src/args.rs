//! Flags in two stages. [`Cli`] and [`GlobalArgs`] hold the raw values clap parsed, only checked for
//! shape; [`Context::new`] then resolves them against the environment (repository location, password
//! source, cache directory, whether stderr is a terminal) into what commands use. Each command's own
//! flags live beside its code in `commands/`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _, Result};
use cairn_engine::{Backend, Indexed, OpenOptions, Repository};
use clap::{Args, Parser, Subcommand};
use zeroize::Zeroizing;

use crate::commands;
use crate::output::Output;

const ABOUT: &str = "cairn: encrypted, deduplicating backups";

const LONG_ABOUT: &str = "\
cairn: encrypted, deduplicating backups.

A repository is a directory (or bucket) of encrypted packs; a snapshot is one backup of one set of \
paths. Every command takes the repository from -r/--repo or CAIRN_REPOSITORY (a path, s3://, \
s3:https://HOST/BUCKET, gs://, azure://) and the password from --password-file, --password-command \
or CAIRN_PASSWORD, else asks on the terminal. `copy` and `init --copy-chunker-params` take the \
other repository the same way: CAIRN_FROM_REPOSITORY, CAIRN_FROM_PASSWORD_FILE, \
CAIRN_FROM_PASSWORD_COMMAND or CAIRN_FROM_PASSWORD.

Snapshots are named by `latest` or by a unique prefix of their id.";

/// The command line.
#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = crate::exit::TABLE,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes. Holds no secret: the password itself is read later, by [`Context`].
#[derive(Args, Debug)]
pub struct GlobalArgs {
    /// Repository location: a directory
    #[arg(
        short = 'r',
        long = "repo",
        env = "CAIRN_REPOSITORY",
        global = true,
        value_name = "LOCATION"
    )]
    pub repo: Option<String>,

    /// Read the password from the first line of this file
    #[arg(long, env = "CAIRN_PASSWORD_FILE", global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Run this shell command and use the first line of its output as the password
    #[arg(
        long,
        env = "CAIRN_PASSWORD_COMMAND",
        global = true,
        value_name = "COMMAND",
        conflicts_with = "password_file"
    )]
    pub password_command: Option<String>,

    /// Print machine-readable JSON on stdout (JSON lines for `ls` and `find`)
    #[arg(long, global = true)]
    pub json: bool,

    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Say more (repeat for more detail); RUST_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Directory of the local cache [default: $XDG_CACHE_HOME/cairn or ~/.cache/cairn]
    #[arg(long, env = "CAIRN_CACHE_DIR", global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Use no local cache
    #[arg(long, global = true)]
    pub no_cache: bool,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Create a repository
    Init(commands::init::InitArgs),
    /// Back up files or a stream into a new snapshot
    Backup(commands::backup::BackupArgs),
    /// List snapshots
    Snapshots(commands::snapshots::SnapshotsArgs),
    /// List the files of a snapshot
    Ls(commands::ls::LsArgs),
    /// Print a repository object (config, snapshot, tree, blob, index, pack header, key)
    Cat(commands::cat::CatArgs),
    /// Restore a snapshot into a directory
    Restore(commands::restore::RestoreArgs),
    /// Check the repository for damage
    Check(commands::check::CheckArgs),
    /// Copy snapshots from another repository into this one
    Copy(commands::copy::CopyArgs),
    /// Show what changed between two snapshots
    Diff(commands::diff::DiffArgs),
    /// Find files (or blobs) in snapshots
    Find(commands::find::FindArgs),
    /// Show sizes and deduplication of snapshots
    Stats(commands::stats::StatsArgs),
    /// Add, remove or set the tags of snapshots
    Tag(commands::tag::TagArgs),
    /// Manage the keys (passwords) of a repository
    Key(commands::key::KeyArgs),
    /// Remove snapshots by a retention policy (and prune with --prune)
    Forget(commands::forget::ForgetArgs),
    /// Delete data no snapshot needs; safe while backups run
    Prune(commands::prune::PruneArgs),
    /// Store, show or remove retention policies in the repository
    Policy(commands::policy::PolicyArgs),
    /// Browse every snapshot as a read-only file system (FUSE), until Ctrl-C or `umount`
    Mount(commands::mount::MountArgs),
    /// Kubernetes: back up applications (objects and volumes), list their protection
    K8s(commands::k8s::K8sArgs),
}

/// Hidden flags that set the cost of the password-based key derivation (tests use cheap values).
#[derive(Args, Debug, Default)]
pub struct KdfArgs {
    /// argon2id memory in KiB
    #[arg(long, hide = true)]
    pub kdf_memory_kib: Option<u32>,
    /// argon2id passes
    #[arg(long, hide = true)]
    pub kdf_iterations: Option<u32>,
    /// argon2id lanes
    #[arg(long, hide = true)]
    pub kdf_parallelism: Option<u32>,
}

impl KdfArgs {
    /// The cost, defaults filled in.
    pub fn cost(&self) -> cairn_engine::KdfCost {
        let d = cairn_engine::KdfCost::default();
        cairn_engine::KdfCost {
            memory_kib: self.kdf_memory_kib.unwrap_or(d.memory_kib),
            iterations: self.kdf_iterations.unwrap_or(d.iterations),
            parallelism: self.kdf_parallelism.unwrap_or(d.parallelism),
        }
    }
}

/// A password, wiped from memory when dropped and never printed.
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    fn new(bytes: Vec<u8>) -> Self {
        Password(Zeroizing::new(bytes))
    }

    /// The password's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Where the password comes from.
/// Where a repository's password comes from.
pub enum PasswordSource {
    File(PathBuf),
    Command(String),
    /// An environment variable, by name.
    Env(&'static str),
    Prompt,
    /// None: how to give one (the variable, and the flags).
    Missing(&'static str, &'static str),
}

impl PasswordSource {
    /// The first that applies: a file, a command, the variable `env`, the terminal. `flags` names
    /// the file and command flags for the message when none applies.
    pub fn resolve(
        file: Option<&PathBuf>,
        command: Option<&String>,
        env: &'static str,
        flags: &'static str,
    ) -> Self {
        if let Some(file) = file {
            PasswordSource::File(file.clone())
        } else if let Some(cmd) = command {
            PasswordSource::Command(cmd.clone())
        } else if std::env::var_os(env).is_some() {
            PasswordSource::Env(env)
        } else if std::io::stdin().is_terminal() {
            PasswordSource::Prompt
        } else {
            PasswordSource::Missing(env, flags)
        }
    }

    /// Reads the password; `what` names the repository in the prompt and errors, and `confirm`
    /// asks twice when prompting (a new repository).
    pub fn read(&self, what: &str, confirm: bool) -> Result<Password> {
        match self {
            PasswordSource::File(path) => read_password_file(path),
            PasswordSource::Command(cmd) => run_password_command(cmd),
            PasswordSource::Env(var) => {
                let v = std::env::var_os(var).unwrap_or_default();
                Ok(Password::new(std::os::unix::ffi::OsStringExt::into_vec(v)))
            }
            PasswordSource::Prompt => prompt(&format!("enter password for {what}: "), confirm),
            PasswordSource::Missing(env, flags) => bail!(
                "no password given for the {what}: set {env}, use {flags}, or run on a terminal \
                 to be asked"
            ),
        }
    }
}

/// The global flags, resolved.
pub struct Context {
    repo: Option<String>,
    password: PasswordSource,
    cache_dir: Option<PathBuf>,
    /// How to print.
    pub out: Output,
    /// Whether progress bars may be drawn (stderr is a terminal, not --quiet, not --json).
    pub bars: bool,
    /// The backend opened, for the traffic report at the end.
    opened: std::sync::OnceLock<Backend>,
}

impl Context {
    /// Resolves the global flags against the environment.
    pub fn new(g: &GlobalArgs) -> Context {
        let password = PasswordSource::resolve(
            g.password_file.as_ref(),
            g.password_command.as_ref(),
            "CAIRN_PASSWORD",
            "--password-file or --password-command",
        );
        let cache_dir = if g.no_cache {
            None
        } else {
            g.cache_dir.clone().or_else(cairn_engine::default_cache_dir)
        };
        let out = Output::new(g.json, g.quiet);
        let bars = !g.json && !g.quiet && std::io::stderr().is_terminal();
        Context {
            repo: g.repo.clone().filter(|r| !r.is_empty()),
            password,
            cache_dir,
            out,
            bars,
            opened: std::sync::OnceLock::new(),
        }
    }

    /// The repository location as given.
    pub fn location(&self) -> Result<&str> {
        self.repo
            .as_deref()
            .ok_or_else(|| anyhow!("no repository given: use -r/--repo or set CAIRN_REPOSITORY"))
    }

    /// The storage backend of the repository.
    pub fn backend(&self, create: bool) -> Result<Backend> {
        let backend = Backend::open(self.location()?, create)?;
        let _ = self.opened.set(backend.clone());
        Ok(backend)
    }

    /// Logs (at `-v`) the requests sent to the storage and the bytes moved.
    pub fn report_traffic(&self) {
        if let Some(backend) = self.opened.get() {
            let t = backend.traffic();
            tracing::info!(
                "storage {}: {} requests ({} retried), {} downloaded, {} uploaded",
                backend.location(),
                t.requests,
                t.retries,
                crate::output::bytes(t.bytes_read),
                crate::output::bytes(t.bytes_written)
            );
        }
    }

    /// Options for opening: the cache.
    pub fn open_options(&self) -> OpenOptions {
        OpenOptions::default().cache_dir(self.cache_dir.clone())
    }

    /// The password of the repository. `confirm` asks twice when prompting (a new repository).
    pub fn password(&self, confirm: bool) -> Result<Password> {
        self.password.read("repository", confirm)
    }

    /// Opens the repository.
    pub fn open(&self) -> Result<Repository> {
        Ok(self.open_keeping_password()?.0)
    }

    /// Opens the repository and keeps the password, for a command that hands it on (the
    /// Kubernetes mover Job), so that it is asked for once.
    pub fn open_keeping_password(&self) -> Result<(Repository, Password)> {
        let backend = self.backend(false)?;
        let password = self.password(false)?;
        let repo = Repository::open(backend, password.bytes(), &self.open_options())?;
        Ok((repo, password))
    }

    /// Opens the repository and loads its index.
    pub fn open_indexed(&self) -> Result<Indexed> {
        Ok(self.open()?.load_index()?)
    }
}

fn first_line(bytes: Vec<u8>) -> Vec<u8> {
    let bytes = Zeroizing::new(bytes);
    let end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let line = &bytes[..end];
    line.strip_suffix(b"\r").unwrap_or(line).to_vec()
}

/// Reads the first line of a password file.
pub fn read_password_file(path: &std::path::Path) -> Result<Password> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read password file {}", path.display()))?;
    Ok(Password::new(first_line(bytes)))
}

fn run_password_command(cmd: &str) -> Result<Password> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run the password command")?;
    if !out.status.success() {
        bail!("the password command failed ({})", out.status);
    }
    Ok(Password::new(first_line(out.stdout)))
}

/// Asks for a password on the terminal; with `confirm`, twice.
pub fn prompt(question: &str, confirm: bool) -> Result<Password> {
    let first = crate::tty::read_hidden(question).context("cannot read the password")?;
    if confirm {
        let again = crate::tty::read_hidden("enter the password again: ")
            .context("cannot read the password")?;
        if *first != *again {
            bail!("the passwords do not match");
        }
    }
    Ok(Password(first))
}

/// A new password for `key add` and `key passwd`: from a file, else asked twice on the terminal.
pub fn new_password(file: Option<&std::path::Path>) -> Result<Password> {
    match file {
        Some(path) => read_password_file(path),
        None if std::io::stdin().is_terminal() => prompt("enter the new password: ", true),
        None => bail!("no new password given: use --new-password-file or run on a terminal"),
    }
}

/// Parses a size: a number with an optional unit (`B`, `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, all powers of
/// 1024); a bare number is in units of `bare`.
pub fn parse_size(s: &str, bare: u64) -> std::result::Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 16MiB, 512KiB, 1048576B)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" => bare,
        "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KiB, MiB or GiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("16", 1 << 20), Ok(16 << 20));
        assert_eq!(parse_size("256KiB", 1 << 20), Ok(256 << 10));
        assert_eq!(parse_size("4096B", 1 << 20), Ok(4096));
        assert_eq!(parse_size("2k", 1), Ok(2048));
        assert!(parse_size("ten", 1).is_err());
        assert!(parse_size("1XB", 1).is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn password_is_the_first_line() {
        assert_eq!(first_line(b"secret\nrest".to_vec()), b"secret");
        assert_eq!(first_line(b"secret\r\n".to_vec()), b"secret");
        assert_eq!(first_line(b"no newline".to_vec()), b"no newline");
    }

    #[test]
    fn password_debug_hides_it() {
        let p = Password::new(b"hunter2".to_vec());
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
