//! A tar stream (from `tar -cf - -C <mount> .` in a container) unpacked into a [`MemDir`]: file
//! content goes to the repository as it arrives, only names and metadata stay in memory. Nothing
//! from the stream is trusted: a path that leaves the volume (`..`, absolute) is reported and left
//! out, and a broken stream ends the volume with an error rather than a panic.

use std::collections::HashMap;
use std::io::Read;
use std::sync::mpsc;

use cairn_repo_format::{ContentRef, Entry, EntryKind, Name};

use super::memtree::{MemDir, Stamp};
use crate::archiver::{store_content, Counters, ReadFailure, StoredContent};
use crate::blob_writer::BlobWriter;
use crate::error::Error;
use crate::progress::Progress;

/// What went wrong reading a stream.
#[derive(Debug)]
pub enum StreamFailure {
    /// The stream itself (broken, not tar): the volume is incomplete.
    Source(String),
    /// The repository: the backup stops.
    Repository(Error),
}

/// Unpacks `reader` into `dir`; returns the bytes of file content stored and the entries left out
/// (with why).
pub fn unpack(
    reader: impl Read + Send,
    writer: &BlobWriter,
    counters: &Counters,
    progress: &dyn Progress,
    dir: &mut MemDir,
    stamp: &Stamp,
) -> Result<(u64, Vec<String>), StreamFailure> {
    let mut archive = tar::Archive::new(reader);
    let mut bytes = 0;
    let mut left_out = Vec::new();
    let mut files: HashMap<Vec<u8>, (Vec<ContentRef>, u64)> = HashMap::new();
    let source = |e: std::io::Error| StreamFailure::Source(format!("reading the tar stream: {e}"));
    for item in archive.entries().map_err(source)? {
        let mut item = item.map_err(source)?;
        let raw = item.path_bytes().into_owned();
        let Some(parts) = clean_path(&raw) else {
            left_out.push(format!(
                "{}: a path outside the volume",
                String::from_utf8_lossy(&raw)
            ));
            continue;
        };
        let header = item.header().clone();
        let kind = header.entry_type();
        let Some((name, parents)) = parts.split_last() else {
            // The volume's root directory itself (`./`).
            if kind.is_dir() {
                dir.set_dir_entry(meta(&header, Name::new(""), EntryKind::Dir, stamp));
            }
            continue;
        };
        let parents: Vec<&[u8]> = parents.iter().map(|p| p.as_slice()).collect();
        let target = dir.dir(&parents);
        let name = Name(name.clone());
        if kind.is_dir() {
            let entry = meta(&header, name.clone(), EntryKind::Dir, stamp);
            target.dir(&[name.as_bytes()]).set_dir_entry(entry);
        } else if kind.is_file() {
            let size = header.size().unwrap_or(0);
            let stored = match store_entry(writer, &mut item, size, progress) {
                Ok(s) => s,
                Err(ReadFailure::Source(e)) => return Err(source(e)),
                Err(ReadFailure::Repository(e)) => return Err(StreamFailure::Repository(e)),
            };
            let mut e = meta(&header, name, EntryKind::File, stamp);
            e.size = stored.size;
            e.content = stored.parts;
            counters.count_file(false, stored.size);
            bytes += stored.size;
            files.insert(parts.concat_path(), (e.content.clone(), e.size));
            target.put(e);
        } else if kind.is_symlink() {
            let mut e = meta(&header, name, EntryKind::Symlink, stamp);
            e.target = item.link_name_bytes().map(|t| Name(t.into_owned()));
            target.put(e);
        } else if kind.is_hard_link() {
            // Stored as a copy of the file it links to: the stream carries its content once.
            let linked = item
                .link_name_bytes()
                .and_then(|l| clean_path(&l))
                .and_then(|l| files.get(&l.concat_path()).cloned());
            match linked {
                Some((content, size)) => {
                    let mut e = meta(&header, name, EntryKind::File, stamp);
                    (e.content, e.size) = (content, size);
                    target.put(e);
                }
                None => left_out.push(format!(
                    "{}: a hard link to a file not in the stream",
                    String::from_utf8_lossy(&raw)
                )),
            }
        } else {
            left_out.push(format!(
                "{}: not a file, directory or link",
                String::from_utf8_lossy(&raw)
            ));
        }
    }
    Ok((bytes, left_out))
}

/// Pieces of an entry handed from the tar reader to the storing thread.
const PIECE: usize = 256 << 10;

/// Stores one entry's content. A tar entry borrows its archive and cannot cross threads, while
/// storing reads on a thread of its own: the entry is copied through a small bounded channel.
fn store_entry(
    writer: &BlobWriter,
    item: &mut impl Read,
    size: u64,
    progress: &dyn Progress,
) -> Result<StoredContent, ReadFailure> {
    let (tx, rx) = mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    std::thread::scope(|scope| {
        let storing = scope.spawn(move || {
            let reader = ChannelReader {
                rx,
                piece: Vec::new(),
                at: 0,
            };
            store_content(writer, reader, Some(size), progress)
        });
        loop {
            let mut piece = vec![0u8; PIECE];
            let sent = match item.read(&mut piece) {
                Ok(0) => break,
                Ok(n) => {
                    piece.truncate(n);
                    tx.send(Ok(piece))
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    break;
                }
            };
            if sent.is_err() {
                // The storing side stopped; its result says why.
                break;
            }
        }
        drop(tx);
        storing
            .join()
            .unwrap_or_else(|_| Err(ReadFailure::Source(std::io::Error::other("storing failed"))))
    })
}

