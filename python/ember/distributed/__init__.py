"""ember.distributed: data-parallel training over MPI, with torch.distributed's names.

Launch one process per rank with ``mpirun`` (``pip install 'ember[distributed]'``
brings mpi4py and Open MPI from PyPI)::

    mpirun -n 2 python train.py

and in the script::

    import ember.distributed as dist
    dist.init_process_group()          # backend="mpi"
    model = ember.nn.parallel.DistributedDataParallel(model)
    sampler = ember.data.DistributedSampler(dataset)

Each file does one job: ``group`` (the process group, ranks), ``collectives``
(all_reduce, broadcast, all_gather, barrier on tensors), ``objects`` (pickled objects,
whole models), ``buffers`` (tensors as MPI buffers) and ``abort`` (a failing rank ends
the job).
"""

from .abort import abort
from .collectives import ReduceOp, Work, all_gather, all_reduce, barrier, broadcast
from .group import (
    ProcessGroupNotInitialized,
    destroy_process_group,
    get_local_rank,
    get_local_world_size,
    get_rank,
    get_world_size,
    init,
    init_process_group,
    is_available,
    is_initialized,
    launched_by_mpi,
)
from .objects import (
    all_gather_object,
    broadcast_object,
    broadcast_object_list,
    broadcast_parameters,
    gather_object,
)

__all__ = [
    "ProcessGroupNotInitialized",
    "ReduceOp",
    "Work",
    "abort",
    "all_gather",
    "all_gather_object",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object",
    "broadcast_object_list",
    "broadcast_parameters",
    "destroy_process_group",
    "gather_object",
    "get_local_rank",
    "get_local_world_size",
    "get_rank",
    "get_world_size",
    "init",
    "init_process_group",
    "is_available",
    "is_initialized",
    "launched_by_mpi",
]
