//! `cairn mount`: every snapshot of a repository as a read-only FUSE file system.
//!
//! ```text
//! /snapshots/<time>/...       /ids/<short id>/...
//! /hosts/<host>/<time>/...    /tags/<tag>/<time>/...      (and `latest` in each group)
//! ```
//!
//! Built on `fuser` without libfuse: as root the mount is made with mount(2), otherwise through
//! `fusermount3`. The modules each do one job:
//! - `layout`: the directories above the snapshots' trees, from the snapshot list;
//! - `catalog`: the snapshot list and index, refreshed while mounted;
//! - `inodes`: the inode table, lazy and forgotten as the kernel forgets;
//! - `nodes`: decoded tree nodes in a bounded cache, directory lookups and positions;
//! - `files` and `blobs`: reads at any offset through a bounded blob cache, with readahead;
//! - `fs`: the `fuser::Filesystem` implementation, handing repository reads to `workers`;
//! - `preflight` and `session`: checks, mounting, signals and unmounting.
//!
//! ```no_run
//! use cairn_engine::{Backend, OpenOptions, Repository};
//! use cairn_fuse_mount::{Mount, MountOptions};
//!
//! let repo = Repository::open(Backend::open("/srv/backups", false)?, b"pw", &OpenOptions::default())?
//!     .load_index()?;
//! let mount = Mount::new(repo, "/mnt/backups".as_ref(), &MountOptions::default())?;
//! mount.wait()?; // until Ctrl-C, SIGTERM or `umount /mnt/backups`
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod attr;
mod blobs;
mod catalog;
mod error;
mod files;
mod fs;
mod inodes;
mod layout;
mod lru;
mod nodes;
mod preflight;
mod session;
#[cfg(test)]
mod testutil;
mod workers;

pub use error::{Error, ErrorKind, Result};
pub use session::{Ended, Mount, MountOptions, MountStats};
