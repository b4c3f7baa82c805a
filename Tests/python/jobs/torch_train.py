"""hybridsync.torch: 2 workers x 2 servers, BSP, a model with a mean-pooled EmbeddingBag and a plain
Embedding on the servers (SGD) and a small MLP (torch.optim.Adam), against a single-process torch
reference on the same batches: the tables exact, the MLP within float tolerance. Bad input refused
with nothing applied; a non-finite gradient on one worker refused on both; checkpoint and resume
bit-identical. Prints TORCH OK.

  python3 torch_train.py train CHECKPOINT_DIR    4 steps, a checkpoint after step 2
  python3 torch_train.py resume CHECKPOINT_DIR   a relaunch (HYBRIDSYNC_RESTART=1) resumed from it, steps 3 and 4
"""

import hashlib
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import hybridsync.torch as hst

ROWS, STEPS, LR_BAG, LR_LOOKUP = 40, 4, 0.5, 0.25
BAGS = [1, 2, 4, 1]  # bag sizes: powers of two, so mean pooling's gradients are exact


def mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))


class Model(nn.Module):
    def __init__(self, seed):
        super().__init__()
        self.bag = hst.EmbeddingBag("bag", rows=ROWS, dim=4, mode="mean", optimizer=hst.SGD(LR_BAG), pin="ps")
        self.lookup = hst.Embedding("lookup", rows=ROWS, dim=3, optimizer=hst.SGD(LR_LOOKUP), pin="ps")
        self.mlp = mlp(seed)

    def forward(self, x, ids, offsets, single):
        return self.mlp(x), self.bag(ids, offsets), self.lookup(single)


def batch(step, worker):
    """Worker `worker`'s batch at `step`; the tables' loss weights are multiples of 1/8, so their
    gradients, summed over workers and averaged, are exact in float32."""
    g = torch.Generator().manual_seed(1000 * step + worker)
    x, y = torch.randn(4, 6, generator=g), torch.randn(4, 4, generator=g)
    ids = torch.tensor([(step * 5 + worker * 3 + 2 * j) % ROWS for j in range(sum(BAGS))], dtype=torch.int64)
    offsets = torch.tensor([0, 1, 3, 7], dtype=torch.int64)
    single = torch.tensor([[(step + worker) % ROWS, 7], [7, (2 * step + 1) % ROWS]], dtype=torch.int64)
    m_bag = torch.tensor([[((step + worker + i + c) % 5 + 1) / 8 for c in range(4)] for i in range(4)])
    m_lookup = torch.tensor([[[((step + i + j + c) % 3 + 1) / 8 for c in range(3)] for j in range(2)] for i in range(2)])
    return x, y, ids, offsets, single, m_bag, m_lookup


def loss_of(outputs, b):
    dense, bag, lookup = outputs
    return F.mse_loss(dense, b[1]) + (bag * b[5]).sum() + (lookup * b[6]).sum()


def reference(p, steps):
    """One process: each step's loss is the workers' losses averaged; tables as plain tensors."""
    net = mlp(100)
    bag = torch.zeros(ROWS, 4, requires_grad=True)
    lookup = torch.zeros(ROWS, 3, requires_grad=True)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for s in range(steps):
        opt.zero_grad()
        bag.grad = lookup.grad = None
        total = 0
        for w in range(p):
            b = batch(s, w)
            out = (net(b[0]), F.embedding_bag(b[2], bag, b[3], mode="mean"), F.embedding(b[4], lookup))
            total = total + loss_of(out, b)
        (total / p).backward()
        opt.step()
        with torch.no_grad():
            bag -= LR_BAG * bag.grad
            lookup -= LR_LOOKUP * lookup.grad
    return net, bag.detach(), lookup.detach()


def refused(cls, code, call):
    try:
        call()
    except cls as e:
        assert code is None or e.code == code, (cls, e.code, e)
    else:
        raise AssertionError(f"{cls.__name__} expected")


mode, directory = sys.argv[1], sys.argv[2]
with hst.job(servers=2) as job:
    p, me = job.workers, job.worker
    model = Model(100 + me)  # worker 0's parameters are broadcast
    opt = hst.DistributedOptimizer(torch.optim.Adam(model.parameters(), lr=0.01), model)
    assert all(torch.equal(a, b) for a, b in zip(model.mlp.parameters(), mlp(100).parameters())), "worker 0's parameters everywhere"
    assert {e["name"]: e["route"] for e in opt.plan} == {"bag": "ps", "lookup": "ps"}, opt.plan
    everything = torch.arange(ROWS)

    def state():
        return [t.detach().clone() for t in model.mlp.parameters()] + [model.lookup(everything).detach(),
                                                                       model.bag(everything, torch.arange(ROWS)).detach()]

    def run(first, last):
        for s in range(first, last):
            b = batch(s, me)
            if s == 3:  # a NaN on worker 1 only: both workers refuse the step, nothing changes
                before = state()
                opt.zero_grad()
                x = b[0].clone()
                x[0, 0] = float("nan") if me == 1 else x[0, 0]
                loss_of(model(x, b[2], b[3], b[4]), b).backward()
                refused(hst.InvalidArgument, "non_finite", opt.step)
                assert all(torch.equal(a, c) for a, c in zip(before, state())) and opt.step_count == 3, "a refused step changed something"
            opt.zero_grad()
            loss_of(model(b[0], b[2], b[3], b[4]), b).backward()
            opt.step()

    b = batch(0, me)
    refused(hst.InvalidArgument, "dtype", lambda: model.bag(b[2].float(), b[3]))
    refused(hst.InvalidArgument, "shape", lambda: model.bag(b[2].reshape(8, 1), b[3]))
    refused(hst.InvalidArgument, "range", lambda: model.lookup(torch.tensor([ROWS])))
    refused(hst.UnknownTable, None, lambda: hst.EmbeddingBag("late", rows=4, dim=2)(torch.tensor([[1]])))
    model.zero_grad()
    assert opt.step_count == 0 and (state()[-1] == 0).all()
    job.kv.barrier()  # no worker trains (its pushes apply at once) before every worker has checked

    if mode == "resume":  # a relaunch (HYBRIDSYNC_RESTART=1) resumes by itself
        assert opt.resume_if_relaunched(directory) == 2
        run(2, STEPS)
    else:
        assert opt.resume_if_relaunched(directory) is None  # a first launch: nothing to resume
        run(0, 2)
        opt.checkpoint(directory, keep=2)
        run(2, STEPS)

    net, bag, lookup = reference(p, STEPS)
    assert torch.equal(model.bag(everything, torch.arange(ROWS)), bag), (model.bag(everything, torch.arange(ROWS)) - bag).abs().max()
    assert torch.equal(model.lookup(everything), lookup)
    for mine, theirs in zip(model.mlp.parameters(), net.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)
    digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in state())).hexdigest()[:16]
    print(f"TORCH OK worker {me} {mode} params {digest}", flush=True)
