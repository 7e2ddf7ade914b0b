"""The export rule of each autograd Function (looked up through the class's bases, so
one rule serves e.g. every Binary subclass). An op without a rule is an ExportError."""

from __future__ import annotations

from collections.abc import Callable

from ..nn.activation import SplitHeads
from ..ops.attention import ScaledDotProductAttention
from ..ops.batchnorm import BatchNorm
from ..ops.conv import ConvNd
from ..ops.convert import Copy
from ..ops.dropout import Dropout
from ..ops.elementwise import Binary, Unary, Where
from ..ops.gemm import Linear, Matmul
from ..ops.index import Pick
from ..ops.norm import LayerNorm, RMSNorm
from ..ops.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from ..ops.reduce import ArgReduce, Reduce, Softmax
from ..ops.rnn import RNNLayer
from ..ops.shape import BasicIndex, Cat, Expand, Permute, Reshape
from . import rules_nn as N
from . import rules_tensor as T

RULES: dict[type, Callable] = {
    Binary: T.binary,
    Unary: T.unary,
    Where: T.where,
    Reshape: T.reshape,
    Permute: T.permute,
    Expand: T.expand,
    BasicIndex: T.basic_index,
    Cat: T.cat,
    Matmul: T.matmul,
    Reduce: T.reduce,
    ArgReduce: T.arg_reduce,
    Softmax: T.softmax,
    Pick: T.pick,
    Copy: T.copy,
    Linear: N.linear,
    ConvNd: N.conv,
    MaxPool2d: N.max_pool,
    AvgPool2d: N.avg_pool,
    AdaptiveAvgPool2d: N.adaptive_avg_pool,
    LayerNorm: N.layer_norm,
    RMSNorm: N.rms_norm,
    BatchNorm: N.batch_norm,
    ScaledDotProductAttention: N.attention,
    RNNLayer: N.rnn_layer,
    SplitHeads: N.split_heads,
    Dropout: N.training_only("dropout"),
}


def rule_for(cls: type) -> Callable | None:
    for k in cls.__mro__:
        if k in RULES:
            return RULES[k]
    return None
