#!/usr/bin/env bash
# Prune benchmark: cairn vs restic on >= 1M blobs and 100 snapshots (issue 5).
# Usage: benches/prune/run.sh            (full scale: 100 dirs x 10,000 files)
#        SCALE=0.01 benches/prune/run.sh (quick check: 100 dirs x 100 files)
# Env: WORK (default /tmp/cairn-prune-bench), SCALE (files-per-dir factor, default 1),
#      DIRS (snapshots, default 100), REPS (forget+prune repetitions, default 3),
#      CAIRN (binary, default target/release/cairn), RESTIC (default restic).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-/tmp/cairn-prune-bench}
SCALE=${SCALE:-1}
DIRS=${DIRS:-100}
REPS=${REPS:-3}
CAIRN=${CAIRN:-$ROOT/target/release/cairn}
RESTIC=${RESTIC:-restic}
FILES=$(awk -v s="$SCALE" 'BEGIN { n = int(10000 * s); if (n < 1) n = 1; print n }')
KEEP=$((DIRS / 2))
TAG="d${DIRS}-f${FILES}"
DATA=$WORK/data-$TAG
BASE=$WORK/base-$TAG
RUNS=$WORK/runs-$TAG
TIME=/usr/bin/time

[ -x "$CAIRN" ] || { echo "build cairn first: cargo build --release -p cairn-cli" >&2; exit 1; }
mkdir -p "$WORK"
export CAIRN_PASSWORD=bench RESTIC_PASSWORD=bench
log() { echo "[$(date +%T)] $*" >&2; }

# 1. Content: DIRS directories x FILES files, 200-400 random bytes each (seeded, so
#    deterministic), all below restic's 512 KiB minimum chunk: one blob per file in both tools.
if [ ! -e "$DATA/.done" ]; then
    log "generating $DIRS x $FILES files in $DATA"
    rm -rf "$DATA"
    python3 - "$DATA" "$DIRS" "$FILES" <<'PY'
import os, random, sys
root, dirs, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(5)
for d in range(dirs):
    p = os.path.join(root, "d%03d" % d)
    os.makedirs(p)
    for f in range(files):
        with open(os.path.join(p, "f%05d" % f), "wb") as fh:
            fh.write(rng.randbytes(rng.randint(200, 400)))
PY
    # fixed mtimes so repeated runs see identical metadata
    find "$DATA" -exec touch -h -d '2026-01-01 00:00:00' {} +
    touch "$DATA/.done"
fi

# 2. Repositories: one snapshot per directory in each tool (not measured). The two tools
#    back up concurrently; the timing of this stage is not part of the benchmark.
backup_cairn() {
    local r=$BASE/cairn
    rm -rf "$r" "$BASE/cairn-cache"
    "$CAIRN" -q -r "$r" --cache-dir "$BASE/cairn-cache" init --kdf-memory-kib 8 --kdf-iterations 1
    for i in $(seq 0 $((DIRS - 1))); do
        d=$(printf d%03d "$i")
        (cd "$DATA" && "$CAIRN" -q -r "$r" --cache-dir "$BASE/cairn-cache" backup --host bench \
            --time "$(date -u -d "2026-01-01 +$i hours" +%Y-%m-%dT%H:%M:%SZ)" "$d")
    done
    touch "$BASE/cairn.done"
}
backup_restic() {
    local r=$BASE/restic
    rm -rf "$r" "$BASE/restic-cache"
    "$RESTIC" -q -r "$r" --cache-dir "$BASE/restic-cache" init
    for i in $(seq 0 $((DIRS - 1))); do
        d=$(printf d%03d "$i")
        (cd "$DATA" && "$RESTIC" -q -r "$r" --cache-dir "$BASE/restic-cache" backup --host bench \
            --time "$(date -d "2026-01-01 +$i hours" '+%Y-%m-%d %H:%M:%S')" "$d")
    done
    touch "$BASE/restic.done"
}
mkdir -p "$BASE"
pids=()
if [ ! -e "$BASE/cairn.done" ]; then log "cairn: $DIRS backups"; backup_cairn & pids+=($!); fi
if [ ! -e "$BASE/restic.done" ]; then log "restic: $DIRS backups"; backup_restic & pids+=($!); fi
for p in "${pids[@]}"; do wait "$p"; done
log "repositories ready in $BASE"

