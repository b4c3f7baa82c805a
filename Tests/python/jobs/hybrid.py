"""GradientSync from Python: 3 workers x 2 servers, BSP, against a serial numpy reference of the same
steps; bad input refused with nothing applied; checkpoint and resume bit-identical. Prints HYBRID OK.

  python3 hybrid.py train CHECKPOINT_DIR    4 steps, a background checkpoint after step 2
  python3 hybrid.py resume CHECKPOINT_DIR   a new job resumed from it, steps 3 and 4
Both print the final parameters' digest, which must be the same.
"""

import hashlib
import sys

import numpy as np

import hybridsync as hs

ROWS, STEPS, LR_DENSE, LR_EMB = 50, 4, 0.25, 0.5


def batch(step, worker, p):
    """Worker `worker`'s ids and gradients at `step`: multiples of p / 8, so every sum over workers and
    its mean are exact in float32 (the reference is then exact, in any summation order)."""
    ids = np.array([(step * 7 + worker * 3 + j) % ROWS for j in range(5)] + [(step + worker) % ROWS], np.uint64)
    rows = np.array([[p * (worker + 1) * (j + 1 + c) / 8 for c in range(4)] for j in range(len(ids))], np.float32)
    wide = np.array([[p * (worker + j + 1) / 8] for j in range(len(ids))], np.float32)
    dense = np.full(16, p * (step + worker + 1) / 8, np.float32) * np.arange(1, 17, dtype=np.float32)
    return ids, rows, wide, dense


def reference(p, steps):
    """The serial reference: every worker's gradients summed per row, averaged over workers, applied."""
    w = np.full(16, 1.0, np.float32)
    emb = np.zeros((ROWS, 4), np.float32)
    wide = np.zeros((ROWS, 1), np.float32)
    h = np.full((ROWS, 1), 0.1, np.float32)
    for s in range(steps):
        g_emb = np.zeros_like(emb)
        g_wide = np.zeros_like(wide)
        touched = np.zeros(ROWS, bool)
        g_dense = np.zeros(16, np.float32)
        for worker in range(p):
            ids, rows, wrows, dense = batch(s, worker, p)
            np.add.at(g_emb, ids.astype(int), rows)
            np.add.at(g_wide, ids.astype(int), wrows)
            touched[ids.astype(int)] = True
            g_dense += dense
        w -= np.float32(LR_DENSE) * (g_dense / np.float32(p))
        emb -= np.float32(LR_EMB) * (g_emb / np.float32(p))
        g = g_wide[touched] / np.float32(p)
        h[touched] += g * g
        wide[touched] -= np.float32(0.1) * g / (np.sqrt(h[touched]) + np.float32(1e-8))
    return w, emb, wide


mode, directory = sys.argv[1], sys.argv[2]
with hs.job(servers=2) as job:
    p, me = job.workers, job.worker
    w = np.full(16, 1.0 if me == 0 else 7.0, np.float32)  # worker 0's values are broadcast
    sync = hs.GradientSync(job)
    sync.register([
        hs.Dense("w", w, hs.SGD(LR_DENSE)),
        hs.Embedding(hs.Table("emb", 4, hs.SGD(LR_EMB), "bsp"), rows=ROWS, pin="ps"),
        hs.Embedding(hs.Table("wide", 1, hs.Adagrad(0.1, eps=1e-8, initial_accumulator=0.1), "bsp"), rows=ROWS, pin="ps"),
    ])
    assert (w == 1).all(), w
    assert {e["name"]: e["route"] for e in sync.plan} == {"w": "ring", "emb": "ps", "wide": "ps"}, sync.plan
    everything = np.arange(ROWS)

    def run(first, last):
        for s in range(first, last):
            ids, rows, wide, dense = batch(s, me, p)
            got = sync.pull("emb", ids)
            if s % 2 == 1:  # prefetched by the step before: what a pull made now gets (the second is not)
                assert np.array_equal(got, sync.pull("emb", ids)), s
            if s % 2 == 0 and s + 1 < last:
                sync.prefetch("emb", batch(s + 1, me, p)[0])
            sync.step(dense={"w": dense}, sparse=[("emb", ids, rows), ("wide", ids, wide)])

    # Bad input, each refused by its exception before anything is sent; nothing changes.
    ids, rows, wide, dense = batch(0, me, p)
    nan_rows = rows.copy()
    nan_rows[1, 2] = np.nan
    nan_dense = dense.copy()
    nan_dense[5] = np.inf
    cases = [
        (hs.InvalidArgument, "dtype", dict(dense={"w": dense.astype(np.float64)}, sparse=[("emb", ids, rows)])),
        (hs.InvalidArgument, "shape", dict(dense={"w": np.repeat(dense, 2)[::2]}, sparse=[("emb", ids, rows)])),
        (hs.UnknownTable, None, dict(dense={"w": dense}, sparse=[("nope", ids, rows)])),
        (hs.ShapeMismatch, None, dict(dense={"w": dense[:15].copy()}, sparse=[("emb", ids, rows)])),
        (hs.ShapeMismatch, None, dict(dense={"w": dense}, sparse=[("emb", ids, rows[:, :3].copy())])),
        (hs.InvalidArgument, "non_finite", dict(dense={"w": dense}, sparse=[("emb", ids, nan_rows)])),
        (hs.InvalidArgument, "non_finite", dict(dense={"w": nan_dense}, sparse=[("emb", ids, rows)])),
    ]
    for i, (cls, code, kwargs) in enumerate(cases):
        try:
            sync.step(**kwargs)
        except cls as e:
            assert code is None or e.code == code, (i, e.code, e)
        else:
            raise AssertionError(f"case {i} was accepted")
    assert (w == 1).all() and (sync.pull("emb", ids) == 0).all() and sync.step_count == 0, "a refused step changed something"
    job.kv.barrier()  # no worker trains (its pushes apply at once) before every worker has checked

    if mode == "resume":
        sync.resume(directory)
        assert sync.step_count == 2 and (w != 1).any(), "the step count and the dense parameter came back"
        run(2, STEPS)
    else:
        run(0, 2)
        # Written while steps 3 and 4 change the rows; the resumed job must still see step 2.
        sync.checkpoint(directory, keep=2, background=True)
        run(2, STEPS)
        sync.finish_checkpoint()
        try:
            sync.resume(directory)
        except hs.InvalidArgument as e:
            assert e.code == "order", e
        else:
            raise AssertionError("a resume after steps was accepted")
    final = (w.copy(), sync.pull("emb", everything), sync.pull("wide", everything))
    ref_w, ref_emb, ref_wide = reference(p, STEPS)
    assert np.array_equal(final[0], ref_w), (final[0], ref_w)
    assert np.array_equal(final[1], ref_emb), np.abs(final[1] - ref_emb).max()
    np.testing.assert_allclose(final[2], ref_wide, rtol=1e-6, atol=1e-7)
    digest = hashlib.sha256(b"".join(a.tobytes() for a in final)).hexdigest()[:16]
    print(f"HYBRID OK worker {me} {mode} params {digest}", flush=True)
