"""The int8 GEMM's AMX-INT8 path (csrc/cpu/qgemm/qgemm_amx*, the shared tile loop cpu/amx).

The tile loop is one template instantiated on the AMX instructions and on a software model
of them. The model runs on every CPU: it is checked against a naive TDPBUSD on one tile,
then the whole loop on it against exact numpy integers on awkward shapes (K, M, N tails,
an odd panel count, several tasks, rows with a stride > K, extreme values) and its fp32
epilogue bitwise against the micro-kernel path. The hardware tests run only where the CPU
has AMX-INT8 and the OS grants it.
"""

import ember._C as _C
import numpy as np
import pytest

import ember
from ember.ops import qgemm

MS = [1, 15, 16, 17, 33, 100]
NS = [1, 16, 17, 31, 33, 48, 100]
KS = [1, 3, 4, 63, 64, 65, 127, 128, 200, 768]

needs_amx = pytest.mark.skipif(not _C.qgemm_amx_available(), reason="CPU/OS without AMX-INT8")


@pytest.fixture
def amx_switch():
    """Restores the AMX on/off switch after a test flips it."""
    previous = _C.qgemm_amx_enabled()
    yield _C.qgemm_set_amx_enabled
    _C.qgemm_set_amx_enabled(previous)


def u8_tensor(a: np.ndarray) -> ember.Tensor:
    return ember.from_numpy(np.ascontiguousarray(a.astype(np.uint8).view(np.int8)))


def exact(x_u8: np.ndarray, w: np.ndarray) -> np.ndarray:
    return x_u8.astype(np.int64) @ w.astype(np.int64).T


