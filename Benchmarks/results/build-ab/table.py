#!/usr/bin/env python3
# Tables of Docs/Benchmarks.md's "This build against the build before" from the files beside it:
#   python3 table.py .   (and python3 table.py ps-2x2 for the 2+2 re-run)
# A-* is the build before, B-* this build; *-ps-N.jsonl bench ps, *-allreduce-np2-N.jsonl bench allreduce,
# *-demo-N.txt the demo (train --epochs 1 --no-calibrate --checksum).
import glob, json, re, statistics, sys, collections
d = sys.argv[1]
ps = collections.defaultdict(list); ar = collections.defaultdict(list); demo = collections.defaultdict(list); crc = set()
for f in glob.glob(d + "/*.jsonl"):
    side = f.split("/")[-1][0]
    for l in open(f):
        r = json.loads(l)
        if r.get("kind") == "ps":
            ps[(f'{r["servers"]}+{r["workers"]}', r["server_mode"], f'{r["keys"]} x {r["floats"]}', r["op"], side)].append(r["p50_us"])
        elif r.get("bench") == "allreduce" and r.get("kind") == "size" and r.get("algo") == "ring":
            ar[(r["bytes"], side)].append(r["ratio_ring_over_mpi"])
for f in glob.glob(d + "/*-demo-*.txt"):
    side = f.split("/")[-1][0]; t = open(f).read()
    m = re.search(r"(\d+) samples/s, 4 workers", t); demo[side].append(int(m.group(1)))
    crc |= set(re.findall(r"PARAMS crc32c (0x[0-9a-f]+)", t))
med = statistics.median
print("| bench ps (plain, tcp) | server | shape | op | before us | this build us | ratio |\n| --- | --- | --- | --- | --- | --- | --- |")
ratios = []
for k in sorted({k[:4] for k in ps}, key=lambda k: (k[0], k[1], int(k[2].split()[0]) * int(k[2].split()[2]), k[3])):
    a, b = med(ps[k + ("A",)]), med(ps[k + ("B",)]); ratios.append(b / a)
    print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {a:.0f} | {b:.0f} | {b/a:.2f} |")
print(f"\nbench ps: median ratio {med(ratios):.3f} over {len(ratios)} cells, range {min(ratios):.2f}-{max(ratios):.2f}\n")
if ar: print("| bench allreduce, 2 ranks | before: ring/MPI | this build: ring/MPI | ratio |\n| --- | --- | --- | --- |")
for b in sorted({k[0] for k in ar}):
    x, y = med(ar[(b, "A")]), med(ar[(b, "B")])
    print(f"| {b >> 20} MiB |" if b >= 1 << 20 else f"| {b >> 10} KiB |", f"{x:.2f} | {y:.2f} | {y/x:.2f} |")
if demo: print(f"\ndemo samples/s: before {demo['A']} (median {med(demo['A'])}), this build {demo['B']} (median {med(demo['B'])}), ratio {med(demo['B'])/med(demo['A']):.3f}; PARAMS {sorted(crc)}")
