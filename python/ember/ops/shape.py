"""Views and shape ops: reshape/view, permute/transpose, expand, squeeze/unsqueeze,
indexing (basic slicing makes views; integer and bool tensors gather), cat/stack/split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _dtype as D
from .._primitives import copy_into, empty, fresh_copy
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._util import check_tensor, norm_dim, norm_dim_nonscalar, prod
from .creation import zeros


def _as_view(x: Tensor, shape: Sequence[int], strides: Sequence[int], offset: int) -> Tensor:
    return Tensor(x._impl.as_strided(list(shape), list(strides), int(offset)), _base=x)


def _shape_arg(shape: tuple, op: str) -> tuple:
    """Accept f(2, 3) and f((2, 3)) alike; entries are ints within int64 (the kernels' size
    type), so a huge one is a ValueError naming the op rather than a binding's TypeError."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(type(s) is int for s in shape):
        for s in shape:
            if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
                raise TypeError(f"ember: shape entries must be ints, got {s!r}")
        # int subclasses stay as they are (ember.onnx's symbolic sizes are ints that
        # remember where they came from); numpy integers become ints.
        shape = tuple(s if isinstance(s, int) else int(s) for s in shape)
    for s in shape:
        if not -(2**63) <= s < 2**63:
            raise ValueError(f"ember.{op}: size {s} in shape {shape} is outside the int64 range")
    return shape


# ---- reshape / view ---------------------------------------------------------------------
def _contiguous_strides(shape: Sequence[int]) -> list:
    strides, s = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        strides[i] = s
        s *= max(shape[i], 1)
    return strides


class Reshape(Function):
    """A view in another shape (-1 inferred), or a copy when the strides do not allow one
    and ``op`` is "reshape". Shape inference and view strides are one C++ call."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, shape: tuple, op: str) -> Tensor:
        ctx.in_shape = x.shape
        shape, impl = x._impl.reshape_view(shape, "ember." + op)
        if impl is not None:
            return Tensor(impl, _base=x)
        if op == "view":
            raise ValueError(
                f"ember.view: shape {shape} is not compatible with the input's size and "
                f"strides {x.stride()}; use .reshape(...)"
            )
        return Tensor(fresh_copy(x)._impl.as_strided(list(shape), _contiguous_strides(shape), 0))

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        return reshape(g, ctx.in_shape), None, None


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """Same data in another shape: a view when the strides allow, else a copy.

    Shape: ``shape`` with one -1 inferred.
    """
    return Reshape.apply(x, _shape_arg(shape, "reshape"), "reshape")


def view(x: Tensor, *shape: Any) -> Tensor:
    """Like reshape, but always a view (ValueError if the strides don't allow one).

    ``x.view(dtype)`` reinterprets the bits as another dtype of the same size (PyTorch's
    bit cast, e.g. float16 <-> bfloat16 for weight files); no autograd through it.

    Shape: ``shape`` with one -1 inferred; unchanged for a dtype.
    """
    if len(shape) == 1 and isinstance(shape[0], (D.dtype, str)):
        return _bitcast(x, D.to_dtype(shape[0]))
    return Reshape.apply(x, _shape_arg(shape, "view"), "view")


def _bitcast(x: Tensor, dtype: D.dtype) -> Tensor:
    if dtype is x.dtype:
        return Reshape.apply(x, tuple(x.shape), "view")
    if dtype.itemsize != x.dtype.itemsize:
        raise ValueError(
            f"ember.view: can't reinterpret {x.dtype.name} ({x.dtype.itemsize} bytes) as "
            f"{dtype.name} ({dtype.itemsize} bytes): the sizes differ"
        )
    if x.requires_grad:
        raise RuntimeError("ember.view: a dtype view has no gradient; call .detach() first")
    return Tensor(x._impl.view_as_dtype(dtype.code))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one. Shape: (..., prod(merged), ...)."""
    s, e = norm_dim(start_dim, x.ndim, "flatten"), norm_dim(end_dim, x.ndim, "flatten")
    if x.ndim == 0:
        return reshape(x, 1)
    if s > e:
        raise ValueError("ember.flatten: start_dim cannot come after end_dim")
    return reshape(x, *x.shape[:s], prod(x.shape[s : e + 1]), *x.shape[e + 1 :])


def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    """Drop dimensions of size 1 (all of them, or the given ones)."""
    if dim is None:
        dims = [i for i, s in enumerate(x.shape) if s == 1]
    else:
        dims = [norm_dim(d, x.ndim, "squeeze") for d in ((dim,) if isinstance(dim, int) else dim)]
    shape = tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1))
    return Reshape.apply(x, shape, "view")


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a dimension of size 1 at ``dim`` (-ndim-1 <= dim <= ndim)."""
    d = norm_dim(dim, x.ndim + 1, "unsqueeze")
    return Reshape.apply(x, tuple(x.shape[:d]) + (1,) + tuple(x.shape[d:]), "view")


# ---- permute / transpose ------------------------------------------------------------------
class Permute(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, dims: tuple) -> Tensor:
        ctx.dims = dims
        impl = x._impl
        shape, strides = impl.shape, impl.strides
        return _as_view(x, [shape[d] for d in dims], [strides[d] for d in dims], impl.offset)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return Permute.apply(g, tuple(inverse)), None


def permute(x: Tensor, *dims: Any) -> Tensor:
    """Reorder dimensions (a view). Shape: (x.shape[dims[0]], x.shape[dims[1]], ...)."""
    dims = _shape_arg(dims, "permute")
    nd = tuple(norm_dim(d, x.ndim, "permute") for d in dims)
    if sorted(nd) != list(range(x.ndim)):
        raise ValueError(f"ember.permute: dims {dims} are not a permutation of {x.ndim} dims")
    return Permute.apply(x, nd)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions (a view)."""
    a, b = norm_dim(dim0, x.ndim, "transpose"), norm_dim(dim1, x.ndim, "transpose")
    if x.ndim == 0:
        return x
    d = list(range(x.ndim))
    d[a], d[b] = d[b], d[a]
    return Permute.apply(x, tuple(d))


