//! Progress reporting from long-running commands to whoever shows it (a progress bar, logs, nothing).

/// Receives progress of a backup, restore or check. Every method has a default that ignores it.
pub trait Progress: Send + Sync {
    /// Whether totals are wanted: backup then counts files and bytes beforehand, for an ETA.
    fn wants_totals(&self) -> bool {
        false
    }
    /// The total work, once known.
    fn set_total(&self, _files: u64, _bytes: u64) {}
    /// `bytes` more were processed.
    fn add_bytes(&self, _bytes: u64) {}
    /// One more file is done.
    fn add_file(&self) {}
    /// A problem that does not stop the run (an unreadable file, a damaged blob).
    fn warn(&self, _message: &str) {}
}

/// Ignores all progress.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
