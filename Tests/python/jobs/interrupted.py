"""Ctrl-C during a long wait: worker 1 waits in a barrier the others never reach (they wait in a
collective worker 1 never joins). Prints WAITING on each worker, then nothing more.

  python3 interrupted.py mpirun   the test sends SIGINT to Launch/mpirun (a Ctrl-C at the terminal)
  python3 interrupted.py self     worker 1 has Python's own SIGINT handler (a rank started without
                                  Launch/mpirun, whose ranks ignore SIGINT) and gets SIGINT a second
                                  into its wait: the package's watcher must end that rank with 130
"""

import os
import signal
import sys
import threading

import numpy as np

import hybridsync as hs

mode = sys.argv[1]
if mode == "self":
    signal.signal(signal.SIGINT, signal.default_int_handler)
with hs.job(servers=1) as job:
    print(f"WAITING worker {job.worker}", flush=True)
    if job.worker == 1:
        if mode == "self":
            threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        job.kv.barrier()
    else:
        job.allreduce(np.ones(4, np.float32))
    print(f"NOT REACHED worker {job.worker}", flush=True)
