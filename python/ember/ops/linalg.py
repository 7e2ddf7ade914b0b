"""Matrix multiplication with numpy's broadcasting rules. The kernel here is the simple
batched one (csrc/cpu/gemm/matmul_simple.cpp) until the packed GEMM lands."""

from __future__ import annotations

from .. import _dtype as D
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._util import broadcast_shapes, check_tensor, empty, kernels, prod, same_device
from .convert import cast


def _mm3(a: Tensor, b: Tensor) -> Tensor:
    """(B, M, K) @ (B, K, N) -> (B, M, N) on contiguous tensors of one dtype."""
    out = empty((a.shape[0], a.shape[1], b.shape[2]), a.dtype, a.device)
    kernels(a.device, "matmul", "matmul").matmul(
        a.contiguous()._impl, b.contiguous()._impl, out._impl
    )
    return out


class Matmul(Function):
    @staticmethod
    def forward(ctx: Context, a: Tensor, b: Tensor, dtype: D.dtype) -> Tensor:
        # a: (..., M, K), b: (..., K, N), both at least 2-D here.
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2], op="matmul")
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        cdt = D.float32 if dtype in (D.float16, D.bfloat16) else dtype
        a3 = cast(a, cdt).expand(*batch, m, k).reshape(prod(batch), m, k)
        b3 = cast(b, cdt).expand(*batch, k, n).reshape(prod(batch), k, n)
        out = _mm3(a3, b3).reshape(*batch, m, n)
        ctx.save_for_backward(a, b)
        return cast(out, dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        from .elementwise import sum_to

        a, b = ctx.saved_tensors
        ga = sum_to(matmul(g, b.transpose(-1, -2)), a.shape) if ctx.needs_input_grad[0] else None
        gb = sum_to(matmul(a.transpose(-1, -2), g), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb, None


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with numpy semantics: 1-D operands are promoted to matrices and the
    added dimension removed afterwards; batch dimensions broadcast.

    Shape: (..., M, K) @ (..., K, N) -> (broadcast(...), M, N).
    """
    check_tensor(input, "matmul")
    check_tensor(other, "matmul", "other")
    same_device("matmul", input, other)
    if input.ndim == 0 or other.ndim == 0:
        raise ValueError(
            f"ember.matmul: both arguments need at least 1 dimension, got shapes "
            f"{tuple(input.shape)} and {tuple(other.shape)}"
        )
    if input.shape[-1] != other.shape[0 if other.ndim == 1 else -2]:
        k2 = other.shape[0 if other.ndim == 1 else -2]
        raise ValueError(
            f"ember.matmul: shapes {tuple(input.shape)} and {tuple(other.shape)} are not "
            f"aligned ({input.shape[-1]} != {k2})"
        )
    dtype = D.result_type((input.dtype, False), (other.dtype, False))
    if not dtype.is_floating_point:
        raise TypeError(
            f"ember.matmul: needs floating tensors, got {input.dtype} and {other.dtype}"
        )
    a = input.unsqueeze(0) if input.ndim == 1 else input
    b = other.unsqueeze(-1) if other.ndim == 1 else other
    out = Matmul.apply(a, b, dtype)
    if input.ndim == 1 and other.ndim == 1:
        return out.reshape(())
    if other.ndim == 1:
        out = out.squeeze(-1)
    if input.ndim == 1:
        out = out.squeeze(-2)
    return out


mm = matmul
