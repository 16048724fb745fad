#!/usr/bin/env bash
# Creates the four datasets of the comparison, each as DATA/NAME/v1 and DATA/NAME/v2 (v2 = v1 changed
# a little). Idempotent: a dataset whose DATA/NAME/.done exists is kept. See README.md.
#
#   benches/compare/datasets.sh [random] [tree] [image] [pg]
#
# Env: WORK (default /tmp/cairn-compare), DATA (default $WORK/data), SEED (default 8).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/cairn-compare}
DATA=${DATA:-$WORK/data}
SEED=${SEED:-8}
GEN="python3 $HERE/gen.py"
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGUSER_OS=${PGUSER_OS:-cairnbench}
PGPORT=${PGPORT:-55432}
PG_SCALE=${PG_SCALE:-50}
PG_LOAD_SECONDS=${PG_LOAD_SECONDS:-60}
RANDOM_BYTES=${RANDOM_BYTES:-$((1 << 30))}
IMAGE_SIZE=${IMAGE_SIZE:-2G}
SYSROOT=$(rustc --print sysroot 2>/dev/null || echo "$HOME/.rustup/toolchains/stable-x86_64-unknown-linux-gnu")

# The file tree, about 1 GB: docs, translations, man pages, Python, GCC, and the Rust toolchain's
# libraries and HTML docs (many small files as well as big binaries). Sources that do not exist on
# a machine are left out, so the size varies a little between machines.
TREE_SOURCES=(
  /usr/share/doc /usr/share/locale /usr/share/man /usr/lib/python3.11 /usr/lib/gcc
  "$SYSROOT/lib/rustlib/x86_64-unknown-linux-gnu"
  "$SYSROOT/share/doc/rust/html/std" "$SYSROOT/share/doc/rust/html/alloc"
  "$SYSROOT/share/doc/rust/html/src" "$SYSROOT/share/doc/rust/html/rust-by-example"
)
# The files put into the disk image, about 700 MB: the first six sources of the tree.
IMAGE_SOURCES=${IMAGE_SOURCES:-6}

log() { echo "[datasets $(date +%T)] $*" >&2; }

mk_random() {
  local d=$DATA/random
  [ -e "$d/.done" ] && return
  log "random: $RANDOM_BYTES bytes"
  rm -rf "$d" && mkdir -p "$d/v1" "$d/v2"
  $GEN random "$d/v1/data.bin" "$RANDOM_BYTES" "$SEED"
  cp -a "$d/v1/data.bin" "$d/v2/data.bin"
  # v2: 5% rewritten in place in 64 KiB runs; the file keeps its name, gets a new mtime
  $GEN rewrite "$d/v2/data.bin" 0.05 65536 "$SEED"
  touch "$d/.done"
}

