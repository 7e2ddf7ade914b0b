"""Index ops: gather / scatter_add, index_select / index_add, embedding, one_hot, and
Python indexing (x[key], x[key] = value, copy_).
Kernels: csrc/cpu/index."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtype as D
from .._primitives import cast, copy_into, empty, fresh_copy, full_scalar, kernels
from ..autograd.function import Context, Function
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor
from ._util import (
    broadcast_shapes,
    check_tensor,
    compute_dtype,
    is_number,
    norm_dim,
    prod,
    same_device,
)
from .convert import to
from .creation import arange, tensor, zeros
from .elementwise import apply_inplace, where
from .shape import BasicIndex, _basic_view, expand, reshape, sum_to


def _index_tensor(index: Tensor, op: str) -> Tensor:
    check_tensor(index, op, "index")
    if index.dtype.is_floating_point or index.dtype is D.bool_:
        raise TypeError(f"ember.{op}: index must be an integer tensor, got {index.dtype}")
    return cast(index, D.int64).contiguous()


# The two index-op families: "pick" reads slices at index positions and "add at" is its
# reverse (scatter-add); each one's gradient is the other one.
_PAIR = {"gather": "scatter_add", "index_select": "index_add"}


class Pick(Function):
    """out = gather / index_select of x; backward adds the gradient back at the indices."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, dim: int, index: Tensor, kind: str) -> Tensor:
        if kind == "gather":
            shape = index.shape
        else:
            shape = list(x.shape)
            shape[dim] = index.shape[0]
        out = empty(shape, x.dtype, x.device)
        getattr(kernels(x.device, kind, kind), kind)(
            x.contiguous()._impl, dim, index._impl, out._impl
        )
        ctx.dim, ctx.shape, ctx.kind = dim, x.shape, kind
        ctx.save_for_backward(index)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        (index,) = ctx.saved_tensors
        zero = zeros(ctx.shape, dtype=g.dtype, device=g.device)
        return AddAt.apply(zero, ctx.dim, index, g, _PAIR[ctx.kind]), None, None, None


class AddAt(Function):
    """out = a copy of x with src accumulated at the indices (scatter_add / index_add)."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, dim: int, index: Tensor, src: Tensor, kind: str):
        cdt = compute_dtype(x.dtype)
        out = fresh_copy(x, cdt)
        getattr(kernels(x.device, kind, kind), kind)(
            out._impl, dim, index._impl, cast(src, cdt).contiguous()._impl
        )
        ctx.dim, ctx.kind = dim, kind
        ctx.save_for_backward(index)
        return cast(out, x.dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        (index,) = ctx.saved_tensors
        pick = next(k for k, v in _PAIR.items() if v == ctx.kind)
        gsrc = Pick.apply(g, ctx.dim, index, pick) if ctx.needs_input_grad[3] else None
        return g, None, None, gsrc, None


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """out[i][j][k] = input[i][index[i][j][k]][k] for dim=1 (and likewise for any dim).

    Shape: index.shape.
    """
    check_tensor(input, "gather")
    index = _index_tensor(index, "gather")
    same_device("gather", input, index)
    return Pick.apply(input, norm_dim(dim, input.ndim, "gather"), index, "gather")


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of input with src added at the positions index names along dim
    (the reverse of gather; repeated indices accumulate).

    Shape: input.shape.
    """
    check_tensor(input, "scatter_add")
    check_tensor(src, "scatter_add", "src")
    index = _index_tensor(index, "scatter_add")
    same_device("scatter_add", input, index, src)
    dim = norm_dim(dim, input.ndim, "scatter_add")
    return AddAt.apply(input, dim, index, src, "scatter_add")


