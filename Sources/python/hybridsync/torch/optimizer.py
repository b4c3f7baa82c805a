"""The optimizer a training loop calls once per step: the dense gradients averaged over the workers,
the tables' gradients pushed to the servers, then the user's own optimizer; and the whole job's
checkpoint."""

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError
from ..sync import Embedding as TableParameter
from ..sync import GradientSync
from .buckets import Buckets
from .embedding import _ServerTable
from .job import current_job

DEFAULT_BUCKET_BYTES = 1 << 20


class DistributedOptimizer:
    """Wraps a `torch.optim` optimizer over `model`'s dense parameters. Making it is collective over
    the workers (every worker makes it over the same model): it registers every `EmbeddingBag` and
    `Embedding` of the model with one `GradientSync` (strategy "hybrid": the planner may keep a small
    table on the ring), and broadcasts worker 0's parameters and buffers into every worker's model.

    `step()` waits for the dense buckets backward started, checks that no worker had a non-finite
    gradient (else every worker raises `InvalidArgument` with code "non_finite" and nothing is applied),
    writes the averaged gradients into `.grad`, pushes the tables' gradients (ending the step on the
    servers, so the next forward's pull sees every worker's step in BSP) and runs the wrapped
    optimizer. Use `opt.optimizer` for learning-rate schedulers."""

    def __init__(self, optimizer, model, strategy="hybrid", bucket_bytes=DEFAULT_BUCKET_BYTES):
        self.optimizer, self.model = optimizer, model
        self.job = current_job()
        self.tables = {}
        for m in model.modules():
            if isinstance(m, _ServerTable):
                if m.name in self.tables and self.tables[m.name] is not m:
                    raise ValueError(f"two tables of the model are named '{m.name}'")
                self.tables[m.name] = m
        self.sync = GradientSync(self.job, strategy)
        self.sync.register([TableParameter(t.table, t.rows, t.pin) for t in self.tables.values()])
        for t in self.tables.values():
            t.sync = self.sync
        self._broadcast_state()
        self.buckets = Buckets(self.job, list(model.parameters()), bucket_bytes)
        self.buckets.names = {id(p): n for n, p in model.named_parameters()}

    def _broadcast_state(self):
        tensors = [t for t in list(self.model.parameters()) + list(self.model.buffers()) if t.numel()]
        for dtype in sorted({t.dtype for t in tensors}, key=str):
            group = [t for t in tensors if t.dtype == dtype]
            flat = torch.cat([t.detach().reshape(-1) for t in group]).numpy()
            self.job.broadcast(flat, root=0, name=f"torch.initial.{dtype}")
            start = 0
            with torch.no_grad():
                for t in group:
                    t.copy_(torch.from_numpy(flat[start:start + t.numel()]).view_as(t))
                    start += t.numel()

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none=True):
        self.optimizer.zero_grad(set_to_none=set_to_none)
        for t in self.tables.values():
            t.gradients = []

    def step(self):
        """One step of the whole job (collective over the workers)."""
        sparse = []
        for t in self.tables.values():
            g = t.take_gradients()
            if g is not None:
                sparse.append((t.name, g[0], g[1]))
        non_finite = any(not np.isfinite(rows).all() for _, _, rows in sparse)
        self.buckets.finish(non_finite)
        self.sync.step(sparse=sparse)
        self.optimizer.step()

    @property
    def step_count(self):
        """Steps completed (counted by the library; restored by `resume`)."""
        return self.sync.step_count

    @property
    def plan(self):
        """Where each table goes (the planner's records; dense parameters always go to the ring)."""
        return self.sync.plan

    def checkpoint(self, directory, keep=3):
        """Writes a checkpoint of the whole job at this step boundary (collective): the servers' tables
        with their optimizer state (`GradientSync.checkpoint`, in `directory/step-N`) and, from worker
        0, the model's and the optimizer's `state_dict` and torch's random state in
        `directory/torch-step-N.pt`, written before the tables so that a complete `step-N` always has
        its torch part. Keeps the newest `keep`."""
        root = Path(directory)
        step = self.step_count
        if self.job.worker == 0:
            root.mkdir(parents=True, exist_ok=True)
            tmp = root / f".torch-step-{step}.pt.tmp"
            state = {"step": step, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "rng": torch.get_rng_state()}
            with open(tmp, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, root / f"torch-step-{step}.pt")
        self.sync.checkpoint(str(root), keep)
        if self.job.worker == 0:
            kept = {p.name for p in root.iterdir() if p.name.startswith("step-")}
            for p in root.glob("torch-step-*.pt"):
                if p.name[len("torch-"):-len(".pt")] not in kept:
                    p.unlink(missing_ok=True)

    def resume(self, path):
        """Continues from a checkpoint (a `step-N` folder, or the directory holding them: its newest
        complete one), on every worker: the tables on the servers, the model, the optimizer and
        torch's random state. Returns the step it resumed at."""
        path = Path(path)
        self.sync.resume(str(path))
        self._load_torch_part(path.parent if path.name.startswith("step-") else path)
        return self.step_count

    def resume_if_relaunched(self, directory):
        """`resume(directory)` in a relaunch of a failed job (`Launch/mpirun --max-restarts N`) once a
        complete checkpoint exists there; returns its step, or None (a first launch, or a relaunch
        before any checkpoint completed: nothing changes and training starts over). Call where
        `resume` would be called, on every worker."""
        step = self.sync.resume_if_relaunched(str(directory))
        if step is not None:
            self._load_torch_part(Path(directory))
        return step

    def _load_torch_part(self, root):
        step = self.step_count
        file = root / f"torch-step-{step}.pt"
        try:
            state = torch.load(file, weights_only=False)
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint of step {step} in {root} has no torch part {file.name}", "missing", str(file)) from None
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])

    def close(self):
        """Stops the ring thread and removes the hooks (the job's end does it too)."""
        self.buckets.close()
