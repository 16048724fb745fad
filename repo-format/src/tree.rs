//! Trees: directory listings and file content lists, stored as tree blobs.
//!
//! A tree blob's payload is one JSON [`Node`]:
//! - `{"leaf": [entry, ...]}`: directory entries, sorted by name bytes, names unique;
//! - `{"branch": [{"first": name, "tree": id, "count": n}, ...]}`: a large directory split in pieces,
//!   each child covering the names from `first` up to the next child's `first`;
//! - `{"content": [part, ...]}`: a piece of a long file's content list.
//!
//! A directory of more than [`LEAF_INLINE_MAX`] entries is cut into leaves at content-defined
//! boundaries ([`Splitter`]), so inserting one entry rewrites one leaf and the branches above it; a
//! lookup binary-searches branches by `first`. A file's content is a list of parts, each a data blob
//! (`chunk`) or a content node (`list`) with the number of bytes it covers; past
//! [`CONTENT_INLINE_MAX`] parts the list is cut the same way, so a seek reads a few small nodes.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{FormatError, Result};
use crate::id::BlobId;

/// A directory with at most this many entries is one leaf.
pub const LEAF_INLINE_MAX: usize = 1024;
/// A branch with at most this many children is one node.
pub const BRANCH_INLINE_MAX: usize = 1024;
/// A file with at most this many parts keeps them in its entry.
pub const CONTENT_INLINE_MAX: usize = 64;
/// Boundary mask when cutting any list: a boundary on average every 512 items.
pub const BOUNDARY_MASK: u32 = 511;
/// A piece is cut at this many items even without a boundary.
pub const PIECE_MAX: usize = 2048;
/// Longest file name accepted.
pub const NAME_MAX: usize = 4096;

/// A file name: bytes, as the operating system gives them. Serialised as a JSON string when it is
/// UTF-8, otherwise as `{"b64": "..."}`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Name(pub Vec<u8>);

impl Name {
    /// A name from a string.
    pub fn new(s: impl Into<Vec<u8>>) -> Self {
        Name(s.into())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// True when this can be one path component: not empty, not `.` or `..`, no `/` and no NUL.
    pub fn is_valid_component(&self) -> bool {
        !self.0.is_empty()
            && self.0.len() <= NAME_MAX
            && self.0 != b"."
            && self.0 != b".."
            && !self.0.iter().any(|&b| b == b'/' || b == 0)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum NameRepr<'a> {
    Text(std::borrow::Cow<'a, str>),
    Bytes { b64: String },
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => NameRepr::Bytes {
                b64: BASE64.encode(&self.0),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match NameRepr::deserialize(d)? {
            NameRepr::Text(t) => Ok(Name(t.into_owned().into_bytes())),
            NameRepr::Bytes { b64 } => BASE64
                .decode(b64)
                .map(Name)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Bytes serialised as base64 (xattr values).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Base64Bytes(pub Vec<u8>);

impl fmt::Debug for Base64Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

impl Serialize for Base64Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        BASE64
            .decode(s.as_bytes())
            .map(Base64Bytes)
            .map_err(serde::de::Error::custom)
    }
}

/// The type of a directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A further name of a file seen earlier in the snapshot; `target` is that file's path.
    Hardlink,
    /// A character device.
    Chardev,
    /// A block device.
    Blockdev,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
}

/// One extended attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xattr {
    /// Attribute name, e.g. `user.comment`.
    pub name: Name,
    /// Attribute value.
    pub value: Base64Bytes,
}

/// One part of a file's content: a data blob, or a content node listing further parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentRef {
    /// A data blob holding `len` bytes.
    Chunk {
        /// The data blob.
        id: BlobId,
        /// Bytes it holds.
        len: u64,
    },
    /// A tree blob `{"content": [...]}` whose parts cover `len` bytes.
    List {
        /// The content node.
        id: BlobId,
        /// Bytes its parts cover.
        len: u64,
    },
}

impl ContentRef {
    /// Bytes of file content this part covers.
    pub fn len(&self) -> u64 {
        match self {
            ContentRef::Chunk { len, .. } | ContentRef::List { len, .. } => *len,
        }
    }

