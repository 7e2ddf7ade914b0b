"""Observers: watch the float activations a layer receives during calibration and turn
their range into static asymmetric uint8 parameters (scale, zero_point).

>>> obs = MinMaxObserver()
>>> for x in batches: obs.observe(x)
>>> scale, zero_point = obs.qparams()   # x ~= (q - zero_point) * scale, q in [0, 255]

The range always includes 0.0, and the zero point is an integer code, so 0.0 (ReLU
outputs, conv padding) is represented exactly.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor


def affine_u8_qparams(lo: float, hi: float) -> tuple[float, int]:
    """The uint8 (scale, zero_point) mapping [min(lo, 0), max(hi, 0)] onto [0, 255], in
    float32 as the int8 kernels compute it (ember.ops.qgemm.quantize_rows_u8): scale
    ``(hi - lo) / 255`` (1 for an empty range), zero ``round(-lo / scale)`` in [0, 255]."""
    lo32, hi32 = np.float32(min(lo, 0.0)), np.float32(max(hi, 0.0))
    scale = (hi32 - lo32) / np.float32(255.0) if hi32 > lo32 else np.float32(1.0)
    zero = np.clip(np.rint(-lo32 / scale), 0, 255)
    return float(scale), int(zero)


class Observer:
    """Base of the observers: :meth:`observe` batches, then :meth:`qparams`."""

    def observe(self, x: Tensor) -> None:
        """Record the values of one float tensor (any shape)."""
        values = x.detach().float().numpy().reshape(-1)
        if values.size == 0:
            return
        if not np.isfinite(values).all():
            raise ValueError(
                f"ember.quant.{type(self).__name__}: observed non-finite values (inf/NaN); "
                "the model's activations must be finite on the calibration batches"
            )
        self._observe(values)

    def _observe(self, values: np.ndarray) -> None:
        raise NotImplementedError

    def range(self) -> tuple[float, float]:
        """The (low, high) float range the observer settled on."""
        raise NotImplementedError

    def qparams(self) -> tuple[float, int]:
        """(scale, zero_point) for uint8 codes; ValueError when nothing was observed."""
        return affine_u8_qparams(*self.range())

    def _empty(self) -> ValueError:
        return ValueError(f"ember.quant.{type(self).__name__}: no values were observed")


class MinMaxObserver(Observer):
    """The smallest and largest value over every observed batch."""

    def __init__(self) -> None:
        self.lo: float | None = None
        self.hi: float | None = None

    def _observe(self, values: np.ndarray) -> None:
        lo, hi = float(values.min()), float(values.max())
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)

    def range(self) -> tuple[float, float]:
        if self.lo is None or self.hi is None:
            raise self._empty()
        return self.lo, self.hi


class PercentileObserver(Observer):
    """The ``100 - percentile`` and ``percentile`` percentiles (linear interpolation, as
    numpy.percentile) of all observed values: clips rare outliers so that the bulk of
    the values gets finer steps. Each batch contributes at most ``max_samples_per_batch``
    values (an even stride through it) to bound memory.
    """

    def __init__(self, percentile: float = 99.99, max_samples_per_batch: int = 1 << 20) -> None:
        if not 50.0 < float(percentile) <= 100.0:
            raise ValueError(
                f"ember.quant.PercentileObserver: percentile must be in (50, 100], "
                f"got {percentile!r}"
            )
        if not isinstance(max_samples_per_batch, int) or max_samples_per_batch < 1:
            raise ValueError(
                f"ember.quant.PercentileObserver: max_samples_per_batch must be a positive "
                f"int, got {max_samples_per_batch!r}"
            )
        self.percentile = float(percentile)
        self.max_samples_per_batch = max_samples_per_batch
        self._samples: list[np.ndarray] = []

    def _observe(self, values: np.ndarray) -> None:
        stride = -(-values.size // self.max_samples_per_batch)
        self._samples.append(values[::stride].copy())

    def range(self) -> tuple[float, float]:
        if not self._samples:
            raise self._empty()
        values = np.concatenate(self._samples)
        lo, hi = np.percentile(values, [100.0 - self.percentile, self.percentile])
        return float(lo), float(hi)


OBSERVERS: dict[str, type[Observer]] = {
    "minmax": MinMaxObserver,
    "percentile": PercentileObserver,
}
