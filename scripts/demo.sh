#!/usr/bin/env bash
# A first backup and restore with cairn, from a fresh clone: installs the `cairn` binary with cargo,
# creates a repository, backs up a directory, lists the snapshot, restores it and compares the result
# with the original.
#
#   scripts/demo.sh [DIRECTORY]        (default /usr/share/doc)
#
# Everything it creates lives under $CAIRN_DEMO_DIR (default /tmp/cairn-demo), which is replaced on
# each run. CAIRN_DEMO_NO_INSTALL=1 skips `cargo install` and uses the `cairn` found on PATH (the
# end-to-end tests run the script that way).
set -euo pipefail
cd "$(dirname "$0")/.."

source_dir=$(realpath "${1:-/usr/share/doc}")
demo_dir=${CAIRN_DEMO_DIR:-/tmp/cairn-demo}

if [ -z "${CAIRN_DEMO_NO_INSTALL:-}" ]; then
  cargo install --locked --path cli
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

rm -rf "$demo_dir"
mkdir -p "$demo_dir"
export CAIRN_REPOSITORY="$demo_dir/repo" CAIRN_PASSWORD=demo CAIRN_CACHE_DIR="$demo_dir/cache"
unset CAIRN_PASSWORD_FILE CAIRN_PASSWORD_COMMAND

set -x
cairn init
cairn backup "$source_dir"
cairn snapshots
cairn restore latest --target "$demo_dir/restore"
{ set +x; } 2>/dev/null

# Snapshots keep absolute paths, so the tree comes back below the target at its full path.
diff -r --no-dereference "$source_dir" "$demo_dir/restore$source_dir"
echo "demo: the restored copy of $source_dir is identical; the repository is $CAIRN_REPOSITORY"
