//! Building tree blobs: directory listings and content lists, split as spec/trees.md says.
//!
//! Both builders stream: they take items in order and write a piece as soon as a boundary closes it, so
//! a directory of millions of entries or a file of millions of chunks never sits in memory whole.

use cairn_repo_format::{
    BlobId, BlobKind, Child, ContentRef, Entry, Node, Splitter, BRANCH_INLINE_MAX,
    CONTENT_INLINE_MAX, LEAF_INLINE_MAX,
};

use crate::blob_writer::BlobWriter;
use crate::error::Result;

fn write_node(writer: &BlobWriter, node: &Node) -> Result<BlobId> {
    Ok(writer.add(BlobKind::Tree, &node.encode())?.0)
}

/// An item of an upper level: what a closed piece becomes one level up.
trait Keyed {
    fn key(&self) -> &[u8];
}

impl Keyed for Child {
    fn key(&self) -> &[u8] {
        self.first.as_bytes()
    }
}

impl Keyed for ContentRef {
    fn key(&self) -> &[u8] {
        match self {
            ContentRef::Chunk { id, .. } | ContentRef::List { id, .. } => id.as_bytes(),
        }
    }
}

/// The levels above the first: pending items per level, each with its own splitter.
struct Upper<T> {
    levels: Vec<(Vec<T>, Splitter)>,
    first_level: u8,
}

impl<T: Keyed> Upper<T> {
    fn new(first_level: u8) -> Self {
        Upper {
            levels: Vec::new(),
            first_level,
        }
    }

    fn push(
        &mut self,
        mut level: usize,
        mut item: T,
        close: &mut impl FnMut(Vec<T>) -> Result<T>,
    ) -> Result<()> {
        loop {
            if self.levels.len() <= level {
                let l = self.first_level + level as u8;
                self.levels.push((Vec::new(), Splitter::new(l)));
            }
            let (pending, splitter) = &mut self.levels[level];
            let boundary = splitter.push(item.key());
            pending.push(item);
            if !boundary {
                return Ok(());
            }
            item = close(std::mem::take(pending))?;
            level += 1;
        }
    }

    /// Closes every level; returns the items of the top level (at most `inline_max`).
    fn finish(
        mut self,
        inline_max: usize,
        close: &mut impl FnMut(Vec<T>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut carry: Option<T> = None;
        let mut level = 0;
        loop {
            if self.levels.len() <= level {
                let l = self.first_level + level as u8;
                self.levels.push((Vec::new(), Splitter::new(l)));
            }
            let top = level + 1 == self.levels.len();
            let pending = &mut self.levels[level].0;
            pending.extend(carry.take());
            if top && pending.len() <= inline_max {
                return Ok(std::mem::take(pending));
            }
            let group = std::mem::take(pending);
            if !group.is_empty() {
                carry = Some(close(group)?);
            }
            level += 1;
        }
    }
}

/// Builds one directory's tree from its entries, given in name order.
pub struct DirBuilder<'w> {
    writer: &'w BlobWriter,
    leaf: Vec<Entry>,
    splitter: Option<Splitter>,
    upper: Upper<Child>,
}

impl<'w> DirBuilder<'w> {
    /// An empty directory.
    pub fn new(writer: &'w BlobWriter) -> Self {
        DirBuilder {
            writer,
            leaf: Vec::new(),
            splitter: None,
            upper: Upper::new(1),
        }
    }

    /// Appends the next entry (names must arrive in strictly increasing byte order).
    pub fn push(&mut self, entry: Entry) -> Result<()> {
        match &mut self.splitter {
            None => {
                self.leaf.push(entry);
                if self.leaf.len() > LEAF_INLINE_MAX {
                    // Too big for one leaf: cut what we have from its start, as if split all along.
                    self.splitter = Some(Splitter::new(0));
                    for e in std::mem::take(&mut self.leaf) {
                        self.push(e)?;
                    }
                }
            }
            Some(splitter) => {
                let boundary = splitter.push(entry.name.as_bytes());
                self.leaf.push(entry);
                if boundary {
                    self.close_leaf()?;
                }
            }
        }
        Ok(())
    }

