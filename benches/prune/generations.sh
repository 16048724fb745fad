#!/usr/bin/env bash
# Generations benchmark: how much of what expiring generations frees comes as whole packs, and how
# much prune must repack, in cairn and restic on the same history (issue 5).
#
# Three apps are backed up concurrently once a "day" for DAYS days; each day rewrites CHANGE of
# every app's files. Then (1) a rolling policy keeps the last KEEP generations of each app, and
# (2) one app is retired: all its snapshots are forgotten. After each, prune runs with defaults.
#
# Usage: cargo build --release -p cairn-cli && benches/prune/generations.sh
# Env: WORK (default /tmp/cairn-generations-bench), DAYS (14), KEEP (7), FILES per app (60),
#      FILE_KIB (1024), CHANGE (0.1), CAIRN (target/release/cairn), RESTIC (restic).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-/tmp/cairn-generations-bench}
DAYS=${DAYS:-14}
KEEP=${KEEP:-7}
FILES=${FILES:-60}
FILE_KIB=${FILE_KIB:-1024}
CHANGE=${CHANGE:-0.1}
CAIRN=${CAIRN:-$ROOT/target/release/cairn}
RESTIC=${RESTIC:-$(command -v restic)}
APPS=(app-a app-b app-c)

[ -x "$CAIRN" ] || { echo "build cairn first: cargo build --release -p cairn-cli" >&2; exit 1; }
[ -x "$RESTIC" ] || { echo "restic not found (apt-get install restic)" >&2; exit 1; }
rm -rf "$WORK"
mkdir -p "$WORK"
export CAIRN_PASSWORD=bench RESTIC_PASSWORD=bench
log() { echo "[$(date +%T)] $*" >&2; }
cairn() { "$CAIRN" -q -r "$WORK/cairn" --cache-dir "$WORK/cairn-cache" "$@"; }
restic() { "$RESTIC" -q -r "$WORK/restic" --cache-dir "$WORK/restic-cache" "$@"; }

# Day D of every app: files rewritten with seeded random bytes (deterministic), fixed mtimes
# per day so both tools see the same changes.
make_day() {
    python3 - "$WORK/data" "$1" "$FILES" "$FILE_KIB" "$CHANGE" "${APPS[@]}" <<'PY'
import os, random, sys
root, day, files, kib, change = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
for a, app in enumerate(sys.argv[6:]):
    d = os.path.join(root, app)
    os.makedirs(d, exist_ok=True)
    pick = random.Random(1000 * a + day)
    chosen = range(files) if day == 0 else pick.sample(range(files), max(1, int(files * change)))
    for f in chosen:
        rng = random.Random(1_000_000 * a + 1000 * f + day)
        with open(os.path.join(d, "f%03d" % f), "wb") as fh:
            fh.write(rng.randbytes(kib * 1024))
        t = 1767225600 + day * 86400
        os.utime(os.path.join(d, "f%03d" % f), (t, t))
PY
}

cairn init --kdf-memory-kib 8 --kdf-iterations 1
restic init
for day in $(seq 0 $((DAYS - 1))); do
    make_day "$day"
    when=$(date -u -d "2026-01-01 +$day days" +%Y-%m-%dT%H:%M:%SZ)
    log "day $day: backing up ${#APPS[@]} apps concurrently in each tool"
    pids=()
    for app in "${APPS[@]}"; do
        (cd "$WORK/data" && cairn backup --host bench --time "$when" "$app") & pids+=($!)
        (cd "$WORK/data" && restic backup --host bench --time "$(date -u -d "2026-01-01 +$day days" "+%Y-%m-%d %H:%M:%S")" "$app" >/dev/null) & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
done

packs() { find "$1" -type f -path '*/data/*' | wc -l; }
size() { du -sb "$1" | cut -f1; }
report() {
    local step=$1
    echo "### $step"
    python3 - "$WORK/cairn-prune.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
print("cairn:  packs deleted whole %d, packs repacked %d (%.1f MB downloaded and rewritten), freed %.1f MB" % (
    p["packs_deleted"], p["packs_repacked"], p["bytes_repacked"] / 1e6, p["bytes_freed"] / 1e6))
PY
    echo "restic: $(grep -E 'to repack:|to delete:|unused packs:|partly used packs:' "$WORK/restic-prune.txt" | tr -s ' ' | paste -sd ';')"
    echo "sizes:  cairn $(size "$WORK/cairn") B in $(packs "$WORK/cairn") packs; restic $(size "$WORK/restic") B in $(packs "$WORK/restic") packs"
}

echo "## $DAYS days, ${#APPS[@]} apps x $FILES files x $FILE_KIB KiB, $CHANGE rewritten daily"
echo "before: cairn $(size "$WORK/cairn") B in $(packs "$WORK/cairn") packs; restic $(size "$WORK/restic") B in $(packs "$WORK/restic") packs"

log "rolling policy: keep the last $KEEP generations of each app"
cairn forget --keep-last "$KEEP" --group-by host,paths >/dev/null
cairn prune --json >"$WORK/cairn-prune.json"
restic forget --keep-last "$KEEP" --group-by host,paths >/dev/null
"$RESTIC" -r "$WORK/restic" --cache-dir "$WORK/restic-cache" prune >"$WORK/restic-prune.txt"
report "keep the last $KEEP of each app"

log "retiring app-c: forgetting all its snapshots"
cairn forget $(cairn snapshots --path "$WORK/data/app-c" --json | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))') >/dev/null
cairn prune --json >"$WORK/cairn-prune.json"
restic forget $(restic snapshots --path "$WORK/data/app-c" --json | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))') >/dev/null
"$RESTIC" -r "$WORK/restic" --cache-dir "$WORK/restic-cache" prune >"$WORK/restic-prune.txt"
report "retire app-c"
