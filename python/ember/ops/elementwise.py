"""Elementwise math: unary functions, broadcasting binary ops, comparisons, where,
and the in-place variants. Kernels: csrc/cpu/elementwise (and csrc/cuda)."""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _C
from .. import _dtype as D
from .._primitives import cast, copy_into, empty, full_scalar, kernels
from ..autograd.function import Context, Function
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..tensor import Tensor
from ._util import broadcast_shapes, compute_dtype, is_number, records_nothing
from .shape import expand, sum_to

ARITH = ("add", "sub", "mul", "div", "pow", "maximum", "minimum")
COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")
LOGICAL = ("logical_and", "logical_or", "logical_xor")
# Unary ops that keep integer dtypes; the rest compute in floating point.
INT_UNARY = ("neg", "abs", "relu", "clamp")
FUSED_BACKWARD = ("tanh", "sigmoid", "relu", "gelu", "gelu_tanh", "silu", "clamp")
# Piecewise constant: gradient zero everywhere (as PyTorch), identity on integer dtypes.
ROUNDING = ("floor", "ceil", "trunc", "round")
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
# Backward reads only y = op(x) (relu: y <= 0 exactly where x <= 0), so x is not saved.
READS_Y_ONLY = ("exp", "expm1", "sqrt", "rsqrt", "tanh", "sigmoid", "relu")


# The fast path of tiny ops (the common case in a model's forward when no gradient is
# recorded): CPU tensors of one of these dtypes go straight to a kernel entry that allocates
# its own output, skipping promotion, the autograd wrapper and the Python-side allocation.
_FAST_CODES = (D.float32.code, D.float64.code)


def _plain_number(v: Any) -> bool:
    """A Python float, or an int that a float64 holds exactly (bools excluded)."""
    t = type(v)
    return t is float or (t is int and -(2**53) <= v <= 2**53)


# ---- binary ---------------------------------------------------------------------------
def _exact_in_float32(v: Any) -> bool:
    with np.errstate(over="ignore"):
        return float(np.float32(v)) == float(v)


def _operands(op: str, a: Any, b: Any) -> tuple[Tensor, Tensor, D.dtype, D.dtype]:
    """Tensors for both operands, the compute dtype and the result dtype."""
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb and a.dtype is b.dtype and a.dtype.category == 2 and op not in LOGICAL:
        ia, ib = a._impl, b._impl
        if ia.device_type == ib.device_type and ia.device_index == ib.device_index:
            # the common case: two floating tensors of one dtype on one device
            return a, b, compute_dtype(a.dtype), D.bool_ if op in COMPARE else a.dtype
    if not ta and not tb:
        raise TypeError(f"ember.{op}: expected at least one Tensor operand")
    for x in (a, b):
        if not isinstance(x, Tensor) and not is_number(x):
            raise TypeError(f"ember.{op}: unsupported operand type {type(x).__name__}")
    if ta and tb and a.device != b.device:
        # 0-d CPU tensors act as scalars on any device (as in PyTorch)
        if b.ndim == 0 and not b.is_cuda:
            b = b.item()
            tb = False
        elif a.ndim == 0 and not a.is_cuda:
            a = a.item()
            ta = False
        else:
            raise ValueError(
                f"ember.{op}: expected all tensors on the same device, got {a.device} and "
                f"{b.device}"
            )

    def key(x: Any, is_t: bool) -> tuple:
        return (x.dtype, x.ndim == 0) if is_t else (D.scalar_dtype(x, op), D.WRAPPED_NUMBER)

    common = D.result_type(key(a, ta), key(b, tb))
    if op in LOGICAL:
        common = D.bool_
    elif op == "div" and not common.is_floating_point:
        common = D.get_default_dtype()
    cdt = compute_dtype(common)
    if op in ("add", "sub", "mul") and cdt is D.bool_:
        raise TypeError(f"ember.{op}: not supported for bool tensors; use logical ops")
    if op == "sub" and D.bool_ in (key(a, ta)[0], key(b, tb)[0]):
        # PyTorch refuses it too: x - mask most likely meant x & ~mask or x - mask.int()
        raise TypeError(
            "ember.sub: subtraction with a bool operand is not supported; use logical_not "
            "or convert the bool operand with .int() first"
        )
    result = D.bool_ if op in COMPARE or op in LOGICAL else common
    dev = a.device if ta else b.device
    for x, is_t in ((a, ta), (b, tb)):
        if not is_t and common.category == 1:
            # a number that doesn't fit the integer type would wrap (torch) or saturate (a
            # cast): both answer wrongly, e.g. int8 < 200 False
            D.check_scalar(x, common, op)
    if op == "pow" and not tb and cdt is D.float32 and not _exact_in_float32(b):
        # torch keeps a number exponent in double: 16777217 must stay odd, 1e-249 nonzero
        cdt = D.float64
    a = a if ta else full_scalar(a, cdt, dev)
    b = b if tb else full_scalar(b, cdt, dev)
    return a, b, cdt, result


