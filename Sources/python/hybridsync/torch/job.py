"""The job a torch model's tables and optimizer belong to."""

from ..job import job as _base

_current = None


class job(_base):
    """`hybridsync.job` for torch code: the same lifecycle (server ranks serve and exit inside it,
    worker ranks run the block, always ending the rank), and the job the block's `EmbeddingBag`,
    `Embedding` and `DistributedOptimizer` use."""

    def __enter__(self):
        global _current
        j = super().__enter__()
        _current = j
        return j

    def __exit__(self, kind, value, traceback):
        global _current
        _current = None
        return super().__exit__(kind, value, traceback)


def current_job():
    """The job of the enclosing `hybridsync.torch.job` block."""
    if _current is None:
        raise RuntimeError("hybridsync.torch needs a job: run the training inside `with hybridsync.torch.job(...):`")
    return _current