    /// True when the part covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The blob this part names.
    pub fn id(&self) -> BlobId {
        match self {
            ContentRef::Chunk { id, .. } | ContentRef::List { id, .. } => *id,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentRefRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chunk: Option<BlobId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    list: Option<BlobId>,
    len: u64,
}

impl Serialize for ContentRef {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let repr = match *self {
            ContentRef::Chunk { id, len } => ContentRefRepr {
                chunk: Some(id),
                list: None,
                len,
            },
            ContentRef::List { id, len } => ContentRefRepr {
                chunk: None,
                list: Some(id),
                len,
            },
        };
        repr.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ContentRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let r = ContentRefRepr::deserialize(d)?;
        match (r.chunk, r.list) {
            (Some(id), None) => Ok(ContentRef::Chunk { id, len: r.len }),
            (None, Some(id)) => Ok(ContentRef::List { id, len: r.len }),
            _ => Err(serde::de::Error::custom(
                "a content part names exactly one of chunk or list",
            )),
        }
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One directory entry with its metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Name within its directory.
    pub name: Name,
    /// Type.
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// Permission bits, including setuid, setgid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    #[serde(default)]
    pub uid: u32,
    /// Group.
    #[serde(default)]
    pub gid: u32,
    /// Owner's name, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Group's name, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Modification time, nanoseconds since the Unix epoch.
    #[serde(default)]
    pub mtime: i64,
    /// Status change time, nanoseconds since the Unix epoch.
    #[serde(default)]
    pub ctime: i64,
    /// Size in bytes (files and hard links).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
    /// Inode number on the source.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inode: u64,
    /// Device of the source file system.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub device: u64,
    /// Number of hard links on the source.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub links: u64,
    /// Device number (character and block devices).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rdev: u64,
    /// Extended attributes, sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xattrs: Vec<Xattr>,
    /// Symlink target, or for a hard link the absolute snapshot path (`/`-separated, from the
    /// snapshot's root) of the file it links to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Name>,
    /// File content (files and hard links).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<ContentRef>,
    /// Directory listing (directories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<BlobId>,
}

impl Entry {
    /// An entry with the given name and kind and every other field empty.
    pub fn new(name: Name, kind: EntryKind) -> Self {
        Entry {
            name,
            kind,
            mode: 0,
            uid: 0,
            gid: 0,
            user: String::new(),
            group: String::new(),
            mtime: 0,
            ctime: 0,
            size: 0,
            inode: 0,
            device: 0,
            links: 0,
            rdev: 0,
            xattrs: Vec::new(),
            target: None,
            content: Vec::new(),
            subtree: None,
        }
    }

    fn validate(&self) -> Result<()> {
        if !self.name.is_valid_component() {
            return Err(FormatError::malformed(
                "tree",
                format!("entry name {:?} is not a valid path component", self.name),
            ));
        }
        let bad = |d: &str| {
            Err(FormatError::malformed(
                "tree",
                format!("{:?}: {d}", self.name),
            ))
        };
        match self.kind {
            EntryKind::Dir if self.subtree.is_none() => return bad("directory without subtree"),
            EntryKind::Symlink | EntryKind::Hardlink if self.target.is_none() => {
                return bad("link without target")
            }
            EntryKind::File | EntryKind::Hardlink if content_len(&self.content)? != self.size => {
                return bad("content length differs from size")
            }
            EntryKind::File | EntryKind::Hardlink => {}
            _ if !self.content.is_empty() => return bad("content on an entry that is not a file"),
            _ => {}
        }
        if self.kind != EntryKind::Dir && self.subtree.is_some() {
            return bad("subtree on an entry that is not a directory");
        }
        Ok(())
    }
}

/// Total bytes covered by `parts`, or an error on overflow.
pub fn content_len(parts: &[ContentRef]) -> Result<u64> {
    parts.iter().try_fold(0u64, |acc, p| {
        acc.checked_add(p.len())
            .ok_or_else(|| FormatError::malformed("tree", "content length overflows"))
    })
}

/// One child of a branch node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Child {
    /// The first name in the child.
    pub first: Name,
    /// The child node (a leaf or a branch).
    pub tree: BlobId,
    /// Number of entries under the child.
    pub count: u64,
}

/// A tree blob's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Node {
    /// Directory entries.
    Leaf(Vec<Entry>),
    /// Pieces of a large directory.
    Branch(Vec<Child>),
    /// A piece of a long file's content list.
    Content(Vec<ContentRef>),
}

impl Node {
    /// Encodes the payload. Deterministic: equal nodes give equal bytes, hence equal blob ids.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("tree node serialises")
    }

    /// Decodes and validates a payload: names valid and strictly sorted, types consistent.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        let node: Node = serde_json::from_slice(payload).map_err(FormatError::json("tree"))?;
        node.validate()?;
        Ok(node)
    }

    fn validate(&self) -> Result<()> {
        match self {
            Node::Leaf(entries) => {
                for e in entries {
                    e.validate()?;
                }
                check_sorted(entries.iter().map(|e| &e.name))
            }
            Node::Branch(children) => {
                if children.is_empty() {
                    return Err(FormatError::malformed("tree", "empty branch"));
                }
                if let Some(c) = children.iter().find(|c| !c.first.is_valid_component()) {
                    return Err(FormatError::malformed(
                        "tree",
                        format!("branch name {:?} is not a valid path component", c.first),
                    ));
                }
                check_sorted(children.iter().map(|c| &c.first))
            }
            Node::Content(parts) => {
                if parts.is_empty() {
                    return Err(FormatError::malformed("tree", "empty content node"));
                }
                content_len(parts).map(|_| ())
            }
        }
    }
}

