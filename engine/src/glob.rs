//! Path patterns as restic reads them, for backup's excludes and restore's includes and excludes.
//!
//! A pattern that starts with `/` is anchored at the root; any other pattern matches at any depth
//! (it is prefixed with `**/`). `*` and `?` never match `/`; `**` matches any number of whole
//! components. A trailing `/` is ignored.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::{Error, ErrorKind, Result};

/// The glob a pattern stands for.
pub(crate) fn normalise(pattern: &str) -> String {
    let p = pattern.trim_end_matches('/');
    if p.is_empty() {
        "/**".to_string()
    } else if p.starts_with('/') {
        p.to_string()
    } else {
        format!("**/{p}")
    }
}

/// Compiles `patterns` into one set, or `None` when there are none; `what` names them in errors
/// (`exclude`, `include`).
pub(crate) fn compile(patterns: &[String], what: &str) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        let glob = GlobBuilder::new(&normalise(p))
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("{what} pattern {p:?}: {e}"),
                )
            })?;
        set.add(glob);
    }
    set.build()
        .map(Some)
        .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{what} patterns: {e}")))
}
