# Tables of Docs/Benchmarks.md's "The sparse path against ps-lite" from the files beside this one:
#   python3 tables.py . side|old|zmq|pipe
# new-N.jsonl: `hybridsync bench ps` of this build (ipc and tcp); old-N.jsonl: the build before (ipc);
# pslite-N.txt: ps-lite's scratch benchmark (not in this repository), one line per worker and op,
# prefixed L0/L1 (tcp / DMLC_LOCAL=1 ipc) and T1x1/T2x2. Medians over the three sittings N.
import json, sys, glob, statistics, collections
d = sys.argv[1]
def med(xs): return statistics.median(xs) if xs else float('nan')
# HybridSync new: (transport, S, W, mode, keys, floats, op) -> [per-iteration p50]
hs = collections.defaultdict(list); old = collections.defaultdict(list); hsp = collections.defaultdict(list); zmq = collections.defaultdict(list)
for i in (1, 2, 3):
    for f, target in ((f"{d}/new-{i}.jsonl", hs), (f"{d}/old-{i}.jsonl", old)):
        try: lines = open(f).read().split("\n")
        except FileNotFoundError: continue
        for l in lines:
            if not l.strip(): continue
            r = json.loads(l)
            t = r.get("transport", "ipc")
            if r["kind"] == "ps":
                target[(t, r["servers"], r["workers"], r["server_mode"], r["keys"], r["floats"], r["op"])].append(r["p50_us"])
            elif r["kind"] == "pipelined" and target is hs:
                hsp[(t, r["servers"], r["workers"], r["server_mode"], r["keys"], r["floats"], r["op"])].append((r["ops_per_s"], r["one_in_flight_ops_per_s"]))
            elif r["kind"] == "zmq" and target is hs:
                zmq[(t, r["keys"], r["floats"])].append((r["push_rtt_us"], r["pull_rtt_us"]))
pl = collections.defaultdict(list); plp = collections.defaultdict(list)
for i in (1, 2, 3):
    per = collections.defaultdict(list); perp = collections.defaultdict(list)
    try: lines = open(f"{d}/pslite-{i}.txt").read().split("\n")
    except FileNotFoundError: continue
    for l in lines:
        if not l.strip(): continue
        loc, topo, _, j = l.split(" ", 3); r = json.loads(j)
        t = "ipc" if loc == "L1" else "tcp"; S, W = map(int, topo[1:].split("x"))
        mode = "adagrad" if r["store"] else "none"
        if r["op"].endswith("pipelined"):
            perp[(t, S, W, mode, r["keys"], r["floats"], r["op"][:-10])].append(r["ops_per_s"])
        else:
            per[(t, S, W, mode, r["keys"], r["floats"], r["op"])].append(r["p50_us"])
    for k, v in per.items(): pl[k].append(sum(v) / len(v))
    for k, v in perp.items(): plp[k].append(sum(v))
shapes = [(1, 1), (100, 64), (10000, 64), (1000000, 1), (16, 262144)]
def fmt(us):
    if us != us: return "-"
    return f"{us:.0f} us" if us < 10000 else f"{us/1000:.1f} ms"
which = sys.argv[2] if len(sys.argv) > 2 else "side"
if which == "side":
    for t in ("ipc", "tcp"):
        for (S, W) in ((1, 1), (2, 2)):
            print(f"\n#### {S} server + {W} worker{'s' if W > 1 else ''}, {t}\n")
            print("| keys x floats | op | ps-lite | HybridSync (no store) | ratio | ps-lite, hash-map store | HybridSync Adagrad | ratio |")
            print("| --- | --- | --- | --- | --- | --- | --- | --- |")
            for (k, f) in shapes:
                for op in ("push", "pull", "pushpull"):
                    a = med(pl[(t, S, W, "none", k, f, op)]); b = med(hs[(t, S, W, "none", k, f, op)])
                    c = med(pl[(t, S, W, "adagrad", k, f, op)]); e = med(hs[(t, S, W, "adagrad", k, f, op)])
                    print(f"| {k:,} x {f:,} | {op} | {fmt(a)} | {fmt(b)} | {b/a:.2f} | {fmt(c)} | {fmt(e)} | {e/c:.2f} |")
elif which == "old":
    for (S, W) in ((1, 1), (2, 2)):
        print(f"\n#### {S} + {W}, ipc: the build before this work (ec7390b) against this one\n")
        print("| keys x floats | server | op | before | after | after/before |")
        print("| --- | --- | --- | --- | --- | --- |")
        for mode in ("none", "adagrad"):
            for (k, f) in shapes:
                for op in ("push", "pull", "pushpull"):
                    a = med(old[("ipc", S, W, mode, k, f, op)]); b = med(hs[("ipc", S, W, mode, k, f, op)])
                    print(f"| {k:,} x {f:,} | {mode} | {op} | {fmt(a)} | {fmt(b)} | {b/a:.2f} |")
elif which == "zmq":
    print("| keys x floats | transport | push-sized round trip | HybridSync push (none), 1+1 | push/zmq | pull-sized round trip | HybridSync pull (none), 1+1 | pull/zmq |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for t in ("ipc", "tcp"):
        for (k, f) in shapes:
            zp = med([x[0] for x in zmq[(t, k, f)]]); zl = med([x[1] for x in zmq[(t, k, f)]])
            p = med(hs[(t, 1, 1, "none", k, f, "push")]); q = med(hs[(t, 1, 1, "none", k, f, "pull")])
            print(f"| {k:,} x {f:,} | {t} | {fmt(zp)} | {fmt(p)} | {p/zp:.2f} | {fmt(zl)} | {fmt(q)} | {q/zl:.2f} |")
elif which == "pipe":
    print("| keys x floats | S+W | transport | op | HybridSync 1 in flight | HybridSync 4 in flight | gain | ps-lite 4 in flight | HybridSync/ps-lite |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for t in ("ipc", "tcp"):
        for (S, W) in ((1, 1), (2, 2)):
            for (k, f) in shapes:
                for op in ("push", "pull"):
                    xs = hsp[(t, S, W, "none", k, f, op)]
                    many = med([x[0] for x in xs]); one = med([x[1] for x in xs]); p = med(plp[(t, S, W, "none", k, f, op)])
                    print(f"| {k:,} x {f:,} | {S}+{W} | {t} | {op} | {one:,.0f}/s | {many:,.0f}/s | {many/one:.2f} | {p:,.0f}/s | {many/p:.2f} |")
