#!/usr/bin/env bash
# Cold start on object storage (issue 7): a repository of about a million blobs and a thousand
# snapshots in a real S3 server (s3s-fs), opened from a machine with an empty cache, then again
# with the cache warm, then after another backup added an index file.
#
# Usage: cargo build --release -p cairn-cli && benches/s3/coldstart.sh
# Env: WORK (default /tmp/cairn-coldstart-bench), BASE (a local cairn repository with >= 1M blobs,
#      default the one benches/prune/run.sh builds), SNAPSHOTS (1000), CAIRN, S3S (s3s-fs binary).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-/tmp/cairn-coldstart-bench}
BASE=${BASE:-/tmp/cairn-prune-bench/base-d100-f10000/cairn}
SNAPSHOTS=${SNAPSHOTS:-1000}
CAIRN=${CAIRN:-$ROOT/target/release/cairn}
S3S=${S3S:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}
PORT=${PORT:-8719}

[ -x "$CAIRN" ] || { echo "build cairn first: cargo build --release -p cairn-cli" >&2; exit 1; }
[ -d "$BASE" ] || { echo "no base repository at $BASE: run benches/prune/run.sh first" >&2; exit 1; }
export CAIRN_PASSWORD=bench AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
log() { echo "[$(date +%T)] $*" >&2; }
REPO=$WORK/s3/bench/repo

# 1. The repository: the prune benchmark's 1M-blob repository, topped up to SNAPSHOTS snapshots
#    of a small changing directory, then served by s3s-fs (which keeps objects as plain files).
if [ ! -e "$WORK/.ready" ]; then
    rm -rf "$WORK"
    mkdir -p "$WORK/s3/bench" "$WORK/small"
    cp -a "$BASE" "$REPO"
    have=$(ls "$REPO/snapshots" | wc -l)
    log "adding $((SNAPSHOTS - have)) snapshots"
    for i in $(seq "$have" $((SNAPSHOTS - 1))); do
        echo "$i" >"$WORK/small/counter"
        "$CAIRN" -q -r "$REPO" --no-cache backup --host small "$WORK/small"
    done
    touch "$WORK/.ready"
fi
blobs=$("$CAIRN" -q -r "$REPO" --no-cache stats --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("unique_data_blobs"), d.get("unique_tree_blobs", ""))')
log "repository: $(ls "$REPO/snapshots" | wc -l) snapshots, data/tree blobs: $blobs"

"$S3S" --host 127.0.0.1 --port "$PORT" --access-key bench --secret-key bench-secret "$WORK/s3" >/dev/null 2>&1 &
S3_PID=$!
trap 'kill $S3_PID' EXIT
sleep 1
LOC="s3:http://127.0.0.1:$PORT/bench/repo"
CACHE=$WORK/cache

run() {
    local what=$1; shift
    local out
    out=$( { /usr/bin/time -f "TIME %e %M" "$CAIRN" -v -r "$LOC" --cache-dir "$CACHE" "$@" >/dev/null; } 2>&1 )
    echo "| $what | $(echo "$out" | awk '/^TIME/ {print $2 " s | " int($3/1024) " MiB"}') | $(echo "$out" | sed -n 's/.*: \([0-9]* requests ([0-9]* retried), .* downloaded\), .*/\1/p') |"
}

echo "| step | wall | peak RSS | storage traffic |"
echo "|---|---|---|---|"
rm -rf "$CACHE"
run "snapshots, empty cache" snapshots
run "ls latest, index not cached yet" ls latest
run "ls latest, warm cache" ls latest
big=$("$CAIRN" -q -r "$REPO" --no-cache snapshots --host bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
run "ls of another big snapshot, warm index" ls "$big"
echo "$SNAPSHOTS" >"$WORK/small/counter"
"$CAIRN" -q -r "$LOC" --cache-dir "$CACHE" backup --host small "$WORK/small"
run "ls latest after another backup" ls latest
