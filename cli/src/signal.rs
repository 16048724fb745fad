//! SIGINT: stop at once with exit code 130.
//!
//! Stopping anywhere is safe for the repository: a pack is published whole or not at all, an index
//! file only names published packs, and a snapshot only trees that exist (spec/layout.md). So the
//! handler does not unwind; it restores the terminal if a password prompt had turned echo off, says
//! why it stops, and exits.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

/// The terminal and its settings before a password prompt changed them.
static TTY_FD: AtomicI32 = AtomicI32::new(-1);
static TTY_SAVED: OnceLock<libc::termios> = OnceLock::new();

extern "C" fn on_sigint(_: libc::c_int) {
    // Only async-signal-safe calls here: tcsetattr, write, _exit.
    let fd = TTY_FD.load(Ordering::SeqCst);
    if let (true, Some(saved)) = (fd >= 0, TTY_SAVED.get()) {
        // SAFETY: `saved` is a termios read by tcgetattr from the same descriptor.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, saved) };
    }
    let msg = b"\ncairn: interrupted\n";
    // SAFETY: writing a static buffer to stderr, then exiting without running destructors.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(crate::exit::INTERRUPTED);
    }
}

/// Installs the SIGINT handler; done first thing, so an interrupt at any moment exits with 130.
pub fn install() {
    // SAFETY: the handler only calls async-signal-safe functions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

/// Remembers the settings of the terminal `fd` before a password prompt turns echo off, so that an
/// interrupt during the prompt leaves the terminal usable. The first call wins: the prompt keeps one
/// descriptor of the terminal open for the whole run.
pub fn restore_on_interrupt(fd: libc::c_int, saved: libc::termios) {
    if TTY_SAVED.set(saved).is_ok() {
        TTY_FD.store(fd, Ordering::SeqCst);
    }
}
