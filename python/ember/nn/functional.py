"""ember.nn.functional: the stateless forms of the layers (PyTorch's names)."""

from __future__ import annotations

from ..ops.attention import scaled_dot_product_attention
from ..ops.batchnorm import batch_norm
from ..ops.conv import conv1d, conv2d
from ..ops.dropout import dropout
from ..ops.elementwise import gelu, relu, sigmoid, silu, tanh
from ..ops.gemm import linear
from ..ops.index import embedding, one_hot
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
from ..ops.norm import layer_norm, rms_norm
from ..ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from ..ops.reduce import log_softmax, softmax

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv1d",
    "conv2d",
    "cross_entropy",
    "dropout",
    "embedding",
    "gelu",
    "huber_loss",
    "l1_loss",
    "layer_norm",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "relu",
    "rms_norm",
    "scaled_dot_product_attention",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "tanh",
]
