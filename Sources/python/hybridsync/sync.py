"""GradientSync: one call per step over both paths, the planner routing each parameter."""

import ctypes
import json

import numpy as np

from . import _arrays
from ._lib import DenseGrad, Param, SparseGrad, call
from .optim import SGD

STRATEGIES = {"hybrid": 0, "allreduce": 1, "ps": 2}
ROUTES = {None: 0, "ring": 1, "ps": 2}


class Dense:
    """A dense float32 parameter the library updates in place (with `optimizer`, applied after the
    gradients are averaged over the workers). The array is the parameter: keep it alive; after every
    `step` and `resume` it holds the new values."""

    def __init__(self, name, array, optimizer=None, pin=None):
        self.name, self.array, self.optimizer, self.pin = name, _arrays.check(array, f"dense parameter '{name}'", np.float32, True), \
            optimizer or SGD(0.01), pin


class Embedding:
    """An embedding table of `rows` rows (ids 0 ..< rows) whose rows live on the servers (or, when the
    planner routes it to the ring, in a dense copy on every worker)."""

    def __init__(self, table, rows, pin=None):
        self.table, self.rows, self.pin = table, rows, pin


class GradientSync:
    """`register` parameters once, then per step: `pull` the batch's rows, compute, `step(dense=...,
    sparse=...)`. strategy: "hybrid" (the planner decides), "allreduce" or "ps"."""

    def __init__(self, job, strategy="hybrid"):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {sorted(STRATEGIES)}, not {strategy!r}")
        self._job = job
        handle = ctypes.c_void_p()
        call("sync_create", job.handle, STRATEGIES[strategy], ctypes.byref(handle))
        self._handle = handle
        self._dense = {}
        self._dims = {}
        self._keep = []

    def register(self, params):
        """Registers Dense and Embedding parameters on every worker (collective; the same list
        everywhere). Worker 0's dense values are broadcast into every worker's arrays."""
        c = (Param * len(params))()
        names = []
        for i, p in enumerate(params):
            if p.pin not in ROUTES:
                raise ValueError(f"pin must be None, 'ring' or 'ps', not {p.pin!r}")
            c[i].pin = ROUTES[p.pin]
            if isinstance(p, Dense):
                name = p.name.encode()
                names.append(name)
                c[i].kind, c[i].name, c[i].count, c[i].optimizer = 0, name, p.array.size, p.optimizer.c()
                c[i].data = _arrays.pointer(p.array, ctypes.c_float)
            elif isinstance(p, Embedding):
                c[i].kind, c[i].table, c[i].rows = 1, p.table.c(), p.rows
            else:
                raise TypeError(f"parameters are Dense or Embedding, not {type(p).__name__}")
        call("sync_register", self._handle, c, len(params))
        for p in params:
            if isinstance(p, Dense):
                self._dense[p.name] = p.array
            else:
                self._dims[p.table.name] = p.table.dim
                self._keep.append(p.table)
        self._keep += names

    def pull(self, table, ids):
        """The rows of `table` for `ids` (any order, repeats allowed): an array (len(ids), dim)."""
        k = _arrays.keys(ids, f"ids of table '{table}'")
        out = np.empty((k.size, self._dims.get(table, 0)), dtype=np.float32)
        call("sync_pull", self._handle, table.encode(), _arrays.pointer(k, ctypes.c_uint64), k.size, _arrays.pointer(out, ctypes.c_float), out.size)
        return out

    def prefetch(self, table, ids):
        """Names the rows the next step will pull: `step` pulls them as it ends the step, and the next
        `pull(table, ids)` with the same ids returns them, as a pull made then would."""
        k = _arrays.keys(ids, f"ids of table '{table}'")
        call("sync_prefetch", self._handle, table.encode(), _arrays.pointer(k, ctypes.c_uint64), k.size)

    def _sparse(self, sparse):
        rows = [(t, ids, v) for t, (ids, v) in sparse.items()] if isinstance(sparse, dict) else list(sparse)
        c = (SparseGrad * len(rows))()
        keep = []
        for i, (table, ids, values) in enumerate(rows):
            k = _arrays.keys(ids, f"ids of table '{table}'")
            v = _arrays.check(values, f"gradient rows of table '{table}'", np.float32)
            name = table.encode()
            keep += [k, v, name]
            c[i].table, c[i].ids, c[i].nids = name, _arrays.pointer(k, ctypes.c_uint64), k.size
            c[i].values, c[i].nvalues = _arrays.pointer(v, ctypes.c_float), v.size
        return c, len(rows), keep

    def push_sparse(self, sparse):
        """Sends this step's sparse gradients now, while backward goes on; `step` then gets none."""
        c, n, keep = self._sparse(sparse)
        call("sync_push_sparse", self._handle, c, n)
        del keep

    def step(self, dense=None, sparse=()):
        """One step (collective over the workers). dense: {name: gradient array} with one float32
        gradient per registered dense parameter; sparse: (table, ids, gradient rows (len(ids), dim))
        tuples, or {table: (ids, rows)}. Bad input raises before anything is sent."""
        dense = dense or {}
        d = (DenseGrad * len(dense))()
        keep = []
        for i, (name, grad) in enumerate(dense.items()):
            g = _arrays.check(grad, f"gradient of '{name}'", np.float32)
            encoded = name.encode()
            keep += [g, encoded]
            d[i].name, d[i].data, d[i].count = encoded, _arrays.pointer(g, ctypes.c_float), g.size
        s, n, keep2 = self._sparse(sparse)
        call("sync_step", self._handle, d, len(dense), s, n)
        del keep, keep2

    @property
    def step_count(self):
        c = ctypes.c_int64()
        call("sync_step_count", self._handle, ctypes.byref(c))
        return c.value

    def checkpoint(self, directory, keep=3, background=False):
        """Writes a checkpoint of the whole job (servers' tables and optimizer state, dense
        parameters) under `directory`, keeping the newest `keep`. Collective. With
        `background=True` it returns once every part is snapshotted and the parts are written
        while training goes on; it is complete after `finish_checkpoint()` (or the next
        checkpoint), which raises its failure on every worker."""
        name = "sync_checkpoint_in_background" if background else "sync_checkpoint"
        call(name, self._handle, str(directory).encode(), keep)

    def finish_checkpoint(self):
        """Waits until the background checkpoint in flight is complete; returns at once if none
        is. Collective."""
        call("sync_finish_checkpoint", self._handle)

    def resume(self, path):
        """Resumes from a checkpoint (a step's folder, or the directory for its newest complete one)."""
        call("sync_resume", self._handle, str(path).encode())

    def resume_if_relaunched(self, directory):
        """In a relaunch of a failed job (`Launch/mpirun --max-restarts N`) with a complete checkpoint
        under `directory`: resumes from the newest and returns its step. Otherwise (a first launch, or
        no checkpoint completed before the failure) changes nothing and returns None. Collective."""
        step = ctypes.c_int64()
        call("sync_resume_if_relaunched", self._handle, str(directory).encode(), ctypes.byref(step))
        return None if step.value < 0 else step.value

    @property
    def plan(self):
        """The plan: a dict per parameter (name, route "ring" or "ps", bytes, density, reason)."""
        needed = ctypes.c_size_t()
        call("sync_plan", self._handle, None, 0, ctypes.byref(needed))
        text = ctypes.create_string_buffer(needed.value)
        call("sync_plan", self._handle, text, needed.value, ctypes.byref(needed))
        return [json.loads(line) for line in text.value.decode().splitlines() if line]
