"""Batched and fused matrix products (bmm, baddbmm, addmm, addmv, outer, dot), einsum,
and vector norms. All go through ``matmul`` (one GEMM call per product) and elementwise
ops, so autograd comes from those."""

from __future__ import annotations

import math
import string
from typing import Any

from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._autocast import autocast_operands
from ._util import broadcast_shapes, check_tensor, norm_dims, prod
from .elementwise import abs, clamp, where
from .gemm import matmul
from .reduce import amax, amin, sum
from .shape import expand, permute, reshape


def _check_ranks(op: str, **tensors: Tensor) -> None:
    for name, (t, nd) in tensors.items():
        check_tensor(t, op, name)
        if t.ndim != nd:
            raise ValueError(f"ember.{op}: {name} must be {nd}-D, got shape {tuple(t.shape)}")


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of (b, n, m) and (b, m, p) tensors (no broadcasting).

    Shape: (b, n, p).
    """
    _check_ranks("bmm", input=(input, 3), mat2=(mat2, 3))
    if input.shape[0] != mat2.shape[0]:
        raise ValueError(
            f"ember.bmm: batch sizes differ: {tuple(input.shape)} and {tuple(mat2.shape)}"
        )
    return matmul(input, mat2)


def _scaled_sum(op: str, base: Tensor, product: Tensor, beta: Any, alpha: Any) -> Tensor:
    broadcast_shapes(base.shape, product.shape, op=op)
    out = product if alpha == 1 else product * alpha
    if beta == 0:  # PyTorch ignores base (even NaN in it) when beta is 0
        return expand(out, broadcast_shapes(base.shape, out.shape, op=op))
    return out + (base if beta == 1 else base * beta)


def _autocast_base(input: Tensor) -> Tensor:
    """The added term of addmm / baddbmm in an autocast region's dtype, as torch's autocast
    casts all their operands (the product is cast by matmul)."""
    cast = autocast_operands(input.device.type, input)
    return input if cast is None else cast[0]


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1):
    """beta * input + alpha * (mat1 @ mat2), input broadcast to (n, p).

    Shape: (n, p) from mat1 (n, m) and mat2 (m, p).
    """
    _check_ranks("addmm", mat1=(mat1, 2), mat2=(mat2, 2))
    check_tensor(input, "addmm")
    input = _autocast_base(input)
    return _scaled_sum("addmm", input, matmul(mat1, mat2), beta, alpha)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1):
    """beta * input + alpha * bmm(batch1, batch2), input broadcast to (b, n, p).

    Shape: (b, n, p) from batch1 (b, n, m) and batch2 (b, m, p).
    """
    check_tensor(input, "baddbmm")
    input = _autocast_base(input)
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1):
    """beta * input + alpha * (mat @ vec). Shape: (n,) from mat (n, m) and vec (m,)."""
    _check_ranks("addmv", mat=(mat, 2), vec=(vec, 1))
    check_tensor(input, "addmv")
    return _scaled_sum("addmv", input, matmul(mat, vec), beta, alpha)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-D tensors. Shape: (len(input), len(vec2))."""
    _check_ranks("outer", input=(input, 1), vec2=(vec2, 1))
    return input.unsqueeze(1) * vec2.unsqueeze(0)


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors of one length. Shape: () (a 0-d tensor)."""
    _check_ranks("dot", input=(input, 1), other=(other, 1))
    if input.shape != other.shape:
        raise ValueError(f"ember.dot: lengths differ: {input.shape[0]} and {other.shape[0]}")
    return matmul(input, other)


# ---- einsum -------------------------------------------------------------------------------
def _parse(equation: str, operands: tuple) -> tuple[list[str], str]:
    """Subscripts per operand and the output's, ellipses replaced by unused capitals."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(
            f"ember.einsum: the equation names {len(terms)} operands, {len(operands)} were given"
        )
    free = [c for c in string.ascii_uppercase if c not in eq]
    ell_nd = 0
    out_terms = []
    for term, x in zip(terms, operands):
        check_tensor(x, "einsum")
        named = len(term.replace("...", ""))
        if "..." in term:
            n = x.ndim - named
            if n < 0:
                raise ValueError(f"ember.einsum: '{term}' has more subscripts than dims {x.shape}")
            ell_nd = max(ell_nd, n)
            term = term.replace("...", "".join(free[ell_nd - n : ell_nd]))
        if len(term) != x.ndim or not term.isalpha():
            raise ValueError(
                f"ember.einsum: subscripts '{term}' do not match an operand of shape {x.shape}"
            )
        out_terms.append(term)
    ell = "".join(free[:ell_nd])
    if arrow:
        out = rhs.replace("...", ell)
    else:  # implicit output: the ellipsis dims, then letters seen once, sorted
        seen = "".join(out_terms)
        out = ell + "".join(sorted(c for c in set(seen) if seen.count(c) == 1 and c not in ell))
    for term in out_terms:
        if len(set(term)) != len(term):
            raise ValueError(
                f"ember.einsum: repeated subscripts in one operand ('{term}') are not supported"
            )
    return out_terms, out


