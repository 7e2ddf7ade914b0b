"""Int8 GEMM over the kernels in csrc/cpu/qgemm: u8 activations x s8 weights with exact int32
accumulation and a fused fp32 epilogue, plus the dynamic per-row activation quantizer.

    x_u8, a_scale, a_zero = quantize_rows_u8(x)          # asymmetric, per row
    packed = pack_int8_weight(w_int8)                    # once per weight
    y = int8_linear(x_u8, a_scale, a_zero, packed, w_scale, bias, activation="gelu")

computes ``y[i, j] = act(a_scale[i] * w_scale[j] * sum_k (x_u8[i, k] - a_zero[i]) *
w_int8[j, k] + bias[j])``; the zero point is folded in through the packed weight's column
sums. ember has no uint8 dtype, so u8 activations are int8 tensors holding the uint8 bit
patterns (``x_u8.numpy().view(numpy.uint8)`` reads them). These are inference kernels: no
autograd. Each op runs on its input's device (CPU or CUDA, through ``kernels``); every
tensor, the packed weight included, must be on that device. Each device has its own packed
layout, so a weight is packed on the device it is used on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _dtype as D
from .._C import qgemm_path, qgemm_uses_amx, qgemm_vnni
from .._device import device as Device
from .._primitives import empty, kernels
from ..tensor import Tensor
from ._util import check_tensor

__all__ = [
    "PackedInt8Weight",
    "int8_linear",
    "int8_matmul",
    "pack_int8_weight",
    "quantize_rows_u8",
    "int8_path",
    "quantize_u8_static",
    "uses_amx",
    "uses_vnni",
]

_ACTIVATIONS = {None: 0, "relu": 1, "gelu": 2}


@dataclass(frozen=True)
class PackedInt8Weight:
    """An (out_features, in_features) int8 weight in its device's packed layout (the CPU's
    panels, csrc/cpu/qgemm/qgemm.h, or CUDA's padded rows, csrc/cuda/qgemm/plan.h), with its
    per-channel column sums for the zero-point fold.

    Shape: data (packed_bytes,) int8, colsum (out_features,) int32."""

    data: Tensor
    colsum: Tensor
    out_features: int
    in_features: int

    @property
    def device(self) -> Device:
        """The device the weight was packed for (and whose kernels read it)."""
        return self.data.device


def _on(x: Tensor, dev: Device, op: str, arg: str) -> Tensor:
    """x, checked to be a tensor on dev (the device of the op's input)."""
    check_tensor(x, f"qgemm.{op}", arg)
    if x.device != dev:
        raise ValueError(
            f"ember.ops.qgemm.{op}: {arg} is on {x.device} but the input is on {dev}; "
            "move every operand to one device (a packed weight is packed on its device)"
        )
    return x


def _kernels(x: Tensor, op: str, name: str) -> Any:
    """The kernel module of x's device (ember._C or ember._C_cuda) holding `name`."""
    return kernels(x.device, f"ops.qgemm.{op}", name)


def pack_int8_weight(weight: Tensor) -> PackedInt8Weight:
    """Pack an int8 weight once for :func:`int8_linear` / :func:`int8_matmul`, in the layout
    of the weight's device.

    Shape: weight (N, K) int8 -> PackedInt8Weight of N outputs, K inputs."""
    check_tensor(weight, "qgemm.pack_int8_weight", "weight")
    w = weight
    if w.dim() != 2:
        raise ValueError(
            f"ember.ops.qgemm.pack_int8_weight: weight must be 2-D, got shape {tuple(w.shape)}"
        )
    n, k = (int(s) for s in w.shape)
    if n < 1 or k < 1:
        raise ValueError(f"ember.ops.qgemm.pack_int8_weight: weight of shape {(n, k)} is empty")
    mod = _kernels(w, "pack_int8_weight", "qgemm_pack")
    packed = empty((mod.qgemm_packed_bytes(n, k),), D.int8, w.device)
    colsum = empty((n,), D.int32, w.device)
    mod.qgemm_pack(w.contiguous()._impl, packed._impl, colsum._impl)
    return PackedInt8Weight(packed, colsum, n, k)


def _check_packed(w: object, x: Tensor, op: str) -> PackedInt8Weight:
    if not isinstance(w, PackedInt8Weight):
        raise TypeError(
            f"ember.ops.qgemm.{op}: expected a PackedInt8Weight (from pack_int8_weight), "
            f"got {type(w).__name__}"
        )
    if w.device != x.device:
        raise ValueError(
            f"ember.ops.qgemm.{op}: the packed weight is on {w.device} but the input is on "
            f"{x.device}; pack the weight on the input's device (each device has its own "
            "layout)"
        )
    return w


def int8_matmul(input: Tensor, weight: PackedInt8Weight) -> Tensor:
    """The exact int32 accumulators ``input_u8 @ weight_int8.T``.

    Shape: input (M, K) int8 holding uint8 bits (rows contiguous), weight K -> N; returns
    (M, N) int32."""
    check_tensor(input, "qgemm.int8_matmul", "input")
    x = input
    w = _check_packed(weight, x, "int8_matmul")
    out = empty((int(x.shape[0]) if x.dim() == 2 else 0, w.out_features), D.int32, x.device)
    _kernels(x, "int8_matmul", "qgemm_s32").qgemm_s32(
        x._impl, w.data._impl, w.out_features, out._impl
    )
    return out


def int8_linear(
    input: Tensor,
    a_scale: Tensor,
    a_zero: Tensor,
    weight: PackedInt8Weight,
    w_scale: Tensor,
    bias: Tensor | None = None,
    activation: str | None = None,
    *,
    check_zero: bool = True,
) -> Tensor:
    """``act(a_scale[i] * w_scale[j] * (acc[i, j] - a_zero[i] * colsum[j]) + bias[j])`` in
    float32, acc being :func:`int8_matmul`'s; activation is None, "relu" or "gelu" (erf).

    ``check_zero=False`` skips the check that every zero point is in [0, 255] (on CUDA a
    wait on the device): for zero points from :func:`quantize_rows_u8` or a static one
    :func:`quantize_u8_static` accepted, which are. Outside that range the zero-point
    fold is not exact and the result is wrong (nothing outside the tensors is touched).

    Shape: input (M, K) int8 holding uint8 bits (rows contiguous), a_scale (M,) float32,
    a_zero (M,) int32 in [0, 255], w_scale (N,) float32, bias (N,) float32; returns (M, N)
    float32."""
    op = "int8_linear"
    check_tensor(input, f"qgemm.{op}", "input")
    x = input
    w = _check_packed(weight, x, op)
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"ember.ops.qgemm.{op}: activation must be None, 'relu' or 'gelu', got {activation!r}"
        )
    tensors = [
        _on(t, x.device, op, name)
        for t, name in ((a_scale, "a_scale"), (a_zero, "a_zero"), (w_scale, "w_scale"))
    ]
    b = None if bias is None else _on(bias, x.device, op, "bias")._impl
    out = empty((int(x.shape[0]) if x.dim() == 2 else 0, w.out_features), D.float32, x.device)
    _kernels(x, op, "qgemm_linear").qgemm_linear(
        x._impl,
        tensors[0]._impl,
        tensors[1]._impl,
        w.data._impl,
        w.colsum._impl,
        tensors[2]._impl,
        b,
        _ACTIVATIONS[activation],
        out._impl,
        bool(check_zero),
    )
    return out


