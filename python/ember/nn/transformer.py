"""Transformer, its encoder and decoder stacks and their layers, PyTorch-shaped (same
arguments, same parameter names, so torch state_dicts load)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from .._dtype import get_default_dtype
from ..ops.creation import tensor
from ..tensor import Tensor
from . import functional as F
from . import init
from .activation import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm
from .parameter import Parameter


def _clone_module(module: Module) -> Module:
    """A deep copy with fresh parameter and buffer storage (tensors do not pickle, so
    they are copied through a prefilled deepcopy memo)."""
    memo: dict = {}
    for m in module.modules():
        for p in m._parameters.values():
            if p is not None and id(p) not in memo:
                memo[id(p)] = Parameter(p.detach().clone(), requires_grad=p.requires_grad)
        for b in m._buffers.values():
            if b is not None and id(b) not in memo:
                memo[id(b)] = b.detach().clone()
    return copy.deepcopy(module, memo)


_FUSED = {"relu": "relu", "gelu": "gelu"}


def _activation(activation: str | Callable[[Tensor], Tensor]) -> tuple[str, Any]:
    """(name fused into the first feed-forward GEMM, or 'none'; callable applied after)."""
    if isinstance(activation, str):
        if activation not in _FUSED:
            raise ValueError(
                f"ember.nn.Transformer: activation should be 'relu' or 'gelu', got {activation!r}"
            )
        return _FUSED[activation], None
    if activation is F.relu:
        return "relu", None
    if activation is F.gelu:
        return "gelu", None
    if not callable(activation):
        raise TypeError("ember.nn.Transformer: activation must be a string or a callable")
    return "none", activation


def _check(d_model: int, nhead: int, op: str) -> None:
    if d_model <= 0 or nhead <= 0 or d_model % nhead:
        raise ValueError(
            f"ember.nn.{op}: d_model ({d_model}) must be a positive multiple of nhead ({nhead})"
        )


class _FeedForward:
    """linear2(dropout(act(linear1(x)))), with the activation fused into linear1's GEMM."""

    linear1: Linear
    linear2: Linear
    dropout: Dropout
    _act: str
    _act_fn: Any

    def _build(
        self,
        op: str,
        attentions: tuple[str, ...],
        d_model: int,
        nhead: int,
        dim_feedforward: int,
        dropout: float,
        activation: str | Callable[[Tensor], Tensor],
        layer_norm_eps: float,
        batch_first: bool,
        norm_first: bool,
        bias: bool,
        kw: dict,
    ) -> None:
        """Register the submodules in torch's order (so state_dict keys and their order
        match torch's): the attentions, linear1, dropout, linear2, one norm and one
        dropout per residual branch."""
        _check(d_model, nhead, op)
        for name in attentions:
            mha = MultiheadAttention(
                d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw
            )
            setattr(self, name, mha)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        branches = len(attentions) + 1
        for i in range(1, branches + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        for i in range(1, branches + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.batch_first = batch_first
        self._act, self._act_fn = _activation(activation)

    def _ff(self, x: Tensor) -> Tensor:
        l1 = self.linear1
        h = F.linear(x, l1.weight, l1.bias, activation=self._act)
        if self._act_fn is not None:
            h = self._act_fn(h)
        return self.linear2(self.dropout(h))


class TransformerEncoderLayer(_FeedForward, Module):
    """Self-attention + feed-forward, each wrapped in a residual connection and a
    LayerNorm: post-norm (``norm_first=False``, the original Transformer) or pre-norm.

    Parameters as ``torch.nn.TransformerEncoderLayer``: self_attn, linear1, linear2,
    norm1, norm2 (plus dropout, dropout1, dropout2).

    Shape: src (S, N, E) ((N, S, E) with batch_first, or (S, E)) -> same;
    src_mask (S, S) or (N * nhead, S, S); src_key_padding_mask (N, S).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        self._build(
            "TransformerEncoderLayer",
            ("self_attn",),
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            {"device": device, "dtype": dtype},
        )

    def _sa(self, x: Tensor, mask: Tensor | None, kpm: Tensor | None, causal: bool) -> Tensor:
        out = self.self_attn(
            x, x, x, attn_mask=mask, key_padding_mask=kpm, need_weights=False, is_causal=causal
        )[0]
        return self.dropout1(out)

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self.dropout2(self._ff(self.norm2(x)))
        else:
            x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self.dropout2(self._ff(x)))
        return x


class TransformerDecoderLayer(_FeedForward, Module):
    """Self-attention, cross-attention over ``memory`` and feed-forward, each with a
    residual connection and a LayerNorm (post-norm or ``norm_first``).

    Parameters as ``torch.nn.TransformerDecoderLayer``: self_attn, multihead_attn,
    linear1, linear2, norm1, norm2, norm3.

    Shape: tgt (T, N, E) ((N, T, E) with batch_first), memory (S, N, E) -> like tgt;
    tgt_mask (T, T), memory_mask (T, S), tgt_key_padding_mask (N, T),
    memory_key_padding_mask (N, S).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        self._build(
            "TransformerDecoderLayer",
            ("self_attn", "multihead_attn"),
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            {"device": device, "dtype": dtype},
        )

    def _sa(self, x: Tensor, mask: Any, kpm: Any, causal: bool) -> Tensor:
        out = self.self_attn(
            x, x, x, attn_mask=mask, key_padding_mask=kpm, need_weights=False, is_causal=causal
        )[0]
        return self.dropout1(out)

    def _mha(self, x: Tensor, mem: Tensor, mask: Any, kpm: Any, causal: bool) -> Tensor:
        out = self.multihead_attn(
            x,
            mem,
            mem,
            attn_mask=mask,
            key_padding_mask=kpm,
            need_weights=False,
            is_causal=causal,
        )[0]
        return self.dropout2(out)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        x = tgt
        if self.norm_first:
            x = x + self._sa(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha(
                self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal
            )
            x = x + self.dropout3(self._ff(self.norm3(x)))
        else:
            x = self.norm1(x + self._sa(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(
                x + self._mha(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            )
            x = self.norm3(x + self.dropout3(self._ff(x)))
        return x


class TransformerEncoder(Module):
    """``num_layers`` independent copies of ``encoder_layer`` applied in turn, then an
    optional final ``norm`` (as ``torch.nn.TransformerEncoder``; parameters
    ``layers.<i>.*`` and ``norm.*``).

    Shape: like the layer's src -> same.
    """

    def __init__(
        self,
        encoder_layer: TransformerEncoderLayer,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ):
        super().__init__()
        if not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(
                f"ember.nn.TransformerEncoder: num_layers must be a non-negative int, got "
                f"{num_layers!r}"
            )
        self.layers = ModuleList([_clone_module(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        src: Tensor,
        mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(
                x,
                src_mask=mask,
                src_key_padding_mask=src_key_padding_mask,
                is_causal=bool(is_causal),
            )
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """``num_layers`` independent copies of ``decoder_layer``, then an optional ``norm``.

    Shape: like the layer's tgt -> same.
    """

    def __init__(
        self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None
    ):
        super().__init__()
        if not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(
                f"ember.nn.TransformerDecoder: num_layers must be a non-negative int, got "
                f"{num_layers!r}"
            )
        self.layers = ModuleList([_clone_module(decoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        x = tgt
        for layer in self.layers:
            x = layer(
                x,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=bool(tgt_is_causal),
                memory_is_causal=memory_is_causal,
            )
        return self.norm(x) if self.norm is not None else x


class Transformer(Module):
    """The encoder-decoder Transformer of "Attention Is All You Need", as
    ``torch.nn.Transformer``: same arguments, same submodules (``encoder.layers.<i>``,
    ``encoder.norm``, ``decoder.layers.<i>``, ``decoder.norm``), so state_dict keys
    match torch's. Weight matrices start Xavier-uniform, as torch's.

    Shape: src (S, N, E), tgt (T, N, E) ((N, S, E), (N, T, E) with batch_first;
    unbatched (S, E), (T, E)) -> (T, N, E) like tgt; src_mask (S, S), tgt_mask (T, T),
    memory_mask (T, S), *_key_padding_mask (N, S) or (N, T).
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = F.relu,
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps)
        layer_kw = {"batch_first": batch_first, "norm_first": norm_first, "bias": bias, **kw}
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(*layer_args, **layer_kw),
                num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw),
            )
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(*layer_args, **layer_kw),
                num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw),
            )
        for p in self.parameters():
            if p.dim() > 1:
                init.xavier_uniform_(p)
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        batch_dim = 0 if self.batch_first else 1
        if src.dim() == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise ValueError(
                f"ember.nn.Transformer: the batch sizes of src {tuple(src.shape)} and tgt "
                f"{tuple(tgt.shape)} must be equal (batch_first={self.batch_first})"
            )
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(
                f"ember.nn.Transformer: the feature sizes of src {tuple(src.shape)} and tgt "
                f"{tuple(tgt.shape)} must equal d_model={self.d_model}"
            )
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
        """The causal mask: 0 on and below the diagonal, -inf above (position i attends
        to positions <= i).

        Shape: (sz, sz).
        """
        if isinstance(sz, bool) or not isinstance(sz, (int, np.integer)) or sz < 0:
            raise ValueError(
                f"ember.nn.Transformer.generate_square_subsequent_mask: sz must be an int "
                f">= 0, got {sz!r}"
            )
        mask = np.triu(np.full((int(sz), int(sz)), -np.inf, dtype=np.float32), k=1)
        return tensor(mask, dtype=dtype or get_default_dtype(), device=device)