class Binary(Function):
    """out = op(a, b) with broadcasting; see ARITH / COMPARE / LOGICAL for the ops."""

    @staticmethod
    def forward(ctx: Context, a: Tensor, b: Tensor, op: str, cdt: D.dtype, rdt: D.dtype):
        shape = broadcast_shapes(a.shape, b.shape, op=op)
        out_dt = D.bool_ if rdt is D.bool_ else cdt
        out = empty(shape, out_dt, a.device)
        kernels(a.device, op, "binary").binary(
            op, cast(a, cdt)._impl, cast(b, cdt)._impl, out._impl
        )
        out = cast(out, rdt)
        ctx.op = op
        ctx.shapes = (a.shape, b.shape)
        need_a, need_b = (ctx.needs_input_grad + (False, False))[:2]
        # Save only what the requested gradients read, so in-place updates of the
        # other operand stay legal.
        if op == "mul":
            ctx.save_for_backward(b if need_a else None, a if need_b else None)
        elif op == "div":
            ctx.save_for_backward(b, out if need_b else None)
        elif op in ("pow", "maximum", "minimum"):
            ctx.save_for_backward(a, b, out if op == "pow" else None)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        op = ctx.op
        need_a, need_b = ctx.needs_input_grad[:2]
        ga = gb = None
        if op == "add":
            ga, gb = g, g
        elif op == "sub":
            ga, gb = g, (-g if need_b else None)
        elif op == "mul":
            b, a = ctx.saved_tensors
            ga = g * b if need_a else None
            gb = g * a if need_b else None
        elif op == "div":
            b, out = ctx.saved_tensors
            ga = g / b if need_a else None
            gb = -g * out / b if need_b else None
        elif op == "pow":
            a, b, out = ctx.saved_tensors
            if need_a:
                ga = g * b * a ** (b - 1)
            if need_b:
                gb = where(a == 0, 0.0, g * out * a.log())
        elif op in ("maximum", "minimum"):
            a, b, _ = ctx.saved_tensors
            win = (a > b) if op == "maximum" else (a < b)
            share = win.to(g.dtype) + (a == b).to(g.dtype) * 0.5
            ga = g * share if need_a else None
            gb = g * (1.0 - share) if need_b else None
        else:
            return None, None, None, None, None
        sa, sb = ctx.shapes
        return (
            None if ga is None else sum_to(ga, sa),
            None if gb is None else sum_to(gb, sb),
            None,
            None,
            None,
        )


def _make_binary(op: str) -> Callable[[Any, Any], Tensor]:
    # A subclass per op so that grad_fn reads e.g. <MulBackward>.
    name = "".join(p.capitalize() for p in op.split("_"))
    cls = type(name, (Binary,), {})

    fast = op not in LOGICAL

    # pow keeps a number exponent in float64 (see _operands), so its scalar form stays slow
    fast_scalar = fast and op != "pow"

    def fn(input: Any, other: Any) -> Tensor:
        if fast and isinstance(input, Tensor):
            ia = input._impl
            code = ia.dtype
            if code in _FAST_CODES and not ia.device_type:
                if isinstance(other, Tensor):
                    ib = other._impl
                    if ib.dtype == code and not ib.device_type and records_nothing(input, other):
                        return Tensor(_C.binary(op, ia, ib, None))
                elif fast_scalar and _plain_number(other) and records_nothing(input):
                    return Tensor(_C.binary_scalar(op, ia, other, False))
        elif fast_scalar and isinstance(other, Tensor) and _plain_number(input):
            ib = other._impl
            if ib.dtype in _FAST_CODES and not ib.device_type and records_nothing(other):
                return Tensor(_C.binary_scalar(op, ib, input, True))
        a, b, cdt, rdt = _operands(op, input, other)
        return cls.apply(a, b, op, cdt, rdt)

    fn.__name__ = op
    fn.__qualname__ = "ember." + op  # Python's own TypeErrors print the qualname
    fn.__doc__ = (
        f"Elementwise ``{op}`` of two tensors (or a tensor and a number) with numpy "
        "broadcasting and PyTorch type promotion.\n\nShape: broadcast(input.shape, other.shape)."
    )
    return fn


