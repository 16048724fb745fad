#!/usr/bin/env python3
"""Reads compare.sh's TSV, prints medians per tool and dataset, each peer's ratio to cairn, and which
of issue 8's targets cairn meets.   summarize.py RESULTS.tsv

Ratios are peer / cairn of the number shown: for MB/s a ratio below 1 means cairn is faster, for
seconds, MB and RSS a ratio above 1 means cairn is faster or smaller."""
import csv
import statistics
import sys
from collections import defaultdict

ORDER = ["cairn", "restic", "borg", "rustic"]
NAMES = {"random": "1 GiB random", "tree": "file tree", "image": "2 GiB ext4 image",
         "pg": "PostgreSQL pgbench -s 50"}

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
runs = defaultdict(dict)  # (ds, tool, rep) -> step -> row
for r in rows:
    runs[(r["dataset"], r["tool"], r["rep"])][r["step"]] = r
datasets = [d for d in ["random", "tree", "image", "pg"] if any(k[0] == d for k in runs)]
tools = [t for t in ORDER if any(k[1] == t for k in runs)]


def ok(r):
    return r is not None and r["rc"] == "0"


def med(ds, tool, fn):
    """Median over rounds of fn(steps of one round); rounds where fn fails are skipped."""
    vals = []
    for (d, t, _), steps in runs.items():
        if d == ds and t == tool:
            try:
                v = fn(steps)
            except (KeyError, ValueError, ZeroDivisionError, TypeError):
                continue
            if v is not None:
                vals.append(v)
    return (statistics.median(vals), len(vals)) if vals else (None, 0)


def step(name, field):
    def f(s):
        r = s[name]
        return float(r[field]) if ok(r) else None
    return f


def mbps(name):
    def f(s):
        r = s[name]
        return float(r["data_bytes"]) / float(r["wall_s"]) / 1e6 if ok(r) else None
    return f


def growth(name, before):
    def f(s):
        if not (ok(s[name]) and ok(s[before])):
            return None
        return (float(s[name]["repo_bytes"]) - float(s[before]["repo_bytes"])) / 1e6
    return f


def mb(name, field):
    def f(s):
        v = step(name, field)(s)
        return None if v is None else v / 1e6
    return f


def rss(name):
    def f(s):
        v = step(name, "peak_rss_kb")(s)
        return None if v is None else v / 1024
    return f


def peak_rss(s):
    return max(float(s[n]["peak_rss_kb"]) / 1024 for n in ("backup1", "restore1", "backup2", "backup3")
               if n in s and ok(s[n]))


METRICS = [  # label, function, format
    ("first backup MB/s", mbps("backup1"), "{:.0f}"),
    ("first backup wall s", step("backup1", "wall_s"), "{:.1f}"),
    ("first backup CPU s", step("backup1", "cpu_s"), "{:.1f}"),
    ("first backup peak RSS MiB", rss("backup1"), "{:.0f}"),
    ("repo after first backup MB", mb("backup1", "repo_bytes"), "{:.0f}"),
    ("second backup (v2) MB/s", mbps("backup2"), "{:.0f}"),
    ("second backup wall s", step("backup2", "wall_s"), "{:.1f}"),
    ("second backup CPU s", step("backup2", "cpu_s"), "{:.1f}"),
    ("second backup peak RSS MiB", rss("backup2"), "{:.0f}"),
    ("repo growth by second backup MB", growth("backup2", "backup1"), "{:.1f}"),
    ("unchanged re-backup wall s", step("backup3", "wall_s"), "{:.2f}"),
    ("unchanged re-backup CPU s", step("backup3", "cpu_s"), "{:.2f}"),
    ("unchanged re-backup peak RSS MiB", rss("backup3"), "{:.0f}"),
    ("repo growth by unchanged re-backup MB", growth("backup3", "backup2"), "{:.2f}"),
    ("restore of v1 MB/s", mbps("restore1"), "{:.0f}"),
    ("restore wall s", step("restore1", "wall_s"), "{:.1f}"),
    ("restore CPU s", step("restore1", "cpu_s"), "{:.1f}"),
    ("restore peak RSS MiB", rss("restore1"), "{:.0f}"),
    ("peak RSS of all steps MiB", peak_rss, "{:.0f}"),
]

