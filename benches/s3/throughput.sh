#!/usr/bin/env bash
# Backup and restore throughput to a real S3 server (s3s-fs over HTTP on this machine) next to a
# local directory, on the same data (issue 7). s3s-fs keeps objects as files on the same disk, so
# the difference is the cost of the S3 protocol path: HTTP, signing, the client's buffering.
#
# Usage: cargo build --release -p cairn-cli && benches/s3/throughput.sh
# Env: WORK (default /tmp/cairn-s3-throughput), REPS (3), CAIRN, S3S (s3s-fs binary).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-/tmp/cairn-s3-throughput}
REPS=${REPS:-3}
CAIRN=${CAIRN:-$ROOT/target/release/cairn}
S3S=${S3S:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}
PORT=${PORT:-8720}

[ -x "$CAIRN" ] || { echo "build cairn first: cargo build --release -p cairn-cli" >&2; exit 1; }
export CAIRN_PASSWORD=bench AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
mkdir -p "$WORK"
if [ ! -e "$WORK/random.bin" ]; then
    head -c 1073741824 /dev/urandom >"$WORK/random.bin"
fi
rm -rf "$WORK/s3" && mkdir -p "$WORK/s3/bench"
"$S3S" --host 127.0.0.1 --port "$PORT" --access-key bench --secret-key bench-secret "$WORK/s3" >/dev/null 2>&1 &
S3_PID=$!
trap 'kill $S3_PID' EXIT
sleep 1

timed() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| where | data | backup | restore | backup peak RSS |"
echo "|---|---|---|---|---|"
for where in local s3; do
    for data in "$WORK/random.bin" /usr/share; do
        backups=() restores=() rss=()
        for rep in $(seq "$REPS"); do
            if [ "$where" = local ]; then repo=$WORK/local-repo; rm -rf "$repo"; else repo="s3:http://127.0.0.1:$PORT/bench/r$rep-$(basename "$data")"; fi
            "$CAIRN" -q -r "$repo" --no-cache init --kdf-memory-kib 8 --kdf-iterations 1
            read -r secs kib < <(timed "$CAIRN" -q -r "$repo" --no-cache backup "$data")
            backups+=("$secs") rss+=("$kib")
            rm -rf "$WORK/restore"
            read -r rsecs _ < <(timed "$CAIRN" -q -r "$repo" --no-cache restore latest --target "$WORK/restore")
            restores+=("$rsecs")
        done
        bytes=$(du -sb --apparent-size "$data" | cut -f1)
        b=$(printf '%s\n' "${backups[@]}" | median)
        r=$(printf '%s\n' "${restores[@]}" | median)
        m=$(printf '%s\n' "${rss[@]}" | median)
        echo "| $where | $(basename "$data") ($((bytes / 1000000)) MB) | $b s = $(awk -v b="$bytes" -v s="$b" 'BEGIN {printf "%.0f", b/s/1e6}') MB/s | $r s = $(awk -v b="$bytes" -v s="$r" 'BEGIN {printf "%.0f", b/s/1e6}') MB/s | $((m / 1024)) MiB |"
    done
done
rm -rf "$WORK/restore" "$WORK/local-repo"
