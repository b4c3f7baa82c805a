"""The demo's wide-and-deep classifier on Fashion-MNIST in PyTorch, synchronised by HybridSync or by
DistributedDataParallel: the same model, data, optimizers and shuffle either way.

    Launch/mpirun -np 6 python3 -m hybridsync.examples.wide_deep --backend hybridsync   # 2 servers, 4 workers
    Launch/mpirun -np 4 python3 -m hybridsync.examples.wide_deep --backend ddp          # 4 workers, gloo

wide: hashed crossed-pixel features (each 2x2 block's level, and pairs of neighbouring blocks) into a
2^20 x 10 table, summed per image (EmbeddingBag), with Adagrad (lr 0.05, initial accumulator 0.1);
deep: an MLP 784 -> 128 ReLU -> 10 with Adam (lr 1e-3); logits = wide + deep, softmax cross-entropy;
batch 32 per worker; epoch e's order is a permutation seeded with e * 7919, of which worker w takes
the w-th batch of every p. With hybridsync the table lives on the servers (its Adagrad runs there)
and the MLP's gradients are averaged over the ring; with ddp every worker holds the whole table and
gloo all-reduces its sparse gradients. Features are computed before the timed part.
"""

import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def images(name, offset):
    with gzip.open(f"{DATA}/{name}") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def splitmix(x):
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def features(pixels, rows):
    """Each image's wide feature ids, flat, with each image's start and count (EmbeddingBag's input)."""
    n = pixels.shape[0]
    level = np.minimum(3, pixels.reshape(n, 14, 2, 14, 2).astype(np.int32).sum(axis=(2, 4)) // 256).reshape(n, 196).astype(np.uint64)
    cell = np.arange(196, dtype=np.uint64)
    mask = np.uint64(rows - 1)
    x, y = np.arange(196) % 14, np.arange(196) // 14
    across, down = np.where(x < 13)[0], np.where(y < 13)[0]
    ids, valid = [splitmix((cell << np.uint64(8)) | level) & mask], [level > 0]
    for kind, cells, step in ((1, across, 1), (2, down, 14)):
        a, b = level[:, cells], level[:, cells + step]
        key = (np.uint64(kind) << np.uint64(32)) | (cells.astype(np.uint64) << np.uint64(8)) | (a << np.uint64(4)) | b
        ids.append(splitmix(key) & mask)
        valid.append((a | b) > 0)
    ids, ok = np.concatenate(ids, axis=1), np.concatenate(valid, axis=1)
    counts = ok.sum(axis=1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return torch.from_numpy(ids[ok].astype(np.int64)), torch.from_numpy(starts.astype(np.int64)), torch.from_numpy(counts.astype(np.int64))


def bags(flat, starts, counts, chosen):
    """The ids and offsets of the chosen images' bags."""
    c = counts[chosen]
    ids = torch.cat([flat[a:a + b] for a, b in zip(starts[chosen].tolist(), c.tolist())])
    return ids, torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(c, 0)[:-1]])


class WideDeep(nn.Module):
    def __init__(self, wide, hidden=128):
        super().__init__()
        self.wide = wide
        self.l1, self.l2 = nn.Linear(784, hidden), nn.Linear(hidden, 10)
        for layer in (self.l1, self.l2):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x, ids, offsets):
        return self.wide(ids, offsets) + self.l2(torch.relu(self.l1(x)))

    def dense_parameters(self):
        return list(self.l1.parameters()) + list(self.l2.parameters())


