"""numpy ports of ggml's reference block quantizers (quantize_row_q8_0_reference,
quantize_row_q4_0_reference) and dequantizers, in float32 arithmetic step for step, so the
bytes they write can be compared bit for bit."""

import numpy as np

F32 = np.float32


def _roundf(v: np.ndarray) -> np.ndarray:
    """C roundf: halves away from zero (np.round rounds them to even)."""
    t = np.trunc(v)
    return t + np.sign(v) * (np.abs(v - t) >= F32(0.5))


def _inverse(d: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(d != 0, F32(1) / d, F32(0)).astype(F32)


def _pack(d: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """fp16 d (little-endian) then the quant bytes, per block, rows flattened."""
    n, nb = d.shape
    dbytes = d.astype(np.float16).astype("<f2").view(np.uint8).reshape(n, nb, 2)
    return np.concatenate([dbytes, qs.astype(np.uint8)], axis=2).reshape(n, -1)


def quantize_q8_0(x: np.ndarray) -> np.ndarray:
    b = x.astype(F32).reshape(x.shape[0], -1, 32)
    d = (np.abs(b).max(axis=2) / F32(127)).astype(F32)
    q = _roundf(b * _inverse(d)[..., None]).astype(np.int8)
    return _pack(d, q.view(np.uint8))


def quantize_q4_0(x: np.ndarray) -> np.ndarray:
    b = x.astype(F32).reshape(x.shape[0], -1, 32)
    first_max = np.abs(b).argmax(axis=2)  # the first value of largest magnitude, as ggml's `<`
    m = np.take_along_axis(b, first_max[..., None], axis=2)[..., 0]
    d = (m / F32(-8)).astype(F32)
    v = (b * _inverse(d)[..., None]).astype(F32) + F32(8.5)
    q = np.minimum(15, np.trunc(v).astype(np.int32)).astype(np.uint8)
    return _pack(d, q[..., :16] | (q[..., 16:] << 4))


def dequantize(blocks: np.ndarray, scheme: str) -> np.ndarray:
    """float32 values of (N, nb * bytes) uint8 blocks."""
    size = 34 if scheme == "q8_0" else 18
    b = blocks.reshape(blocks.shape[0], -1, size)
    d = b[..., :2].copy().view("<f2")[..., 0].astype(F32)
    if scheme == "q8_0":
        q = b[..., 2:].view(np.int8).astype(F32)
    else:
        qs = b[..., 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=2).astype(F32) - F32(8)
    return (d[..., None] * q).reshape(blocks.shape[0], -1)
