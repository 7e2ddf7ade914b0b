"""Matrix products: matmul with numpy's broadcasting rules and the fused linear layer,
both on the packed GEMM (csrc/cpu/gemm). Transposes are passed as strided views: the
GEMM's packing reads them in place, nothing is copied."""

from __future__ import annotations

from typing import Any

from .. import _C, _autocast_state
from .. import _dtype as D
from .._primitives import cast, empty, kernels
from ..autograd.function import ACCUMULATED_IN_PLACE, Context, Function
from ..tensor import Tensor
from ._autocast import autocast_operands
from ._util import broadcast_shapes, check_tensor, float_dtype, prod, records_nothing, same_device
from .shape import sum_to


def _gemm_dtypes(dtype: D.dtype) -> tuple[D.dtype, D.dtype]:
    """(input dtype the kernel reads, output dtype it writes) for a result dtype."""
    if dtype is D.bfloat16:
        return D.bfloat16, D.float32  # vdpbf16ps: bf16 products, fp32 accumulation
    if dtype is D.float16:
        return D.float32, D.float32
    return dtype, dtype


def gemm(
    a: Tensor,
    b: Tensor,
    out: Tensor | None = None,
    *,
    alpha: float = 1.0,
    beta: float = 0.0,
    bias: Tensor | None = None,
    activation: str = "none",
) -> Tensor:
    """out = act(alpha * a @ b + beta * out + bias) for 3-D (B, M, K) @ (B, K, N) views of
    any strides, without autograd. Allocates out (B, M, N) when not given."""
    if out is None:
        out = empty((a.shape[0], a.shape[1], b.shape[2]), _gemm_dtypes(a.dtype)[1], a.device)
    kernels(a.device, "matmul", "gemm").gemm(
        a._impl, b._impl, out._impl, alpha, beta, None if bias is None else bias._impl, activation
    )
    return out


def _as_3d(x: Tensor, batch: tuple, rows: int, cols: int) -> Tensor:
    """x broadcast to (*batch, rows, cols), viewed as (prod(batch), rows, cols); a copy
    only when the batch dimensions cannot be merged into one stride."""
    return x.expand(*batch, rows, cols).reshape(prod(batch), rows, cols)


def _as3(w: Tensor) -> Any:
    """The impl of a 2-D w (R, C) viewed as (1, R, C)."""
    impl = w._impl
    (r, c), (sr, sc) = impl.shape, impl.strides
    return impl.as_strided([1, r, c], [0, sr, sc], impl.offset)


