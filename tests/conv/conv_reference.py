"""Direct-loop float64 numpy references for convolution: one numpy product per kernel tap
and group, independent of ember's algorithms (im2col, GEMM, transposed convolution,
depthwise kernels)."""

from __future__ import annotations

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