def t(x: Tensor) -> Tensor:
    """Transpose of a tensor of at most 2 dimensions."""
    if x.ndim > 2:
        raise ValueError(f"ember.t: expects a tensor with <= 2 dimensions, got {x.ndim}")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def movedim(x: Tensor, source: int, destination: int) -> Tensor:
    """Move one dimension to another position (a view)."""
    s, dst = norm_dim(source, x.ndim, "movedim"), norm_dim(destination, x.ndim, "movedim")
    if x.ndim == 0:  # dims 0 and -1 name the tensor itself, as in PyTorch
        return x
    order = [d for d in range(x.ndim) if d != s]
    order.insert(dst, s)
    return Permute.apply(x, tuple(order))


# ---- expand -----------------------------------------------------------------------------
class Expand(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, shape: tuple) -> Tensor:
        ctx.in_shape = in_shape = x.shape
        lead = len(shape) - len(in_shape)
        strides = [0] * lead
        for i, (s, st) in enumerate(zip(in_shape, x.stride())):
            strides.append(st if s == shape[lead + i] and s != 1 else 0)
        return _as_view(x, shape, strides, x.storage_offset())

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        return sum_to(g, ctx.in_shape), None


def expand(x: Tensor, *shape: Any) -> Tensor:
    """Broadcast x to a larger shape without copying (-1 keeps a dimension).

    Shape: ``shape``.
    """
    shape = _shape_arg(shape, "expand")
    if len(shape) < x.ndim:
        raise ValueError(f"ember.expand: cannot expand shape {x.shape} to {shape}")
    lead = len(shape) - x.ndim
    out = []
    for i, s in enumerate(shape):
        if i < lead:
            if s < 0:
                raise ValueError(f"ember.expand: invalid size {s} for a new leading dimension")
            out.append(s)
            continue
        cur = x.shape[i - lead]
        if s == -1 or s == cur:
            out.append(cur)
        elif cur == 1 and s >= 0:
            out.append(s)
        else:
            raise ValueError(f"ember.expand: cannot expand shape {x.shape} to {shape}")
    out = tuple(out)
    return x if out == tuple(x.shape) else Expand.apply(x, out)


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    """numpy's broadcast_to (a view). Shape: ``shape``."""
    return expand(x, tuple(shape))


# ---- sum_to: the reverse of broadcasting ----------------------------------------------
def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Sum g over the dimensions that broadcasting added or expanded to reach g.shape."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    dims = list(range(lead)) + [
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    ]
    # reduce.py sits above this module (its backward expands): call sum as a method
    out = g.sum(dims, keepdim=True) if dims else g
    return out.reshape(shape)


