#!/usr/bin/env bash
# First backups of the same data by cairn and restic, alternating, three runs each: prints
# "tool dataset wall_seconds peak_rss_kb repo_bytes" per run. Both tools encrypt and compress with
# their defaults; each run starts from a fresh repository and cache.
#
#   cargo build --release -p cairn-cli && benches/compare/first-backup.sh
#
# Env: WORK (default /tmp/cairn-compare), RANDOM_GIB (default 1), TREE (default /usr/share).
# The full comparison of issue 8 (more datasets, second backups, restores) builds on this.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CAIRN=${CAIRN:-$ROOT/target/release/cairn}
WORK=${WORK:-/tmp/cairn-compare}
TREE=${TREE:-/usr/share}
export CAIRN_PASSWORD=bench RESTIC_PASSWORD=bench
mkdir -p "$WORK/random"
[ -f "$WORK/random/data.bin" ] || head -c "$(( ${RANDOM_GIB:-1} << 30 ))" /dev/urandom > "$WORK/random/data.bin"

run() { # tool dataset path
  local tool=$1 ds=$2 path=$3 repo=$WORK/repo-$1-$2 cache=$WORK/cache-$1
  rm -rf "$repo" "$cache"
  if [ "$tool" = cairn ]; then
    CAIRN_REPOSITORY=$repo "$CAIRN" init >/dev/null 2>&1
    sync
    /usr/bin/time -f "%e %M" -o "$WORK/time" env CAIRN_REPOSITORY="$repo" "$CAIRN" --cache-dir "$cache" backup -q "$path" >/dev/null 2>&1
  else
    restic -r "$repo" init -q >/dev/null 2>&1
    sync
    /usr/bin/time -f "%e %M" -o "$WORK/time" restic -r "$repo" --cache-dir "$cache" backup -q "$path" >/dev/null 2>&1
  fi
  echo "$tool $ds $(cat "$WORK/time") $(du -sb "$repo" | cut -f1)"
}

for _ in 1 2 3; do
  for ds in "random:$WORK/random" "tree:$TREE"; do
    run cairn "${ds%%:*}" "${ds#*:}"
    run restic "${ds%%:*}" "${ds#*:}"
  done
done
