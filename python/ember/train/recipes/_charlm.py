"""Shared pieces of the character-level language-model recipes (gpt, lstm): the
tinyshakespeare splits, nanoGPT's learning-rate schedule, the Trainer setup, the final
validation estimate, a text sample and the saved model folder."""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from ...data.datasets import tinyshakespeare
from ...models.folder import char_tokenizer, decode, save_model
from ...nn.parallel import DistributedDataParallel
from ...ops.creation import tensor
from ...optim.lr_scheduler import LambdaLR
from ...random import Generator
from ..evaluator import evaluate
from ..ranks import rank as this_rank
from ..ranks import world_size
from ..trainer import Trainer
from . import add_common_arguments, setup, trainer_options


def add_charlm_arguments(
    p: argparse.ArgumentParser, *, steps: int, lr: float, out: str, batch_size: int = 12
) -> None:
    """The options every character LM recipe shares (on top of the common ones)."""
    add_common_arguments(p, max_steps=steps, lr=lr, batch_size=batch_size, out=out)
    p.epilog = (
        "Under mpirun (mpirun -n 2 ember train ...; pip install 'ember[distributed]'), every "
        "rank draws its own reproducible batches (seeded by --seed and its rank) and the "
        "gradients are averaged, so the effective batch is ranks x --batch-size; rank 0 "
        "logs, checkpoints and saves the model."
    )
    p.add_argument("--block-size", type=int, default=64, help="context length (default: 64)")
    p.add_argument("--min-lr", type=float, default=lr / 10, help="final learning rate")
    p.add_argument("--warmup", type=int, default=100, help="linear warmup steps (default: 100)")
    p.add_argument("--weight-decay", type=float, default=0.1, help="AdamW decay (default: 0.1)")
    p.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm (default: 1)")
    p.add_argument("--eval-every", type=int, default=500, help="steps between evaluations")
    p.add_argument("--eval-batches", type=int, default=100, help="validation batches per estimate")
    p.add_argument("--sample-tokens", type=int, default=300, help="characters to sample at the end")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")


def cosine_with_warmup(step: int, *, warmup: int, total: int, lr: float, min_lr: float) -> float:
    """nanoGPT's get_lr: linear warmup, cosine decay to min_lr at ``total``, then flat."""
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if step > total:
        return min_lr
    ratio = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def validation_loss(model: Any, data: Any, batches: int, batch_size: int, seed: int) -> float:
    """Mean loss over ``batches`` random validation windows drawn with a fixed seed (the
    same windows for every call), in eval mode without gradients."""
    windows = data.batches(batch_size, generator=Generator().manual_seed(seed))
    return evaluate(
        model, windows, batches, loss=lambda b: model(b[0], b[1])[1], count=lambda b: 1
    )["eval_loss"]


def train_charlm(args: argparse.Namespace, name: str, build: Any, optimizer: Any) -> int:
    """Train ``build(vocab_size)`` on tinyshakespeare with the Trainer, report the
    validation loss, print a sample and save the model folder to ``<out>/model``."""
    for opt_name in ("block_size", "warmup", "eval_every", "eval_batches"):
        if getattr(args, opt_name) <= 0:
            raise ValueError(f"--{opt_name.replace('_', '-')} must be positive")
    setup(args)
    ranks, rank = world_size(), this_rank()
    train = tinyshakespeare("train", block_size=args.block_size)
    val = tinyshakespeare("val", block_size=args.block_size)
    model = build(train.vocab_size)
    opt = optimizer(model)
    # one process keeps its historical stream; each rank of an MPI job gets its own
    train_seed = (
        Generator().manual_seed(args.seed + 1)
        if ranks == 1
        else np.random.default_rng([args.seed + 1, rank])
    )
    total = args.max_steps
    base = args.lr

    def lr_factor(step: int) -> float:
        return (
            cosine_with_warmup(step, warmup=args.warmup, total=total, lr=base, min_lr=args.min_lr)
            / base
        )

    bs = args.batch_size
    trainer = Trainer(
        DistributedDataParallel(model) if ranks > 1 else model,
        opt,
        train.batches(bs, generator=train_seed),
        loss_fn=lambda m, batch: m(batch[0], batch[1])[1],
        scheduler=LambdaLR(opt, lr_factor),
        max_steps=total,
        clip_grad_norm=args.grad_clip,
        eval_data=val.batches(bs, generator=Generator().manual_seed(args.seed + 2)),
        eval_every=args.eval_every,
        eval_steps=max(1, args.eval_batches // 5),
        log_every=max(1, min(50, total // 20)),
        checkpoint_every=max(args.eval_every, total // 4),
        tokens_per_batch=bs * args.block_size,
        unit="tok",
        **trainer_options(args),
    )
    start = time.perf_counter()
    res = trainer.fit()
    elapsed = time.perf_counter() - start
    if rank != 0:  # rank 0 reports, samples and saves
        return 0
    val_loss = validation_loss(model, val, args.eval_batches, bs, seed=1234)
    ms = 1000 * elapsed / max(1, res["step"])
    on = f" on {ranks} ranks (batch {ranks}x{bs})" if ranks > 1 else ""
    print(
        f"{name}: {res['step']} steps{on} in {elapsed:.1f} s ({ms:.1f} ms/step), train loss "
        f"{res['loss']:.4f}, validation loss {val_loss:.4f} nats/char "
        f"({args.eval_batches} batches of {bs}x{args.block_size})"
    )
    tokenizer = char_tokenizer(train.itos)
    if args.sample_tokens > 0:
        prompt = tensor(np.asarray([[train.stoi["\n"]]], dtype=np.int64))
        out = model.generate(prompt, args.sample_tokens, temperature=args.temperature, top_k=None)
        print(f"--- sample ({args.sample_tokens} characters, temperature {args.temperature}) ---")
        print(decode(tokenizer, np.asarray(out)[0, 1:]))
        print("---")
    folder = save_model(
        model,
        f"{args.out}/model",
        tokenizer=tokenizer,
        meta={"recipe": name, "steps": res["step"], "val_loss": val_loss},
    )
    print(f"{name}: model saved to {folder} (config.json + model.safetensors)")
    return 0
