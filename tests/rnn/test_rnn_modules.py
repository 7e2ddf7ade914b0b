"""nn.RNN / LSTM / GRU and the cells: outputs vs the float64 numpy reference (multi-layer,
bidirectional, batch_first, unbatched, lengths), gradients by gradcheck, dropout, thread
determinism, errors naming the layer, and (with torch installed) torch weights loaded
unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from rnn_ref import cell, stack

import ember
import ember.nn as nn
from ember.autograd import gradcheck

CLASSES = {
    "rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, {}),
    "gru": (nn.GRU, {}),
}


def params_of(m, num_layers, ndir):
    out = {}
    for layer in range(num_layers):
        for d in range(ndir):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            ws = [
                getattr(m, n + sfx, None) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            ]
            out[(layer, d)] = tuple(
                None if w is None else w.detach().numpy().astype(np.float64) for w in ws
            )
    return out


@pytest.mark.parametrize("mode", list(CLASSES))
@pytest.mark.parametrize(
    "num_layers, bidir, bias, batch_first",
    [
        (1, False, True, False),
        (2, True, True, True),
        (3, False, False, False),
        (2, True, False, True),
    ],
)
@pytest.mark.parametrize("use_lengths", [False, True])
def test_module_matches_reference(rng, mode, num_layers, bidir, bias, batch_first, use_lengths):
    cls, kw = CLASSES[mode]
    T, B, I, H = 6, 4, 5, 7
    m = cls(I, H, num_layers=num_layers, bias=bias, batch_first=batch_first,
            bidirectional=bidir, **kw)  # fmt: skip
    ndir = 2 if bidir else 1
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = rng.standard_normal((num_layers * ndir, B, H)).astype(np.float32)
    c0 = rng.standard_normal((num_layers * ndir, B, H)).astype(np.float32)
    lengths = [6, 2, 0, 5] if use_lengths else None
    xin = x.transpose(1, 0, 2).copy() if batch_first else x
    hx = (ember.from_numpy(h0), ember.from_numpy(c0)) if mode == "lstm" else ember.from_numpy(h0)
    out, hn = m(ember.from_numpy(xin), hx, lengths=lengths)
    ry, rh, rc = stack(mode, x.astype(np.float64), params_of(m, num_layers, ndir), num_layers,
                       bidir, h0.astype(np.float64), c0.astype(np.float64), lengths)  # fmt: skip
    y = out.detach().numpy().transpose(1, 0, 2) if batch_first else out.detach().numpy()
    assert y.shape == (T, B, ndir * H)
    np.testing.assert_allclose(y, ry, rtol=1e-4, atol=1e-4)
    if mode == "lstm":
        hn, cn = hn
        np.testing.assert_allclose(cn.detach().numpy(), rc, rtol=1e-4, atol=1e-4)
    assert hn.shape == (num_layers * ndir, B, H)
    np.testing.assert_allclose(hn.detach().numpy(), rh, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", list(CLASSES))
def test_unbatched_and_default_state(rng, mode):
    cls, kw = CLASSES[mode]
    m = cls(3, 4, num_layers=2, bidirectional=True, **kw)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    out, hn = m(ember.from_numpy(x))
    ry, rh, _ = stack(mode, x[:, None].astype(np.float64), params_of(m, 2, 2), 2, True)
    assert out.shape == (5, 8)
    np.testing.assert_allclose(out.detach().numpy(), ry[:, 0], rtol=1e-4, atol=1e-5)
    h = hn[0] if mode == "lstm" else hn
    assert h.shape == (4, 4)
    np.testing.assert_allclose(h.detach().numpy(), rh[:, 0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", list(CLASSES))
def test_gradcheck_module(rng, mode):
    cls, kw = CLASSES[mode]
    m = cls(2, 3, num_layers=2, bidirectional=True, dtype=ember.float64, **kw)
    names = [n for n, _ in m.named_parameters()]
    x = ember.tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)
    h0 = ember.tensor(rng.standard_normal((4, 3, 3)), requires_grad=True)
    c0 = ember.tensor(rng.standard_normal((4, 3, 3)), requires_grad=True)
    ps = [p for _, p in m.named_parameters()]
    lstm = mode == "lstm"

    def fn(x, h0, c0, *weights):
        for n, w in zip(names, weights):
            m._parameters[n] = w
        out, hn = m(x, (h0, c0) if lstm else h0, lengths=[4, 1, 3])
        return (out,) + (tuple(hn) if lstm else (hn,))

    assert gradcheck(fn, [x, h0, c0, *ps])


@pytest.mark.parametrize("mode", list(CLASSES))
def test_cells(rng, mode):
    cls_name = {"rnn_tanh": "RNNCell", "rnn_relu": "RNNCell", "lstm": "LSTMCell", "gru": "GRUCell"}
    kw = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}
    m = getattr(nn, cls_name[mode])(5, 7, **kw)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    h = rng.standard_normal((3, 7)).astype(np.float32)
    c = rng.standard_normal((3, 7)).astype(np.float32)
    w = [getattr(m, n).detach().numpy().astype(np.float64) for n in
         ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]  # fmt: skip
    rh, rc = cell(mode, x.astype(np.float64), h.astype(np.float64), c.astype(np.float64), *w)
    if mode == "lstm":
        h2, c2 = m(ember.from_numpy(x), (ember.from_numpy(h), ember.from_numpy(c)))
        np.testing.assert_allclose(c2.detach().numpy(), rc, rtol=1e-5, atol=1e-5)
    else:
        h2 = m(ember.from_numpy(x), ember.from_numpy(h))
    np.testing.assert_allclose(h2.detach().numpy(), rh, rtol=1e-5, atol=1e-5)
    # unbatched, zero state
    out = m(ember.from_numpy(x[0]))
    h1 = out[0] if mode == "lstm" else out
    rh1, _ = cell(mode, x[:1].astype(np.float64), np.zeros((1, 7)), np.zeros((1, 7)), *w)
    np.testing.assert_allclose(h1.detach().numpy(), rh1[0], rtol=1e-5, atol=1e-5)


def test_cell_gradcheck(rng):
    m = nn.GRUCell(3, 4, dtype=ember.float64)
    x = ember.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    h = ember.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    assert gradcheck(lambda x, h: m(x, h), [x, h])


def test_dropout_between_layers(rng):
    ember.manual_seed(0)
    m = nn.LSTM(4, 6, num_layers=2, dropout=0.5)
    x = ember.from_numpy(rng.standard_normal((5, 2, 4)).astype(np.float32))
    m.eval()
    a = m(x)[0].detach().numpy()
    b = m(x)[0].detach().numpy()
    assert np.array_equal(a, b)
    m.train()
    c = m(x)[0].detach().numpy()
    assert not np.allclose(a, c)
    ry, _, _ = stack("lstm", x.detach().numpy().astype(np.float64), params_of(m, 2, 1), 2, False)
    np.testing.assert_allclose(a, ry, rtol=1e-4, atol=1e-5)
    # a single layer has no dropout
    m1 = nn.GRU(4, 6, dropout=0.5)
    assert np.array_equal(m1(x)[0].detach().numpy(), m1.eval()(x)[0].detach().numpy())


def test_threads_bitwise_module(rng):
    m = nn.LSTM(9, 33, num_layers=2, bidirectional=True)
    x = ember.from_numpy(rng.standard_normal((7, 5, 9)).astype(np.float32))
    prev = ember.get_num_threads()
    res = []
    try:
        for n in (1, 2):
            ember.set_num_threads(n)
            m.zero_grad()
            xg = x.detach().requires_grad_()
            out, (h, c) = m(xg, lengths=[7, 3, 5, 1, 7])
            (out.sum() + h.sum() + c.sum()).backward()
            res.append([out.detach().numpy(), xg.grad.detach().numpy()] +
                       [p.grad.detach().numpy().copy() for p in m.parameters()])  # fmt: skip
    finally:
        ember.set_num_threads(prev)
    for a, b in zip(*res):
        assert np.array_equal(a, b)


def test_state_dict_names_and_init():
    m = nn.LSTM(3, 16, num_layers=2, bidirectional=True)
    names = list(m.state_dict())
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert names[4] == "weight_ih_l0_reverse" and len(names) == 16
    assert tuple(m.weight_ih_l1.shape) == (64, 32)
    for p in m.parameters():
        v = p.detach().numpy()
        assert np.abs(v).max() <= 0.25 and v.std() > 0.05


def test_errors():
    m = nn.LSTM(4, 5, num_layers=2)
    x = ember.zeros(3, 2, 4)
    with pytest.raises(ValueError, match=r"ember\.nn\.LSTM: input of shape \(3, 2, 6\) has 6 "):
        m(ember.zeros(3, 2, 6))
    with pytest.raises(ValueError, match=r"ember\.nn\.LSTM: h0 has shape \(1, 2, 5\), expected"):
        m(x, (ember.zeros(1, 2, 5), ember.zeros(2, 2, 5)))
    with pytest.raises(ValueError, match=r"ember\.nn\.LSTM: c0 has shape \(2, 3, 5\)"):
        m(x, (ember.zeros(2, 2, 5), ember.zeros(2, 3, 5)))
    with pytest.raises(TypeError, match=r"hx must be a tuple"):
        m(x, ember.zeros(2, 2, 5))
    with pytest.raises(ValueError, match=r"ember\.nn\.LSTM: lengths must lie in \[0, 3\]"):
        m(x, lengths=[4, 1])
    with pytest.raises(ValueError, match=r"lengths has shape \(3,\), expected \(2,\)"):
        m(x, lengths=[3, 1, 1])
    with pytest.raises(TypeError, match=r"lengths must be integers"):
        m(x, lengths=[1.5, 2.0])
    with pytest.raises(TypeError, match=r"input must be floating point"):
        m(ember.zeros(3, 2, 4, dtype=ember.int64))
    with pytest.raises(ValueError, match=r"expected a 2-D \(unbatched\) or 3-D input"):
        m(ember.zeros(4))
    with pytest.raises(ValueError, match=r"ember\.nn\.GRU: h0 has shape"):
        nn.GRU(4, 5)(x, ember.zeros(2, 2, 5))
    with pytest.raises(ValueError, match=r"nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(4, 5, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\]"):
        nn.GRU(4, 5, dropout=1.5)
    with pytest.raises(ValueError, match=r"hidden_size must be an int >= 1"):
        nn.LSTM(4, 0)
    with pytest.raises(ValueError, match=r"ember\.nn\.LSTMCell: input has shape \(2, 3\)"):
        nn.LSTMCell(4, 5)(ember.zeros(2, 3))
    with pytest.raises(ValueError, match=r"ember\.nn\.GRUCell: h has shape \(2, 4\)"):
        nn.GRUCell(4, 5)(ember.zeros(2, 4), ember.zeros(2, 4))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_torch_weights_load_and_match(rng, kind):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    kw = {"nonlinearity": "relu"} if kind == "RNN" else {}
    tm = getattr(torch.nn, kind)(5, 7, num_layers=2, bidirectional=True, batch_first=True, **kw)
    em = getattr(nn, kind)(5, 7, num_layers=2, bidirectional=True, batch_first=True, **kw)
    em.load_state_dict({k: ember.from_numpy(v.detach().numpy().copy())
                        for k, v in tm.state_dict().items()})  # fmt: skip
    x_np = rng.standard_normal((3, 6, 5)).astype(np.float32)
    tx = torch.from_numpy(x_np.copy()).requires_grad_()
    ex = ember.from_numpy(x_np.copy()).requires_grad_()
    ty, th = tm(tx)
    ey, eh = em(ex)
    if kind == "LSTM":
        th, eh = th[0] + th[1], eh[0] + eh[1]
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(eh.detach().numpy(), th.detach().numpy(), rtol=1e-4, atol=1e-5)
    gy = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    (ty * torch.from_numpy(gy)).sum().add((th * th).sum()).backward()
    ((ey * ember.from_numpy(gy)).sum() + (eh * eh).sum()).backward()
    np.testing.assert_allclose(
        ex.grad.detach().numpy(), tx.grad.detach().numpy(), rtol=1e-4, atol=1e-4
    )
    eparams = dict(em.named_parameters())
    for n, p in tm.named_parameters():
        got = eparams[n].grad.detach().numpy()
        np.testing.assert_allclose(got, p.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=n)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_flatten_parameters_keeps_the_module_working(cls):
    # torch scripts call it after loading a checkpoint; here it changes nothing
    m = cls(3, 4, num_layers=2)
    x = ember.randn(5, 2, 3)
    before = m(x)[0].detach().numpy()
    m.flatten_parameters()
    np.testing.assert_array_equal(m(x)[0].detach().numpy(), before)
