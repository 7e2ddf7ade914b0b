"""ember.cuda: the CUDA device, its memory and its synchronization.

The CUDA kernels live in the optional extension ``ember._C_cuda``, imported
lazily on first use. Importing this module never touches the driver and never
fails: on a machine without ``_C_cuda``, without a driver or without a GPU,
:func:`is_available` is False and :func:`device_count` is 0.

Random numbers: ember draws them for every device from its one generator (CUDA tensors
are filled on the CPU and copied), which ``ember.manual_seed`` seeds. So
:func:`manual_seed` and :func:`manual_seed_all` only check their argument: like torch's,
they leave the CPU stream alone, and ``ember.manual_seed`` already seeds what CUDA
tensors get.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType

__all__ = [
    "Event",
    "device_count",
    "empty_cache",
    "get_device_name",
    "is_available",
    "is_built",
    "manual_seed",
    "manual_seed_all",
    "max_memory_allocated",
    "max_memory_reserved",
    "memory_allocated",
    "memory_reserved",
    "memory_stats",
    "reset_peak_memory_stats",
    "synchronize",
]

_lock = threading.Lock()
_loaded = False
_ext: ModuleType | None = None
_import_error: str = ""


def _extension() -> ModuleType | None:
    """ember._C_cuda, or None (with the reason in _import_error) if it was not built."""
    global _loaded, _ext, _import_error
    if not _loaded:
        with _lock:
            if not _loaded:
                try:
                    _ext = importlib.import_module("ember._C_cuda")
                except ImportError as e:
                    _ext = None
                    _import_error = str(e)
                _loaded = True
    return _ext


def _built() -> ModuleType:
    """ember._C_cuda, GPU or not.

    Raises:
        RuntimeError: if ember was built without CUDA.
    """
    ext = _extension()
    if ext is None:
        raise RuntimeError(f"ember was built without CUDA ({_import_error})")
    return ext


def _module() -> ModuleType:
    """ember._C_cuda, ready to run kernels.

    Raises:
        RuntimeError: if ember was built without CUDA, or if there is no usable GPU.
    """
    ext = _built()
    if not ext.is_available():
        raise RuntimeError(f"no CUDA GPU is available: {ext.unavailable_reason()}")
    return ext


def _set_allow_tf32(allow: bool) -> None:
    """Whether float32 GEMMs may use TF32 tensor cores (ember.backends.cuda.matmul sets
    it); nothing to do when ember was built without CUDA."""
    ext = _extension()
    if ext is not None:
        ext._set_allow_tf32(allow)


def is_built() -> bool:
    """True if ember was built with CUDA support (ember._C_cuda imports), GPU or not."""
    return _extension() is not None


def is_available() -> bool:
    """True if ember has CUDA support and a GPU is present. Never raises."""
    try:
        ext = _extension()
        return ext is not None and bool(ext.is_available())
    except Exception:
        return False


def device_count() -> int:
    """Number of GPUs ember can use; 0 without CUDA support, a driver or a GPU."""
    ext = _extension()
    return int(ext.device_count()) if ext is not None else 0


def synchronize(device: int = 0) -> None:
    """Wait until all work queued on ``device`` has finished."""
    _module().synchronize(device)


def memory_allocated(device: int = 0) -> int:
    """Bytes held by live CUDA tensors on ``device`` (in allocator block sizes)."""
    return int(_module().memory_allocated(device))


def memory_reserved(device: int = 0) -> int:
    """Bytes the caching allocator holds on ``device``: live tensors plus cached blocks."""
    return int(_module().memory_reserved(device))


def memory_stats(device: int = 0) -> dict[str, int]:
    """The caching allocator's counters for ``device``, under torch's key names:
    ``allocated_bytes.all.current`` / ``.peak``, ``reserved_bytes.all.current`` / ``.peak``,
    ``active.all.current`` (blocks handed out), ``allocation.all.allocated`` (requests),
    ``segment.all.allocated`` (cudaMalloc calls), ``num_alloc_retries``, ``num_ooms``.
    All 0 before the first allocation; needs no GPU."""
    return {k: int(v) for k, v in _built().memory_stats(device).items()}


def max_memory_allocated(device: int = 0) -> int:
    """The most bytes live tensors have held on ``device`` since the last peak reset."""
    return memory_stats(device)["allocated_bytes.all.peak"]


def max_memory_reserved(device: int = 0) -> int:
    """The most bytes the allocator has held on ``device`` since the last peak reset."""
    return memory_stats(device)["reserved_bytes.all.peak"]


def reset_peak_memory_stats(device: int = 0) -> None:
    """Restart the peaks of :func:`memory_stats` from the current values."""
    _built().reset_peak_memory_stats(device)


class Event:
    """A CUDA event on the default stream, where every ember kernel runs: recorded after
    some calls, it completes when their kernels have. For timing GPU work::

        start, end = ember.cuda.Event(enable_timing=True), ember.cuda.Event(enable_timing=True)
        start.record(); y = model(x); end.record(); end.synchronize()
        ms = start.elapsed_time(end)
    """

    def __init__(self, enable_timing: bool = False) -> None:
        self._event = _module().Event(bool(enable_timing))

    def record(self, device: int = 0) -> None:
        """Mark the point after all work queued so far on ``device``."""
        self._event.record(device)

    def query(self) -> bool:
        """True when the work before the last :meth:`record` has finished."""
        return bool(self._event.query())

    def synchronize(self) -> None:
        """Wait until the work before the last :meth:`record` has finished."""
        self._event.synchronize()

    def elapsed_time(self, end: Event) -> float:
        """Milliseconds from this event to ``end`` (both recorded with timing enabled)."""
        return float(self._event.elapsed_time(end._event))


def empty_cache() -> None:
    """Release every cached, unused block to the driver (on all devices)."""
    _module().empty_cache()


def get_device_name(device: int = 0) -> str:
    """The GPU's name, e.g. 'NVIDIA H200'."""
    return str(_module().get_device_name(device))


def _check_seed(seed: object, op: str) -> None:
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise TypeError(f"ember.cuda.{op}: seed must be an int, got {seed!r}")


def manual_seed(seed: int) -> None:
    """torch's ``cuda.manual_seed``: does not touch the CPU generator (see the module
    docstring: ``ember.manual_seed`` seeds the numbers CUDA tensors get)."""
    _check_seed(seed, "manual_seed")


def manual_seed_all(seed: int) -> None:
    """torch's ``cuda.manual_seed_all``: the same as :func:`manual_seed` in ember."""
    _check_seed(seed, "manual_seed_all")
