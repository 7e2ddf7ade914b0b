"""The bf16 GEMM's AMX-BF16 path (csrc/cpu/gemm/gemm_amx*, the shared tile loop cpu/amx).

The tile loop is one template instantiated on the AMX instructions and on a software model
of them. The model runs on every CPU: one TDPBF16PS is checked against the instruction's
definition (even and odd k summed apart in fp32, denormals flushed), then the whole GEMM on
it against float64 on awkward shapes, transposes, batches and every epilogue, and against
the widen path. The path choice (auto / amx / native / widen) and its reason string are
checked here too; the hardware tests run only where the CPU has AMX-BF16 and the OS grants
it.
"""

import os
import subprocess
import sys

import ember._C as _C
import numpy as np
import pytest
from test_gemm import (
    T,
    T_bf16,
    assert_close,
    bf16_round,
    bf16_to_f64,
    operands,
    reference,
    transposed,
)

STATUS = _C._gemm_bf16_amx_status()
AMX_USABLE = STATUS.startswith("AMX-BF16 usable")
# The hardware tests also run where the self-check failed: they show what is wrong.
needs_amx = pytest.mark.skipif(
    not STATUS.startswith(("AMX-BF16 usable", "the AMX self-check failed")),
    reason=f"no AMX-BF16 path here: {STATUS}",
)


@pytest.fixture
def bf16_path():
    """Sets the bf16 path preference for one test and restores it after."""
    previous = _C._gemm_bf16_path()
    yield _C._gemm_set_bf16_path
    _C._gemm_set_bf16_path(previous)


def bf16_bits_to_f32(h: np.ndarray) -> np.ndarray:
    return (h.astype(np.uint32) << 16).view(np.float32)


