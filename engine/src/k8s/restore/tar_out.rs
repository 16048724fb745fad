//! A directory of a snapshot written out as a tar stream, for `tar -x` in a pod that mounts the
//! claim being restored (the counterpart of the stream `k8s backup --volume-method exec` reads).
//!
//! Entries keep their mode, owner ids and modification time; symbolic links their target; hard
//! links within the directory stay links, and one whose file lies outside it is written as a copy.
//! Devices and FIFOs are tar entries of their own; sockets, extended attributes and entries whose
//! name is not one path component are left out (GNU tar drops xattrs without `--xattrs` anyway),
//! and counted.

use std::io::{self, Read, Write};

use cairn_repo_format::{BlobId, BlobKind, Entry, EntryKind, Name};
use tar::{Builder, EntryType, Header};

use crate::indexed::Indexed;
use crate::k8s::error::K8sError;

/// GNU tar reads a pipe in records of 20 blocks and waits for a whole one: the stream is padded to
/// a record so that the reader sees the end-of-archive marker without waiting for more.
const RECORD: u64 = 20 * 512;

/// What went into the stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TarStats {
    /// Regular files (and hard links written as copies).
    pub files: u64,
    /// Bytes of file content.
    pub bytes: u64,
    /// Entries a tar stream cannot carry here (sockets).
    pub left_out: u64,
}

/// Writes the directory `dir` (the tree `tree`, at snapshot path `prefix`, `/`-separated from the
/// root) as a tar stream whose paths start with `./`.
pub fn write_tar(
    repo: &Indexed,
    tree: &BlobId,
    prefix: &str,
    out: impl Write,
) -> Result<TarStats, K8sError> {
    let mut counted = Counted { out, written: 0 };
    let mut stats = TarStats::default();
    {
        let mut builder = Builder::new(&mut counted);
        builder.mode(tar::HeaderMode::Complete);
        let prefix = format!("/{}/", prefix.trim_matches('/'));
        walk(repo, tree, ".", &prefix, &mut builder, &mut stats)?;
        builder.finish().map_err(io_error)?;
    }
    let pad = (RECORD - counted.written % RECORD) % RECORD;
    counted
        .write_all(&vec![0u8; pad as usize])
        .and_then(|()| counted.flush())
        .map_err(io_error)?;
    Ok(stats)
}

fn io_error(e: io::Error) -> K8sError {
    K8sError::Stream(format!("writing the tar stream: {e}"))
}

fn walk(
    repo: &Indexed,
    tree: &BlobId,
    path: &str,
    prefix: &str,
    builder: &mut Builder<impl Write>,
    stats: &mut TarStats,
) -> Result<(), K8sError> {
    for entry in repo.dir_entries(tree) {
        let entry = entry?;
        // Only names that are one path component go into the stream: `tar -x` writes nothing
        // outside the mount, whatever the repository holds.
        if !entry.name.is_valid_component() {
            stats.left_out += 1;
            continue;
        }
        let name = format!("{path}/{}", String::from_utf8_lossy(entry.name.as_bytes()));
        let mut header = header_of(&entry);
        match entry.kind {
            EntryKind::Dir => {
                header.set_entry_type(EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, &name, io::empty())
                    .map_err(io_error)?;
                if let Some(sub) = &entry.subtree {
                    walk(repo, sub, &name, prefix, builder, stats)?;
                }
            }
            EntryKind::Symlink => {
                header.set_entry_type(EntryType::Symlink);
                header.set_size(0);
                let target = entry.target.as_ref().map(|t| t.as_bytes()).unwrap_or(b"");
                builder
                    .append_link(&mut header, &name, String::from_utf8_lossy(target).as_ref())
                    .map_err(io_error)?;
            }
            EntryKind::Hardlink => match link_inside(&entry, prefix) {
                Some(target) => {
                    header.set_entry_type(EntryType::Link);
                    header.set_size(0);
                    builder
                        .append_link(&mut header, &name, &target)
                        .map_err(io_error)?;
                }
                None => append_file(repo, &entry, &mut header, &name, builder, stats)?,
            },
            EntryKind::File => append_file(repo, &entry, &mut header, &name, builder, stats)?,
            EntryKind::Chardev | EntryKind::Blockdev | EntryKind::Fifo => {
                header.set_entry_type(match entry.kind {
                    EntryKind::Chardev => EntryType::Char,
                    EntryKind::Blockdev => EntryType::Block,
                    _ => EntryType::Fifo,
                });
                header.set_size(0);
                // Linux's dev_t: major in bits 8-19 (and 32-43), minor in bits 0-7 (and 20-31).
                let major = ((entry.rdev >> 8) & 0xfff) | ((entry.rdev >> 32) & !0xfff);
                let minor = (entry.rdev & 0xff) | ((entry.rdev >> 12) & !0xff);
                let _ = header.set_device_major(major as u32);
                let _ = header.set_device_minor(minor as u32);
                builder
                    .append_data(&mut header, &name, io::empty())
                    .map_err(io_error)?;
            }
            EntryKind::Socket => stats.left_out += 1,
        }
    }
    Ok(())
}

