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
import importlib.util
import os
import sys
import threading
from types import ModuleType

__all__ = [
    "Event",
    "Stream",
    "StreamContext",
    "current_stream",
    "default_stream",
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
    "set_stream",
    "stream",
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


def _load_emulator() -> ModuleType | None:
    """EMBER_CUDA_EMULATOR=<path of an emulator build's _C_cuda .so> (CMake option
    EMBER_CUDA_EMULATOR): load that module as ember._C_cuda, so CUDA kernels run on the CPU
    (docs/architecture.md, "CUDA host emulator"). For tests/conftest.py and the GPU
    benchmarks' smoke runs; returns None when the variable is unset.

    Raises:
        RuntimeError: if ember._C_cuda was imported already.
        ImportError: if the path is not a Python extension module.
    """
    global _loaded, _ext, _import_error
    path = os.environ.get("EMBER_CUDA_EMULATOR")
    if not path:
        return None
    if "ember._C_cuda" in sys.modules:
        raise RuntimeError("EMBER_CUDA_EMULATOR: ember._C_cuda was imported before the emulator")
    spec = importlib.util.spec_from_file_location("ember._C_cuda", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"EMBER_CUDA_EMULATOR={path}: not a Python extension module")
    try:
        module = importlib.util.module_from_spec(spec)  # loads the shared library
        spec.loader.exec_module(module)
    except ImportError as e:
        raise ImportError(f"EMBER_CUDA_EMULATOR={path}: {e}") from e
    sys.modules["ember._C_cuda"] = module
    sys.modules["ember"]._C_cuda = module  # as the import system would
    with _lock:
        _ext, _import_error, _loaded = module, "", True
    return module


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


class Stream:
    """A queue of GPU work. ember's kernels go to the current stream of their device: the
    default stream unless a ``with ember.cuda.stream(s):`` block chose ``s``. Work on two
    streams may overlap; an :class:`Event` orders one after the other::

        s = ember.cuda.Stream()
        with ember.cuda.stream(s):
            y = model(x)               # queued on s
        ember.cuda.current_stream().wait_stream(s)
        z = y + 1                      # waits for model(x)

    Streams come from a per-device pool of 32 (as torch's); they order against the
    default stream both ways. A tensor's memory is reused on the stream it was made on,
    so one also used on another stream must stay alive until that use has finished, or
    be marked with ``tensor.record_stream(other)`` (as in torch). ``priority`` < 0 asks
    for a high-priority stream.
    """

    def __init__(self, device: int = 0, priority: int = 0, *, _handle: int | None = None) -> None:
        self.device = int(device)
        self.cuda_stream = (
            int(_handle)
            if _handle is not None
            else int(_module()._stream_new(self.device, int(priority)))
        )

    def query(self) -> bool:
        """True when all work queued on the stream has finished."""
        return bool(_module()._stream_query(self.device, self.cuda_stream))

    def synchronize(self) -> None:
        """Wait until all work queued on the stream has finished."""
        _module()._stream_synchronize(self.device, self.cuda_stream)

    def record_event(self, event: Event | None = None) -> Event:
        """Record ``event`` (a new one if None) at this point of the stream; returns it."""
        event = Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event: Event) -> None:
        """Work queued on this stream from now on waits for the work ``event`` recorded."""
        event._event.block(self.device, self.cuda_stream)

    def wait_stream(self, other: Stream) -> None:
        """Work queued on this stream from now on waits for what ``other`` holds now."""
        self.wait_event(other.record_event())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream) and (self.device, self.cuda_stream) == (
            other.device,
            other.cuda_stream,
        )

    def __hash__(self) -> int:
        return hash((self.device, self.cuda_stream))

    def __repr__(self) -> str:
        return f"<ember.cuda.Stream device=cuda:{self.device} cuda_stream={self.cuda_stream:#x}>"


def current_stream(device: int = 0) -> Stream:
    """The stream ember's kernels for ``device`` go to in this thread."""
    return Stream(device, _handle=_module()._current_stream(int(device)))


def default_stream(device: int = 0) -> Stream:
    """The device's default (legacy) stream, current unless a :func:`stream` block chose
    another."""
    _module()._current_stream(int(device))  # checks the device
    return Stream(device, _handle=0)


def set_stream(stream: Stream) -> None:
    """Make ``stream`` current on its device in this thread (prefer :func:`stream`)."""
    _module()._set_current_stream(stream.device, stream.cuda_stream)


class StreamContext:
    """``with ember.cuda.stream(s):`` makes ``s`` current on its device in this thread
    and restores the previous stream on exit; ``None`` makes it a no-op."""

    def __init__(self, stream: Stream | None) -> None:
        if stream is not None and not isinstance(stream, Stream):
            raise TypeError(
                f"ember.cuda.stream: expected an ember.cuda.Stream or None, got "
                f"{type(stream).__name__}"
            )
        self.stream = stream
        self._previous: list[Stream] = []

    def __enter__(self) -> Stream | None:
        if self.stream is not None:
            self._previous.append(current_stream(self.stream.device))
            set_stream(self.stream)
        return self.stream

    def __exit__(self, *exc: object) -> None:
        if self.stream is not None:
            set_stream(self._previous.pop())


def stream(stream: Stream | None) -> StreamContext:
    """Context manager selecting ``stream`` for the ops in its block (see :class:`Stream`)."""
    return StreamContext(stream)


class Event:
    """A point in a stream's queue, for timing GPU work, waiting for it, and making
    another stream wait (:meth:`Stream.wait_event`)::

        start, end = ember.cuda.Event(enable_timing=True), ember.cuda.Event(enable_timing=True)
        start.record(); y = model(x); end.record(); end.synchronize()
        ms = start.elapsed_time(end)
    """

    def __init__(self, enable_timing: bool = False) -> None:
        self._event = _module().Event(bool(enable_timing))

    def record(self, stream: Stream | None = None) -> None:
        """Mark the point after all work queued so far on ``stream`` (default: the current
        stream of device 0)."""
        s = current_stream() if stream is None else stream
        self._event.record(s.device, s.cuda_stream)

    def wait(self, stream: Stream | None = None) -> None:
        """Make ``stream`` (default: the current one) wait for the recorded work."""
        (current_stream() if stream is None else stream).wait_event(self)

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
