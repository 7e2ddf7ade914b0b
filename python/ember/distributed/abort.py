"""A failing rank stops the whole job: without this, the other ranks would wait in
their next collective forever."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

_installed = False


def install_abort_on_error(world: Any) -> None:
    """Wrap ``sys.excepthook``: an uncaught exception prints its traceback (tagged with
    the rank), then aborts every process of the job when there is more than one."""
    global _installed
    if _installed or world.size == 1:
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        print(f"ember.distributed: rank {world.rank} of {world.size} failed:", file=sys.stderr)
        previous(kind, value, tb)
        abort(130 if isinstance(value, KeyboardInterrupt) else 1)

    sys.excepthook = hook
    _installed = True


def abort(code: int = 1) -> None:
    """End every process of the MPI job with exit code ``code`` (``MPI_Abort``), after
    flushing this one's output. For a rank that cannot go on: the others may be waiting
    for it in a collective."""
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    print(
        f"ember.distributed: rank {world.rank} aborts the job (exit code {code})",
        file=sys.stderr,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    world.Abort(code)