def tdpbf16ps_reference(c0: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The SDM's TDPBF16PS on normal-range values, in float32: per (m, n) an even and an odd
    sum from 0 over the 16 pairs of k in order, then c += (even + odd)."""
    fa, fb = bf16_bits_to_f32(a), bf16_bits_to_f32(b)  # (16, 32): [m, 2k + t], [k, 2n + t]
    even = np.zeros((16, 16), np.float32)
    odd = np.zeros((16, 16), np.float32)
    for k in range(16):
        even = even + np.outer(fa[:, 2 * k], fb[k, 0::2])  # float32 products are exact here
        odd = odd + np.outer(fa[:, 2 * k + 1], fb[k, 1::2])
    return c0 + (even + odd)


def tile_dpbf16ps(c0: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    c = c0.copy()
    _C._gemm_tile_model_dpbf16ps(T(c), T_bf16(a), T_bf16(b))
    return c


def test_tile_model_matches_tdpbf16ps_definition(rng):
    c0 = rng.standard_normal((16, 16)).astype(np.float32) * 100
    a = bf16_round(rng.standard_normal((16, 32)).astype(np.float32))
    b = bf16_round(rng.standard_normal((16, 32)).astype(np.float32) * 1000)
    got = tile_dpbf16ps(c0, a, b)
    np.testing.assert_array_equal(
        got.view(np.uint32), tdpbf16ps_reference(c0, a, b).view(np.uint32)
    )
    # And the sum it stands for, in float64.
    fa, fb = bf16_to_f64(a), bf16_to_f64(b)
    want = c0 + np.einsum("mkt,knt->mn", fa.reshape(16, 16, 2), fb.reshape(16, 16, 2))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-2)


def test_tile_model_order_is_even_odd_then_c():
    # One k pair: (2^24, 1) . (1, 1) with c = -2^24. Summed in the instruction's order the odd
    # sum 1 meets 2^24 in (even + odd) and is rounded away: c ends at 0. Any order that adds
    # c before the odd product (or sums each pair first into c) ends at 1.
    c0 = np.zeros((16, 16), np.float32)
    c0[0, 0] = -(2.0**24)
    a = np.zeros((16, 32), np.uint16)
    b = np.zeros((16, 32), np.uint16)
    a[0, 0:2] = bf16_round(np.array([2.0**24, 1.0], np.float32))
    b[0, 0:2] = bf16_round(np.array([1.0, 1.0], np.float32))
    assert tile_dpbf16ps(c0, a, b)[0, 0] == 0.0


def test_tile_model_flushes_denormals():
    big, tiny = (bf16_round(np.array([x], np.float32))[0] for x in (2.0**100, 2.0**-70))
    a = np.zeros((16, 32), np.uint16)
    b = np.zeros((16, 32), np.uint16)
    b[0, 0] = big  # channel 0, even k
    b[0, 2] = tiny  # channel 1, even k
    a[0, 0] = 0x0001  # a bf16 denormal, read as zero (else 2^-133 * 2^100 = 2^-33)
    a[1, 0] = big
    a[2, 0] = tiny
    got = tile_dpbf16ps(np.zeros((16, 16), np.float32), a, b)
    assert got[0, 0] == 0.0 and got[0, 1] == 0.0
    assert np.isposinf(got[1, 0]) and got[1, 1] == 2.0**30  # 2^200 overflows
    assert got[2, 0] == 2.0**30 and got[2, 1] == 0.0  # 2^-140 is a denormal: flushed


# ---- the whole GEMM on the software tile model

SHAPES = [
    (1, 1, 1),
    (2, 3, 5),
    (16, 16, 32),  # exactly one tile of each
    (17, 33, 31),  # K below one chunk, odd
    (31, 47, 97),  # primes: a short last K chunk
    (33, 17, 64),  # one odd panel
    (97, 129, 130),  # several row tasks, 9 panels
    (5, 300, 3),  # several panel tasks
    (100, 65, 1025),  # many K chunks, odd K
]


def model_gemm(a, b, out, **kw):
    bias = kw.pop("bias", None)
    _C._gemm_bf16_tile_model(a, b, T(out), bias=None if bias is None else T(bias), **kw)
    return out


@pytest.mark.parametrize("M,N,K", SHAPES)
def test_model_gemm_matches_float64(rng, M, N, K):
    a, b = operands(rng, 1, M, N, K)
    ha, hb = bf16_round(a), bf16_round(b)
    out = model_gemm(T_bf16(ha), T_bf16(hb), np.full((1, M, N), np.nan, np.float32))
    ref, scale = reference(bf16_to_f64(ha), bf16_to_f64(hb))
    assert_close(out, ref, scale, K)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("M,N,K", [(1, 33, 65), (37, 1, 129), (45, 47, 70)])
def test_model_gemm_transposes(rng, ta, tb, M, N, K):
    a, b = operands(rng, 2, M, N, K)
    ha, hb = bf16_round(a), bf16_round(b)
    out = np.full((2, M, N), np.nan, np.float32)
    model_gemm(T_bf16(transposed(ha, ta)), T_bf16(transposed(hb, tb)), out)
    ref, scale = reference(bf16_to_f64(ha), bf16_to_f64(hb))
    assert_close(out, ref, scale, K)


@pytest.mark.parametrize("act", ["none", "relu", "gelu", "gelu_tanh"])
def test_model_gemm_epilogue(isa, rng, act):
    M, N, K = 35, 50, 77
    a, b = operands(rng, 1, M, N, K)
    ha, hb = bf16_round(a), bf16_round(b)
    c0 = rng.standard_normal((1, M, N)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    out = model_gemm(
        T_bf16(ha), T_bf16(hb), c0.copy(), alpha=-1.5, beta=0.75, bias=bias, activation=act
    )
    ref, scale = reference(bf16_to_f64(ha), bf16_to_f64(hb), -1.5, 0.75, c0, bias, act)
    assert_close(out, ref, scale, K, act)


def test_model_gemm_batches_and_views(rng):
    # A batch over one broadcast B (folded into one tall product), then one with a B per
    # entry, A sliced out of wider rows and C a view into wider rows.
    M, N, K, B = 21, 19, 40, 3
    a, b = operands(rng, B, M, N, K)
    ha, hb = bf16_round(a), bf16_round(b)
    out = np.full((B, M, N), np.nan, np.float32)
    model_gemm(T_bf16(ha), T_bf16(hb[:1]).as_strided((B, K, N), (0, N, 1), 0), out)
    ref, scale = reference(bf16_to_f64(ha), bf16_to_f64(np.broadcast_to(hb[:1], hb.shape)))
    assert_close(out, ref, scale, K)
    wide = np.zeros((B, M, K + 7), np.uint16)
    wide[:, :, 3 : K + 3] = ha
    big_out = np.full((B, M, N + 5), np.nan, np.float32)
    _C._gemm_bf16_tile_model(T_bf16(wide[:, :, 3 : K + 3]), T_bf16(hb), T(big_out[:, :, :N]))
    ref, scale = reference(bf16_to_f64(ha), bf16_to_f64(hb))
    assert_close(big_out[:, :, :N], ref, scale, K)
    assert np.isnan(big_out[:, :, N:]).all()


@pytest.mark.parametrize("M,N,K", [(33, 65, 17), (129, 31, 257), (64, 64, 64)])
def test_model_gemm_agrees_with_widen_path(rng, bf16_path, M, N, K):
    a, b = operands(rng, 2, M, N, K)
    ha, hb = bf16_round(a), bf16_round(b)
    bias = rng.standard_normal(N).astype(np.float32)
    bf16_path("widen")
    widen = np.full((2, M, N), np.nan, np.float32)
    _C.gemm(T_bf16(ha), T_bf16(hb), T(widen), bias=T(bias))
    model = model_gemm(T_bf16(ha), T_bf16(hb), np.full((2, M, N), np.nan, np.float32), bias=bias)
    _, scale = reference(bf16_to_f64(ha), bf16_to_f64(hb), bias=bias)
    tol = 4e-6 * np.sqrt(K + 1) * scale
    assert (np.abs(model.astype(np.float64) - widen) <= tol).all()


def test_model_gemm_threads_bitwise(rng):
    # A fixed task split (96 rows x 128 channels) and all of K per tile: the same bits for
    # any thread count.
    M, N, K = 200, 300, 70
    a, b = operands(rng, 1, M, N, K)
    ha, hb = bf16_round(a), bf16_round(b)
    previous = _C.get_num_threads()
    results = []
    try:
        for n in (1, 2, 1):
            _C.set_num_threads(n)
            out = np.full((1, M, N), np.nan, np.float32)
            results.append(model_gemm(T_bf16(ha), T_bf16(transposed(hb, True)), out))
    finally:
        _C.set_num_threads(previous)
    assert np.array_equal(results[1], results[0]) and np.array_equal(results[2], results[0])


def test_model_gemm_k_zero_and_nan_propagation():
    # K == 0: the epilogue alone (beta * c + bias); a NaN in A reaches only its row.
    out = np.ones((1, 3, 4), np.float32)
    bias = np.arange(4, dtype=np.float32)
    model_gemm(
        T_bf16(np.zeros((1, 3, 0), np.uint16)),
        T_bf16(np.zeros((1, 0, 4), np.uint16)),
        out,
        beta=2.0,
        bias=bias,
    )
    np.testing.assert_array_equal(out[0], np.broadcast_to(2.0 + bias, (3, 4)))
    a = np.full((1, 3, 5), bf16_round(np.array([1.0], np.float32))[0], np.uint16)
    a[0, 1, 2] = 0x7FC0  # bf16 NaN
    b = np.full((1, 5, 4), a[0, 0, 0], np.uint16)
    out = model_gemm(T_bf16(a), T_bf16(b), np.zeros((1, 3, 4), np.float32))
    assert np.isnan(out[0, 1]).all() and (out[0, [0, 2]] == 5.0).all()


def test_self_check_passes_on_the_tile_model(isa):
    # The check auto runs once on the hardware loop before picking AMX: on a correct tile
    # loop (the model) its exact product equals the widen path's.
    assert _C._gemm_bf16_self_check_tile_model() == ""


def test_tile_model_bad_input():
    c = np.zeros((16, 16), np.float32)
    a = np.zeros((16, 32), np.uint16)
    with pytest.raises(ValueError, match="_gemm_tile_model_dpbf16ps.*shape"):
        _C._gemm_tile_model_dpbf16ps(T(c), T_bf16(np.zeros((16, 31), np.uint16)), T_bf16(a))
    with pytest.raises(TypeError, match="_gemm_tile_model_dpbf16ps.*c"):
        _C._gemm_tile_model_dpbf16ps(T(np.zeros((16, 16), np.float64)), T_bf16(a), T_bf16(a))
    with pytest.raises(TypeError, match="tile model computes bfloat16"):
        _C._gemm_bf16_tile_model(
            T(np.zeros((1, 2, 3), np.float32)),
            T(np.zeros((1, 3, 4), np.float32)),
            T(np.zeros((1, 2, 4), np.float32)),
        )
    with pytest.raises(ValueError, match="not aligned"):
        _C._gemm_bf16_tile_model(
            T_bf16(np.zeros((1, 2, 3), np.uint16)),
            T_bf16(np.zeros((1, 4, 4), np.uint16)),
            T(np.zeros((1, 2, 4), np.float32)),
        )


# ---- which path runs


def test_kernel_names_follow_the_preference(isa, bf16_path):
    assert _C._gemm_bf16_path() == "auto"
    kernel = _C._gemm_bf16_kernel()
    assert kernel in ("amx", "native", "widen")
    assert (kernel == "amx") == (isa == "avx512" and AMX_USABLE)
    assert (kernel == "native") == _C._gemm_bf16_native()
    bf16_path("widen")
    assert _C._gemm_bf16_kernel() == "widen"
    bf16_path("native")
    assert _C._gemm_bf16_kernel() in ("native", "widen")


def test_auto_keeps_native_on_amd_without_amx(isa):
    # The default is unchanged where there is no AMX: vdpbf16ps on AMD's AVX512_BF16 parts.
    cpuinfo = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if AMX_USABLE or "AuthenticAMD" not in cpuinfo or " avx512_bf16" not in cpuinfo:
        pytest.skip("not an AMD CPU with AVX512_BF16 and without AMX")
    assert _C._gemm_bf16_kernel() == ("native" if isa == "avx512" else "widen")


def test_amx_status_says_why():
    cpuinfo = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if " amx_bf16" not in cpuinfo:
        assert "lacks" in STATUS and not AMX_USABLE
    assert _C._gemm_bf16_amx_status() == STATUS  # decided once


@pytest.mark.skipif(AMX_USABLE, reason="the CPU/OS has AMX-BF16")
def test_amx_path_refused_without_amx(bf16_path):
    with pytest.raises(ValueError, match="'amx' is not available: .+"):
        bf16_path("amx")
    assert _C._gemm_bf16_path() == "auto"
    env = dict(os.environ, EMBER_GEMM_BF16="amx")
    run = subprocess.run([sys.executable, "-c", "import ember"], env=env, capture_output=True)
    assert run.returncode != 0 and b"EMBER_GEMM_BF16=amx" in run.stderr
    assert b"not available" in run.stderr


# ---- the hardware instantiation: only on CPUs with AMX-BF16 (and the OS grant)


@needs_amx
@pytest.mark.parametrize("M,N,K", SHAPES + [(300, 100, 1025)])
def test_amx_hardware_matches_float64_and_the_model(bf16_path, rng, M, N, K):
    previous = _C.get_isa()
    _C.set_isa("avx512")
    try:
        bf16_path("amx")
        assert _C._gemm_bf16_kernel() == "amx"
        a, b = operands(rng, 2, M, N, K)
        ha, hb = bf16_round(a), bf16_round(b)
        bias = rng.standard_normal(N).astype(np.float32)
        out = np.full((2, M, N), np.nan, np.float32)
        _C.gemm(T_bf16(ha), T_bf16(transposed(hb, True)), T(out), bias=T(bias), activation="relu")
        ref, scale = reference(bf16_to_f64(ha), bf16_to_f64(hb), bias=bias, act="relu")
        assert_close(out, ref, scale, K, "relu")
        model = np.full((2, M, N), np.nan, np.float32)
        model_gemm(T_bf16(ha), T_bf16(hb), model, bias=bias, activation="relu")
        assert (np.abs(out.astype(np.float64) - model) <= 4e-6 * np.sqrt(K + 1) * scale).all()
    finally:
        _C.set_isa(previous)


@needs_amx
def test_auto_picks_amx_when_the_self_check_passes(isa):
    assert AMX_USABLE, _C._gemm_bf16_amx_status()
    assert _C._gemm_bf16_kernel() == ("amx" if isa == "avx512" else "widen")