def _sum_unneeded(x: Tensor, term: str, keep: set[str]) -> tuple[Tensor, str]:
    drop = [i for i, c in enumerate(term) if c not in keep]
    if not drop:
        return x, term
    return sum(x, drop), "".join(c for c in term if c in keep)


def _contract(a: Tensor, ta: str, b: Tensor, tb: str, keep: set[str]) -> tuple[Tensor, str]:
    """One pairwise product as a batched GEMM: (batch, a_only, k) @ (batch, k, b_only)."""
    batch = [c for c in ta if c in tb and c in keep]
    inner = [c for c in ta if c in tb and c not in keep]
    a_only = [c for c in ta if c not in tb]
    b_only = [c for c in tb if c not in ta]
    size = {}
    for t, x in ((ta, a), (tb, b)):
        for c, s in zip(t, x.shape):
            size[c] = s if size.get(c, 1) == 1 else size[c]
    ap = permute(a, *[ta.index(c) for c in batch + a_only + inner])
    bp = permute(b, *[tb.index(c) for c in batch + inner + b_only])
    bs = [size[c] for c in batch]
    ap = expand(ap, *bs, *ap.shape[len(batch) :])
    bp = expand(bp, *bs, *bp.shape[len(batch) :])
    m, k, n = (prod(size[c] for c in g) for g in (a_only, inner, b_only))
    out = matmul(reshape(ap, -1, m, k), reshape(bp, -1, k, n))
    out = reshape(out, *bs, *[size[c] for c in a_only + b_only])
    return out, "".join(batch + a_only + b_only)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation over the operands, e.g. ``einsum('bij,bjk->bik', a, b)``:
    '...' ellipses, implicit outputs and broadcasting size-1 dims; each pairwise product
    is one batched matmul. A subscript repeated within one operand (a diagonal) is not
    supported.

    Shape: the sizes of the output subscripts.
    """
    if len(operands) == 1 and isinstance(operands[0], (tuple, list)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("ember.einsum: expected at least one operand")
    terms, out = _parse(equation, operands)
    if not set(out) <= set("".join(terms)):
        raise ValueError(f"ember.einsum: output subscripts '{out}' are not in the inputs")
    xs = list(operands)
    for i in range(len(xs)):
        later = set(out) | set("".join(terms[:i] + terms[i + 1 :]))
        xs[i], terms[i] = _sum_unneeded(xs[i], terms[i], later)
    x, t = xs[0], terms[0]
    for i in range(1, len(xs)):
        keep = set(out) | set("".join(terms[i + 1 :]))
        x, t = _contract(x, t, xs[i], terms[i], keep)
        x, t = _sum_unneeded(x, t, keep)
    x, t = _sum_unneeded(x, t, set(out))
    return permute(x, *[t.index(c) for c in out]) if t != out else x


# ---- norms ------------------------------------------------------------------------------------
class L2Norm(Function):
    """sqrt(sum(x^2)) over dims, with gradient x / norm and 0 where the norm is 0
    (the composed sqrt would give 0 * inf = NaN there)."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, dims: tuple, keepdim: bool) -> Tensor:
        out = sum(x * x, dims, keepdim=True).sqrt()
        ctx.dims, ctx.keepdim = dims, keepdim
        ctx.save_for_backward(x, out)
        return out if keepdim else reshape(out, [s for i, s in enumerate(x.shape) if i not in dims])

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        x, n = ctx.saved_tensors
        g = reshape(g, n.shape)
        return where(n == 0, 0.0, g / n) * x, None, None


