//! `cairn mount`: every snapshot as a read-only file system, until Ctrl-C or `umount`.

use std::path::PathBuf;

use anyhow::Result;
use cairn_fuse_mount::{Ended, Mount, MountOptions};
use clap::Args;

use super::FilterArgs;
use crate::args::{parse_size, Context};
use crate::exit::Status;

/// Flags of `mount`.
#[derive(Args, Debug)]
pub struct MountArgs {
    /// An empty directory to mount on
    #[arg(value_name = "MOUNTPOINT")]
    pub mountpoint: PathBuf,
    /// Let other users see the mount (the snapshot's permissions still apply); a user other than
    /// root needs `user_allow_other` in /etc/fuse.conf
    #[arg(long)]
    pub allow_other: bool,
    /// Memory for file data read from the repository, kept for further reads (tree listings get
    /// half as much again); not the on-disk cache of --cache-dir
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = |s: &str| parse_size(s, 1 << 20))]
    pub read_cache: u64,
    /// Which snapshots to show
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs `mount`: serves in the foreground until interrupted or unmounted from outside.
pub fn run(ctx: &Context, args: &MountArgs) -> Result<Status> {
    let repo = ctx.open_indexed()?;
    let options = MountOptions::default()
        .allow_other(args.allow_other)
        .cache_bytes(usize::try_from(args.read_cache).unwrap_or(usize::MAX))
        .filter(args.filter.filter());
    let mount = Mount::new(repo, &args.mountpoint, &options)?;
    let shown = mount.mountpoint().display().to_string();
    ctx.out.note(format_args!(
        "cairn: {} snapshots mounted at {shown} (read-only); press Ctrl-C or run `umount {shown}` to \
         unmount",
        mount.snapshots()
    ));
    match mount.wait()? {
        Ended::Signal(_) => ctx.out.note(format_args!("cairn: unmounted {shown}")),
        _ => ctx.out.note(format_args!("cairn: {shown} was unmounted")),
    }
    Ok(Status::Ok)
}
