//! End-to-end tests: they drive the real `cairn` binary, as a user or a script would, against
//! repositories in scratch directories, and check what a user relies on: the data comes back byte for
//! byte with its metadata, the exit codes are the documented ones, and faults are reported clearly.
//!
//! One test binary (like ripgrep's `tests/tests.rs`); each module covers one area; `util` holds the
//! scratch directories and the runner. Tests run in parallel, each in its own directory.

mod backup_options;
mod basics;
mod browse;
mod faults;
mod generations;
mod k8s;
mod k8s_csi;
mod k8s_postgres;
mod k8s_restore;
mod k8s_restore_data;
mod k8s_restore_transform;
mod k8s_restore_waits;
mod keys;
mod mount;
mod readme;
mod roundtrip;
mod s3;
mod terminal;
mod util;
