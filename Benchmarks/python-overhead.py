"""The Python layer's own time per step of the wide-and-deep script through hybridsync.torch, on
worker 0: wall time in the layer's entry points (the tables' pull, the buckets' hook,
`DistributedOptimizer.step` and `zero_grad`) minus what its main thread spends inside library calls,
waiting for the ring thread, or in the user's torch.optim step. Prints one line and, with OUT, appends
a JSON line to it.

    Launch/mpirun -np 6 python3 Benchmarks/python-overhead.py [OUT]
"""
import collections
import importlib
import json
import sys
import threading
import time

import torch
import hybridsync.sync as hsync
import hybridsync.torch as hst
import hybridsync.torch.buckets as bk
import hybridsync.torch.embedding as emb
import hybridsync.torch.optimizer as op
from hybridsync.examples import wide_deep as wd

hjob = importlib.import_module("hybridsync.job")
T = collections.defaultdict(float)
main = threading.main_thread()
depth = [0]
def outer(name, fn):
    def w(*a, **k):
        if threading.current_thread() is not main or depth[0]:
            return fn(*a, **k)
        depth[0] += 1
        t = time.perf_counter()
        try: return fn(*a, **k)
        finally:
            T["layer"] += time.perf_counter() - t; depth[0] -= 1
    return w
def inner(name, fn):
    def w(*a, **k):
        if threading.current_thread() is not main:
            return fn(*a, **k)
        t = time.perf_counter()
        try: return fn(*a, **k)
        finally: T[name] += time.perf_counter() - t
    return w
hsync.call = inner("in C", hsync.call); hjob.call = inner("in C", hjob.call)
bk.Started.result = inner("waiting for ring", bk.Started.result)
emb._ServerTable._pull = outer("pull", emb._ServerTable._pull)
bk.Buckets._accumulated = outer("hook", bk.Buckets._accumulated)
op.DistributedOptimizer.step = outer("step", op.DistributedOptimizer.step)
op.DistributedOptimizer.zero_grad = outer("zero_grad", op.DistributedOptimizer.zero_grad)
class A: rows=1<<20; train_limit=0; hidden=128; batch=32; epochs=1; servers=2
a = A()
torch.set_num_threads(1)
with hst.job(servers=2) as job:
    data = wd.load(a.rows, a.train_limit)
    wide = hst.EmbeddingBag("wide", rows=a.rows, dim=10, mode="sum", optimizer=hst.Adagrad(lr=0.05, eps=1e-8, initial_accumulator=0.1))
    torch.manual_seed(42)
    model = wd.WideDeep(wide, a.hidden)
    opt = hst.DistributedOptimizer(torch.optim.Adam(model.dense_parameters(), lr=1e-3, eps=1e-8), model)
    inner_adam = opt.optimizer.step
    opt.optimizer.step = inner("torch.optim", inner_adam)  # the user's optimizer: not the layer's
    def step(loss):
        opt.zero_grad(); loss.backward(); opt.step()
    T.clear()
    steps, secs, loss = wd.train(model, step, job.kv.barrier, job.worker, job.workers, a, data)
    if job.worker == 0:
        per = {k: 1000 * v / steps for k, v in T.items()}
        own = per["layer"] - per.get("in C", 0) - per.get("waiting for ring", 0) - per.get("torch.optim", 0)
        if len(sys.argv) > 1:
            with open(sys.argv[1], "a") as f:
                f.write(json.dumps({"bench": "python-overhead", "steps": steps, "ms_per_step": 1000 * secs / steps, "ms": per, "own_ms": own}) + "\n")
        print(f"OVERHEAD {steps} steps, {1000*secs/steps:.2f} ms/step, {steps*a.batch*job.workers/secs:.0f} samples/s; per step ms: " +
              ", ".join(f"{k} {v:.3f}" for k, v in per.items()) + f"; python layer own {own:.3f} ms = {100*own/(1000*secs/steps):.1f}% of the step", flush=True)
