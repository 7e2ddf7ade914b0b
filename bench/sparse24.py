"""2:4 sparse Linear (ember.prune.SemiStructuredLinear over ember.ops.sparse24: the kept half
of the weights, float32 values and int8 positions) vs ember's own float32 nn.Linear on the
same dense weight with the dropped values zeroed, same process, interleaved rounds. The GEMM
case (4096 tokens, 768 -> 3072) is bound by the arithmetic, of which 2:4 does half; the GEMV
case (one token, 4096 -> 3072) by the weight bytes, of which it reads 5 / 8. Throughput
counts the dense 2 M N K operations (what the same output costs densely), so it compares
directly with nn.Linear's.

    python bench/sparse24.py [--rounds 5] [--only substring] [--threads n] [--json out.json]
"""

from __future__ import annotations

import os

# Measured as `ember serve` runs: OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads sleep).
# ember and torch share one libgomp here (the loader maps the soname libgomp.so.1
# once), so the policy applies to both sides alike. Set before either loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

import ember  # noqa: E402
from _harness import Case, main  # noqa: E402
from ember import nn  # noqa: E402
from ember.prune import SemiStructuredLinear  # noqa: E402

# name, M (tokens), K (in), N (out)
SHAPES = [("GEMM 4096 x 768 -> 3072", 4096, 768, 3072), ("GEMV 1 x 4096 -> 3072", 1, 4096, 3072)]


def make_cases(only: str | None = None) -> list[Case]:
    rng = np.random.default_rng(0)
    cases = []
    for name, m, k, n in SHAPES:
        if only and only not in name:
            continue
        dense = nn.Linear(k, n)
        with ember.no_grad():
            dense.weight.copy_(ember.from_numpy(rng.standard_normal((n, k)).astype(np.float32)))
        sparse = SemiStructuredLinear.from_linear(dense)
        with ember.no_grad():
            dense.weight.copy_(sparse.to_dense())
        x = ember.from_numpy(rng.standard_normal((m, k)).astype(np.float32))

        def ours(x=x, layer=sparse):
            with ember.no_grad():
                return layer(x)

        def peer(x=x, layer=dense):
            with ember.no_grad():
                return layer(x)

        cases.append(Case(name, ours, peer, 2.0 * m * n * k, "GFLOP/s"))
    return cases


if __name__ == "__main__":
    main("2:4 sparse Linear vs ember float32 (dense weight with zeros)", "ember fp32", make_cases)