fn header_of(entry: &Entry) -> Header {
    let mut header = Header::new_gnu();
    header.set_mode(entry.mode & 0o7777);
    header.set_uid(u64::from(entry.uid));
    header.set_gid(u64::from(entry.gid));
    header.set_mtime(u64::try_from(entry.mtime.div_euclid(1_000_000_000)).unwrap_or(0));
    // Names longer than the field are left out; the numeric ids carry the owner.
    let _ = header.set_username(&entry.user);
    let _ = header.set_groupname(&entry.group);
    header
}

/// A hard link's target as a path of the stream, when its file is inside the directory written.
fn link_inside(entry: &Entry, prefix: &str) -> Option<String> {
    let target = String::from_utf8_lossy(entry.target.as_ref()?.as_bytes()).into_owned();
    let target = format!("/{}", target.trim_start_matches('/'));
    let rest = target.strip_prefix(prefix)?;
    rest.split('/')
        .all(|c| Name::new(c).is_valid_component())
        .then(|| format!("./{rest}"))
}

fn append_file(
    repo: &Indexed,
    entry: &Entry,
    header: &mut Header,
    name: &str,
    builder: &mut Builder<impl Write>,
    stats: &mut TarStats,
) -> Result<(), K8sError> {
    header.set_entry_type(EntryType::Regular);
    header.set_size(entry.size);
    let chunks = repo.file_chunks(&entry.content)?;
    let mut reader = Content {
        repo,
        chunks: chunks.into_iter(),
        current: io::Cursor::new(Vec::new()),
        left: entry.size,
    };
    builder
        .append_data(header, name, &mut reader)
        .map_err(io_error)?;
    if reader.left != 0 {
        return Err(K8sError::Stream(format!(
            "{name}: the snapshot holds less content than its size says"
        )));
    }
    stats.files += 1;
    stats.bytes += entry.size;
    Ok(())
}

/// A file's content read chunk by chunk, never past the size its header promised.
struct Content<'a> {
    repo: &'a Indexed,
    chunks: std::vec::IntoIter<(u64, BlobId, u64)>,
    current: io::Cursor<Vec<u8>>,
    left: u64,
}

impl Read for Content<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || self.left == 0 {
                let n = n.min(usize::try_from(self.left).unwrap_or(usize::MAX));
                self.left -= n as u64;
                return Ok(n);
            }
            let Some((_, id, _)) = self.chunks.next() else {
                return Ok(0);
            };
            let chunk = self
                .repo
                .read_blob(BlobKind::Data, &id)
                .map_err(io::Error::other)?;
            self.current = io::Cursor::new(chunk);
        }
    }
}

