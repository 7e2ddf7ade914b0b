"""QuantizedConv2d against a numpy float64 reference of the exact quantized math: uint8
input codes, zero-point padding, integer accumulation, per-channel epilogue, fused ReLU."""

import numpy as np
import pytest

import ember
from ember import nn
from ember.quant.conv import QuantizedConv2d
from ember.quant.observers import MinMaxObserver


def reference(x, qconv):
    """The quantized conv in numpy: float32 codes as the kernel rounds them, int64 sums."""
    s = np.float32(qconv.input_scale.item())
    z = int(qconv.input_zero_point.item())
    codes = np.clip(np.rint(x.astype(np.float32) / s) + z, 0, 255).astype(np.int64)
    top, bottom, left, right = qconv._pad
    codes = np.pad(codes, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=z)
    wq = qconv.weight.numpy().astype(np.int64)
    (kh, kw), (sh, sw), (dh, dw) = qconv.kernel_size, qconv.stride, qconv.dilation
    n, _, h, w = codes.shape
    oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    acc = np.zeros((n, wq.shape[0], oh, ow), np.int64)
    for i in range(kh):
        for j in range(kw):
            patch = codes[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                          j * dw : j * dw + sw * (ow - 1) + 1 : sw]  # fmt: skip
            acc += np.einsum("nchw,oc->nohw", patch - z, wq[:, :, i, j])
    y = acc * float(s) * qconv.weight_scale.numpy().astype(np.float64)[None, :, None, None]
    if qconv.bias is not None:
        y += qconv.bias.numpy().astype(np.float64)[None, :, None, None]
    return np.maximum(y, 0) if qconv.activation == "relu" else y


CASES = [
    # in, out, kernel, stride, padding, dilation, bias, input (N, H, W)
    (1, 1, 1, 1, 0, 1, True, (1, 1, 1)),
    (3, 5, 3, 1, 1, 1, True, (2, 7, 5)),
    (3, 4, (3, 2), (2, 3), (2, 1), 1, False, (3, 9, 11)),
    (2, 7, 3, 2, 0, 2, True, (2, 13, 10)),
    (5, 3, (2, 4), 1, "same", (1, 2), True, (1, 6, 9)),
    (4, 6, 5, 3, "valid", 1, False, (2, 11, 8)),
    (17, 33, 3, 1, 1, 1, True, (2, 8, 8)),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("activation", [None, "relu"])
def test_matches_reference(case, activation):
    cin, cout, k, stride, padding, dilation, bias, (n, h, w) = case
    ember.manual_seed(0)
    conv = nn.Conv2d(cin, cout, k, stride, padding, dilation, bias=bias)
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((n, cin, h, w)) * 2 + 0.7).astype(np.float32)
    obs = MinMaxObserver()
    obs.observe(ember.from_numpy(x))
    q = QuantizedConv2d.from_float(conv, obs.qparams(), activation=activation)
    with ember.no_grad():
        got = q(ember.from_numpy(x)).numpy()
        fp = conv(ember.from_numpy(x)).numpy()
    want = reference(x, q)
    assert got.shape == fp.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # and it approximates the float conv (int8 steps)
    fp = np.maximum(fp, 0) if activation == "relu" else fp
    assert np.abs(got - fp).max() <= 0.05 * np.abs(fp).max() + 1e-6


def test_padding_uses_the_zero_point():
    # all-positive input: zero point 0 would be wrong-shifted if padding used code 0
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with ember.no_grad():
        conv.weight.copy_(ember.ones(1, 1, 3, 3))
    x = np.full((1, 1, 4, 4), -1.0, np.float32)
    x[0, 0, 0, 0] = 3.0
    obs = MinMaxObserver()
    obs.observe(ember.from_numpy(x))
    q = QuantizedConv2d.from_float(conv, obs.qparams())
    assert q.input_zero_point.item() > 0
    with ember.no_grad():
        got = q(ember.from_numpy(x)).numpy()
        want = conv(ember.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=0.05)


def test_unbatched_and_weight_repacked_after_loading():
    ember.manual_seed(2)
    conv = nn.Conv2d(2, 3, 3)
    x = ember.randn(2, 6, 6)
    q = QuantizedConv2d.from_float(conv, (0.05, 128))
    y = q(x)
    assert tuple(y.shape) == (3, 4, 4)
    shell = QuantizedConv2d(2, 3, 3)
    shell(x)  # packs the empty weight
    shell.load_state_dict(q.state_dict(), assign=True)
    np.testing.assert_array_equal(shell(x).numpy(), y.numpy())
    in_place = QuantizedConv2d(2, 3, 3)
    in_place(x)
    in_place.load_state_dict(q.state_dict())  # copies into the packed weight's storage
    np.testing.assert_array_equal(in_place(x).numpy(), y.numpy())


def test_bad_input():
    with pytest.raises(TypeError, match="groups=2"):
        QuantizedConv2d.from_float(nn.Conv2d(4, 4, 3, groups=2), (0.1, 0))
    with pytest.raises(TypeError, match="nn.Conv2d"):
        QuantizedConv2d.from_float(nn.Conv1d(4, 4, 3), (0.1, 0))
    with pytest.raises(ValueError, match="act_qparams"):
        QuantizedConv2d.from_float(nn.Conv2d(4, 4, 3), (0.0, 0))
    with pytest.raises(ValueError, match="activation"):
        QuantizedConv2d(1, 1, 1, activation="gelu")
    q = QuantizedConv2d(3, 2, 3)
    with pytest.raises(ValueError, match=r"expected input \(N, 3, H, W\)"):
        q(ember.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match="does not fit"):
        q(ember.randn(1, 3, 2, 2))
