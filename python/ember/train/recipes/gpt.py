"""ember train gpt: a character-level GPT on tinyshakespeare, nanoGPT's CPU "baby"
configuration by default (4 layers, 4 heads, 128 wide, context 64, batch 12, AdamW
lr 1e-3 with 100 warmup steps and cosine decay to 1e-4 over 2000 steps, weight decay
0.1, betas (0.9, 0.99), gradient clipping 1.0, no dropout). Saves <out>/model."""

from __future__ import annotations

import argparse

from ...models.gpt import GPT, GPTConfig
from ._charlm import add_charlm_arguments, train_charlm

DESCRIPTION = "a character-level GPT on tinyshakespeare (nanoGPT's CPU baby config)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_charlm_arguments(p, steps=2000, lr=1e-3, out="runs/gpt")
    p.add_argument("--n-layer", type=int, default=4, help="transformer blocks (default: 4)")
    p.add_argument("--n-head", type=int, default=4, help="attention heads (default: 4)")
    p.add_argument("--n-embd", type=int, default=128, help="model width (default: 128)")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout (default: 0)")


def run(args: argparse.Namespace) -> int:
    def build(vocab_size: int) -> GPT:
        return GPT(
            GPTConfig(
                block_size=args.block_size,
                vocab_size=vocab_size,
                n_layer=args.n_layer,
                n_head=args.n_head,
                n_embd=args.n_embd,
                dropout=args.dropout,
                bias=False,
            )
        )

    def optimizer(model: GPT):
        return model.configure_optimizers(args.weight_decay, args.lr, (0.9, 0.99))

    return train_charlm(args, "gpt", build, optimizer)
