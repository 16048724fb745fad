//! Mounting, running in the foreground, and unmounting cleanly.
//!
//! The mount runs the FUSE session on its own thread. The caller waits in [`Mount::wait`] for one of
//! two things: SIGINT, SIGTERM or SIGHUP (then the mount unmounts itself, lazily if something still
//! uses it), or an unmount from outside (`umount`, `fusermount3 -u`). Signal handlers are installed
//! before the mount is made and the previous ones restored afterwards, so no signal can leave a
//! mount behind without a process serving it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_engine::{Indexed, SnapshotFilter};
use fuser::{Config, MountOption, Session, SessionACL, SessionUnmounter};

use crate::catalog::Catalog;
use crate::error::{Error, ErrorKind, Result};
use crate::fs::{CairnFs, Shared};
use crate::preflight;

/// Options of a mount.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MountOptions {
    /// Let other users than the one mounting see the file system (`allow_other`); permissions are
    /// still checked against the snapshot's modes and owners.
    pub allow_other: bool,
    /// Bytes of data blobs kept in memory (decoded tree nodes get half as much again).
    pub cache_bytes: usize,
    /// Only snapshots passing this filter are shown.
    pub filter: SnapshotFilter,
    /// The snapshot list is read again at most this often (when a layout directory is visited).
    pub refresh: Duration,
    /// Worker threads that read the repository.
    pub workers: usize,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            allow_other: false,
            cache_bytes: 64 << 20,
            filter: SnapshotFilter::default(),
            refresh: Duration::from_secs(3),
            workers: 8,
        }
    }
}

impl MountOptions {
    /// Sets `allow_other`.
    pub fn allow_other(mut self, yes: bool) -> Self {
        self.allow_other = yes;
        self
    }

    /// Sets the size of the blob cache.
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Sets the snapshot filter.
    pub fn filter(mut self, filter: SnapshotFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Sets how often the snapshot list may be read again.
    pub fn refresh(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }
}

/// Memory the mount holds, as counts and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountStats {
    /// Inodes the kernel holds.
    pub inodes: usize,
    /// Bytes of decoded tree nodes cached.
    pub node_cache_bytes: usize,
    /// Bytes of data blobs cached.
    pub blob_cache_bytes: usize,
}

/// How a mount ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ended {
    /// A signal (its number) asked to stop; the mount unmounted itself.
    Signal(i32),
    /// It was unmounted from outside.
    Unmounted,
}

enum Event {
    Signal(i32),
    Ended(io::Result<()>),
}

/// A mounted repository, served until [`Mount::wait`] returns.
pub struct Mount {
    mountpoint: PathBuf,
    unmounter: SessionUnmounter,
    events: Receiver<Event>,
    session: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    _signals: Signals,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mount({})", self.mountpoint.display())
    }
}

impl Mount {
    /// Checks FUSE and the mountpoint, reads the snapshot list, and mounts `repo` read-only at
    /// `mountpoint`. Returns once the kernel has the mount; it is served until [`Mount::wait`] ends.
    pub fn new(repo: Indexed, mountpoint: &Path, options: &MountOptions) -> Result<Mount> {
        preflight::check_fuse(options.allow_other)?;
        let mountpoint = preflight::check_mountpoint(mountpoint)?;
        let location = repo.backend().location().to_string();
        let catalog = Catalog::new(repo, options.filter.clone(), options.refresh)?;
        let fs = CairnFs::new(catalog, options.cache_bytes, options.workers)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start worker threads: {e}")))?;
        let shared = fs.shared();
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::RO,
            MountOption::FSName(format!("cairn:{location}")),
            MountOption::Subtype("cairn".into()),
            // The kernel checks permissions against the snapshot's modes and owners.
            MountOption::DefaultPermissions,
            MountOption::NoDev,
            MountOption::NoSuid,
            MountOption::NoAtime,
        ];
        config.acl = if options.allow_other {
            SessionACL::All
        } else {
            SessionACL::Owner
        };
        let (tx, events) = channel();
        let signals = Signals::install(tx.clone())?;
        let mut session =
            Session::new(fs, &mountpoint, &config).map_err(|e| mount_error(&mountpoint, e))?;
        let unmounter = session.unmount_callable();
        let thread = std::thread::Builder::new()
            .name("cairn-fuse".into())
            .spawn(move || {
                let result = session.run();
                let _ = tx.send(Event::Ended(result));
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot start the session thread: {e}"),
                )
            })?;
        Ok(Mount {
            mountpoint,
            unmounter,
            events,
            session: Some(thread),
            shared,
            _signals: signals,
        })
    }

    /// Where it is mounted (canonical).
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Number of snapshots shown.
    pub fn snapshots(&self) -> usize {
        self.shared.catalog.layout().snapshots().len()
    }

    /// What the mount holds in memory now.
    pub fn stats(&self) -> MountStats {
        MountStats {
            inodes: self.shared.inodes.len(),
            node_cache_bytes: self.shared.nodes.weight(),
            blob_cache_bytes: self.shared.blobs.weight(),
        }
    }

    /// Serves until a signal asks to stop (then unmounts) or the file system is unmounted from
    /// outside. A mount still in use when asked to stop is detached lazily: it disappears from the
    /// directory tree at once, and programs inside it get errors once this process has exited.
    pub fn wait(mut self) -> Result<Ended> {
        let event = self.events.recv();
        tracing::info!("unmounting; memory held: {:?}", self.stats());
        let ended = match event {
            Ok(Event::Signal(sig)) => {
                self.unmount()?;
                Ended::Signal(sig)
            }
            Ok(Event::Ended(result)) => {
                result.map_err(|e| {
                    Error::new(ErrorKind::Io, format!("the FUSE session failed: {e}"))
                        .with_source(e)
                })?;
                Ended::Unmounted
            }
            Err(_) => Ended::Unmounted,
        };
        self.join_session();
        Ok(ended)
    }

    /// Unmounts now.
    pub fn unmount(&mut self) -> Result<()> {
        match self.unmounter.unmount() {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                tracing::warn!(
                    "{} is still in use; detaching it lazily",
                    self.mountpoint.display()
                );
                detach(&self.mountpoint)
            }
            Err(e) => Err(Error::mountpoint(
                ErrorKind::Busy,
                &self.mountpoint,
                format!("cannot unmount: {e}"),
            )
            .with_source(e)),
        }
    }

    /// Waits a little for the session thread to see the unmount; a lazily detached mount may be
    /// served on until its last user leaves, and exiting the process ends that.
    fn join_session(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match self
                .events
                .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            {
                Ok(Event::Ended(_)) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(Event::Signal(_)) => continue,
                Err(RecvTimeoutError::Timeout) => return,
            }
        }
        if let Some(t) = self.session.take() {
            let _ = t.join();
        }
    }
}

