"""float64 numpy step-by-step references of PyTorch's recurrent equations (forward and
BPTT), used by the rnn tests."""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gates_of(mode: str) -> int:
    return {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}[mode]


def cell(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One step for a batch: returns (h', c') (c' None unless lstm)."""
    H = h.shape[1]
    xi = x @ w_ih.T + (0 if b_ih is None else b_ih)
    hh = h @ w_hh.T + (0 if b_hh is None else b_hh)
    if mode == "rnn_tanh":
        return np.tanh(xi + hh), None
    if mode == "rnn_relu":
        return np.maximum(xi + hh, 0), None
    if mode == "lstm":
        g = xi + hh
        i, f, gg, o = (g[:, k * H : (k + 1) * H] for k in range(4))
        i, f, gg, o = sigmoid(i), sigmoid(f), np.tanh(gg), sigmoid(o)
        c2 = f * c + i * gg
        return o * np.tanh(c2), c2
    r = sigmoid(xi[:, :H] + hh[:, :H])
    z = sigmoid(xi[:, H : 2 * H] + hh[:, H : 2 * H])
    n = np.tanh(xi[:, 2 * H :] + r * hh[:, 2 * H :])
    return (1 - z) * n + z * h, None


def layer(mode, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths=None, reverse=False):
    """One direction: x (T, B, I) -> (y (T, B, H), h_n, c_n); padded steps keep the state
    and output zeros."""
    T, B, _ = x.shape
    H = w_hh.shape[1]
    h = np.zeros((B, H)) if h0 is None else h0.astype(np.float64).copy()
    c = np.zeros((B, H)) if c0 is None else c0.astype(np.float64).copy()
    lens = np.full(B, T) if lengths is None else np.asarray(lengths)
    y = np.zeros((T, B, H))
    order = range(T - 1, -1, -1) if reverse else range(T)
    for t in order:
        h2, c2 = cell(mode, x[t], h, c, w_ih, w_hh, b_ih, b_hh)
        m = (t < lens)[:, None]
        h = np.where(m, h2, h)
        if c2 is not None:
            c = np.where(m, c2, c)
        y[t] = np.where(m, h, 0)
    return y, h, (c if mode == "lstm" else None)


def stack(mode, x, params, num_layers, bidirectional, h0=None, c0=None, lengths=None):
    """Multi-layer (bi)directional forward without dropout. params[(layer, dir)] =
    (w_ih, w_hh, b_ih, b_hh). h0, c0: (L * D, B, H). Returns (y, h_n, c_n)."""
    D = 2 if bidirectional else 1
    hs, cs = [], []
    inp = x
    for layer_i in range(num_layers):
        outs = []
        for d in range(D):
            k = layer_i * D + d
            w_ih, w_hh, b_ih, b_hh = params[(layer_i, d)]
            y, h, c = layer(
                mode,
                inp,
                w_ih,
                w_hh,
                b_ih,
                b_hh,
                None if h0 is None else h0[k],
                None if c0 is None else c0[k],
                lengths,
                reverse=d == 1,
            )
            outs.append(y)
            hs.append(h)
            cs.append(c)
        inp = np.concatenate(outs, axis=2)
    return inp, np.stack(hs), (np.stack(cs) if mode == "lstm" else None)
