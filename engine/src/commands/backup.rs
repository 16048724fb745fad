//! `cairn backup`: directories, files and streams into a new snapshot.
//!
//! The snapshot is written last, after every pack and index file it needs is stored, so an
//! interrupted backup leaves no snapshot, only packs the next backup reuses.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Instant;

use cairn_repo_format::{
    BlobId, Entry, EntryKind, Name, Snapshot, SnapshotId, Source, FORMAT_VERSION,
};
use jiff::Timestamp;

use crate::archiver::{self, Archiver, Excludes, ReadFailure, Targets};
use crate::blob_writer::BlobWriter;
use crate::error::{Error, ErrorKind, FileError, Result};
use crate::indexed::Indexed;
use crate::progress::Progress;
use crate::sys;
use crate::tree_writer::DirBuilder;

/// Which snapshot a backup compares against to skip unchanged files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ParentChoice {
    /// The latest snapshot of the same host and the same paths.
    #[default]
    Auto,
    /// None: read every file.
    None,
    /// This one.
    Snapshot(SnapshotId),
}

/// A stream to back up instead of paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamSource {
    /// Standard input, stored as `filename`.
    Stdin {
        /// The name in the snapshot.
        filename: String,
    },
    /// The standard output of a command, stored as `filename`; the snapshot is saved only when the
    /// command exits with status 0.
    Command {
        /// The name in the snapshot.
        filename: String,
        /// Program and arguments.
        argv: Vec<String>,
    },
}

/// Options of a backup.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct BackupOptions {
    /// Files and directories to back up.
    pub paths: Vec<PathBuf>,
    /// Exclude patterns (see spec/backup.md; restic's rules).
    pub excludes: Vec<String>,
    /// Stay on the file system of each path.
    pub one_file_system: bool,
    /// Host name to record (default: this machine's).
    pub host: Option<String>,
    /// Tags to record.
    pub tags: Vec<String>,
    /// Time to record (default: now); for importing history.
    pub time: Option<Timestamp>,
    /// Parent snapshot choice.
    pub parent: ParentChoice,
    /// Back up a stream instead of paths.
    pub stream: Option<StreamSource>,
}

/// What a backup produced.
#[derive(Clone, Debug)]
pub struct BackupOutcome {
    /// The new snapshot's id.
    pub id: SnapshotId,
    /// The new snapshot.
    pub snapshot: Snapshot,
    /// The parent it was compared with.
    pub parent: Option<SnapshotId>,
    /// Files that could not be read and are missing from the snapshot.
    pub errors: Vec<FileError>,
}

/// Runs a backup into `repo`.
pub fn backup(
    repo: &Indexed,
    options: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupOutcome> {
    let started = Instant::now();
    let host = options.host.clone().unwrap_or_else(sys::host_name);
    let writer = BlobWriter::new(repo.clone());
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("cairn-backup-{i}"))
        .stack_size(16 << 20)
        .build()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start worker threads: {e}")))?;
    let excludes = Excludes::new(&options.excludes)?;
    let archiver = Archiver::new(&writer, excludes, options.one_file_system, progress);

    let (tree, source, paths, parent) = match &options.stream {
        Some(stream) => {
            let (tree, source) = pool.install(|| backup_stream(&archiver, stream))?;
            (tree, source, Vec::new(), None)
        }
        None => {
            if options.paths.is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "nothing to back up: give at least one path",
                ));
            }
            let abs: Vec<PathBuf> = options
                .paths
                .iter()
                .map(|p| archiver::absolute(p))
                .collect::<Result<_>>()?;
            for p in &abs {
                if std::fs::symlink_metadata(p).is_err() {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("{}: no such file or directory", p.display()),
                    ));
                }
            }
            let mut paths: Vec<String> = abs
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            paths.sort();
            paths.dedup();
            let parent = find_parent(repo, &options.parent, &host, &paths)?;
            if progress.wants_totals() {
                let targets = abs.clone();
                let excludes = Excludes::new(&options.excludes)?;
                std::thread::scope(|s| {
                    s.spawn(|| {
                        let (files, bytes) = archiver::count(&targets, &excludes);
                        progress.set_total(files, bytes);
                    });
                    backup_paths(&pool, &archiver, &abs, parent.as_ref())
                })
                .map(|tree| (tree, Source::Files, paths, parent))?
            } else {
                let tree = backup_paths(&pool, &archiver, &abs, parent.as_ref())?;
                (tree, Source::Files, paths, parent)
            }
        }
    };
    writer.finish()?;

    let mut summary = archiver.counters.summary();
    let stats = writer.stats();
    summary.data_blobs_added = stats.data_blobs.load(Ordering::Relaxed);
    summary.tree_blobs_added = stats.tree_blobs.load(Ordering::Relaxed);
    summary.bytes_added = stats.bytes_added.load(Ordering::Relaxed);
    let errors = archiver.take_errors();
    summary.errors = errors.len() as u64;
    summary.duration_secs = started.elapsed().as_secs_f64();
    let mut tags = options.tags.clone();
    tags.sort();
    tags.dedup();
    let snapshot = Snapshot {
        version: FORMAT_VERSION,
        time: options.time.unwrap_or_else(Timestamp::now),
        host,
        username: sys::user_name(),
        tags,
        paths,
        excludes: options.excludes.clone(),
        parent: parent.as_ref().map(|(id, _)| *id),
        original: None,
        tree,
        source,
        summary,
        program_version: format!("cairn {}", env!("CARGO_PKG_VERSION")),
    };
    let id = repo.save_snapshot(&snapshot)?;
    Ok(BackupOutcome {
        id,
        parent: snapshot.parent,
        snapshot,
        errors,
    })
}