/// A writer that counts what passes through it.
struct Counted<W> {
    out: W,
    written: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;
    use crate::archiver::Counters;
    use crate::blob_writer::BlobWriter;
    use crate::k8s::memtree::{MemDir, Stamp};
    use crate::k8s::tar_stream::unpack;
    use crate::progress::NoProgress;
    use crate::testutil::{memory_repo, reopen};

    /// A tree holding what a pod's `tar -cf -` sent: `sub/` (0750), `sub/a.txt` (0640, 200 KiB,
    /// several chunks), the symlink `l` and the empty file `empty`.
    fn tree(content: &[u8]) -> (Indexed, BlobId) {
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = Header::new_gnu();
        dir.set_entry_type(EntryType::Directory);
        dir.set_mode(0o750);
        dir.set_size(0);
        b.append_data(&mut dir, "./sub/", io::empty()).unwrap();
        let mut file = Header::new_gnu();
        file.set_mode(0o640);
        file.set_mtime(1_700_000_000);
        file.set_size(content.len() as u64);
        b.append_data(&mut file, "./sub/a.txt", content).unwrap();
        let mut empty = Header::new_gnu();
        empty.set_mode(0o600);
        empty.set_size(0);
        b.append_data(&mut empty, "./empty", io::empty()).unwrap();
        let mut link = Header::new_gnu();
        link.set_entry_type(EntryType::Symlink);
        link.set_size(0);
        b.append_link(&mut link, "./l", "sub/a.txt").unwrap();
        let bytes = b.into_inner().unwrap();
        let repo = memory_repo();
        let writer = BlobWriter::new(repo.clone());
        let stamp = Stamp::current_user(0);
        let mut root = MemDir::new();
        let counters = Counters::default();
        unpack(
            &bytes[..],
            &writer,
            &counters,
            &NoProgress,
            &mut root,
            &stamp,
        )
        .unwrap();
        let tree = root.write(&writer, &stamp).unwrap();
        writer.finish().unwrap();
        (reopen(&repo), tree)
    }

    #[test]
    fn a_snapshot_directory_becomes_a_tar_stream_that_tar_reads_back_whole() {
        let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (repo, tree) = tree(&content);
        let mut out = Vec::new();
        let stats = write_tar(&repo, &tree, "volumes/ns/claim", &mut out).unwrap();
        assert_eq!((stats.files, stats.bytes, stats.left_out), (2, 200_000, 0));
        assert_eq!(out.len() % RECORD as usize, 0, "padded to a whole record");
        let mut archive = tar::Archive::new(&out[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            // The stream's paths start with `./`; the tar crate reads them without it.
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let header = entry.header().clone();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            match path.as_str() {
                "sub" => assert_eq!(header.mode().unwrap(), 0o750),
                "sub/a.txt" => {
                    assert_eq!(header.mode().unwrap(), 0o640);
                    assert_eq!(header.mtime().unwrap(), 1_700_000_000);
                    assert!(data == content, "content differs");
                }
                "empty" => assert!(data.is_empty()),
                "l" => assert_eq!(
                    entry.link_name().unwrap().unwrap().to_str(),
                    Some("sub/a.txt")
                ),
                other => panic!("unexpected entry {other}"),
            }
            seen.push(path);
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
    }

    #[test]
    fn hard_links_stay_links_only_inside_the_directory_written() {
        let mut link = Entry::new(Name::new("h"), EntryKind::Hardlink);
        link.target = Some(Name::new("/volumes/ns/claim/sub/a.txt"));
        assert_eq!(
            link_inside(&link, "/volumes/ns/claim/").as_deref(),
            Some("./sub/a.txt")
        );
        link.target = Some(Name::new("/volumes/ns/other/a.txt"));
        assert_eq!(link_inside(&link, "/volumes/ns/claim/"), None);
        link.target = Some(Name::new("/volumes/ns/claim/../other/a.txt"));
        assert_eq!(link_inside(&link, "/volumes/ns/claim/"), None);
    }
}