src_name() { # a readable, unique, visible name: /usr/share/doc -> usr_share_doc
  local name=${1#"$HOME"/}; name=${name#/}; name=${name#.}; echo "${name//\//_}"
}

copy_sources() { # dest first-n [link-from]: copy (or hard-link from a copy) the first n sources
  local dest=$1 n=$2 from=${3:-} i=0 src
  mkdir -p "$dest"
  for src in "${TREE_SOURCES[@]}"; do
    [ "$i" -lt "$n" ] || break
    i=$((i + 1))
    [ -d "$src" ] || { log "tree: $src missing, left out"; continue; }
    if [ -n "$from" ]; then cp -al "$from/$(src_name "$src")" "$dest/"; else cp -a "$src" "$dest/$(src_name "$src")"; fi
  done
}

mk_tree() {
  local d=$DATA/tree
  [ -e "$d/.done" ] && return
  log "tree: copying ${#TREE_SOURCES[@]} directories"
  rm -rf "$d" && mkdir -p "$d"
  copy_sources "$d/v1" "${#TREE_SOURCES[@]}"
  # v2 shares v1's inodes (hard links) except the files it changes, as if changed in place
  cp -al "$d/v1" "$d/v2"
  $GEN tree-v2 "$d/v2" 0.01 "$SEED"
  touch "$d/.done"
}

mk_image() {
  local d=$DATA/image
  [ -e "$d/.done" ] && return
  command -v mkfs.ext4 >/dev/null || { apt-get install -y e2fsprogs >&2; }
  log "image: $IMAGE_SIZE ext4 image with the first $IMAGE_SOURCES tree sources"
  rm -rf "$d" && mkdir -p "$d/v1" "$d/v2" "$d/files"
  if [ -e "$DATA/tree/.done" ]; then
    copy_sources "$d/files" "$IMAGE_SOURCES" "$DATA/tree/v1"
  else
    copy_sources "$d/files" "$IMAGE_SOURCES"
  fi
  du -sh "$d/files" >&2
  E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -b 4096 -U 8e5e2a6c-0c6e-4c59-9d0a-000000000008 \
    -E hash_seed=8e5e2a6c-0c6e-4c59-9d0a-000000000009,root_owner=0:0 -d "$d/files" "$d/v1/disk.img" "$IMAGE_SIZE"
  rm -rf "$d/files"
  cp -a --sparse=always "$d/v1/disk.img" "$d/v2/disk.img"
  # v2: 5% of the image's blocks rewritten in place in 64 KiB runs (anywhere in the image)
  $GEN rewrite "$d/v2/disk.img" 0.05 65536 "$SEED"
  touch "$d/.done"
}

pg_ctl_as() { runuser -u "$PGUSER_OS" -- "$PGBIN/pg_ctl" "$@"; }

mk_pg() {
  local d=$DATA/pg
  [ -e "$d/.done" ] && return
  log "pg: pgbench -i -s $PG_SCALE, then $PG_LOAD_SECONDS s of pgbench"
  if [ "$(id -u)" = 0 ]; then
    id "$PGUSER_OS" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PGUSER_OS"
  else
    PGUSER_OS=$(id -un)
  fi
  rm -rf "$d" && mkdir -p "$d/sock"
  chown "$PGUSER_OS" "$d" "$d/sock"
  local opts="-p $PGPORT -k $d/sock -c fsync=off -c listen_addresses=''"
  runuser -u "$PGUSER_OS" -- "$PGBIN/initdb" -D "$d/v1" -U postgres -A trust --no-instructions >/dev/null
  pg_ctl_as -D "$d/v1" -o "$opts" -l "$d/log-v1" -w start >/dev/null
  runuser -u "$PGUSER_OS" -- "$PGBIN/pgbench" -h "$d/sock" -p "$PGPORT" -U postgres -i -s "$PG_SCALE" -q postgres >&2
  pg_ctl_as -D "$d/v1" -m fast -w stop >/dev/null
  cp -a "$d/v1" "$d/v2"
  pg_ctl_as -D "$d/v2" -o "$opts" -l "$d/log-v2" -w start >/dev/null
  runuser -u "$PGUSER_OS" -- "$PGBIN/pgbench" -h "$d/sock" -p "$PGPORT" -U postgres -c 4 -j 2 \
    -T "$PG_LOAD_SECONDS" postgres >&2
  pg_ctl_as -D "$d/v2" -m fast -w stop >/dev/null
  # files PostgreSQL did not touch stay the same inode, as they would in a data directory that lives on
  $GEN link-same "$d/v1" "$d/v2"
  touch "$d/.done"
}

mkdir -p "$DATA"
for ds in "${@:-random tree image pg}"; do
  for one in $ds; do "mk_$one"; done
done
for ds in random tree image pg; do
  [ -e "$DATA/$ds/.done" ] || continue
  v1=$DATA/$ds/v1; [ -d "$v1" ] || v1=$DATA/$ds/live   # compare.sh renames the version in use to live
  log "$ds: $(du -sb "$v1" | cut -f1) bytes (apparent) in $(basename "$v1"), $(du -sh "$DATA/$ds" | cut -f1) on disk with both versions"
done
true
