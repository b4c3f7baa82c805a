"""Embedding tables whose rows live on the parameter servers (or, when the planner keeps a small one
on the ring, in a copy on every worker): forward pulls the batch's distinct rows, backward hands their
gradients to the `DistributedOptimizer`, whose `step` pushes them; the table's optimizer runs there."""

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InvalidArgument, UnknownTable
from ..optim import SGD, Table

MODES = ("sum", "mean")


class _Bags(torch.autograd.Function):
    """Sum or mean pooling of the pulled rows per bag. Forward is torch's embedding_bag; backward
    scatters each bag's gradient into its rows with one index_add, where torch's own backward sorts
    the ids first (four times the cost at a batch's ten thousand ids)."""

    @staticmethod
    def forward(ctx, weight, where, offsets, mode):
        counts = torch.diff(offsets, append=torch.tensor([where.numel()], dtype=offsets.dtype))
        ctx.save_for_backward(where, torch.repeat_interleave(torch.arange(offsets.numel()), counts), counts)
        ctx.mode, ctx.rows = mode, weight.shape[0]
        return F.embedding_bag(where, weight, offsets, mode=mode)

    @staticmethod
    def backward(ctx, grad):
        where, bag_of, counts = ctx.saved_tensors
        per_id = grad[bag_of]
        if ctx.mode == "mean":
            per_id = per_id / counts[bag_of].unsqueeze(1).to(grad.dtype)
        return grad.new_zeros(ctx.rows, grad.shape[1]).index_add_(0, where, per_id), None, None, None


class _Lookup(torch.autograd.Function):
    """A plain lookup of the pulled rows; backward is one index_add (no sort)."""

    @staticmethod
    def forward(ctx, weight, where):
        ctx.save_for_backward(where)
        ctx.rows = weight.shape[0]
        return weight.index_select(0, where.reshape(-1)).reshape(*where.shape, weight.shape[1])

    @staticmethod
    def backward(ctx, grad):
        (where,) = ctx.saved_tensors
        flat = grad.reshape(-1, grad.shape[-1])
        return grad.new_zeros(ctx.rows, flat.shape[1]).index_add_(0, where.reshape(-1), flat), None


class _ServerTable(torch.nn.Module):
    """What both modules share: the table's settings, the pull, and the gradients backward produced."""

    def __init__(self, name, rows, dim, optimizer, consistency, encoding, init, init_value, pin):
        super().__init__()
        if not isinstance(rows, int) or rows < 1 or not isinstance(dim, int) or dim < 1:
            raise InvalidArgument(f"table '{name}': rows and dim must be positive integers, not {rows!r} and {dim!r}", "shape", name)
        self.table = Table(name, dim, optimizer or SGD(0.01), consistency=consistency, init=init, init_value=init_value,
                           encoding=encoding)
        self.rows, self.dim, self.pin = rows, dim, pin
        self.sync = None  # set by DistributedOptimizer when it registers the table
        self.gradients = []  # (distinct ids as uint64, their gradient rows) per backward since the last step

    @property
    def name(self):
        return self.table.name

    def _pull(self, ids):
        """The distinct ids of `ids`, the position of each id among them, and their rows as a leaf
        tensor whose gradient backward records."""
        if self.sync is None:
            raise UnknownTable(f"table '{self.name}' is not registered: make the DistributedOptimizer over a model that holds it first",
                               None, self.name)
        if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int64, torch.int32):
            what = ids.dtype if isinstance(ids, torch.Tensor) else type(ids).__name__
            raise InvalidArgument(f"ids of table '{self.name}' must be an int64 or int32 tensor, not {what}", "dtype", self.name)
        # numpy's sort-based unique takes half of torch.unique's time here; its first and last ids are
        # the range check.
        distinct, where = np.unique(ids.reshape(-1).numpy(), return_inverse=True)
        if distinct.size and (distinct[0] < 0 or distinct[-1] >= self.rows):
            bad = distinct[0] if distinct[0] < 0 else distinct[-1]
            raise InvalidArgument(f"table '{self.name}': id {bad} is outside 0 ..< {self.rows}", "range", self.name)
        keys = distinct.astype(np.uint64)
        weight = torch.from_numpy(self.sync.pull(self.name, keys))
        if torch.is_grad_enabled() and self.training:
            weight.requires_grad_(True)
            weight.register_hook(lambda g, keys=keys: self.gradients.append((keys, g.detach().contiguous().numpy())))
        return torch.from_numpy(where.reshape(ids.shape)), weight

    def take_gradients(self):
        """This step's gradient rows (one row per distinct id, repeats summed), and forgets them."""
        grads, self.gradients = self.gradients, []
        if len(grads) <= 1:
            return grads[0] if grads else None
        keys = np.concatenate([k for k, _ in grads])
        rows = np.concatenate([g for _, g in grads])
        distinct, where = np.unique(keys, return_inverse=True)
        summed = np.zeros((distinct.size, self.dim), np.float32)
        np.add.at(summed, where, rows)
        return distinct, summed

    def extra_repr(self):
        return f"'{self.name}', rows={self.rows}, dim={self.dim}, optimizer={self.table.optimizer}, encoding={self.table.encoding}"


class EmbeddingBag(_ServerTable):
    """`torch.nn.EmbeddingBag` (sum or mean pooling, optional per-sample weights) over a table of `rows`
    x `dim` floats on the servers. optimizer: `hybridsync.torch.SGD`, `Adagrad` or `Adam`, run on the
    servers; consistency "bsp" (the default: a step's pull sees every worker's previous steps), "asp"
    or "ssp"; encoding: the rows on the wire, "float32", "float16" or "bfloat16"; init: "zeros",
    "constant" or "uniform" (with init_value); pin: None (the planner decides), "ps" or "ring"."""

    def __init__(self, name, rows, dim, mode="sum", optimizer=None, consistency="bsp", encoding="float32", init="zeros", init_value=0.0,
                 pin=None):
        if mode not in MODES:
            raise InvalidArgument(f"EmbeddingBag '{name}': mode must be one of {MODES}, not {mode!r}", "configuration", name)
        super().__init__(name, rows, dim, optimizer, consistency, encoding, init, init_value, pin)
        self.mode = mode

    def forward(self, ids, offsets=None, per_sample_weights=None):
        if offsets is None and ids.dim() != 2:
            raise InvalidArgument(f"EmbeddingBag '{self.name}': ids without offsets must be 2-D (bags x ids), not {tuple(ids.shape)}",
                                  "shape", self.name)
        if offsets is not None and ids.dim() != 1:
            raise InvalidArgument(f"EmbeddingBag '{self.name}': ids with offsets must be 1-D, not {tuple(ids.shape)}", "shape", self.name)
        where, weight = self._pull(ids)
        if offsets is None:
            offsets = torch.arange(0, ids.numel(), ids.shape[1], dtype=torch.int64)
            where = where.reshape(-1)
        if per_sample_weights is not None:
            return F.embedding_bag(where, weight, offsets, mode=self.mode, per_sample_weights=per_sample_weights)
        return _Bags.apply(weight, where, offsets.to(torch.int64), self.mode)


class Embedding(_ServerTable):
    """`torch.nn.Embedding` (a plain lookup: output ids.shape + (dim,)) over a table on the servers;
    the settings as `EmbeddingBag`'s."""

    def __init__(self, name, rows, dim, optimizer=None, consistency="bsp", encoding="float32", init="zeros", init_value=0.0, pin=None):
        super().__init__(name, rows, dim, optimizer, consistency, encoding, init, init_value, pin)

    def forward(self, ids):
        where, weight = self._pull(ids)
        return _Lookup.apply(weight, where)