class Matmul(Function):
    @staticmethod
    def forward(ctx: Context, a: Tensor, b: Tensor, dtype: D.dtype) -> Tensor:
        # a: (..., M, K), b: (..., K, N), both at least 2-D here.
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2], op="matmul")
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        in_dt, out_dt = _gemm_dtypes(dtype)
        ctx.save_for_backward(a, b)
        if not batch:  # two matrices: views on the C++ tensors, one GEMM call
            out = empty((1, m, n), out_dt, a.device)._impl
            kernels(a.device, "matmul", "gemm").gemm(
                _as3(cast(a, in_dt)), _as3(cast(b, in_dt)), out, 1.0, 0.0, None, "none"
            )
            return cast(Tensor(out.reshape_view((m, n), "ember.matmul")[1]), dtype)
        a3 = _as_3d(cast(a, in_dt), batch, m, k)
        b3 = _as_3d(cast(b, in_dt), batch, k, n)
        out = gemm(a3, b3).reshape(*batch, m, n)
        return cast(out, dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        ga = sum_to(matmul(g, b.mT), a.shape) if ctx.needs_input_grad[0] else None
        gb = sum_to(matmul(a.mT, g), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb, None


_FAST_CODES = (D.float32.code, D.float64.code)


def _matmul_fast(a: Tensor, b: Tensor) -> Tensor | None:
    """a @ b for two CPU matrices of one float dtype when nothing is recorded: one kernel
    call that allocates its output, no autograd wrapper (None: take the full path)."""
    ia, ib = a._impl, b._impl
    if ia.dtype != ib.dtype or ia.dtype not in _FAST_CODES or ia.device_type or ib.device_type:
        return None
    sa, sb = ia.shape, ib.shape
    if len(sa) != 2 or len(sb) != 2 or sa[1] != sb[0] or not records_nothing(a, b):
        return None
    return Tensor(_C.matmul2d(ia, ib))


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with numpy semantics: 1-D operands are promoted to matrices and the
    added dimension removed afterwards; batch dimensions broadcast.

    Shape: (..., M, K) @ (..., K, N) -> (broadcast(...), M, N).
    """
    if isinstance(input, Tensor) and isinstance(other, Tensor) and not _autocast_state.entered[0]:
        out = _matmul_fast(input, other)
        if out is not None:
            return out
    check_tensor(input, "matmul")
    check_tensor(other, "matmul", "other")
    dev = same_device("matmul", input, other)
    cast = autocast_operands(dev.type, input, other)
    if cast is not None:
        input, other = cast
    if input.ndim == 0 or other.ndim == 0:
        raise ValueError(
            f"ember.matmul: both arguments need at least 1 dimension, got shapes "
            f"{tuple(input.shape)} and {tuple(other.shape)}"
        )
    k2 = other.shape[0 if other.ndim == 1 else -2]
    if input.shape[-1] != k2:
        raise ValueError(
            f"ember.matmul: shapes {tuple(input.shape)} and {tuple(other.shape)} are not "
            f"aligned ({input.shape[-1]} != {k2})"
        )
    dtype = float_dtype("matmul", input, other)
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


_ACTIVATIONS = ("none", "relu", "gelu", "gelu_tanh")


def _rows3(x: Tensor, k: int) -> Any:
    """The impl of x viewed as (1, rows, k) (a contiguous copy only if no view exists)."""
    impl = x._impl.reshape_view((1, -1, k), "ember.linear")[1]
    if impl is None:
        impl = x.contiguous()._impl.reshape_view((1, -1, k), "ember.linear")[1]
    return impl


def _transposed3(w: Tensor) -> Any:
    """The impl of w (N, K) viewed as w.T with a leading batch of 1: (1, K, N)."""
    impl = w._impl
    (n, k), (sn, sk) = impl.shape, impl.strides
    return impl.as_strided([1, k, n], [0, sk, sn], impl.offset)


class Linear(Function):
    """y = act(x @ w.T + b) as one op: one GEMM with the bias fused into its epilogue
    (relu too: its backward only needs y > 0, so y is saved; any activation when no
    gradient is needed), or for gelu / gelu_tanh the GEMM + bias writing z, then the
    activation kernel (z is saved). The backward runs the
    fused activation-backward kernel on y / z, then two GEMMs on strided views
    (dX = dZ @ W, dW = dZ^T @ X) and a sum for db. The views are made on the C++ tensors
    directly (no autograd wrappers): this op runs for every layer of every model."""

    @staticmethod
    def forward(
        ctx: Context,
        x: Tensor,
        w: Tensor,
        b: Tensor | None,
        dtype: D.dtype,
        activation: str = "none",
    ):
        in_dt, out_dt = _gemm_dtypes(dtype)
        n, k = w.shape
        xc, wc = cast(x, in_dt), cast(w, in_dt)
        bias = None if b is None else cast(b, out_dt).contiguous()._impl
        # Without gradients nothing needs z: the GEMM's epilogue applies any activation.
        inference = True not in ctx.needs_input_grad
        fused = activation if inference or activation in ("none", "relu") else "none"
        x3 = _rows3(xc, k)
        out = empty((1, x3.shape[1], n), out_dt, x.device)._impl
        mod = kernels(x.device, "linear", "gemm")
        mod.gemm(x3, _transposed3(wc), out, 1.0, 0.0, bias, fused)
        act_saved = None
        if activation == "relu" and not inference:
            act_saved = Tensor(out)  # y = relu(z): y > 0 exactly where z > 0
        elif fused != activation:
            act_saved = Tensor(out)  # z
            out = empty(act_saved.shape, out_dt, x.device)._impl
            kernels(x.device, activation, "unary").unary(activation, act_saved._impl, out, 0.0, 0.0)
        ctx.save_for_backward(x, w, act_saved)
        ctx.has_bias = b is not None
        ctx.activation = activation
        ctx.b_dtype = None if b is None else b.dtype
        y = Tensor(out.reshape_view((*x.shape[:-1], n), "ember.linear")[1])
        return cast(y, dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        x, w, act_saved = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        in_dt, out_dt = _gemm_dtypes(g.dtype)
        n, k = w.shape
        dev = g.device
        if ctx.activation != "none":
            # dZ = act'(z) * dY with the fused activation-backward kernel.
            gc = cast(g, out_dt).contiguous()
            gz = empty(act_saved.shape, out_dt, dev)
            gci = gc._impl.reshape_view(act_saved.shape, "ember.linear")[1]
            kernels(dev, ctx.activation, "unary_backward").unary_backward(
                ctx.activation, act_saved._impl, act_saved._impl, gci, gz._impl, 0.0, 0.0
            )
            g = gz
        gi = cast(g, in_dt)
        g3 = _rows3(gi, n)
        rows = g3.shape[1]
        mod = kernels(dev, "linear", "gemm")
        gx = gw = gb = None
        if need_x:
            out = empty((1, rows, k), out_dt, dev)
            mod.gemm(g3, _as3(cast(w, in_dt)), out._impl, 1.0, 0.0, None, "none")
            gx = Tensor(out._impl.reshape_view(x.shape, "ember.linear")[1])
        if need_w:
            gT = g3.as_strided([1, n, rows], [0, g3.strides[2], g3.strides[1]], g3.offset)
            x3 = _rows3(cast(x, in_dt), k)
            target = w.grad if w.is_leaf else None
            if (
                target is not None
                and target.is_contiguous()
                and target.dtype is out_dt
                and target.shape == w.shape
            ):
                # Accumulate straight into the existing .grad (beta=1): no temporary.
                mod.gemm(gT, x3, _as3(target), 1.0, 1.0, None, "none")
                target._bump_version()
                gw = ACCUMULATED_IN_PLACE
            else:
                out = empty((1, n, k), out_dt, dev)
                mod.gemm(gT, x3, out._impl, 1.0, 0.0, None, "none")
                gw = Tensor(out._impl.reshape_view((n, k), "ember.linear")[1])
        if need_b and ctx.has_bias:
            if g3.is_contiguous and gi.dtype is out_dt:
                # db = column sums of the (rows, n) view the GEMMs read: no second copy of
                # an expanded g (sum's backward), no autograd wrapper. In out_dt: a float16
                # g was widened to float32 for the GEMMs, and reduce wants one dtype.
                gb = empty((n,), out_dt, dev)
                kernels(dev, "linear", "reduce").reduce("sum", g3, gb._impl, 1, rows, n)
            else:
                gb = cast(g, out_dt).reshape(-1, n).sum(0)  # bfloat16 sums in float32
            if ctx.b_dtype is not None and gb.dtype is not ctx.b_dtype:
                gb = cast(gb, ctx.b_dtype)
        return gx, gw, gb, None, None


def linear(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str = "none"
) -> Tensor:
    """y = act(input @ weight.T + bias) as one fused op; ``activation`` is "none", "relu",
    "gelu" (erf form) or "gelu_tanh" (the tanh approximation).

    Shape: input (*, in_features), weight (out_features, in_features), bias (out_features,)
    -> (*, out_features).
    """
    check_tensor(input, "linear")
    check_tensor(weight, "linear", "weight")
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"ember.linear: activation must be one of {', '.join(_ACTIVATIONS)}, got {activation!r}"
        )
    if weight.ndim != 2:
        raise ValueError(
            f"ember.linear: weight must be 2-D (out_features, in_features), got shape "
            f"{tuple(weight.shape)}"
        )
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"ember.linear: input of shape {tuple(input.shape)} does not match weight of shape "
            f"{tuple(weight.shape)} (in_features {weight.shape[1]})"
        )
    tensors = [input, weight]
    if bias is not None:
        check_tensor(bias, "linear", "bias")
        if tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(
                f"ember.linear: bias of shape {tuple(bias.shape)} does not match "
                f"out_features {weight.shape[0]}"
            )
        tensors.append(bias)
    dev = same_device("linear", *tensors)
    cast = autocast_operands(dev.type, input, weight, bias)
    if cast is not None:
        input, weight, bias = cast
        tensors = [t for t in cast if t is not None]
    return Linear.apply(input, weight, bias, float_dtype("linear", *tensors), activation)
