"""A worker killed mid-training (SIGKILL by itself, at step 3): every other worker's next call raises
an exception naming it, the call after that raises Unusable, and each rank ends non-zero. Prints
RAISED <class> on the survivors."""

import os
import signal

import numpy as np

import hybridsync as hs

with hs.job(servers=1) as job:
    kv = job.kv
    kv.declare(hs.Table("t", 4, hs.SGD(0.1), "bsp"))
    g = np.ones(1000, np.float32)
    for step in range(1000):
        if step == 3 and job.worker == job.workers - 1:
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            kv.push("t", [job.worker, 7], np.ones((2, 4), np.float32))
            job.allreduce(g, "average")
            kv.end_step()
        except hs.HybridSyncError as e:
            print(f"RAISED {type(e).__name__} at step {step} on worker {job.worker}: subject '{e.subject}': {e}", flush=True)
            try:
                job.allreduce(g, "average")
            except hs.Unusable as then:
                print(f"THEN Unusable on worker {job.worker}: {then}", flush=True)
            raise
