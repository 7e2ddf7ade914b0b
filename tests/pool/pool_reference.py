"""Direct-loop float64 numpy references for max, average and adaptive average pooling
(PyTorch's window, padding and divisor rules), independent of ember's kernels."""

from __future__ import annotations

import math

import numpy as np


def pool_out(size, k, s, p, d, ceil_mode):
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def max_pool2d(x, k, s, p, d=(1, 1), ceil_mode=False):
    """(values, flat h*w indices of the first maximum) per window."""
    x = np.asarray(x, np.float64)
    n, c, h, w = x.shape
    oh = pool_out(h, k[0], s[0], p[0], d[0], ceil_mode)
    ow = pool_out(w, k[1], s[1], p[1], d[1], ceil_mode)
    out = np.full((n, c, oh, ow), -np.inf)
    idx = np.zeros((n, c, oh, ow), np.int64)
    for o in range(oh):
        for q in range(ow):
            for i in range(k[0]):
                ih = o * s[0] - p[0] + i * d[0]
                if not 0 <= ih < h:
                    continue
                for j in range(k[1]):
                    iw = q * s[1] - p[1] + j * d[1]
                    if not 0 <= iw < w:
                        continue
                    v = x[:, :, ih, iw]
                    better = v > out[:, :, o, q]
                    out[:, :, o, q] = np.where(better, v, out[:, :, o, q])
                    idx[:, :, o, q] = np.where(better, ih * w + iw, idx[:, :, o, q])
    return out, idx


def avg_pool2d(x, k, s, p, ceil_mode=False, count_include_pad=True, divisor_override=None):
    x = np.asarray(x, np.float64)
    n, c, h, w = x.shape
    oh = pool_out(h, k[0], s[0], p[0], 1, ceil_mode)
    ow = pool_out(w, k[1], s[1], p[1], 1, ceil_mode)
    out = np.zeros((n, c, oh, ow))
    for o in range(oh):
        for q in range(ow):
            h0, w0 = o * s[0] - p[0], q * s[1] - p[1]
            h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
            size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            if h0 >= h1 or w0 >= w1:
                continue
            div = divisor_override or (size if count_include_pad else (h1 - h0) * (w1 - w0))
            out[:, :, o, q] = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3)) / div
    return out


def adaptive_avg_pool2d(x, oh, ow):
    x = np.asarray(x, np.float64)
    n, c, h, w = x.shape
    out = np.zeros((n, c, oh, ow))
    for o in range(oh):
        h0, h1 = (o * h) // oh, math.ceil((o + 1) * h / oh)
        for q in range(ow):
            w0, w1 = (q * w) // ow, math.ceil((q + 1) * w / ow)
            out[:, :, o, q] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out
