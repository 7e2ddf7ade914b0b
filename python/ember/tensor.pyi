"""Type stub of ember.tensor: the Tensor class with every method, including those that
ember.ops attaches when the package loads (math, indexing, operators, ``to``,
``backward``). tests/test_public_api.py checks it against the runtime class: when a
method is added or changes its parameters, update it here."""

import builtins
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import _dtype as D
from ._device import device

class Tensor:
    """An n-dimensional array on the CPU or a CUDA device, with autograd."""

    def __init__(self, impl: Any, *, _base: Tensor | None = None) -> None: ...
    grad: Tensor | None
    grad_fn: Any
    __array_priority__: builtins.int
    _accumulator: Any
    _base: Tensor | None
    _impl: Any
    _output_nr: builtins.int
    _requires_grad: builtins.bool
    _version_box: list[builtins.int]
    @property
    def shape(self) -> tuple[builtins.int, ...]: ...
    def size(self, dim: builtins.int | None = None) -> Any:
        """The shape, or the length of one dimension."""
    @property
    def dtype(self) -> D.dtype: ...
    @property
    def device(self) -> device: ...
    @property
    def is_cuda(self) -> builtins.bool: ...
    @property
    def ndim(self) -> builtins.int: ...
    def dim(self) -> builtins.int: ...
    def numel(self) -> builtins.int: ...
    def stride(self, dim: builtins.int | None = None) -> Any: ...
    def storage_offset(self) -> builtins.int: ...
    def is_contiguous(self) -> builtins.bool: ...
    def data_ptr(self) -> builtins.int: ...
    def element_size(self) -> builtins.int: ...
    @property
    def itemsize(self) -> builtins.int: ...
    @property
    def nbytes(self) -> builtins.int: ...
    def is_floating_point(self) -> builtins.bool: ...
    @property
    def _version(self) -> builtins.int: ...
    def _bump_version(self) -> None: ...
    def _check_writable(self, op: str) -> None: ...
    @property
    def requires_grad(self) -> builtins.bool: ...
    @requires_grad.setter
    def requires_grad(self, flag: builtins.bool) -> None: ...
    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        """Set requires_grad in place; returns self."""
    @property
    def is_leaf(self) -> builtins.bool: ...
    def detach(self) -> Tensor:
        """A tensor sharing storage, cut from the graph."""
    def detach_(self) -> Tensor: ...
    @property
    def data(self) -> Tensor: ...
    @data.setter
    def data(self, value: Tensor) -> None: ...
    def numpy(self) -> np.ndarray:
        """A numpy array sharing this tensor's memory (CPU tensors only)."""
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray: ...
    def _printable(self) -> np.ndarray: ...
    def tolist(self) -> Any:
        """Nested Python lists (a number for a 0-d tensor)."""
    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
    def __float__(self) -> builtins.float: ...
    def __int__(self) -> builtins.int: ...
    def __index__(self) -> builtins.int: ...
    def __bool__(self) -> builtins.bool: ...
    def __len__(self) -> builtins.int: ...
    def __iter__(self) -> Iterator[Tensor]: ...
    def __hash__(self) -> builtins.int: ...
    def __repr__(self) -> str: ...
    def __format__(self, spec: str) -> str: ...
    def __dlpack__(self, stream: Any = None, **kwargs: Any) -> Any: ...
    def __dlpack_device__(self) -> tuple[builtins.int, builtins.int]: ...
    def cpu(self) -> Tensor: ...
    def cuda(self, device: builtins.int | str | None = None) -> Tensor: ...
    def record_stream(self, stream: Any) -> None: ...
    def type(self, dtype: Any = None) -> Any: ...
    def float(self) -> Tensor: ...
    def double(self) -> Tensor: ...
    def half(self) -> Tensor: ...
    def bfloat16(self) -> Tensor: ...
    def long(self) -> Tensor: ...
    def int(self) -> Tensor: ...
    def bool(self) -> Tensor: ...
    def char(self) -> Tensor: ...
    def add(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """self + alpha * other with numpy broadcasting and PyTorch type promotion."""
    def sub(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """self - alpha * other with numpy broadcasting and PyTorch type promotion."""
    def mul(self, other: Any) -> Tensor:
        """Elementwise ``mul`` of two tensors (or a tensor and a number) with numpy broadcasting
        and PyTorch type promotion."""
    def div(self, other: Any) -> Tensor:
        """Elementwise ``div`` of two tensors (or a tensor and a number) with numpy broadcasting
        and PyTorch type promotion."""
    def pow(self, other: Any) -> Tensor:
        """Elementwise ``pow`` of two tensors (or a tensor and a number) with numpy broadcasting
        and PyTorch type promotion."""
    def maximum(self, other: Any) -> Tensor:
        """Elementwise ``maximum`` of two tensors (or a tensor and a number) with numpy
        broadcasting and PyTorch type promotion."""
    def minimum(self, other: Any) -> Tensor:
        """Elementwise ``minimum`` of two tensors (or a tensor and a number) with numpy
        broadcasting and PyTorch type promotion."""
    def eq(self, other: Any) -> Tensor:
        """Elementwise ``eq`` of two tensors (or a tensor and a number) with numpy broadcasting and
        PyTorch type promotion."""
    def ne(self, other: Any) -> Tensor:
        """Elementwise ``ne`` of two tensors (or a tensor and a number) with numpy broadcasting and
        PyTorch type promotion."""
    def lt(self, other: Any) -> Tensor:
        """Elementwise ``lt`` of two tensors (or a tensor and a number) with numpy broadcasting and
        PyTorch type promotion."""
    def le(self, other: Any) -> Tensor:
        """Elementwise ``le`` of two tensors (or a tensor and a number) with numpy broadcasting and
        PyTorch type promotion."""
    def gt(self, other: Any) -> Tensor:
        """Elementwise ``gt`` of two tensors (or a tensor and a number) with numpy broadcasting and
        PyTorch type promotion."""
    def ge(self, other: Any) -> Tensor:
        """Elementwise ``ge`` of two tensors (or a tensor and a number) with numpy broadcasting and
        PyTorch type promotion."""
    def logical_and(self, other: Any) -> Tensor:
        """Elementwise ``logical_and`` of two tensors (or a tensor and a number) with numpy
        broadcasting and PyTorch type promotion."""
    def logical_or(self, other: Any) -> Tensor:
        """Elementwise ``logical_or`` of two tensors (or a tensor and a number) with numpy
        broadcasting and PyTorch type promotion."""
    def logical_xor(self, other: Any) -> Tensor:
        """Elementwise ``logical_xor`` of two tensors (or a tensor and a number) with numpy
        broadcasting and PyTorch type promotion."""
    def logical_not(self) -> Tensor:
        """Elementwise not (bool result). Shape: same as x."""
    def where(self, cond: Tensor, other: Any) -> Tensor: ...
    def neg(self) -> Tensor:
        """Elementwise negation -x."""
    def abs(self) -> Tensor:
        """Elementwise absolute value |x|."""
    def exp(self) -> Tensor:
        """Elementwise e**x."""
    def log(self) -> Tensor:
        """Elementwise natural logarithm."""
    def sqrt(self) -> Tensor:
        """Elementwise square root."""
    def rsqrt(self) -> Tensor:
        """Elementwise 1/sqrt(x)."""
    def sin(self) -> Tensor:
        """Elementwise sine."""
    def cos(self) -> Tensor:
        """Elementwise cosine."""
    def floor(self) -> Tensor:
        """Largest integer <= x, per element (same dtype; gradient zero)."""
    def ceil(self) -> Tensor:
        """Smallest integer >= x, per element (same dtype; gradient zero)."""
    def trunc(self) -> Tensor:
        """x rounded toward zero, per element (same dtype; gradient zero)."""
    def fix(self) -> Tensor:
        """x rounded toward zero, per element (same dtype; gradient zero)."""
    def round(self, *, decimals: builtins.int = 0) -> Tensor:
        """x rounded to the nearest integer, halves to even, as PyTorch; ``decimals=d``
        rounds x * 10**d and divides back."""
    def log1p(self) -> Tensor:
        """Elementwise log(1 + x), accurate for small x."""
    def expm1(self) -> Tensor:
        """Elementwise exp(x) - 1, accurate for small x."""
    def erf(self) -> Tensor:
        """Elementwise error function."""
    def lerp(self, end: Tensor, weight: Any) -> Tensor:
        """self + weight * (end - self), evaluated as PyTorch does."""
    def equal(self, other: Tensor) -> builtins.bool:
        """True when both tensors have the same shape and equal elements."""
    def tanh(self) -> Tensor:
        """Elementwise hyperbolic tangent."""
    def sigmoid(self) -> Tensor:
        """Elementwise logistic sigmoid 1/(1+exp(-x))."""
    def relu(self) -> Tensor:
        """Elementwise max(x, 0)."""
    def gelu(self, approximate: str = "none") -> Tensor:
        """GELU: x*Phi(x) (``approximate='none'``, erf form) or its tanh approximation
        (``approximate='tanh'``)."""
    def silu(self) -> Tensor:
        """Elementwise x*sigmoid(x) (swish)."""
    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        """Clamp every element into [min, max] (either bound may be None or a tensor)."""
    def clip(self, min: Any = None, max: Any = None) -> Tensor:
        """Clamp every element into [min, max] (either bound may be None or a tensor)."""
    def square(self) -> Tensor:
        """x * x. Shape: same as x."""
    def reciprocal(self) -> Tensor:
        """1 / x. Shape: same as x."""
    def sign(self) -> Tensor:
        """-1, 0 or 1 per element (same dtype). Shape: same as x."""
    def isnan(self) -> Tensor:
        """True where x is NaN. Shape: same as x."""
    def isinf(self) -> Tensor:
        """True where x is +-inf. Shape: same as x."""
    def isfinite(self) -> Tensor:
        """True where x is neither NaN nor infinite. Shape: same as x."""
    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        """x with ``value`` where mask is true. Shape: same as x (mask broadcasts)."""
    def matmul(self, other: Tensor) -> Tensor:
        """Matrix product with numpy semantics: 1-D operands are promoted to matrices and the added
        dimension removed afterwards; batch dimensions broadcast."""
    def mm(self, other: Tensor) -> Tensor:
        """Matrix product with numpy semantics: 1-D operands are promoted to matrices and the added
        dimension removed afterwards; batch dimensions broadcast."""
    def sum(self, dim: Any = None, keepdim: builtins.bool = False, *, dtype: Any = None) -> Tensor:
        """Sum over ``dim`` (an int, a tuple, or None for all). Integer and bool inputs sum in
        int64."""
    def mean(self, dim: Any = None, keepdim: builtins.bool = False, *, dtype: Any = None) -> Tensor:
        """Arithmetic mean over ``dim`` (floating inputs only, as in PyTorch)."""
    def prod(self, dim: Any = None, keepdim: builtins.bool = False, *, dtype: Any = None) -> Tensor:
        """Product over ``dim``."""
    def max(self, dim: Any = None, keepdim: builtins.bool = False) -> Any:
        """``max(x)``: the largest element; ``max(x, dim)``: (values, indices) along dim, the first
        index among ties; ``max(x, y)``: the elementwise maximum."""
    def min(self, dim: Any = None, keepdim: builtins.bool = False) -> Any:
        """Like :func:`max`, for the smallest elements."""
    def amax(self, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        """Maximum over ``dim``; the gradient is shared evenly among tied maxima."""
    def amin(self, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        """Minimum over ``dim``; the gradient is shared evenly among tied minima."""
    def argmax(self, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        """Index of the largest element (of the flattened input when dim is None)."""
    def argmin(self, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        """Index of the smallest element; see :func:`argmax`."""
    def var(
        self,
        dim: Any = None,
        *,
        correction: builtins.int = 1,
        keepdim: builtins.bool = False,
        unbiased: builtins.bool | None = None,
    ) -> Tensor:
        """Variance over ``dim`` with Bessel's ``correction`` (1 by default, as in PyTorch)."""
    def std(
        self,
        dim: Any = None,
        *,
        correction: builtins.int = 1,
        keepdim: builtins.bool = False,
        unbiased: builtins.bool | None = None,
    ) -> Tensor:
        """Standard deviation: sqrt(var). Shape: as for :func:`var`."""
    def logsumexp(self, dim: Any, keepdim: builtins.bool = False) -> Tensor:
        """log(sum(exp(x))) over ``dim``, computed stably (the max is subtracted first)."""
    def softmax(self, dim: builtins.int, dtype: Any = None) -> Tensor:
        """exp(x) / sum(exp(x)) along ``dim``, numerically stable. Shape: same as input."""
    def log_softmax(self, dim: builtins.int, dtype: Any = None) -> Tensor:
        """x - logsumexp(x) along ``dim``, numerically stable. Shape: same as input."""
    def any(self, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        """True if any element along ``dim`` is nonzero. Shape: as for sum."""
    def all(self, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        """True if every element along ``dim`` is nonzero. Shape: as for sum."""
    def reshape(self, *shape: Any) -> Tensor:
        """Same data in another shape: a view when the strides allow, else a copy."""
    def view(self, *shape: Any) -> Tensor:
        """Like reshape, but always a view (ValueError if the strides don't allow one)."""
    def flatten(self, start_dim: builtins.int = 0, end_dim: builtins.int = -1) -> Tensor:
        """Merge dims start_dim..end_dim into one. Shape: (..., prod(merged), ...)."""
    def squeeze(self, dim: Any = None) -> Tensor:
        """Drop dimensions of size 1 (all of them, or the given ones)."""
    def unsqueeze(self, dim: builtins.int) -> Tensor:
        """Insert a dimension of size 1 at ``dim`` (-ndim-1 <= dim <= ndim)."""
    def permute(self, *dims: Any) -> Tensor:
        """Reorder dimensions (a view). Shape: (x.shape[dims[0]], x.shape[dims[1]], ...)."""
    def transpose(self, dim0: builtins.int, dim1: builtins.int) -> Tensor:
        """Swap two dimensions (a view)."""
    def t(self) -> Tensor:
        """Transpose of a tensor of at most 2 dimensions."""
    def movedim(self, source: builtins.int, destination: builtins.int) -> Tensor:
        """Move one dimension to another position (a view)."""
    def expand(self, *shape: Any) -> Tensor:
        """Broadcast x to a larger shape without copying (-1 keeps a dimension)."""
    def broadcast_to(self, shape: Sequence[builtins.int]) -> Tensor:
        """numpy's broadcast_to (a view). Shape: ``shape``."""
    def narrow(self, dim: builtins.int, start: builtins.int, length: builtins.int) -> Tensor:
        """The view x[..., start:start+length, ...] along ``dim``."""
    def split(self, split_size_or_sections: Any, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        """Views of consecutive pieces along ``dim``: equal pieces of a given size (the last may be
        smaller) or a list of sizes that add up to x.shape[dim]."""
    def chunk(self, chunks: builtins.int, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        """Split into ``chunks`` nearly equal views (the last may be smaller, as in PyTorch)."""
    def unbind(self, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        """Views of every slice along ``dim`` with that dimension removed."""
    def gather(self, dim: builtins.int, index: Tensor) -> Tensor:
        """out[i][j][k] = input[i][index[i][j][k]][k] for dim=1 (and likewise for any dim)."""
    def scatter_add(self, dim: builtins.int, index: Tensor, src: Tensor) -> Tensor:
        """A copy of input with src added at the positions index names along dim (the reverse of
        gather; repeated indices accumulate)."""
    def scatter(
        self,
        dim: builtins.int,
        index: Tensor,
        src: Any = None,
        *,
        value: Any = None,
        reduce: str | None = None,
    ) -> Tensor:
        """A copy with src (or the number value) written at the positions index names
        along dim."""
    def masked_select(self, mask: Tensor) -> Tensor:
        """The elements where mask is True, as a 1-D tensor."""
    def index_select(self, dim: builtins.int, index: Tensor) -> Tensor:
        """The slices of input at the positions in a 1-D ``index`` along ``dim``."""
    def index_add(self, dim: builtins.int, index: Tensor, source: Tensor) -> Tensor:
        """A copy of input with source's slices added at the positions in ``index`` along ``dim``
        (duplicates accumulate)."""
    def contiguous(self) -> Tensor:
        """x itself if it is contiguous, else a contiguous copy (differentiable)."""
    def clone(self, *, memory_format: Any = None) -> Tensor:
        """A contiguous copy that stays in the graph."""
    def copy_(self, src: Tensor) -> Tensor:
        """Write src (broadcast, cast) into dst in place; returns dst."""
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``t.to(dtype)``, ``t.to(device)``, ``t.to(device, dtype)`` or ``t.to(other)``."""
    def backward(self, gradient: Tensor | None = None, retain_graph: builtins.bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> Any:
        """Call ``hook(tensor)`` each time backward has accumulated into this leaf's ``.grad``;
        returns a handle whose ``remove()`` unregisters it."""
    def view_as(self, other: Tensor) -> Tensor: ...
    def reshape_as(self, other: Tensor) -> Tensor: ...
    def expand_as(self, other: Tensor) -> Tensor: ...
    def type_as(self, other: Tensor) -> Tensor: ...
    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None) -> Tensor: ...
    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None) -> Tensor: ...
    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None) -> Tensor: ...
    def new_full(
        self, size: Sequence[builtins.int], fill_value: Any, dtype: Any = None, device: Any = None
    ) -> Tensor: ...
    def new_tensor(self, data: Any, dtype: Any = None, device: Any = None) -> Tensor: ...
    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """In-place self += alpha * other (``p.data.add_(p.grad, alpha=-lr)``); returns self."""
    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """In-place self -= alpha * other; returns self."""
    def mul_(self, other: Any) -> Tensor:
        """In-place mul: self = mul(self, other); returns self."""
    def div_(self, other: Any) -> Tensor:
        """In-place div: self = div(self, other); returns self."""
    def pow_(self, other: Any) -> Tensor:
        """In-place pow: self = pow(self, other); returns self."""
    def fill_(self, value: Any) -> Tensor:
        """Set every element to value; returns x."""
    def zero_(self) -> Tensor:
        """Set every element to 0; returns x."""
    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        """In-place clamp; returns self."""
    def relu_(self) -> Tensor:
        """In-place relu; returns self."""
    def exp_(self) -> Tensor:
        """In-place exp; returns self."""
    def neg_(self) -> Tensor:
        """In-place neg; returns self."""
    def sqrt_(self) -> Tensor:
        """In-place sqrt; returns self."""
    def tanh_(self) -> Tensor:
        """In-place tanh; returns self."""
    def sigmoid_(self) -> Tensor:
        """In-place sigmoid; returns self."""
    def floor_(self) -> Tensor:
        """In-place floor; returns self."""
    def ceil_(self) -> Tensor:
        """In-place ceil; returns self."""
    def trunc_(self) -> Tensor:
        """In-place trunc; returns self."""
    def round_(self, *, decimals: builtins.int = 0) -> Tensor:
        """In-place round; returns self."""
    def log1p_(self) -> Tensor:
        """In-place log1p; returns self."""
    def expm1_(self) -> Tensor:
        """In-place expm1; returns self."""
    def erf_(self) -> Tensor:
        """In-place erf; returns self."""
    def lerp_(self, end: Tensor, weight: Any) -> Tensor:
        """In-place lerp; returns self."""
    def scatter_(
        self,
        dim: builtins.int,
        index: Tensor,
        src: Any = None,
        *,
        value: Any = None,
        reduce: str | None = None,
    ) -> Tensor:
        """In-place scatter; returns self."""
    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
        """In-place masked_fill; returns self."""
    def tril_(self, diagonal: builtins.int = 0) -> Tensor:
        """In-place tril; returns self."""
    def triu_(self, diagonal: builtins.int = 0) -> Tensor:
        """In-place triu; returns self."""
    def clamp_min_(self, min: Any) -> Tensor:
        """In-place clamp_min; returns self."""
    def clamp_max_(self, max: Any) -> Tensor:
        """In-place clamp_max; returns self."""
    def uniform_(
        self, from_: builtins.float = 0.0, to: builtins.float = 1.0, *, generator: Any = None
    ) -> Tensor:
        """Fill in place with uniform samples from [from_, to); returns self."""
    def normal_(
        self, mean: builtins.float = 0.0, std: builtins.float = 1.0, *, generator: Any = None
    ) -> Tensor:
        """Fill in place with samples from N(mean, std^2); returns self."""
    def exponential_(self, lambd: builtins.float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill in place with samples from the exponential distribution of rate lambd;
        returns self."""
    def bernoulli(self, *, generator: Any = None) -> Tensor:
        """1 with probability self (elementwise), else 0."""
    def multinomial(
        self,
        num_samples: builtins.int,
        replacement: builtins.bool = False,
        *,
        generator: Any = None,
    ) -> Tensor:
        """Category indices drawn with probabilities proportional to the rows of self."""
    def tril(self, diagonal: builtins.int = 0) -> Tensor:
        """The lower triangle of the last two dims (col - row <= diagonal); the rest zero."""
    def triu(self, diagonal: builtins.int = 0) -> Tensor:
        """The upper triangle of the last two dims (col - row >= diagonal); the rest zero."""
    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        """Rotate elements along dims by shifts (flattened when dims is None)."""
    def flip(self, dims: Any) -> Tensor:
        """Reverse the order of elements along dims (a copy)."""
    def fliplr(self) -> Tensor: ...
    def flipud(self) -> Tensor: ...
    def repeat(self, *sizes: Any) -> Tensor:
        """Tile the tensor sizes[i] times along each dim."""
    def tile(self, dims: Sequence[builtins.int]) -> Tensor: ...
    def repeat_interleave(
        self, repeats: Any = None, dim: builtins.int | None = None, *, output_size: Any = None
    ) -> Tensor:
        """Repeat each slice along dim repeats times: [a, b] -> [a, a, b, b]."""
    def diag(self, diagonal: builtins.int = 0) -> Tensor: ...
    def sort(
        self,
        dim: builtins.int = -1,
        descending: builtins.bool = False,
        *,
        stable: builtins.bool = False,
    ) -> Any:
        """(values, indices) sorted along dim (stable)."""
    def argsort(
        self,
        dim: builtins.int = -1,
        descending: builtins.bool = False,
        *,
        stable: builtins.bool = False,
    ) -> Tensor: ...
    def msort(self) -> Tensor: ...
    def topk(
        self,
        k: builtins.int,
        dim: builtins.int = -1,
        largest: builtins.bool = True,
        sorted: builtins.bool = True,
    ) -> Any:
        """(values, indices) of the k largest (or smallest) elements along dim."""
    def kthvalue(
        self, k: builtins.int, dim: builtins.int = -1, keepdim: builtins.bool = False
    ) -> Any: ...
    def cumsum(self, dim: builtins.int, *, dtype: Any = None) -> Tensor:
        """Running sum along dim."""
    def cumprod(self, dim: builtins.int, *, dtype: Any = None) -> Tensor:
        """Running product along dim."""
    def nonzero(self, *, as_tuple: builtins.bool = False) -> Any:
        """Indices of the nonzero elements, (n, ndim) or a tuple of 1-D tensors."""
    def argwhere(self) -> Tensor: ...
    def count_nonzero(self, dim: Any = None) -> Tensor: ...
    def bmm(self, mat2: Tensor) -> Tensor: ...
    def addmm(self, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor: ...
    def baddbmm(
        self, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1
    ) -> Tensor: ...
    def outer(self, vec2: Tensor) -> Tensor: ...
    def dot(self, other: Tensor) -> Tensor: ...
    def norm(
        self, p: Any = "fro", dim: Any = None, keepdim: builtins.bool = False, dtype: Any = None
    ) -> Tensor:
        """The vector p-norm over dim (all elements when None)."""
    def isclose(
        self,
        other: Any,
        rtol: builtins.float = 1e-05,
        atol: builtins.float = 1e-08,
        equal_nan: builtins.bool = False,
    ) -> Tensor: ...
    def allclose(
        self,
        other: Any,
        rtol: builtins.float = 1e-05,
        atol: builtins.float = 1e-08,
        equal_nan: builtins.bool = False,
    ) -> builtins.bool: ...
    def clamp_min(self, min: Any) -> Tensor: ...
    def clamp_max(self, max: Any) -> Tensor: ...
    def __add__(self, other: Any) -> Tensor: ...
    def __radd__(self, other: Any) -> Tensor: ...
    def __iadd__(self, other: Any) -> Tensor: ...
    def __sub__(self, other: Any) -> Tensor: ...
    def __rsub__(self, other: Any) -> Tensor: ...
    def __isub__(self, other: Any) -> Tensor: ...
    def __mul__(self, other: Any) -> Tensor: ...
    def __rmul__(self, other: Any) -> Tensor: ...
    def __imul__(self, other: Any) -> Tensor: ...
    def __truediv__(self, other: Any) -> Tensor: ...
    def __rtruediv__(self, other: Any) -> Tensor: ...
    def __itruediv__(self, other: Any) -> Tensor: ...
    def __pow__(self, other: Any) -> Tensor: ...
    def __rpow__(self, other: Any) -> Tensor: ...
    def __ipow__(self, other: Any) -> Tensor: ...
    def __matmul__(self, other: Tensor) -> Tensor: ...
    def __rmatmul__(self, other: Any) -> Tensor: ...
    def __neg__(self) -> Tensor: ...
    def __abs__(self) -> Tensor: ...
    def __pos__(self) -> Tensor: ...
    def __eq__(self, other: Any) -> Tensor: ...  # type: ignore[override]
    def __ne__(self, other: Any) -> Tensor: ...  # type: ignore[override]
    def __lt__(self, other: Any) -> Tensor: ...
    def __le__(self, other: Any) -> Tensor: ...
    def __gt__(self, other: Any) -> Tensor: ...
    def __ge__(self, other: Any) -> Tensor: ...
    def __and__(self, other: Any) -> Tensor: ...
    def __or__(self, other: Any) -> Tensor: ...
    def __xor__(self, other: Any) -> Tensor: ...
    def __rand__(self, other: Any) -> Tensor: ...
    def __ror__(self, other: Any) -> Tensor: ...
    def __rxor__(self, other: Any) -> Tensor: ...
    def __invert__(self) -> Tensor: ...
    def __getitem__(self, key: Any) -> Tensor: ...
    def __setitem__(self, key: Any, value: Any) -> None: ...
    @property
    def T(self) -> Tensor: ...
    @property
    def mT(self) -> Tensor: ...

def _norm_dim(dim: int, ndim: int, op: str) -> int: ...
