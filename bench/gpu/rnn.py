"""GPU recurrent layers: ember's nn.LSTM / nn.GRU on CUDA vs torch's (cuDNN), one layer,
float32, forward alone (no autograd) and forward + backward. Both sides run in full float32
(cuDNN's TF32 is switched off for torch's calls, as ember's RNN GEMMs do not use it).
TFLOP/s count the GEMMs: forward 2 T B G H (I + H), backward twice that. Ember and torch
alternate over rounds (bench/_harness.py: medians, ratio torch/ember).

    python bench/gpu/rnn.py [--rounds 5] [--only lstm]

Imports without a GPU; cases() needs one (and torch with CUDA).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for _harness
from _harness import Case, main, peer_device, peer_sync, smoke  # noqa: E402

SIZES = [(128, 64, 512, 512), (64, 16, 256, 1024), (256, 8, 128, 128)]  # T, B, I, H
SMOKE_SIZES = [(6, 3, 16, 24)]


def _name(kind: str, T: int, B: int, I: int, H: int, backward: bool) -> str:
    return f"{kind} {'fwd+bwd' if backward else 'fwd'} T{T} B{B} I{I} H{H}"


def _case(kind: str, T: int, B: int, I: int, H: int, backward: bool) -> Case:
    import torch

    import ember
    import ember.nn as enn

    G = 4 if kind == "lstm" else 3
    ecls, tcls = (enn.LSTM, torch.nn.LSTM) if kind == "lstm" else (enn.GRU, torch.nn.GRU)
    dev, sync = peer_device(), peer_sync()
    ember.manual_seed(0)
    ours = ecls(I, H).to("cuda")
    theirs = tcls(I, H).to(dev)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    g = rng.standard_normal((T, B, H)).astype(np.float32)
    ex, eg = ember.from_numpy(x).to("cuda"), ember.from_numpy(g).to("cuda")
    tx, tg = torch.from_numpy(x).to(dev), torch.from_numpy(g).to(dev)

    def ember_call() -> None:
        if backward:
            ours(ex)[0].backward(eg)
        else:
            with ember.no_grad():
                ours(ex)
        ember.cuda.synchronize()

    def torch_call() -> None:
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            if backward:
                theirs(tx)[0].backward(tg)
            else:
                with torch.no_grad():
                    theirs(tx)
        sync()

    flops = 2.0 * T * B * G * H * (I + H) * (3 if backward else 1)
    name = _name(kind, T, B, I, H, backward)
    return Case(name, ember_call, torch_call, flops / 1e3, "TFLOP/s")


def cases(only: str | None = None) -> list[Case]:
    """The benchmark cases (needs a CUDA GPU and torch with CUDA)."""
    specs = [
        (kind, *size, backward)
        for kind in ("lstm", "gru")
        for size in smoke(SIZES, SMOKE_SIZES)
        for backward in (False, True)
    ]
    return [_case(*spec) for spec in specs if not only or only in _name(*spec)]


if __name__ == "__main__":
    main(
        "GPU recurrent layers (LSTM, GRU) vs torch", "torch", cases, "torch cuDNN", smoke_sizes=True
    )
