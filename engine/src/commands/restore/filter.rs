//! Include and exclude patterns of `restore`, matched against snapshot paths such as `/home/x/file`.
//!
//! A pattern that starts with `/` is anchored at the snapshot's root; any other pattern matches at any
//! depth (it is prefixed with `**/`). `*` and `?` never match `/`; `**` matches any number of whole
//! components. A trailing `/` is ignored.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use globset::GlobSet;

use crate::glob::{compile, normalise};

use crate::error::Result;

/// Characters that make a pattern component something other than a literal name.
const META: &[char] = &['*', '?', '[', ']', '{', '}', '\\'];

/// Compiled include and exclude patterns.
pub(super) struct Filter {
    includes: Option<GlobSet>,
    excludes: Option<GlobSet>,
    /// For each anchored include pattern, its leading literal components; `None` when some include
    /// pattern is unanchored, so any directory may hold a match.
    include_prefixes: Option<Vec<Vec<Vec<u8>>>>,
}

fn as_path(snap: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(snap))
}

impl Filter {
    /// Compiles the patterns; an invalid pattern is an error of the whole run.
    pub(super) fn new(include: &[String], exclude: &[String]) -> Result<Self> {
        let include_prefixes = include
            .iter()
            .map(|p| {
                let p = normalise(p);
                let rest = p.strip_prefix('/')?;
                Some(
                    rest.split('/')
                        .filter(|c| !c.is_empty())
                        .take_while(|c| !c.contains(META))
                        .map(|c| c.as_bytes().to_vec())
                        .collect(),
                )
            })
            .collect();
        Ok(Filter {
            includes: compile(include, "include")?,
            excludes: compile(exclude, "exclude")?,
            include_prefixes,
        })
    }

    /// True when an exclude pattern matches `snap`.
    pub(super) fn excluded(&self, snap: &[u8]) -> bool {
        self.excludes
            .as_ref()
            .is_some_and(|set| set.is_match(as_path(snap)))
    }

    /// True when there are no include patterns or one matches `snap`.
    pub(super) fn included(&self, snap: &[u8]) -> bool {
        self.includes
            .as_ref()
            .is_none_or(|set| set.is_match(as_path(snap)))
    }

    /// False only when no include pattern can match anything below the directory `snap`, so the
    /// walk need not read it.
    pub(super) fn may_include_below(&self, snap: &[u8]) -> bool {
        let Some(prefixes) = &self.include_prefixes else {
            return true;
        };
        let dir: Vec<&[u8]> = snap
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        prefixes
            .iter()
            .any(|prefix| dir.iter().zip(prefix).all(|(d, p)| *d == p.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> Filter {
        let v = |s: &[&str]| s.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        Filter::new(&v(include), &v(exclude)).unwrap()
    }

    #[test]
    fn unanchored_patterns_match_at_any_depth_and_stars_stay_in_one_component() {
        let f = filter(&["*.txt", "/home/x/docs/"], &["cache"]);
        assert!(f.included(b"/a.txt"));
        assert!(f.included(b"/home/x/a.txt"));
        assert!(!f.included(b"/home/x/a.txt.bak"));
        assert!(f.included(b"/home/x/docs"));
        assert!(!f.included(b"/srv/home/x/docs"));
        assert!(f.excluded(b"/home/x/cache"));
        assert!(f.excluded(b"/cache"));
        assert!(!f.excluded(b"/home/x/cache2"));
        let anchored = filter(&["/home/*/docs"], &[]);
        assert!(anchored.included(b"/home/x/docs"));
        assert!(!anchored.included(b"/home/x/y/docs"));
        assert!(anchored.may_include_below(b"/home"));
        assert!(anchored.may_include_below(b"/home/anyone"));
        assert!(!anchored.may_include_below(b"/srv"));
        assert!(f.may_include_below(b"/srv"), "*.txt may match anywhere");
        assert!(filter(&[], &[]).included(b"/anything"));
        assert!(filter(&["/"], &[]).included(b"/anything/below"));
        assert!(Filter::new(&["a[".to_string()], &[]).is_err());
    }
}
