"""Int8 GEMM: ember.ops.qgemm (dynamic per-row u8 activations x packed per-channel s8
weights, fused fp32 epilogue) vs PyTorch's dynamically quantized Linear
(torch.ao.quantization.quantize_dynamic, fbgemm) and vs ember's own fp32 F.linear, same
process, interleaved rounds. "ours" includes quantizing the activations, as the peers'
dynamic quantization does. Throughput counts 2 M N K operations per call.

    python bench/qgemm.py [--rounds 5] [--only substring] [--threads n] [--json out.json]
"""

from __future__ import annotations

import os

# Measured as `ember serve` runs: OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads sleep).
# ember and torch share one libgomp here (the loader maps the soname libgomp.so.1
# once), so the policy applies to both sides alike. Set before either loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ember  # noqa: E402
import ember.nn.functional as F  # noqa: E402
from _harness import Case, main  # noqa: E402
from ember.ops import qgemm  # noqa: E402

# name, M (tokens), K (in), N (out)
SHAPES = [("4096 x 768 -> 3072", 4096, 768, 3072), ("128 x 768 -> 768", 128, 768, 768)]


def make_cases(only: str | None = None) -> list[Case]:
    torch.set_num_threads(ember.get_num_threads())
    torch.backends.quantized.engine = "fbgemm"
    rng = np.random.default_rng(0)
    cases = []
    for name, m, k, n in SHAPES:
        if only and only not in name:
            continue
        x_np = rng.standard_normal((m, k)).astype(np.float32)
        w_np = (rng.standard_normal((n, k)) * 0.05).astype(np.float32)
        b_np = rng.standard_normal(n).astype(np.float32)
        w_scale = np.abs(w_np).max(axis=1) / 127
        w_q = np.clip(np.round(w_np / w_scale[:, None]), -127, 127).astype(np.int8)
        packed = qgemm.pack_int8_weight(ember.from_numpy(w_q))
        ws, b = ember.from_numpy(w_scale.astype(np.float32)), ember.from_numpy(b_np)
        x, w = ember.from_numpy(x_np), ember.from_numpy(w_np)

        def ours(x=x, packed=packed, ws=ws, b=b):
            q, scale, zero = qgemm.quantize_rows_u8(x)
            return qgemm.int8_linear(q, scale, zero, packed, ws, b)

        def ember_fp32(x=x, w=w, b=b):
            with ember.no_grad():
                return F.linear(x, w, b)

        lin = torch.nn.Linear(k, n)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w_np))
            lin.bias.copy_(torch.from_numpy(b_np))
        tq = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear})
        tx = torch.from_numpy(x_np)

        def torch_dynamic(m=tq, x=tx):
            with torch.no_grad():
                return m(x)

        fl = 2.0 * m * n * k
        cases.append(Case(f"{name} vs torch dynamic int8", ours, torch_dynamic, fl, "GOP/s"))
        cases.append(Case(f"{name} vs ember fp32 F.linear", ours, ember_fp32, fl, "GOP/s"))
    return cases


if __name__ == "__main__":
    main(
        "Int8 GEMM (u8 x s8 -> s32, fused fp32 epilogue; activations quantized per row)",
        "peer",
        make_cases,
        f"torch {torch.__version__} quantize_dynamic (fbgemm) / ember fp32 F.linear",
    )