_add = _make_binary("add")
_sub = _make_binary("sub")
mul = _make_binary("mul")
div = _make_binary("div")
pow = _make_binary("pow")  # noqa: A001 - torch's name
maximum = _make_binary("maximum")
minimum = _make_binary("minimum")
eq = _make_binary("eq")
ne = _make_binary("ne")
lt = _make_binary("lt")
le = _make_binary("le")
gt = _make_binary("gt")
ge = _make_binary("ge")
logical_and = _make_binary("logical_and")
logical_or = _make_binary("logical_or")
logical_xor = _make_binary("logical_xor")
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def _scaled(op: str, other: Any, alpha: Any) -> Any:
    """alpha * other for add/sub's ``alpha=`` (other unchanged for alpha == 1)."""
    if isinstance(alpha, bool) or not is_number(alpha):
        raise TypeError(f"ember.{op}: alpha must be a number, got {alpha!r}")
    if alpha == 1:
        return other
    if isinstance(other, Tensor):
        if not other.dtype.is_floating_point and not float(alpha).is_integer():
            raise TypeError(
                f"ember.{op}: a float alpha needs a floating-point other, got {other.dtype}"
            )
        return mul(other, alpha)
    return other * alpha


def add(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """input + alpha * other, with numpy broadcasting and PyTorch type promotion.

    Shape: broadcast(input.shape, other.shape).
    """
    return _add(input, _scaled("add", other, alpha))


def sub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """input - alpha * other, with numpy broadcasting and PyTorch type promotion.

    Shape: broadcast(input.shape, other.shape).
    """
    return _sub(input, _scaled("sub", other, alpha))


subtract, multiply, divide, true_divide = sub, mul, div, div


def logical_not(x: Tensor) -> Tensor:
    """Elementwise not (bool result). Shape: same as x."""
    return eq(x.bool() if x.dtype is not D.bool_ else x, False)


# ---- where ----------------------------------------------------------------------------
class Where(Function):
    @staticmethod
    def forward(ctx: Context, cond: Tensor, a: Tensor, b: Tensor, dt: D.dtype) -> Tensor:
        shape = broadcast_shapes(cond.shape, a.shape, b.shape, op="where")
        out = empty(shape, dt, a.device)
        kernels(a.device, "where", "where").where(
            cast(cond, D.bool_)._impl, cast(a, dt)._impl, cast(b, dt)._impl, out._impl
        )
        ctx.save_for_backward(cond)
        ctx.shapes = (a.shape, b.shape)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        (cond,) = ctx.saved_tensors
        zero = full_scalar(0, g.dtype, g.device)
        ga = sum_to(where(cond, g, zero), ctx.shapes[0]) if ctx.needs_input_grad[1] else None
        gb = sum_to(where(cond, zero, g), ctx.shapes[1]) if ctx.needs_input_grad[2] else None
        return None, ga, gb, None


def where(condition: Tensor, input: Any = None, other: Any = None) -> Any:
    """Elementwise ``input if condition else other``; ``where(condition)`` alone is
    ``nonzero(condition, as_tuple=True)``.

    Shape: broadcast(condition.shape, input.shape, other.shape).
    """
    if input is None and other is None and isinstance(condition, Tensor):
        return condition.nonzero(as_tuple=True)  # scan.py sits above this module
    if input is None or other is None:
        raise TypeError("ember.where: give both input and other, or neither")
    if not isinstance(condition, Tensor):
        raise TypeError(f"ember.where: condition must be a Tensor, got {type(condition).__name__}")
    if condition.dtype is not D.bool_:
        raise TypeError(f"ember.where: condition must be a bool tensor, got {condition.dtype}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = full_scalar(input, D.scalar_dtype(input, "where"), condition.device)
    a, b, _, rdt = _operands("where", input, other)
    if a.device != condition.device:
        raise ValueError(f"ember.where: condition is on {condition.device}, values on {a.device}")
    return Where.apply(condition, a, b, rdt)


def masked_fill(x: Tensor, mask: Tensor, value: Any) -> Tensor:
    """x with ``value`` where mask is true. Shape: same as x (mask broadcasts)."""
    if not isinstance(mask, Tensor) or mask.dtype is not D.bool_:
        raise TypeError("ember.masked_fill: mask must be a bool tensor")
    broadcast_shapes(x.shape, mask.shape, op="masked_fill")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(
                f"ember.masked_fill: value must be a number or a 0-d tensor, got shape "
                f"{value.shape}"
            )
    else:
        D.check_scalar(value, x.dtype, "masked_fill")
        value = full_scalar(value, x.dtype, x.device)
    out = where(mask, value.to(x.dtype), x)
    if tuple(out.shape) != tuple(x.shape):
        raise ValueError(
            f"ember.masked_fill: mask of shape {mask.shape} does not broadcast to {x.shape}"
        )
    return out


# ---- unary ----------------------------------------------------------------------------
class Unary(Function):
    """out = op(x); subclasses per op name so grad_fn reads e.g. <ExpBackward>."""

    op = ""

    @staticmethod
    def forward(ctx: Context, x: Tensor, op: str, alpha: float, beta: float) -> Tensor:
        keep_int = op in INT_UNARY and not x.dtype.is_floating_point
        if x.dtype is D.bool_ and op != "relu":
            raise TypeError(f"ember.{op}: not supported for bool tensors")
        cdt = (
            x.dtype
            if keep_int
            else compute_dtype(x.dtype if x.dtype.is_floating_point else D.get_default_dtype())
        )
        rdt = x.dtype if x.dtype.is_floating_point or keep_int else cdt
        xc = cast(x, cdt)
        out = empty(x.shape, cdt, x.device)
        kernels(x.device, op, "unary").unary(op, xc._impl, out._impl, alpha, beta)
        ctx.op, ctx.alpha, ctx.beta = op, alpha, beta
        # Save only what backward reads: x's in-place forms (exp_, relu_) overwrite x.
        ctx.save_for_backward(
            None if op in READS_Y_ONLY or op in ROUNDING else x,
            None if op in ROUNDING else out,
        )
        return cast(out, rdt)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        x, y = ctx.saved_tensors
        op = ctx.op
        if op in ROUNDING:
            return (
                expand(full_scalar(0.0, g.dtype, g.device), g.shape).contiguous(),
                None,
                None,
                None,
            )
        if op in FUSED_BACKWARD:
            cdt = y.dtype
            xc = y if x is None else cast(x, cdt).contiguous()  # the kernel then reads y only
            gc = cast(g, cdt).contiguous()
            gx = empty(y.shape, cdt, y.device)
            kernels(y.device, op, "unary_backward").unary_backward(
                op, xc._impl, y._impl, gc._impl, gx._impl, ctx.alpha, ctx.beta
            )
            return gx, None, None, None
        if op == "neg":
            gx = -g
        elif op == "abs":
            gx = g * (x > 0).to(g.dtype) - g * (x < 0).to(g.dtype)
        elif op == "exp":
            gx = g * y
        elif op == "log":
            gx = g / x
        elif op == "sqrt":
            gx = g / (y * 2.0)
        elif op == "rsqrt":
            gx = g * y * y * y * -0.5
        elif op == "sin":
            gx = g * x.cos()
        elif op == "cos":
            gx = -(g * x.sin())
        elif op == "log1p":
            gx = g / (x + 1.0)
        elif op == "expm1":
            gx = g * (y + 1.0)
        elif op == "erf":
            gx = g * ((x * x).neg().exp() * _TWO_OVER_SQRT_PI)
        else:
            raise AssertionError(op)
        return gx, None, None, None


_UNARY_CLASSES: dict[str, type] = {}


def _unary(x: Tensor, op: str, alpha: float = 0.0, beta: float = 0.0) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"ember.{op}: expected a Tensor, got {type(x).__name__}")
    impl = x._impl
    if impl.dtype in _FAST_CODES and impl.device_type == 0 and records_nothing(x):
        return Tensor(_C.unary(op, impl, None, alpha, beta))
    cls = _UNARY_CLASSES.get(op)
    if cls is None:
        name = "".join(p.capitalize() for p in op.split("_"))
        cls = _UNARY_CLASSES[op] = type(name, (Unary,), {"op": op})
    return cls.apply(x, op, alpha, beta)


def _make_unary(op: str, doc: str) -> Callable[[Tensor], Tensor]:
    def fn(input: Tensor) -> Tensor:
        return _unary(input, op)

    fn.__name__ = op
    fn.__qualname__ = "ember." + op
    fn.__doc__ = f"{doc}\n\nShape: same as input."
    return fn


neg = _make_unary("neg", "Elementwise negation -x.")
abs = _make_unary("abs", "Elementwise absolute value |x|.")  # noqa: A001
exp = _make_unary("exp", "Elementwise e**x.")
log = _make_unary("log", "Elementwise natural logarithm.")
sqrt = _make_unary("sqrt", "Elementwise square root.")
rsqrt = _make_unary("rsqrt", "Elementwise 1/sqrt(x).")
sin = _make_unary("sin", "Elementwise sine.")
cos = _make_unary("cos", "Elementwise cosine.")
tanh = _make_unary("tanh", "Elementwise hyperbolic tangent.")
sigmoid = _make_unary("sigmoid", "Elementwise logistic sigmoid 1/(1+exp(-x)).")
relu = _make_unary("relu", "Elementwise max(x, 0).")
silu = _make_unary("silu", "Elementwise x*sigmoid(x) (swish).")
log1p = _make_unary("log1p", "Elementwise log(1 + x), accurate for small x.")
expm1 = _make_unary("expm1", "Elementwise exp(x) - 1, accurate for small x.")
erf = _make_unary("erf", "Elementwise error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt.")
negative = neg


def _rounding(x: Tensor, op: str, decimals: int = 0) -> Tensor:
    if isinstance(x, Tensor) and x.dtype is not D.bool_ and not x.dtype.is_floating_point:
        # integers are already integral: a copy, as PyTorch
        return x.clone()
    return _unary(x, op, float(decimals))


def floor(input: Tensor) -> Tensor:
    """Largest integer <= x, per element (same dtype; gradient zero).

    Shape: same as input.
    """
    return _rounding(input, "floor")


def ceil(input: Tensor) -> Tensor:
    """Smallest integer >= x, per element (same dtype; gradient zero).

    Shape: same as input.
    """
    return _rounding(input, "ceil")


def trunc(input: Tensor) -> Tensor:
    """x rounded toward zero, per element (same dtype; gradient zero).

    Shape: same as input.
    """
    return _rounding(input, "trunc")


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - torch's name
    """x rounded to the nearest integer, halves to even (``round(2.5) == 2``), as PyTorch;
    ``decimals=d`` rounds x * 10**d and divides back (d < 0: x / 10**-d, multiplied back).
    Gradient zero.

    Shape: same as input.
    """
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise TypeError(f"ember.round: decimals must be an int, got {decimals!r}")
    if decimals != 0 and isinstance(input, Tensor) and not input.dtype.is_floating_point:
        raise TypeError(
            f"ember.round: decimals is only supported for floating tensors, got {input.dtype.name}"
        )
    return _rounding(input, "round", decimals)


fix = trunc


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU: x*Phi(x) (``approximate='none'``, erf form) or its tanh approximation
    (``approximate='tanh'``).

    Shape: same as input.
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"ember.gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _unary(input, "gelu" if approximate == "none" else "gelu_tanh")


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Clamp every element into [min, max] (either bound may be None or a tensor).
    Number bounds promote like any operand (an int tensor with 0.5 gives float32); a
    NaN bound gives NaN everywhere, as in PyTorch.

    Shape: same as input.
    """
    if min is None and max is None:
        raise ValueError("ember.clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    if not isinstance(input, Tensor):
        raise TypeError(f"ember.clamp: expected a Tensor, got {type(input).__name__}")
    bounds = [v for v in (min, max) if v is not None]
    for v in bounds:
        if not is_number(v):
            raise TypeError(f"ember.clamp: bounds must be numbers or tensors, got {v!r}")
    # PyTorch promotes: an int tensor clamped to float bounds gives floats
    dt = D.result_type(
        (input.dtype, input.ndim == 0),
        *[(D.scalar_dtype(v, "clamp"), D.WRAPPED_NUMBER) for v in bounds],
    )
    for v in bounds:
        D.check_scalar(v, dt, "clamp")
    lo = -math.inf if min is None else float(min)
    hi = math.inf if max is None else float(max)
    out = _unary(input if dt is input.dtype else input.to(dt), "clamp", lo, hi)
    if math.isnan(lo) or math.isnan(hi):
        # PyTorch propagates a NaN bound to every element (and a zero gradient); the
        # kernel's min/max would drop it
        return where(full_scalar(True, D.bool_, out.device), math.nan, out)
    return out


clip = clamp


def lerp(input: Tensor, end: Any, weight: Any) -> Tensor:
    """input + weight * (end - input), evaluated as PyTorch does (from ``end`` when
    |weight| >= 0.5, so weight = 1 gives end exactly); differentiable in all three.

    Shape: broadcast(input.shape, end.shape, weight.shape).
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"ember.lerp: expected a Tensor, got {type(input).__name__}")
    if not isinstance(end, Tensor):
        raise TypeError(f"ember.lerp: end must be a Tensor, got {type(end).__name__}")
    if not isinstance(weight, Tensor) and not is_number(weight):
        raise TypeError(f"ember.lerp: weight must be a number or a Tensor, got {weight!r}")
    diff = end - input
    if not isinstance(weight, Tensor):
        w = float(weight)
        return input + diff * w if builtins.abs(w) < 0.5 else end - diff * (1.0 - w)
    return where(weight.abs() < 0.5, input + weight * diff, end - diff * (1.0 - weight))


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both tensors have the same shape and equal elements (NaN != NaN)."""
    for t in (input, other):
        if not isinstance(t, Tensor):
            raise TypeError(f"ember.equal: expected Tensors, got {type(t).__name__}")
    if tuple(input.shape) != tuple(other.shape):
        return False
    return builtins.bool(eq(input, other).all().item())


def square(x: Tensor) -> Tensor:
    """x * x. Shape: same as x."""
    return mul(x, x)


def reciprocal(x: Tensor) -> Tensor:
    """1 / x. Shape: same as x."""
    return div(1.0, x)


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 per element (same dtype). Shape: same as x."""
    return ((x > 0).to(x.dtype) - (x < 0).to(x.dtype)).detach()


