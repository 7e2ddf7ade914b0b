"""One training step (forward, loss, backward, AdamW) of the CharLSTM and digits CNN recipes
(`ember train lstm` / `ember train cnn` defaults), ember vs the same model written in PyTorch,
same process, interleaved rounds. Ratio = torch time / ember time: issue 18 asks for an ember
step of at most 0.8x torch's (ratio >= 1.25), as for the GPT step (bench/train_gpt.py).

Shapes: CharLSTM 2 x 256 (embedding 64, 65 characters) on batch 32 x 64 tokens; DigitsCNN
width 32 on a batch of 64 random 8 x 8 images (the recipe's digits). Random data: step time
does not depend on it.

    python bench/train_recipes.py [--rounds 5] [--only lstm|cnn] [--threads n]
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
from ember.models import CharLSTM, CharLSTMConfig, DigitsCNN, DigitsCNNConfig  # noqa: E402
from ember.optim import AdamW  # noqa: E402

VOCAB, EMBED, HIDDEN, LAYERS, BATCH, BLOCK = 65, 64, 256, 2, 32, 64
CNN_WIDTH, CNN_BATCH = 32, 64
_THOUSANDS = 1e6  # the harness prints work / seconds / 1e9: this makes it thousands per second


class TorchCharLSTM(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, EMBED)
        self.lstm = torch.nn.LSTM(EMBED, HIDDEN, LAYERS, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, VOCAB)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(self.embed(idx))[0])


def torch_cnn() -> torch.nn.Module:
    w, nn = CNN_WIDTH, torch.nn
    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1, bias=False),
        nn.BatchNorm2d(w),
        nn.ReLU(),
        nn.Conv2d(w, 2 * w, 3, padding=1, bias=False),
        nn.BatchNorm2d(2 * w),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * w, 4 * w, 3, padding=1, bias=False),
        nn.BatchNorm2d(4 * w),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * w, 10),
    )


def _stepper(model, loss_of, opt):  # noqa: ANN001, ANN202 - either framework's types
    def step() -> None:
        opt.zero_grad()
        loss_of(model).backward()
        opt.step()

    return step


def lstm_case(rng: np.random.Generator) -> Case:
    idx = rng.integers(0, VOCAB, (BATCH, BLOCK))
    tgt = rng.integers(0, VOCAB, (BATCH, BLOCK))
    cfg = CharLSTMConfig(
        vocab_size=VOCAB, embed_size=EMBED, hidden_size=HIDDEN, num_layers=LAYERS, block_size=BLOCK
    )
    ours, theirs = CharLSTM(cfg), TorchCharLSTM()
    ex, ey, tx, ty = ember.tensor(idx), ember.tensor(tgt), torch.tensor(idx), torch.tensor(tgt)

    def torch_loss(m: torch.nn.Module) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(m(tx).reshape(-1, VOCAB), ty.reshape(-1))

    return Case(
        f"CharLSTM {LAYERS} x {HIDDEN}, batch {BATCH} x {BLOCK}",
        _stepper(ours, lambda m: m(ex, ey)[1], AdamW(ours.parameters(), lr=6e-3)),
        _stepper(theirs, torch_loss, torch.optim.AdamW(theirs.parameters(), lr=6e-3)),
        BATCH * BLOCK * _THOUSANDS,
        "k tokens/s",
    )


def cnn_case(rng: np.random.Generator) -> Case:
    x = rng.standard_normal((CNN_BATCH, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, CNN_BATCH)
    ours, theirs = DigitsCNN(DigitsCNNConfig(width=CNN_WIDTH)), torch_cnn()
    ex, ey, tx, ty = ember.tensor(x), ember.tensor(y), torch.tensor(x), torch.tensor(y)
    return Case(
        f"DigitsCNN width {CNN_WIDTH}, batch {CNN_BATCH} x 8 x 8",
        _stepper(ours, lambda m: F.cross_entropy(m(ex), ey), AdamW(ours.parameters(), lr=3e-3)),
        _stepper(
            theirs,
            lambda m: torch.nn.functional.cross_entropy(m(tx), ty),
            torch.optim.AdamW(theirs.parameters(), lr=3e-3),
        ),
        CNN_BATCH * _THOUSANDS,
        "k images/s",
    )


def make_cases(only: str | None = None) -> list[Case]:
    rng = np.random.default_rng(0)
    return [
        make(rng) for name, make in (("lstm", lstm_case), ("cnn", cnn_case)) if only in (None, name)
    ]


if __name__ == "__main__":
    main(
        "Training step: CharLSTM and digits CNN recipes",
        "torch",
        make_cases,
        f"torch {torch.__version__}",
    )
