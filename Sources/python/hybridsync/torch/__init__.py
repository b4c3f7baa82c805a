"""HybridSync for PyTorch: embedding tables whose rows live on the parameter servers, dense gradients
all-reduced through the ring in buckets while backward goes on, the user's own `torch.optim` optimizer.

    import hybridsync.torch as hst
    with hst.job(servers=2):                          # server ranks serve and exit inside job()
        model = WideDeep(wide=hst.EmbeddingBag("wide", rows=2**20, dim=10, optimizer=hst.Adagrad(lr=0.05)))
        opt = hst.DistributedOptimizer(torch.optim.Adam(model.parameters(), lr=1e-3), model)
        for x, ids, offsets, y in loader:
            opt.zero_grad(); F.cross_entropy(model(x, ids, offsets), y).backward(); opt.step()

`DistributedOptimizer` registers every table of the model, broadcasts worker 0's dense parameters and
buffers, and then per `step` averages the dense gradients over the workers, pushes the tables'
gradients to the servers (whose optimizers update the rows) and runs the wrapped optimizer.
"""

from ..errors import HybridSyncError, InvalidArgument, PeerDied, Timeout, UnknownTable, Unusable
from ..optim import SGD, Adagrad, Adam
from .embedding import Embedding, EmbeddingBag
from .job import current_job, job
from .optimizer import DistributedOptimizer

__all__ = [
    "job", "current_job", "EmbeddingBag", "Embedding", "DistributedOptimizer", "SGD", "Adagrad", "Adam",
    "HybridSyncError", "InvalidArgument", "PeerDied", "Timeout", "UnknownTable", "Unusable",
]
