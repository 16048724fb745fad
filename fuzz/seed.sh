#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the test vectors in spec/vectors/ (corpus/ is git-ignored).
# Safe to run again: it only adds or overwrites the seed files, never the corpus libFuzzer grew.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo="$here/../spec/vectors/repo"
plain="$here/../spec/vectors/plaintext"

# seed TARGET NAME [PREFIX] FILE: corpus/TARGET/NAME = PREFIX (printf escapes) || FILE
seed() {
    local target=$1 name=$2 prefix=$3 file=$4
    mkdir -p "$here/corpus/$target"
    { printf "$prefix"; cat "$file"; } > "$here/corpus/$target/vector-$name"
}

for f in "$repo"/keys/*; do seed key_file "key" "" "$f"; done

seed config config.json "" "$plain/config.json"

for f in "$repo"/data/*/*; do seed pack_header "pack-$(basename "$f" | cut -c1-8)" "" "$f"; done
for f in "$plain"/pack-header-*.bin; do seed pack_header "$(basename "$f")" "" "$f"; done

seed index index.bin "" "$plain/index.bin"
for f in "$repo"/index/*; do seed index "stored" "" "$f"; done

for f in "$plain"/tree-*.json; do seed tree "$(basename "$f")" "" "$f"; done

seed snapshot snapshot.json "" "$plain/snapshot.json"

# blob_envelope: first byte selects kind (bit 0) and mode ((byte >> 1) % 3); see the target.
for c in a b c; do seed blob_envelope "envelope-data-$c" '\x00' "$plain/envelope-data-$c.bin"; done
seed blob_envelope envelope-tree-root '\x01' "$plain/envelope-tree-root.bin"
seed blob_envelope roundtrip-data-a '\x02' "$plain/data-a.bin"
seed blob_envelope roundtrip-tree-root '\x03' "$plain/tree-root.json"

# compression: first byte selects the FileKind (byte % 3: config, index, snapshot).
seed compression envelope-config '\x00' "$plain/envelope-config.bin"
seed compression envelope-index '\x01' "$plain/envelope-index.bin"
seed compression envelope-snapshot '\x02' "$plain/envelope-snapshot.bin"
seed compression envelope-data-a '\x00' "$plain/envelope-data-a.bin"
seed compression envelope-tree-root '\x02' "$plain/envelope-tree-root.bin"

for d in "$here"/corpus/*/; do
    echo "$(basename "$d"): $(ls "$d" | wc -l) files"
done

# k8s_manifest: the manifests the fixtures' apps were applied from, one object per seed.
fixtures="$here/../testdata/k8s/apps"
if [ -d "$fixtures" ]; then
    mkdir -p "$here/corpus/k8s_manifest"
    for f in "$fixtures"/*.yaml; do
        awk -v out="$here/corpus/k8s_manifest/vector-$(basename "$f" .yaml)-" \
            '/^---/ { n++; next } { print > (out n) }' "$f"
    done
fi

# k8s_tar_stream: a small tar of a directory, a file, a symlink and a hard link, as `tar -cf -`
# in a container sends it.
work=$(mktemp -d)
mkdir -p "$work/v/sub"
printf 'hello\n' > "$work/v/sub/a.txt"
ln -s sub/a.txt "$work/v/link"
ln "$work/v/sub/a.txt" "$work/v/hard"
mkdir -p "$here/corpus/k8s_tar_stream"
tar -cf "$here/corpus/k8s_tar_stream/vector-volume.tar" -C "$work/v" .
rm -rf "$work"