fn check_sorted<'a>(mut names: impl Iterator<Item = &'a Name>) -> Result<()> {
    let Some(mut prev) = names.next() else {
        return Ok(());
    };
    for name in names {
        if name <= prev {
            return Err(FormatError::malformed(
                "tree",
                format!("names not strictly sorted at {name:?}"),
            ));
        }
        prev = name;
    }
    Ok(())
}

/// Decides where lists are cut: after an item whose key hashes to a boundary at this level, or when
/// a piece reaches [`PIECE_MAX`] items. Boundaries depend on the items (and, past a run of
/// [`PIECE_MAX`] items without one, on position), so an unchanged run of items is cut the same way
/// in every snapshot.
#[derive(Clone, Debug)]
pub struct Splitter {
    level: u8,
    in_piece: usize,
}

impl Splitter {
    /// A splitter for pieces at `level` (0 for leaves and content nodes over chunks, one more for
    /// each level above).
    pub fn new(level: u8) -> Self {
        Splitter { level, in_piece: 0 }
    }

    /// Takes the next item's key (an entry's or child's name, a part's blob id) and tells whether the
    /// current piece ends after it.
    pub fn push(&mut self, key: &[u8]) -> bool {
        self.in_piece += 1;
        let mut hasher = blake3::Hasher::new();
        hasher.update(&[self.level]);
        hasher.update(key);
        let h = hasher.finalize();
        let word = u32::from_le_bytes(h.as_bytes()[..4].try_into().expect("4 bytes"));
        if word & BOUNDARY_MASK == BOUNDARY_MASK || self.in_piece >= PIECE_MAX {
            self.in_piece = 0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64) -> Entry {
        let mut e = Entry::new(Name::new(name), EntryKind::File);
        e.size = size;
        if size > 0 {
            e.content = vec![ContentRef::Chunk {
                id: BlobId([1; 32]),
                len: size,
            }];
        }
        e
    }

    #[test]
    fn round_trip_with_non_utf8_names_and_xattrs() {
        let mut e = file("a", 3);
        e.xattrs.push(Xattr {
            name: Name::new("user.x"),
            value: Base64Bytes(vec![0, 1, 2]),
        });
        let mut odd = Entry::new(Name(vec![0xff, b'z']), EntryKind::Symlink);
        odd.target = Some(Name(vec![0xfe]));
        let node = Node::Leaf(vec![e, odd]);
        assert_eq!(Node::decode(&node.encode()).unwrap(), node);
    }

    #[test]
    fn rejects_hostile_names_duplicates_and_inconsistent_entries() {
        for bad in ["..", ".", "a/b", ""] {
            let node = Node::Leaf(vec![file(bad, 0)]);
            assert!(Node::decode(&node.encode()).is_err(), "{bad:?} accepted");
        }
        let dup = Node::Leaf(vec![file("a", 0), file("a", 0)]);
        assert!(Node::decode(&dup.encode()).is_err());
        let mut wrong_size = file("a", 3);
        wrong_size.size = 4;
        assert!(Node::decode(&Node::Leaf(vec![wrong_size]).encode()).is_err());
        let dir = Entry::new(Name::new("d"), EntryKind::Dir);
        assert!(Node::decode(&Node::Leaf(vec![dir]).encode()).is_err());
        assert!(Node::decode(br#"{"content":[]}"#).is_err());
        assert!(Node::decode(br#"{"content":[{"chunk":"00","len":1}]}"#).is_err());
    }

    #[test]
    fn splitter_cuts_on_average_every_512_and_never_past_the_maximum() {
        let mut s = Splitter::new(0);
        let mut pieces = 0;
        let n = 200_000u32;
        for i in 0..n {
            if s.push(&i.to_le_bytes()) {
                pieces += 1;
            }
        }
        let avg = n as f64 / pieces as f64;
        assert!((400.0..650.0).contains(&avg), "average piece {avg}");
        let mut s = Splitter::new(0);
        let mut run = 0;
        for i in 0..100_000u32 {
            run += 1;
            if s.push(&i.to_be_bytes()) {
                run = 0;
            }
            assert!(run < PIECE_MAX);
        }
    }
}
