"""GPU recurrent layers: ember's nn.LSTM / nn.GRU on CUDA vs torch's (cuDNN), one layer,
float32, forward alone (no autograd) and forward + backward. Both sides run in full float32
(cuDNN's TF32 is switched off for torch's calls, as ember's RNN GEMMs do not use it).
TFLOP/s count the GEMMs: forward 2 T B G H (I + H), backward twice that."""

from __future__ import annotations

import numpy as np
from _timing import GpuCase

SIZES = [(128, 64, 512, 512), (64, 16, 256, 1024), (256, 8, 128, 128)]  # T, B, I, H


def _case(kind: str, T: int, B: int, I: int, H: int, backward: bool) -> GpuCase:
    import torch

    import ember
    import ember.nn as enn

    G = 4 if kind == "lstm" else 3
    ecls, tcls = (enn.LSTM, torch.nn.LSTM) if kind == "lstm" else (enn.GRU, torch.nn.GRU)
    ember.manual_seed(0)
    ours = ecls(I, H).to("cuda")
    theirs = tcls(I, H).cuda()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    g = rng.standard_normal((T, B, H)).astype(np.float32)
    ex, eg = ember.from_numpy(x).to("cuda"), ember.from_numpy(g).to("cuda")
    tx, tg = torch.from_numpy(x).cuda(), torch.from_numpy(g).cuda()

    def ember_call() -> None:
        if backward:
            ours(ex)[0].backward(eg)
        else:
            with ember.no_grad():
                ours(ex)

    def torch_call() -> None:
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            if backward:
                theirs(tx)[0].backward(tg)
            else:
                with torch.no_grad():
                    theirs(tx)

    flops = 2.0 * T * B * G * H * (I + H) * (3 if backward else 1)
    what = "fwd+bwd" if backward else "fwd"
    return GpuCase(
        "rnn", f"{kind} {what} T{T} B{B} I{I} H{H}", ember_call, torch_call, flops, "TFLOP/s"
    )


def cases() -> list[GpuCase]:
    return [
        _case(kind, *size, backward)
        for kind in ("lstm", "gru")
        for size in SIZES
        for backward in (False, True)
    ]
