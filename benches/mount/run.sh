#!/usr/bin/env bash
# Benchmarks of `cairn mount` (figures, not pass/fail tests); README.md beside this script says what
# each one measures. Run as root on an idle machine: page caches are dropped between runs.
#
#   benches/mount/run.sh                      # all three: image, random, listing
#   benches/mount/run.sh listing              # only some of them
#   SIZE_MIB=256 ENTRIES=10000 benches/mount/run.sh   # a quick run
#
# Needs FUSE (/dev/fuse and, for restic, fusermount), python3 and, for the comparison, restic.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=benches/mount
SIZE_MIB=${SIZE_MIB:-2048}
ENTRIES=${ENTRIES:-100000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-mount-bench.XXXXXX")
export CAIRN_REPOSITORY=$WORK/repo CAIRN_PASSWORD=bench CAIRN_CACHE_DIR=$WORK/cache
export RESTIC_REPOSITORY=$WORK/restic RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$WORK/restic-cache
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for m in "$WORK"/mnt*; do [ -d "$m" ] && { umount -l "$m" 2>/dev/null || fusermount -u -z "$m" 2>/dev/null || true; }; done
  rm -rf "$WORK"
}
trap cleanup EXIT

drop_caches() {
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}
[ -w /proc/sys/vm/drop_caches ] || echo "note: not root: page caches are not dropped; cold figures are warm" >&2

# seconds a command takes (its output discarded)
seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
mibps() { echo "scale=0; $1 / $2" | bc -l; }

is_mounted() { grep -q " $1 " /proc/self/mountinfo; }
wait_mounted() {
  for _ in $(seq 600); do is_mounted "$1" && return 0; sleep 0.1; done
  echo "not mounted: $1" >&2; return 1
}
# mount_cairn DIR: starts `cairn mount DIR` in the background, sets MOUNT_PID
mount_cairn() {
  mkdir -p "$1"
  "$CAIRN" mount "$1" 2>>"$WORK/mount.log" &
  MOUNT_PID=$!
  PIDS+=("$MOUNT_PID")
  wait_mounted "$1"
}
unmount_pid() { kill "$1"; wait "$1" 2>/dev/null || true; }
# restic unmounts on SIGINT; unmount it first so it never leaves a mount behind
unmount_restic() { umount "$2" 2>/dev/null || fusermount -u "$2" 2>/dev/null || true; kill -INT "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
peak_rss_mib() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

cargo build --release -q -p cairn-cli
CAIRN=$PWD/target/release/cairn
echo "cairn: $($CAIRN --version); $(nproc) cores; kernel $(uname -r); work dir $WORK"
"$CAIRN" init -q
RUN=${*:-image random listing}
wants() { [[ " $RUN " == *" $1 "* ]]; }

# ---- 1. sequential read of a disk image: mount vs restore -------------------------------------
if wants image || wants random; then
mkdir -p "$WORK/src"
echo "making a ${SIZE_MIB} MiB image (random bytes) and backing it up ..."
head -c "${SIZE_MIB}M" /dev/urandom >"$WORK/src/disk.img"
"$CAIRN" backup -q "$WORK/src"
rm -f "$WORK/src/disk.img"
IMG=snapshots/latest$WORK/src/disk.img
fi

if wants image; then

drop_caches
t=$(seconds "$CAIRN" restore -q latest --target "$WORK/restored" --include disk.img)
restore_mibps=$(mibps "$SIZE_MIB" "$t")
rm -rf "$WORK/restored"
echo "restore of the image:            ${t}s, ${restore_mibps} MiB/s"

mount_cairn "$WORK/mnt"
drop_caches
t=$(seconds dd if="$WORK/mnt/$IMG" of=/dev/null bs=1M status=none)
mount_mibps=$(mibps "$SIZE_MIB" "$t")
echo "sequential read through mount:   ${t}s, ${mount_mibps} MiB/s ($(echo "scale=0; 100 * $mount_mibps / $restore_mibps" | bc)% of restore)"
unmount_pid "$MOUNT_PID"
fi

# ---- 2. random 4 KiB reads: cold and warm ------------------------------------------------------
if wants random; then
mount_cairn "$WORK/mnt"
drop_caches
echo "random 4 KiB reads, cold (new mount, caches dropped, whole image):  $(python3 $HERE/randread.py "$WORK/mnt/$IMG" 1000 $((SIZE_MIB << 20)) 1)"
# Warm: the region was read once, so its chunks are in cairn's blob cache; the kernel's page cache
# is dropped so that every read still goes to cairn.
dd if="$WORK/mnt/$IMG" of=/dev/null bs=1M count=48 status=none
drop_caches
echo "random 4 KiB reads, warm (chunks in cairn's cache, first 48 MiB):   $(python3 $HERE/randread.py "$WORK/mnt/$IMG" 1000 $((48 << 20)) 2)"
unmount_pid "$MOUNT_PID"
fi

# ---- 3. listing a 100,000-entry directory: cairn vs restic ------------------------------------
# `ls -f` only lists (readdir); `ls -l` also stats every entry and asks for two extended attributes
# (SELinux label, ACL), three round trips to the file system per entry. The same `ls -l` of the
# source directory on the local disk is the baseline.
list_times() { # DIR: cold ls -f, cold ls -l (new mount: caches dropped), then both again
  drop_caches
  local a b c d
  a=$(seconds ls -f "$1"); b=$(seconds ls -l "$1"); c=$(seconds ls -f "$1"); d=$(seconds ls -l "$1")
  echo "ls -f ${a}s, ls -l ${b}s; again: ls -f ${c}s, ls -l ${d}s"
}
if wants listing; then
echo "making a directory of $ENTRIES files ..."
mkdir -p "$WORK/big/d"
python3 - "$WORK/big/d" "$ENTRIES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, f"file-{i:07d}.txt"), "w") as f:
        f.write(f"{i}\n")
PY
"$CAIRN" backup -q "$WORK/big"
DIR=snapshots/latest$WORK/big/d
drop_caches
echo "local disk: ls -l of $ENTRIES entries: $(seconds ls -l "$WORK/big/d")s cold, $(seconds ls -l "$WORK/big/d")s again"

mount_cairn "$WORK/mnt"
echo "cairn:  $ENTRIES entries: $(list_times "$WORK/mnt/$DIR"); peak RSS $(peak_rss_mib "$MOUNT_PID") MiB"
unmount_pid "$MOUNT_PID"

if command -v restic >/dev/null; then
  restic init -q >/dev/null
  restic backup -q "$WORK/big" >/dev/null
  mkdir -p "$WORK/mnt-restic"
  restic mount "$WORK/mnt-restic" >/dev/null 2>>"$WORK/restic.log" &
  RESTIC_PID=$!
  PIDS+=("$RESTIC_PID")
  wait_mounted "$WORK/mnt-restic"
  echo "restic: $ENTRIES entries: $(list_times "$WORK/mnt-restic/snapshots/latest$WORK/big/d"); peak RSS $(peak_rss_mib "$RESTIC_PID") MiB ($(restic version | cut -d' ' -f1-2))"
  unmount_restic "$RESTIC_PID" "$WORK/mnt-restic"
else
  echo "restic: not installed, no comparison"
fi
fi
