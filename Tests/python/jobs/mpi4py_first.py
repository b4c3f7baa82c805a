"""mpi4py initialises MPI before hybridsync: the job uses that MPI (the same ranks), leaves it
initialised when it ends, and mpi4py's own collectives work afterwards. Prints MPI4PY OK."""

from mpi4py import MPI

import numpy as np

import hybridsync as hs

world = MPI.COMM_WORLD
with hs.job(servers=1, exit_servers=False) as job:
    assert job.rank == world.Get_rank() and job.world == world.Get_size(), (job.rank, job.world)
    if job.is_worker:
        x = np.full(8, job.worker + 1, np.float32)
        job.allreduce(x, "sum")
        assert (x == job.workers * (job.workers + 1) / 2).all(), x
assert MPI.Is_initialized() and not MPI.Is_finalized(), "the job finalised mpi4py's MPI"
total = world.allreduce(world.Get_rank(), op=MPI.SUM)
assert total == world.Get_size() * (world.Get_size() - 1) // 2, total
print(f"MPI4PY OK rank {world.Get_rank()}", flush=True)
