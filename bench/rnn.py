"""Recurrent layers: ember vs PyTorch CPU (torch.nn.LSTM / GRU, oneDNN's RNN primitive),
same process, interleaved rounds. Forward (no grad; the batch-1 case is inference) and
forward + backward (grads of the input, weights and biases). GFLOP/s count the gate
matmuls: 2 T B G H (I + H) per forward (G = 4 for LSTM, 3 for GRU), x3 with the backward.

    python bench/rnn.py [--rounds 5] [--only substring] [--threads n] [--json out.json]
"""

from __future__ import annotations

import numpy as np
import torch

import ember
from _harness import Case, main

# name, seq, batch, input, hidden, with backward
SHAPES = [
    ("T64 B32 I256 H256", 64, 32, 256, 256, True),
    ("T128 B64 I512 H512", 128, 64, 512, 512, True),
    ("T256 B1 I256 H256 (inference)", 256, 1, 256, 256, False),
]


def make_cases(only: str | None = None) -> list[Case]:
    torch.set_num_threads(ember.get_num_threads())
    rng = np.random.default_rng(0)
    cases = []
    for kind, gates in (("LSTM", 4), ("GRU", 3)):
        for name, T, B, I_, H, bwd in SHAPES:
            full = f"{kind} {name}"
            if only and only not in full:
                continue
            tm = getattr(torch.nn, kind)(I_, H)
            em = getattr(ember.nn, kind)(I_, H)
            em.load_state_dict(
                {k: ember.from_numpy(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
            )
            x_np = rng.standard_normal((T, B, I_)).astype(np.float32)
            x, tx = ember.from_numpy(x_np), torch.from_numpy(x_np)
            fl = 2.0 * T * B * gates * H * (I_ + H)

            def ours(m=em, x=x):
                with ember.no_grad():
                    return m(x)

            def peer(m=tm, x=tx):
                with torch.no_grad():
                    return m(x)

            cases.append(Case(f"{full} fwd", ours, peer, fl, "GFLOP/s"))
            if not bwd:
                continue
            xg = ember.from_numpy(x_np.copy()).requires_grad_()
            txg = torch.from_numpy(x_np.copy()).requires_grad_()
            gy_np = rng.standard_normal((T, B, H)).astype(np.float32)
            gy, tgy = ember.from_numpy(gy_np), torch.from_numpy(gy_np)

            def ours_bwd(m=em, x=xg, gy=gy):
                m.zero_grad()
                x.grad = None
                m(x)[0].backward(gy)

            def peer_bwd(m=tm, x=txg, gy=tgy):
                m.zero_grad()
                x.grad = None
                m(x)[0].backward(gy)

            cases.append(Case(f"{full} fwd+bwd", ours_bwd, peer_bwd, 3 * fl, "GFLOP/s"))
    return cases


if __name__ == "__main__":
    main(
        "Recurrent layers (LSTM, GRU; float32, one layer)",
        "torch",
        make_cases,
        f"torch {torch.__version__} (oneDNN RNN)",
    )
