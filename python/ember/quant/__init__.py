"""Quantization: make a trained model smaller and faster at inference, at a measured
accuracy cost.

>>> qmodel = ember.quant.quantize_dynamic(model)              # int8 Linear layers
>>> qmodel = ember.quant.quantize_weights(gpt, scheme="q4_0")  # 4-bit weight-only
>>> qmodel = ember.quant.quantize_static(cnn, calibration_batches)
>>> ember.save(qmodel, "runs/cnn/int8")                       # a loadable model folder
"""

from ._weights import per_channel_int8
from .conv import QuantizedConv2d
from .observers import MinMaxObserver, PercentileObserver
from .static import quantize_static

__all__ = [
    "MinMaxObserver",
    "PercentileObserver",
    "QuantizedConv2d",
    "per_channel_int8",
    "quantize_static",
]
