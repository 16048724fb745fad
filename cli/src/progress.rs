//! Progress of long commands as an indicatif bar on stderr, only when stderr is a terminal and
//! neither `--quiet` nor `--json` is given. Off a terminal nothing is drawn: the command prints its
//! summary when it ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cairn_engine::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::Context;

/// What is being counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Files and bytes read from the source; totals are counted first for an ETA.
    Backup,
    /// Files and bytes written.
    Restore,
    /// Packs and bytes read.
    Check,
}

impl Work {
    fn unit(self) -> &'static str {
        match self {
            Work::Backup | Work::Restore => "files",
            Work::Check => "packs",
        }
    }
}

/// A progress bar (or nothing) behind the engine's [`Progress`] trait.
pub struct Bar {
    bar: Option<ProgressBar>,
    work: Work,
    files: AtomicU64,
    total_files: AtomicU64,
}

impl Bar {
    /// A bar for `work`, drawn only if `ctx` allows bars.
    pub fn new(ctx: &Context, work: Work) -> Self {
        let bar = ctx.bars.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bytes} {binary_bytes_per_sec} {msg}",
                )
                .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Bar {
            bar,
            work,
            files: AtomicU64::new(0),
            total_files: AtomicU64::new(0),
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn update_message(&self, bar: &ProgressBar) {
        let files = self.files.load(Ordering::Relaxed);
        let total = self.total_files.load(Ordering::Relaxed);
        let unit = self.work.unit();
        if total > 0 {
            bar.set_message(format!("{files}/{total} {unit}"));
        } else {
            bar.set_message(format!("{files} {unit}"));
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Progress for Bar {
    fn wants_totals(&self) -> bool {
        self.bar.is_some() && self.work == Work::Backup
    }

    fn set_total(&self, files: u64, bytes: u64) {
        let Some(bar) = &self.bar else { return };
        self.total_files.store(files, Ordering::Relaxed);
        bar.set_length(bytes);
        bar.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .expect("valid template"),
        );
        self.update_message(bar);
    }

    fn add_bytes(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn add_file(&self) {
        self.files.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            self.update_message(bar);
        }
    }

    fn warn(&self, message: &str) {
        // On a terminal the warning shows at once above the bar; otherwise the command lists the
        // problems in its summary, so they are only logged here.
        match &self.bar {
            Some(bar) => bar.println(format!("warning: {message}")),
            None => tracing::info!("{message}"),
        }
    }
}
