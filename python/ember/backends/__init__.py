"""ember.backends: torch's backend switches (``torch.backends.cuda.matmul.allow_tf32``,
``torch.backends.cudnn.benchmark``, ``torch.backends.mps.is_available()``, ...), so
scripts that set them run unchanged.

``cuda.matmul.allow_tf32`` lets float32 GEMMs on CUDA tensors use TF32 tensor cores;
the other flags are stored and read back, nothing more: ember's CPU kernels compute
float32 matmuls in float32 whatever they say, ember has no cuDNN (its CUDA kernels are
its own) and no MPS backend. ``ember.set_float32_matmul_precision`` is linked to
``cuda.matmul.allow_tf32`` as in torch ('highest' <-> False).
"""

from . import cuda, cudnn, mps
from .cuda import get_float32_matmul_precision, set_float32_matmul_precision

__all__ = [
    "cuda",
    "cudnn",
    "get_float32_matmul_precision",
    "mps",
    "set_float32_matmul_precision",
]