def load(rows, limit):
    train_x = images("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    train_y = images("train-labels-idx1-ubyte.gz", 8)
    test_x = images("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    test_y = images("t10k-labels-idx1-ubyte.gz", 8)
    if limit:
        train_x, train_y = train_x[:limit], train_y[:limit]

    def tensors(x, y):
        return torch.from_numpy(x.reshape(-1, 784).astype(np.float32) / 255), torch.from_numpy(y.astype(np.int64))

    return tensors(train_x, train_y), features(train_x, rows), tensors(test_x, test_y), features(test_x, rows)


def train(model, step, barrier, worker, workers, a, data):
    """The timed loop; returns (steps, seconds, last loss)."""
    (x, y), feats = data[0], data[1]
    steps = x.shape[0] // (a.batch * workers)
    barrier()
    start, loss = time.time(), torch.zeros(())
    for epoch in range(a.epochs):
        order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(epoch * 7919))
        for s in range(steps):
            chosen = order[(s * workers + worker) * a.batch:(s * workers + worker + 1) * a.batch]
            ids, offsets = bags(*feats, chosen)
            loss = F.cross_entropy(model(x[chosen], ids, offsets), y[chosen])
            step(loss)
    barrier()
    return steps * a.epochs, time.time() - start, loss.item()


def report(model, a, backend, workers, data, steps, seconds, loss):
    (xt, yt), (ids, starts, _) = data[2], data[3]
    model.eval()
    with torch.no_grad():
        accuracy = (model(xt, ids, starts).argmax(1) == yt).float().mean().item()
    print(f"test accuracy {accuracy * 100:.2f}% ({xt.shape[0]} images), {steps} steps in {seconds:.1f} s, "
          f"{steps * a.batch * workers / seconds:.0f} samples/s, {workers} workers, backend {backend}, last loss {loss:.4f}", flush=True)


def with_hybridsync(a):
    import hybridsync.torch as hst

    with hst.job(servers=a.servers) as job:
        data = load(a.rows, a.train_limit)
        wide = hst.EmbeddingBag("wide", rows=a.rows, dim=10, mode="sum", encoding=a.row_encoding, pin=a.route,
                                optimizer=hst.Adagrad(lr=0.05, eps=1e-8, initial_accumulator=0.1))
        torch.manual_seed(42)
        model = WideDeep(wide, a.hidden)
        opt = hst.DistributedOptimizer(torch.optim.Adam(model.dense_parameters(), lr=1e-3, eps=1e-8), model)

        def step(loss):
            opt.zero_grad()
            loss.backward()
            opt.step()

        result = train(model, step, job.kv.barrier, job.worker, job.workers, a, data)
        if job.worker == 0:
            report(model, a, "hybridsync", job.workers, data, *result)


def with_ddp(a):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    rank, world = int(os.environ["OMPI_COMM_WORLD_RANK"]), int(os.environ["OMPI_COMM_WORLD_SIZE"])
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{a.port}", rank=rank, world_size=world)
    data = load(a.rows, a.train_limit)
    torch.manual_seed(42)
    wide = nn.EmbeddingBag(a.rows, 10, mode="sum", sparse=True)
    nn.init.zeros_(wide.weight)
    model = DistributedDataParallel(WideDeep(wide, a.hidden))
    inner = model.module
    dense = torch.optim.Adam(inner.dense_parameters(), lr=1e-3, eps=1e-8)
    table = torch.optim.Adagrad([wide.weight], lr=0.05, initial_accumulator_value=0.1, eps=1e-8)

    def step(loss):
        dense.zero_grad(set_to_none=True)
        table.zero_grad(set_to_none=True)
        loss.backward()
        dense.step()
        table.step()

    result = train(model, step, dist.barrier, rank, world, a, data)
    if rank == 0:
        report(inner, a, "ddp", world, data, *result)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("hybridsync", "ddp"), default="hybridsync")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32, help="per worker")
    ap.add_argument("--servers", type=int, default=2, help="hybridsync: dedicated server ranks (the rest are workers)")
    ap.add_argument("--row-encoding", choices=("float32", "float16", "bfloat16"), default="float32", help="hybridsync: rows on the wire")
    ap.add_argument("--route", choices=("ps", "ring"), default=None, help="hybridsync: pin the table (default: the planner decides)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--rows", type=int, default=1 << 20)
    ap.add_argument("--train-limit", type=int, default=0, help="train on the first N images only")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--port", type=int, default=29731, help="ddp: gloo's rendezvous port")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    (with_hybridsync if a.backend == "hybridsync" else with_ddp)(a)


if __name__ == "__main__":
    main()
