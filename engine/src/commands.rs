//! One module per command: its options, its plan where it has one, its result, and the function that
//! runs it. The CLI only parses arguments into these options and prints the results.

pub mod backup;
pub mod check;
pub mod copy;
pub mod diff;
pub mod find;
pub mod forget;
pub mod ls;
pub mod prune;
pub mod restore;
pub mod stats;
pub mod tag;
