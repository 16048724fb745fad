//! `cairn`: the command line of the cairn backup tool.
//!
//! A thin binary: parse the arguments (`args`), resolve them into a [`args::Context`], run one command
//! (`commands/`, one file per verb), and turn the outcome into one of the documented exit codes
//! (`exit`). All real work happens in `cairn-engine`.

mod args;
mod commands;
mod exit;
mod output;
mod progress;
mod signal;
mod tty;

use clap::Parser;

fn main() {
    limit_malloc_arenas();
    exit::install_panic_hook();
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0; real usage errors exit with 2.
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    init_logging(&cli.global);
    signal::install();
    let code = match commands::run(cli) {
        Ok(status) => status.code(),
        Err(e) => exit::report(&e),
    };
    std::process::exit(code);
}

/// Logs go to stderr: `RUST_LOG` when set, else warnings (`-v` info, `-vv` debug, `-vvv` trace).
fn init_logging(global: &args::GlobalArgs) {
    use tracing_subscriber::EnvFilter;
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

/// glibc gives each thread that allocates its own arena (up to eight per core) and keeps what is
/// freed in it: megabyte buffers read on one thread and freed on another left restore at 96-102
/// MiB of RSS for a 23 MiB heap peak. One arena per eight cores brought it to 37-39 MiB at the
/// same speed (1 GiB restore, 2 cores). Set before any thread starts.
fn limit_malloc_arenas() {
    #[cfg(target_env = "gnu")]
    {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let arenas = cores.div_ceil(8) as libc::c_int;
        // SAFETY: mallopt only sets an allocator parameter; no other thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}
