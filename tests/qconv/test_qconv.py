"""ember.ops.qconv: the fused quantize + im2col kernel against a numpy reference (odd
shapes, stride, asymmetric padding, dilation, C=1, 1x1 kernels), rows_to_nchw against a
numpy transpose on every ISA (the transpose is the conv family's per-ISA kernel; the
quantize + im2col is ISA-neutral), and the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.ops.qconv import quantize_im2col_u8, rows_to_nchw
from ember.ops.qgemm import quantize_u8_static


def reference_rows(x, kernel, stride, padding, dilation, scale, zero):
    """numpy reference: the float32 codes, then every window as one row ordered
    (kernel row, kernel column, channel), padding filled with the zero point."""
    codes = np.clip(np.rint(x / np.float32(scale)) + zero, 0, 255).astype(np.uint8)
    top, bottom, left, right = padding
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    h, w = h + top + bottom, w + left + right
    oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    nhwc = np.full((n, h, w, c), zero, np.uint8)
    nhwc[:, top : h - bottom, left : w - right] = codes.transpose(0, 2, 3, 1)
    rows = np.empty((n, oh, ow, kh, kw, c), np.uint8)
    for i in range(kh):
        for j in range(kw):
            rows[:, :, :, i, j] = nhwc[:, i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                                       j * dw : j * dw + sw * (ow - 1) + 1 : sw]  # fmt: skip
    return rows.reshape(n * oh * ow, kh * kw * c), oh, ow


CASES = [
    # (N, C, H, W), kernel, stride, (top, bottom, left, right), dilation
    ((2, 3, 7, 5), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    ((1, 1, 8, 8), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),  # C = 1 (DigitsCNN's conv1)
    ((3, 5, 9, 11), (3, 2), (2, 3), (0, 2, 1, 0), (1, 1)),  # odd, strided, asymmetric
    ((2, 4, 10, 9), (3, 3), (1, 2), (2, 2, 3, 1), (2, 3)),  # dilation
    ((2, 7, 6, 5), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),  # 1x1
    ((1, 6, 5, 4), (1, 1), (2, 2), (1, 0, 0, 1), (1, 1)),  # strided 1x1 with padding
    ((2, 2, 3, 3), (3, 3), (1, 1), (0, 0, 0, 0), (1, 1)),  # one output pixel
    ((1, 3, 4, 4), (2, 2), (1, 1), (3, 3, 3, 3), (1, 1)),  # padding wider than the kernel
    ((4, 64, 8, 8), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),  # threaded size
    ((1, 2, 3, 600), (1, 3), (1, 2), (0, 0, 1, 1), (1, 1)),  # rows wider than 256
]


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation", CASES)
def test_rows_match_reference(shape, kernel, stride, padding, dilation):
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(size=shape).astype(np.float32) * 2
    x.flat[::7] = 1e6  # saturates at 255
    x.flat[::11] = -1e6  # saturates at 0
    scale, zero = 0.03, 117
    rows, oh, ow = quantize_im2col_u8(
        ember.from_numpy(x), kernel, stride, padding, dilation, scale, zero
    )
    want, want_oh, want_ow = reference_rows(x, kernel, stride, padding, dilation, scale, zero)
    assert (oh, ow) == (want_oh, want_ow)
    assert rows.dtype == ember.int8 and tuple(rows.shape) == want.shape
    np.testing.assert_array_equal(rows.numpy().view(np.uint8), want)


def test_codes_are_quantize_u8_static_bits():
    # ties (x / scale exactly k + 0.5) round half to even, as the standalone quantizer
    x = (np.arange(-40, 40, dtype=np.float32) * 0.25).reshape(1, 5, 4, 4)
    scale, zero = 0.5, 3
    rows, _, _ = quantize_im2col_u8(
        ember.from_numpy(x), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), scale, zero
    )
    codes = quantize_u8_static(ember.from_numpy(x), scale, zero).numpy().view(np.uint8)
    np.testing.assert_array_equal(
        rows.numpy().view(np.uint8), codes.transpose(0, 2, 3, 1).reshape(16, 5)
    )


def test_non_contiguous_input_is_copied():
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype(np.float32)
    t = ember.from_numpy(x).permute(0, 3, 1, 2)  # (2, 3, 5, 6) view
    rows, _, _ = quantize_im2col_u8(t, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 0.1, 128)
    want, _, _ = reference_rows(
        np.ascontiguousarray(x.transpose(0, 3, 1, 2)),
        (3, 3),
        (1, 1),
        (1, 1, 1, 1),
        (1, 1),
        0.1,
        128,
    )
    np.testing.assert_array_equal(rows.numpy().view(np.uint8), want)


@pytest.mark.parametrize(
    "n, oh, ow, c", [(1, 1, 1, 1), (2, 5, 7, 3), (3, 8, 8, 64), (2, 33, 9, 40), (1, 130, 1, 17)]
)
def test_rows_to_nchw(isa, n, oh, ow, c):
    y = np.random.default_rng(c).normal(size=(n * oh * ow, c)).astype(np.float32)
    out = rows_to_nchw(ember.from_numpy(y), n, oh, ow)
    want = y.reshape(n, oh, ow, c).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(out.numpy(), want)


GOOD = dict(
    kernel_size=(3, 3), stride=(1, 1), padding=(1, 1, 1, 1), dilation=(1, 1), scale=0.1, zero=128
)


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(input=ember.zeros(3, 8, 8)), ValueError, r"\(N, C, H, W\)"),
        (dict(input=ember.zeros(1, 3, 8, 8, dtype=ember.float64)), TypeError, "float32"),
        (dict(input=np.zeros((1, 3, 8, 8), np.float32)), TypeError, "expected a Tensor"),
        (dict(input=ember.zeros(0, 3, 8, 8)), ValueError, "empty"),
        (dict(kernel_size=(9, 3), padding=(0, 0, 0, 0)), ValueError, "does not fit"),
        (dict(dilation=(1, 5)), ValueError, "does not fit"),
        (dict(kernel_size=(0, 3)), ValueError, "kernel height"),
        (dict(stride=(1, 0)), ValueError, "stride width"),
        (dict(dilation=(0, 1)), ValueError, "dilation height"),
        (dict(padding=(1, -1, 1, 1)), ValueError, "padding"),
        (dict(padding=(1, 1)), TypeError, "padding must be a tuple of 4 ints"),
        (dict(stride=(1.0, 1)), TypeError, "stride"),
        (dict(scale=0.0), ValueError, "scale"),
        (dict(scale=float("nan")), ValueError, "scale"),
        (dict(zero=256), ValueError, "zero point"),
        (dict(zero=-1), ValueError, "zero point"),
    ],
)
def test_bad_input(change, error, match):
    args = dict(GOOD, input=ember.zeros(1, 3, 8, 8)) | change
    with pytest.raises(error, match=match):
        quantize_im2col_u8(
            args["input"], args["kernel_size"], args["stride"], args["padding"],
            args["dilation"], args["scale"], args["zero"],
        )  # fmt: skip


def test_rows_to_nchw_bad_input():
    with pytest.raises(ValueError, match="not"):
        rows_to_nchw(ember.zeros(10, 4), 1, 3, 3)
    with pytest.raises(TypeError, match="float32"):
        rows_to_nchw(ember.zeros(9, 4, dtype=ember.float64), 1, 3, 3)
    with pytest.raises(TypeError, match="expected a Tensor"):
        rows_to_nchw(None, 1, 3, 3)


def test_special_values_saturate():
    # NaN -> 0 and +-inf saturate, in both the fused kernel and quantize_u8_static
    x = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 2.5, 3.5, -2.5], np.float32)
    want = np.array([0, 255, 0, 255, 0, 12, 14, 8], np.uint8)  # zero 10, ties to even
    t = ember.from_numpy(x.reshape(1, 1, 1, 8))
    rows, _, _ = quantize_im2col_u8(t, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1.0, 10)
    np.testing.assert_array_equal(rows.numpy().view(np.uint8).ravel(), want)
    np.testing.assert_array_equal(
        quantize_u8_static(t, 1.0, 10).numpy().view(np.uint8).ravel(), want
    )
