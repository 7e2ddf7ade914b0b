"""ember.quant observers against numpy: ranges, uint8 qparams (0.0 exact), bad input."""

import numpy as np
import pytest

import ember
from ember.quant.observers import MinMaxObserver, PercentileObserver, affine_u8_qparams


def batches(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((4, 3, 5, 7)).astype(np.float32) * (i + 1) for i in range(3)]


def observe(obs, arrays):
    for a in arrays:
        obs.observe(ember.from_numpy(a))
    return obs


def reference_qparams(lo: float, hi: float) -> tuple[float, int]:
    lo, hi = np.float32(min(lo, 0.0)), np.float32(max(hi, 0.0))
    scale = np.float32((hi - lo) / np.float32(255)) if hi > lo else np.float32(1)
    return float(scale), int(np.clip(np.rint(-lo / scale), 0, 255))


def test_minmax_matches_numpy():
    arrays = batches()
    obs = observe(MinMaxObserver(), arrays)
    allv = np.concatenate([a.ravel() for a in arrays])
    assert obs.range() == (float(allv.min()), float(allv.max()))
    assert obs.qparams() == reference_qparams(allv.min(), allv.max())


@pytest.mark.parametrize("p", [99.0, 99.99, 100.0])
def test_percentile_matches_numpy(p):
    arrays = batches(1)
    obs = observe(PercentileObserver(p), arrays)
    allv = np.concatenate([a.ravel() for a in arrays])
    lo, hi = np.percentile(allv, [100 - p, p])
    assert obs.range() == pytest.approx((lo, hi), rel=1e-12)
    assert obs.qparams() == reference_qparams(lo, hi)


def test_percentile_clips_an_outlier():
    a = np.linspace(-1, 1, 100001).astype(np.float32)
    a[7] = 1000.0
    assert observe(PercentileObserver(99.9), [a]).range()[1] < 1.0
    assert observe(MinMaxObserver(), [a]).range()[1] == 1000.0


def test_percentile_sample_cap_strides_each_batch():
    a = np.arange(1000, dtype=np.float32)
    obs = observe(PercentileObserver(100.0, max_samples_per_batch=100), [a])
    assert obs.range() == (0.0, 990.0)


@pytest.mark.parametrize(
    "lo, hi", [(0.0, 6.0), (-1.0, 3.0), (-2.5, -0.5), (0.25, 4.0), (-3e-8, 5.0), (0.0, 0.0)]
)
def test_zero_is_exact(lo, hi):
    scale, zero = affine_u8_qparams(lo, hi)
    assert 0 <= zero <= 255 and scale > 0
    assert (np.float32(0.0) / np.float32(scale)) + zero == zero  # 0.0 -> code `zero` exactly
    # the whole range is representable (within half a step)
    for v in (min(lo, 0.0), max(hi, 0.0)):
        code = np.clip(np.rint(np.float32(v) / np.float32(scale)) + zero, 0, 255)
        assert abs((code - zero) * scale - v) <= scale / 2 + 1e-6


def test_bad_input():
    with pytest.raises(ValueError, match="no values were observed"):
        MinMaxObserver().qparams()
    with pytest.raises(ValueError, match="no values were observed"):
        PercentileObserver().qparams()
    with pytest.raises(ValueError, match="non-finite"):
        MinMaxObserver().observe(ember.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="percentile"):
        PercentileObserver(10.0)
    with pytest.raises(ValueError, match="max_samples_per_batch"):
        PercentileObserver(99.0, max_samples_per_batch=0)