def isnan(x: Tensor) -> Tensor:
    """True where x is NaN. Shape: same as x."""
    return ne(x, x)


def isinf(x: Tensor) -> Tensor:
    """True where x is +-inf. Shape: same as x."""
    return eq(abs(x.detach()), math.inf) if x.dtype.is_floating_point else ne(x, x)


def isfinite(x: Tensor) -> Tensor:
    """True where x is neither NaN nor infinite. Shape: same as x."""
    if not x.dtype.is_floating_point:
        return eq(x, x)
    return lt(abs(x.detach()), math.inf)


def isclose(
    input: Tensor, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Tensor:
    """|input - other| <= atol + rtol * |other| elementwise (infinities equal themselves).

    Shape: broadcast(input.shape, other.shape).
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"ember.isclose: expected a Tensor, got {type(input).__name__}")
    if rtol < 0 or atol < 0:
        raise ValueError(f"ember.isclose: rtol and atol must be non-negative, got {rtol}, {atol}")
    b = other.detach() if isinstance(other, Tensor) else other
    a = input.detach()
    # PyTorch's rule: equal, or a finite error within the tolerance (so inf != -inf)
    error = abs(sub(a, b))
    allowed = abs(b) * rtol + atol if isinstance(b, Tensor) else builtins.abs(b) * rtol + atol
    close = eq(a, b) | (isfinite(error) & le(error, allowed))
    if equal_nan:
        close = close | (isnan(a) & (isnan(b) if isinstance(b, Tensor) else b != b))
    return close


def allclose(
    input: Tensor, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    """True when every element of input is close to other's (see :func:`isclose`)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


# ---- in place ---------------------------------------------------------------------------
def apply_inplace(
    x: Tensor,
    op: str,
    compute: Callable[[], Tensor],
    others: tuple = (),
    fast: Callable[[], bool] | None = None,
) -> Tensor:
    """Run an in-place op on x: ``compute()`` gives the out-of-place result, which is
    written into x's memory. ``fast()`` may do the whole update in place itself (it
    returns False when it can't). With autograd on, x's history is rebased onto the
    result, PyTorch-style. x must be writable (not read-only memory, no two elements on
    one address): checked first, so the error names the op the user called."""
    x._check_writable(op)
    grad_on = is_grad_enabled()
    graph = grad_on and (
        x.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in others)
    )
    if grad_on and x.requires_grad and x.is_leaf:
        raise RuntimeError(
            f"ember.{op}: a leaf tensor that requires grad is being used in an in-place "
            "operation; wrap it in `with ember.no_grad():`"
        )
    if graph and x._base is not None:
        raise RuntimeError(
            f"ember.{op}: in-place operations on a view of a tensor that is part of an "
            "autograd graph are not supported; use the out-of-place form"
        )
    if not graph and fast is not None:
        with no_grad():
            if fast():
                x._bump_version()
                return x
    if graph:
        result = compute()
    else:
        with no_grad():
            result = compute()
    if tuple(result.shape) != tuple(x.shape):
        raise ValueError(
            f"ember.{op}: the result of shape {tuple(result.shape)} can't be written into a "
            f"tensor of shape {tuple(x.shape)}"
        )
    if result.dtype.category > x.dtype.category:
        raise TypeError(
            f"ember.{op}: result type {result.dtype.name} can't be cast to the in-place "
            f"output type {x.dtype.name}"
        )
    copy_into(result, x)
    x._bump_version()
    if graph and result.requires_grad:
        x.grad_fn = result.grad_fn
        x._output_nr = result._output_nr
        x._requires_grad = True
    return x


