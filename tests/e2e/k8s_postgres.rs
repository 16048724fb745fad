//! `cairn k8s backup --rule postgres` against a real PostgreSQL: a throwaway cluster made with
//! `initdb` in a scratch directory is the data of a hostPath PV; the pod "exec" that runs the rule's
//! CHECKPOINT is a local `psql`; rows are written while the backup runs; the restored data
//! directory starts and answers queries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use cairn_k8s_double::{LocalProcess, ProcessSetup};
use serde_json::json;

use crate::k8s::{cluster, details, listing, put_bound_claim};
use crate::util::*;

/// The directory of PostgreSQL's programs (Debian's `postgresql` package), if installed.
fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|d| d.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

/// PostgreSQL refuses to run as root: when root, its programs run as nobody.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        c.arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A running PostgreSQL server on a Unix socket in `socket`; stopped when dropped.
struct Server {
    bin: PathBuf,
    data: PathBuf,
    socket: PathBuf,
}

impl Server {
    fn start(bin: &Path, data: &Path, socket: &Path) -> Server {
        std::fs::create_dir_all(socket).unwrap();
        chmod(socket, 0o777);
        let opts = format!("-c listen_addresses='' -k {} -p 5432", socket.display());
        let log = socket.join("server.log");
        let out = as_owner(&bin.join("pg_ctl"))
            .args([
                "-D",
                data.to_str().unwrap(),
                "-w",
                "-l",
                log.to_str().unwrap(),
            ])
            .args(["-o", &opts, "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Server {
            bin: bin.to_path_buf(),
            data: data.to_path_buf(),
            socket: socket.to_path_buf(),
        }
    }

    fn sql(&self, sql: &str) -> Result<String, String> {
        psql(&self.bin, &self.socket, sql)
    }

    /// Stops the server; true when it was running and stopped.
    fn stop(&self) -> bool {
        let data = self.data.to_str().unwrap();
        as_owner(&self.bin.join("pg_ctl"))
            .args(["-D", data, "-m", "fast", "-w", "stop"])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs SQL through `psql` on the server at `socket`; its output, unaligned and without headers.
fn psql(bin: &Path, socket: &Path, sql: &str) -> Result<String, String> {
    let out = Command::new(bin.join("psql"))
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-h"])
        .arg(socket)
        .args(["-c", sql])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn k8s_postgres_rule_checkpoints_and_the_restored_data_directory_starts() {
    let Some(bin) = pg_bin() else {
        eprintln!("skipped: PostgreSQL is not installed (Debian: apt-get install postgresql)");
        return;
    };
    if is_root() && Command::new("setpriv").arg("--help").output().is_err() {
        eprintln!("skipped: running as root and setpriv (util-linux) is not installed");
        return;
    }
    let s = Scratch::new();
    s.init();
    chmod(s.path(), 0o777);
    let pg = s.join("pg");
    std::fs::create_dir_all(&pg).unwrap();
    chmod(&pg, 0o777);
    let data = pg.join("data");
    let out = as_owner(&bin.join("initdb"))
        .args([
            "-D",
            data.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
        ])
        .args(["-E", "UTF8", "--no-sync"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(&bin, &data, &pg.join("sock"));
    server
        .sql("CREATE TABLE t (i int, note text); INSERT INTO t SELECT g, 'before' FROM generate_series(1, 5000) g")
        .unwrap();

    // The pod: its volume is the data directory (a hostPath PV), its exec a local process that
    // finds psql and the server as a postgres container would.
    let setup = ProcessSetup::default()
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("PGHOST", server.socket.to_str().unwrap())
        .env("PGUSER", "postgres");
    let c = cluster(&s, |b| {
        b.exec_handler(LocalProcess::new().setup("db", "pg-0", Some("postgres"), setup))
    });
    let host_path = json!({"hostPath": {"path": data.to_str().unwrap()}});
    put_bound_claim(&c, "db", "pgdata", "pg-pv", host_path, false);
    c.server
        .put(
            "pods",
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pg-0", "namespace": "db"},
               "spec": {"containers": [{"name": "postgres", "image": "docker.io/library/postgres:15.5",
                                        "volumeMounts": [{"name": "data",
                                                          "mountPath": "/var/lib/postgresql/data"}]}],
                        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "pgdata"}}]},
               "status": {"phase": "Running"}}),
        )
        .unwrap();

    // Rows are written all through the backup.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written) = (stop.clone(), written.clone());
        let (bin, socket) = (bin.clone(), server.socket.clone());
        std::thread::spawn(move || {
            let insert = "INSERT INTO t SELECT g, 'during' FROM generate_series(1, 200) g";
            while !stop.load(Ordering::Relaxed) {
                if psql(&bin, &socket, insert).is_ok() {
                    written.fetch_add(200, Ordering::Relaxed);
                }
            }
        })
    };
    while written.load(Ordering::Relaxed) == 0 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    c.cairn(&s, &["backup", "-n", "db", "--rule", "postgres"])
        .ok();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(written.load(Ordering::Relaxed) > 0);

    let d = details(&s);
    let v = &d["volumes"][0];
    assert_eq!(v["method"], "node-local");
    assert_eq!(v["consistency"], "application");
    let hook = &v["hooks"][0];
    assert_eq!(hook["source"], "rule:postgres");
    assert_eq!(hook["container"], "postgres");
    assert_eq!(hook["outcome"], "ok", "{hook}");
    assert!(listing(&s)
        .iter()
        .any(|p| p == "/volumes/db/pgdata/PG_VERSION"));

    // The copy starts (as after a crash: it replays its WAL) and has every row written before the
    // checkpoint. The original is stopped first, as the copy's lock file names its process.
    assert!(server.stop(), "the original server did not stop");
    let target = s.join("restore");
    s.cairn(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    chmod(&target, 0o755);
    chmod(&target.join("volumes"), 0o755);
    chmod(&target.join("volumes/db"), 0o755);
    // The copy's lock file names the original's process, which here (unlike in a new pod) may
    // linger as a zombie: remove it, as pg_basebackup leaves it out of its copies.
    std::fs::remove_file(target.join("volumes/db/pgdata/postmaster.pid")).unwrap();
    let copy = Server::start(&bin, &target.join("volumes/db/pgdata"), &s.join("sock2"));
    let before = copy
        .sql("SELECT count(*) FROM t WHERE note = 'before'")
        .unwrap();
    assert_eq!(before, "5000");
    let during: u64 = copy
        .sql("SELECT count(*) FROM t WHERE note = 'during'")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(during % 200, 0, "a transaction is all there or not at all");
    assert_eq!(copy.sql("SELECT 1 + 1").unwrap(), "2");
}
