//! Reading a password on the terminal without echoing it.
//!
//! Echo goes off before the question is shown, so nothing typed ahead of the prompt is echoed either;
//! it comes back on when the line is read, and the SIGINT handler puts it back if the run is
//! interrupted in between.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

use zeroize::Zeroizing;

/// `/dev/tty`, opened once for the run.
static TTY: OnceLock<File> = OnceLock::new();

fn tty() -> io::Result<&'static File> {
    if let Some(t) = TTY.get() {
        return Ok(t);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    Ok(TTY.get_or_init(|| file))
}

/// Shows `question` on the terminal and reads one line with echo off.
pub fn read_hidden(question: &str) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut tty = tty()?;
    let fd = tty.as_raw_fd();
    // SAFETY: tcgetattr fills a zeroed termios for an open descriptor.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(io::Error::last_os_error());
    }
    crate::signal::restore_on_interrupt(fd, saved);
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: setting attributes read from the same descriptor, with echo off.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let line = (|| {
        tty.write_all(question.as_bytes())?;
        tty.flush()?;
        let mut line = Zeroizing::new(Vec::new());
        let mut byte = [0u8; 1];
        loop {
            match tty.read(&mut byte) {
                Ok(0) if line.is_empty() => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "no password typed",
                    ))
                }
                Ok(0) => break,
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) => line.push(byte[0]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(line)
    })();
    // SAFETY: restoring the attributes read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    line
}
