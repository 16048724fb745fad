#!/usr/bin/env bash
# Profiles cairn's first backup and restore of one dataset of compare.sh: a CPU profile with perf
# (top symbols, self time) and, for the restore, the heap with heaptrack and the peak RSS under glibc
# malloc settings that keep freed memory from piling up. Findings go into README.md.
#
#   benches/compare/profile.sh [DATASET]      (default random; datasets.sh must have made it)
#
# Needs perf (apt-get install -y linux-perf) and heaptrack; WORK, DATA and CAIRN as in compare.sh.
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
echo "== restore: peak RSS (KB) by glibc malloc setting"
for env in "" "MALLOC_ARENA_MAX=2" "MALLOC_MMAP_THRESHOLD_=1048576" "MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=1048576"; do
  /usr/bin/time -f "%e s %M KB" -o "$P/t" env $env "$CAIRN" -r "$REPO" --cache-dir "$P/cache" restore -q latest --target "$P/r2"
  echo "${env:-default}: $(cat "$P/t")"
  rm -rf "$P/r2"
done
if command -v heaptrack >/dev/null; then
  echo "== restore: heaptrack"
  heaptrack -o "$P/restore.heaptrack" "$CAIRN" -r "$REPO" --cache-dir "$P/cache" restore -q latest --target "$P/r3" > /dev/null 2>&1
  rm -rf "$P/r3"
  heaptrack_print -f "$P"/restore.heaptrack.*zst 2>/dev/null | grep -E -A 12 '^PEAK MEMORY CONSUMERS' | head -60
  heaptrack_print -f "$P"/restore.heaptrack.*zst 2>/dev/null | grep -E '^(peak heap memory|peak RSS|total memory leaked|calls to allocation)'
fi
rm -rf "$REPO" "$P/cache"