/// Reads the pieces a channel delivers, in order, until the sender is gone.
struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    piece: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.piece.len() {
            match self.rx.recv() {
                Ok(Ok(piece)) => (self.piece, self.at) = (piece, 0),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len() - self.at);
        buf[..n].copy_from_slice(&self.piece[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

trait ConcatPath {
    fn concat_path(&self) -> Vec<u8>;
}

impl ConcatPath for Vec<Vec<u8>> {
    fn concat_path(&self) -> Vec<u8> {
        self.join(&b'/')
    }
}

/// The components of a relative path inside the volume: `./a/b` is `[a, b]`, `./` is `[]`; `None`
/// for a path with `..` or a NUL.
fn clean_path(raw: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return None,
            p if p.contains(&0) => return None,
            p => out.push(p.to_vec()),
        }
    }
    Some(out)
}

fn meta(header: &tar::Header, name: Name, kind: EntryKind, stamp: &Stamp) -> Entry {
    let mut e = stamp.entry(name, kind, 0o644);
    e.mode = header.mode().map(|m| m & 0o7777).unwrap_or(0o644);
    e.uid = header
        .uid()
        .ok()
        .and_then(|u| u32::try_from(u).ok())
        .unwrap_or(0);
    e.gid = header
        .gid()
        .ok()
        .and_then(|g| u32::try_from(g).ok())
        .unwrap_or(0);
    e.user = header
        .username()
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string();
    e.group = header
        .groupname()
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string();
    let mtime = header
        .mtime()
        .ok()
        .and_then(|t| i64::try_from(t).ok())
        .unwrap_or(0);
    e.mtime = mtime.saturating_mul(1_000_000_000);
    e.ctime = e.mtime;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::testutil::{memory_repo, reopen};

    #[test]
    fn a_real_tar_stream_becomes_files_and_hostile_paths_are_left_out() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o750);
        dir.set_size(0);
        builder.append_data(&mut dir, "./sub/", &[][..]).unwrap();
        let mut file = tar::Header::new_gnu();
        file.set_mode(0o640);
        file.set_mtime(1_700_000_000);
        file.set_size(5);
        builder
            .append_data(&mut file, "./sub/a.txt", &b"hello"[..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        builder.append_link(&mut link, "./l", "sub/a.txt").unwrap();
        let mut hard = tar::Header::new_gnu();
        hard.set_entry_type(tar::EntryType::Link);
        hard.set_size(0);
        builder
            .append_link(&mut hard, "./h", "./sub/a.txt")
            .unwrap();
        // A path that leaves the volume, written raw since the builder refuses it.
        let mut evil = tar::Header::new_gnu();
        evil.set_size(1);
        evil.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        evil.set_cksum();
        builder.append(&evil, &b"x"[..]).unwrap();
        let bytes = builder.into_inner().unwrap();

        let repo = memory_repo();
        let writer = BlobWriter::new(repo.clone());
        let counters = Counters::default();
        let stamp = Stamp::current_user(0);
        let mut root = MemDir::new();
        let (n, left_out) = unpack(
            &bytes[..],
            &writer,
            &counters,
            &NoProgress,
            &mut root,
            &stamp,
        )
        .unwrap();
        assert_eq!(n, 5);
        assert_eq!(left_out.len(), 1, "{left_out:?}");
        let tree = root.write(&writer, &stamp).unwrap();
        writer.finish().unwrap();
        let repo = reopen(&repo);
        let a = repo.resolve(&tree, "sub/a.txt").unwrap().unwrap();
        assert_eq!((a.size, a.mode), (5, 0o640));
        assert_eq!(a.mtime, 1_700_000_000_000_000_000);
        assert_eq!(repo.resolve(&tree, "sub").unwrap().unwrap().mode, 0o750);
        let l = repo.resolve(&tree, "l").unwrap().unwrap();
        assert_eq!(l.target, Some(Name::new("sub/a.txt")));
        assert_eq!(
            repo.resolve(&tree, "h").unwrap().unwrap().content,
            a.content
        );
        assert!(repo.resolve(&tree, "escape").unwrap().is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let repo = memory_repo();
        let writer = BlobWriter::new(repo.clone());
        let mut root = MemDir::new();
        let junk = vec![0x5au8; 1500];
        let r = unpack(
            &junk[..],
            &writer,
            &Counters::default(),
            &NoProgress,
            &mut root,
            &Stamp::current_user(0),
        );
        assert!(matches!(r, Err(StreamFailure::Source(_))));
    }
}
