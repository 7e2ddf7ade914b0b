"""Mixed precision on the CPU: one GPT training step (forward under autocast, float32 loss,
backward, AdamW on float32 master weights, clipping), ember under
``ember.autocast("cpu", dtype=bfloat16)`` against two peers in one process, interleaved:

- "ember fp32": the same ember model and batch without autocast (ratio > 1: autocast pays);
- "torch bf16": nanoGPT's PyTorch model (bench/train_gpt.py's) under
  ``torch.autocast("cpu", dtype=torch.bfloat16)``, same weights and batch.

Where the bf16 GEMM runs on vdpbf16ps at full rate (AMD) the products take about half the
float32 time; on Intel parts without AMX, bf16 widens to float32 and autocast only adds
casts (docs/architecture.md, ISA rules).

    python bench/autocast.py [--rounds 5] [--only baby|6x384] [--threads n]
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
from _harness import Case, main  # noqa: E402
from ember.models import GPT, GPTConfig  # noqa: E402
from train_gpt import copy_weights_to_torch, torch_gpt  # noqa: E402

# name, (layers, heads, width, context, batch)
CONFIGS = [
    ("baby 4 x 128, batch 12 x 64", (4, 4, 128, 64, 12)),
    ("6x384, batch 8 x 256", (6, 6, 384, 256, 8)),
]
VOCAB = 65


def _ember_step(model: GPT, xb: np.ndarray, yb: np.ndarray, autocast: bool):  # noqa: ANN202
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    params = [p for p in model.parameters() if p.requires_grad]
    x, y = ember.tensor(xb), ember.tensor(yb)

    def step() -> None:
        with ember.autocast("cpu", dtype=ember.bfloat16, enabled=autocast):
            _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        ember.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    return step


def _torch_step(model, xb: np.ndarray, yb: np.ndarray):  # noqa: ANN001, ANN202
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    x, y = torch.from_numpy(xb), torch.from_numpy(yb)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step


def make_cases(only: str | None = None) -> list[Case]:
    torch.set_num_threads(ember.get_num_threads())
    rng = np.random.default_rng(0)
    cases = []
    for name, (layers, heads, width, block, batch) in CONFIGS:
        if only and only not in name:
            continue
        cfg = GPTConfig(
            block_size=block,
            vocab_size=VOCAB,
            n_layer=layers,
            n_head=heads,
            n_embd=width,
            dropout=0.0,
            bias=False,
        )
        xb = rng.integers(0, VOCAB, (batch, block))
        yb = rng.integers(0, VOCAB, (batch, block))
        # 6 forward FLOPs per parameter per token (forward + backward), as nanoGPT counts
        work = 6.0 * sum(p.numel() for p in GPT(cfg).parameters()) * batch * block
        ours, plain = GPT(cfg), GPT(cfg)
        theirs = torch_gpt(cfg)
        copy_weights_to_torch(ours, theirs)
        ours_step = _ember_step(ours, xb, yb, True)
        cases.append(
            Case(
                f"GPT {name}: autocast vs ember fp32",
                ours_step,
                _ember_step(plain, xb, yb, False),
                work,
                "GFLOP/s",
            )
        )
        cases.append(
            Case(
                f"GPT {name}: autocast vs torch autocast",
                ours_step,
                _torch_step(theirs, xb, yb),
                work,
                "GFLOP/s",
            )
        )
    return cases


if __name__ == "__main__":
    main(
        "GPT training step under bf16 autocast",
        "peer",
        make_cases,
        f"ember fp32 / torch {torch.__version__} autocast bf16",
    )
