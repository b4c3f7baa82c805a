"""The dense path from Python under mpirun (1 server, the rest workers): every dtype and op against
closed forms, broadcast and all-gather, and arrays the binding must refuse. Prints DENSE OK."""

import numpy as np

import hybridsync as hs

with hs.job(servers=1) as job:
    w, p = job.worker, job.workers
    i = np.arange(1001)
    k = i % 7 + 1
    closed = {"sum": k * p * (p + 1) // 2, "min": k, "max": k * p}
    for dtype in (np.float32, np.float64, np.float16, np.int32, np.int64):
        for op in ("sum", "average", "min", "max"):
            a = ((w + 1) * k).astype(dtype)
            assert job.allreduce(a, op) is a, "in place"
            if op == "average":
                want = (k * p * (p + 1) // 2) // p if np.issubdtype(dtype, np.integer) else k * (p + 1) / 2
            else:
                want = closed[op]
            assert np.array_equal(a, np.asarray(want).astype(dtype)), (dtype, op, a[:8], want[:8])
    matrix = np.full((4, 5), float(w), np.float64)
    job.broadcast(matrix, root=p - 1)
    assert (matrix == p - 1).all(), matrix
    gathered = job.allgather(np.array([w, 10 * w], np.int64))
    assert gathered.shape == (p, 2) and (gathered[:, 0] == np.arange(p)).all() and (gathered[:, 1] == 10 * np.arange(p)).all(), gathered

    refused = 0
    original = np.ones(8, np.float32)
    for bad, code in ((np.ones(16, np.float32)[::2], "shape"), (np.ones(8, np.uint8), "dtype"), ([1.0, 2.0], "dtype")):
        try:
            job.allreduce(bad, "sum")
        except hs.InvalidArgument as e:
            assert e.code == code, (e.code, e)
            refused += 1
    frozen = original.copy()
    frozen.flags.writeable = False
    try:
        job.allreduce(frozen, "sum")
    except hs.InvalidArgument as e:
        assert "read-only" in str(e)
        refused += 1
    assert refused == 4 and (frozen == 1).all()
    # After refused calls the job goes on.
    ok = np.ones(3, np.float32)
    job.allreduce(ok, "sum")
    assert (ok == p).all()
    print(f"DENSE OK worker {w}", flush=True)

    # The parameter server alone, ps-lite style: a table that sums what is pushed.
    kv = job.kv
    kv.declare(hs.Table("counts", 2, hs.Accumulate()))
    keys = np.array([3, 9, 3], np.uint64)
    kv.push("counts", keys, np.full((3, 2), w + 1, np.float32))
    kv.barrier()
    s = p * (p + 1) // 2
    assert (kv.pull("counts", [9, 3]) == [[s, s], [2 * s, 2 * s]]).all()
    kv.barrier()
    after = kv.push_pull("counts", [9], np.ones((1, 2), np.float32))
    assert after[0, 0] >= s + 1, after
    kv.barrier()
    kv.push_async("counts", [100], np.ones((1, 2), np.float32)).wait()
    kv.barrier()
    rows = kv.pull_async("counts", [9, 100]).wait()
    assert (rows == [[s + p, s + p], [p, p]]).all(), rows
    try:
        kv.push("nope", [1], np.ones((1, 2), np.float32))
    except hs.UnknownTable as e:
        assert e.subject == "nope"
    else:
        raise AssertionError("an unknown table was accepted")
    try:
        kv.push("counts", [1, 2], np.ones((1, 2), np.float32))
    except hs.ShapeMismatch:
        pass
    else:
        raise AssertionError("short values were accepted")
    kv.barrier()
    assert (kv.pull("counts", [1]) == 0).all(), "refused pushes changed nothing"
    print(f"KV OK worker {w}", flush=True)
