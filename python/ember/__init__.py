"""ember: train, compress, save and serve neural networks on its own kernels."""

from . import _C

__version__ = _C.__version__