class Scatter(Function):
    """out = a copy of x with src[i][j][k] written at out[i][index[i][j][k]][k] (dim=1);
    of repeated positions the last in index order wins."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, src: Tensor, dim: int, index: Tensor) -> Tensor:
        idx = np.asarray(index.cpu())
        coords = list(np.indices(idx.shape))
        coords[dim] = idx
        writer = np.full(x.numel(), -1, np.int64)  # which src element lands where
        writer[np.ravel_multi_index(coords, x.shape).ravel()] = np.arange(idx.size)
        src_part = _basic_view(src, tuple(slice(0, n) for n in idx.shape)).reshape(-1)
        picked = index_select(src_part, 0, tensor(np.maximum(writer, 0), device=x.device))
        mask = tensor((writer >= 0).reshape(x.shape), device=x.device)
        ctx.dim, ctx.src_shape = dim, src.shape
        ctx.save_for_backward(mask, index)
        return where(mask, reshape(picked, x.shape), x)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        mask, index = ctx.saved_tensors
        gx = where(mask, 0.0, g) if ctx.needs_input_grad[0] else None
        gsrc = None
        if ctx.needs_input_grad[1]:
            # PyTorch's rule: every src element gets the gradient at its target
            gsrc = gather(g, ctx.dim, index)
            if tuple(gsrc.shape) != tuple(ctx.src_shape):
                full = zeros(ctx.src_shape, dtype=g.dtype, device=g.device)
                _write(full, tuple(slice(0, n) for n in index.shape), gsrc)
                gsrc = full
        return gx, gsrc, None, None


def scatter(
    input: Tensor,
    dim: int,
    index: Tensor,
    src: Any = None,
    *,
    value: Any = None,
    reduce: str | None = None,
) -> Tensor:
    """A copy of input with ``src`` (a tensor, or a number ``value``) written at the
    positions index names along dim: out[i][index[i][j]] = src[i][j] for dim=1.
    ``reduce='add'`` is scatter_add. Differentiable in input and src.

    Shape: input.shape.
    """
    check_tensor(input, "scatter")
    if (src is None) == (value is None):
        raise TypeError("ember.scatter: give exactly one of src and value")
    if src is None or not isinstance(src, Tensor):
        v = value if src is None else src
        if not is_number(v):
            raise TypeError(f"ember.scatter: value must be a number, got {v!r}")
        src = full_scalar(v, input.dtype, input.device).expand(index.shape)
    elif src.dtype is not input.dtype:
        raise TypeError(
            f"ember.scatter: src dtype {src.dtype.name} differs from input dtype {input.dtype.name}"
        )
    if reduce == "add":
        return scatter_add(input, dim, index, src)
    if reduce is not None:
        raise ValueError(f"ember.scatter: reduce must be None or 'add', got {reduce!r}")
    index = _index_tensor(index, "scatter")
    same_device("scatter", input, index, src)
    dim = norm_dim(dim, input.ndim, "scatter")
    if not (index.ndim == input.ndim == src.ndim):
        raise ValueError(
            f"ember.scatter: index ({index.ndim}-D), input ({input.ndim}-D) and src "
            f"({src.ndim}-D) must have the same number of dimensions"
        )
    for d, n in enumerate(index.shape):
        if n > src.shape[d] or (d != dim and n > input.shape[d]):
            raise ValueError(
                f"ember.scatter: index shape {tuple(index.shape)} exceeds src shape "
                f"{tuple(src.shape)} or input shape {tuple(input.shape)} at dimension {d}"
            )
    if index.numel():
        lo, hi = int(index.min().item()), int(index.max().item())
        if lo < 0 or hi >= input.shape[dim]:
            raise IndexError(
                f"ember.scatter: index {lo if lo < 0 else hi} is out of bounds for dimension "
                f"{dim} with size {input.shape[dim]}"
            )
    return Scatter.apply(input, src, dim, index)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements of input where the bool mask (broadcast with input) is True, as a
    1-D tensor in row-major order.

    Shape: (number of True elements,).
    """
    check_tensor(input, "masked_select")
    check_tensor(mask, "masked_select", "mask")
    if mask.dtype is not D.bool_:
        raise TypeError(f"ember.masked_select: mask must be a bool tensor, got {mask.dtype}")
    shape = broadcast_shapes(input.shape, mask.shape, op="masked_select")
    return getitem(expand(input, shape), expand(mask, shape))


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of input at the positions in a 1-D ``index`` along ``dim``.

    Shape: input.shape with shape[dim] = len(index).
    """
    check_tensor(input, "index_select")
    index = _index_tensor(index, "index_select")
    if index.ndim > 1:
        raise ValueError(f"ember.index_select: index must be 1-D, got shape {tuple(index.shape)}")
    if index.ndim == 0:
        index = index.reshape(1)
    same_device("index_select", input, index)
    if input.ndim == 0:
        raise ValueError("ember.index_select: input must have at least one dimension")
    dim = norm_dim(dim, input.ndim, "index_select")
    return Pick.apply(input, dim, index, "index_select")


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """A copy of input with source's slices added at the positions in ``index`` along
    ``dim`` (duplicates accumulate).

    Shape: input.shape.
    """
    check_tensor(input, "index_add")
    check_tensor(source, "index_add", "source")
    index = _index_tensor(index, "index_add")
    same_device("index_add", input, index, source)
    dim = norm_dim(dim, input.ndim, "index_add")
    return AddAt.apply(input, dim, index, source, "index_add")


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by the integer ``input``; the
    backward scatter-adds into the rows (padding_idx's row gets no gradient).

    Shape: input.shape + (dim,).
    """
    check_tensor(weight, "embedding", "weight")
    if weight.ndim != 2:
        raise ValueError(
            f"ember.embedding: weight must be 2-D (num_embeddings, dim), got {tuple(weight.shape)}"
        )
    idx = _index_tensor(input, "embedding")
    flat = idx.reshape(-1)
    if padding_idx is not None and weight.requires_grad:
        keep = (idx != padding_idx).reshape(-1, 1)
        rows = index_select(weight, 0, flat)
        rows = where(keep, rows, rows.detach())
    else:
        rows = index_select(weight, 0, flat)
    return rows.reshape(*idx.shape, weight.shape[1])


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding of class indices. Shape: tensor.shape + (num_classes,)."""
    idx = _index_tensor(tensor, "one_hot")
    if idx.numel() and int(idx.min().item()) < 0:
        raise ValueError("ember.one_hot: class values must be non-negative")
    if num_classes == -1:
        num_classes = int(idx.max().item()) + 1 if idx.numel() else 0
    elif idx.numel() and int(idx.max().item()) >= num_classes:
        raise ValueError(
            f"ember.one_hot: class value {int(idx.max().item())} is out of range for "
            f"num_classes={num_classes}"
        )
    classes = arange(num_classes, device=idx.device)
    return (idx.unsqueeze(-1) == classes).long()


# ---- x[key] and x[key] = value ---------------------------------------------------------
def _is_int(k: Any) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def _split_key(x: Tensor, key: Any) -> tuple[list, list]:
    """Return (basic key with advanced entries replaced by full slices, advanced list of
    (output position, index)). Expands Ellipsis; checks the number of indexed dims."""
    if not isinstance(key, tuple):
        key = (key,)
    key = list(key)
    for i, k in enumerate(key):
        if isinstance(k, (list, np.ndarray)):
            key[i] = tensor(k)
        elif (
            isinstance(k, Tensor)
            and k.ndim == 0
            and not k.dtype.is_floating_point
            and k.dtype is not D.bool_
        ):
            key[i] = int(k.item())

    def consumed(k: Any) -> int:
        if k is None or k is Ellipsis:
            return 0
        if isinstance(k, Tensor) and k.dtype is D.bool_:
            return k.ndim
        return 1

    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("ember: an index can only have a single ellipsis ('...')")
    used = sum(consumed(k) for k in key)
    if used > x.ndim:
        raise IndexError(f"ember: too many indices for a tensor of dimension {x.ndim}")
    if Ellipsis in [k for k in key if not isinstance(k, Tensor)]:
        i = next(j for j, k in enumerate(key) if k is Ellipsis and not isinstance(k, Tensor))
        key[i : i + 1] = [slice(None)] * (x.ndim - used)
    basic, advanced, out_pos = [], [], 0
    for k in key:
        if isinstance(k, Tensor):
            if k.dtype.is_floating_point:
                raise IndexError("ember: tensors used as indices must be integer or bool")
            advanced.append((out_pos, k))
            n = consumed(k)
            basic.extend([slice(None)] * n)
            out_pos += n
        elif k is None or isinstance(k, slice):
            basic.append(k)
            out_pos += 1
        elif _is_int(k):
            basic.append(int(k))
        else:
            raise IndexError(f"ember: unsupported index {k!r}")
    return basic, advanced


def _advanced(v: Tensor, pos: int, idx: Tensor) -> Tensor:
    if idx.dtype is D.bool_:
        region = tuple(v.shape[pos : pos + idx.ndim])
        if tuple(idx.shape) != region:
            raise IndexError(
                f"ember: the bool mask of shape {tuple(idx.shape)} does not match the indexed "
                f"dimensions {region}"
            )
        flat = reshape(v, *v.shape[:pos], -1 if prod(region) else 0, *v.shape[pos + idx.ndim :])
        where_true = tensor(np.flatnonzero(np.asarray(idx.detach().cpu())), device=v.device)
        return index_select(flat, pos, where_true)
    size = v.shape[pos]
    flat_idx = reshape(idx, -1).long()
    if flat_idx.numel():
        lo, hi = int(flat_idx.min().item()), int(flat_idx.max().item())
        if lo < -size or hi >= size:
            bad = lo if lo < -size else hi
            raise IndexError(
                f"ember: index {bad} is out of bounds for dimension {pos} with size {size}"
            )
        if lo < 0:
            flat_idx = where(flat_idx < 0, flat_idx + size, flat_idx)
    out = index_select(v, pos, flat_idx)
    return reshape(out, *v.shape[:pos], *idx.shape, *v.shape[pos + 1 :])


def getitem(x: Tensor, key: Any) -> Tensor:
    """``x[key]``: ints, slices (positive step), None, ..., one integer tensor/list, or a
    bool mask. Basic indexing returns a view; tensor indices return a copy."""
    basic, advanced = _split_key(x, key)
    if len(advanced) > 1:
        raise IndexError("ember: indexing with more than one index tensor is not supported")
    out = BasicIndex.apply(x, basic)
    if advanced:
        pos, idx = advanced[0]
        out = _advanced(out, pos, idx)
    return out


class SetItem(Function):
    """out = x with out[key] = value; the autograd form of ``x[key] = value``."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, value: Tensor, key: Any) -> Tensor:
        out = fresh_copy(x)
        _write(out, key, value)
        ctx.key, ctx.value_shape = key, value.shape
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        gx = None
        if ctx.needs_input_grad[0]:
            gx = fresh_copy(g)
            _write(gx, ctx.key, 0.0)
        gv = None
        if ctx.needs_input_grad[1]:
            gv = sum_to(getitem(g, ctx.key), ctx.value_shape)
        return gx, gv, None


