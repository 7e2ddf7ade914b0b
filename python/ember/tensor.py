"""Tensor: a view (shape, strides, offset, dtype) of a storage owned by the C++ core,
plus the autograd fields.

This module sits below autograd and the ops (imports run one way, see
docs/architecture.md): the methods built on them (math, ``to``, ``backward``, indexing,
operators) are attached by ``ember.ops`` when the package loads, and are declared for
editors and type checkers in ``tensor.pyi`` (tests/test_public_api.py keeps the two equal)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from . import _C, cuda
from . import _dtype as D
from ._device import CPU, device


class Tensor:
    """An n-dimensional array on the CPU or a CUDA device, with autograd.

    Make one with :func:`ember.tensor`, :func:`ember.from_numpy` or a factory
    (``ember.zeros``, ``ember.randn``, ...), not with ``Tensor(...)`` directly.
    """

    __slots__ = (
        "_impl",
        "_requires_grad",
        "grad",
        "grad_fn",
        "_output_nr",
        "_accumulator",
        "_version_box",
        "_base",
        "__weakref__",
    )
    __array_priority__ = 1000  # numpy defers reflected operators to Tensor

    def __init__(self, impl: Any, *, _base: Tensor | None = None):
        if not isinstance(impl, _C.TensorImpl):
            raise TypeError("ember.Tensor: use ember.tensor(data) to make a tensor from data")
        self._impl = impl
        self._requires_grad = False
        self.grad: Tensor | None = None
        self.grad_fn: Any = None
        self._output_nr = 0
        self._accumulator: Any = None
        # Views share the version counter of their base so in-place writes through any of
        # them invalidate tensors saved for backward.
        self._version_box = _base._version_box if _base is not None else [0]
        self._base = None if _base is None else (_base if _base._base is None else _base._base)

    # ---- metadata -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._impl.shape

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the length of one dimension."""
        return self.shape if dim is None else self.shape[_norm_dim(dim, self.ndim, "size")]

    @property
    def dtype(self) -> D.dtype:
        return D.BY_CODE[self._impl.dtype]

    @property
    def device(self) -> device:
        if self._impl.device_type == 0:
            return CPU
        return device("cuda", self._impl.device_index)

    @property
    def is_cuda(self) -> bool:
        return self._impl.device_type == 1

    @property
    def ndim(self) -> int:
        return len(self._impl.shape)

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return self._impl.numel

    def stride(self, dim: int | None = None) -> Any:
        s = self._impl.strides
        return s if dim is None else s[_norm_dim(dim, self.ndim, "stride")]

    def storage_offset(self) -> int:
        return self._impl.offset

    def is_contiguous(self) -> bool:
        return self._impl.is_contiguous

    def data_ptr(self) -> int:
        return self._impl.data_ptr

    def element_size(self) -> int:
        return self.dtype.itemsize

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.numel() * self.dtype.itemsize

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    @property
    def _version(self) -> int:
        return self._version_box[0]

    def _bump_version(self) -> None:
        self._version_box[0] += 1

    def _check_writable(self, op: str) -> None:
        """ValueError naming ``ember.<op>`` when in-place ops may not write this tensor:
        read-only memory (a read-only numpy array, buffer or DLPack tensor) or elements
        sharing an address (an expanded view). The bindings' own output check
        (core/overlap.h), run before an in-place op computes anything."""
        _C._check_writable(self._impl, f"ember.{op}", "output")

    # ---- autograd -------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        flag = bool(flag)
        if flag and not self.dtype.is_floating_point:
            raise RuntimeError(
                f"ember: only floating point tensors can require gradients (got {self.dtype})"
            )
        if not flag and self.grad_fn is not None:
            raise RuntimeError(
                "ember: you can only change requires_grad of leaf tensors; use .detach()"
            )
        self._requires_grad = flag

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set requires_grad in place; returns self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def detach(self) -> Tensor:
        """A tensor sharing storage, cut from the graph."""
        t = Tensor(self._impl)
        t._version_box = self._version_box
        t._base = self._base
        return t

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        return self.detach()

    @data.setter
    def data(self, value: Tensor) -> None:
        self._impl = value._impl

    # ---- conversion -----------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A numpy array sharing this tensor's memory (CPU tensors only); read-only when
        the tensor's memory is."""
        if self.requires_grad:
            raise RuntimeError(
                "ember: can't call numpy() on a tensor that requires grad; "
                "use tensor.detach().numpy()"
            )
        if self.is_cuda:
            raise TypeError("ember: can't convert a cuda tensor to numpy; call .cpu() first")
        self.dtype.numpy_dtype  # noqa: B018 - TypeError for bfloat16, which numpy lacks
        return np.asarray(self._impl)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self.is_cuda:
            raise TypeError("ember: can't convert a cuda tensor to numpy; call .cpu() first")
        self.dtype.numpy_dtype  # noqa: B018 - TypeError for bfloat16
        arr = np.asarray(self._impl)
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        return arr.copy() if copy else arr

    def _printable(self) -> np.ndarray:
        t = self.detach()
        if t.is_cuda:
            t = t.cpu()
        if t.dtype is D.bfloat16:
            t = t.float()
        return np.asarray(t._impl)

    def tolist(self) -> Any:
        """Nested Python lists (a number for a 0-d tensor)."""
        return self._printable().tolist()

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise ValueError(
                f"ember.item: only one-element tensors can be converted to Python scalars "
                f"(shape {self.shape})"
            )
        return self._printable().reshape(-1)[0].item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self.dtype is D.bool_:
            raise TypeError("ember: only integer tensors of a single element can be an index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(
                f"ember: the truth value of a tensor with {self.numel()} elements is ambiguous"
            )
        return bool(self.item())

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("ember: len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("ember: iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        arr = self._printable()
        prefix = "tensor("
        if arr.size == 0:
            body = "[]" if arr.ndim <= 1 else f"[], size={self.shape}"
        else:
            body = np.array2string(
                arr,
                separator=", ",
                prefix=prefix,
                precision=4,
                threshold=1000,
                edgeitems=3,
                max_line_width=100,
            )
        extras = []
        if self.dtype not in (D.float32, D.int64, D.bool_) or (
            arr.size == 0 and self.dtype is not D.float32
        ):
            extras.append(f"dtype={self.dtype!r}")
        if self.is_cuda:
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return prefix + body + "".join(", " + e for e in extras) + ")"

    def __format__(self, spec: str) -> str:
        if self.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)

    # ---- DLPack -----------------------------------------------------------------------
    def __dlpack__(self, stream: Any = None, **kwargs: Any) -> Any:
        """A DLPack capsule sharing this tensor's memory: 'dltensor_versioned' (DLPack 1,
        flagged read-only when the memory is) when the consumer passes
        ``max_version >= (1, 0)``, else an unversioned 'dltensor'."""
        if self.requires_grad:
            raise RuntimeError(
                "ember: can't export a tensor that requires grad; use tensor.detach()"
            )
        max_version = kwargs.get("max_version")
        versioned = max_version is not None and max_version[0] >= 1
        if self._impl.read_only and not versioned:
            raise BufferError(
                "ember: can't export a read-only tensor as an unversioned DLPack capsule, "
                "which cannot mark it read-only; pass max_version=(1, 0) or export a clone()"
            )
        if self.is_cuda and stream not in (None, -1, 1, 0):
            cuda.synchronize()
        return self._impl.to_dlpack(versioned)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (2, self._impl.device_index) if self.is_cuda else (1, 0)

    # ---- devices and dtypes -----------------------------------------------------------
    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device: int | str | None = None) -> Tensor:
        if device is None:
            device = "cuda"
        elif isinstance(device, int):
            device = f"cuda:{device}"
        return self.to(device)

    def record_stream(self, stream: cuda.Stream) -> None:
        """Mark this CUDA tensor as used on ``stream`` too: once the tensor is gone, its
        memory returns to the cache only after the work queued on ``stream`` by then has
        finished (torch's ``Tensor.record_stream``). Needed when a tensor made on one
        stream is used on another and dropped before that use is known to be done."""
        if not isinstance(stream, cuda.Stream):
            raise TypeError(
                f"ember.Tensor.record_stream: expected an ember.cuda.Stream, got "
                f"{type(stream).__name__}"
            )
        if not self.is_cuda:
            raise ValueError(
                f"ember.Tensor.record_stream: expected a CUDA tensor, got one on {self.device}"
            )
        cuda._module()._record_stream(self._impl, stream.cuda_stream)

    def type(self, dtype: Any = None) -> Any:
        if dtype is None:
            return f"ember.{self.dtype.name}"
        return self.to(dtype)

    def float(self) -> Tensor:
        return self.to(D.float32)

    def double(self) -> Tensor:
        return self.to(D.float64)

    def half(self) -> Tensor:
        return self.to(D.float16)

    def bfloat16(self) -> Tensor:
        return self.to(D.bfloat16)

    def long(self) -> Tensor:
        return self.to(D.int64)

    def int(self) -> Tensor:
        return self.to(D.int32)

    def bool(self) -> Tensor:
        return self.to(D.bool_)

    def char(self) -> Tensor:
        return self.to(D.int8)


def _norm_dim(dim: int, ndim: int, op: str) -> int:
    n = max(ndim, 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"ember.{op}: dim must be an int, got {type(dim).__name__}")
    if not -n <= dim < n:
        raise IndexError(
            f"ember.{op}: dimension {dim} is out of range for a tensor of {ndim} dimensions"
        )
    return dim % n