    fn close_leaf(&mut self) -> Result<()> {
        let entries = std::mem::take(&mut self.leaf);
        let child = leaf_child(self.writer, entries)?;
        let writer = self.writer;
        self.upper
            .push(0, child, &mut |group| branch_child(writer, group))
    }

    /// Writes what is left; returns the directory's root node.
    pub fn finish(mut self) -> Result<BlobId> {
        if self.splitter.is_none() {
            return write_node(self.writer, &Node::Leaf(self.leaf));
        }
        if !self.leaf.is_empty() {
            self.close_leaf()?;
        }
        let writer = self.writer;
        let top = self
            .upper
            .finish(BRANCH_INLINE_MAX, &mut |group| branch_child(writer, group))?;
        write_node(writer, &Node::Branch(top))
    }
}

fn leaf_child(writer: &BlobWriter, entries: Vec<Entry>) -> Result<Child> {
    let first = entries[0].name.clone();
    let count = entries.len() as u64;
    let tree = write_node(writer, &Node::Leaf(entries))?;
    Ok(Child { first, tree, count })
}

fn branch_child(writer: &BlobWriter, children: Vec<Child>) -> Result<Child> {
    let first = children[0].first.clone();
    let count = children.iter().map(|c| c.count).sum();
    let tree = write_node(writer, &Node::Branch(children))?;
    Ok(Child { first, tree, count })
}

/// Builds a file's content list from its chunks, given in order.
pub struct ContentBuilder<'w> {
    writer: &'w BlobWriter,
    pending: Vec<ContentRef>,
    splitter: Option<Splitter>,
    upper: Upper<ContentRef>,
}

impl<'w> ContentBuilder<'w> {
    /// An empty file.
    pub fn new(writer: &'w BlobWriter) -> Self {
        ContentBuilder {
            writer,
            pending: Vec::new(),
            splitter: None,
            upper: Upper::new(1),
        }
    }

    /// Appends the next chunk.
    pub fn push(&mut self, id: BlobId, len: u64) -> Result<()> {
        let part = ContentRef::Chunk { id, len };
        match &mut self.splitter {
            None => {
                self.pending.push(part);
                if self.pending.len() > CONTENT_INLINE_MAX {
                    self.splitter = Some(Splitter::new(0));
                    for p in std::mem::take(&mut self.pending) {
                        let ContentRef::Chunk { id, len } = p else {
                            unreachable!("only chunks are pending before splitting")
                        };
                        self.push(id, len)?;
                    }
                }
            }
            Some(splitter) => {
                let boundary = splitter.push(id.as_bytes());
                self.pending.push(part);
                if boundary {
                    self.close_list()?;
                }
            }
        }
        Ok(())
    }

    fn close_list(&mut self) -> Result<()> {
        let parts = std::mem::take(&mut self.pending);
        let writer = self.writer;
        let list = content_list(writer, parts)?;
        self.upper
            .push(0, list, &mut |group| content_list(writer, group))
    }

    /// Writes what is left; returns the parts the file's entry holds.
    pub fn finish(mut self) -> Result<Vec<ContentRef>> {
        if self.splitter.is_none() {
            return Ok(self.pending);
        }
        if !self.pending.is_empty() {
            self.close_list()?;
        }
        let writer = self.writer;
        self.upper
            .finish(CONTENT_INLINE_MAX, &mut |group| content_list(writer, group))
    }
}

fn content_list(writer: &BlobWriter, parts: Vec<ContentRef>) -> Result<ContentRef> {
    let len = parts.iter().map(|p| p.len()).sum();
    let id = write_node(writer, &Node::Content(parts))?;
    Ok(ContentRef::List { id, len })
}