def operands(rng, m: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Random u8 activations and s8 weights, with the extremes (255, -128, 127) planted."""
    x = rng.integers(0, 256, (m, k), dtype=np.uint8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    x[0, 0] = 255
    x[-1, -1] = 255
    w[0, 0] = -128
    w[-1, -1] = 127
    return x, w


def s32(entry, x: ember.Tensor, packed: qgemm.PackedInt8Weight) -> np.ndarray:
    out = ember.empty(int(x.shape[0]), packed.out_features, dtype=ember.int32)
    entry(x._impl, packed.data._impl, packed.out_features, out._impl)
    return out.numpy()


def linear(entry, x, a_scale, a_zero, packed, w_scale, bias, act: int) -> np.ndarray:
    out = ember.empty(int(x.shape[0]), packed.out_features, dtype=ember.float32)
    entry(
        x._impl,
        a_scale._impl,
        a_zero._impl,
        packed.data._impl,
        packed.colsum._impl,
        w_scale._impl,
        None if bias is None else bias._impl,
        act,
        out._impl,
    )
    return out.numpy()


def test_tile_model_matches_tdpbusd_definition(rng):
    # C[m, n] += sum over dwords k of A's row m and 4 bytes t: u8 A[m, 4k + t] * s8 B[k, 4n + t]
    c0 = rng.integers(-(2**31), 2**31, (16, 16), dtype=np.int64).astype(np.int32)
    a = rng.integers(0, 256, (16, 64), dtype=np.uint8)
    b = rng.integers(-128, 128, (16, 64), dtype=np.int8)
    a[0, :] = 255
    b[:, :4] = -128
    prod = np.einsum(
        "mkt,knt->mn",
        a.reshape(16, 16, 4).astype(np.int64),
        b.reshape(16, 16, 4).astype(np.int64),
    )
    want = ((c0.astype(np.int64) + prod + 2**31) % 2**32 - 2**31).astype(np.int32)
    c = ember.from_numpy(c0.copy())
    _C.qgemm_tile_model_dpbusd(c._impl, u8_tensor(a)._impl, ember.from_numpy(b)._impl)
    np.testing.assert_array_equal(c.numpy(), want)


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("m", MS)
def test_tile_model_loop_exact(rng, m, k):
    for n in NS:
        x, w = operands(rng, m, n, k)
        packed = qgemm.pack_int8_weight(ember.from_numpy(w))
        got = s32(_C.qgemm_s32_tile_model, u8_tensor(x), packed)
        np.testing.assert_array_equal(got.astype(np.int64), exact(x, w), err_msg=f"{m, n, k}")


@pytest.mark.parametrize("m,n,k", [(97, 300, 130), (200, 129, 1031), (5, 1000, 3)])
def test_tile_model_loop_several_tasks(rng, m, n, k):
    # More than one task of 96 rows x 8 panels in each direction, and an odd panel count.
    x, w = operands(rng, m, n, k)
    got = s32(_C.qgemm_s32_tile_model, u8_tensor(x), qgemm.pack_int8_weight(ember.from_numpy(w)))
    np.testing.assert_array_equal(got.astype(np.int64), exact(x, w))


@pytest.mark.parametrize("k", [1, 65, 4099])
def test_tile_model_extremes_do_not_saturate(k):
    m, n = 19, 33
    x = np.full((m, k), 255, np.uint8)
    w = np.full((n, k), -128, np.int8)
    w[1::2] = 127
    got = s32(_C.qgemm_s32_tile_model, u8_tensor(x), qgemm.pack_int8_weight(ember.from_numpy(w)))
    np.testing.assert_array_equal(got.astype(np.int64), exact(x, w))


@pytest.mark.parametrize("entry", ["qgemm_s32", "qgemm_s32_tile_model"])
def test_row_stride_larger_than_k(rng, entry):
    # A view of the first k columns of wider rows: the loop copies k bytes per row, no more.
    m, n, k, lda = 37, 20, 70, 101
    wide = rng.integers(0, 256, (m, lda), dtype=np.uint8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    x = u8_tensor(wide)[:, :k]
    assert not x.is_contiguous()
    got = s32(getattr(_C, entry), x, qgemm.pack_int8_weight(ember.from_numpy(w)))
    np.testing.assert_array_equal(got.astype(np.int64), exact(wide[:, :k], w))


def epilogue_args(rng, m: int, n: int):
    return (
        ember.from_numpy(rng.random(m, dtype=np.float32) * 0.1),
        ember.from_numpy(rng.integers(0, 256, m).astype(np.int32)),
        ember.from_numpy((rng.random(n, dtype=np.float32) - 0.5) * 0.01),
        ember.from_numpy(rng.standard_normal(n).astype(np.float32)),
    )


@pytest.mark.parametrize("act", [0, 1, 2])
@pytest.mark.parametrize("m,n,k", [(1, 17, 65), (33, 100, 200), (100, 48, 768)])
def test_tile_model_epilogue_bitwise_equal_to_micro_kernels(isa, amx_switch, rng, m, n, k, act):
    # Same int32 accumulators, same per-ISA epi_row: the fp32 output must be bit-identical.
    x, w = operands(rng, m, n, k)
    packed = qgemm.pack_int8_weight(ember.from_numpy(w))
    scale, zero, w_scale, bias = epilogue_args(rng, m, n)
    amx_switch(False)  # the reference is the micro-kernel path
    want = linear(_C.qgemm_linear, u8_tensor(x), scale, zero, packed, w_scale, bias, act)
    got = linear(_C.qgemm_linear_tile_model, u8_tensor(x), scale, zero, packed, w_scale, bias, act)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_int8_path_names_the_kernels(isa):
    path = qgemm.int8_path()
    assert path in ("amx", "vnni", "avx2", "generic")
    assert (path == "amx") == qgemm.uses_amx()
    assert (path == "vnni") == (qgemm.uses_vnni() and not qgemm.uses_amx())
    if isa == "generic":
        assert path == "generic"


def test_amx_switch(amx_switch):
    amx_switch(False)
    assert not qgemm.uses_amx()
    assert qgemm.int8_path() != "amx"
    amx_switch(True)
    assert qgemm.uses_amx() == (_C.qgemm_amx_available() and _C.get_isa() == "avx512")


def test_tile_model_dpbusd_errors():
    c = ember.zeros(16, 16, dtype=ember.int32)
    a = ember.zeros(16, 64, dtype=ember.int8)
    with pytest.raises(ValueError, match="qgemm_tile_model_dpbusd.*shape"):
        _C.qgemm_tile_model_dpbusd(c._impl, ember.zeros(16, 63, dtype=ember.int8)._impl, a._impl)
    with pytest.raises(TypeError, match="qgemm_tile_model_dpbusd.*c"):
        _C.qgemm_tile_model_dpbusd(ember.zeros(16, 16)._impl, a._impl, a._impl)


# ---- the hardware instantiation: only on CPUs with AMX-INT8 (and the OS grant)


@needs_amx
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (17, 33, 65), (33, 100, 768), (200, 129, 1031)])
def test_amx_hardware_exact_and_equal_to_tile_model(amx_switch, rng, m, n, k):
    amx_switch(True)
    previous = _C.get_isa()
    _C.set_isa("avx512")
    try:
        assert qgemm.uses_amx() and qgemm.int8_path() == "amx"
        x, w = operands(rng, m, n, k)
        packed = qgemm.pack_int8_weight(ember.from_numpy(w))
        got = s32(_C.qgemm_s32, u8_tensor(x), packed)
        np.testing.assert_array_equal(got.astype(np.int64), exact(x, w))
        np.testing.assert_array_equal(got, s32(_C.qgemm_s32_tile_model, u8_tensor(x), packed))
        scale, zero, w_scale, bias = epilogue_args(rng, m, n)
        args = (u8_tensor(x), scale, zero, packed, w_scale, bias, 2)
        np.testing.assert_array_equal(
            linear(_C.qgemm_linear, *args).view(np.uint32),
            linear(_C.qgemm_linear_tile_model, *args).view(np.uint32),
        )
    finally:
        _C.set_isa(previous)


@needs_amx
@pytest.mark.parametrize("m", MS)
def test_amx_hardware_shapes(amx_switch, rng, m):
    amx_switch(True)
    previous = _C.get_isa()
    _C.set_isa("avx512")
    try:
        assert qgemm.uses_amx()
        for n in NS:
            for k in KS:
                x, w = operands(rng, m, n, k)
                got = qgemm.int8_matmul(u8_tensor(x), qgemm.pack_int8_weight(ember.from_numpy(w)))
                np.testing.assert_array_equal(
                    got.numpy().astype(np.int64), exact(x, w), err_msg=f"{m, n, k}"
                )
    finally:
        _C.set_isa(previous)
