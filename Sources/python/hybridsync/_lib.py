"""Loading libhybridsync.so and declaring its C functions (ctypes: in the standard library, no compile
step, and every foreign call releases the GIL while it runs)."""

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path

from .errors import raise_last

HERE = Path(__file__).resolve().parent


def library_path():
    """The library this package loads: HYBRIDSYNC_LIBRARY if set, else the one installed with it."""
    return os.environ.get("HYBRIDSYNC_LIBRARY") or str(HERE / "lib" / "libhybridsync.so")


def _load_mpi():
    # Open MPI's plug-ins are shared objects that resolve libmpi's symbols from the global namespace:
    # load it RTLD_GLOBAL before anything initialises MPI (mpi4py does the same).
    for name in ("libmpi.so.40", ctypes.util.find_library("mpi") or "libmpi.so"):
        try:
            return ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
    raise OSError("Open MPI's libmpi.so was not found (apt install libopenmpi-dev openmpi-bin)")


_mpi = _load_mpi()
lib = ctypes.CDLL(library_path(), mode=ctypes.RTLD_GLOBAL)

c_int, c_size, c_float, c_char_p, c_void_p = ctypes.c_int, ctypes.c_size_t, ctypes.c_float, ctypes.c_char_p, ctypes.c_void_p
u64p = ctypes.POINTER(ctypes.c_uint64)
f32p = ctypes.POINTER(ctypes.c_float)


class JobOptions(ctypes.Structure):
    _fields_ = [("servers", c_int), ("dedicated", c_int), ("spares", c_int)]


class JobInfo(ctypes.Structure):
    _fields_ = [(n, c_int) for n in ("rank", "world", "is_worker", "worker", "workers", "servers")]


class Optimizer(ctypes.Structure):
    _fields_ = [("kind", c_int), ("learning_rate", c_float), ("epsilon", c_float), ("initial_accumulator", c_float),
                ("beta1", c_float), ("beta2", c_float)]


class Table(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("dimension", c_int), ("optimizer", Optimizer), ("consistency", c_int), ("staleness", c_int),
                ("initializer", c_int), ("init_value", c_float), ("row_encoding", c_int)]


class Param(ctypes.Structure):
    _fields_ = [("kind", c_int), ("pin", c_int), ("name", c_char_p), ("data", f32p), ("count", c_size), ("optimizer", Optimizer),
                ("table", Table), ("rows", ctypes.c_uint64)]


class DenseGrad(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("data", f32p), ("count", c_size)]


class SparseGrad(ctypes.Structure):
    _fields_ = [("table", c_char_p), ("ids", u64p), ("nids", c_size), ("values", f32p), ("nvalues", c_size)]


_p = ctypes.POINTER
_signatures = {
    "hs_last_status": ([], c_int),
    "hs_last_code": ([], c_int),
    "hs_last_message": ([], c_char_p),
    "hs_last_subject": ([], c_char_p),
    "hs_status_name": ([c_int], c_char_p),
    "hs_abi_version": ([], c_int),
    "hs_job_options_init": ([_p(JobOptions)], None),
    "hs_job_start": ([_p(JobOptions), _p(c_void_p)], c_int),
    "hs_job_get_info": ([c_void_p, _p(JobInfo)], c_int),
    "hs_job_end": ([c_void_p, c_int], c_int),
    "hs_allreduce": ([c_void_p, c_char_p, c_void_p, c_size, c_int, c_int], c_int),
    "hs_broadcast": ([c_void_p, c_char_p, c_void_p, c_size, c_int, c_int], c_int),
    "hs_allgather": ([c_void_p, c_char_p, c_void_p, c_size, c_int, c_void_p, c_size], c_int),
    "hs_optimizer_make": ([c_int, c_float], Optimizer),
    "hs_table_make": ([c_char_p, c_int], Table),
    "hs_kv_declare": ([c_void_p, _p(Table), c_size], c_int),
    "hs_kv_push": ([c_void_p, c_char_p, u64p, c_size, f32p, c_size], c_int),
    "hs_kv_pull": ([c_void_p, c_char_p, u64p, c_size, f32p, c_size], c_int),
    "hs_kv_push_pull": ([c_void_p, c_char_p, u64p, c_size, f32p, c_size], c_int),
    "hs_kv_end_step": ([c_void_p, c_char_p, u64p, c_size, f32p, c_size], c_int),
    "hs_kv_barrier": ([c_void_p], c_int),
    "hs_kv_clock": ([c_void_p, _p(ctypes.c_int64)], c_int),
    "hs_kv_push_async": ([c_void_p, c_char_p, u64p, c_size, f32p, c_size, _p(c_void_p)], c_int),
    "hs_kv_pull_async": ([c_void_p, c_char_p, u64p, c_size, f32p, c_size, _p(c_void_p)], c_int),
    "hs_request_wait": ([c_void_p], c_int),
    "hs_sync_create": ([c_void_p, c_int, _p(c_void_p)], c_int),
    "hs_sync_register": ([c_void_p, _p(Param), c_size], c_int),
    "hs_sync_pull": ([c_void_p, c_char_p, u64p, c_size, f32p, c_size], c_int),
    "hs_sync_push_sparse": ([c_void_p, _p(SparseGrad), c_size], c_int),
    "hs_sync_prefetch": ([c_void_p, c_char_p, u64p, c_size], c_int),
    "hs_sync_step": ([c_void_p, _p(DenseGrad), c_size, _p(SparseGrad), c_size], c_int),
    "hs_sync_step_count": ([c_void_p, _p(ctypes.c_int64)], c_int),
    "hs_sync_checkpoint": ([c_void_p, c_char_p, c_int], c_int),
    "hs_sync_checkpoint_in_background": ([c_void_p, c_char_p, c_int], c_int),
    "hs_sync_finish_checkpoint": ([c_void_p], c_int),
    "hs_sync_resume": ([c_void_p, c_char_p], c_int),
    "hs_sync_resume_if_relaunched": ([c_void_p, c_char_p, _p(ctypes.c_int64)], c_int),
    "hs_sync_plan": ([c_void_p, ctypes.c_char_p, c_size, _p(c_size)], c_int),
    "hs_sync_free": ([c_void_p], c_int),
}
for _name, (_args, _result) in _signatures.items():
    _f = getattr(lib, _name)
    _f.argtypes = _args
    _f.restype = _result


MAIN_THREAD = threading.main_thread().ident
main_calls = [0, 0]  # calls the main thread started, and finished: a wait for interrupts.py to see


def call(name, *args):
    """Calls hs_<name> and raises the library's error as its exception class on any status but HS_OK."""
    main = threading.get_ident() == MAIN_THREAD
    if main:
        main_calls[0] += 1
    try:
        status = getattr(lib, "hs_" + name)(*args)
    finally:
        if main:
            main_calls[1] += 1
    if status != 0:
        raise_last(lib)
