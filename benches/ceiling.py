#!/usr/bin/env python3
"""The backup ceiling from the stage benchmarks: what chunking, hashing, compressing, sealing and
packing allow when their work is spread over all cores.

    cargo bench -p cairn-benches --bench stages
    python3 benches/ceiling.py [CRITERION_DIR] [--cores N]

Every stage is measured on one core (criterion's mean). A backup does all of them to every byte,
so one byte costs the sum of the stages' per-byte times, and N cores move at most N divided by that
sum. Two ceilings: incompressible data (random bytes) and text-like data (compresses about 3:1).
"""
import json
import os
import sys
from pathlib import Path

# (group, function) of the per-byte stages of a backup, for each kind of data.
CEILINGS = {
    "random": [
        ("chunking", "random"),
        ("per-chunk", "keyed blake3"),
        ("per-chunk", "zstd-3 random"),
        ("per-chunk", "xchacha20-poly1305 seal"),
        ("packing", "16 MiB pack"),
    ],
    "text": [
        ("chunking", "random"),
        ("per-chunk", "keyed blake3"),
        ("per-chunk", "seal_blob text (compress+seal)"),
        ("packing", "16 MiB pack"),
    ],
}


def measurements(root):
    """{(group, function): bytes per second} of every throughput benchmark under root."""
    out = {}
    for bench in root.glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        nbytes = (meta.get("throughput") or {}).get("Bytes")
        if not nbytes:
            continue
        seconds = estimates["mean"]["point_estimate"] / 1e9
        out[(meta["group_id"], meta["function_id"])] = nbytes / seconds
    return out


def main(argv):
    cores = os.cpu_count() or 1
    if "--cores" in argv:
        i = argv.index("--cores")
        cores = int(argv[i + 1])
        del argv[i : i + 2]
    root = Path(argv[1] if len(argv) > 1 else "target/criterion")
    found = measurements(root)
    if not found:
        sys.exit(f"no criterion results under {root}: run `cargo bench -p cairn-benches --bench stages`")
    print("| stage | MB/s on one core |\n| --- | ---: |")
    for (group, function), rate in sorted(found.items()):
        print(f"| {group} / {function} | {rate / 1e6:,.0f} |")
    print(f"\n| data | ceiling on {cores} cores, MB/s | stages |\n| --- | ---: | --- |")
    for data, stages in CEILINGS.items():
        missing = [s for s in stages if s not in found]
        if missing:
            print(f"| {data} | - | missing: {', '.join('/'.join(m) for m in missing)} |")
            continue
        per_byte = sum(1 / found[s] for s in stages)
        names = ", ".join(f for _, f in stages)
        print(f"| {data} | {cores / per_byte / 1e6:,.0f} | {names} |")


if __name__ == "__main__":
    main(sys.argv)
