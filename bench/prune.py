"""Structured pruning's payoff: a GPT with half of every MLP's neurons removed
(ember.prune.structured) against the same dense GPT, forward and one training step
(same process, interleaved). The "peer" columns are the dense model; ratio > 1 means the
pruned model is faster. Throughput counts the pruned model's matmul FLOPs."""

from __future__ import annotations

import copy

import ember
from _harness import Case, main
from ember.models import GPT, GPTConfig

CONFIG = GPTConfig(block_size=256, vocab_size=65, n_layer=6, n_head=6, n_embd=384)
BATCH, T = 8, 256


def _step(model: GPT, opt, idx) -> None:
    opt.zero_grad()
    _, loss = model(idx, idx)
    loss.backward()
    opt.step()


def cases() -> list[Case]:
    ember.manual_seed(0)
    dense = GPT(CONFIG)
    pruned = ember.prune.structured(copy.deepcopy(dense), 0.5)
    params = f"{dense.num_params() / 1e6:.2f}M -> {pruned.num_params() / 1e6:.2f}M params"
    idx = ember.randint(0, CONFIG.vocab_size, (BATCH, T))
    flops = 2 * BATCH * T * pruned.num_params()
    opts = {id(m): ember.optim.AdamW(m.parameters(), lr=1e-4) for m in (dense, pruned)}

    def forward(m: GPT):
        def run() -> None:
            with ember.no_grad():
                m(idx)

        return run

    return [
        Case(
            f"GPT forward 8x256, MLP 50% pruned ({params})",
            forward(pruned),
            forward(dense),
            flops,
            "GFLOP/s",
        ),
        Case(
            f"GPT train step 8x256, MLP 50% pruned ({params})",
            lambda: _step(pruned, opts[id(pruned)], idx),
            lambda: _step(dense, opts[id(dense)], idx),
            3 * flops,
            "GFLOP/s",
        ),
    ]


if __name__ == "__main__":
    main("ember.prune.structured: pruned vs dense GPT", "dense", cases)
