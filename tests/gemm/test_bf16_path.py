"""The bf16 GEMM's two paths (vdpbf16ps, or widening to float32 while packing) and the rule
that picks one: both are checked against float64 on the same shapes whichever is the
default here, and the default follows the CPU (native only where vdpbf16ps issues at the
fp32 FMA rate: AMD's AVX512_BF16 parts)."""

import os
import subprocess
import sys
from pathlib import Path

import ember._C as _C
import numpy as np
import pytest
from test_gemm import T, T_bf16, assert_close, bf16_round, bf16_to_f64, operands, reference


def _cpuinfo() -> str:
    path = Path("/proc/cpuinfo")
    return path.read_text() if path.exists() else ""


def _has_bf16() -> bool:
    return " avx512_bf16" in _cpuinfo()


@pytest.fixture(params=["native", "widen"])
def bf16_path(request):
    previous = _C._gemm_bf16_path()
    _C._gemm_set_bf16_path(request.param)
    yield request.param
    _C._gemm_set_bf16_path(previous)


@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (33, 65, 17), (129, 31, 257), (300, 100, 1025)])
def test_both_paths_match_float64(isa, bf16_path, rng, M, N, K):
    a, b = operands(rng, 2, M, N, K)
    ha, hb = bf16_round(a), bf16_round(b)
    bias = rng.standard_normal(N).astype(np.float32)
    out = np.full((2, M, N), np.nan, np.float32)
    _C.gemm(
        T_bf16(ha),
        T_bf16(hb.transpose(0, 2, 1).copy().transpose(0, 2, 1)),
        T(out),
        bias=T(bias),
        activation="relu",
    )
    ref, scale = reference(bf16_to_f64(ha), bf16_to_f64(hb), bias=bias, act="relu")
    assert_close(out, ref, scale, K, "relu")


def test_which_path_runs(isa, bf16_path):
    native_possible = isa == "avx512" and _has_bf16()
    assert _C._gemm_bf16_native() == (bf16_path == "native" and native_possible)


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads /proc/cpuinfo")
def test_auto_follows_the_cpu(isa):
    assert _C._gemm_bf16_path() == "auto"
    amd = "AuthenticAMD" in _cpuinfo()
    assert _C._gemm_bf16_native() == (isa == "avx512" and _has_bf16() and amd)


def test_bad_path_names():
    with pytest.raises(ValueError, match="must be auto, native, widen or amx, got 'fast'"):
        _C._gemm_set_bf16_path("fast")
    env = dict(os.environ, EMBER_GEMM_BF16="fast")
    run = subprocess.run([sys.executable, "-c", "import ember"], env=env, capture_output=True)
    assert run.returncode != 0 and b"EMBER_GEMM_BF16=fast" in run.stderr
    env["EMBER_GEMM_BF16"] = "widen"
    run = subprocess.run(
        [sys.executable, "-c", "import ember._C as C; print(C._gemm_bf16_path())"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.stdout.strip() == "widen"
