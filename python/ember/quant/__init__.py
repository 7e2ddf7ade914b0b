"""Quantization: make a trained model smaller and faster at inference, at a measured
accuracy cost.

>>> qmodel = ember.quant.quantize_dynamic(model)              # int8 Linear layers
>>> qmodel = ember.quant.quantize_weights(gpt, scheme="q4_0")  # 4-bit weight-only
>>> qmodel = ember.quant.quantize_static(cnn, calibration_batches)
>>> ember.save(qmodel, "runs/cnn/int8")                       # a loadable model folder
"""

from ._weights import per_channel_int8
from .block_linear import BlockQuantLinear
from .dynamic import quantize_dynamic
from .linear import QuantizedLinear
from .weights_only import quantize_weights

__all__ = [
    "BlockQuantLinear",
    "QuantizedLinear",
    "per_channel_int8",
    "quantize_dynamic",
    "quantize_weights",
]
