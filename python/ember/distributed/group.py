"""The default process group: every process of the MPI job (``MPI.COMM_WORLD``).

mpi4py is imported (which initializes MPI) only by :func:`init_process_group`, so
``import ember.distributed`` costs nothing in a one-process run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .abort import install_abort_on_error

# Environment variables the common MPI launchers set in every process they start.
_LAUNCHER_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


class ProcessGroupNotInitialized(RuntimeError, ValueError):
    """A collective (or DistributedDataParallel) ran before init_process_group. A
    RuntimeError, and a ValueError like torch's for the same mistake."""


@dataclass
class _Group:
    comm: Any  # a private duplicate of MPI.COMM_WORLD: ember's traffic never mixes with the user's
    rank: int
    size: int
    local_rank: int
    local_size: int


_group: _Group | None = None


def is_available() -> bool:
    """True when mpi4py (and with it an MPI library) can be imported:
    ``pip install 'ember[distributed]'``."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def launched_by_mpi() -> bool:
    """True when this process was started by an MPI launcher (mpirun / mpiexec / srun
    with PMI), judging by the environment it sets."""
    return any(v in os.environ for v in _LAUNCHER_VARS)


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout: timedelta | None = None,
    world_size: int = -1,
    rank: int = -1,
) -> None:
    """Join the default process group: all processes that ``mpirun`` started.

    ``backend`` may be None or ``"mpi"`` (the only one). Rank and world size come from
    MPI; ``world_size`` / ``rank``, when given, must agree with them. ``init_method``
    and ``timeout`` are accepted so torch scripts run unchanged; MPI has no rendezvous
    to configure and no per-call timeout (a rank that fails aborts the whole job
    instead, see :func:`abort`). Started without ``mpirun``, this process is a group of
    one. After it, an uncaught exception in any rank prints its traceback and aborts
    every rank, so the others never wait forever in a collective.
    """
    global _group
    if _group is not None:
        raise RuntimeError(
            "ember.distributed: trying to initialize the default process group twice"
        )
    if backend not in (None, "mpi"):
        raise ValueError(
            f"ember.distributed: backend {backend!r} is not available; ember communicates "
            "through MPI (backend='mpi')"
        )
    if not is_available():
        raise RuntimeError(
            "ember.distributed needs mpi4py and an MPI library: pip install 'ember[distributed]'"
        )
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    for what, given, actual in (("world_size", world_size, world.size), ("rank", rank, world.rank)):
        if given != -1 and given != actual:
            raise ValueError(
                f"ember.distributed.init_process_group: {what}={given}, but MPI says {actual} "
                "(set the number of processes with mpirun -n)"
            )
    comm = world.Dup()
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    _group = _Group(comm, comm.rank, comm.size, local.rank, local.size)
    local.Free()
    install_abort_on_error(world)


init = init_process_group


def destroy_process_group(group: Any = None) -> None:
    """Leave the default group (a later init_process_group joins a new one). MPI itself
    stays up until the process exits."""
    global _group
    _check_group(group)
    if _group is not None:
        _group.comm.Free()
        _group = None


def is_initialized() -> bool:
    """True between init_process_group and destroy_process_group."""
    return _group is not None


def default_group() -> _Group:
    """The initialized group, or ProcessGroupNotInitialized saying how to get one."""
    if _group is None:
        raise ProcessGroupNotInitialized(
            "ember.distributed: the default process group has not been initialized: launch "
            "with mpirun (e.g. mpirun -n 2 python train.py) and call "
            "ember.distributed.init_process_group() first"
        )
    return _group


def _check_group(group: Any) -> None:
    if group is not None:
        raise ValueError(
            "ember.distributed: only the default group (group=None) is supported; ember has "
            "no new_group yet"
        )


def get_rank(group: Any = None) -> int:
    """This process's rank in the group, 0 .. world_size - 1."""
    _check_group(group)
    return default_group().rank


def get_world_size(group: Any = None) -> int:
    """The number of processes in the group."""
    _check_group(group)
    return default_group().size


def get_local_rank() -> int:
    """This process's rank among the group's processes on the same machine (pick a GPU
    or a set of cores by it)."""
    return default_group().local_rank


def get_local_world_size() -> int:
    """How many of the group's processes run on this machine."""
    return default_group().local_size
