#!/usr/bin/env bash
# Profiles cairn's first backup and restore of one dataset of compare.sh: a CPU profile with perf
# (top symbols, self time), and peak RSS under mimalloc settings that return freed memory sooner
# (how much of the RSS is live data). Findings go into README.md.
#
#   benches/compare/profile.sh [DATASET]      (default random; datasets.sh must have made it)
#
# Needs perf (apt-get install -y linux-perf); WORK, DATA and CAIRN as in compare.sh.
set -uo pipefail
WORK=${WORK:-/tmp/cairn-compare}
DATA=${DATA:-$WORK/data}
CAIRN=${CAIRN:-/tmp/cairn-bench-bin/cairn}
DS=${1:-random}
P=$WORK/profile/$DS
export CAIRN_PASSWORD=bench
rm -rf "$P" && mkdir -p "$P"
SRC=$DATA/$DS/live; [ -d "$SRC" ] || SRC=$DATA/$DS/v1
REPO=$P/repo
top() { perf report -i "$1" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -"${2:-25}"; }

"$CAIRN" -r "$REPO" init -q
find "$SRC" -type f -print0 | xargs -0 cat > /dev/null
echo "== backup of $SRC: perf, self time by symbol"
perf record -F 999 -g -o "$P/backup.perf" -- "$CAIRN" -r "$REPO" --cache-dir "$P/cache" backup -q "$SRC" 2> "$P/perf-backup.log"
top "$P/backup.perf"
echo "== restore: perf, self time by symbol"
perf record -F 999 -g -o "$P/restore.perf" -- "$CAIRN" -r "$REPO" --cache-dir "$P/cache" restore -q latest --target "$P/r1" 2> "$P/perf-restore.log"
top "$P/restore.perf"
rm -rf "$P/r1"
# cairn's global allocator is mimalloc (cli/src/main.rs), which heaptrack does not see; its own
# settings show how much of the peak RSS is live data and how much is freed memory it keeps.
echo "== peak RSS by mimalloc setting (wall, user, sys, peak RSS)"
for env in "" "MIMALLOC_ARENA_EAGER_COMMIT=0" "MIMALLOC_PURGE_DELAY=100 MIMALLOC_ARENA_EAGER_COMMIT=0" \
    "MIMALLOC_PURGE_DELAY=0 MIMALLOC_ARENA_EAGER_COMMIT=0"; do
  rm -rf "$P/b" "$P/bc"
  "$CAIRN" -r "$P/b" init -q
  /usr/bin/time -f "%e s %U u %S s %M KB" -o "$P/t" env $env "$CAIRN" -r "$P/b" --cache-dir "$P/bc" backup -q "$SRC"
  echo "backup  ${env:-default}: $(cat "$P/t")"
  /usr/bin/time -f "%e s %U u %S s %M KB" -o "$P/t" env $env "$CAIRN" -r "$P/b" --cache-dir "$P/bc" restore -q latest --target "$P/r2"
  echo "restore ${env:-default}: $(cat "$P/t")"
  rm -rf "$P/r2"
done
rm -rf "$P/b" "$P/bc"
rm -rf "$REPO" "$P/cache"