def quantize_rows_u8(input: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Dynamic asymmetric per-row quantization to uint8 codes: each row's range
    [min(0, min x), max(0, max x)] maps onto [0, 255] (so 0.0 is exact),
    ``q = clamp(round(x / scale) + zero, 0, 255)``, rounding half to even.

    Shape: input (M, K) float32 -> (q (M, K) int8 holding uint8 bits, scale (M,) float32,
    zero (M,) int32)."""
    check_tensor(input, "qgemm.quantize_rows_u8", "input")
    x = input
    m = int(x.shape[0]) if x.dim() == 2 else 0
    q = empty(tuple(x.shape), D.int8, x.device)
    scale = empty((m,), D.float32, x.device)
    zero = empty((m,), D.int32, x.device)
    mod = _kernels(x, "quantize_rows_u8", "quantize_rows_u8")
    mod.quantize_rows_u8(x._impl, q._impl, scale._impl, zero._impl)
    return q, scale, zero


def quantize_u8_static(input: Tensor, scale: float, zero: int) -> Tensor:
    """Static per-tensor quantization to uint8 codes with calibrated qparams:
    ``q = clamp(round(x / scale) + zero, 0, 255)``, rounding half to even; scale must be
    positive and finite (it is used as a float32), zero in [0, 255].

    Shape: input (*) float32 -> (*) int8 holding uint8 bits."""
    check_tensor(input, "qgemm.quantize_u8_static", "input")
    x = input.contiguous()
    q = empty(tuple(x.shape), D.int8, x.device)
    mod = _kernels(x, "quantize_u8_static", "quantize_u8_static")
    mod.quantize_u8_static(x._impl, float(scale), int(zero), q._impl)
    return q


def uses_vnni() -> bool:
    """Whether the current ISA's CPU int8 micro-kernel runs vpdpbusd (AVX512_VNNI); the GEMM
    runs it unless :func:`uses_amx`."""
    return bool(qgemm_vnni())


def uses_amx() -> bool:
    """Whether the CPU int8 GEMM runs on AMX-INT8 tiles now: the current ISA is avx512, the
    build has the AMX kernel, the CPU has AMX-INT8, the OS granted the tile state, and it
    was not turned off (``EMBER_QGEMM_AMX=0`` at import)."""
    return bool(qgemm_uses_amx())


def int8_path() -> str:
    """The kernels the CPU int8 GEMM runs now: ``"amx"``, ``"vnni"``, ``"avx2"`` or
    ``"generic"``."""
    return str(qgemm_path())
