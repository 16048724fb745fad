#!/usr/bin/env python3
"""Deterministic dataset helpers for compare.sh (all randomness comes from a seed).

  gen.py random FILE BYTES SEED            write BYTES pseudo-random bytes
  gen.py rewrite FILE FRACTION RUN SEED    rewrite FRACTION of FILE in place, in RUN-byte runs at
                                           seeded, distinct, RUN-aligned positions, with new
                                           pseudo-random bytes
  gen.py tree-v2 DIR FRACTION SEED         in a hard-linked copy DIR of v1: give FRACTION of the
                                           regular files a new inode (so v1 is untouched), modify
                                           half of those and only touch the other half; add a
                                           directory of new files
  gen.py link-same V1 V2                   replace each file of V2 whose size, mtime and bytes
                                           equal V1's by a hard link to V1's file, as if it had
                                           never been rewritten (so backups may skip it)
"""
import filecmp
import os
import random
import shutil
import sys

MIB = 1 << 20
FIXED_MTIME = 1893456000  # 2030-01-01T00:00:00Z: v2's changed files all get this mtime


def rand_stream(rng, n):
    while n > 0:
        k = min(n, 4 * MIB)
        yield rng.randbytes(k)
        n -= k


def cmd_random(path, nbytes, seed):
    rng = random.Random(f"random:{seed}")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for block in rand_stream(rng, int(nbytes)):
            f.write(block)
    os.replace(tmp, path)


def cmd_rewrite(path, fraction, run, seed):
    run = int(run)
    size = os.path.getsize(path)
    slots = size // run
    n = round(float(fraction) * size / run)
    rng = random.Random(f"rewrite:{seed}")
    chosen = sorted(rng.sample(range(slots), n))
    with open(path, "r+b") as f:
        for s in chosen:
            f.seek(s * run)
            f.write(rng.randbytes(run))
    print(f"rewrote {n} runs of {run} bytes ({n * run} bytes, {100.0 * n * run / size:.2f}%) of {path}")


def regular_files(root):
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(d, name)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return out


def break_link(p):
    """Give p a fresh inode with the same bytes and metadata, so changing it leaves v1 alone."""
    tmp = p + ".cairn-bench-tmp"
    shutil.copy2(p, tmp)
    st = os.stat(p)
    try:
        os.chown(tmp, st.st_uid, st.st_gid)
    except PermissionError:
        pass
    os.replace(tmp, p)


def cmd_tree_v2(root, fraction, seed):
    files = regular_files(root)
    rng = random.Random(f"tree:{seed}")
    k = max(1, round(float(fraction) * len(files)))
    chosen = rng.sample(files, k)
    modified = touched = 0
    for i, p in enumerate(chosen):
        break_link(p)
        if i % 2 == 0:
            size = os.path.getsize(p)
            with open(p, "r+b") as f:
                if size > 8192:
                    f.seek(rng.randrange(0, size - 4096))
                    f.write(rng.randbytes(4096))
                else:
                    f.seek(0, 2)
                    f.write(b"# changed by cairn compare v2\n")
            modified += 1
        else:
            touched += 1
        os.utime(p, (FIXED_MTIME, FIXED_MTIME))
    added = os.path.join(root, "added-in-v2")
    os.makedirs(added, exist_ok=True)
    added_bytes = 0
    for i in range(8):  # a few new files: some incompressible, some text
        with open(os.path.join(added, f"blob-{i}.bin"), "wb") as f:
            b = rng.randbytes(MIB)
            f.write(b)
            added_bytes += len(b)
        with open(os.path.join(added, f"notes-{i}.txt"), "w") as f:
            t = "".join(f"line {j} of new file {i}\n" for j in range(2000))
            f.write(t)
            added_bytes += len(t)
    for p in [added] + [os.path.join(added, n) for n in os.listdir(added)]:
        os.utime(p, (FIXED_MTIME, FIXED_MTIME))
    print(f"tree v2: {len(files)} files, {modified} modified, {touched} touched, 16 added ({added_bytes} bytes)")


def cmd_link_same(v1, v2):
    linked = kept = 0
    for p2 in regular_files(v2):
        rel = os.path.relpath(p2, v2)
        p1 = os.path.join(v1, rel)
        try:
            s1, s2 = os.lstat(p1), os.lstat(p2)
        except FileNotFoundError:
            kept += 1
            continue
        if (s1.st_size == s2.st_size and s1.st_mtime_ns == s2.st_mtime_ns
                and s1.st_ino != s2.st_ino and filecmp.cmp(p1, p2, shallow=False)):
            tmp = p2 + ".cairn-bench-tmp"
            os.link(p1, tmp)
            os.replace(tmp, p2)
            linked += 1
        else:
            kept += 1
    print(f"link-same: {linked} files unchanged (now hard links to v1), {kept} changed or new")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"random": cmd_random, "rewrite": cmd_rewrite, "tree-v2": cmd_tree_v2,
     "link-same": cmd_link_same}[cmd](*args)


if __name__ == "__main__":
    main()
