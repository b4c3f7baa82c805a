"""numpy arrays to C buffers, without a copy: an array must already be C-contiguous, of the dtype
asked for, and writable where the library writes; anything else is refused, never silently copied."""

import ctypes

import numpy as np

from .errors import InvalidArgument

DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.float16): 2, np.dtype(np.int32): 3, np.dtype(np.int64): 4}


def check(array, what, dtype=None, writable=False):
    """`array` itself, checked. dtype None: any dtype the dense path takes."""
    if not isinstance(array, np.ndarray):
        raise InvalidArgument(f"{what} must be a numpy array, not {type(array).__name__}", "dtype", what)
    if dtype is not None and array.dtype != np.dtype(dtype):
        raise InvalidArgument(f"{what} must be {np.dtype(dtype)}, not {array.dtype}", "dtype", what)
    if dtype is None and array.dtype not in DTYPES:
        raise InvalidArgument(f"{what}: dtype {array.dtype} is not one of float32, float64, float16, int32, int64", "dtype", what)
    if not array.flags.c_contiguous:
        raise InvalidArgument(f"{what} is not C-contiguous (pass np.ascontiguousarray(...) to copy it)", "shape", what)
    if writable and not array.flags.writeable:
        raise InvalidArgument(f"{what} is read-only; the library writes the result into it", "shape", what)
    return array


def pointer(array, ctype):
    return array.ctypes.data_as(ctypes.POINTER(ctype))


def keys(ids, what):
    """Row ids as a uint64 array (copied only when given as a list or another integer dtype: ids are
    inputs, never written)."""
    a = np.asarray(ids)
    if a.dtype != np.uint64:
        if a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0):
            raise InvalidArgument(f"{what} must be non-negative integers, not {a.dtype}", "dtype", what)
        a = a.astype(np.uint64)
    return np.ascontiguousarray(a.reshape(-1))
