"""Dense gradients averaged over the workers' ring in buckets, each started from autograd's hooks as
soon as backward has produced all of its gradients, while backward goes on (PyTorch DDP's overlap).

Buckets are cut from the parameters in reverse registration order (the order backward produces them)
at `bucket_bytes` (a parameter larger than that is a bucket of its own). Every bucket but the last
starts from the hooks on one background thread (the library's calls release the GIL, so backward goes
on beside it); the last one, which backward finishes last, starts in `finish`, carrying one flag per worker: whether that worker's gradients (dense or
sparse) had a non-finite value. After the average every worker sees every flag, so all of them refuse
the same step together and nothing of it is applied anywhere.
"""

import math
import queue
import threading

import numpy as np
import torch

from ..errors import InvalidArgument


class Started:
    """A call running on the ring thread; `result()` waits for it (the call itself has its deadline)."""

    def __init__(self, fn, args):
        self.fn, self.args, self.done, self.error = fn, args, threading.Event(), None

    def run(self):
        try:
            self.fn(*self.args)
        except BaseException as e:  # handed to the waiting thread
            self.error = e
        self.done.set()

    def result(self):
        self.done.wait()
        if self.error is not None:
            raise self.error


class RingThread:
    """One daemon thread running the buckets' all-reduces in the order they were started (the order
    every worker's backward produces them). A daemon, so that a process that failed can always exit."""

    def __init__(self):
        self.queue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="hybridsync-ring", daemon=True)
        self.thread.start()

    def _run(self):
        while (item := self.queue.get()) is not None:
            item.run()

    def submit(self, fn, *args):
        item = Started(fn, args)
        self.queue.put(item)
        return item

    def stop(self):
        self.queue.put(None)


class Bucket:
    def __init__(self, index, params):
        self.index, self.params = index, params
        self.slices, start = [], 0
        for p in params:
            self.slices.append((start, p.numel()))
            start += p.numel()
        self.size = start
        self.flat = None  # numpy float32, set by Buckets (the last one has the flags after the gradients)
        self.ready = set()
        self.future = None
        self.again = False  # a gradient changed after the bucket started (a second backward): start again in finish


class Buckets:
    def __init__(self, job, params, bucket_bytes):
        self.job = job
        self.workers, self.worker = job.workers, job.worker
        ordered = [p for p in reversed(params) if p.requires_grad]
        for p in ordered:
            if p.dtype != torch.float32:
                raise InvalidArgument(f"dense parameters must be float32 to be averaged on the ring, not {p.dtype}", "dtype", "")
        self.buckets, group, size = [], [], 0
        for p in ordered:
            if group and size + p.numel() * 4 > bucket_bytes:
                self.buckets.append(Bucket(len(self.buckets), group))
                group, size = [], 0
            group.append(p)
            size += p.numel() * 4
        if group or not self.buckets:
            self.buckets.append(Bucket(len(self.buckets), group))
        last = self.buckets[-1]
        for b in self.buckets:
            b.flat = np.zeros(b.size + (2 * self.workers if b is last else 0), np.float32)
            b.torch = torch.from_numpy(b.flat)
        self.owner = {id(p): b for b in self.buckets for p in b.params}
        self.names = {}
        self.thread = RingThread()
        self.local_non_finite = []  # this step's local non-finite dense gradients, by name
        self.hooks = [p.register_post_accumulate_grad_hook(self._accumulated) for p in ordered]

    def _accumulated(self, p):
        b = self.owner[id(p)]
        if b.future is not None:
            b.again = True
            return
        b.ready.add(id(p))
        if len(b.ready) == len(b.params) and b is not self.buckets[-1]:
            self._start(b)

    def _start(self, b, sparse_non_finite=None):
        for p, (start, n) in zip(b.params, b.slices):
            view = b.torch[start:start + n]
            if p.grad is None:
                view.zero_()
            else:
                view.copy_(p.grad.reshape(-1))
        # One summing pass: a sum is finite when every element is (or, rarely, overflows: then the
        # exact check below finds nothing and the step goes on).
        if b.size and not math.isfinite(float(b.torch[:b.size].sum())):
            self.local_non_finite += [self.names.get(id(p), "?") for p, (s, n) in zip(b.params, b.slices)
                                      if not bool(torch.isfinite(b.torch[s:s + n]).all())]
        if sparse_non_finite is not None:  # the last bucket: every worker's flags, this one's set
            b.flat[b.size:] = 0
            b.flat[b.size + self.worker] = 1.0 if self.local_non_finite else 0.0
            b.flat[b.size + self.workers + self.worker] = 1.0 if sparse_non_finite else 0.0
        b.future = self.thread.submit(self.job.allreduce, b.flat, "average", f"torch.bucket.{b.index}")

    def finish(self, sparse_non_finite):
        """Starts what backward has not, waits for every bucket and writes the averages into the
        gradients; raises `InvalidArgument` (code non_finite) on every worker if any worker had a
        non-finite gradient, the gradients then left as backward made them. Resets for the next step."""
        try:
            for b in self.buckets[:-1]:
                if b.future is None:
                    self._start(b)
            for b in self.buckets[:-1]:
                b.future.result()
                if b.again:
                    b.again, b.future = False, None
                    self._start(b)
                    b.future.result()
            last = self.buckets[-1]
            self._start(last, sparse_non_finite)
            last.future.result()
            seen = last.flat[last.size:]
            dense_bad = [w for w in range(self.workers) if seen[w] != 0]
            sparse_bad = [w for w in range(self.workers) if seen[self.workers + w] != 0]
            if dense_bad or sparse_bad:
                mine = f" (here: {', '.join(self.local_non_finite)})" if self.local_non_finite else ""
                raise InvalidArgument(f"non-finite gradient on worker(s) {sorted(set(dense_bad + sparse_bad))}: dense on {dense_bad}{mine}, "
                                      f"sparse on {sparse_bad}; nothing of this step was applied on any worker", "non_finite", "")
            for b in self.buckets:
                for p, (start, n) in zip(b.params, b.slices):
                    average = b.torch[start:start + n].view_as(p)
                    if p.grad is None:
                        p.grad = average.clone()
                    else:
                        p.grad.copy_(average)
        finally:
            for b in self.buckets:
                b.ready.clear()
                b.future, b.again = None, False
            self.local_non_finite = []

    def close(self):
        for h in self.hooks:
            h.remove()
        self.thread.stop()