def vector_norm(
    x: Tensor, ord: float = 2, dim: Any = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """The ``ord``-norm of x over ``dim`` (all elements when None): 2 (Euclidean), 1,
    inf, -inf, 0 (count of nonzeros) or any other p as sum(|x|^p)^(1/p).

    Shape: x.shape without the reduced dims (kept as 1 with keepdim=True).
    """
    check_tensor(x, "vector_norm")
    if dtype is not None:
        x = x.to(dtype)
    if not x.dtype.is_floating_point:
        raise TypeError(f"ember.vector_norm: needs a floating tensor, got {x.dtype}")
    dims = norm_dims(dim, x.ndim, "vector_norm")
    if ord == 2:
        return L2Norm.apply(x, dims, keepdim)
    a = abs(x)
    if ord == math.inf:
        return amax(a, dims, keepdim)
    if ord == -math.inf:
        return amin(a, dims, keepdim)
    if ord == 0:
        return sum((a != 0).to(x.dtype), dims, keepdim)
    if ord == 1:
        return sum(a, dims, keepdim)
    return sum(a**ord, dims, keepdim) ** (1.0 / ord)


def norm(
    input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None
) -> Tensor:
    """torch.norm: the vector p-norm over ``dim`` ('fro' is the 2-norm over all given
    dims). Shape: as for :func:`vector_norm`."""
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str):
        raise ValueError(f"ember.norm: p={p!r} (matrix norms other than 'fro') is not supported")
    return vector_norm(input, p, dim, keepdim, dtype=dtype)


def normalize(
    input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None
) -> Tensor:
    """input / max(||input||_p over dim, eps). Shape: same as input."""
    if out is not None:
        raise ValueError("ember.normalize: out= is not supported")
    return input / clamp(vector_norm(input, p, dim, keepdim=True), min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) over ``dim``, after
    broadcasting x1 with x2 (PyTorch's formula: each vector is normalized first).

    Shape: broadcast(x1.shape, x2.shape) without ``dim``.
    """
    check_tensor(x1, "cosine_similarity", "x1")
    check_tensor(x2, "cosine_similarity", "x2")
    shape = broadcast_shapes(x1.shape, x2.shape, op="cosine_similarity")
    x1, x2 = expand(x1, shape), expand(x2, shape)
    (d,) = norm_dims(dim, len(shape), "cosine_similarity")
    n1 = clamp(vector_norm(x1, 2, d, keepdim=True), min=eps)
    n2 = clamp(vector_norm(x2, 2, d, keepdim=True), min=eps)
    return sum((x1 / n1) * (x2 / n2), d)


_CDIST_MODES = (
    "use_mm_for_euclid_dist_if_necessary",
    "use_mm_for_euclid_dist",
    "donot_use_mm_for_euclid_dist",
)


def cdist(
    x1: Tensor,
    x2: Tensor,
    p: float = 2.0,
    compute_mode: str = "use_mm_for_euclid_dist_if_necessary",
) -> Tensor:
    """The p-norm distance between each row of x1 and each row of x2 (batch dims
    broadcast). p = 2 uses the matrix-product expansion |a|^2 + |b|^2 - 2 a.b when either
    side has more than 25 rows (PyTorch's default ``compute_mode``), else differences.

    Shape: x1 (*B, P, M), x2 (*B, R, M) -> (*B, P, R).
    """
    check_tensor(x1, "cdist", "x1")
    check_tensor(x2, "cdist", "x2")
    if x1.ndim < 2 or x2.ndim < 2:
        raise ValueError(
            f"ember.cdist: x1 and x2 must be at least 2-D, got shapes {tuple(x1.shape)} and "
            f"{tuple(x2.shape)}"
        )
    if x1.shape[-1] != x2.shape[-1]:
        raise ValueError(
            f"ember.cdist: x1 and x2 must have the same number of columns, got "
            f"{x1.shape[-1]} and {x2.shape[-1]}"
        )
    if not (x1.dtype.is_floating_point and x2.dtype.is_floating_point):
        raise TypeError(f"ember.cdist: needs floating tensors, got {x1.dtype} and {x2.dtype}")
    if not p >= 0:
        raise ValueError(f"ember.cdist: p must be >= 0, got {p}")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(
            f"ember.cdist: compute_mode must be one of {_CDIST_MODES}, got {compute_mode!r}"
        )
    batch = broadcast_shapes(x1.shape[:-2], x2.shape[:-2], op="cdist")
    x1 = expand(x1, (*batch, *x1.shape[-2:]))
    x2 = expand(x2, (*batch, *x2.shape[-2:]))
    rows1, rows2 = x1.shape[-2], x2.shape[-2]
    use_mm = p == 2 and (
        compute_mode == "use_mm_for_euclid_dist"
        or (compute_mode == _CDIST_MODES[0] and (rows1 > 25 or rows2 > 25))
    )
    if use_mm:
        sq1 = sum(x1 * x1, -1, keepdim=True)
        sq2 = sum(x2 * x2, -1, keepdim=True)
        d2 = sq1 + sq2.transpose(-1, -2) - 2.0 * matmul(x1, x2.transpose(-1, -2))
        return clamp(d2, min=1e-30).sqrt()  # PyTorch's floor: a finite gradient at 0
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    return vector_norm(diff, p, -1)
