//! A claim's data written into a path of this machine: the directory of a node-local PV (or one
//! provisioned under `--volume-root`, or `--to-dir`), or the file or device of a block claim.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use cairn_repo_format::Snapshot;

use super::claim_data::{ClaimData, VolumeItem};
use crate::commands::restore::{restore, RestoreOptions};
use crate::indexed::Indexed;
use crate::progress::NoProgress;

/// How much of a block volume is looked at to tell whether it holds data.
const PROBE: usize = 1 << 20;

/// Writes `claim`'s data into `path`, unless it holds data and `overwrite` is false.
pub fn write_local(
    repo: &Indexed,
    snapshot: &Snapshot,
    claim: &ClaimData,
    path: &Path,
    overwrite: bool,
    method: &'static str,
) -> VolumeItem {
    let mut item = claim.item(method, "restored");
    item.target = Some(path.display().to_string());
    match holds_data(path, claim.block()) {
        Ok(true) if !overwrite => {
            return VolumeItem {
                action: "skipped",
                ..item
            }
            .because("the volume holds data: left as it is (--overwrite-data replaces it)")
        }
        Ok(_) => {}
        Err(e) => {
            return VolumeItem {
                action: "failed",
                ..item
            }
            .because(format!("cannot read {}: {e}", path.display()))
        }
    }
    if claim.block() {
        write_image(repo, claim, path, item)
    } else {
        write_tree(repo, snapshot, claim, path, item)
    }
}

fn write_tree(
    repo: &Indexed,
    snapshot: &Snapshot,
    claim: &ClaimData,
    path: &Path,
    mut item: VolumeItem,
) -> VolumeItem {
    let options = RestoreOptions::new(path).subpath(Some(claim.source.as_str()));
    match restore(repo, snapshot, &options, &NoProgress) {
        Ok(stats) => {
            item.files = stats.files;
            item.bytes = stats.bytes;
            if let Some(first) = stats.errors.first() {
                item.action = "failed";
                item.reason = Some(format!(
                    "{} files or directories could not be restored, the first: {}: {}",
                    stats.errors.len(),
                    first.path.display(),
                    first.message
                ));
            }
            item
        }
        Err(e) => VolumeItem {
            action: "failed",
            ..item
        }
        .because(e.to_string()),
    }
}

fn write_image(repo: &Indexed, claim: &ClaimData, path: &Path, mut item: VolumeItem) -> VolumeItem {
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
        .and_then(|mut file| {
            let n = repo
                .copy_content(&claim.entry, &mut file)
                .map_err(|e| e.to_string())?;
            let regular = file.metadata().is_ok_and(|m| m.is_file());
            if regular {
                file.set_len(n)
                    .map_err(|e| format!("cannot size {}: {e}", path.display()))?;
            }
            file.flush()
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(n)
        });
    match written {
        Ok(n) => {
            item.files = 1;
            item.bytes = n;
            item
        }
        Err(why) => VolumeItem {
            action: "failed",
            ..item
        }
        .because(why),
    }
}

/// Whether `path` holds data: a directory with entries other than `lost+found`, or a file or device
/// whose first MiB is not all zeros. A path that does not exist holds none.
fn holds_data(path: &Path, block: bool) -> std::io::Result<bool> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if meta.is_dir() && !block {
        for entry in std::fs::read_dir(path)? {
            if entry?.file_name() != "lost+found" {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    let mut head = Vec::with_capacity(PROBE);
    File::open(path)?
        .take(PROBE as u64)
        .read_to_end(&mut head)?;
    Ok(head.iter().any(|&b| b != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_directories_and_zeroed_images_hold_no_data() {
        let dir = tempfile::tempdir().unwrap();
        let vol = dir.path().join("vol");
        assert!(!holds_data(&vol, false).unwrap(), "a missing path");
        std::fs::create_dir_all(vol.join("lost+found")).unwrap();
        assert!(!holds_data(&vol, false).unwrap(), "only lost+found");
        std::fs::write(vol.join("PG_VERSION"), "15").unwrap();
        assert!(holds_data(&vol, false).unwrap());
        let img = dir.path().join("disk.img");
        std::fs::write(&img, vec![0u8; 4096]).unwrap();
        assert!(!holds_data(&img, true).unwrap(), "zeros");
        std::fs::write(&img, b"\0\0\x01").unwrap();
        assert!(holds_data(&img, true).unwrap());
    }
}
