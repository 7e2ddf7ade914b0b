"""Direct-loop float64 numpy references for convolution, pooling and batch norm: one numpy
product per kernel tap and group, independent of ember's algorithms (im2col, GEMM,
transposed convolution, depthwise kernels)."""

from __future__ import annotations

import math

import numpy as np


def _taps(x_shape, w_shape, stride, padding, dilation):
    n, c, h, w = x_shape
    k, cg, kh, kw = w_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    return oh, ow


def conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """out[n, k, o, q] = b[k] + sum_{c, i, j} w[k, c, i, j] x_pad[n, c, o s + i d, q s + j d]."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, c, h, wd = x.shape
    k, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh, ow = _taps(x.shape, w.shape, stride, padding, dilation)
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    out = np.zeros((n, k, oh, ow))
    mg = k // groups
    for g in range(groups):
        xs = xp[:, g * cg : (g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[
                    :,
                    :,
                    i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                    j * dw : j * dw + sw * (ow - 1) + 1 : sw,
                ]
                out[:, g * mg : (g + 1) * mg] += np.einsum(
                    "nchw,kc->nkhw", patch, w[g * mg : (g + 1) * mg, :, i, j]
                )
    if b is not None:
        out += np.asarray(b, np.float64)[None, :, None, None]
    return out


def conv2d_grads(x, w, gy, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """(grad input, grad weight, grad bias) of conv2d for upstream gradient gy."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    gy = np.asarray(gy, np.float64)
    n, c, h, wd = x.shape
    k, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh, ow = gy.shape[2], gy.shape[3]
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    gxp = np.zeros_like(xp)
    gw = np.zeros_like(w)
    mg = k // groups
    for g in range(groups):
        cs, ks = slice(g * cg, (g + 1) * cg), slice(g * mg, (g + 1) * mg)
        for i in range(kh):
            for j in range(kw):
                sl = (
                    slice(None),
                    cs,
                    slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
                    slice(j * dw, j * dw + sw * (ow - 1) + 1, sw),
                )
                gw[ks, :, i, j] = np.einsum("nkhw,nchw->kc", gy[:, ks], xp[sl])
                gxp[sl] += np.einsum("nkhw,kc->nchw", gy[:, ks], w[ks, :, i, j])
    gx = gxp[:, :, ph : ph + h, pw : pw + wd]
    return gx, gw, gy.sum(axis=(0, 2, 3))


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


def batch_norm_train(x, gamma, beta, eps):
    """(y, batch mean, biased batch var) over all dims but 1."""
    x = np.asarray(x, np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    y = y * np.asarray(gamma, np.float64).reshape(shape) + np.asarray(beta, np.float64).reshape(
        shape
    )
    return y, mean, var