/// Detaches a busy mount lazily: umount2(MNT_DETACH) as root, `fusermount -u -z` otherwise.
fn detach(mountpoint: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    if preflight::is_root() {
        let c = std::ffi::CString::new(mountpoint.as_os_str().as_bytes())
            .map_err(|_| Error::new(ErrorKind::Io, "mountpoint path holds a NUL byte"))?;
        // SAFETY: a valid NUL-terminated path.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        return Err(
            Error::mountpoint(ErrorKind::Busy, mountpoint, format!("cannot unmount: {e}"))
                .with_source(e),
        );
    }
    for helper in ["fusermount3", "fusermount"] {
        if let Ok(status) = std::process::Command::new(helper)
            .args(["-u", "-z", "--"])
            .arg(mountpoint)
            .status()
        {
            if status.success() {
                return Ok(());
            }
        }
    }
    Err(Error::mountpoint(
        ErrorKind::Busy,
        mountpoint,
        "cannot unmount it, even lazily",
    ))
}

/// A readable error for a refused mount.
fn mount_error(mountpoint: &Path, e: io::Error) -> Error {
    let text = e.to_string();
    let why = if text.contains("user_allow_other") {
        "--allow-other needs `user_allow_other` in /etc/fuse.conf".to_string()
    } else if e.kind() == io::ErrorKind::PermissionDenied {
        format!("permission denied ({text}); mount as root or install fuse3's setuid fusermount3")
    } else if e.raw_os_error() == Some(libc::EBUSY) {
        "it is busy".to_string()
    } else {
        text.trim().to_string()
    };
    Error::mountpoint(ErrorKind::MountFailed, mountpoint, why).with_source(e)
}

/// The write end of the pipe the signal handler writes to (-1 when none).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one valid byte.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
}

/// Signal handlers that turn SIGINT, SIGTERM and SIGHUP into [`Event::Signal`]s, and the previous
/// handlers, restored when dropped.
struct Signals {
    previous: Vec<(libc::c_int, libc::sigaction)>,
    write_fd: libc::c_int,
    thread: Option<JoinHandle<()>>,
}

impl Signals {
    fn install(tx: Sender<Event>) -> Result<Signals> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: fds is a valid array of two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            let e = io::Error::last_os_error();
            return Err(
                Error::new(ErrorKind::Io, format!("cannot make a pipe: {e}")).with_source(e),
            );
        }
        let [read_fd, write_fd] = fds;
        let thread = std::thread::Builder::new()
            .name("cairn-signals".into())
            .spawn(move || {
                let mut byte = 0u8;
                loop {
                    // SAFETY: reading one byte into a valid buffer.
                    let n = unsafe { libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) };
                    if n == 1 {
                        if tx.send(Event::Signal(i32::from(byte))).is_err() {
                            break;
                        }
                    } else if n == 0
                        || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted
                    {
                        break;
                    }
                }
                // SAFETY: closing the descriptor this thread owns.
                unsafe { libc::close(read_fd) };
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot start the signal thread: {e}"),
                )
            })?;
        SIGNAL_PIPE.store(write_fd, Ordering::SeqCst);
        let mut previous = Vec::new();
        for sig in SIGNALS {
            // SAFETY: installing a handler that only calls write(2); `old` receives the old one.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &action, &mut old) == 0 {
                    previous.push((sig, old));
                }
            }
        }
        Ok(Signals {
            previous,
            write_fd,
            thread: Some(thread),
        })
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for (sig, old) in &self.previous {
            // SAFETY: restoring a handler sigaction returned earlier.
            unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
        }
        SIGNAL_PIPE.store(-1, Ordering::SeqCst);
        // SAFETY: closing our write end ends the reader thread.
        unsafe { libc::close(self.write_fd) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
