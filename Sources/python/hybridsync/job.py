"""One rank's part of a hybrid job, and the dense path alone."""

import ctypes
import itertools

import numpy as np

from . import _arrays, interrupts
from ._lib import JobInfo, JobOptions, call, lib

OPS = {"sum": 0, "average": 1, "mean": 1, "min": 2, "max": 3}


class Job:
    """This rank of the job (made by `job()`): `is_worker`, `rank`, `world`, `worker`, `workers`,
    `servers`; the dense collectives over the workers; `kv`, the parameter server alone."""

    def __init__(self, servers=1, dedicated=True, spares=0):
        options = JobOptions()
        lib.hs_job_options_init(ctypes.byref(options))
        options.servers, options.dedicated, options.spares = servers, int(bool(dedicated)), spares
        handle = ctypes.c_void_p()
        call("job_start", ctypes.byref(options), ctypes.byref(handle))
        self._handle = handle
        info = JobInfo()
        call("job_get_info", handle, ctypes.byref(info))
        self.rank, self.world, self.worker, self.workers, self.servers = info.rank, info.world, info.worker, info.workers, info.servers
        self.is_worker = bool(info.is_worker)
        self._names = itertools.count()
        self._kv = None
        self.ended = False

    @property
    def handle(self):
        return self._handle

    def end(self, failed=False):
        """Ends this rank (idempotent). failed=True leaves MPI as it is: the process must then exit
        non-zero, and Launch/mpirun ends the other ranks."""
        if self.ended:
            return
        self.ended = True
        call("job_end", self._handle, int(bool(failed)))

    def _name(self, name, kind):
        return (name or f"py.{kind}.{next(self._names)}").encode()

    def allreduce(self, array, op="average", name=None):
        """Reduces `array` in place over the workers (every worker calls with the same shape and dtype,
        in the same order) and returns it. op: "sum", "average", "min" or "max"."""
        _arrays.check(array, "all-reduce input", writable=True)
        if op not in OPS:
            raise ValueError(f"op must be one of {sorted(OPS)}, not {op!r}")
        call("allreduce", self._handle, self._name(name, "allreduce"), array.ctypes.data, array.size, _arrays.DTYPES[array.dtype], OPS[op])
        return array

    def broadcast(self, array, root=0, name=None):
        """Overwrites `array` on every worker with worker `root`'s, in place, and returns it."""
        _arrays.check(array, "broadcast input", writable=True)
        call("broadcast", self._handle, self._name(name, "broadcast"), array.ctypes.data, array.size, _arrays.DTYPES[array.dtype], root)
        return array

    def allgather(self, array, name=None):
        """A new array of shape (workers, *array.shape) holding every worker's `array`."""
        _arrays.check(array, "all-gather input")
        out = np.empty((self.workers,) + array.shape, dtype=array.dtype)
        call("allgather", self._handle, self._name(name, "allgather"), array.ctypes.data, array.size, _arrays.DTYPES[array.dtype],
             out.ctypes.data, out.size)
        return out

    @property
    def kv(self):
        """The parameter server alone (ps-lite's KVWorker)."""
        if self._kv is None:
            from .kv import KVWorker
            self._kv = KVWorker(self)
        return self._kv


class job:
    """The job's lifecycle as a context manager:

        with hybridsync.job(servers=2) as j:
            ...            # runs on worker ranks

    On a dedicated server rank, entering serves until every worker has left its block, then (with
    `exit_servers`, the default) exits the process with status 0: the block runs only on workers.
    Leaving the block always ends the rank; after an exception (including KeyboardInterrupt) it ends it
    as failed, so the process exits non-zero and Launch/mpirun ends the job on every rank. A Ctrl-C
    while the main thread waits inside the library ends the process with status 130 (`interrupts`).
    """

    def __init__(self, servers=1, dedicated=True, spares=0, exit_servers=True):
        self._args = (servers, dedicated, spares)
        self._exit_servers = exit_servers
        self.job = None

    def __enter__(self):
        interrupts.watch()
        self.job = Job(*self._args)
        if not self.job.is_worker:
            self.job.end()
            if self._exit_servers:
                raise SystemExit(0)
        return self.job

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.job.end()
        else:
            try:
                self.job.end(failed=True)
            except Exception:
                pass
        return False
