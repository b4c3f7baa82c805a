"""Ctrl-C during a wait inside the library.

Python raises KeyboardInterrupt only between bytecodes of the main thread, and a call into the library
(a pull waiting for the servers, a collective waiting for the other workers) is one foreign call that
holds the main thread until its deadline. While a job runs, a watcher thread reads the signal numbers
Python's own C handler writes to its wakeup descriptor: after a SIGINT, if the main thread is still in
the same library call `GRACE` seconds later, the watcher ends the process with status 130, as a dead
peer would end (Launch/mpirun then ends the other ranks, whose waits name this one). Outside a library
call, Python's KeyboardInterrupt goes on as usual (and `job` ends the rank as failed).
"""

import os
import signal
import sys
import threading
import time

from . import _lib

GRACE = 0.5
_installed = []


def watch():
    """Starts the watcher once per process, from the main thread, unless something else (asyncio)
    already owns the wakeup descriptor."""
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    read, write = os.pipe()
    os.set_blocking(write, False)
    if signal.set_wakeup_fd(write, warn_on_full_buffer=False) != -1:
        signal.set_wakeup_fd(-1)
        os.close(read), os.close(write)
        return
    _installed.append((read, write))
    threading.Thread(target=_run, args=(read,), name="hybridsync-interrupts", daemon=True).start()


def _run(read):
    while True:
        signals = os.read(read, 64)
        if signal.SIGINT not in signals:
            continue
        started, finished = _lib.main_calls
        if started == finished:
            continue  # the main thread runs Python: KeyboardInterrupt reaches it
        time.sleep(GRACE)
        if _lib.main_calls[0] == started and _lib.main_calls[1] == finished:
            sys.stderr.write(f"hybridsync: interrupted (SIGINT) during a wait in the library, pid {os.getpid()}: ending this rank\n")
            sys.stderr.flush()
            os._exit(130)
