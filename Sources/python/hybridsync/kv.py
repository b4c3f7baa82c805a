"""The parameter server alone, ps-lite style: push, pull, push_pull and asynchronous requests."""

import ctypes

import numpy as np

from . import _arrays
from ._lib import call
from .optim import tables_array


class Request:
    """A push or pull in flight; `wait()` blocks (with the request's deadline) and returns a pull's
    rows. The pull's output array is kept alive here until then."""

    def __init__(self, handle, out=None, keep=()):
        self._handle, self._out, self._keep, self._done = handle, out, keep, False

    def wait(self):
        if not self._done:
            self._done = True
            call("request_wait", self._handle)
        return self._out


class KVWorker:
    """A worker's parameter-server client (`Job.kv`). One table per call; keys any order, repeated
    keys summed; values are float32 arrays of len(keys) x dim, returned as (len(keys), dim)."""

    def __init__(self, job):
        self._job = job
        self._dims = {}

    def declare(self, *tables):
        """Declares tables on the servers (every worker declares the same ones)."""
        call("kv_declare", self._job.handle, tables_array(tables), len(tables))
        for t in tables:
            self._dims[t.name] = t.dim

    def _rows(self, table, keys, values=None, writable=False):
        k = _arrays.keys(keys, f"keys of table '{table}'")
        if values is None:
            values = np.empty((k.size, self._dims.get(table, 0)), dtype=np.float32)
        else:
            _arrays.check(values, f"values of table '{table}'", np.float32, writable)
        return table.encode(), k, values

    def push(self, table, keys, values):
        name, k, v = self._rows(table, keys, values)
        call("kv_push", self._job.handle, name, _arrays.pointer(k, ctypes.c_uint64), k.size, _arrays.pointer(v, ctypes.c_float), v.size)

    def pull(self, table, keys, out=None):
        """The rows for keys (into `out` if given), as of this worker's clock."""
        name, k, v = self._rows(table, keys, out, writable=True)
        call("kv_pull", self._job.handle, name, _arrays.pointer(k, ctypes.c_uint64), k.size, _arrays.pointer(v, ctypes.c_float), v.size)
        return v

    def push_pull(self, table, keys, values):
        """Pushes values, then returns the rows after the push (a new array), in one round trip."""
        name, k, v = self._rows(table, keys, values)
        out = np.array(v, dtype=np.float32, copy=True, order="C")
        call("kv_push_pull", self._job.handle, name, _arrays.pointer(k, ctypes.c_uint64), k.size, _arrays.pointer(out, ctypes.c_float), out.size)
        return out

    def end_step(self, table=None, keys=(), values=None):
        """Pushes this step's last rows (optional) and ends the worker's step: its clock moves on."""
        if table is None:
            call("kv_end_step", self._job.handle, None, None, 0, None, 0)
            return
        name, k, v = self._rows(table, keys, values)
        call("kv_end_step", self._job.handle, name, _arrays.pointer(k, ctypes.c_uint64), k.size, _arrays.pointer(v, ctypes.c_float), v.size)

    def push_async(self, table, keys, values):
        name, k, v = self._rows(table, keys, values)
        handle = ctypes.c_void_p()
        call("kv_push_async", self._job.handle, name, _arrays.pointer(k, ctypes.c_uint64), k.size, _arrays.pointer(v, ctypes.c_float), v.size,
             ctypes.byref(handle))
        return Request(handle)

    def pull_async(self, table, keys, out=None):
        name, k, v = self._rows(table, keys, out, writable=True)
        handle = ctypes.c_void_p()
        call("kv_pull_async", self._job.handle, name, _arrays.pointer(k, ctypes.c_uint64), k.size, _arrays.pointer(v, ctypes.c_float), v.size,
             ctypes.byref(handle))
        return Request(handle, v, (k,))

    def barrier(self):
        call("kv_barrier", self._job.handle)

    @property
    def clock(self):
        c = ctypes.c_int64()
        call("kv_clock", self._job.handle, ctypes.byref(c))
        return c.value


