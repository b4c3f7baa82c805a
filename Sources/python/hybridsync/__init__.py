"""HybridSync from Python: embedding rows through parameter servers, dense tensors through a ring
all-reduce, one gradient-sync call per step over both. Launch with Launch/mpirun (one process per rank):

    import numpy as np, hybridsync as hs
    with hs.job(servers=1) as job:                    # server ranks serve and exit inside job()
        w = np.zeros(10, np.float32)
        sync = hs.GradientSync(job)
        sync.register([hs.Dense("w", w, hs.SGD(0.1)),
                       hs.Embedding(hs.Table("emb", 8, hs.Adagrad(0.05), "bsp"), rows=1 << 20)])
        rows = sync.pull("emb", ids)                  # (len(ids), 8)
        sync.step(dense={"w": grad_w}, sparse=[("emb", ids, grad_rows)])   # w updated in place

The C ABI underneath is `hybridsync.h` (`python3 -m hybridsync.config --include --libs`).
"""

from .errors import (CheckpointError, DataLost, ForgedSender, HybridSyncError, InvalidArgument, MalformedMessage, Mismatch,
                     OversizeMessage, PeerDied, RemoteError, ShapeMismatch, Stalled, Timeout, TransportError, UnknownTable, Unusable)
from .job import Job, job
from .kv import KVWorker, Request
from .optim import SGD, Accumulate, Adagrad, Adam, Table
from .sync import Dense, Embedding, GradientSync

__all__ = [
    "job", "Job", "KVWorker", "Request", "GradientSync", "Dense", "Embedding", "Table", "SGD", "Adagrad", "Adam", "Accumulate",
    "HybridSyncError", "InvalidArgument", "ShapeMismatch", "UnknownTable", "Mismatch", "Stalled", "Timeout", "PeerDied", "DataLost",
    "Unusable", "TransportError", "MalformedMessage", "OversizeMessage", "ForgedSender", "RemoteError", "CheckpointError",
]
