"""ember.nn.functional: the stateless forms of the layers (PyTorch's names)."""

from __future__ import annotations

from ..ops.attention import scaled_dot_product_attention
from ..ops.conv import (
    adaptive_avg_pool2d,
    avg_pool2d,
    batch_norm,
    conv1d,
    conv2d,
    max_pool2d,
)
from ..ops.elementwise import gelu, relu, sigmoid, silu, tanh
from ..ops.index import embedding, one_hot
from ..ops.linalg import linear
from ..ops.reduce import log_softmax, softmax

__all__ = [
    "embedding",
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
    "scaled_dot_product_attention",
]
