//! What a backup covers: the given paths as one tree from `/`, and the exclude patterns.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use globset::GlobSet;

use crate::error::{Error, Result};
use crate::glob::compile;

/// The given paths arranged as a tree of path components from `/`. A node is either a target (backed
/// up with everything below it) or an ancestor of targets (only its metadata is stored, and the
/// targets below it).
#[derive(Debug, Default)]
pub(crate) struct Targets {
    pub children: BTreeMap<Vec<u8>, Targets>,
    pub is_target: bool,
}

impl Targets {
    /// Arranges absolute, normalised paths. A path inside another given path adds nothing.
    pub fn new(paths: &[PathBuf]) -> Self {
        let mut root = Targets::default();
        for path in paths {
            let mut node = &mut root;
            for c in path.components() {
                if let Component::Normal(name) = c {
                    if node.is_target {
                        break;
                    }
                    node = node.children.entry(name.as_bytes().to_vec()).or_default();
                }
            }
            node.is_target = true;
            node.children.clear();
        }
        root
    }
}

/// Makes a path absolute and lexically normal (no `.`, `..` resolved against the parent), without
/// following symlinks, as restic records paths.
pub(crate) fn absolute(path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Exclude patterns (see [`crate::glob`]). A matching directory is skipped with everything below it.
#[derive(Debug, Default)]
pub(crate) struct Excludes {
    set: Option<GlobSet>,
}

impl Excludes {
    pub fn new(patterns: &[String]) -> Result<Self> {
        Ok(Excludes {
            set: compile(patterns, "exclude")?,
        })
    }

    pub fn is_excluded(&self, path: &Path) -> bool {
        self.set.as_ref().is_some_and(|s| s.is_match(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_targets_collapse_and_ancestors_are_shared() {
        let t = Targets::new(&[
            PathBuf::from("/home/a/x"),
            PathBuf::from("/home/a/y"),
            PathBuf::from("/home/a/x/inner"),
            PathBuf::from("/etc"),
        ]);
        let a = &t.children[b"home".as_slice()].children[b"a".as_slice()];
        assert!(a.children[b"x".as_slice()].is_target);
        assert!(a.children[b"x".as_slice()].children.is_empty());
        assert!(t.children[b"etc".as_slice()].is_target);
        assert!(!a.is_target);
    }

    #[test]
    fn excludes_match_like_restic() {
        let e =
            Excludes::new(&["*.log".into(), "/var/cache".into(), "node_modules/".into()]).unwrap();
        assert!(e.is_excluded(Path::new("/srv/app/x.log")));
        assert!(e.is_excluded(Path::new("/var/cache")));
        assert!(!e.is_excluded(Path::new("/srv/var/cache")));
        assert!(e.is_excluded(Path::new("/a/b/node_modules")));
        assert!(!e.is_excluded(Path::new("/srv/app/x.txt")));
        assert_eq!(
            absolute(Path::new("/a/./b/../c")).unwrap(),
            PathBuf::from("/a/c")
        );
    }
}
