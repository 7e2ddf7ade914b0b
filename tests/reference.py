"""Independent float64 references shared by the kernel, op and CUDA tests: the op lists
and numpy formulas for every elementwise op and its derivative."""

import math

import numpy as np

UNARY_OPS = [
    "neg",
    "abs",
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "relu",
    "gelu",
    "gelu_tanh",
    "silu",
    "clamp",
    "floor",
    "ceil",
    "trunc",
    "round",
    "log1p",
    "expm1",
    "erf",
]
INT_UNARY_OPS = ["neg", "abs", "relu", "clamp"]
BACKWARD_OPS = ["tanh", "sigmoid", "relu", "gelu", "gelu_tanh", "silu", "clamp"]
ARITH_OPS = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]
COMPARE_OPS = ["eq", "ne", "lt", "le", "gt", "ge"]
LOGICAL_OPS = ["logical_and", "logical_or", "logical_xor"]

GELU_K = math.sqrt(2.0 / math.pi)
GELU_C = 0.044715
erf = np.vectorize(math.erf, otypes=[np.float64])


def sigmoid64(x):
    x = np.asarray(x, np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def unary_ref(op, x, lo=-0.75, hi=1.5):
    """op(x) in float64 (clamp to [lo, hi])."""
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        return {
            "neg": lambda: -x,
            "abs": lambda: np.abs(x),
            "exp": lambda: np.exp(x),
            "log": lambda: np.log(x),
            "sqrt": lambda: np.sqrt(x),
            "rsqrt": lambda: 1.0 / np.sqrt(x),
            "sin": lambda: np.sin(x),
            "cos": lambda: np.cos(x),
            "tanh": lambda: np.tanh(x),
            "sigmoid": lambda: sigmoid64(x),
            "relu": lambda: np.maximum(x, 0.0),
            "gelu": lambda: x * 0.5 * (1.0 + erf(x / math.sqrt(2.0))),
            "gelu_tanh": lambda: 0.5 * x * (1.0 + np.tanh(GELU_K * (x + GELU_C * x**3))),
            "silu": lambda: x * sigmoid64(x),
            "clamp": lambda: np.minimum(np.maximum(x, lo), hi),
            "floor": lambda: np.floor(x),
            "ceil": lambda: np.ceil(x),
            "trunc": lambda: np.trunc(x),
            "round": lambda: np.round(x),  # half to even
            "log1p": lambda: np.log1p(x),
            "expm1": lambda: np.expm1(x),
            "erf": lambda: erf(x),
        }[op]()


def grad_ref(op, x, g, lo=-0.75, hi=1.5):
    """g * d op / dx in float64, from the analytic derivatives."""
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    if op == "tanh":
        return g * (1.0 - np.tanh(x) ** 2)
    if op == "sigmoid":
        s = sigmoid64(x)
        return g * s * (1.0 - s)
    if op == "relu":
        return np.where(x > 0, g, 0.0)
    if op == "gelu":
        cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return g * (cdf + x * pdf)
    if op == "gelu_tanh":
        t = np.tanh(GELU_K * (x + GELU_C * x**3))
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_K * (1 + 3 * GELU_C * x * x))
    if op == "silu":
        s = sigmoid64(x)
        return g * s * (1.0 + x * (1.0 - s))
    if op == "clamp":
        return np.where((x >= lo) & (x <= hi), g, 0.0)
    raise AssertionError(op)
