import zlib

import ember._C as _C
import numpy as np
import pytest


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
