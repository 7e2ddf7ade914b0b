"""Recurrent layers: RNN, LSTM, GRU (whole sequences, multi-layer, bidirectional, variable
lengths) and their single-step cells, with PyTorch's parameter names, gate layout and
initialization, so a torch state_dict loads unchanged.

Each (layer, direction) of a sequence layer is ONE autograd op whose time loop runs in C++
(``ember.ops.rnn.rnn_layer``).
"""

from __future__ import annotations

import math
from typing import Any

from .. import _dtype as D
from ..ops.creation import empty
from ..ops.rnn import _lengths_tensor, gate_count, rnn_layer
from ..ops.shape import cat, stack
from ..random import rand_like
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell"]


def _dropout_mask_mul(x: Tensor, p: float) -> Tensor:
    """Inverted dropout of the activations between layers (training only)."""
    if p <= 0.0:
        return x
    if p >= 1.0:
        return x * 0.0
    keep = (rand_like(x) >= p).to(x.dtype) * (1.0 / (1.0 - p))
    return x * keep


def _check_size(name: str, v: Any, where: str, minimum: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise ValueError(f"{where}: {name} must be an int >= {minimum}, got {v!r}")
    return v


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU (see those classes)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        where = f"ember.nn.{type(self).__name__}"
        self.mode = mode
        self.input_size = _check_size("input_size", input_size, where, 0)
        self.hidden_size = _check_size("hidden_size", hidden_size, where, 1)
        self.num_layers = _check_size("num_layers", num_layers, where, 1)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool):
            raise ValueError(f"{where}: dropout must be a number in [0, 1], got {dropout!r}")
        if not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"{where}: dropout must be in [0, 1], got {dropout}")
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
        G, H = gate_count(mode), hidden_size
        ndir = 2 if bidirectional else 1
        self._flat_names: list[list[str]] = []
        for layer in range(num_layers):
            in_l = input_size if layer == 0 else H * ndir
            for d in range(ndir):
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                names = [f"weight_ih{sfx}", f"weight_hh{sfx}"]
                setattr(self, names[0], Parameter(empty(G * H, in_l, dtype=dt, device=device)))
                setattr(self, names[1], Parameter(empty(G * H, H, dtype=dt, device=device)))
                if bias:
                    names += [f"bias_ih{sfx}", f"bias_hh{sfx}"]
                    setattr(self, names[2], Parameter(empty(G * H, dtype=dt, device=device)))
                    setattr(self, names[3], Parameter(empty(G * H, dtype=dt, device=device)))
                self._flat_names.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _layer_params(self, idx: int) -> tuple:
        names = self._flat_names[idx]
        ps = [getattr(self, n) for n in names]
        return tuple(ps) if self.bias else (ps[0], ps[1], None, None)

    def flatten_parameters(self) -> None:
        """PyTorch compacts cuDNN's weight buffer here; ember's kernels read each layer's
        parameters where they are, so there is nothing to do (scripts still call it)."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def _check_state(self, h: Any, name: str, want: tuple, where: str) -> Tensor:
        if not isinstance(h, Tensor):
            raise TypeError(f"{where}: {name} must be a Tensor, got {type(h).__name__}")
        if tuple(h.shape) != want:
            raise ValueError(f"{where}: {name} has shape {tuple(h.shape)}, expected {want}")
        return h

    def _run(self, input: Tensor, hx: Any, lengths: Any) -> tuple:
        where = f"ember.nn.{type(self).__name__}"
        lstm = self.mode == "lstm"
        if not isinstance(input, Tensor):
            raise TypeError(f"{where}: input must be a Tensor, got {type(input).__name__}")
        if not input.dtype.is_floating_point:
            raise TypeError(f"{where}: input must be floating point, got {input.dtype}")
        if input.ndim not in (2, 3):
            raise ValueError(
                f"{where}: expected a 2-D (unbatched) or 3-D input, got shape {tuple(input.shape)}"
            )
        batched = input.ndim == 3
        x = input if batched else input.unsqueeze(1)
        if self.batch_first and batched:
            x = x.transpose(0, 1)
        T, B, I_ = x.shape
        if I_ != self.input_size:
            raise ValueError(
                f"{where}: input of shape {tuple(input.shape)} has {I_} features, "
                f"expected input_size={self.input_size}"
            )
        ndir = 2 if self.bidirectional else 1
        LD, H = self.num_layers * ndir, self.hidden_size
        want = (LD, B, H) if batched else (LD, H)
        h0 = c0 = None
        if hx is not None:
            if lstm:
                if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                    raise TypeError(f"{where}: hx must be a tuple (h0, c0)")
                h0 = self._check_state(hx[0], "h0", want, where)
                c0 = self._check_state(hx[1], "c0", want, where)
            else:
                h0 = self._check_state(hx, "h0", want, where)
            if not batched:
                h0 = h0.unsqueeze(1)
                c0 = None if c0 is None else c0.unsqueeze(1)
        lens = _lengths_tensor(lengths, B, T, where)
        x = x.contiguous()
        hns, cns = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(ndir):
                k = layer * ndir + d
                w_ih, w_hh, b_ih, b_hh = self._layer_params(k)
                res = rnn_layer(
                    self.mode,
                    x,
                    w_ih,
                    w_hh,
                    b_ih,
                    b_hh,
                    None if h0 is None else h0[k],
                    None if c0 is None else c0[k],
                    lens,
                    reverse=d == 1,
                )
                outs.append(res[0])
                hns.append(res[1])
                if lstm:
                    cns.append(res[2])
            x = outs[0] if ndir == 1 else cat(outs, dim=2)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                x = _dropout_mask_mul(x, self.dropout)
        out = x
        h_n = stack(hns, dim=0)
        c_n = stack(cns, dim=0) if lstm else None
        if not batched:
            out = out.squeeze(1)
            h_n = h_n.squeeze(1)
            c_n = None if c_n is None else c_n.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return (out, (h_n, c_n)) if lstm else (out, h_n)


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu.

    ``forward(input, hx=None, lengths=None)``; ``lengths`` (B ints or an int64 tensor, any
    order) marks each sequence's valid steps: padded steps keep the state, output zeros and
    get no gradient (as with pack_padded_sequence).

    Shape: input (T, B, input_size) ((B, T, input_size) if batch_first, or (T, input_size)
    unbatched), hx (L * D, B, hidden_size) -> output (T, B, D * hidden_size), h_n
    (L * D, B, hidden_size); D = 2 if bidirectional else 1, L = num_layers.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"ember.nn.RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        super().__init__(
            "rnn_" + nonlinearity,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device,
            dtype,
        )
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None, lengths: Any = None) -> tuple:
        return self._run(input, hx, lengths)


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's equations and gate order (i, f, g, o):
    c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t).

    ``forward(input, hx=None, lengths=None)`` with hx = (h0, c0); see RNN for lengths.

    Shape: input (T, B, input_size) ((B, T, input_size) if batch_first, or (T, input_size)
    unbatched), h0 / c0 (L * D, B, hidden_size) -> (output (T, B, D * hidden_size),
    (h_n, c_n) each (L * D, B, hidden_size)).
    """

    def __init__(self, input_size: int, hidden_size: int, *args: Any, **kwargs: Any):
        super().__init__("lstm", input_size, hidden_size, *args, **kwargs)

    def forward(self, input: Tensor, hx: Any = None, lengths: Any = None) -> tuple:
        return self._run(input, hx, lengths)


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's equations and gate order (r, z, n):
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h_t = (1 - z) * n + z * h_{t-1}.

    ``forward(input, hx=None, lengths=None)``; see RNN for lengths.

    Shape: as RNN.
    """

    def __init__(self, input_size: int, hidden_size: int, *args: Any, **kwargs: Any):
        super().__init__("gru", input_size, hidden_size, *args, **kwargs)

    def forward(self, input: Tensor, hx: Tensor | None = None, lengths: Any = None) -> tuple:
        return self._run(input, hx, lengths)


# ---- cells ---------------------------------------------------------------------------------
class _CellBase(Module):
    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        bias: bool,
        device: Any,
        dtype: Any,
    ):
        super().__init__()
        where = f"ember.nn.{type(self).__name__}"
        self.mode = mode
        self.input_size = _check_size("input_size", input_size, where, 0)
        self.hidden_size = _check_size("hidden_size", hidden_size, where, 1)
        self.bias = bool(bias)
        dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
        G, H = gate_count(mode), hidden_size
        self.weight_ih = Parameter(empty(G * H, input_size, dtype=dt, device=device))
        self.weight_hh = Parameter(empty(G * H, H, dtype=dt, device=device))
        if bias:
            self.bias_ih = Parameter(empty(G * H, dtype=dt, device=device))
            self.bias_hh = Parameter(empty(G * H, dtype=dt, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

    def _step(self, input: Tensor, hx: Any) -> tuple:
        where = f"ember.nn.{type(self).__name__}"
        if not isinstance(input, Tensor):
            raise TypeError(f"{where}: input must be a Tensor, got {type(input).__name__}")
        if not input.dtype.is_floating_point:
            raise TypeError(f"{where}: input must be floating point, got {input.dtype}")
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"{where}: input has shape {tuple(input.shape)}, expected (B, "
                f"{self.input_size}) or ({self.input_size},)"
            )
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        B, H = x.shape[0], self.hidden_size
        want = (B, H) if batched else (H,)
        states = [None, None]
        if hx is not None:
            hs = hx if self.mode == "lstm" else (hx,)
            if self.mode == "lstm" and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"{where}: hx must be a tuple (h, c)")
            for i, (name, h) in enumerate(zip(("h", "c"), hs)):
                if not isinstance(h, Tensor) or tuple(h.shape) != want:
                    got = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
                    raise ValueError(f"{where}: {name} has shape {got}, expected {want}")
                states[i] = h if batched else h.unsqueeze(0)
        res = rnn_layer(
            self.mode,
            x.unsqueeze(0),
            self.weight_ih,
            self.weight_hh,
            self.bias_ih,
            self.bias_hh,
            states[0],
            states[1],
        )
        h = res[1] if batched else res[1].squeeze(0)
        if self.mode != "lstm":
            return h
        c = res[2] if batched else res[2].squeeze(0)
        return h, c


class RNNCell(_CellBase):
    """One Elman RNN step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Shape: input (B, input_size) or (input_size,), hx (B, hidden_size) -> h' (B, hidden_size).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"ember.nn.RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx)


class LSTMCell(_CellBase):
    """One LSTM step (gates i, f, g, o).

    Shape: input (B, input_size) or (input_size,), hx = (h, c) each (B, hidden_size) ->
    (h', c') each (B, hidden_size).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__("lstm", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Any = None) -> tuple:
        return self._step(input, hx)


class GRUCell(_CellBase):
    """One GRU step (gates r, z, n).

    Shape: input (B, input_size) or (input_size,), hx (B, hidden_size) -> h' (B, hidden_size).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__("gru", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx)
