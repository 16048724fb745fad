#!/usr/bin/env bash
# Profiles cairn's first backup and restore of one dataset of compare.sh: a CPU profile with perf
# (top symbols, self time), and the heap's peak against the process's (heaptrack: how much of the
# RSS is live data, and where it was allocated). Findings go into README.md.
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
echo "== heap (heaptrack): peak heap, peak RSS, largest peak consumers"
for step in backup restore; do
  rm -rf "$P/r2" "$P/heap"*
  if [ $step = backup ]; then
    rm -rf "$P/b" "$P/bc" && "$CAIRN" -r "$P/b" init -q
    heaptrack -o "$P/heap" "$CAIRN" -r "$P/b" --cache-dir "$P/bc" backup -q "$SRC" > /dev/null 2>&1
  else
    heaptrack -o "$P/heap" "$CAIRN" -r "$P/b" --cache-dir "$P/bc" restore -q latest --target "$P/r2" > /dev/null 2>&1
  fi
  echo "-- $step"
  heaptrack_print "$P"/heap.* 2>/dev/null | grep -E '^peak (heap|RSS)'
  heaptrack_print "$P"/heap.* 2>/dev/null | sed -n '/PEAK MEMORY CONSUMERS/,/PEAK TEMPORARY\|MOST TEMPORARY/p' \
    | grep -E '^[0-9.]+[KMG]? consumed over|cairn_engine::[a-z_:]+' -o | head -12
done
rm -rf "$P/b" "$P/bc" "$P/r2" "$P/heap"*
rm -rf "$REPO" "$P/cache"
