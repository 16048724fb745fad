#!/usr/bin/env python3
"""Random 4 KiB reads of one file: prints the median and p99 latency in microseconds.

usage: randread.py FILE COUNT SPAN_BYTES SEED
Offsets are 4 KiB-aligned and uniform in the first SPAN_BYTES of the file; kernel readahead is
turned off (POSIX_FADV_RANDOM) so every read reaches the file system.
"""
import os
import random
import sys
import time

path, count, span, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fd = os.open(path, os.O_RDONLY)
size = os.fstat(fd).st_size
span = min(span, size) - 4096
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
rng = random.Random(seed)
lat = []
for _ in range(count):
    off = rng.randrange(0, span) & ~4095
    t = time.perf_counter_ns()
    if len(os.pread(fd, 4096, off)) != 4096:
        sys.exit(f"short read at {off}")
    lat.append(time.perf_counter_ns() - t)
lat.sort()
print(f"median {lat[len(lat) // 2] / 1000:.0f} us, p99 {lat[int(len(lat) * 0.99)] / 1000:.0f} us")
