#!/usr/bin/env bash
# End-to-end comparison of cairn with restic, borg and rustic (issue 8). See README.md.
#
#   cargo build --release -p cairn-cli && mkdir -p /tmp/cairn-bench-bin \
#     && cp target/release/cairn /tmp/cairn-bench-bin/ && benches/compare/compare.sh
#
# For each dataset (datasets.sh makes them) and each of REPS rounds, each tool in turn (the order
# rotates every round) and `cp -a`:
#   backup1   v1 into a fresh repository and cache
#   restore1  v1 from that repository into an empty directory  (cp: `cp -a` of v1, the floor)
#   backup2   v2 (v1 changed a little) at the same path, so the tool uses v1 as parent
#   backup3   v2 again, unchanged
# Each step is timed with GNU time (wall, user, sys, peak RSS); the repository is measured after
# each backup. Raw numbers go to a TSV, medians and ratios to a markdown report (summarize.py).
#
# Env: WORK (/tmp/cairn-compare), DATA ($WORK/data), REPS (3), TOOLS ("cairn restic borg rustic"),
#      DATASETS ("random tree image pg"), CAIRN (/tmp/cairn-bench-bin/cairn), RUSTIC, TIMEOUT (s),
#      VERIFY (1: compare the first restore of each tool and dataset with the data, untimed).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/cairn-compare}
DATA=${DATA:-$WORK/data}
REPS=${REPS:-3}
TOOLS=${TOOLS:-cairn restic borg rustic}
DATASETS=${DATASETS:-random tree image pg}
CAIRN=${CAIRN:-/tmp/cairn-bench-bin/cairn}
RUSTIC=${RUSTIC:-$(command -v rustic || echo "$HOME/.cargo/bin/rustic")}
TIMEOUT=${TIMEOUT:-3600}
VERIFY=${VERIFY:-1}
STAMP=$(date +%Y%m%d-%H%M%S)
TSV=${TSV:-$WORK/results-$STAMP.tsv}
REPORT=${REPORT:-$WORK/results-$STAMP.md}
PASS=bench
export CAIRN_PASSWORD=$PASS RESTIC_PASSWORD=$PASS RUSTIC_PASSWORD=$PASS BORG_PASSPHRASE=$PASS
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_CONFIG_DIR=$WORK/borg-config BORG_SECURITY_DIR=$WORK/borg-config/security
export BORG_KEYS_DIR=$WORK/borg-config/keys

REPO=$WORK/repo CACHE=$WORK/cache RESTORE=$WORK/restore LOGS=$WORK/logs
log() { echo "[compare $(date +%T)] $*" >&2; }

"$HERE/datasets.sh" $DATASETS || exit 1
mkdir -p "$LOGS"

pick_tools() { # sets tools: the TOOLS found now (checked per dataset, so a peer built meanwhile joins), and cp
  tools=()
  local t
  for t in $TOOLS; do
    case $t in
      cairn) [ -x "$CAIRN" ] || { log "no cairn at $CAIRN: build and copy it (see README.md)"; exit 1; } ;;
      rustic) [ -x "$RUSTIC" ] || RUSTIC=$(command -v rustic || echo "$RUSTIC")
              [ -x "$RUSTIC" ] || { log "rustic not found ($RUSTIC): left out"; continue; }
              grep -q '^# rustic' "$TSV.versions" 2>/dev/null || echo "# $("$RUSTIC" --version)" >> "$TSV.versions" ;;
      *) command -v "$t" >/dev/null || { log "$t not found: left out"; continue; } ;;
    esac
    tools+=("$t")
  done
  tools+=(cp)
}

versions() {
  {
    echo "# cairn: $("$CAIRN" --version) ($(cat "$(dirname "$CAIRN")/COMMIT" 2>/dev/null || echo '?'))"
    echo "# $(restic version 2>/dev/null | head -1)"
    echo "# $(borg --version 2>/dev/null)"
    echo "# $(uname -srm), $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, WORK=$WORK, DATA=$DATA"
  }
}

# The data of a dataset is always backed up from DATA/NAME/live, so that every tool finds v1's
# snapshot as the parent of v2's: switching versions renames v1 or v2 to live (inodes unchanged).
use_version() { # dataset v1|v2
  local d=$DATA/$1 cur
  cur=$(cat "$d/live.version" 2>/dev/null || true)
  [ "$cur" = "$2" ] && return
  if [ -n "$cur" ]; then mv "$d/live" "$d/$cur"; fi
  mv "$d/$2" "$d/live" && echo "$2" > "$d/live.version"
}

warm() { find "$1" -type f -print0 | xargs -0 -r cat > /dev/null; }
bytes_of() { du -sb "$1" | cut -f1; }   # apparent size: a sparse image counts in full