# Blobs in each repository with all snapshots (before forget). cairn counts data blobs
# (`stats --json` .unique_data_blobs); restic counts data + tree blobs (raw-data total_blob_count).
CAIRN_BLOBS=$("$CAIRN" -r "$BASE/cairn" --cache-dir "$BASE/cairn-cache" --json stats \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["unique_data_blobs"])')
RESTIC_BLOBS=$("$RESTIC" -r "$BASE/restic" --cache-dir "$BASE/restic-cache" --json stats --mode raw-data \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["total_blob_count"])')

# 3. Measure: on a fresh copy (repo + its cache) forget the older half, then time prune once.
rm -rf "$RUNS"; mkdir -p "$RUNS"
RESULTS=$RUNS/results.tsv
: > "$RESULTS"
for rep in $(seq 1 "$REPS"); do
    for tool in cairn restic; do
        w=$RUNS/$tool-$rep
        cp -a "$BASE/$tool" "$w"; cp -a "$BASE/$tool-cache" "$w-cache"
        if [ $tool = cairn ]; then
            "$CAIRN" -q -r "$w" --cache-dir "$w-cache" forget --keep-last "$KEEP" --group-by host
            snaps=$("$CAIRN" -r "$w" --cache-dir "$w-cache" --json snapshots | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
            blobs=$CAIRN_BLOBS
            before=$(du -sb "$w" | cut -f1)
            log "cairn prune (rep $rep)"
            $TIME -f "%e %M" -o "$w.time" "$CAIRN" -r "$w" --cache-dir "$w-cache" prune > "$w.log" 2>&1
        else
            "$RESTIC" -q -r "$w" --cache-dir "$w-cache" forget --keep-last "$KEEP" --group-by host
            snaps=$("$RESTIC" -r "$w" --cache-dir "$w-cache" --json snapshots | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
            blobs=$RESTIC_BLOBS
            before=$(du -sb "$w" | cut -f1)
            log "restic prune (rep $rep)"
            $TIME -f "%e %M" -o "$w.time" "$RESTIC" -r "$w" --cache-dir "$w-cache" prune > "$w.log" 2>&1
        fi
        after=$(du -sb "$w" | cut -f1)
        read -r secs rss < <(tail -1 "$w.time")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$rep" "$blobs" "$snaps" "$secs" "$rss" "$before" "$after" >> "$RESULTS"
        log "$tool rep $rep: ${secs}s, ${rss} KB peak"
        rm -rf "$w" "$w-cache"   # keep the log and time files, free the disk
    done
done

# 4. Report: median over repetitions.
python3 - "$RESULTS" "$DIRS" "$FILES" "$REPS" <<'PY'
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print(f"\nprune after forget --keep-last {int(sys.argv[2])//2} --group-by host; "
      f"{sys.argv[2]} dirs x {sys.argv[3]} files; median of {sys.argv[4]} run(s)\n")
print("| tool | blobs (before forget) | snapshots (before -> after forget) | prune wall s | peak RSS MB | repo size before MB | repo size after MB |")
print("|---|---|---|---|---|---|---|")
for tool in ("cairn", "restic"):
    r = [x for x in rows if x[0] == tool]
    if not r: continue
    med = lambda i: statistics.median(float(x[i]) for x in r)
    print(f"| {tool} | {r[0][2]} | {sys.argv[2]} -> {r[0][3]} | {med(4):.1f} | {med(5)/1024:.0f} | "
          f"{med(6)/1e6:.0f} | {med(7)/1e6:.0f} |")
print("\nper run (tool rep blobs snaps secs rssKB before after):")
for x in rows: print("  " + " ".join(x))
PY
