"""ember.nn.functional: the stateless forms of the layers (PyTorch's names)."""

from __future__ import annotations

from ..ops.conv import (
    adaptive_avg_pool2d,
    avg_pool2d,
    batch_norm,
    conv1d,
    conv2d,
    max_pool2d,
)
from ..ops.dropout import dropout
from ..ops.elementwise import gelu, relu, sigmoid, silu, tanh
from ..ops.index import embedding, one_hot
from ..ops.linalg import linear
from ..ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from ..ops.reduce import log_softmax, softmax

# STAND-INS: replaced by the real kernels at merge
# isort: split
from ..ops._standins import (  # noqa: E402
    layer_norm,
    linear,  # noqa: F811 - overrides ops.linalg.linear with the activation= form
    rms_norm,
    scaled_dot_product_attention,
)

# END STAND-INS

__all__ = [
    "cross_entropy",
    "dropout",
    "embedding",
    "layer_norm",
    "rms_norm",
    "scaled_dot_product_attention",
    "gelu",
    "linear",
    "log_softmax",
    "one_hot",
    "relu",
    "sigmoid",
    "silu",
    "softmax",
    "tanh",
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "conv1d",
    "conv2d",
    "max_pool2d",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]