def _write(x: Tensor, key: Any, value: Any) -> None:
    """x[key] = value without autograd."""
    if not isinstance(value, Tensor):
        value = full_scalar(value, x.dtype, x.device)
    basic, advanced = _split_key(x, key)
    if not advanced:
        target = _basic_view(x, basic)
        copy_into(expand(value.to(x.device), target.shape), target)
        return
    if x.is_cuda:
        raise NotImplementedError(
            "ember: assignment through index tensors on cuda is not supported yet"
        )
    np_key = tuple(
        np.asarray(k.cpu()) if isinstance(k, Tensor) else k
        for k in (key if isinstance(key, tuple) else (key,))
    )
    arr = np.asarray(x._impl)
    val = value.detach().cpu()
    arr[np_key] = np.asarray(val.float() if val.dtype is D.bfloat16 else val)


def setitem(x: Tensor, key: Any, value: Any) -> None:
    """``x[key] = value`` (value broadcasts)."""
    if isinstance(value, int) and not isinstance(value, bool):
        D.check_scalar(value, D.int64, "__setitem__")  # torch's setitem reads ints as int64
    if not isinstance(value, Tensor) and not x.dtype.is_floating_point:
        # torch checks integer targets only; a float overflows to inf as in a cast
        D.check_scalar(value, x.dtype, "__setitem__")

    def fast() -> bool:
        _write(x, key, value)
        return True

    def compute() -> Tensor:
        v = value if isinstance(value, Tensor) else full_scalar(value, x.dtype, x.device)
        return SetItem.apply(x, v, key)

    if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled():
        apply_inplace(x, "__setitem__", compute, (value,))
    else:
        apply_inplace(x, "__setitem__", compute, (value,), fast)


def copy_(dst: Tensor, src: Tensor) -> Tensor:
    """Write src (broadcast, cast) into dst in place; returns dst."""
    return apply_inplace(dst, "copy_", lambda: _broadcast_for_copy(src, dst))


def _broadcast_for_copy(src: Tensor, dst: Tensor) -> Tensor:
    src = src if src.device == dst.device else to(src, dst.device, None)
    return expand(src, dst.shape) if tuple(src.shape) != tuple(dst.shape) else src
