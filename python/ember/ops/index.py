"""Index ops: gather / scatter_add, index_select / index_add, embedding, one_hot.
Kernels: csrc/cpu/index."""

from __future__ import annotations

from .. import _dtype as D
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._util import check_tensor, compute_dtype, empty, kernels, norm_dim, same_device
from .convert import _fresh_copy, cast


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
        from .creation import zeros

        (index,) = ctx.saved_tensors
        zero = zeros(ctx.shape, dtype=g.dtype, device=g.device)
        return AddAt.apply(zero, ctx.dim, index, g, _PAIR[ctx.kind]), None, None, None


class AddAt(Function):
    """out = a copy of x with src accumulated at the indices (scatter_add / index_add)."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, dim: int, index: Tensor, src: Tensor, kind: str):
        cdt = compute_dtype(x.dtype)
        out = _fresh_copy(x, cdt)
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
        from .elementwise import where

        keep = (idx != padding_idx).reshape(-1, 1)
        rows = index_select(weight, 0, flat)
        rows = where(keep, rows, rows.detach())
    else:
        rows = index_select(weight, 0, flat)
    return rows.reshape(*idx.shape, weight.shape[1])


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding of class indices. Shape: tensor.shape + (num_classes,)."""
    from .creation import arange

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