# init, backup, restore: each sets CMD, the command line of one tool, run with a fresh repository
# at $REPO and cache at $CACHE (a command line, not a function, so GNU time measures the tool itself)
do_init() {
  case $1 in
    cairn) CMD=("$CAIRN" -r "$REPO" init) ;;
    restic) CMD=(restic -r "$REPO" --cache-dir "$CACHE" init) ;;
    borg) CMD=(borg init --encryption repokey-blake2 "$REPO") ;;
    rustic) CMD=("$RUSTIC" -r "$REPO" --cache-dir "$CACHE" --no-progress init) ;;
  esac
}
do_backup() { # tool path name
  case $1 in
    cairn) CMD=("$CAIRN" -r "$REPO" --cache-dir "$CACHE" backup -q "$2") ;;
    restic) CMD=(restic -r "$REPO" --cache-dir "$CACHE" backup -q "$2") ;;
    borg) CMD=(env BORG_CACHE_DIR="$CACHE" borg create --compression zstd,3 "$REPO::$3" "$2") ;;
    rustic) CMD=("$RUSTIC" -r "$REPO" --cache-dir "$CACHE" --no-progress backup "$2") ;;
  esac
}
do_restore() { # tool target (restores the first snapshot, v1)
  mkdir -p "$2"
  case $1 in
    cairn) CMD=("$CAIRN" -r "$REPO" --cache-dir "$CACHE" restore -q latest --target "$2") ;;
    restic) CMD=(restic -r "$REPO" --cache-dir "$CACHE" restore -q latest --target "$2") ;;
    borg) CMD=(env -C "$2" BORG_CACHE_DIR="$CACHE" borg extract "$REPO::v1") ;;
    rustic) CMD=("$RUSTIC" -r "$REPO" --cache-dir "$CACHE" --no-progress restore latest "$2") ;;
    cp) CMD=(cp -a "$DATA/$DS/live" "$2/") ;;
  esac
}

[ -s "$TSV" ] || printf 'dataset\trep\ttool\tstep\twall_s\tuser_s\tsys_s\tcpu_s\tpeak_rss_kb\tdata_bytes\trepo_bytes\trc\tload1\tnote\n' > "$TSV"

measure() { # tool step data_bytes: runs "${CMD[@]}"
  local tool=$1 step=$2 bytes=$3 out rc wall user sys rss repo_bytes=0 load
  sync
  load=$(cut -d' ' -f1 /proc/loadavg)
  out=$LOGS/$DS-$REP-$tool-$step.log
  timeout "$TIMEOUT" /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.out" "${CMD[@]}" > "$out" 2>&1
  rc=$?
  read -r wall user sys rss < <(tail -n 1 "$WORK/time.out")
  [ "$tool" != cp ] && [ -d "$REPO" ] && repo_bytes=$(du -sb "$REPO" | cut -f1)
  [ "$rc" = 0 ] || log "$tool $step on $DS exited with $rc: see $out"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$DS" "$REP" "$tool" "$step" \
    "$wall" "$user" "$sys" "$(echo "$user + $sys" | bc)" "$rss" "$bytes" "$repo_bytes" "$rc" "$load" "${NOTE:-}" >> "$TSV"
  log "$DS rep $REP $tool $step: ${wall}s cpu $(echo "$user + $sys" | bc)s rss ${rss}KB repo ${repo_bytes}B rc $rc"
  return "$rc"
}

verify_restore() { # target
  local got
  got=$(find "$1" -type d -name live -print -quit)
  [ -n "$got" ] || { echo "no-live-dir-in-restore"; return; }
  if diff -r --no-dereference -q "$DATA/$DS/live" "$got" > "$LOGS/$DS-$REP-$TOOL-verify.log" 2>&1; then
    echo "verified"
  else
    echo "DIFFERS($(wc -l < "$LOGS/$DS-$REP-$TOOL-verify.log"))"
  fi
}

run_tool() { # runs the four steps of $TOOL on $DS
  local v1_bytes v2_bytes
  rm -rf "$REPO" "$CACHE" "$RESTORE" "$BORG_CONFIG_DIR"
  use_version "$DS" v1
  v1_bytes=$(bytes_of "$DATA/$DS/live")
  warm "$DATA/$DS/live"
  if [ "$TOOL" = cp ]; then
    do_restore cp "$RESTORE"; NOTE="" measure cp restore1 "$v1_bytes"
    rm -rf "$RESTORE"
    return
  fi
  do_init "$TOOL"; "${CMD[@]}" > "$LOGS/$DS-$REP-$TOOL-init.log" 2>&1 || { log "$TOOL init failed"; return; }
  do_backup "$TOOL" "$DATA/$DS/live" v1; NOTE=v1 measure "$TOOL" backup1 "$v1_bytes" || return
  do_restore "$TOOL" "$RESTORE"; NOTE="" measure "$TOOL" restore1 "$v1_bytes"
  if [ "$VERIFY" = 1 ] && [ "$REP" = 1 ]; then
    local v; v=$(verify_restore "$RESTORE"); log "$TOOL restore of $DS: $v"
    sed -i "\$s|\t\$|\t$v|" "$TSV"
  fi
  rm -rf "$RESTORE"
  use_version "$DS" v2
  v2_bytes=$(bytes_of "$DATA/$DS/live")
  warm "$DATA/$DS/live"
  do_backup "$TOOL" "$DATA/$DS/live" v2; NOTE=v2 measure "$TOOL" backup2 "$v2_bytes"
  do_backup "$TOOL" "$DATA/$DS/live" v2b; NOTE=v2-unchanged measure "$TOOL" backup3 "$v2_bytes"
  rm -rf "$REPO" "$CACHE"
}

versions | tee "$TSV.versions" >&2
log "datasets: $DATASETS; $REPS rounds; TSV $TSV"
for DS in $DATASETS; do
  pick_tools
  n=${#tools[@]}
  log "$DS: ${tools[*]}"
  for REP in $(seq 1 "$REPS"); do
    for i in $(seq 0 $((n - 1))); do
      TOOL=${tools[$(((i + REP - 1) % n))]}
      run_tool
    done
  done
  use_version "$DS" v1
done
rm -rf "$REPO" "$CACHE" "$RESTORE"
python3 "$HERE/summarize.py" "$TSV" | tee "$REPORT"
log "raw: $TSV  report: $REPORT"