fn backup_paths(
    pool: &rayon::ThreadPool,
    archiver: &Archiver<'_>,
    abs: &[PathBuf],
    parent: Option<&(SnapshotId, Snapshot)>,
) -> Result<BlobId> {
    let targets = Targets::new(abs);
    pool.install(|| archiver.targets(&targets, parent.map(|(_, s)| s.tree)))
}

/// The parent snapshot: as chosen, or the latest of the same host and paths.
fn find_parent(
    repo: &Indexed,
    choice: &ParentChoice,
    host: &str,
    paths: &[String],
) -> Result<Option<(SnapshotId, Snapshot)>> {
    match choice {
        ParentChoice::None => Ok(None),
        ParentChoice::Snapshot(id) => Ok(Some((*id, repo.load_snapshot(id)?))),
        ParentChoice::Auto => Ok(repo
            .snapshots()?
            .into_iter()
            .rfind(|(_, s)| s.host == host && s.paths == paths && s.source == Source::Files)),
    }
}

fn backup_stream(archiver: &Archiver<'_>, stream: &StreamSource) -> Result<(BlobId, Source)> {
    let (filename, command) = match stream {
        StreamSource::Stdin { filename } => (filename, None),
        StreamSource::Command { filename, argv } => (filename, Some(argv)),
    };
    let name = Name::new(filename.as_str());
    if !name.is_valid_component() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{filename:?} cannot be a file name in the snapshot: give a name without `/`"),
        ));
    }
    let (stored, argv) = match command {
        None => (
            read_stream(archiver, std::io::stdin(), "standard input")?,
            None,
        ),
        Some(argv) => (run_command(archiver, argv)?, Some(argv.clone())),
    };
    let mut entry = Entry::new(name, EntryKind::File);
    entry.mode = 0o644;
    // SAFETY: getuid and getgid cannot fail.
    (entry.uid, entry.gid) = unsafe { (libc::getuid(), libc::getgid()) };
    entry.user = sys::user_name();
    let now = Timestamp::now().as_nanosecond() as i64;
    (entry.mtime, entry.ctime) = (now, now);
    entry.size = stored.size;
    entry.content = stored.parts;
    archiver.counters.count_file(false, stored.size);
    let mut dir = DirBuilder::new(archiver.writer);
    dir.push(entry)?;
    let tree = dir.finish()?;
    Ok((
        tree,
        Source::Stream {
            filename: filename.clone(),
            command: argv,
        },
    ))
}

fn read_stream(
    archiver: &Archiver<'_>,
    reader: impl Read + Send,
    what: &str,
) -> Result<archiver::StoredContent> {
    match archiver::store_content(archiver.writer, reader, None, archiver.progress) {
        Ok(s) => Ok(s),
        Err(ReadFailure::Source(e)) => Err(archiver::stream_error(what, e)),
        Err(ReadFailure::Repository(e)) => Err(e),
    }
}