def _inplace_binary(op: str) -> Callable[..., Tensor]:
    fn = globals()[op]

    def inplace(self: Tensor, other: Any) -> Tensor:
        if isinstance(other, int) and not isinstance(other, bool):
            D.check_python_int(other, op + "_")  # the fast path skips _operands

        def fast() -> bool:
            if isinstance(other, Tensor) and (
                other.device != self.device or other.dtype is not self.dtype
            ):
                return False
            if not isinstance(other, Tensor) and not is_number(other):
                return False
            if self.dtype not in (D.float32, D.float64) or (
                isinstance(other, Tensor)
                and broadcast_shapes(self.shape, other.shape, op=op) != tuple(self.shape)
            ):
                return False
            b = other if isinstance(other, Tensor) else full_scalar(other, self.dtype, self.device)
            kernels(self.device, op, "binary").binary(op, self._impl, b._impl, self._impl)
            return True

        return apply_inplace(self, op + "_", lambda: fn(self, other), (other,), fast)

    inplace.__name__ = op + "_"
    inplace.__qualname__ = f"ember.{op}_"
    inplace.__doc__ = f"In-place {op}: self = {op}(self, other); returns self."
    return inplace


_add_ = _inplace_binary("add")
_sub_ = _inplace_binary("sub")


def add_(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    """In-place self += alpha * other (``p.data.add_(p.grad, alpha=-lr)``); returns self."""
    return _add_(self, _scaled("add_", other, alpha))


def sub_(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    """In-place self -= alpha * other; returns self."""
    return _sub_(self, _scaled("sub_", other, alpha))


add_.__qualname__, sub_.__qualname__ = "ember.add_", "ember.sub_"
mul_ = _inplace_binary("mul")
div_ = _inplace_binary("div")
pow_ = _inplace_binary("pow")


def _inplace_unary(
    name: str, fn: Callable[..., Tensor], reads_input: bool = False
) -> Callable[..., Tensor]:
    """``reads_input``: fn's backward reads its input, which the in-place write
    overwrites; under autograd fn then runs on a copy (PyTorch saves the original too)."""

    def inplace(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        def compute() -> Tensor:
            keep = reads_input and is_grad_enabled() and self.requires_grad
            return fn(self.clone() if keep else self, *args, **kwargs)

        return apply_inplace(self, name + "_", compute)

    inplace.__name__ = name + "_"
    inplace.__qualname__ = f"ember.{name}_"
    inplace.__doc__ = f"In-place {name}; returns self."
    return inplace


def fill_(x: Tensor, value: Any) -> Tensor:
    """Set every element to value; returns x."""

    if not isinstance(value, Tensor):
        D.check_scalar(value, x.dtype, "fill_")

    def fast() -> bool:
        kernels(x.device, "fill_", "fill").fill(
            x._impl, value.item() if isinstance(value, Tensor) else value
        )
        return True

    def compute() -> Tensor:
        v = value if isinstance(value, Tensor) else full_scalar(value, x.dtype, x.device)
        return expand(v.to(x.dtype), x.shape)

    return apply_inplace(x, "fill_", compute, (value,), fast)


def zero_(x: Tensor) -> Tensor:
    """Set every element to 0; returns x."""
    return fill_(x, 0)
