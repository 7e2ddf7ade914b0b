"""ember: build, train, compress, save and serve neural networks on its own kernels.

>>> import ember
>>> x = ember.randn(3, 4, requires_grad=True)
>>> (x @ x.T).relu().sum().backward()
"""

from importlib import import_module as _import_module

from . import (
    _C,
    accelerator,
    amp,
    autograd,
    backends,
    cuda,
    data,
    distributed,
    models,
    nn,
    optim,
    prune,
    quant,
    random,
    utils,
)
from ._compile import compile  # noqa: A004
from ._config import config, get_num_threads, set_num_threads
from ._device import device
from ._dtype import (
    bfloat16,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int32,
    int64,
    set_default_dtype,
)
from ._dtype import bool_ as bool  # noqa: A004
from ._missing import missing_attribute as _missing_attribute
from ._save_load import load, save
from .amp import autocast, get_autocast_dtype, is_autocast_enabled
from .autograd import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .backends import get_float32_matmul_precision, set_float32_matmul_precision
from .cuda import amp as _cuda_amp  # noqa: F401 - binds ember.cuda.amp (torch.cuda.amp)
from .ops import *  # noqa: F403
from .ops import __all__ as _ops_all
from .ops.linalg import norm  # not in ops.__all__: ember.ops.norm is the layer-norm module
from .random import (
    Generator,
    bernoulli,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
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
from .tensor import Tensor

__version__: str = _C.__version__

half, float, double, long = float16, float32, float64, int64  # noqa: A001


def is_tensor(obj: object) -> bool:
    """True for ember tensors."""
    return isinstance(obj, Tensor)


# The op modules are implementation: their functions are re-exported above. The package
# stays reachable as ember.ops (see __getattr__) without being listed in dir(ember).
del ops  # noqa: F821 - bound here by the import system when ember.ops loaded

# ``train`` is public too, loaded on first use (see __getattr__), so not in ``import *``.
__all__ = [
    "Generator",
    "Tensor",
    "accelerator",
    "amp",
    "autocast",
    "autograd",
    "backends",
    "bernoulli",
    "compile",
    "bfloat16",
    "bool",
    "config",
    "cuda",
    "data",
    "device",
    "distributed",
    "double",
    "dtype",
    "enable_grad",
    "float",
    "float16",
    "float32",
    "float64",
    "get_autocast_dtype",
    "get_default_dtype",
    "set_default_dtype",
    "get_float32_matmul_precision",
    "get_num_threads",
    "get_rng_state",
    "half",
    "inference_mode",
    "initial_seed",
    "int32",
    "int64",
    "int8",
    "is_autocast_enabled",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "is_tensor",
    "load",
    "long",
    "manual_seed",
    "models",
    "multinomial",
    "normal",
    "nn",
    "no_grad",
    "norm",
    "optim",
    "prune",
    "quant",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "random",
    "randperm",
    "save",
    "seed",
    "set_float32_matmul_precision",
    "set_grad_enabled",
    "set_num_threads",
    "set_rng_state",
    "utils",
    *_ops_all,
]


def __getattr__(name: str) -> object:
    # ember.train pulls in tqdm, ember.onnx the onnx package and ember.serve the serving
    # stack: import them on first use.
    if name in ("ops", "train", "onnx", "serve"):
        return _import_module("." + name, __name__)
    raise _missing_attribute("ember", name, __all__)
