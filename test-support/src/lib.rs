//! Parts of cairn's test harness shared by several crates' tests.
//!
//! [`S3Server`] runs a real S3 server process, [s3s-fs], on a free local port: signed requests
//! over HTTP, objects kept as files under a temporary directory (one directory per bucket).
//! `.ci/run` installs it (`cargo install s3s-fs@0.14.1 --locked --features binary`).
//!
//! [s3s-fs]: https://crates.io/crates/s3s-fs
#![deny(missing_docs)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "cairn-test";
/// The secret key the server accepts.
pub const SECRET_KEY: &str = "cairn-test-secret";

/// A running s3s-fs process, killed when dropped.
pub struct S3Server {
    child: Child,
    root: tempfile::TempDir,
    addr: SocketAddr,
}

fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("s3s-fs"))
            .find(|p| p.is_file())
    });
    let in_cargo_home = || {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
        Some(home.join("bin/s3s-fs")).filter(|p| p.is_file())
    };
    on_path.or_else(in_cargo_home)
}

impl S3Server {
    /// Starts a server. When s3s-fs is not installed this returns `None` after saying so on
    /// stderr, so a developer's `cargo test` still runs the rest; under CI (`CI` set) a missing
    /// server is a failure instead, so CI never passes without these tests.
    pub fn start() -> Option<S3Server> {
        let Some(bin) = binary() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "s3s-fs is not installed: .ci/run installs it with \
                 `cargo install s3s-fs@0.14.1 --locked --features binary`"
            );
            eprintln!("skipping: s3s-fs is not installed (cargo install s3s-fs@0.14.1 --locked --features binary)");
            return None;
        };
        let root = tempfile::Builder::new()
            .prefix("cairn-s3-")
            .tempdir()
            .expect("temporary directory");
        // Ask the kernel for a free port, then hand it to the server.
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let child = spawn(&bin, root.path(), addr);
        Some(S3Server { child, root, addr })
    }

    /// The server's base URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates a bucket (a directory of the server's root) and returns its directory.
    pub fn bucket(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).expect("bucket directory");
        dir
    }

    /// A repository location in `bucket` under `prefix`, as users write it.
    pub fn location(&self, bucket: &str, prefix: &str) -> String {
        format!("s3:{}/{bucket}/{prefix}", self.endpoint())
    }

    /// The environment a client needs: the credentials and a region.
    pub fn env(&self) -> [(&'static str, &'static str); 3] {
        [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_REGION", "us-east-1"),
        ]
    }

    /// Stops the server (as a crash would), so that requests fail until [`S3Server::resume`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and data.
    pub fn resume(&mut self) {
        self.stop();
        let bin = binary().expect("s3s-fs is installed");
        self.child = spawn(&bin, self.root.path(), self.addr);
    }
}

/// Starts s3s-fs serving `root` at `addr` and waits until it accepts connections.
fn spawn(bin: &Path, root: &Path, addr: SocketAddr) -> Child {
    let child = Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("s3s-fs starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "s3s-fs did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
