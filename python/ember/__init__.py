"""ember: build, train, compress, save and serve neural networks on its own kernels.

>>> import ember
>>> x = ember.randn(3, 4, requires_grad=True)
>>> (x @ x.T).relu().sum().backward()
"""

from importlib import import_module as _import_module

from . import _C

__version__: str = _C.__version__

from . import autograd, cuda, data, models, nn, optim  # noqa: E402
from ._config import config, get_num_threads, set_num_threads  # noqa: E402
from ._device import device  # noqa: E402
from ._dtype import (  # noqa: E402
    bfloat16,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int32,
    int64,
)
from ._dtype import bool_ as bool  # noqa: E402,A001
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from .ops import *  # noqa: E402,F403
from .ops import __all__ as _ops_all  # noqa: E402
from .random import (  # noqa: E402
    Generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
)
from .tensor import Tensor  # noqa: E402

half, float, double, long = float16, float32, float64, int64  # noqa: A001


def from_dlpack(ext: object) -> Tensor:
    """A tensor sharing memory with any object that implements ``__dlpack__`` (numpy,
    PyTorch, CuPy, JAX, ...) or with a raw 'dltensor' capsule."""
    capsule = ext.__dlpack__() if hasattr(ext, "__dlpack__") else ext
    return Tensor(_C.from_dlpack(capsule))


def is_tensor(obj: object) -> bool:
    """True for ember tensors."""
    return isinstance(obj, Tensor)


del _ops_all


def __getattr__(name: str) -> object:
    # ember.train pulls in tqdm and safetensors: import it on first use, not with ember.
    if name == "train":
        return _import_module(".train", __name__)
    raise AttributeError(f"module 'ember' has no attribute {name!r}")
