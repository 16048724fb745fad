//! A claim's data streamed through the `exec` subresource into a container that mounts it: a tar
//! stream into `tar -xpf - -C <mountPath>`, or a block image into `dd of=<devicePath>`.

use std::io::Write;

use tokio::io::AsyncReadExt;
use tokio::runtime::Runtime;
use tokio_util::io::SyncIoBridge;

use super::claim_data::{ClaimData, VolumeItem};
use super::tar_out::write_tar;
use crate::indexed::Indexed;
use crate::k8s::client::Cluster;
use crate::k8s::exec::{kept_stderr, Target};
use crate::k8s::volumes::Mount;

/// Output of a probe command kept, at most.
const PROBE_OUTPUT: u64 = 4096;

/// Streams `claim`'s data into `mount`, unless the volume holds data and `overwrite` is false.
pub fn write_exec(
    rt: &Runtime,
    cluster: &Cluster,
    repo: &Indexed,
    claim: &ClaimData,
    mount: &Mount,
    overwrite: bool,
) -> VolumeItem {
    let target = Target {
        namespace: &claim.namespace,
        pod: &mount.pod,
        container: &mount.container,
    };
    let mut item = claim.item("exec", "restored");
    item.target = Some(format!("{}/{}:{}", mount.pod, mount.container, mount.path));
    let failed = |item: VolumeItem, why: String| {
        VolumeItem {
            action: "failed",
            ..item
        }
        .because(why)
    };
    if !overwrite {
        match rt.block_on(holds_data(cluster, &target, &mount.path, claim.block())) {
            Ok(false) => {}
            Ok(true) => {
                return VolumeItem {
                    action: "skipped",
                    ..item
                }
                .because("the volume holds data: left as it is (--overwrite-data replaces it)")
            }
            Err(why) => return failed(item, format!("cannot tell whether it holds data: {why}")),
        }
    }
    let command: Vec<String> = if claim.block() {
        vec![
            "dd".into(),
            format!("of={}", mount.path),
            "bs=1048576".into(),
        ]
    } else {
        ["tar", "-xpf", "-", "-C", &mount.path]
            .map(String::from)
            .to_vec()
    };
    let mut process = match rt.block_on(cluster.exec_input(&target, &command)) {
        Ok(p) => p,
        Err(e) => return failed(item, e.to_string()),
    };
    let status = process.take_status();
    let stderr = process
        .stderr()
        .map(|mut err| rt.spawn(async move { kept_stderr(&mut err).await }));
    let Some(stdin) = process.stdin() else {
        return failed(item, "no input stream".into());
    };
    let mut input = SyncIoBridge::new_with_handle(stdin, rt.handle().clone());
    let sent = if claim.block() {
        repo.copy_content(&claim.entry, &mut input)
            .map(|n| (1, n))
            .map_err(|e| e.to_string())
    } else {
        match &claim.entry.subtree {
            Some(tree) => write_tar(repo, tree, &claim.source, &mut input)
                .map(|s| {
                    if s.left_out > 0 {
                        item.reason = Some(format!(
                            "{} entries left out (sockets, or names that are not one path component)",
                            s.left_out
                        ));
                    }
                    (s.files, s.bytes)
                })
                .map_err(|e| e.to_string()),
            None => Err("the snapshot's directory has no tree".into()),
        }
    };
    let closed = input.flush().and_then(|()| input.shutdown());
    drop(input);
    let status = match status {
        Some(s) => rt.block_on(s),
        None => None,
    };
    let stderr = match stderr {
        Some(task) => rt.block_on(task).unwrap_or_default(),
        None => Vec::new(),
    };
    let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
    let exit_ok = status
        .as_ref()
        .is_some_and(|s| s.status.as_deref() == Some("Success"));
    let said = |why: &str| {
        format!("`{}`: {why} {stderr}", command.join(" "))
            .trim()
            .to_string()
    };
    match (sent, closed) {
        (Ok((files, bytes)), Ok(())) if exit_ok => {
            item.files = files;
            item.bytes = bytes;
            item
        }
        (Ok(_), Ok(())) => {
            let why = status.and_then(|s| s.message).unwrap_or_default();
            failed(item, said(&format!("ended with an error: {why}")))
        }
        (Err(why), _) => failed(item, said(&why)),
        (_, Err(e)) => failed(item, said(&format!("closing its input: {e}"))),
    }
}

/// Whether the volume mounted at `path` holds data: entries other than `lost+found`, or a device
/// whose first MiB is not all zeros.
async fn holds_data(
    cluster: &Cluster,
    target: &Target<'_>,
    path: &str,
    block: bool,
) -> Result<bool, String> {
    let command: Vec<String> = if block {
        let probe = "head -c 1048576 \"$0\" | tr -d '\\000' | wc -c";
        vec!["sh".into(), "-c".into(), probe.into(), path.into()]
    } else {
        [
            "find",
            path,
            "-mindepth",
            "1",
            "-maxdepth",
            "1",
            "!",
            "-name",
            "lost+found",
            "-print",
            "-quit",
        ]
        .map(String::from)
        .to_vec()
    };
    let mut process = cluster
        .exec_stream(target, &command)
        .await
        .map_err(|e| e.to_string())?;
    let status = process.take_status();
    let mut out = Vec::new();
    if let Some(stdout) = process.stdout() {
        stdout
            .take(PROBE_OUTPUT)
            .read_to_end(&mut out)
            .await
            .map_err(|e| e.to_string())?;
    }
    let status = match status {
        Some(s) => s.await,
        None => None,
    };
    if status.is_none_or(|s| s.status.as_deref() != Some("Success")) {
        return Err(format!("`{}` failed", command.join(" ")));
    }
    let out = String::from_utf8_lossy(&out);
    Ok(if block {
        out.trim().parse::<u64>().map_or(true, |n| n > 0)
    } else {
        !out.trim().is_empty()
    })
}