fn run_command(archiver: &Archiver<'_>, argv: &[String]) -> Result<archiver::StoredContent> {
    let (program, args) = argv.split_first().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            "--stdin-from-command needs a command after `--`",
        )
    })?;
    let shown = argv.join(" ");
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            Error::new(
                ErrorKind::SourceFailed,
                format!("cannot run `{shown}`: {e}; no snapshot was saved"),
            )
            .with_source(e)
        })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stored = read_stream(archiver, stdout, &format!("the output of `{shown}`"));
    let status = child.wait().map_err(|e| {
        Error::new(
            ErrorKind::SourceFailed,
            format!("waiting for `{shown}`: {e}"),
        )
    })?;
    let stored = stored?;
    if !status.success() {
        return Err(Error::new(
            ErrorKind::SourceFailed,
            format!("`{shown}` failed ({status}); no snapshot was saved"),
        ));
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::testutil::{memory_repo, reopen};
    use std::os::unix::fs::symlink;

    fn options(paths: &[&std::path::Path]) -> BackupOptions {
        BackupOptions {
            paths: paths.iter().map(|p| p.to_path_buf()).collect(),
            ..Default::default()
        }
    }

    fn read_file(repo: &Indexed, snap: &Snapshot, path: &str) -> Vec<u8> {
        let e = repo.resolve(&snap.tree, path).unwrap().expect(path);
        repo.file_chunks(&e.content)
            .unwrap()
            .iter()
            .flat_map(|(_, id, _)| {
                repo.read_blob(cairn_repo_format::BlobKind::Data, id)
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn backs_up_a_tree_and_skips_unchanged_files_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(src.join("big"), &big).unwrap();
        std::fs::write(src.join("sub/small"), b"hello").unwrap();
        symlink("big", src.join("link")).unwrap();
        std::fs::write(src.join("skip.log"), b"x").unwrap();
        let repo = memory_repo();
        let mut opts = options(&[&src]);
        opts.excludes = vec!["*.log".into()];
        let first = backup(&repo, &opts, &NoProgress).unwrap();
        assert!(first.errors.is_empty());
        assert_eq!(first.snapshot.summary.files_new, 2);
        let repo = reopen(&repo);
        let root = src.to_str().unwrap();
        assert_eq!(
            read_file(&repo, &first.snapshot, &format!("{root}/big")),
            big
        );
        assert_eq!(
            read_file(&repo, &first.snapshot, &format!("{root}/sub/small")),
            b"hello"
        );
        let link = repo
            .resolve(&first.snapshot.tree, &format!("{root}/link"))
            .unwrap()
            .unwrap();
        assert_eq!(link.target, Some(Name::new("big")));
        assert!(repo
            .resolve(&first.snapshot.tree, &format!("{root}/skip.log"))
            .unwrap()
            .is_none());

        let second = backup(&repo, &opts, &NoProgress).unwrap();
        assert_eq!(second.parent, Some(first.id));
        assert_eq!(second.snapshot.summary.files_unmodified, 2);
        assert_eq!(second.snapshot.summary.bytes_read, 0);
        assert_eq!(second.snapshot.summary.data_blobs_added, 0);
        assert_eq!(second.snapshot.tree, first.snapshot.tree);
    }

    #[test]
    fn a_failing_command_saves_no_snapshot() {
        let repo = memory_repo();
        let mut opts = BackupOptions {
            stream: Some(StreamSource::Command {
                filename: "dump.sql".into(),
                argv: vec!["sh".into(), "-c".into(), "printf data; exit 3".into()],
            }),
            ..Default::default()
        };
        let err = backup(&repo, &opts, &NoProgress).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SourceFailed);
        assert!(repo.snapshots().unwrap().is_empty());
        opts.stream = Some(StreamSource::Command {
            filename: "dump.sql".into(),
            argv: vec!["sh".into(), "-c".into(), "printf data".into()],
        });
        let ok = backup(&repo, &opts, &NoProgress).unwrap();
        let repo = reopen(&repo);
        assert_eq!(read_file(&repo, &ok.snapshot, "dump.sql"), b"data");
    }

    #[test]
    fn a_huge_directory_is_split_and_still_found_by_name() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..3000 {
            std::fs::write(dir.path().join(format!("f{i:05}")), i.to_string()).unwrap();
        }
        let repo = memory_repo();
        let out = backup(&repo, &options(&[dir.path()]), &NoProgress).unwrap();
        let repo = reopen(&repo);
        let root = dir.path().to_str().unwrap();
        let d = repo.resolve(&out.snapshot.tree, root).unwrap().unwrap();
        assert!(matches!(
            repo.node(&d.subtree.unwrap()).unwrap(),
            cairn_repo_format::Node::Branch(_)
        ));
        assert_eq!(
            read_file(&repo, &out.snapshot, &format!("{root}/f02999")),
            b"2999"
        );
        let count = repo.dir_entries(&d.subtree.unwrap()).count();
        assert_eq!(count, 3000);
    }
}