# ---- basic indexing: views of slices, ints and None ------------------------------------
def _basic_view(x: Tensor, basic: list) -> Tensor:
    shape, strides = [], []
    offset, d = x.storage_offset(), 0
    for k in basic:
        if k is None:
            shape.append(1)
            strides.append(0)
        elif isinstance(k, slice):
            size = x.shape[d]
            start, stop, step = k.indices(size)
            if step <= 0:
                raise ValueError("ember: slice step must be positive")
            n = max(0, (stop - start + step - 1) // step)
            if n:
                offset += start * x.stride()[d]
            shape.append(n)
            strides.append(x.stride()[d] * step)
            d += 1
        else:
            size = x.shape[d]
            if not -size <= k < size:
                raise IndexError(
                    f"ember: index {k} is out of bounds for dimension {d} with size {size}"
                )
            offset += (k % size) * x.stride()[d]
            d += 1
    shape += list(x.shape[d:])
    strides += list(x.stride()[d:])
    return _as_view(x, shape, strides, offset)


class BasicIndex(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, basic: list) -> Tensor:
        ctx.in_shape, ctx.basic = x.shape, basic
        return _basic_view(x, basic)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        z = zeros(ctx.in_shape, dtype=g.dtype, device=g.device)
        copy_into(g, _basic_view(z, ctx.basic))
        return z, None


# ---- cat / stack / split ------------------------------------------------------------------
class Cat(Function):
    @staticmethod
    def forward(ctx: Context, dim: int, dtype: D.dtype, *xs: Tensor) -> Tensor:
        shape = list(xs[0].shape)
        shape[dim] = sum(x.shape[dim] for x in xs)
        out = empty(shape, dtype, xs[0].device)
        start = 0
        ctx.sizes, ctx.dim = [x.shape[dim] for x in xs], dim
        for x in xs:
            n = x.shape[dim]
            key = [slice(None)] * dim + [slice(start, start + n)]
            copy_into(x, _basic_view(out, key))
            start += n
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        grads, start = [], 0
        for n in ctx.sizes:
            grads.append(narrow(g, ctx.dim, start, n))
            start += n
        return (None, None, *grads)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension.

    Shape: like the inputs, with shape[dim] = the sum of theirs.
    """
    tensors = list(tensors)
    if not tensors:
        raise ValueError("ember.cat: expected a non-empty list of tensors")
    for i, x in enumerate(tensors):
        check_tensor(x, "cat", f"tensors[{i}]")
    ref = tensors[0]
    if ref.ndim == 0:
        raise ValueError("ember.cat: zero-dimensional tensors cannot be concatenated")
    d = norm_dim(dim, ref.ndim, "cat")
    for x in tensors[1:]:
        if x.ndim != ref.ndim or any(
            a != b for i, (a, b) in enumerate(zip(x.shape, ref.shape)) if i != d
        ):
            raise ValueError(
                f"ember.cat: shapes {tuple(ref.shape)} and {tuple(x.shape)} differ outside "
                f"dimension {d}"
            )
        if x.device != ref.device:
            raise ValueError(f"ember.cat: tensors on {ref.device} and {x.device}")
    dtype = D.result_type(*[(x.dtype, False) for x in tensors])
    return Cat.apply(d, dtype, *tensors)


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dimension.

    Shape: the common shape with a new dimension of len(tensors) at ``dim``.
    """
    tensors = list(tensors)
    if not tensors:
        raise ValueError("ember.stack: expected a non-empty list of tensors")
    for i, x in enumerate(tensors):
        check_tensor(x, "stack", f"tensors[{i}]")
        if tuple(x.shape) != tuple(tensors[0].shape):
            raise ValueError(
                f"ember.stack: all tensors must have the same shape, got "
                f"{tuple(tensors[0].shape)} and {tuple(x.shape)}"
            )
    d = norm_dim(dim, tensors[0].ndim + 1, "stack")
    return cat([unsqueeze(x, d) for x in tensors], d)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The view x[..., start:start+length, ...] along ``dim``."""
    d = norm_dim_nonscalar(dim, x.ndim, "narrow")
    if start < 0:
        start += x.shape[d]
    if start < 0 or length < 0 or start + length > x.shape[d]:
        raise IndexError(
            f"ember.narrow: range [{start}, {start + length}) is out of bounds for dimension "
            f"{d} of size {x.shape[d]}"
        )
    return BasicIndex.apply(x, [slice(None)] * d + [slice(start, start + length)])


def split(x: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Views of consecutive pieces along ``dim``: equal pieces of a given size (the last
    may be smaller) or a list of sizes that add up to x.shape[dim]."""
    d = norm_dim_nonscalar(dim, x.ndim, "split")
    size = x.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0:
            raise ValueError(f"ember.split: split size must be positive, got {step}")
        sizes = [min(step, size - s) for s in range(0, size, step)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != size or any(s < 0 for s in sizes):
            raise ValueError(
                f"ember.split: sections {sizes} do not add up to dimension {d} of size {size}"
            )
    out, start = [], 0
    for n in sizes:
        out.append(narrow(x, d, start, n))
        start += n
    return tuple(out)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into ``chunks`` nearly equal views (the last may be smaller, as in PyTorch)."""
    if chunks <= 0:
        raise ValueError(f"ember.chunk: chunks must be positive, got {chunks}")
    d = norm_dim_nonscalar(dim, x.ndim, "chunk")
    step = max(1, -(-x.shape[d] // chunks))
    return split(x, step, d)


def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """Views of every slice along ``dim`` with that dimension removed."""
    d = norm_dim_nonscalar(dim, x.ndim, "unbind")
    return tuple(BasicIndex.apply(x, [slice(None)] * d + [i]) for i in range(x.shape[d]))
