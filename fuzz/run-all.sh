#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each, one after the other, and fails on the first crash.
#   fuzz/run-all.sh 60
# Uses the machine's stable toolchain through RUSTC_BOOTSTRAP=1 (cargo-fuzz needs nightly flags);
# needs `cargo install cargo-fuzz`. Crashing inputs land in fuzz/artifacts/<target>/.
set -euo pipefail

seconds=${1:?usage: $0 SECONDS}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export RUSTC_BOOTSTRAP=1
# Same as .cargo/config.toml, for a CFLAGS already set in the environment: keep zstd (C) out of ASan.
export CFLAGS="${CFLAGS:+$CFLAGS }-fno-sanitize=address"

"$here/seed.sh" > /dev/null
cargo fuzz build
logs=$(mktemp -d)
status=0
summary=()
for target in $(cargo fuzz list); do
    echo "== $target: ${seconds}s"
    if cargo fuzz run "$target" -- -max_total_time="$seconds" -print_final_stats=1 \
        > "$logs/$target.log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$target.log" | grep -o '[0-9]*$' || echo '?')
        summary+=("$target: ok, $runs executions in ${seconds}s")
    else
        status=1
        summary+=("$target: FAILED, see $logs/$target.log and $here/artifacts/$target/")
        tail -40 "$logs/$target.log"
        break
    fi
done
printf '%s\n' "${summary[@]}"
exit $status