out = print
nrounds = max((int(k[2]) for k in runs), default=0)
out(f"Medians of {nrounds} round(s); each peer's cell shows its value and, in brackets, peer ÷ cairn. "
    "`cp -a` is the file-system floor of a restore.\n")
for ds in datasets:
    b = med(ds, "cairn", lambda s: float(s["backup1"]["data_bytes"]))[0] or med(ds, "cp", lambda s: float(s["restore1"]["data_bytes"]))[0]
    out(f"### {NAMES.get(ds, ds)} ({b / 1e6:.0f} MB)\n" if b else f"### {ds}\n")
    out("| metric | " + " | ".join(tools) + " | cp -a |")
    out("|---" * (len(tools) + 2) + "|")
    for label, fn, fmt in METRICS:
        base = med(ds, "cairn", fn)[0]
        cells = []
        for t in tools:
            v, _ = med(ds, t, fn)
            if v is None:
                cells.append("–")
            elif t == "cairn" or not base:
                cells.append(fmt.format(v))
            else:
                cells.append(f"{fmt.format(v)} ({v / base:.2f})")
        floor = ""
        if label.startswith("restore"):
            v = med(ds, "cp", fn)[0]
            floor = "–" if v is None else (fmt.format(v) + (f" ({v / base:.2f})" if base else ""))
        out(f"| {label} | " + " | ".join(cells) + f" | {floor} |")
    out("")

# Targets of issue 8
out("### Targets\n")
out("| target | dataset | measured | met |")
out("|---|---|---|---|")


def target(name, ds, ratio, need, higher=True, detail=""):
    if ratio is None:
        out(f"| {name} | {ds} | no data | – |")
        return
    met = ratio >= need if higher else ratio <= need
    out(f"| {name} | {ds} | {ratio:.2f}× {detail}| {'yes' if met else '**no**'} |")


def ratio(ds, peer, fn, invert=False):
    c, p = med(ds, "cairn", fn)[0], med(ds, peer, fn)[0]
    if c is None or p is None or c == 0 or p == 0:
        return None
    return p / c if invert else c / p


for ds in datasets:
    for peer, need in (("restic", 2.0), ("rustic", 1.3), ("borg", 1.3)):
        if peer in tools:
            target(f"first backup ≥ {need}× {peer}'s MB/s", ds, ratio(ds, peer, mbps("backup1")), need)
for ds in ("image", "pg"):
    if ds in datasets:
        target("second backup ≥ 2× restic's MB/s", ds, ratio(ds, "restic", mbps("backup2")), 2.0)
if "image" in datasets:
    r = ratio("image", "restic", growth("backup2", "backup1"))
    target("repo growth by the 5% rewrite ≤ ½ restic's", "image", r, 0.5, higher=False,
           detail="(cairn ÷ restic) ")
for ds in ("image", "random"):
    if ds in datasets:
        target("restore ≥ 2× restic's MB/s (CPU-bound)", ds, ratio(ds, "restic", mbps("restore1")), 2.0)
for ds in ("tree", "pg"):
    if ds in datasets:
        c, f = med(ds, "cairn", step("restore1", "wall_s"))[0], med(ds, "cp", step("restore1", "wall_s"))[0]
        target("restore within 10% of cp -a (wall)", ds, (c / f) if c and f else None, 1.1, higher=False,
               detail="(cairn ÷ cp -a) ")
rs = []
for ds in datasets:
    r, b = med(ds, "cairn", rss("restore1"))[0], med(ds, "cairn", lambda s: float(s["restore1"]["data_bytes"]))[0]
    if r and b:
        rs.append(f"{ds} {b / 1e6:.0f} MB → {r:.0f} MiB")
out(f"| restore peak RSS flat in size restored | all | {'; '.join(rs)} | see text |")
for ds in datasets:
    target("peak RSS ≤ ½ restic's (max over steps)", ds, ratio(ds, "restic", peak_rss), 0.5, higher=False,
           detail="(cairn ÷ restic) ")
