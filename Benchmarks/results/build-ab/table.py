#!/usr/bin/env python3
# The tables of Docs/Benchmarks.md's "This build against the build before" from the files beside it:
#   python3 table.py .            (and python3 table.py ps-ipc-5x for the longer bench ps re-run)
# A-* is the build before, B-* this build, S-* the demo's older baseline; *-ps-N.jsonl is bench ps,
# *-allreduce-npP-N.jsonl bench allreduce at P ranks, *-demo-N.txt the demo
# (train --epochs 1 --no-calibrate --checksum).
import collections, glob, json, re, statistics, sys

d = sys.argv[1]
med = statistics.median
ps = collections.defaultdict(list)
ar = collections.defaultdict(list)
demo = collections.defaultdict(list)
crc = set()
for f in glob.glob(d + "/*.jsonl"):
    side = f.split("/")[-1][0]
    for line in open(f):
        r = json.loads(line)
        if r.get("kind") == "ps":
            ps[(r["transport"], f'{r["servers"]}+{r["workers"]}', r["server_mode"], f'{r["keys"]} x {r["floats"]}', r["op"], side)].append(r["p50_us"])
        elif r.get("bench") == "allreduce" and r.get("kind") == "size" and r.get("algo") == "ring":
            ar[(r["ranks"], r["bytes"], side)].append(r["ratio_ring_over_mpi"])
for f in glob.glob(d + "/*-demo-*.txt"):
    side = f.split("/")[-1][0]
    t = open(f).read()
    # The progress line at the last step: samples/s of the training loop alone, defined alike in
    # every build (the final line's figure once also counted the checksum's pull).
    last = [m for m in re.finditer(r"step (\d+)/(\d+) .*?(\d+) samples/s", t) if m.group(1) == m.group(2)][-1]
    demo[side].append(int(last.group(3)))
    crc |= set(re.findall(r"PARAMS crc32c (0x[0-9a-f]+)", t))

ratios = [med(ps[k + ("B",)]) / med(ps[k + ("A",)]) for k in sorted({k[:5] for k in ps})]
if ratios:
    print(f"bench ps: B/A of the medians over {len(ratios)} cells: median {med(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f}")
print("\n| ranks | size | A ring/MPI | B ring/MPI | B/A |\n| --- | --- | --- | --- | --- |")
for p, b in sorted({k[:2] for k in ar}):
    x, y = med(ar[(p, b, "A")]), med(ar[(p, b, "B")])
    size = f"{b >> 20} MiB" if b >= 1 << 20 else f"{b >> 10} KiB"
    print(f"| {p} | {size} | {x:.2f} | {y:.2f} | {y / x:.2f} |")
for side in sorted(demo):
    print(f"\ndemo {side}: samples/s {demo[side]}, median {med(demo[side])}")
print(f"demo PARAMS: {sorted(crc)}")
