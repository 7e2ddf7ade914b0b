"""ember train lstm: a 2-layer character LSTM on tinyshakespeare (embedding 64, hidden
256, context 64, batch 32, AdamW lr 6e-3 with warmup and cosine decay, gradient
clipping 1.0). Saves <out>/model."""

from __future__ import annotations

import argparse

from ...models.char_lstm import CharLSTM, CharLSTMConfig
from ...optim import AdamW
from ._charlm import add_charlm_arguments, train_charlm

DESCRIPTION = "a 2-layer character LSTM on tinyshakespeare"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_charlm_arguments(p, steps=1500, lr=6e-3, out="runs/lstm", batch_size=32)
    p.add_argument("--hidden", type=int, default=256, help="LSTM width (default: 256)")
    p.add_argument("--layers", type=int, default=2, help="LSTM layers (default: 2)")
    p.add_argument("--embed", type=int, default=64, help="embedding width (default: 64)")
    p.add_argument("--dropout", type=float, default=0.0, help="between layers (default: 0)")


def run(args: argparse.Namespace) -> int:
    def build(vocab_size: int) -> CharLSTM:
        return CharLSTM(
            CharLSTMConfig(
                vocab_size=vocab_size,
                embed_size=args.embed,
                hidden_size=args.hidden,
                num_layers=args.layers,
                dropout=args.dropout,
                block_size=args.block_size,
            )
        )

    def optimizer(model: CharLSTM):
        return AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)

    return train_charlm(args, "lstm", build, optimizer)
